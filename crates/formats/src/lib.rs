//! # airlock-formats
//!
//! Format sniffing and container readers for model files, each reading the
//! bytes the real loader would read:
//!
//! - [`sniff`]: what a file is, decided by content, never by extension;
//! - [`zip`]: a ZIP reader with PyTorch (miniz) parity, [`checkpoint`]
//!   for the records `torch.load` reads from it, in its order, and
//!   [`zip_anomalies`] for what other ZIP readers would see differently;
//! - [`pt2`]: torch.export `.pt2` archives, as `torch.export.load` reads
//!   them (through [`checkpoint`]'s records, and Python's `zipfile` for the
//!   older layout);
//! - [`dcp`]: distributed checkpoints (`torch.distributed.checkpoint`):
//!   the `.metadata` pickle read as torch's schema, and the items of the
//!   `.distcp` shards it locates;
//! - [`pyzip`]: a ZIP reader with Python `zipfile` parity, as `np.load`
//!   reads `.npz` archives;
//! - [`compress`]: sniffing and bounded decompression of the compressed
//!   wrappers pickles come in (gzip, bz2, xz/lzma, zlib, lz4, joblib);
//! - [`tar`]: the tar layout of torch's oldest format;
//! - [`joblib`]: how `joblib.load` reads the arrays it stores inline in its
//!   pickles;
//! - [`safetensors`]: full validation of a safetensors header;
//! - [`npy`]: NumPy `.npy` headers, checked as `numpy.load` checks them,
//!   with [`dtype`] for the dtypes numpy builds from their descriptors and
//!   [`pyliteral`] for the Python literal syntax the header is written in;
//! - [`source`]: random-access reads that count the bytes read, so that a
//!   multi-gigabyte checkpoint is scanned through its metadata only.
//!
//! Structural oddities are reported as [`Anomaly`] values; what they mean
//! for a verdict is decided by the policy layer.

#![forbid(unsafe_code)]

pub mod archive;
pub mod checkpoint;
pub mod compress;
pub mod dcp;
pub mod dtype;
mod flatbuf;
pub mod joblib;
pub mod npy;
pub mod pt2;
pub mod ptd;
pub mod pte;
pub mod pyliteral;
pub mod pyzip;
pub mod safetensors;
pub mod sniff;
pub mod source;
pub mod tar;
pub mod zip;
mod zip_anomalies;
pub mod zipconst;

pub use sniff::{Format, sniff};
pub use source::{
    FileSource, MemSource, Source, SubSource, describe as describe_file_type, open_regular,
};
pub use zip_anomalies::zip_anomalies;

/// A structural oddity of a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anomaly {
    /// What kind.
    pub kind: AnomalyKind,
    /// The member concerned, if any.
    pub member: Option<String>,
    /// A byte offset in the file, if any.
    pub offset: Option<u64>,
    /// A sentence saying what was found.
    pub detail: String,
}

/// Kinds of [`Anomaly`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AnomalyKind {
    /// Two entries with the same name; readers disagree on which is used.
    ZipDuplicateName,
    /// Names equal but for case: torch matches them case-insensitively.
    ZipCaseCollision,
    /// The local header names a different file than the central directory.
    ZipLocalNameMismatch,
    /// Flags, method, sizes or CRC differ between local and central headers.
    ZipHeaderMismatch,
    /// Encryption or patch flags set (torch refuses them only in the central header).
    ZipEncryptionFlags,
    /// The stored CRC-32 does not match the data (torch never checks it).
    ZipCrcMismatch,
    /// Data before the first entry: torch does not treat the file as a ZIP.
    ZipPrependedData,
    /// Bytes after the end-of-central-directory record and comment.
    ZipTrailingData,
    /// Two entries' data overlap.
    ZipOverlappingEntries,
    /// An entry outside the archive's single top-level folder.
    ZipOutsidePrefix,
    /// A member torch never reads.
    ZipUnreadMember,
    /// A record torch reads as uninitialised memory (directory flag or no data).
    ZipUninitializedRecord,
    /// Bytes in the file that no entry covers.
    ZipUnaccountedBytes,
    /// A name with a NUL byte: Python's `zipfile` cuts it there, other
    /// readers keep the whole name.
    ZipNameTruncated,
    /// A compression method Python's `zipfile` does not read (only stored,
    /// deflate, bzip2 and LZMA).
    ZipUnsupportedMethod,
    /// A member `ZipFile.open(name).read()` fails on (other than a CRC
    /// mismatch), so `np.load` cannot load it while other readers may.
    ZipUnreadableMember,
    /// Something unexpected in the legacy torch stream.
    LegacyLayout,
    /// Data after the last pickle that the loader never reads.
    TrailingData,
    /// A safetensors header that is malformed.
    SafetensorsHeader,
}
