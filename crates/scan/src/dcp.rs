//! Distributed checkpoints (`torch.distributed.checkpoint`), scanned as
//! torch's `FileSystemReader` reads them, through
//! [`airlock_formats::dcp`]:
//!
//! - `.metadata` is read by `pickle.load`: it is scanned as the pickle it
//!   is (never `safe`: `pickle.load` is not `weights_only`, and the schema's
//!   classes are outside the data allowlist), then read as torch's schema,
//!   with its storage paths, stream transforms and the reads a load makes
//!   checked, and in its folder, the shard files it names.
//! - A `.distcp` shard in a folder whose metadata names it is scanned item
//!   by item, at the offsets and lengths the metadata gives: each item is
//!   what `torch.load` reads from that byte range (with
//!   `weights_only=True` for tensors, `False` for other values), scanned as
//!   a file of its own; its findings, pickles and storage records are named
//!   `<fqn>@<offset>/<member>`. Bytes no item covers are never read.
//! - A `.distcp` shard alone is split into the `torch.save` archives it
//!   concatenates ([`dcp::split_shard`]), each scanned the same way.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use airlock_formats::checkpoint::RecordBytes;
use airlock_formats::dcp::{self, DcpError, Metadata, ShardItem};
use airlock_formats::{FileSource, Format, MemSource, Source, SubSource};
use airlock_policy::review::Loader;
use airlock_policy::{Finding, Rule};

use crate::outcome::Outcome;
use crate::{FileReport, Options, PickleRead, StorageRead};

/// Read `data` (a `.metadata` file) as `pickle.load` does, then as torch's
/// schema; `None` when its pickle does not make a `Metadata` object (it is
/// not a distributed checkpoint's metadata).
pub(crate) fn read_metadata(data: &[u8], opts: &Options) -> Option<Result<Metadata, DcpError>> {
    let analysis = Loader::Plain
        .engine_config(&opts.limits, Some(1))
        .analyze(data);
    Metadata::is_metadata(&analysis).then(|| Metadata::read(&analysis))
}

/// A `.metadata` file: the pickle `pickle.load` runs, then the schema.
pub(crate) fn scan_metadata(src: &dyn Source, opts: &Options, out: &mut Outcome) -> io::Result<()> {
    crate::container::scan_pickle_file(src, opts, out)?;
    out.format = Some(Format::DcpMetadata);
    if src.len() > opts.max_pickle_bytes {
        // Reported as over the limit by the pickle's scan.
        return Ok(());
    }
    let data = src.read_upto(0, src.len() as usize)?;
    match read_metadata(&data, opts) {
        Some(Ok(m)) => metadata_findings(&m, out),
        Some(Err(e)) => out.findings.push(Finding::new(
            Rule::DcpLayout,
            format!("torch cannot use this as a checkpoint's metadata: {e}"),
        )),
        None => out.findings.push(Finding::new(
            Rule::DcpLayout,
            "the pickle does not make a torch.distributed.checkpoint Metadata object",
        )),
    }
    Ok(())
}

/// What is wrong with a checkpoint's metadata, on its own.
fn metadata_findings(m: &Metadata, out: &mut Outcome) {
    for path in m.files() {
        if let Err(e) = dcp::check_relative_path(path) {
            out.findings.push(
                Finding::new(
                    Rule::DcpExternalPath,
                    format!("{e}: torch's FileSystemReader loads whatever file it names"),
                )
                .subject(path),
            );
        }
    }
    for (key, item) in &m.storage {
        if !item.transforms.is_empty() {
            out.findings.push(Finding::new(
                Rule::DcpLayout,
                format!(
                    "{}: written through stream transforms ({}), which torch decodes before loading the item; Airlock does not, so the item is not analysed",
                    key.fqn,
                    item.transforms.join(", ")
                ),
            ));
        }
    }
    if let Err(e) = m.reads() {
        out.findings.push(Finding::new(
            Rule::DcpLayout,
            format!("torch's load of the checkpoint fails: {e}"),
        ));
    }
}

/// The shard files the metadata names, checked in its folder: each there,
/// each item inside its file.
fn folder_findings(m: &Metadata, folder: &Path, out: &mut Outcome) {
    for file in m.files() {
        if dcp::check_relative_path(file).is_err() {
            continue;
        }
        let len = match std::fs::metadata(folder.join(file)) {
            Ok(meta) if meta.is_file() => meta.len(),
            Ok(_) => {
                out.findings.push(Finding::new(
                    Rule::DcpLayout,
                    format!("{file}, which holds items of the checkpoint, is not a file: torch's load fails"),
                ));
                continue;
            }
            Err(e) => {
                out.findings.push(Finding::new(
                    Rule::DcpLayout,
                    format!("{file}, which holds items of the checkpoint, cannot be read ({e}): torch's load fails"),
                ));
                continue;
            }
        };
        for item in m.shard_items(file) {
            if item.offset.checked_add(item.length).is_none_or(|e| e > len) {
                out.findings.push(past_the_end(&item, file, len));
            }
        }
    }
}

fn past_the_end(item: &ShardItem, file: &str, len: u64) -> Finding {
    Finding::new(
        Rule::DcpLayout,
        format!(
            "{}: {} bytes at byte {} of {file}, which has {len}: torch's load of it fails",
            item.label, item.length, item.offset
        ),
    )
}

/// A `.distcp` shard whose items the metadata locates: each scanned as
/// what torch loads from its byte range.
pub(crate) fn scan_shard(src: &dyn Source, items: &[ShardItem], opts: &Options, out: &mut Outcome) {
    out.format = Some(Format::DcpShard);
    let len = src.len();
    let mut spans = Vec::with_capacity(items.len());
    for item in items {
        if !item.transforms.is_empty() {
            out.findings.push(Finding::new(
                Rule::DcpLayout,
                format!(
                    "{}: written through stream transforms ({}): not analysed",
                    item.label,
                    item.transforms.join(", ")
                ),
            ));
            continue;
        }
        if item.offset.checked_add(item.length).is_none_or(|e| e > len) {
            out.findings.push(past_the_end(item, "the file", len));
        }
        // A value item is loaded with weights_only=False: what
        // weights_only would refuse there is no refusal.
        let wo = item.as_tensor || !item.as_value;
        let sub = SubSource::new(src, item.offset, item.length);
        scan_item(&sub, item.offset, &item.label, wo, opts, out);
        spans.push((
            sub_start(item.offset, len),
            sub_start(item.offset, len) + sub.len(),
        ));
    }
    unread_bytes(spans, len, out);
}

fn sub_start(offset: u64, len: u64) -> u64 {
    offset.min(len)
}

/// A `.distcp` shard found without its metadata: split into its archives.
pub(crate) fn scan_shard_alone(
    src: &dyn Source,
    opts: &Options,
    out: &mut Outcome,
) -> io::Result<()> {
    out.format = Some(Format::DcpShard);
    let Some(items) = dcp::split_shard(src) else {
        out.findings.push(Finding::new(
            Rule::DcpLayout,
            "the file does not split into torch.save archives",
        ));
        return Ok(());
    };
    for (offset, length) in items {
        let sub = SubSource::new(src, offset, length);
        scan_item(
            &sub,
            offset,
            &dcp::item_label(None, offset),
            true,
            opts,
            out,
        );
    }
    Ok(())
}

/// Scan one item as a file of its own, and take its findings, pickles and
/// storage records under the item's name.
fn scan_item(
    sub: &dyn Source,
    base: u64,
    label: &str,
    weights_only: bool,
    opts: &Options,
    out: &mut Outcome,
) {
    let r = crate::scan_source(sub, label, opts);
    for mut f in r.findings {
        if !weights_only && f.rule == Rule::WeightsOnlyRefusal {
            continue;
        }
        f.location.member = Some(dcp::item_member(label, f.location.member.as_deref()));
        out.findings.push(f);
    }
    out.pickles
        .extend(r.pickles.into_iter().map(|p| PickleRead {
            member: Some(dcp::item_member(label, p.member.as_deref())),
            ..p
        }));
    out.storages
        .extend(r.storages.into_iter().map(|s| StorageRead {
            member: dcp::item_member(label, Some(&s.member)),
            bytes: match s.bytes {
                RecordBytes::Stored { offset, len } => RecordBytes::Stored {
                    offset: base + offset,
                    len,
                },
                other => other,
            },
        }));
}

/// A note for the bytes of a shard no item covers: the loader never reads
/// them.
fn unread_bytes(mut spans: Vec<(u64, u64)>, len: u64, out: &mut Outcome) {
    spans.sort_unstable();
    let mut at = 0u64;
    let mut gaps = Vec::new();
    for (start, end) in spans {
        if start > at {
            gaps.push((at, start));
        }
        at = at.max(end);
    }
    if at < len {
        gaps.push((at, len));
    }
    if let Some(&(first, _)) = gaps.first() {
        let total: u64 = gaps.iter().map(|(a, b)| b - a).sum();
        out.findings.push(
            Finding::new(
                Rule::TrailingData,
                format!(
                    "{total} bytes in {} range(s) that no item of the metadata covers (the first at byte {first}): the loader never reads them",
                    gaps.len()
                ),
            )
            .offset(Some(first)),
        );
    }
}

/// A checkpoint folder's metadata, as read once for all its files.
struct FolderMetadata {
    /// The metadata file.
    path: PathBuf,
    /// Its schema, or why it could not be read; `None` when the file is no
    /// distributed checkpoint's metadata.
    read: Option<Result<Metadata, String>>,
}

/// Identifies a metadata file's content for the cache: path, size, time.
type CacheKey = (PathBuf, u64, Option<std::time::SystemTime>, u64);

/// The last folders' metadata, so that the shards of one checkpoint, scanned
/// one after another or in parallel, read it once.
static CACHE: Mutex<Vec<(CacheKey, Arc<FolderMetadata>)>> = Mutex::new(Vec::new());
const CACHE_SIZE: usize = 8;

/// The metadata file torch reads in `folder`: `.metadata`, or the rank-0
/// file when there is none.
fn metadata_path(folder: &Path) -> Option<PathBuf> {
    [dcp::METADATA_FILE, dcp::RANK0_METADATA_FILE]
        .iter()
        .map(|n| folder.join(n))
        .find(|p| p.is_file())
}

/// The distributed checkpoint metadata in `folder`, if there is one.
fn folder_metadata(folder: &Path, opts: &Options) -> Option<Arc<FolderMetadata>> {
    let path = metadata_path(folder)?;
    let meta = std::fs::metadata(&path).ok()?;
    let key = (
        path.clone(),
        meta.len(),
        meta.modified().ok(),
        opts.max_pickle_bytes,
    );
    let cached = CACHE
        .lock()
        .ok()?
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, hit)| hit.clone());
    let found = match cached {
        Some(hit) => hit,
        None => {
            let found = Arc::new(FolderMetadata {
                read: read_folder_metadata(&path, opts)?,
                path,
            });
            if let Ok(mut cache) = CACHE.lock() {
                if cache.len() >= CACHE_SIZE {
                    cache.remove(0);
                }
                cache.push((key, found.clone()));
            }
            found
        }
    };
    found.read.is_some().then_some(found)
}

/// The metadata file at `path` read as torch's schema (`Some(None)`: it is
/// no distributed checkpoint's metadata; `None`: it cannot be read).
fn read_folder_metadata(path: &Path, opts: &Options) -> Option<Option<Result<Metadata, String>>> {
    let src = FileSource::open(path).ok()?;
    if src.len() <= opts.max_pickle_bytes {
        let data = src.read_upto(0, src.len() as usize).ok()?;
        return Some(read_metadata(&data, opts).map(|r| r.map_err(|e| e.to_string())));
    }
    // Too large to analyse: a checkpoint's metadata (then an error for its
    // shards) only if its start is one.
    let head = src
        .read_upto(0, airlock_formats::sniff::PICKLE_SNIFF_BYTES as usize)
        .ok()?;
    let sniffed = airlock_formats::sniff(&MemSource::new(&head)).ok()?;
    Some((sniffed == Format::DcpMetadata).then(|| {
        Err(format!(
            "{} bytes, over the {}-byte limit for analysed pickles",
            src.len(),
            opts.max_pickle_bytes
        ))
    }))
}

/// The scan of a file of a distributed checkpoint's folder as the
/// checkpoint's loader reads it; `None` for any other file.
pub(crate) fn scan_in_folder(path: &Path, display: &str, opts: &Options) -> Option<FileReport> {
    let name = path.file_name()?.to_str()?;
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let fm = folder_metadata(folder, opts)?;
    if fm.path.file_name() == path.file_name() {
        return Some(with_source(path, display, |src| {
            let mut out = Outcome::default();
            if let Err(e) = scan_metadata(src, opts, &mut out) {
                out.findings.push(Finding::new(
                    Rule::ReadError,
                    format!("reading failed: {e}"),
                ));
            }
            if let Some(Ok(m)) = &fm.read {
                folder_findings(m, folder, &mut out);
            }
            crate::finish(src, display, Format::DcpMetadata, out)
        }));
    }
    let m = fm.read.as_ref()?.as_ref().ok()?;
    let items = m.shard_items(name);
    if items.is_empty() {
        return None;
    }
    Some(with_source(path, display, |src| {
        let mut out = Outcome::default();
        scan_shard(src, &items, opts, &mut out);
        crate::finish(src, display, Format::DcpShard, out)
    }))
}

/// Open `path` (into memory when small, as [`crate::scan_path`] does) and
/// scan it with `scan`; a report of the error when it cannot be read.
fn with_source(
    path: &Path,
    display: &str,
    scan: impl FnOnce(&dyn Source) -> FileReport,
) -> FileReport {
    let src = match FileSource::open(path) {
        Ok(s) => s,
        Err(e) => return FileReport::unreadable(display, e),
    };
    if src.len() > crate::READ_WHOLE {
        return scan(&src);
    }
    match src.read_upto(0, src.len() as usize) {
        Ok(bytes) => {
            let mut r = scan(&MemSource::new(&bytes));
            r.bytes_read = bytes.len() as u64;
            r
        }
        Err(e) => FileReport::unreadable(display, e),
    }
}
