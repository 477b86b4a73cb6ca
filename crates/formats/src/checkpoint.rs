//! A torch ZIP checkpoint as `torch.load` reads it: the one view of its
//! records that `scan`, `convert`, `inspect` and `airlock.load` share.
//!
//! `torch.serialization._load` reads a ZIP checkpoint through
//! `PyTorchStreamReader` (`caffe2/serialize/inline_container.cc`) in a fixed
//! order:
//!
//! 1. `init`: the archive name (central entry 0's name up to its first
//!    `/`), then the version, from `.data/version` or else `version`,
//!    parsed with `std::stoull`;
//! 2. `_load`: `byteorder` (when present: `little` or `big`), the metadata
//!    records it looks up (`.format_version`, `.storage_alignment`,
//!    `.data/serialization_id`), then `data.pkl`;
//! 3. `persistent_load`: for each storage the pickle names, `data/<key>`,
//!    whose size must be the storage's.
//!
//! Every record is found by miniz's case-insensitive binary search under
//! the archive name ([`TorchZip::locate_record`]). This module names those
//! records once, so that what the scan judges and what the rebuild reads
//! are the same members by construction.

use std::ops::Deref;

use crate::source::Source;
use crate::zip::{Extracted, TorchZip, ZipError};

/// The metadata records `torch.load` looks up besides the version,
/// `byteorder` and `data.pkl`.
pub const METADATA_RECORDS: [&str; 3] = [
    ".format_version",
    ".storage_alignment",
    ".data/serialization_id",
];

/// The versions `PyTorchStreamReader` reads (`kMinSupportedFileFormatVersion`
/// to `kMaxSupportedFileFormatVersion`).
pub const SUPPORTED_VERSIONS: std::ops::RangeInclusive<u64> = 1..=10;

/// A torch ZIP checkpoint, indexed as miniz indexes it.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    zip: TorchZip,
}

/// The byte order a `byteorder` record names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteOrder {
    /// `little`.
    Little,
    /// `big`.
    Big,
}

impl ByteOrder {
    /// What torch makes of a `byteorder` record's bytes; `None` for
    /// anything else, which `torch.load` refuses.
    pub fn parse(record: &[u8]) -> Option<ByteOrder> {
        match record {
            b"little" => Some(ByteOrder::Little),
            b"big" => Some(ByteOrder::Big),
            _ => None,
        }
    }
}

/// Where a storage record's bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordBytes {
    /// Stored: `len` bytes at `offset` in the file, read in place.
    Stored {
        /// Offset of the first byte.
        offset: u64,
        /// Length.
        len: u64,
    },
    /// Compressed: inflated into memory with [`Checkpoint::read`].
    Compressed {
        /// The inflated size.
        len: u64,
    },
}

impl Deref for Checkpoint {
    type Target = TorchZip;
    fn deref(&self) -> &TorchZip {
        &self.zip
    }
}

impl Checkpoint {
    /// Index the archive (`mz_zip_reader_init`); an error means
    /// `torch.load` cannot open it.
    pub fn open(src: &dyn Source) -> Result<Checkpoint, ZipError> {
        TorchZip::open(src).map(|zip| Checkpoint { zip })
    }

    /// The ZIP index underneath.
    pub fn zip(&self) -> &TorchZip {
        &self.zip
    }

    /// The version record `init` reads: `.data/version`, else `version`.
    pub fn version(&self) -> Option<usize> {
        self.locate_record(".data/version")
            .or_else(|| self.locate_record("version"))
    }

    /// The `byteorder` record, when the checkpoint has one.
    pub fn byteorder(&self) -> Option<usize> {
        self.locate_record("byteorder")
    }

    /// The metadata records present ([`METADATA_RECORDS`]).
    pub fn metadata(&self) -> impl Iterator<Item = usize> + '_ {
        METADATA_RECORDS
            .iter()
            .filter_map(|r| self.locate_record(r))
    }

    /// The `data.pkl` record torch unpickles.
    pub fn data_pkl(&self) -> Option<usize> {
        self.locate_record("data.pkl")
    }

    /// Other entries named like `data.pkl` (ASCII case ignored), which torch
    /// never reads but other ZIP readers may pick.
    pub fn data_pkl_shadows(&self) -> Vec<usize> {
        let Some(index) = self.data_pkl() else {
            return Vec::new();
        };
        let mut full = self.archive_name().unwrap_or_default();
        full.extend_from_slice(b"/data.pkl");
        let mut others = self.all_matching(&full);
        others.retain(|&c| c != index);
        others
    }

    /// The record of storage `key` (`data/<key>`).
    pub fn storage(&self, key: &str) -> Option<usize> {
        self.locate_record(&storage_record(key))
    }

    /// The inflated size of a record, when the checkpoint has it.
    pub fn record_size(&self, record: &str) -> Option<u64> {
        self.locate_record(record)
            .map(|i| self.entries[i].uncomp_size)
    }

    /// The TorchScript code files (`<archive>/code/...`, debug pickles left
    /// out), in central directory order.
    pub fn code_files(&self) -> Vec<usize> {
        self.entries
            .iter()
            .filter(|e| {
                let n = e.name_lossy();
                n.contains("/code/") && !n.ends_with('/') && !n.ends_with(".debug_pkl")
            })
            .map(|e| e.index)
            .collect()
    }

    /// The bytes torch gets for a record (`getRecord`), at most `limit`.
    pub fn read(&self, src: &dyn Source, index: usize, limit: u64) -> Result<Extracted, ZipError> {
        self.extract(src, index, limit)
    }

    /// Where a storage record's bytes are: in place when stored, or to be
    /// inflated.
    pub fn storage_bytes(&self, src: &dyn Source, index: usize) -> Result<RecordBytes, ZipError> {
        let e = &self.entries[index];
        if e.method == 0 {
            Ok(RecordBytes::Stored {
                offset: self.data_offset(src, index)?,
                len: e.uncomp_size,
            })
        } else {
            Ok(RecordBytes::Compressed { len: e.uncomp_size })
        }
    }
}

/// The record name of storage `key`.
pub fn storage_record(key: &str) -> String {
    format!("data/{key}")
}

/// `std::stoull` as torch parses the version record: leading white space,
/// an optional sign, digits; the rest ignored. `None` when there are no
/// digits (torch raises).
pub fn parse_version(record: &[u8]) -> Option<u64> {
    let s = String::from_utf8_lossy(record);
    let t = s.trim_start();
    let (neg, t) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let digits: String = t.chars().take_while(char::is_ascii_digit).collect();
    if digits.is_empty() {
        return None;
    }
    let v = digits.parse::<u64>().unwrap_or(u64::MAX);
    Some(if neg { v.wrapping_neg() } else { v })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemSource;
    use crate::zip::testzip::{Member, write};

    fn checkpoint(members: &[Member]) -> Checkpoint {
        let bytes = write(members, b"", b"");
        Checkpoint::open(&MemSource::new(&bytes)).unwrap()
    }

    #[test]
    fn records_are_found_as_torch_finds_them() {
        let ck = checkpoint(&[
            Member::new("a/data.pkl", b"\x80\x02}q\x00."),
            Member::new("a/DATA.PKL", b"\x80\x02]q\x00."),
            Member::new("a/version", b"3\n"),
            Member::new("a/.data/version", b"3\n"),
            Member::new("a/byteorder", b"little"),
            Member::new("a/data/0", &[0; 8]),
            Member::new("a/code/__torch__.py", b"x"),
        ]);
        assert_eq!(ck.version(), Some(3));
        assert_eq!(ck.byteorder(), Some(4));
        assert_eq!(ck.storage("0"), Some(5));
        assert_eq!(ck.record_size("data/0"), Some(8));
        assert_eq!(ck.code_files(), vec![6]);
        let main = ck.data_pkl().unwrap();
        let shadows = ck.data_pkl_shadows();
        assert_eq!(shadows.len(), 1);
        assert_ne!(shadows[0], main);
        assert!([0, 1].contains(&main) && [0, 1].contains(&shadows[0]));
    }

    #[test]
    fn version_parses_as_stoull() {
        assert_eq!(parse_version(b"3\n"), Some(3));
        assert_eq!(parse_version(b"  +7abc"), Some(7));
        assert_eq!(parse_version(b"-1"), Some(u64::MAX));
        assert_eq!(parse_version(b"x"), None);
        assert_eq!(ByteOrder::parse(b"big"), Some(ByteOrder::Big));
        assert_eq!(ByteOrder::parse(b"little\n"), None);
    }
}
