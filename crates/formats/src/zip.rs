//! A ZIP reader with PyTorch parity.
//!
//! `torch.load` reads checkpoints with `PyTorchStreamReader`, built on the
//! miniz 3.0.2 copy vendored in PyTorch (with CRC checks compiled out and a
//! patch that reads ZIP64 sizes while indexing the central directory). Every
//! general-purpose ZIP library reads differently: Python's `zipfile` compares
//! local and central names, checks CRCs, takes the last of duplicate names
//! and tolerates prepended data; miniz does none of that. A scanner that
//! reads checkpoints with such a library analyses other bytes than torch
//! loads, which is itself a published bypass class. This reader is written
//! for the project, small and documented, so that it can reproduce miniz
//! decision by decision:
//!
//! - the end-of-central-directory record is the last signature found
//!   scanning back from the end of the file, within about 64 KiB;
//! - the central directory is indexed with miniz's sanity checks (the
//!   "stored entries must have equal sizes" test reads method *and* time as
//!   one 32-bit field, as miniz does), then heap-sorted by lower-cased name;
//! - names are looked up with miniz's case-insensitive binary search, so
//!   with duplicate names the hit is the one that search lands on;
//! - extraction uses only the central header's flags, method and sizes, and
//!   the local header only for its signature and the lengths that locate the
//!   data; the local name is never compared and CRCs are never checked;
//! - entries with no data, or marked as directories, return before any of
//!   those checks.
//!
//! [`crate::zip_anomalies`] then reports everything another reader would
//! see differently.

use std::io;

use crate::source::{Source, le16, le32, le64};

pub use crate::zipconst::{
    CENTRAL_SIG, EOCD_SIG, FLAG_DATA_DESCRIPTOR, FLAG_ENCRYPTED, FLAG_MASKED_LOCAL, FLAG_PATCH,
    FLAG_STRONG_ENCRYPTION, FLAG_UTF8, LOCAL_SIG, LOCAL_SIZE, LocalHeader,
};
use crate::zipconst::{
    CENTRAL_SIZE, EOCD_SIZE, LocalFixed, ZIP64_EOCD_SIG, ZIP64_EOCD_SIZE, ZIP64_EXTRA_ID,
    ZIP64_LOCATOR_SIG, ZIP64_LOCATOR_SIZE,
};

/// Why miniz (and so `torch.load`) cannot use an archive or a record.
#[derive(Debug, thiserror::Error)]
pub enum ZipError {
    /// No end-of-central-directory record where miniz looks for one.
    #[error("no ZIP end-of-central-directory record in the last 64 KiB")]
    NoCentralDirectory,
    /// The central directory is inconsistent.
    #[error("corrupt ZIP central directory: {0}")]
    Corrupt(String),
    /// A feature miniz refuses (multi-disk, encryption, methods other than stored and deflate).
    #[error("unsupported ZIP feature: {0}")]
    Unsupported(String),
    /// The record's data could not be read or decompressed.
    #[error("cannot read {name}: {detail}")]
    Record {
        /// The record.
        name: String,
        /// What went wrong.
        detail: String,
    },
    /// A record larger than the analysis limit.
    #[error("{name} is {size} bytes, over the limit of {limit} bytes")]
    TooLarge {
        /// The record.
        name: String,
        /// Its uncompressed size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// Reading the file failed.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
}

/// One central directory entry, with the values miniz's `file_stat` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CentralEntry {
    /// Position in the central directory.
    pub index: usize,
    /// The name as stored (bytes).
    pub name: Vec<u8>,
    /// File offset of this central header.
    pub header_offset: u64,
    /// General-purpose flags.
    pub flags: u16,
    /// Compression method (0 stored, 8 deflate).
    pub method: u16,
    /// DOS modification time (part of miniz's stored-size check).
    pub time: u16,
    /// CRC-32 of the uncompressed data, as claimed.
    pub crc32: u32,
    /// Compressed size (ZIP64-resolved).
    pub comp_size: u64,
    /// Uncompressed size (ZIP64-resolved).
    pub uncomp_size: u64,
    /// Offset of the local header (ZIP64-resolved).
    pub local_header_offset: u64,
    /// External attributes.
    pub external_attr: u32,
    /// Extra field.
    pub extra: Vec<u8>,
}

impl CentralEntry {
    /// The name, lossily decoded.
    pub fn name_lossy(&self) -> String {
        String::from_utf8_lossy(&self.name).into_owned()
    }

    /// `mz_zip_reader_is_file_a_directory`: a trailing `/` or the DOS
    /// directory attribute.
    pub fn is_directory(&self) -> bool {
        self.name.last() == Some(&b'/') || self.external_attr & 0x10 != 0
    }
}

/// An archive as miniz indexes it.
#[derive(Debug, Clone)]
pub struct TorchZip {
    /// Size of the file.
    pub size: u64,
    /// Entries in central directory order.
    pub entries: Vec<CentralEntry>,
    /// Entry indices in miniz's sorted order.
    sorted: Vec<u32>,
    /// Offset of the end-of-central-directory record.
    pub eocd_offset: u64,
    /// Offset of the central directory.
    pub cdir_offset: u64,
    /// Size of the central directory.
    pub cdir_size: u64,
    /// Whether ZIP64 structures were found.
    pub zip64: bool,
    /// Length of the archive comment.
    pub comment_len: u16,
}

fn corrupt<T>(msg: impl Into<String>) -> Result<T, ZipError> {
    Err(ZipError::Corrupt(msg.into()))
}

/// `MZ_TOLOWER`: ASCII only.
fn tolower(c: u8) -> u8 {
    if c.is_ascii_uppercase() { c + 32 } else { c }
}

/// `mz_zip_reader_locate_header_sig`: the last end-of-central-directory
/// signature leaving room for the record, scanning back 4 KiB windows
/// (overlapping by 3 bytes) until about 64 KiB from the end.
fn locate_eocd(src: &dyn Source) -> Result<u64, ZipError> {
    let size = src.len();
    if size < EOCD_SIZE {
        return Err(ZipError::NoCentralDirectory);
    }
    const BUF: u64 = 4096;
    let mut cur = size.saturating_sub(BUF);
    loop {
        let n = BUF.min(size - cur) as usize;
        let buf = src.read_vec(cur, n)?;
        let mut i = n as i64 - 4;
        while i >= 0 {
            let at = i as usize;
            if le32(&buf, at) == EOCD_SIG && size - (cur + at as u64) >= EOCD_SIZE {
                return Ok(cur + at as u64);
            }
            i -= 1;
        }
        if cur == 0 || size - cur >= u16::MAX as u64 + EOCD_SIZE {
            return Err(ZipError::NoCentralDirectory);
        }
        cur = cur.saturating_sub(BUF - 3);
    }
}

/// The end-of-central-directory record as miniz reads it, with the ZIP64
/// record's values where there is one.
struct EndRecord {
    total_files: u64,
    entries_on_disk: u64,
    num_this_disk: u64,
    cdir_disk: u64,
    cdir_size: u64,
    cdir_offset: u64,
    comment_len: u16,
    zip64: bool,
}

impl EndRecord {
    /// The record at `eocd_offset`, and the ZIP64 record its locator
    /// points to.
    fn read(src: &dyn Source, eocd_offset: u64) -> Result<EndRecord, ZipError> {
        let eocd = src.read_vec(eocd_offset, EOCD_SIZE as usize)?;
        let mut end = EndRecord {
            total_files: le16(&eocd, 10) as u64,
            entries_on_disk: le16(&eocd, 8) as u64,
            num_this_disk: le16(&eocd, 4) as u64,
            cdir_disk: le16(&eocd, 6) as u64,
            cdir_size: le32(&eocd, 12) as u64,
            cdir_offset: le32(&eocd, 16) as u64,
            comment_len: le16(&eocd, 20),
            zip64: false,
        };
        if eocd_offset >= ZIP64_LOCATOR_SIZE + ZIP64_EOCD_SIZE {
            end.read_zip64(src, eocd_offset)?;
        }
        Ok(end)
    }

    /// The ZIP64 locator just before the record and the ZIP64 record it
    /// points to, when both signatures are there.
    fn read_zip64(&mut self, src: &dyn Source, eocd_offset: u64) -> Result<(), ZipError> {
        let loc = src.read_vec(
            eocd_offset - ZIP64_LOCATOR_SIZE,
            ZIP64_LOCATOR_SIZE as usize,
        )?;
        if le32(&loc, 0) != ZIP64_LOCATOR_SIG {
            return Ok(());
        }
        let z_offset = le64(&loc, 8);
        if z_offset > src.len() - ZIP64_EOCD_SIZE {
            return corrupt("the ZIP64 end-of-central-directory locator points past the end");
        }
        let z = src.read_vec(z_offset, ZIP64_EOCD_SIZE as usize)?;
        if le32(&z, 0) != ZIP64_EOCD_SIG {
            return Ok(());
        }
        self.zip64 = true;
        let disks = le32(&loc, 16);
        let record_size = le64(&z, 4);
        if record_size < ZIP64_EOCD_SIZE - 12 {
            return corrupt("ZIP64 end-of-central-directory record too small");
        }
        if disks != 1 {
            return Err(ZipError::Unsupported("multi-disk archive".into()));
        }
        self.total_files = le64(&z, 32);
        self.entries_on_disk = le64(&z, 24);
        if self.total_files > u32::MAX as u64 || self.entries_on_disk > u32::MAX as u64 {
            return Err(ZipError::Unsupported("too many entries".into()));
        }
        let z_cdir_size = le64(&z, 40);
        if z_cdir_size > u32::MAX as u64 {
            return Err(ZipError::Unsupported("central directory over 4 GiB".into()));
        }
        self.cdir_size = z_cdir_size;
        self.num_this_disk = le32(&z, 16) as u64;
        self.cdir_disk = le32(&z, 20) as u64;
        self.cdir_offset = le64(&z, 48);
        Ok(())
    }

    /// miniz's checks on the record: one disk, a central directory large
    /// enough for its entries and inside the file of `size` bytes.
    fn check(&self, size: u64) -> Result<(), ZipError> {
        if self.total_files != self.entries_on_disk {
            return Err(ZipError::Unsupported("multi-disk archive".into()));
        }
        if (self.num_this_disk | self.cdir_disk) != 0
            && (self.num_this_disk != 1 || self.cdir_disk != 1)
        {
            return Err(ZipError::Unsupported("multi-disk archive".into()));
        }
        if self.cdir_size < self.total_files.saturating_mul(CENTRAL_SIZE as u64) {
            return corrupt("central directory smaller than its entry count");
        }
        if self
            .cdir_offset
            .checked_add(self.cdir_size)
            .is_none_or(|end| end > size)
        {
            return corrupt("central directory extends past the end of the file");
        }
        Ok(())
    }
}

/// A central header's size fields as miniz checks them while indexing.
struct Sizes {
    comp: u64,
    decomp: u64,
    local: u64,
}

impl TorchZip {
    /// Index an archive the way `mz_zip_reader_init` does. An error means
    /// `torch.load` fails to open the file.
    pub fn open(src: &dyn Source) -> Result<TorchZip, ZipError> {
        let size = src.len();
        let eocd_offset = locate_eocd(src)?;
        let end = EndRecord::read(src, eocd_offset)?;
        end.check(size)?;
        let cdir = src.read_vec(end.cdir_offset, end.cdir_size as usize)?;
        let mut zip64 = end.zip64;
        let mut entries = Vec::with_capacity(end.total_files.min(1 << 20) as usize);
        let mut p = 0usize;
        let mut n = end.cdir_size as usize;
        for index in 0..end.total_files as usize {
            let (entry, total) = index_entry(src, &cdir, p, n, index, &end, &mut zip64)?;
            entries.push(entry);
            n -= total;
            p += total;
        }
        let mut zip = TorchZip {
            size,
            sorted: (0..entries.len() as u32).collect(),
            entries,
            eocd_offset,
            cdir_offset: end.cdir_offset,
            cdir_size: end.cdir_size,
            zip64,
            comment_len: end.comment_len,
        };
        zip.sort();
        Ok(zip)
    }
}

/// Central header `index` at `p` in the central directory `cdir` (`n`
/// bytes left in it), with miniz's checks: the entry and its size in the
/// directory. A ZIP64 extra field found on the way sets `zip64`.
fn index_entry(
    src: &dyn Source,
    cdir: &[u8],
    p: usize,
    n: usize,
    index: usize,
    end: &EndRecord,
    zip64: &mut bool,
) -> Result<(CentralEntry, usize), ZipError> {
    let size = src.len();
    if n < CENTRAL_SIZE || le32(cdir, p) != CENTRAL_SIG {
        return corrupt(format!("central header {index} is missing or truncated"));
    }
    let h = &cdir[p..];
    let name_len = le16(h, 28) as usize;
    let extra_len = le16(h, 30) as usize;
    let comment = le16(h, 32) as usize;
    let mut sizes = Sizes {
        comp: le32(h, 20) as u64,
        decomp: le32(h, 24) as u64,
        local: le32(h, 42) as u64,
    };
    let max32 = u32::MAX as u64;

    // PyTorch's patched miniz reads ZIP64 sizes here already.
    if index_zip64(src, h, n, end.cdir_offset, index, &mut sizes)? {
        *zip64 = true;
    }
    let Sizes {
        comp,
        decomp,
        local,
    } = sizes;
    if comp != max32 && decomp != max32 {
        // miniz reads the method with the following time field as one
        // 32-bit value here.
        let method_and_time = le32(h, 10);
        if (method_and_time == 0 && decomp != comp) || (decomp != 0 && comp == 0) {
            return corrupt(format!(
                "central header {index}: sizes inconsistent with stored data"
            ));
        }
    }
    let disk = le16(h, 34) as u64;
    if disk == u16::MAX as u64 || (disk != end.num_this_disk && disk != 1) {
        return Err(ZipError::Unsupported("multi-disk archive".into()));
    }
    if comp != max32 && local.saturating_add(LOCAL_SIZE as u64).saturating_add(comp) > size {
        return corrupt(format!(
            "central header {index}: data extends past the end of the file"
        ));
    }
    let flags = le16(h, 8);
    if flags & FLAG_MASKED_LOCAL != 0 {
        return Err(ZipError::Unsupported(
            "masked local headers (central directory encryption)".into(),
        ));
    }
    let total = CENTRAL_SIZE + name_len + extra_len + comment;
    if total > n {
        return corrupt(format!(
            "central header {index} overruns the central directory"
        ));
    }
    let name = h[CENTRAL_SIZE..CENTRAL_SIZE + name_len].to_vec();
    let extra = h[CENTRAL_SIZE + name_len..CENTRAL_SIZE + name_len + extra_len].to_vec();
    let mut entry = CentralEntry {
        index,
        name,
        header_offset: end.cdir_offset + p as u64,
        flags,
        method: le16(h, 10),
        time: le16(h, 12),
        crc32: le32(h, 16),
        comp_size: le32(h, 20) as u64,
        uncomp_size: le32(h, 24) as u64,
        local_header_offset: le32(h, 42) as u64,
        external_attr: le32(h, 38),
        extra,
    };
    stat_zip64(&mut entry)?;
    Ok((entry, total))
}

/// The extra field of the central header `h` (`n` bytes left in the
/// directory at `cdir_offset`) when a size is 0xFFFFFFFF, and its ZIP64
/// sizes taken into `sizes`: whether a ZIP64 field was found.
fn index_zip64(
    src: &dyn Source,
    h: &[u8],
    n: usize,
    cdir_offset: u64,
    index: usize,
    sizes: &mut Sizes,
) -> Result<bool, ZipError> {
    let name_len = le16(h, 28) as usize;
    let extra_len = le16(h, 30) as usize;
    if extra_len == 0 || sizes.comp.max(sizes.decomp).max(sizes.local) != u32::MAX as u64 {
        return Ok(false);
    }
    let extra: Vec<u8> = if CENTRAL_SIZE + name_len + extra_len > n {
        // miniz re-reads from `cdir_ofs + 46 + name_len` (sic:
        // the start of the directory, not of this entry).
        src.read_upto(cdir_offset + (CENTRAL_SIZE + name_len) as u64, extra_len)?
    } else {
        h[CENTRAL_SIZE + name_len..CENTRAL_SIZE + name_len + extra_len].to_vec()
    };
    index_zip64_sizes(&extra, extra_len, index, sizes)
}

/// The patched miniz's ZIP64 read while indexing: walk the extra field
/// (`extra_len` bytes claimed, `extra` as read) to the ZIP64 field, and
/// take from it the 0xFFFFFFFF sizes, in the order uncompressed,
/// compressed, local offset. Whether a ZIP64 field was found.
fn index_zip64_sizes(
    extra: &[u8],
    extra_len: usize,
    index: usize,
    sizes: &mut Sizes,
) -> Result<bool, ZipError> {
    let max32 = u32::MAX as u64;
    let mut found = false;
    let mut remaining = extra_len;
    let mut q = 0usize;
    loop {
        if remaining < 4 || q + 4 > extra.len() {
            return corrupt(format!("central header {index}: truncated extra field"));
        }
        let id = le16(extra, q);
        let size = le16(extra, q + 2) as usize;
        if size + 4 > remaining {
            return corrupt(format!("central header {index}: extra field overruns"));
        }
        if id == ZIP64_EXTRA_ID {
            found = true;
            break;
        }
        q += 4 + size;
        remaining -= 4 + size;
        if remaining == 0 {
            break;
        }
    }
    if remaining >= 4 {
        remaining -= 4;
        q += 4;
        let mut take = |v: &mut u64| {
            if *v == max32 && remaining >= 8 && q + 8 <= extra.len() {
                *v = le64(extra, q);
                remaining -= 8;
                q += 8;
            }
        };
        take(&mut sizes.decomp);
        take(&mut sizes.comp);
        take(&mut sizes.local);
    }
    Ok(found)
}

impl TorchZip {
    fn less(&self, l: u32, r: u32) -> bool {
        let a = &self.entries[l as usize].name;
        let b = &self.entries[r as usize].name;
        let n = a.len().min(b.len());
        for i in 0..n {
            let (x, y) = (tolower(a[i]), tolower(b[i]));
            if x != y {
                return x < y;
            }
        }
        a.len() < b.len()
    }

    /// `mz_zip_reader_sort_central_dir_offsets_by_filename`: the same heap
    /// sort, so duplicates end up in the same order.
    fn sort(&mut self) {
        let size = self.sorted.len();
        if size <= 1 {
            return;
        }
        let mut idx = std::mem::take(&mut self.sorted);
        let mut start = (size - 2) >> 1;
        loop {
            let mut root = start;
            loop {
                let mut child = (root << 1) + 1;
                if child >= size {
                    break;
                }
                if child + 1 < size && self.less(idx[child], idx[child + 1]) {
                    child += 1;
                }
                if !self.less(idx[root], idx[child]) {
                    break;
                }
                idx.swap(root, child);
                root = child;
            }
            if start == 0 {
                break;
            }
            start -= 1;
        }
        let mut end = size - 1;
        while end > 0 {
            idx.swap(end, 0);
            let mut root = 0;
            loop {
                let mut child = (root << 1) + 1;
                if child >= end {
                    break;
                }
                if child + 1 < end && self.less(idx[child], idx[child + 1]) {
                    child += 1;
                }
                if !self.less(idx[root], idx[child]) {
                    break;
                }
                idx.swap(root, child);
                root = child;
            }
            end -= 1;
        }
        self.sorted = idx;
    }

    /// `mz_zip_locate_file_binary_search`: case-insensitive; with duplicate
    /// names, whichever the search lands on.
    pub fn locate(&self, name: &[u8]) -> Option<usize> {
        // The name is a C string: it ends at the first NUL.
        let name = name.split(|&b| b == 0).next().unwrap_or(&[]);
        let mut l: i64 = 0;
        let mut h: i64 = self.sorted.len() as i64 - 1;
        while l <= h {
            let m = l + ((h - l) >> 1);
            let file_index = self.sorted[m as usize];
            let entry = &self.entries[file_index as usize].name;
            let n = entry.len().min(name.len());
            let mut comp: i64 = entry.len() as i64 - name.len() as i64;
            for i in 0..n {
                let (x, y) = (tolower(entry[i]), tolower(name[i]));
                if x != y {
                    comp = x as i64 - y as i64;
                    break;
                }
            }
            if comp == 0 {
                return Some(file_index as usize);
            } else if comp < 0 {
                l = m + 1;
            } else {
                h = m - 1;
            }
        }
        None
    }

    /// Indices of every entry whose name equals `name` ignoring ASCII case.
    pub fn all_matching(&self, name: &[u8]) -> Vec<usize> {
        self.entries
            .iter()
            .filter(|e| {
                e.name.len() == name.len()
                    && e.name
                        .iter()
                        .zip(name)
                        .all(|(a, b)| tolower(*a) == tolower(*b))
            })
            .map(|e| e.index)
            .collect()
    }

    /// The archive name: central entry 0's name up to its first `/`
    /// (`PyTorchStreamReader::init`). `None` when it has no `/`, which torch
    /// refuses.
    pub fn archive_name(&self) -> Option<Vec<u8>> {
        let first = self.entries.first()?;
        let pos = first.name.iter().position(|&b| b == b'/')?;
        Some(first.name[..pos].to_vec())
    }

    /// `PyTorchStreamReader::getRecordID`: locate `archive_name/record`.
    pub fn locate_record(&self, record: &str) -> Option<usize> {
        let mut full = self.archive_name()?;
        full.push(b'/');
        full.extend_from_slice(record.as_bytes());
        self.locate(&full)
    }

    /// `PyTorchStreamReader::getAllRecords`: every name without the prefix,
    /// `.debug_pkl` records left out; an error (as torch raises) when a name
    /// lacks the prefix. Names are C strings of at most 511 bytes there.
    pub fn all_records(&self) -> Result<Vec<Vec<u8>>, Vec<u8>> {
        let Some(mut prefix) = self.archive_name() else {
            return Err(self
                .entries
                .first()
                .map(|e| e.name.clone())
                .unwrap_or_default());
        };
        prefix.push(b'/');
        let prefix = c_str(&prefix).to_vec();
        let mut out = Vec::new();
        for e in &self.entries {
            let name = c_str(&e.name[..e.name.len().min(511)]);
            if name.len() < prefix.len() || name[..prefix.len()] != prefix[..] {
                return Err(e.name.clone());
            }
            let rest = &name[prefix.len()..];
            if !rest.ends_with(b".debug_pkl") {
                out.push(rest.to_vec());
            }
        }
        Ok(out)
    }

    /// The local header of an entry.
    pub fn local_header(&self, src: &dyn Source, index: usize) -> Result<LocalHeader, ZipError> {
        let e = &self.entries[index];
        let h = src
            .read_vec(e.local_header_offset, LOCAL_SIZE)
            .map_err(|err| ZipError::Record {
                name: e.name_lossy(),
                detail: format!("local header unreadable: {err}"),
            })?;
        let fixed = LocalFixed::parse(&h).ok_or_else(|| ZipError::Record {
            name: e.name_lossy(),
            detail: format!(
                "no local header signature at offset {}",
                e.local_header_offset
            ),
        })?;
        let (name_len, extra_len) = (fixed.name_len as usize, fixed.extra_len as usize);
        let rest = src.read_upto(
            e.local_header_offset + LOCAL_SIZE as u64,
            name_len + extra_len,
        )?;
        let name = rest[..name_len.min(rest.len())].to_vec();
        let extra = rest.get(name_len..).unwrap_or(&[]).to_vec();
        let data = e.local_header_offset + (LOCAL_SIZE + name_len + extra_len) as u64;
        Ok(fixed.header(e.local_header_offset, name, extra, data))
    }

    /// `PyTorchStreamReader::getRecordOffset`: where torch (with
    /// `mmap=True`) takes a record's bytes from, with no checks at all.
    pub fn data_offset(&self, src: &dyn Source, index: usize) -> Result<u64, ZipError> {
        let e = &self.entries[index];
        let h = src.read_vec(e.local_header_offset, LOCAL_SIZE)?;
        Ok(e.local_header_offset + LOCAL_SIZE as u64 + le16(&h, 26) as u64 + le16(&h, 28) as u64)
    }

    /// `PyTorchStreamReader::getRecord` → `mz_zip_reader_extract_to_mem`:
    /// the bytes torch loads for an entry. `limit` bounds the size read.
    pub fn extract(
        &self,
        src: &dyn Source,
        index: usize,
        limit: u64,
    ) -> Result<Extracted, ZipError> {
        let e = &self.entries[index];
        let record_err = |detail: String| ZipError::Record {
            name: e.name_lossy(),
            detail,
        };
        if e.is_directory() || e.comp_size == 0 {
            // miniz returns before reading anything: torch gets a buffer of
            // `uncomp_size` bytes it never initialised.
            return Ok(if e.uncomp_size == 0 {
                Extracted::Data(Vec::new())
            } else {
                Extracted::Uninitialized(e.uncomp_size)
            });
        }
        if e.flags & (FLAG_ENCRYPTED | FLAG_STRONG_ENCRYPTION | FLAG_PATCH) != 0 {
            return Err(ZipError::Unsupported(format!(
                "{} is flagged encrypted or patched in the central directory",
                e.name_lossy()
            )));
        }
        if e.method != 0 && e.method != 8 {
            return Err(ZipError::Unsupported(format!(
                "{} uses compression method {}; only stored and deflate are read",
                e.name_lossy(),
                e.method
            )));
        }
        if e.uncomp_size > limit {
            return Err(ZipError::TooLarge {
                name: e.name_lossy(),
                size: e.uncomp_size,
                limit,
            });
        }
        let local = self.local_header(src, index)?;
        let start = local.data_offset;
        if start.saturating_add(e.comp_size) > self.size {
            return Err(record_err(
                "compressed data extends past the end of the file".into(),
            ));
        }
        if e.method == 0 {
            let data = src
                .read_vec(start, e.uncomp_size as usize)
                .map_err(|err| record_err(format!("stored data unreadable: {err}")))?;
            return Ok(Extracted::Data(data));
        }
        inflate_record(e, src, start)
    }
}

impl TorchZip {
    /// The first `n` bytes of a record, at most (fewer when the record is
    /// shorter or its compressed stream ends early): for a look at the start
    /// of a record that may be large, without reading or inflating all of
    /// it. Stored and deflated records only; `None` for the others.
    pub fn prefix(&self, src: &dyn Source, index: usize, n: usize) -> Option<Vec<u8>> {
        let e = &self.entries[index];
        let want = usize::try_from(e.uncomp_size).map_or(n, |u| u.min(n));
        if e.is_directory() || e.comp_size == 0 || want == 0 {
            return None;
        }
        if e.flags & (FLAG_ENCRYPTED | FLAG_STRONG_ENCRYPTION | FLAG_PATCH) != 0 {
            return None;
        }
        let start = self.local_header(src, index).ok()?.data_offset;
        match e.method {
            0 => src.read_vec(start, want.min(e.comp_size as usize)).ok(),
            8 => {
                // Deflate seldom expands data by more than a few percent; a
                // stream that needs more input for `want` bytes gives fewer.
                let input = (e.comp_size as usize).min(want.saturating_mul(2) + 4096);
                let comp = src.read_vec(start, input).ok()?;
                let mut out = vec![0u8; want];
                let (_, written) = inflate_into(&comp, &mut out);
                out.truncate(written);
                Some(out)
            }
            _ => None,
        }
    }
}

/// Raw deflate `comp` inflated into `out` as miniz does (stopping when
/// `out` is full): the status and the bytes written.
fn inflate_into(comp: &[u8], out: &mut [u8]) -> (miniz_oxide::inflate::TINFLStatus, usize) {
    let mut inflator = miniz_oxide::inflate::core::DecompressorOxide::new();
    let (status, _, written) = miniz_oxide::inflate::core::decompress(
        &mut inflator,
        comp,
        out,
        0,
        miniz_oxide::inflate::core::inflate_flags::TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF,
    );
    (status, written)
}

/// miniz's deflate path of `mz_zip_reader_extract_to_mem`: `e`'s
/// compressed bytes at `start` inflated into a buffer of the declared size.
fn inflate_record(e: &CentralEntry, src: &dyn Source, start: u64) -> Result<Extracted, ZipError> {
    let record_err = |detail: String| ZipError::Record {
        name: e.name_lossy(),
        detail,
    };
    // Deflate can expand at most about 1032:1: a size claim beyond that
    // cannot be met, and is refused before allocating for it.
    if e.uncomp_size > e.comp_size.saturating_mul(1032).saturating_add(64) {
        return Err(record_err(format!(
            "claims {} bytes from {} compressed bytes, more than deflate can produce",
            e.uncomp_size, e.comp_size
        )));
    }
    let comp = src.read_vec(start, e.comp_size as usize)?;
    let mut out = vec![0u8; e.uncomp_size as usize];
    let (status, written) = inflate_into(&comp, &mut out);
    // A stream that inflates to more than the directory declares fills
    // the buffer and stops: torch reads the declared bytes and never
    // the rest (checked with torch 2.x on such records, for `data.pkl`
    // and for storages alike), so they are the record. The rest is
    // never inflated: memory stays the declared size.
    if status == miniz_oxide::inflate::TINFLStatus::HasMoreOutput {
        return Ok(Extracted::Data(out));
    }
    if status != miniz_oxide::inflate::TINFLStatus::Done {
        return Err(record_err(format!("deflate stream invalid ({status:?})")));
    }
    if written as u64 != e.uncomp_size {
        return Err(record_err(format!(
            "decompressed to {written} bytes, the directory says {}",
            e.uncomp_size
        )));
    }
    Ok(Extracted::Data(out))
}

/// What torch gets for a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Extracted {
    /// The record's bytes.
    Data(Vec<u8>),
    /// miniz skipped the read (directory flag or no compressed data) and
    /// torch uses this many bytes of uninitialised memory.
    Uninitialized(u64),
}

/// `mz_zip_file_stat_internal`: resolve 0xFFFFFFFF fields from the ZIP64
/// extra field, in the order uncompressed, compressed, local offset.
fn stat_zip64(e: &mut CentralEntry) -> Result<(), ZipError> {
    let max32 = u32::MAX as u64;
    if e.comp_size.max(e.uncomp_size).max(e.local_header_offset) != max32 {
        return Ok(());
    }
    let extra = &e.extra;
    let mut q = 0usize;
    while q < extra.len() {
        if extra.len() - q < 4 {
            return corrupt(format!("{}: truncated extra field", e.name_lossy()));
        }
        let id = le16(extra, q);
        let size = le16(extra, q + 2) as usize;
        if q + 4 + size > extra.len() {
            return corrupt(format!("{}: extra field overruns", e.name_lossy()));
        }
        if id == ZIP64_EXTRA_ID {
            let mut f = q + 4;
            let end = q + 4 + size;
            let mut values = [e.uncomp_size, e.comp_size, e.local_header_offset];
            for v in values.iter_mut() {
                if *v == max32 {
                    if end - f < 8 {
                        return corrupt(format!("{}: ZIP64 field too short", e.name_lossy()));
                    }
                    *v = le64(extra, f);
                    f += 8;
                }
            }
            [e.uncomp_size, e.comp_size, e.local_header_offset] = values;
            break;
        }
        q += 4 + size;
    }
    Ok(())
}

fn c_str(b: &[u8]) -> &[u8] {
    b.split(|&c| c == 0).next().unwrap_or(&[])
}

#[cfg(test)]
pub(crate) mod testzip {
    //! A minimal ZIP writer for tests, with knobs for the malformations the
    //! reader must handle.

    /// One member to write.
    #[derive(Clone)]
    pub struct Member {
        pub name: Vec<u8>,
        pub local_name: Option<Vec<u8>>,
        pub data: Vec<u8>,
        pub flags: u16,
        pub local_flags: Option<u16>,
        pub crc: Option<u32>,
        pub deflate: bool,
        pub external_attr: u32,
    }

    impl Member {
        pub fn new(name: &str, data: &[u8]) -> Member {
            Member {
                name: name.as_bytes().to_vec(),
                local_name: None,
                data: data.to_vec(),
                flags: 0,
                local_flags: None,
                crc: None,
                deflate: false,
                external_attr: 0,
            }
        }
    }

    pub fn write(members: &[Member], prefix: &[u8], suffix: &[u8]) -> Vec<u8> {
        let mut out = prefix.to_vec();
        let mut central = Vec::new();
        for m in members {
            let offset = out.len() as u32;
            let payload = if m.deflate {
                miniz_oxide::deflate::compress_to_vec(&m.data, 6)
            } else {
                m.data.clone()
            };
            let crc = m.crc.unwrap_or_else(|| crc32fast::hash(&m.data));
            let method: u16 = if m.deflate { 8 } else { 0 };
            let local_name = m.local_name.clone().unwrap_or_else(|| m.name.clone());
            out.extend_from_slice(&super::LOCAL_SIG.to_le_bytes());
            out.extend_from_slice(&20u16.to_le_bytes());
            out.extend_from_slice(&m.local_flags.unwrap_or(m.flags).to_le_bytes());
            out.extend_from_slice(&method.to_le_bytes());
            out.extend_from_slice(&0u32.to_le_bytes()); // time, date
            out.extend_from_slice(&crc.to_le_bytes());
            out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
            out.extend_from_slice(&(m.data.len() as u32).to_le_bytes());
            out.extend_from_slice(&(local_name.len() as u16).to_le_bytes());
            out.extend_from_slice(&0u16.to_le_bytes());
            out.extend_from_slice(&local_name);
            out.extend_from_slice(&payload);

            central.extend_from_slice(&super::CENTRAL_SIG.to_le_bytes());
            central.extend_from_slice(&20u16.to_le_bytes());
            central.extend_from_slice(&20u16.to_le_bytes());
            central.extend_from_slice(&m.flags.to_le_bytes());
            central.extend_from_slice(&method.to_le_bytes());
            central.extend_from_slice(&0u32.to_le_bytes());
            central.extend_from_slice(&crc.to_le_bytes());
            central.extend_from_slice(&(payload.len() as u32).to_le_bytes());
            central.extend_from_slice(&(m.data.len() as u32).to_le_bytes());
            central.extend_from_slice(&(m.name.len() as u16).to_le_bytes());
            central.extend_from_slice(&[0; 8]); // extra, comment, disk, internal attr
            central.extend_from_slice(&m.external_attr.to_le_bytes());
            central.extend_from_slice(&offset.to_le_bytes());
            central.extend_from_slice(&m.name);
        }
        let cdir_offset = out.len() as u32;
        out.extend_from_slice(&central);
        out.extend_from_slice(&super::EOCD_SIG.to_le_bytes());
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&(members.len() as u16).to_le_bytes());
        out.extend_from_slice(&(members.len() as u16).to_le_bytes());
        out.extend_from_slice(&(central.len() as u32).to_le_bytes());
        out.extend_from_slice(&cdir_offset.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(suffix);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::testzip::{Member, write};
    use super::*;
    use crate::source::MemSource;

    fn open(bytes: &[u8]) -> TorchZip {
        TorchZip::open(&MemSource::new(bytes)).unwrap()
    }

    #[test]
    fn reads_stored_and_deflated_records_case_insensitively() {
        let mut d = Member::new("archive/DATA.PKL", b"payload bytes payload bytes");
        d.deflate = true;
        let z = write(&[Member::new("archive/version", b"3\n"), d], b"", b"");
        let src = MemSource::new(&z);
        let zip = TorchZip::open(&src).unwrap();
        assert_eq!(zip.archive_name().unwrap(), b"archive");
        let i = zip.locate_record("data.pkl").unwrap();
        assert_eq!(
            zip.extract(&src, i, 1 << 20).unwrap(),
            Extracted::Data(b"payload bytes payload bytes".to_vec())
        );
        assert!(zip.locate_record("missing").is_none());
    }

    #[test]
    fn crc_and_local_names_are_ignored() {
        let mut d = Member::new("archive/data.pkl", b"abc");
        d.crc = Some(0xdead_beef);
        d.local_name = Some(b"archive/other.pk".to_vec());
        let z = write(&[d], b"", b"");
        let src = MemSource::new(&z);
        let zip = TorchZip::open(&src).unwrap();
        let i = zip.locate_record("data.pkl").unwrap();
        assert_eq!(
            zip.extract(&src, i, 100).unwrap(),
            Extracted::Data(b"abc".to_vec())
        );
    }

    #[test]
    fn central_encryption_flag_is_refused_local_one_ignored() {
        let mut d = Member::new("archive/data.pkl", b"abc");
        d.local_flags = Some(FLAG_ENCRYPTED | FLAG_PATCH);
        let z = write(&[d.clone()], b"", b"");
        let src = MemSource::new(&z);
        let zip = open(&z);
        assert!(zip.extract(&src, 0, 100).is_ok());
        d.flags = FLAG_ENCRYPTED;
        d.local_flags = None;
        let z = write(&[d], b"", b"");
        let src = MemSource::new(&z);
        let zip = open(&z);
        assert!(matches!(
            zip.extract(&src, 0, 100),
            Err(ZipError::Unsupported(_))
        ));
    }

    #[test]
    fn masked_local_headers_refuse_the_archive() {
        let mut d = Member::new("archive/data.pkl", b"abc");
        d.flags = FLAG_MASKED_LOCAL;
        let z = write(&[d], b"", b"");
        assert!(matches!(
            TorchZip::open(&MemSource::new(&z)),
            Err(ZipError::Unsupported(_))
        ));
    }

    /// Which of several same-named records torch reads, as observed with
    /// torch 2.15's `PyTorchFileReader` on these exact layouts.
    #[test]
    fn duplicate_lookup_follows_the_heap_sort() {
        let v = || Member::new("archive/version", b"3\n");
        let d = |name: &str, data: &[u8]| Member::new(name, data);
        let cases: Vec<(Vec<Member>, &[u8])> = vec![
            (
                vec![
                    d("archive/data.pkl", b"first"),
                    d("archive/data.pkl", b"second"),
                    v(),
                ],
                b"first",
            ),
            (
                vec![
                    v(),
                    d("archive/data.pkl", b"first"),
                    d("archive/data.pkl", b"second"),
                ],
                b"second",
            ),
            (
                vec![
                    d("archive/data.pkl", b"first"),
                    d("archive/data.pkl", b"second"),
                    d("archive/data.pkl", b"third"),
                    v(),
                ],
                b"third",
            ),
            (
                vec![
                    v(),
                    d("archive/DATA.PKL", b"first"),
                    d("archive/data.pkl", b"second"),
                ],
                b"second",
            ),
        ];
        for (members, want) in cases {
            let z = write(&members, b"", b"");
            let src = MemSource::new(&z);
            let zip = open(&z);
            let i = zip.locate_record("data.pkl").unwrap();
            assert_eq!(
                zip.extract(&src, i, 100).unwrap(),
                Extracted::Data(want.to_vec())
            );
        }
    }

    #[test]
    fn trailing_bytes_after_eocd_are_fine_prefix_shifts_offsets() {
        let z = write(&[Member::new("a/data.pkl", b"x")], b"", b"trailing garbage");
        assert!(TorchZip::open(&MemSource::new(&z)).is_ok());
        // Prepended bytes: miniz does not adjust offsets, so the central
        // directory is not where the end record says.
        let z = write(&[Member::new("a/data.pkl", b"x")], b"", b"");
        let mut shifted = b"JUNK".to_vec();
        shifted.extend_from_slice(&z);
        assert!(TorchZip::open(&MemSource::new(&shifted)).is_err());
    }

    #[test]
    fn all_records_requires_the_prefix() {
        let z = write(
            &[Member::new("a/data.pkl", b"x"), Member::new("b/x", b"y")],
            b"",
            b"",
        );
        assert_eq!(open(&z).all_records(), Err(b"b/x".to_vec()));
        let z = write(
            &[
                Member::new("a/data.pkl", b"x"),
                Member::new("a/y.debug_pkl", b"y"),
            ],
            b"",
            b"",
        );
        assert_eq!(open(&z).all_records(), Ok(vec![b"data.pkl".to_vec()]));
    }

    #[test]
    fn directory_records_are_not_read() {
        let mut d = Member::new("a/data.pkl", b"abc");
        d.external_attr = 0x10;
        let z = write(&[d], b"", b"");
        let src = MemSource::new(&z);
        assert_eq!(
            open(&z).extract(&src, 0, 100).unwrap(),
            Extracted::Uninitialized(3)
        );
    }

    #[test]
    fn no_eocd_or_garbage_is_an_error_not_a_panic() {
        for bytes in [&b""[..], b"PK\x03\x04", &[0u8; 100], b"PK\x05\x06"] {
            assert!(TorchZip::open(&MemSource::new(bytes)).is_err());
        }
        // A huge entry count with a tiny directory.
        let mut z = write(&[Member::new("a/b", b"x")], b"", b"");
        let n = z.len();
        z[n - 12] = 0xff;
        z[n - 14] = 0xff;
        assert!(TorchZip::open(&MemSource::new(&z)).is_err());
    }
}
