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
