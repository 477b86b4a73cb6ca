//! A minimal ZIP writer that lays records out exactly as torch's
//! `PyTorchStreamWriter` does through miniz: stored (never deflated)
//! entries under `<archive>/`, each record's data aligned to 64 bytes by a
//! `FB` padding extra field, sizes and CRC-32 in a data descriptor after the
//! data (so nothing is sought back to), ZIP64 fields where a size or offset
//! needs them, and a ZIP64 end-of-central-directory record always.
//!
//! Exactness matters beyond readability: torch 2.x can compute where each
//! `data/<key>` record starts without reading its header
//! (`torch.utils.serialization.config.load.calculate_storage_offsets`, used
//! with `mmap=True`), from the record sizes and miniz's rules alone. A
//! layout that differs in one padding byte loads wrong data there.

use std::io::Write;

use airlock_formats::zipconst::{
    CENTRAL_SIG, DATA_DESCRIPTOR_SIG, EOCD_SIG, FLAG_DATA_DESCRIPTOR, FLAG_UTF8, LOCAL_SIG,
    ZIP64_EOCD_SIG, ZIP64_EXTRA_ID, ZIP64_LOCATOR_SIG,
};

use super::WriteError;

/// Record data alignment (`kFieldAlignment`, and the `.storage_alignment`
/// torch records).
pub(crate) const ALIGNMENT: u64 = 64;

/// miniz switches a size or offset to ZIP64 from this value on (inclusive:
/// `0xFFFFFFFF` itself is the "see ZIP64" marker).
const U32_LIMIT: u64 = 0xFFFF_FFFF;

/// One written entry, for the central directory.
struct Entry {
    name: Vec<u8>,
    flags: u16,
    crc: u32,
    size: u64,
    offset: u64,
    zip64_size: bool,
    zip64_offset: bool,
}

/// The entry being written.
struct Open {
    size: u64,
    written: u64,
    crc: crc32fast::Hasher,
}

/// Writes a ZIP archive to a stream, counting its own position.
pub(crate) struct ZipWriter<'a> {
    out: &'a mut dyn Write,
    pos: u64,
    prefix: String,
    force_zip64: bool,
    entries: Vec<Entry>,
    open: Option<Open>,
    /// `c10::hash_combine` of the data descriptors' CRCs, as torch folds
    /// them into the serialization id.
    combined_crc: u64,
}

impl<'a> ZipWriter<'a> {
    /// A writer for records under `<archive>/`; `force_zip64` gives every
    /// entry ZIP64 sizes and offsets whatever their values.
    pub(crate) fn new(out: &'a mut dyn Write, archive: &str, force_zip64: bool) -> Self {
        ZipWriter {
            out,
            pos: 0,
            prefix: format!("{archive}/"),
            force_zip64,
            entries: Vec::new(),
            open: None,
            combined_crc: 0,
        }
    }

    fn put(&mut self, bytes: &[u8]) -> Result<(), WriteError> {
        self.out.write_all(bytes).map_err(WriteError::Output)?;
        self.pos += bytes.len() as u64;
        Ok(())
    }

    /// Start record `name` of `size` bytes: its local header, with the
    /// padding that aligns its data.
    pub(crate) fn begin(&mut self, name: &str, size: u64) -> Result<(), WriteError> {
        if self.open.is_some() {
            return Err(internal(
                "a record was started before the previous one ended",
            ));
        }
        let full = format!("{}{name}", self.prefix);
        let name_len = u16::try_from(full.len())
            .map_err(|_| internal(&format!("record name of {} bytes", full.len())))?;
        let offset = self.pos;
        let zip64_size = self.force_zip64 || size >= U32_LIMIT;
        let zip64_offset = self.force_zip64 || offset >= U32_LIMIT;
        // The local ZIP64 field as miniz writes it: both sizes when the
        // size needs them, the header's own offset when that does.
        let mut extra = Vec::new();
        if zip64_size || zip64_offset {
            let mut body = Vec::new();
            if zip64_size {
                body.extend_from_slice(&size.to_le_bytes());
                body.extend_from_slice(&size.to_le_bytes());
            }
            if zip64_offset {
                body.extend_from_slice(&offset.to_le_bytes());
            }
            extra.extend_from_slice(&ZIP64_EXTRA_ID.to_le_bytes());
            extra.extend_from_slice(&(body.len() as u16).to_le_bytes());
            extra.extend_from_slice(&body);
        }
        // torch's getPadding: the data starts after the 30-byte header, the
        // name, the ZIP64 field and the 4-byte `FB` field header; pad that
        // up to the alignment with 'Z's.
        let start = offset + 30 + u64::from(name_len) + extra.len() as u64 + 4;
        let padding = (ALIGNMENT - start % ALIGNMENT) % ALIGNMENT;
        extra.extend_from_slice(b"FB");
        extra.extend_from_slice(&(padding as u16).to_le_bytes());
        extra.resize(extra.len() + padding as usize, b'Z');
        // General purpose flags as miniz sets them: UTF-8 names always,
        // sizes in a data descriptor for records with data (miniz writes no
        // data descriptor for an empty record, and says so in the flags).
        let flags = if size > 0 {
            FLAG_UTF8 | FLAG_DATA_DESCRIPTOR
        } else {
            FLAG_UTF8
        };
        let version: u16 = if zip64_size || zip64_offset { 45 } else { 0 };
        let mut h = Vec::with_capacity(30 + full.len() + extra.len());
        h.extend_from_slice(&LOCAL_SIG.to_le_bytes());
        h.extend_from_slice(&version.to_le_bytes());
        h.extend_from_slice(&flags.to_le_bytes());
        h.extend_from_slice(&0u16.to_le_bytes()); // stored
        h.extend_from_slice(&0u16.to_le_bytes()); // time
        h.extend_from_slice(&0u16.to_le_bytes()); // date
        // CRC and sizes follow the data, in the descriptor.
        h.extend_from_slice(&[0; 12]);
        h.extend_from_slice(&name_len.to_le_bytes());
        h.extend_from_slice(&(extra.len() as u16).to_le_bytes());
        h.extend_from_slice(full.as_bytes());
        h.extend_from_slice(&extra);
        self.put(&h)?;
        self.entries.push(Entry {
            name: full.into_bytes(),
            flags,
            crc: 0,
            size,
            offset,
            zip64_size,
            zip64_offset,
        });
        self.open = Some(Open {
            size,
            written: 0,
            crc: crc32fast::Hasher::new(),
        });
        Ok(())
    }

    /// Data of the open record.
    pub(crate) fn data(&mut self, bytes: &[u8]) -> Result<(), WriteError> {
        let open = self
            .open
            .as_mut()
            .ok_or_else(|| internal("data outside a record"))?;
        if open.written + bytes.len() as u64 > open.size {
            return Err(internal("more data than the record's announced size"));
        }
        open.written += bytes.len() as u64;
        open.crc.update(bytes);
        self.put(bytes)
    }

    /// End the open record: its data descriptor.
    pub(crate) fn end(&mut self) -> Result<(), WriteError> {
        let open = self
            .open
            .take()
            .ok_or_else(|| internal("end of a record that was not started"))?;
        if open.written != open.size {
            return Err(internal(&format!(
                "record of {} bytes got {}",
                open.size, open.written
            )));
        }
        let crc = open.crc.finalize();
        let entry = self
            .entries
            .last_mut()
            .ok_or_else(|| internal("no entry"))?;
        entry.crc = crc;
        if open.size == 0 {
            return Ok(());
        }
        // 64-bit sizes exactly when the local header has a ZIP64 field.
        let wide = entry.zip64_size || entry.zip64_offset;
        let mut d = Vec::with_capacity(24);
        d.extend_from_slice(&DATA_DESCRIPTOR_SIG.to_le_bytes());
        d.extend_from_slice(&crc.to_le_bytes());
        if wide {
            d.extend_from_slice(&open.size.to_le_bytes());
            d.extend_from_slice(&open.size.to_le_bytes());
        } else {
            d.extend_from_slice(&(open.size as u32).to_le_bytes());
            d.extend_from_slice(&(open.size as u32).to_le_bytes());
        }
        self.combined_crc = hash_combine(self.combined_crc, u64::from(crc));
        self.put(&d)
    }

    /// A whole record from memory.
    pub(crate) fn record(&mut self, name: &str, bytes: &[u8]) -> Result<(), WriteError> {
        self.begin(name, bytes.len() as u64)?;
        self.data(bytes)?;
        self.end()
    }

    /// The 40 decimal digits torch records as `.data/serialization_id`:
    /// torch pairs the combined CRCs with a random number; here the second
    /// half is a hash of the records so far, so that the same checkpoint
    /// always gives the same file.
    pub(crate) fn serialization_id(&self) -> String {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for e in &self.entries {
            for b in e
                .crc
                .to_le_bytes()
                .iter()
                .chain(&e.size.to_le_bytes())
                .chain(&e.name)
            {
                h = (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3);
            }
        }
        format!("{:020}{:020}", self.combined_crc, h)
    }

    /// Write the central directory and the end records; returns the
    /// archive's length.
    pub(crate) fn finish(mut self) -> Result<u64, WriteError> {
        if self.open.is_some() {
            return Err(internal("archive finished inside a record"));
        }
        let cd_offset = self.pos;
        let entries = std::mem::take(&mut self.entries);
        for e in &entries {
            let mut body = Vec::new();
            if e.zip64_size {
                body.extend_from_slice(&e.size.to_le_bytes());
                body.extend_from_slice(&e.size.to_le_bytes());
            }
            if e.zip64_offset {
                body.extend_from_slice(&e.offset.to_le_bytes());
            }
            let mut extra = Vec::new();
            if !body.is_empty() {
                extra.extend_from_slice(&ZIP64_EXTRA_ID.to_le_bytes());
                extra.extend_from_slice(&(body.len() as u16).to_le_bytes());
                extra.extend_from_slice(&body);
            }
            let size32 = if e.zip64_size {
                0xFFFF_FFFF
            } else {
                e.size as u32
            };
            let offset32 = if e.zip64_offset {
                0xFFFF_FFFF
            } else {
                e.offset as u32
            };
            let version: u16 = if body.is_empty() { 0 } else { 45 };
            let mut h = Vec::with_capacity(46 + e.name.len() + extra.len());
            h.extend_from_slice(&CENTRAL_SIG.to_le_bytes());
            h.extend_from_slice(&version.to_le_bytes()); // made by
            h.extend_from_slice(&version.to_le_bytes()); // needed
            h.extend_from_slice(&e.flags.to_le_bytes());
            h.extend_from_slice(&0u16.to_le_bytes()); // stored
            h.extend_from_slice(&0u16.to_le_bytes()); // time
            h.extend_from_slice(&0u16.to_le_bytes()); // date
            h.extend_from_slice(&e.crc.to_le_bytes());
            h.extend_from_slice(&size32.to_le_bytes());
            h.extend_from_slice(&size32.to_le_bytes());
            h.extend_from_slice(&(e.name.len() as u16).to_le_bytes());
            h.extend_from_slice(&(extra.len() as u16).to_le_bytes());
            h.extend_from_slice(&0u16.to_le_bytes()); // comment
            h.extend_from_slice(&0u16.to_le_bytes()); // disk
            h.extend_from_slice(&0u16.to_le_bytes()); // internal attributes
            h.extend_from_slice(&0u32.to_le_bytes()); // external attributes
            h.extend_from_slice(&offset32.to_le_bytes());
            h.extend_from_slice(&e.name);
            h.extend_from_slice(&extra);
            self.put(&h)?;
        }
        let cd_size = self.pos - cd_offset;
        let count = entries.len() as u64;
        // torch (miniz with MZ_ZIP_FLAG_WRITE_ZIP64) always ends with the
        // ZIP64 record and its locator, then the classic record with the
        // values that fit.
        let zip64_eocd_offset = self.pos;
        let mut t = Vec::with_capacity(56 + 20 + 22);
        t.extend_from_slice(&ZIP64_EOCD_SIG.to_le_bytes());
        t.extend_from_slice(&44u64.to_le_bytes());
        t.extend_from_slice(&0x031eu16.to_le_bytes()); // made by, as miniz
        t.extend_from_slice(&45u16.to_le_bytes());
        t.extend_from_slice(&0u32.to_le_bytes());
        t.extend_from_slice(&0u32.to_le_bytes());
        t.extend_from_slice(&count.to_le_bytes());
        t.extend_from_slice(&count.to_le_bytes());
        t.extend_from_slice(&cd_size.to_le_bytes());
        t.extend_from_slice(&cd_offset.to_le_bytes());
        t.extend_from_slice(&ZIP64_LOCATOR_SIG.to_le_bytes());
        t.extend_from_slice(&0u32.to_le_bytes());
        t.extend_from_slice(&zip64_eocd_offset.to_le_bytes());
        t.extend_from_slice(&1u32.to_le_bytes());
        t.extend_from_slice(&EOCD_SIG.to_le_bytes());
        t.extend_from_slice(&0u16.to_le_bytes());
        t.extend_from_slice(&0u16.to_le_bytes());
        t.extend_from_slice(&(count.min(0xFFFF) as u16).to_le_bytes());
        t.extend_from_slice(&(count.min(0xFFFF) as u16).to_le_bytes());
        t.extend_from_slice(&(cd_size.min(U32_LIMIT) as u32).to_le_bytes());
        t.extend_from_slice(&(cd_offset.min(U32_LIMIT) as u32).to_le_bytes());
        t.extend_from_slice(&0u16.to_le_bytes());
        self.put(&t)?;
        self.out.flush().map_err(WriteError::Output)?;
        Ok(self.pos)
    }
}

/// `c10::hash_combine`.
fn hash_combine(seed: u64, value: u64) -> u64 {
    seed ^ value
        .wrapping_add(0x9e37_79b9)
        .wrapping_add(seed << 6)
        .wrapping_add(seed >> 2)
}

/// A misuse of the writer by this crate: reported, never a panic.
fn internal(what: &str) -> WriteError {
    WriteError::Output(std::io::Error::other(format!(
        "internal error in the ZIP writer: {what}"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use airlock_formats::MemSource;
    use airlock_formats::zip::TorchZip;

    fn archive(force: bool, records: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut z = ZipWriter::new(&mut out, "arc", force);
        for (name, data) in records {
            z.record(name, data).unwrap();
        }
        let n = z.finish().unwrap();
        assert_eq!(n as usize, out.len());
        out
    }

    #[test]
    fn records_are_aligned_stored_and_read_back_by_the_torch_zip_reader() {
        for force in [false, true] {
            let big = vec![7u8; 1000];
            let records: &[(&str, &[u8])] = &[
                ("data.pkl", b"\x80\x02N."),
                ("data/0", &big),
                ("data/1", b""),
                ("version", b"3\n"),
            ];
            let bytes = archive(force, records);
            let src = MemSource::new(&bytes);
            let zip = TorchZip::open(&src).unwrap();
            assert_eq!(zip.entries.len(), records.len());
            for (i, (name, data)) in records.iter().enumerate() {
                let e = &zip.entries[i];
                assert_eq!(e.name, format!("arc/{name}").as_bytes());
                assert_eq!(e.method, 0);
                assert_eq!(e.uncomp_size, data.len() as u64);
                assert_eq!(e.comp_size, data.len() as u64);
                let at = zip.data_offset(&src, i).unwrap();
                assert_eq!(at % ALIGNMENT, 0, "{name} at {at}");
                let got = &bytes[at as usize..at as usize + data.len()];
                assert_eq!(got, *data);
                let crc = u32::from_le_bytes(
                    bytes[e.header_offset as usize + 16..][..4]
                        .try_into()
                        .unwrap(),
                );
                assert_eq!(crc, crc32fast::hash(data), "{name}");
            }
        }
    }

    #[test]
    fn layout_matches_torch_byte_for_byte() {
        // The first 0x80 bytes of `torch.save(..)` into archive "x" with a
        // 4-byte data.pkl: header, name, FB padding to 64, data, descriptor.
        let bytes = archive(false, &[("data.pkl", b"abcd")]);
        assert_eq!(&bytes[..4], b"PK\x03\x04");
        assert_eq!(&bytes[4..8], &[0, 0, 0x08, 0x08]);
        assert_eq!(&bytes[26..30], &[12, 0, 22, 0]); // "arc/data.pkl", extra 4 + 18
        assert_eq!(&bytes[42..46], b"FB\x12\x00");
        assert!(bytes[46..64].iter().all(|&b| b == b'Z'));
        assert_eq!(&bytes[64..68], b"abcd");
        assert_eq!(&bytes[68..72], b"PK\x07\x08");
        assert_eq!(
            u32::from_le_bytes(bytes[72..76].try_into().unwrap()),
            crc32fast::hash(b"abcd")
        );
        assert_eq!(&bytes[76..84], &[4, 0, 0, 0, 4, 0, 0, 0]);
        assert_eq!(&bytes[84..88], b"PK\x01\x02");
    }

    #[test]
    fn forced_zip64_uses_wide_descriptors_and_central_fields() {
        let bytes = archive(true, &[("a", b"xyz")]);
        // Local extra: ZIP64 (4 + 16 + 8) then FB padding.
        assert_eq!(&bytes[30 + 5..30 + 5 + 4], &[1, 0, 24, 0]);
        let desc = 128 + 3; // 30 + 5 + 28 + 4 = 67 bytes of header: data at 128
        assert_eq!(&bytes[desc..desc + 4], b"PK\x07\x08");
        assert_eq!(
            &bytes[desc + 8..desc + 24],
            &[3, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0]
        );
        let cd = desc + 24;
        assert_eq!(&bytes[cd..cd + 4], b"PK\x01\x02");
        assert_eq!(&bytes[cd + 20..cd + 28], &[0xff; 8]);
        assert_eq!(&bytes[cd + 42..cd + 46], &[0xff; 4]);
    }

    #[test]
    fn misuse_is_an_error() {
        let mut out = Vec::new();
        let mut z = ZipWriter::new(&mut out, "a", false);
        z.begin("r", 2).unwrap();
        assert!(z.data(b"abc").is_err());
        z.data(b"a").unwrap();
        assert!(z.end().is_err());
        assert!(z.data(b"b").is_err());
    }
}
