//! A ZIP reader with Python `zipfile` parity (CPython 3.11).
//!
//! `np.load` reads `.npz` archives with `zipfile.ZipFile` (its `NpzFile`
//! lists `namelist()` and reads members with `ZipFile.open(name).read()`),
//! and `zipfile` reads differently from the miniz copy inside PyTorch that
//! [`crate::zip`] reproduces: it finds the end record by a fast path on the
//! last 22 bytes and then `rfind` in the last 64 KiB, shifts every offset
//! by the bytes prepended to the archive, walks the central directory by
//! its byte size (ignoring the entry count), decodes names as cp437 or
//! UTF-8 and cuts them at NUL, keeps the last of duplicate names, compares
//! the local name with the central one, checks CRC-32 and reads bzip2 and
//! LZMA members too. A general-purpose ZIP crate would read yet another
//! way, so this reader is written for the project, decision by decision
//! after `zipfile.py` (each branch says which Python behaviour it
//! reproduces), and reports with [`PyZip::anomalies`] what it finds odd.
//!
//! Behaviour of CPython 3.11.7 (the version the parity fixtures were made
//! with). Later releases differ in places this reader reports as anomalies
//! rather than follows: the security releases from early 2024 on (3.11.8,
//! 3.12.2, and 3.13) refuse to read an entry whose data runs into the next
//! entry or the central directory ("Overlapped entries"), and 3.13 checks
//! the ZIP64 end records more strictly.
//!
//! Deliberately not reproduced: the Windows `\` to `/` name rewrite
//! (`os.sep`), passwords (an encrypted member is the `RuntimeError` Python
//! raises without one), `metadata_encoding` (always cp437 as `np.load`
//! uses), and the 1 GiB chunking of members whose compressed size exceeds
//! 1 GiB (read as one chunk; only the point where a truncated file is
//! noticed could differ).

use std::collections::HashMap;
use std::io;

use crate::compress::{self, DecompressError, DecompressLimits, PyError};
use crate::source::{Source, le16, le32, le64};
use crate::zip_anomalies::AnomalySink;
use crate::zipconst::{self, CentralFields, LocalFixed, LocalHeader};
use crate::zipconst::{
    CENTRAL_SIG, CENTRAL_SIZE, DATA_DESCRIPTOR_SIG, EOCD_SIG, EOCD_SIZE, FLAG_DATA_DESCRIPTOR,
    FLAG_ENCRYPTED, FLAG_PATCH, FLAG_STRONG_ENCRYPTION, FLAG_UTF8, LOCAL_SIZE, ZIP64_EOCD_SIG,
    ZIP64_EOCD_SIZE, ZIP64_EXTRA_ID, ZIP64_LOCATOR_SIG, ZIP64_LOCATOR_SIZE,
};
use crate::{Anomaly, AnomalyKind};
use airlock_pyvalue::{bytes_repr, str_repr};

/// `zipfile.MAX_EXTRACT_VERSION`: newer "version needed" values are refused.
const MAX_EXTRACT_VERSION: u8 = 63;
/// `ZipExtFile.MAX_N`: the most a single read asks of the file (`1 << 31 - 1`
/// in Python, which is `1 << 30`).
const MAX_N: u64 = 1 << 30;

fn has_zip64_extra(mut extra: &[u8]) -> bool {
    while extra.len() >= 4 {
        let ln = le16(extra, 2) as usize;
        if le16(extra, 0) == ZIP64_EXTRA_ID {
            return true;
        }
        extra = extra.get(4 + ln..).unwrap_or(&[]);
    }
    false
}

/// The most central directory entries read before giving up.
pub const MAX_ENTRIES: usize = 100_000;
/// The largest central directory read (Python reads any size).
pub const MAX_CENTRAL_DIRECTORY: u64 = 64 << 20;

/// Why an archive or a member cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum PyZipError {
    /// What Python's `zipfile` raises here (`BadZipFile`, `NotImplementedError`, ...).
    #[error("{0}")]
    Python(PyError),
    /// More central directory entries than [`MAX_ENTRIES`].
    #[error(
        "the central directory holds more than {limit} entries (pyzip::MAX_ENTRIES); Python would read them all"
    )]
    TooManyEntries {
        /// The limit.
        limit: usize,
    },
    /// A central directory larger than [`MAX_CENTRAL_DIRECTORY`].
    #[error(
        "the central directory is {size} bytes, over the limit of {limit} (pyzip::MAX_CENTRAL_DIRECTORY); Python would read it"
    )]
    CentralDirectoryTooLarge {
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// A decompression limit stopped the read (Python would go on).
    #[error("{0}")]
    Limit(DecompressError),
    /// Python reads this, this crate cannot reproduce what it gets.
    #[error("cannot reproduce Python's read: {0}")]
    Unsupported(String),
    /// Reading the file failed.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
}

impl PyZipError {
    /// What Python raises, when that is what this error is.
    pub fn python(&self) -> Option<&PyError> {
        match self {
            PyZipError::Python(e) => Some(e),
            _ => None,
        }
    }
}

fn py(exception: &str, message: impl Into<String>) -> PyZipError {
    PyZipError::Python(PyError::new(exception, message))
}

fn bad(message: impl Into<String>) -> PyZipError {
    py("zipfile.BadZipFile", message)
}

/// One central directory entry as `ZipInfo` holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PyZipEntry {
    /// Position in the central directory (`filelist` order).
    pub index: usize,
    /// `ZipInfo.filename`: the decoded name cut at its first NUL.
    pub name: String,
    /// `ZipInfo.orig_filename`: the decoded name, whole.
    pub orig_name: String,
    /// The name's bytes as stored.
    pub raw_name: Vec<u8>,
    /// Offset of this central header in the file.
    pub central_offset: u64,
    /// Version made by (low byte).
    pub create_version: u8,
    /// Host system of the creator.
    pub create_system: u8,
    /// Version needed to extract.
    pub extract_version: u8,
    /// General-purpose flags (`flag_bits`).
    pub flags: u16,
    /// Compression method (`compress_type`).
    pub method: u16,
    /// CRC-32 of the data, as claimed.
    pub crc32: u32,
    /// Compressed size (ZIP64-resolved).
    pub compress_size: u64,
    /// Uncompressed size (ZIP64-resolved).
    pub file_size: u64,
    /// Offset of the local header: the stored one (ZIP64-resolved) plus the
    /// archive's `concat` shift; negative when the shift is.
    pub header_offset: i128,
    /// External attributes.
    pub external_attr: u32,
    /// Extra field as read.
    pub extra: Vec<u8>,
    /// Entry comment as read.
    pub comment: Vec<u8>,
}

/// An archive as `zipfile.ZipFile(f)` opens it.
#[derive(Debug, Clone)]
pub struct PyZip {
    /// Size of the file.
    pub size: u64,
    /// Entries in `filelist` order.
    pub entries: Vec<PyZipEntry>,
    /// `NameToInfo`: name to the last entry of that name.
    name_to_info: HashMap<String, usize>,
    /// Where the end-of-central-directory record was found.
    pub eocd_offset: u64,
    /// The entry count the end record claims (Python ignores it).
    pub claimed_entries: u64,
    /// `start_dir`: where the central directory was read from.
    pub start_dir: u64,
    /// Central directory size, as claimed.
    pub size_cd: u64,
    /// Central directory offset, as claimed.
    pub offset_cd: u64,
    /// `concat`: bytes found before the archive (negative when the end
    /// record claims more than fits).
    pub concat: i128,
    /// The archive comment as read (cut at the end of the file).
    pub comment: Vec<u8>,
    /// The comment length the end record claims.
    pub comment_len: u16,
    /// Whether a ZIP64 end record was used.
    pub zip64: bool,
    /// The ZIP64 locator's offset field, which Python ignores (it takes
    /// the record just before the locator).
    pub zip64_locator_offset: Option<u64>,
}

/// The cp437 code page, upper half (the lower half is ASCII in Python's codec).
const CP437_HIGH: [u16; 128] = [
    0x00c7, 0x00fc, 0x00e9, 0x00e2, 0x00e4, 0x00e0, 0x00e5, 0x00e7, 0x00ea, 0x00eb, 0x00e8, 0x00ef,
    0x00ee, 0x00ec, 0x00c4, 0x00c5, 0x00c9, 0x00e6, 0x00c6, 0x00f4, 0x00f6, 0x00f2, 0x00fb, 0x00f9,
    0x00ff, 0x00d6, 0x00dc, 0x00a2, 0x00a3, 0x00a5, 0x20a7, 0x0192, 0x00e1, 0x00ed, 0x00f3, 0x00fa,
    0x00f1, 0x00d1, 0x00aa, 0x00ba, 0x00bf, 0x2310, 0x00ac, 0x00bd, 0x00bc, 0x00a1, 0x00ab, 0x00bb,
    0x2591, 0x2592, 0x2593, 0x2502, 0x2524, 0x2561, 0x2562, 0x2556, 0x2555, 0x2563, 0x2551, 0x2557,
    0x255d, 0x255c, 0x255b, 0x2510, 0x2514, 0x2534, 0x252c, 0x251c, 0x2500, 0x253c, 0x255e, 0x255f,
    0x255a, 0x2554, 0x2569, 0x2566, 0x2560, 0x2550, 0x256c, 0x2567, 0x2568, 0x2564, 0x2565, 0x2559,
    0x2558, 0x2552, 0x2553, 0x256b, 0x256a, 0x2518, 0x250c, 0x2588, 0x2584, 0x258c, 0x2590, 0x2580,
    0x03b1, 0x00df, 0x0393, 0x03c0, 0x03a3, 0x03c3, 0x00b5, 0x03c4, 0x03a6, 0x0398, 0x03a9, 0x03b4,
    0x221e, 0x03c6, 0x03b5, 0x2229, 0x2261, 0x00b1, 0x2265, 0x2264, 0x2320, 0x2321, 0x00f7, 0x2248,
    0x00b0, 0x2219, 0x00b7, 0x221a, 0x207f, 0x00b2, 0x25a0, 0x00a0,
];

/// `bytes.decode('cp437')`: never fails.
pub fn decode_cp437(b: &[u8]) -> String {
    b.iter()
        .map(|&c| {
            if c < 0x80 {
                c as char
            } else {
                char::from_u32(CP437_HIGH[(c - 0x80) as usize] as u32).expect("BMP code point")
            }
        })
        .collect()
}

/// `bytes.decode('utf-8')`, with CPython's `UnicodeDecodeError` message.
pub fn decode_utf8(b: &[u8]) -> Result<String, PyZipError> {
    match std::str::from_utf8(b) {
        Ok(s) => Ok(s.to_string()),
        Err(e) => {
            let p = e.valid_up_to();
            let (n, reason) = match e.error_len() {
                None => (b.len() - p, "unexpected end of data"),
                Some(n) => {
                    let lead = b[p];
                    let valid_lead = matches!(lead, 0xc2..=0xf4);
                    (
                        n,
                        if n == 1 && !valid_lead {
                            "invalid start byte"
                        } else {
                            "invalid continuation byte"
                        },
                    )
                }
            };
            let what = if n == 1 {
                format!("byte 0x{:02x} in position {p}", b[p])
            } else {
                format!("bytes in position {p}-{}", p + n - 1)
            };
            Err(py(
                "UnicodeDecodeError",
                format!("'utf-8' codec can't decode {what}: {reason}"),
            ))
        }
    }
}

fn decode_name(b: &[u8], flags: u16) -> Result<String, PyZipError> {
    if flags & FLAG_UTF8 != 0 {
        decode_utf8(b)
    } else {
        Ok(decode_cp437(b))
    }
}

/// The end record as `_EndRecData` / `_EndRecData64` return it.
struct EndRec {
    location: u64,
    size_cd: u64,
    offset_cd: u64,
    entries: u64,
    comment: Vec<u8>,
    comment_len: u16,
    zip64: bool,
    locator_offset: Option<u64>,
}

fn not_a_zip() -> PyZipError {
    bad("File is not a zip file")
}

/// `_EndRecData`: the last 22 bytes if they are an end record without a
/// comment, else the last signature in the last 64 KiB + 22 bytes.
fn end_rec(src: &dyn Source) -> Result<EndRec, PyZipError> {
    let size = src.len();
    // `seek(-22, 2)` fails on a shorter file: "not a zip file".
    if size < EOCD_SIZE {
        return Err(not_a_zip());
    }
    let last = src.read_vec(size - EOCD_SIZE, EOCD_SIZE as usize)?;
    let (rec, location, comment) = if le32(&last, 0) == EOCD_SIG && last[20..22] == [0, 0] {
        (last, size - EOCD_SIZE, Vec::new())
    } else {
        let start = size.saturating_sub((1 << 16) + EOCD_SIZE);
        let data = src.read_vec(start, (size - start) as usize)?;
        let sig = EOCD_SIG.to_le_bytes();
        let Some(at) = data.windows(4).rposition(|w| w == sig) else {
            return Err(not_a_zip());
        };
        if data.len() - at < EOCD_SIZE as usize {
            // A signature too close to the end: "Zip file is corrupted".
            return Err(not_a_zip());
        }
        let rec = data[at..at + EOCD_SIZE as usize].to_vec();
        let n = le16(&rec, 20) as usize;
        let c_start = at + EOCD_SIZE as usize;
        let comment = data[c_start..(c_start + n).min(data.len())].to_vec();
        (rec, start + at as u64, comment)
    };
    let mut e = EndRec {
        location,
        size_cd: le32(&rec, 12) as u64,
        offset_cd: le32(&rec, 16) as u64,
        entries: le16(&rec, 10) as u64,
        comment,
        comment_len: le16(&rec, 20),
        zip64: false,
        locator_offset: None,
    };
    // `_EndRecData64`: a locator just before the end record, and the ZIP64
    // record just before the locator (the locator's offset is not used).
    if location < ZIP64_LOCATOR_SIZE {
        return Ok(e);
    }
    let loc = src.read_vec(location - ZIP64_LOCATOR_SIZE, ZIP64_LOCATOR_SIZE as usize)?;
    if le32(&loc, 0) != ZIP64_LOCATOR_SIG {
        return Ok(e);
    }
    if le32(&loc, 4) != 0 || le32(&loc, 16) > 1 {
        return Err(bad("zipfiles that span multiple disks are not supported"));
    }
    e.locator_offset = Some(le64(&loc, 8));
    // This seek is outside the `try`, and `_RealGetContents` turns its
    // OSError into "File is not a zip file".
    let Some(z_at) = location.checked_sub(ZIP64_LOCATOR_SIZE + ZIP64_EOCD_SIZE) else {
        return Err(not_a_zip());
    };
    let z = src.read_vec(z_at, ZIP64_EOCD_SIZE as usize)?;
    if le32(&z, 0) != ZIP64_EOCD_SIG {
        return Ok(e);
    }
    e.zip64 = true;
    e.entries = le64(&z, 32);
    e.size_cd = le64(&z, 40);
    e.offset_cd = le64(&z, 48);
    Ok(e)
}

/// `ZipInfo._decodeExtra`: walk the extra fields; every ZIP64 field (there
/// may be several) replaces the 0xFFFFFFFF values in order file size,
/// compressed size, header offset.
fn decode_extra(e: &mut PyZipEntry, raw_offset: &mut u64) -> Result<(), PyZipError> {
    let mut extra = &e.extra[..];
    while extra.len() >= 4 {
        let tp = le16(extra, 0);
        let ln = le16(extra, 2) as usize;
        if ln + 4 > extra.len() {
            return Err(bad(format!("Corrupt extra field {tp:04x} (size={ln})")));
        }
        if tp == ZIP64_EXTRA_ID {
            let mut data = &extra[4..ln + 4];
            let mut take = |v: &mut u64, field: &str| -> Result<(), PyZipError> {
                if data.len() < 8 {
                    return Err(bad(format!(
                        "Corrupt zip64 extra field. {field} not found."
                    )));
                }
                *v = le64(data, 0);
                data = &data[8..];
                Ok(())
            };
            if e.file_size == u64::MAX || e.file_size == 0xFFFF_FFFF {
                take(&mut e.file_size, "File size")?;
            }
            if e.compress_size == 0xFFFF_FFFF {
                take(&mut e.compress_size, "Compress size")?;
            }
            if *raw_offset == 0xFFFF_FFFF {
                take(raw_offset, "Header offset")?;
            }
        }
        extra = &extra[ln + 4..];
    }
    Ok(())
}

/// The central header at `*p` in the central directory `data` (read from
/// `start_dir`), as `_RealGetContents` reads entry `index`: the entry, and
/// the size its header claims for it. `*p` advances by what the reads
/// return (less than claimed at the end of `data`).
fn central_entry(
    data: &[u8],
    p: &mut usize,
    start_dir: u64,
    index: usize,
    concat: i128,
) -> Result<(PyZipEntry, u64), PyZipError> {
    if data.len() - *p < CENTRAL_SIZE {
        return Err(bad("Truncated central directory"));
    }
    let h = &data[*p..*p + CENTRAL_SIZE];
    if le32(h, 0) != CENTRAL_SIG {
        return Err(bad("Bad magic number for central directory"));
    }
    let central_offset = start_dir + *p as u64;
    *p += CENTRAL_SIZE;
    let (name_len, extra_len, comment_len) = (
        le16(h, 28) as usize,
        le16(h, 30) as usize,
        le16(h, 32) as usize,
    );
    let mut read = |n: usize| {
        let got = data[*p..(*p + n).min(data.len())].to_vec();
        *p += got.len();
        got
    };
    let raw_name = read(name_len);
    let flags = le16(h, 8);
    let orig_name = decode_name(&raw_name, flags)?;
    // `ZipInfo.__init__` cuts the name at the first NUL.
    let name = orig_name.split('\0').next().unwrap_or("").to_string();
    let extra = read(extra_len);
    let comment = read(comment_len);
    let extract_version = h[6];
    if extract_version > MAX_EXTRACT_VERSION {
        return Err(py(
            "NotImplementedError",
            format!(
                "zip file version {}.{}",
                extract_version / 10,
                extract_version % 10
            ),
        ));
    }
    let mut e = PyZipEntry {
        index,
        name,
        orig_name,
        raw_name,
        central_offset,
        create_version: h[4],
        create_system: h[5],
        extract_version,
        flags,
        method: le16(h, 10),
        crc32: le32(h, 16),
        compress_size: le32(h, 20) as u64,
        file_size: le32(h, 24) as u64,
        header_offset: 0,
        external_attr: le32(h, 38),
        extra,
        comment,
    };
    let mut raw_offset = le32(h, 42) as u64;
    decode_extra(&mut e, &mut raw_offset)?;
    e.header_offset = raw_offset as i128 + concat;
    Ok((
        e,
        (CENTRAL_SIZE + name_len + extra_len + comment_len) as u64,
    ))
}

impl PyZip {
    /// `zipfile.ZipFile(f)`: find the end record and read the central
    /// directory. An error is what the constructor raises.
    pub fn open(src: &dyn Source) -> Result<PyZip, PyZipError> {
        let size = src.len();
        let end = end_rec(src)?;
        // `concat`: the end record's position minus where the directory
        // claims to end, i.e. bytes prepended to the archive.
        let mut concat = end.location as i128 - end.size_cd as i128 - end.offset_cd as i128;
        if end.zip64 {
            concat -= (ZIP64_EOCD_SIZE + ZIP64_LOCATOR_SIZE) as i128;
        }
        let start_dir = end.offset_cd as i128 + concat;
        if start_dir < 0 {
            return Err(bad("Bad offset for central directory"));
        }
        let start_dir = start_dir as u64;
        // `fp.read(size_cd)`: as much as the file holds.
        let avail = size.saturating_sub(start_dir).min(end.size_cd);
        if avail > MAX_CENTRAL_DIRECTORY {
            return Err(PyZipError::CentralDirectoryTooLarge {
                size: avail,
                limit: MAX_CENTRAL_DIRECTORY,
            });
        }
        let data = src.read_vec(start_dir, avail as usize)?;
        let mut entries: Vec<PyZipEntry> = Vec::new();
        let mut name_to_info = HashMap::new();
        // Reads from the in-memory copy advance by what they return, the
        // running total by what the headers claim.
        let mut p = 0usize;
        let mut total: u64 = 0;
        while total < end.size_cd {
            if entries.len() == MAX_ENTRIES {
                return Err(PyZipError::TooManyEntries { limit: MAX_ENTRIES });
            }
            let (e, claimed) = central_entry(&data, &mut p, start_dir, entries.len(), concat)?;
            // `NameToInfo[x.filename] = x`: the last of duplicates wins.
            name_to_info.insert(e.name.clone(), e.index);
            entries.push(e);
            total += claimed;
        }
        Ok(PyZip {
            size,
            entries,
            name_to_info,
            eocd_offset: end.location,
            claimed_entries: end.entries,
            start_dir,
            size_cd: end.size_cd,
            offset_cd: end.offset_cd,
            concat,
            comment: end.comment,
            comment_len: end.comment_len,
            zip64: end.zip64,
            zip64_locator_offset: end.locator_offset,
        })
    }

    /// The entries in `filelist` order.
    pub fn entries(&self) -> &[PyZipEntry] {
        &self.entries
    }

    /// `ZipFile.namelist()`: every entry's name, duplicates included.
    pub fn namelist(&self) -> Vec<&str> {
        self.entries.iter().map(|e| e.name.as_str()).collect()
    }

    /// `ZipFile.getinfo(name)`: the index of the last entry with this name.
    pub fn lookup(&self, name: &str) -> Option<usize> {
        self.name_to_info.get(name).copied()
    }

    /// The local header `ZipFile.open` reads for an entry, with its checks
    /// (readable, signature), or the error `open` raises.
    pub fn local_header(&self, src: &dyn Source, index: usize) -> Result<LocalHeader, PyZipError> {
        let e = &self.entries[index];
        if e.header_offset < 0 {
            // `seek()` to a negative position on a real file.
            return Err(py("OSError", "[Errno 22] Invalid argument"));
        }
        let off = u64::try_from(e.header_offset).unwrap_or(u64::MAX);
        let h = src.read_upto(off, LOCAL_SIZE)?;
        if h.len() != LOCAL_SIZE {
            return Err(bad("Truncated file header"));
        }
        let fixed = LocalFixed::parse(&h).ok_or_else(|| bad("Bad magic number for file header"))?;
        let (name_len, extra_len) = (fixed.name_len as u64, fixed.extra_len as u64);
        // zipfile reads the name and skips the extra field.
        let name = src.read_upto(off + LOCAL_SIZE as u64, name_len as usize)?;
        let data = (off + LOCAL_SIZE as u64 + name_len + extra_len).min(self.size);
        Ok(fixed.header(off, name, Vec::new(), data))
    }

    /// `ZipFile.open(name).read()` for the entry at `index`: the bytes
    /// Python returns, or the exception it raises, in the order `open` and
    /// `ZipExtFile` check things.
    pub fn read(
        &self,
        src: &dyn Source,
        index: usize,
        limits: &DecompressLimits,
    ) -> Result<Vec<u8>, PyZipError> {
        let e = &self.entries[index];
        let local = self.local_header(src, index)?;
        // Flags are taken from the central directory, before the name check.
        if e.flags & FLAG_PATCH != 0 {
            return Err(py(
                "NotImplementedError",
                "compressed patched data (flag bit 5)",
            ));
        }
        if e.flags & FLAG_STRONG_ENCRYPTION != 0 {
            return Err(py("NotImplementedError", "strong encryption (flag bit 6)"));
        }
        // The local name is decoded with the local header's UTF-8 flag and
        // compared with the whole central name (before the NUL cut).
        let local_name = decode_name(&local.name, local.flags)?;
        if local_name != e.orig_name {
            return Err(bad(format!(
                "File name in directory {} and header {} differ.",
                str_repr(&e.orig_name),
                bytes_repr(&local.name)
            )));
        }
        if e.flags & FLAG_ENCRYPTED != 0 {
            return Err(py(
                "RuntimeError",
                format!(
                    "File {} is encrypted, password required for extraction",
                    str_repr(&e.name)
                ),
            ));
        }
        if !matches!(e.method, 0 | 8 | 12 | 14) {
            // `_check_compression` raises before `_get_decompressor`'s
            // more specific messages can.
            return Err(py(
                "NotImplementedError",
                "That compression method is not supported",
            ));
        }
        let start = local.data_offset;
        let avail = self.size.saturating_sub(start).min(e.compress_size);
        let out = if e.method == 0 {
            self.read_stored(src, e, start, avail, limits)?
        } else {
            self.read_compressed(src, e, start, avail, limits)?
        };
        // `_update_crc` at EOF.
        if crc32fast::hash(&out) != e.crc32 {
            return Err(bad(format!("Bad CRC-32 for file {}", str_repr(&e.name))));
        }
        Ok(out)
    }

    /// Stored data: `_read2` chunks of up to 1 GiB until `compress_size`
    /// bytes are read or `file_size` bytes are returned; an empty read
    /// before either is `EOFError`.
    fn read_stored(
        &self,
        src: &dyn Source,
        e: &PyZipEntry,
        start: u64,
        avail: u64,
        limits: &DecompressLimits,
    ) -> Result<Vec<u8>, PyZipError> {
        let mut compress_left = e.compress_size;
        let mut left = e.file_size;
        let mut pos = 0u64;
        let mut out_len = 0u64;
        loop {
            if compress_left == 0 {
                break;
            }
            let got = MAX_N.min(compress_left).min(avail - pos);
            if got == 0 {
                return Err(py("EOFError", ""));
            }
            compress_left -= got;
            pos += got;
            let take = got.min(left);
            left -= take;
            out_len += take;
            if left == 0 {
                break;
            }
        }
        if out_len > limits.max_output {
            return Err(PyZipError::Limit(DecompressError::OutputLimit {
                kind: "stored",
                limit: limits.max_output,
            }));
        }
        Ok(src.read_vec(start, out_len as usize)?)
    }

    /// Deflate, bzip2, LZMA: the available compressed bytes go to the
    /// decompressor in one call; the result is cut at `file_size`. The
    /// read ends there, or when the stream ended or all `compress_size`
    /// bytes were used; otherwise the next read of the file is empty:
    /// `EOFError`.
    fn read_compressed(
        &self,
        src: &dyn Source,
        e: &PyZipEntry,
        start: u64,
        avail: u64,
        limits: &DecompressLimits,
    ) -> Result<Vec<u8>, PyZipError> {
        if e.compress_size == 0 {
            // Nothing is read and every decompressor returns b'' for it.
            return Ok(Vec::new());
        }
        if avail == 0 {
            return Err(py("EOFError", ""));
        }
        if avail > limits.max_output {
            return Err(PyZipError::Limit(DecompressError::OutputLimit {
                kind: "compressed member",
                limit: limits.max_output,
            }));
        }
        let comp = src.read_vec(start, avail as usize)?;
        // Output past `file_size` is cut: never produce it.
        let capped = DecompressLimits {
            max_output: limits.max_output.min(e.file_size),
            ..limits.clone()
        };
        let res = match e.method {
            8 => compress::inflate_raw_upto(&comp, limits, e.file_size),
            12 => compress::bzip2_stream(&comp, &capped),
            _ => compress::zip_lzma(&comp, &capped),
        };
        let part = match res {
            Ok(p) => p,
            Err(err) if err.is_limit() => return Err(PyZipError::Limit(err)),
            Err(DecompressError::Truncated { .. }) => {
                return Err(PyZipError::Unsupported(format!(
                    "{}: the LZMA data ends without its end marker; zipfile returns the partial output (then checks the CRC), which lzma-rs does not deliver",
                    e.name
                )));
            }
            Err(err) => {
                return Err(match err.python() {
                    Some(p) => PyZipError::Python(p.clone()),
                    None => PyZipError::Unsupported(err.to_string()),
                });
            }
        };
        let mut data = part.data;
        let eof = part.ended || avail == e.compress_size || data.len() as u64 >= e.file_size;
        if !eof {
            return Err(py("EOFError", ""));
        }
        data.truncate(e.file_size.min(data.len() as u64) as usize);
        Ok(data)
    }

    /// Everything about the archive that Python reads differently from
    /// other readers, or that only crafted archives contain. Each member is
    /// read as `np.load` would read it (within `limits`, one at a time) to
    /// report CRC mismatches and members Python cannot read.
    pub fn anomalies(&self, src: &dyn Source, limits: &DecompressLimits) -> Vec<Anomaly> {
        self.anomalies_checked(src, limits, true)
    }

    /// [`anomalies`](PyZip::anomalies), reading the members' data only when
    /// `read_data` is set: without it, CRC mismatches and unreadable data
    /// are not looked for (the cost of reading every byte of a large
    /// archive), everything in the headers still is.
    pub fn anomalies_checked(
        &self,
        src: &dyn Source,
        limits: &DecompressLimits,
        read_data: bool,
    ) -> Vec<Anomaly> {
        let mut sink = AnomalySink::new();
        self.name_anomalies(&mut sink);
        self.end_record_anomalies(src, &mut sink);
        // Local headers, data ranges, flags, methods, and each member's read.
        let mut ranges: Vec<(u64, u64, usize)> = Vec::new();
        for e in &self.entries {
            if let Some(range) = self.entry_anomalies(src, e, &mut sink) {
                ranges.push(range);
            }
            if read_data {
                self.read_anomaly(src, e, limits, &mut sink);
            }
        }
        ranges.sort();
        self.overlap_anomalies(&ranges, &mut sink);
        self.unaccounted_anomalies(&ranges, &mut sink);
        sink.finish()
    }
}

/// The steps of [`PyZip::anomalies_checked`], in the order it reports.
impl PyZip {
    /// Duplicate names (`NameToInfo` keeps the last) and names cut at a NUL.
    fn name_anomalies(&self, sink: &mut AnomalySink) {
        let mut by_name: HashMap<&str, Vec<usize>> = HashMap::new();
        for e in &self.entries {
            by_name.entry(e.name.as_str()).or_default().push(e.index);
        }
        let mut groups: Vec<&Vec<usize>> = by_name.values().filter(|v| v.len() > 1).collect();
        groups.sort();
        for g in groups {
            let first = &self.entries[g[0]];
            let used = *g.last().expect("non-empty");
            sink.push(
                AnomalyKind::ZipDuplicateName,
                Some(first.name.clone()),
                Some(first.central_offset),
                format!(
                    "{} entries are named {}: Python's zipfile (and so np.load) reads the last, entry {used}; namelist() lists all of them",
                    g.len(),
                    str_repr(&first.name)
                ),
            );
        }
        for e in &self.entries {
            if e.name != e.orig_name {
                sink.push(
                    AnomalyKind::ZipNameTruncated,
                    Some(e.name.clone()),
                    Some(e.central_offset),
                    format!(
                        "the stored name {} contains a NUL: Python's zipfile calls it {}, other readers see the whole name",
                        str_repr(&e.orig_name),
                        str_repr(&e.name)
                    ),
                );
            }
        }
    }

    /// What the end records say against what is there: prepended bytes,
    /// the entry count, the ZIP64 locator, a shadowing end record, bytes
    /// after the comment.
    fn end_record_anomalies(&self, src: &dyn Source, sink: &mut AnomalySink) {
        if self.concat > 0 {
            sink.push(
                AnomalyKind::ZipPrependedData,
                None,
                Some(0),
                format!(
                    "{} bytes precede the archive: Python's zipfile shifts every offset by them, torch's reader does not",
                    self.concat
                ),
            );
        } else if self.concat < 0 {
            sink.push(
                AnomalyKind::ZipHeaderMismatch,
                None,
                Some(self.eocd_offset),
                format!(
                    "the end record places the central directory {} bytes past where it ends: Python shifts every offset back by that much",
                    -self.concat
                ),
            );
        }
        if self.claimed_entries != self.entries.len() as u64 {
            sink.push(
                AnomalyKind::ZipHeaderMismatch,
                None,
                Some(self.eocd_offset),
                format!(
                    "the end record counts {} entries, the central directory holds {}: Python reads by size and finds {}, miniz (torch) reads the count",
                    self.claimed_entries,
                    self.entries.len(),
                    self.entries.len()
                ),
            );
        }
        if let Some(loc) = self.zip64_locator_offset {
            let expected = self
                .eocd_offset
                .saturating_sub(ZIP64_LOCATOR_SIZE + ZIP64_EOCD_SIZE);
            if self.zip64 && loc != expected {
                sink.push(
                    AnomalyKind::ZipHeaderMismatch,
                    None,
                    Some(self.eocd_offset - ZIP64_LOCATOR_SIZE),
                    format!(
                        "the ZIP64 locator points to offset {loc}, Python reads the record just before the locator, at {expected}"
                    ),
                );
            }
        }
        self.shadow_end_record(src, sink);
        let end = self.eocd_offset + EOCD_SIZE + self.comment.len() as u64;
        if self.size > end {
            sink.push(
                AnomalyKind::ZipTrailingData,
                None,
                Some(end),
                format!(
                    "{} bytes after the end record and comment: Python's zipfile ignores them",
                    self.size - end
                ),
            );
        }
    }

    /// An earlier end record whose comment holds the one Python takes:
    /// readers that check the comment length against the file's end take
    /// the earlier one, and see other entries.
    fn shadow_end_record(&self, src: &dyn Source, sink: &mut AnomalySink) {
        let window = self.size.saturating_sub((1 << 16) + EOCD_SIZE);
        let Ok(tail) = src.read_vec(
            window,
            (self.eocd_offset - window.min(self.eocd_offset)) as usize,
        ) else {
            return;
        };
        let sig = EOCD_SIG.to_le_bytes();
        let used = (self.eocd_offset - window) as usize;
        let shadow = (0..tail.len().saturating_sub(3)).rev().find(|&j| {
            tail[j..j + 4] == sig
                && j + EOCD_SIZE as usize <= tail.len()
                && j + EOCD_SIZE as usize + le16(&tail, j + 20) as usize
                    >= used + EOCD_SIZE as usize
        });
        if let Some(j) = shadow {
            sink.push(
                AnomalyKind::ZipHeaderMismatch,
                None,
                Some(window + j as u64),
                format!(
                    "the end record Python uses (offset {}) lies inside the comment of another end record at offset {}: readers that take that one see a different archive",
                    self.eocd_offset,
                    window + j as u64
                ),
            );
        }
    }

    /// An entry's central flags and method, and its local header against
    /// them; the range from the local header to the end of the data (and
    /// of its data descriptor), when there is a local header.
    fn entry_anomalies(
        &self,
        src: &dyn Source,
        e: &PyZipEntry,
        sink: &mut AnomalySink,
    ) -> Option<(u64, u64, usize)> {
        let name = Some(e.name.clone());
        if e.flags & CRYPT_FLAGS != 0 {
            sink.push(
                AnomalyKind::ZipEncryptionFlags,
                name.clone(),
                Some(e.central_offset),
                format!(
                    "central flags 0x{:04x}: Python's zipfile refuses to read the entry (patched/strong encryption: NotImplementedError; encrypted: RuntimeError without a password)",
                    e.flags
                ),
            );
        }
        if !matches!(e.method, 0 | 8 | 12 | 14) {
            sink.push(
                AnomalyKind::ZipUnsupportedMethod,
                name.clone(),
                Some(e.central_offset),
                format!(
                    "compression method {}: Python's zipfile reads only stored, deflate, bzip2 and LZMA (NotImplementedError)",
                    e.method
                ),
            );
        }
        let local = match self.local_header(src, e.index) {
            Ok(local) => local,
            Err(err) => {
                sink.push(
                    AnomalyKind::ZipHeaderMismatch,
                    name,
                    u64::try_from(e.header_offset).ok(),
                    format!("no readable local header where the central directory points: {err}"),
                );
                return None;
            }
        };
        if let Ok(n) = decode_name(&local.name, local.flags) {
            if n != e.orig_name {
                sink.push(
                    AnomalyKind::ZipLocalNameMismatch,
                    name.clone(),
                    Some(local.offset),
                    format!(
                        "the local header names it {}: Python's zipfile refuses the entry (BadZipFile), torch ignores local names",
                        bytes_repr(&local.name)
                    ),
                );
            }
        }
        let diffs = header_diffs(e, &local);
        if !diffs.is_empty() {
            sink.push(
                AnomalyKind::ZipHeaderMismatch,
                name,
                Some(local.offset),
                format!(
                    "local header differs from the central directory (Python uses the central values): {}",
                    diffs.join(", ")
                ),
            );
        }
        Some((local.offset, self.data_end(src, e, &local), e.index))
    }

    /// Where an entry's data ends, with the data descriptor after it (Python
    /// never reads it): optional signature, CRC, two sizes of 4 bytes, or 8
    /// with ZIP64.
    fn data_end(&self, src: &dyn Source, e: &PyZipEntry, local: &LocalHeader) -> u64 {
        let mut data_end = local.data_offset.saturating_add(e.compress_size);
        if e.flags & FLAG_DATA_DESCRIPTOR != 0 {
            let zip64 = has_zip64_extra(&e.extra);
            let sig = src
                .read_upto(data_end, 4)
                .is_ok_and(|b| b.len() == 4 && le32(&b, 0) == DATA_DESCRIPTOR_SIG);
            data_end += if sig { 4 } else { 0 } + 4 + if zip64 { 16 } else { 8 };
        }
        data_end
    }

    /// The member read as `np.load` reads it: a CRC mismatch, or why
    /// Python cannot read it.
    fn read_anomaly(
        &self,
        src: &dyn Source,
        e: &PyZipEntry,
        limits: &DecompressLimits,
        sink: &mut AnomalySink,
    ) {
        match self.read(src, e.index, limits) {
            Ok(_) => {}
            Err(PyZipError::Python(p)) if p.message.starts_with("Bad CRC-32") => sink.push(
                AnomalyKind::ZipCrcMismatch,
                Some(e.name.clone()),
                Some(e.central_offset),
                format!(
                    "the data does not match its CRC-32: Python's zipfile raises {p}, torch reads it"
                ),
            ),
            Err(err) => sink.push(
                AnomalyKind::ZipUnreadableMember,
                Some(e.name.clone()),
                Some(e.central_offset),
                format!("ZipFile.open({}).read() fails: {err}", str_repr(&e.name)),
            ),
        }
    }

    /// Overlaps, as CPython >= 3.11.8 / 3.12.2 checks them when opening a
    /// member: its data must end by the next local header (in offset order)
    /// or the central directory. `ranges` sorted.
    fn overlap_anomalies(&self, ranges: &[(u64, u64, usize)], sink: &mut AnomalySink) {
        // The next greater start after each range (linear, from the end).
        let mut next_start = vec![self.start_dir; ranges.len()];
        for i in (0..ranges.len().saturating_sub(1)).rev() {
            next_start[i] = if ranges[i + 1].0 > ranges[i].0 {
                ranges[i + 1].0
            } else {
                next_start[i + 1]
            };
        }
        for (i, &(start, data_end, index)) in ranges.iter().enumerate() {
            let next = next_start[i];
            // Sorted, so entries sharing a local header are neighbours.
            let same_start = (i > 0 && ranges[i - 1].0 == start)
                || ranges.get(i + 1).is_some_and(|r| r.0 == start);
            if data_end > next || same_start {
                let e = &self.entries[index];
                sink.push(
                    AnomalyKind::ZipOverlappingEntries,
                    Some(e.name.clone()),
                    Some(start),
                    format!(
                        "the data of {} runs into another entry or the central directory: CPython 3.11.7 reads it, 3.11.8+/3.12.2+ raise BadZipFile(\"Overlapped entries: {} (possible zip bomb)\")",
                        str_repr(&e.name),
                        str_repr(&e.orig_name)
                    ),
                );
            }
        }
    }

    /// Bytes no entry covers, between the archive's start and its central
    /// directory. `ranges` sorted.
    fn unaccounted_anomalies(&self, ranges: &[(u64, u64, usize)], sink: &mut AnomalySink) {
        let archive_start = u64::try_from(self.concat.max(0)).unwrap_or(0);
        let mut covered = archive_start;
        for &(start, data_end, _) in ranges {
            if start > covered && start <= self.start_dir {
                sink.push(
                    AnomalyKind::ZipUnaccountedBytes,
                    None,
                    Some(covered),
                    format!(
                        "{} bytes at offset {covered} belong to no entry",
                        start - covered
                    ),
                );
            }
            covered = covered.max(data_end);
        }
        if self.start_dir > covered + 16 {
            sink.push(
                AnomalyKind::ZipUnaccountedBytes,
                None,
                Some(covered),
                format!(
                    "{} bytes between the last entry and the central directory belong to no entry",
                    self.start_dir - covered
                ),
            );
        }
    }
}

/// The encryption and patch flags: Python refuses an entry with any of them
/// in its central header.
const CRYPT_FLAGS: u16 = FLAG_ENCRYPTED | FLAG_PATCH | FLAG_STRONG_ENCRYPTION;

/// What differs between an entry's local header and its central one: flags
/// (encryption flags apart, Python only looks at the central ones),
/// method, and the CRC and sizes when the local header holds them.
fn header_diffs(e: &PyZipEntry, local: &LocalHeader) -> Vec<String> {
    let central = CentralFields {
        flags: e.flags,
        method: e.method,
        crc32: e.crc32,
        comp_size: e.compress_size,
        uncomp_size: e.file_size,
    };
    let mut diffs = zipconst::header_diffs(central, local, CRYPT_FLAGS);
    if local.flags & CRYPT_FLAGS != e.flags & CRYPT_FLAGS {
        // After the flags line, if there is one, as zipfile's order goes.
        let at = usize::from(local.flags & !CRYPT_FLAGS != e.flags & !CRYPT_FLAGS);
        diffs.insert(
            at,
            format!(
                "encryption flags 0x{:04x} locally vs 0x{:04x} (Python only looks at the central ones)",
                local.flags & CRYPT_FLAGS,
                e.flags & CRYPT_FLAGS
            ),
        );
    }
    diffs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::MemSource;
    use crate::zip::testzip::{Member, write};

    fn open(z: &[u8]) -> Result<PyZip, PyZipError> {
        PyZip::open(&MemSource::new(z))
    }

    fn read(z: &[u8], name: &str) -> Result<Vec<u8>, PyZipError> {
        let src = MemSource::new(z);
        let zip = PyZip::open(&src)?;
        let i = zip.lookup(name).expect("name");
        zip.read(&src, i, &DecompressLimits::default())
    }

    fn kinds(z: &[u8]) -> Vec<AnomalyKind> {
        let src = MemSource::new(z);
        let zip = PyZip::open(&src).unwrap();
        let mut k: Vec<_> = zip
            .anomalies(&src, &DecompressLimits::default())
            .into_iter()
            .map(|a| a.kind)
            .collect();
        k.sort();
        k.dedup();
        k
    }

    #[test]
    fn reads_and_lists_like_zipfile() {
        let mut d = Member::new("b.npy", b"deflated bytes deflated bytes");
        d.deflate = true;
        let z = write(&[Member::new("a.npy", b"stored"), d], b"", b"");
        assert_eq!(open(&z).unwrap().namelist(), ["a.npy", "b.npy"]);
        assert_eq!(read(&z, "a.npy").unwrap(), b"stored");
        assert_eq!(read(&z, "b.npy").unwrap(), b"deflated bytes deflated bytes");
        assert!(kinds(&z).is_empty(), "{:?}", kinds(&z));
    }

    #[test]
    fn last_duplicate_wins_and_prefix_is_tolerated() {
        let z = write(
            &[
                Member::new("a.npy", b"first"),
                Member::new("a.npy", b"second"),
            ],
            b"",
            b"",
        );
        let mut shifted = b"#!/bin/sh\nexit 0\n".to_vec();
        shifted.extend_from_slice(&z);
        assert_eq!(read(&shifted, "a.npy").unwrap(), b"second");
        let k = kinds(&shifted);
        assert!(k.contains(&AnomalyKind::ZipDuplicateName), "{k:?}");
        assert!(k.contains(&AnomalyKind::ZipPrependedData), "{k:?}");
    }

    #[test]
    fn local_name_and_crc_are_checked() {
        let mut m = Member::new("a.npy", b"x");
        m.local_name = Some(b"b.npy".to_vec());
        let z = write(&[m], b"", b"");
        assert_eq!(
            read(&z, "a.npy").unwrap_err().to_string(),
            "zipfile.BadZipFile: File name in directory 'a.npy' and header b'b.npy' differ."
        );
        let mut m = Member::new("a.npy", b"x");
        m.crc = Some(1);
        let z = write(&[m], b"", b"");
        assert_eq!(
            read(&z, "a.npy").unwrap_err().to_string(),
            "zipfile.BadZipFile: Bad CRC-32 for file 'a.npy'"
        );
        assert!(kinds(&z).contains(&AnomalyKind::ZipCrcMismatch));
    }

    #[test]
    fn flags_come_from_the_central_header() {
        let mut m = Member::new("a.npy", b"x");
        m.local_flags = Some(FLAG_ENCRYPTED);
        let z = write(&[m.clone()], b"", b"");
        assert_eq!(read(&z, "a.npy").unwrap(), b"x");
        m.flags = FLAG_ENCRYPTED;
        m.local_flags = None;
        let z = write(&[m], b"", b"");
        let e = read(&z, "a.npy").unwrap_err();
        assert_eq!(e.python().unwrap().exception, "RuntimeError");
    }

    #[test]
    fn nul_cuts_names_and_garbage_is_not_a_zip() {
        let z = write(&[Member::new("a.npy\0evil", b"x")], b"", b"");
        let zip = open(&z).unwrap();
        assert_eq!(zip.namelist(), ["a.npy"]);
        assert_eq!(zip.entries[0].orig_name, "a.npy\0evil");
        assert_eq!(read(&z, "a.npy").unwrap(), b"x");
        assert!(kinds(&z).contains(&AnomalyKind::ZipNameTruncated));
        for bytes in [&b""[..], b"PK\x05\x06", &[0u8; 100]] {
            assert_eq!(
                open(bytes).unwrap_err().to_string(),
                "zipfile.BadZipFile: File is not a zip file"
            );
        }
    }

    #[test]
    fn utf8_errors_read_like_cpython() {
        let e = decode_utf8(b"\xff").unwrap_err();
        assert_eq!(
            e.python().unwrap().message,
            "'utf-8' codec can't decode byte 0xff in position 0: invalid start byte"
        );
        let e = decode_utf8(b"ab\xe2\x82").unwrap_err();
        assert_eq!(
            e.python().unwrap().message,
            "'utf-8' codec can't decode bytes in position 2-3: unexpected end of data"
        );
        let e = decode_utf8(b"\xe2\x28\xa1").unwrap_err();
        assert_eq!(
            e.python().unwrap().message,
            "'utf-8' codec can't decode byte 0xe2 in position 0: invalid continuation byte"
        );
        assert_eq!(decode_cp437(b"\x80\x9b\xff"), "\u{c7}\u{a2}\u{a0}");
    }

    /// `n` central entries named "a", all pointing at one local header.
    fn many_entries(n: usize) -> Vec<u8> {
        let one = write(&[Member::new("a", b"")], b"", b"");
        let cd_start = 31usize; // 30-byte local header + 1-byte name
        let entry = &one[cd_start..one.len() - 22];
        let mut z = one[..cd_start].to_vec();
        for _ in 0..n {
            z.extend_from_slice(entry);
        }
        let size = (entry.len() * n) as u32;
        z.extend_from_slice(&EOCD_SIG.to_le_bytes());
        z.extend_from_slice(&[0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]);
        z.extend_from_slice(&size.to_le_bytes());
        z.extend_from_slice(&(cd_start as u32).to_le_bytes());
        z.extend_from_slice(&[0, 0]);
        z
    }

    #[test]
    fn entry_cap_is_a_clean_error() {
        assert!(matches!(
            open(&many_entries(MAX_ENTRIES + 1)),
            Err(PyZipError::TooManyEntries { .. })
        ));
    }

    #[test]
    fn many_entries_stay_linear() {
        // 100,000 duplicates sharing one local header: listing, lookup and
        // every anomaly check in well under the time a quadratic pass takes.
        let z = many_entries(MAX_ENTRIES);
        let src = MemSource::new(&z);
        let t = std::time::Instant::now();
        let zip = PyZip::open(&src).unwrap();
        assert_eq!(zip.lookup("a"), Some(MAX_ENTRIES - 1));
        let a = zip.anomalies(&src, &DecompressLimits::default());
        assert!(
            a.iter()
                .any(|a| a.kind == AnomalyKind::ZipOverlappingEntries)
        );
        assert!(a.len() < 200, "capped per kind: {}", a.len());
        assert!(t.elapsed().as_secs() < 20, "{:?}", t.elapsed());
    }
}
