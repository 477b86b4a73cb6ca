//! ZIP record signatures, sizes and general-purpose flags (APPNOTE.TXT),
//! shared by the two readers ([`crate::zip`], [`crate::pyzip`]) and the
//! torch-layout writer of `airlock-tensors`.

/// Local file header signature.
pub const LOCAL_SIG: u32 = 0x0403_4b50;
/// Central directory header signature.
pub const CENTRAL_SIG: u32 = 0x0201_4b50;
/// End of central directory signature.
pub const EOCD_SIG: u32 = 0x0605_4b50;
/// Data descriptor signature (optional before a descriptor).
pub const DATA_DESCRIPTOR_SIG: u32 = 0x0807_4b50;
/// ZIP64 end of central directory locator signature.
pub const ZIP64_LOCATOR_SIG: u32 = 0x0706_4b50;
/// ZIP64 end of central directory record signature.
pub const ZIP64_EOCD_SIG: u32 = 0x0606_4b50;

/// Size of an end of central directory record before its comment.
pub const EOCD_SIZE: u64 = 22;
/// Size of a ZIP64 end of central directory locator.
pub const ZIP64_LOCATOR_SIZE: u64 = 20;
/// Size of a ZIP64 end of central directory record without extensible data.
pub const ZIP64_EOCD_SIZE: u64 = 56;
/// Size of a central directory header before its name, extra field and comment.
pub const CENTRAL_SIZE: usize = 46;
/// Size of a local file header before its name and extra field.
pub const LOCAL_SIZE: usize = 30;
/// Header ID of the ZIP64 extended information extra field.
pub const ZIP64_EXTRA_ID: u16 = 0x0001;

/// General-purpose flag: the entry is encrypted.
pub const FLAG_ENCRYPTED: u16 = 1 << 0;
/// General-purpose flag: sizes and CRC follow the data in a data descriptor.
pub const FLAG_DATA_DESCRIPTOR: u16 = 1 << 3;
/// General-purpose flag: compressed patched data.
pub const FLAG_PATCH: u16 = 1 << 5;
/// General-purpose flag: strong encryption.
pub const FLAG_STRONG_ENCRYPTION: u16 = 1 << 6;
/// General-purpose flag: names are UTF-8.
pub const FLAG_UTF8: u16 = 1 << 11;
/// General-purpose flag: the local header is masked (central directory encryption).
pub const FLAG_MASKED_LOCAL: u16 = 1 << 13;

/// A local file header, as a reader found it. Readers differ in what they
/// take from it (each documents its own); the fields are decoded alike
/// ([`LocalFixed`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalHeader {
    /// Its offset.
    pub offset: u64,
    /// General-purpose flags.
    pub flags: u16,
    /// Compression method.
    pub method: u16,
    /// CRC-32 field.
    pub crc32: u32,
    /// Compressed size field.
    pub comp_size: u32,
    /// Uncompressed size field.
    pub uncomp_size: u32,
    /// The name (fewer bytes than claimed when the file ends first).
    pub name: Vec<u8>,
    /// The extra field (empty where the reader never reads it).
    pub extra: Vec<u8>,
    /// Where the data starts, as the reader computes it.
    pub data_offset: u64,
}

/// The fixed 30 bytes of a local file header, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalFixed {
    /// General-purpose flags.
    pub flags: u16,
    /// Compression method.
    pub method: u16,
    /// CRC-32 field.
    pub crc32: u32,
    /// Compressed size field.
    pub comp_size: u32,
    /// Uncompressed size field.
    pub uncomp_size: u32,
    /// Length of the name that follows.
    pub name_len: u16,
    /// Length of the extra field after the name.
    pub extra_len: u16,
}

impl LocalFixed {
    /// Decode `h` (at least [`LOCAL_SIZE`] bytes); `None` when it is shorter
    /// or lacks the local header signature.
    pub fn parse(h: &[u8]) -> Option<LocalFixed> {
        let u16_at = |at: usize| u16::from_le_bytes([h[at], h[at + 1]]);
        let u32_at = |at: usize| u32::from_le_bytes([h[at], h[at + 1], h[at + 2], h[at + 3]]);
        if h.len() < LOCAL_SIZE || u32_at(0) != LOCAL_SIG {
            return None;
        }
        Some(LocalFixed {
            flags: u16_at(6),
            method: u16_at(8),
            crc32: u32_at(14),
            comp_size: u32_at(18),
            uncomp_size: u32_at(22),
            name_len: u16_at(26),
            extra_len: u16_at(28),
        })
    }

    /// The header at `offset` with these fields, its name, extra field and
    /// where its data starts.
    pub fn header(
        self,
        offset: u64,
        name: Vec<u8>,
        extra: Vec<u8>,
        data_offset: u64,
    ) -> LocalHeader {
        LocalHeader {
            offset,
            flags: self.flags,
            method: self.method,
            crc32: self.crc32,
            comp_size: self.comp_size,
            uncomp_size: self.uncomp_size,
            name,
            extra,
            data_offset,
        }
    }
}

/// What the central directory says of an entry, for comparing with its
/// local header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CentralFields {
    /// General-purpose flags.
    pub flags: u16,
    /// Compression method.
    pub method: u16,
    /// CRC-32.
    pub crc32: u32,
    /// Compressed size (after ZIP64 extension).
    pub comp_size: u64,
    /// Uncompressed size (after ZIP64 extension).
    pub uncomp_size: u64,
}

/// Where the local header says otherwise than the central directory:
/// flags (outside `crypt`, compared separately by the readers that care),
/// method, and, unless sizes are deferred to a data descriptor or the local
/// sizes are ZIP64 placeholders, CRC and sizes.
pub fn header_diffs(e: CentralFields, local: &LocalHeader, crypt: u16) -> Vec<String> {
    let mut diffs = Vec::new();
    if local.flags & !crypt != e.flags & !crypt {
        diffs.push(format!("flags 0x{:04x} vs 0x{:04x}", local.flags, e.flags));
    }
    if local.method != e.method {
        diffs.push(format!("method {} vs {}", local.method, e.method));
    }
    let descriptor = e.flags & FLAG_DATA_DESCRIPTOR != 0;
    if !descriptor && local.comp_size != u32::MAX {
        if local.crc32 != e.crc32 {
            diffs.push(format!("CRC 0x{:08x} vs 0x{:08x}", local.crc32, e.crc32));
        }
        if local.comp_size as u64 != e.comp_size || local.uncomp_size as u64 != e.uncomp_size {
            diffs.push(format!(
                "sizes {}/{} vs {}/{}",
                local.comp_size, local.uncomp_size, e.comp_size, e.uncomp_size
            ));
        }
    }
    diffs
}
