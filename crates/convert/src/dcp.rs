//! Distributed checkpoints (`torch.distributed.checkpoint` folders)
//! rebuilt as data: what `dcp_to_torch_save` writes and `torch.load` then
//! returns, without running either.
//!
//! As torch 2.15 does it (`format_utils.dcp_to_torch_save`,
//! `default_planner._EmptyStateDictLoadPlanner`, `_traverse.set_element`,
//! `filesystem.FileSystemReader.read_data`): the state dict is built from
//! the metadata, every entry at its `planner_data` path in nested dicts and
//! lists; each tensor is a new contiguous `torch.empty(size, dtype)` into
//! which every saved chunk is copied (the item `torch.load`ed with
//! `weights_only=True`, narrowed to the part inside the tensor); every
//! other value is its item `torch.load`ed (here: rebuilt as data, exactly
//! as `convert` rebuilds any checkpoint). Every file is scanned first
//! (dangerous or unanalysable files refuse the whole checkpoint), every
//! pickle rebuilt is one the scan analysed, and every class outside the
//! data allowlist must be proven to be data, as for any checkpoint
//! ([`crate::proof`]): the metadata's schema classes are read as data by
//! [`airlock_formats::dcp`].
//!
//! Refused where torch would do something this does not reproduce, or what
//! it does is not data: chunks that overlap (the last read wins) or leave
//! elements unwritten (uninitialised memory), an item whose dtype differs
//! from the metadata's (torch casts), items written through stream
//! transforms, items that are not `torch.save` archives, a `planner_data`
//! nesting that does not flatten back to the checkpoint's keys (torch
//! would fail, or take its 2.3 compatibility path).

mod assemble;
mod tree;

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use airlock_formats::dcp::{self, EntryKind, Metadata, Read, ReadKind};
use airlock_formats::{FileSource, Format, Source, SubSource};
use airlock_policy::Verdict;
use airlock_policy::review::Loader;
use airlock_scan::{FileReport, Options, PickleRead, StorageRead, scan_path};
use airlock_tensors::{Dtype, Node, Rebuilt, StorageInfo, TensorInfo, Transformation};

pub use assemble::DcpStorages;
use assemble::{Piece, Src, Storage};

use crate::convert::{ConvertOptions, Converted, recording, refuse_unsafe, write_rebuilt};
use crate::input::{Bytes, ReadLimits, load_zip};
use crate::proof::refuse_unproven_reads;
use crate::{ConvertError, Target};

/// The metadata file of `dir`, when `dir` is a distributed checkpoint: its
/// `.metadata` (or rank 0's, when there is none) is a pickle that makes a
/// `Metadata` object.
pub fn checkpoint_metadata(dir: &Path, limits: &airlock_pickle::Limits) -> Option<PathBuf> {
    let path = [dcp::METADATA_FILE, dcp::RANK0_METADATA_FILE]
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file())?;
    let src = FileSource::open(&path).ok()?;
    let head = src
        .read_upto(
            0,
            src.len().min(airlock_scan::DEFAULT_MAX_PICKLE_BYTES) as usize,
        )
        .ok()?;
    let analysis = Loader::Plain.engine_config(limits, Some(1)).analyze(&head);
    Metadata::is_metadata(&analysis).then_some(path)
}

/// A distributed checkpoint read for conversion.
pub struct DcpLoaded {
    /// What `dcp_to_torch_save` + `torch.load` return, as data.
    pub rebuilt: Rebuilt,
    /// The storages' bytes.
    pub storages: DcpStorages,
    /// The scans of the metadata and of every shard read.
    pub reports: Vec<FileReport>,
    /// The files read.
    pub inputs: Vec<PathBuf>,
}

impl DcpLoaded {
    /// The worst verdict of the files' scans.
    pub fn verdict(&self) -> Verdict {
        self.reports
            .iter()
            .map(|r| r.verdict)
            .max()
            .unwrap_or(Verdict::Safe)
    }
}

/// One shard file, as read.
struct Shard {
    path: PathBuf,
    src: FileSource,
    report: FileReport,
    pickles: Vec<PickleRead>,
    storages: Vec<StorageRead>,
    foreign: BTreeSet<String>,
}

/// Read the distributed checkpoint in `dir` as data.
pub fn load(dir: &Path, scan: &Options, limits: &ReadLimits) -> Result<DcpLoaded, ConvertError> {
    let meta_path = checkpoint_metadata(dir, &scan.limits).ok_or_else(|| {
        ConvertError::Unsupported(format!(
            "{} is not a distributed checkpoint (no .metadata holding torch.distributed.checkpoint's Metadata)",
            dir.display()
        ))
    })?;
    let (m, meta_report) = read_metadata(&meta_path, scan)?;
    let mut reader = Reader {
        dir,
        scan: recording(scan),
        limits,
        shards: Vec::new(),
        by_path: HashMap::new(),
        rebuilt: Rebuilt::default(),
        storages: Vec::new(),
        values: HashMap::new(),
        pieces: HashMap::new(),
        in_memory: 0,
    };
    reader.read_items(&m)?;
    let mut reports = vec![meta_report];
    reader.tensors(&m)?;
    let root = tree::state_dict(&m, &mut |fqn| reader.value(fqn))?;
    reader.rebuilt.root = root;
    let mut inputs = vec![meta_path];
    let mut files = Vec::new();
    for s in reader.shards {
        refuse_unproven_reads(&s.report, &s.pickles, &s.storages, &s.foreign, None)?;
        inputs.push(s.path);
        reports.push(s.report);
        files.push(s.src);
    }
    Ok(DcpLoaded {
        rebuilt: reader.rebuilt,
        storages: DcpStorages {
            files,
            storages: reader.storages,
        },
        reports,
        inputs,
    })
}

/// Scan the metadata file, refuse it unless safe to read, read it as
/// torch's schema and prove its classes are read as data.
fn read_metadata(path: &Path, scan: &Options) -> Result<(Metadata, FileReport), ConvertError> {
    let report = scan_path(path, &path.display().to_string(), &recording(scan));
    refuse_unsafe(&report)?;
    let src = FileSource::open(path).map_err(|e| ConvertError::io(path, e))?;
    if src.len() > scan.max_pickle_bytes {
        return Err(ConvertError::Unsupported(format!(
            "the metadata is {} bytes, over the {}-byte limit for analysed pickles",
            src.len(),
            scan.max_pickle_bytes
        )));
    }
    let data = src
        .read_upto(0, src.len() as usize)
        .map_err(|e| ConvertError::io(path, e))?;
    let analysis = Loader::Plain
        .engine_config(&scan.limits, Some(1))
        .analyze(&data);
    let m =
        Metadata::read(&analysis).map_err(|e| ConvertError::container_from("the metadata", e))?;
    let read: Vec<PickleRead> = analysis
        .pickles
        .iter()
        .take(1)
        .map(|p| PickleRead::of(None, &data, p))
        .collect();
    refuse_unproven_reads(&report, &read, &[], &m.classes, None)?;
    for file in m.files() {
        dcp::check_relative_path(file).map_err(ConvertError::container_of)?;
    }
    for e in &m.entries {
        if let EntryKind::Tensor(t) = &e.kind {
            dcp::check_chunks(&e.fqn, t).map_err(ConvertError::container_of)?;
        }
    }
    Ok((m, report))
}

/// The reading of one checkpoint.
struct Reader<'a> {
    dir: &'a Path,
    scan: Options,
    limits: &'a ReadLimits,
    shards: Vec<Shard>,
    by_path: HashMap<String, usize>,
    rebuilt: Rebuilt,
    storages: Vec<Storage>,
    /// The value of each non-tensor entry.
    values: HashMap<String, Node>,
    /// The pieces of each tensor entry.
    pieces: HashMap<String, Vec<Piece>>,
    /// Bytes of strided pieces read into memory so far.
    in_memory: u64,
}

impl Reader<'_> {
    /// Every read a full load makes: values rebuilt, chunks located.
    fn read_items(&mut self, m: &Metadata) -> Result<(), ConvertError> {
        let reads = m.reads().map_err(ConvertError::container_of)?;
        for read in reads {
            if !read.item.transforms.is_empty() {
                return Err(ConvertError::Unsupported(format!(
                    "{}: written through stream transforms ({})",
                    read.label,
                    read.item.transforms.join(", ")
                )));
            }
            let shard = self.shard(&read.item.relative_path)?;
            let (rebuilt, bytes) = self.load_item(shard, read.item, &read.label)?;
            if let ReadKind::Tensor { .. } = read.kind {
                let piece = piece(&read, rebuilt, bytes, shard)?;
                self.pieces
                    .entry(read.fqn.to_string())
                    .or_default()
                    .push(piece);
            } else {
                let node = self.merge(rebuilt, bytes, shard, read.item.offset, read.fqn);
                self.values.insert(read.fqn.to_string(), node);
            }
        }
        Ok(())
    }

    /// The shard `relative_path`, scanned (and refused unless safe to
    /// read) the first time it is needed.
    fn shard(&mut self, relative_path: &str) -> Result<usize, ConvertError> {
        if let Some(&i) = self.by_path.get(relative_path) {
            return Ok(i);
        }
        let path = self.dir.join(relative_path);
        let report = scan_path(&path, &path.display().to_string(), &self.scan);
        refuse_unsafe(&report)?;
        let src = FileSource::open(&path).map_err(|e| ConvertError::io(&path, e))?;
        self.shards.push(Shard {
            path,
            src,
            report,
            pickles: Vec::new(),
            storages: Vec::new(),
            foreign: BTreeSet::new(),
        });
        self.by_path
            .insert(relative_path.to_string(), self.shards.len() - 1);
        Ok(self.shards.len() - 1)
    }

    /// `torch.load` of an item, rebuilt as data: its tree and where its
    /// storages' bytes are (file offsets made absolute). What it read is
    /// recorded under the item's name, for the proof against the scan.
    fn load_item(
        &mut self,
        shard: usize,
        item: &dcp::Item,
        label: &str,
    ) -> Result<(Rebuilt, Vec<Bytes>), ConvertError> {
        let s = &mut self.shards[shard];
        let len = s.src.len();
        if item.offset.checked_add(item.length).is_none_or(|e| e > len) {
            return Err(ConvertError::container(format!(
                "{label}: {} bytes at byte {} of {}, which has {len}",
                item.length,
                item.offset,
                s.path.display()
            )));
        }
        let sub = SubSource::new(&s.src, item.offset, item.length);
        let format = airlock_formats::sniff(&sub).map_err(|e| ConvertError::io(&s.path, e))?;
        if format != Format::TorchZip {
            return Err(ConvertError::Unsupported(format!(
                "{label}: the item is {format}, not a torch.save archive"
            )));
        }
        let loaded = load_zip(&sub, self.limits).map_err(|e| e.with_report(&s.report))?;
        s.pickles.extend(loaded.pickles.iter().map(|p| PickleRead {
            member: Some(dcp::item_member(label, p.member.as_deref())),
            ..p.clone()
        }));
        s.storages
            .extend(loaded.storages_read.iter().map(|r| StorageRead {
                member: dcp::item_member(label, Some(&r.member)),
                bytes: match r.bytes {
                    airlock_formats::checkpoint::RecordBytes::Stored { offset, len } => {
                        airlock_formats::checkpoint::RecordBytes::Stored {
                            offset: offset + item.offset,
                            len,
                        }
                    }
                    other => other,
                },
            }));
        s.foreign.extend(loaded.rebuilt.foreign.iter().cloned());
        let bytes = loaded.storages.locations().to_vec();
        Ok((loaded.rebuilt, bytes))
    }

    /// A value's rebuilt tree, its tensors and storages added to the
    /// checkpoint's: the root with its indices renumbered.
    fn merge(
        &mut self,
        item: Rebuilt,
        bytes: Vec<Bytes>,
        shard: usize,
        base: u64,
        fqn: &str,
    ) -> Node {
        let (t0, s0) = (self.rebuilt.tensors.len(), self.rebuilt.storages.len());
        for (s, b) in item.storages.into_iter().zip(bytes) {
            self.rebuilt.storages.push(StorageInfo {
                key: format!("{fqn}/{}", s.key),
                ..s
            });
            self.storages.push(Storage::Run(src_of(b, shard, base)));
        }
        for t in item.tensors {
            self.rebuilt.tensors.push(TensorInfo {
                storage: t.storage + s0,
                ..t
            });
        }
        for t in item.transformations {
            self.rebuilt.transformations.push(Transformation {
                path: join_path(fqn, &t.path),
                what: t.what,
            });
        }
        self.rebuilt.foreign.extend(item.foreign);
        self.rebuilt.objects.extend(item.objects);
        let mut root = item.root;
        renumber(&mut root, t0, s0);
        root
    }

    /// Every tensor entry: a contiguous storage of its own, filled by its
    /// pieces.
    fn tensors(&mut self, m: &Metadata) -> Result<(), ConvertError> {
        for e in &m.entries {
            let EntryKind::Tensor(t) = &e.kind else {
                continue;
            };
            let dtype = dtype_of(&e.fqn, &t.dtype)?;
            let numel = t.size.iter().try_fold(1u64, |a, &n| a.checked_mul(n));
            let numel = numel
                .filter(|n| n.checked_mul(dtype.size()).is_some())
                .ok_or_else(|| {
                    ConvertError::container(format!("{}: size {:?} overflows", e.fqn, t.size))
                })?;
            let mut pieces = self.pieces.remove(&e.fqn).unwrap_or_default();
            for p in &mut pieces {
                self.strided_in_memory(p, dtype.size())?;
            }
            let storage = match whole_run(&pieces, &t.size, dtype) {
                Some(src) => Storage::Run(src),
                None => Storage::Assembled {
                    shape: t.size.clone(),
                    esize: dtype.size(),
                    pieces,
                },
            };
            self.storages.push(storage);
            self.rebuilt.storages.push(StorageInfo {
                key: e.fqn.clone(),
                dtype,
                numel,
                location: "cpu".into(),
                inline: None,
            });
            self.rebuilt.tensors.push(TensorInfo {
                storage: self.rebuilt.storages.len() - 1,
                dtype,
                offset: 0,
                shape: t.size.clone(),
                stride: contiguous(&t.size),
                requires_grad: false,
                parameter: false,
            });
            self.values
                .insert(e.fqn.clone(), Node::Tensor(self.rebuilt.tensors.len() - 1));
        }
        Ok(())
    }

    /// A piece whose elements are not in C order in its file (a
    /// transposed tensor saved as it was) is gathered element by element:
    /// its source bytes are read into memory once, within the limit on
    /// bytes held in memory, so that the gathering reads no file per
    /// element. Over the limit it is read from the file as it is.
    fn strided_in_memory(&mut self, p: &mut Piece, esize: u64) -> Result<(), ConvertError> {
        let Src::File { file, offset } = p.src else {
            return Ok(());
        };
        let view = TensorInfo {
            storage: 0,
            dtype: Dtype::U8,
            offset: p.offset,
            shape: p.lengths.clone(),
            stride: p.stride.clone(),
            requires_grad: false,
            parameter: false,
        };
        if view.is_contiguous() || view.numel() == 0 {
            return Ok(());
        }
        let last: u64 = p
            .lengths
            .iter()
            .zip(&p.stride)
            .map(|(&n, &s)| (n - 1) * s)
            .sum();
        let (start, len) = (p.offset * esize, (last + 1) * esize);
        if len
            > self
                .limits
                .max_inflated_bytes
                .saturating_sub(self.in_memory)
        {
            return Ok(());
        }
        let f = &self.shards[file];
        let bytes = f
            .src
            .read_vec(offset + start, len as usize)
            .map_err(|e| ConvertError::io(&f.path, e))?;
        self.in_memory += len;
        p.src = Src::Owned(Arc::new(bytes));
        p.offset = 0;
        Ok(())
    }

    fn value(&mut self, fqn: &str) -> Result<Node, ConvertError> {
        self.values
            .remove(fqn)
            .ok_or_else(|| ConvertError::container(format!("{fqn}: no value was read for it")))
    }
}

/// A chunk's item as one piece of its tensor: it must hold one tensor of
/// the metadata's dtype, at least as large as the part read (torch narrows
/// it to that part, from its start).
fn piece(
    read: &Read<'_>,
    item: Rebuilt,
    bytes: Vec<Bytes>,
    shard: usize,
) -> Result<Piece, ConvertError> {
    let ReadKind::Tensor {
        tensor,
        dest_offsets,
        lengths,
    } = &read.kind
    else {
        return Err(ConvertError::container(format!(
            "{}: not a tensor read",
            read.label
        )));
    };
    let bad = |detail: String| ConvertError::container(format!("{}: {detail}", read.label));
    let Node::Tensor(i) = item.root else {
        return Err(bad(format!(
            "holds a {}, not a tensor",
            item.root.type_name()
        )));
    };
    let t = &item.tensors[i];
    let want = dtype_of(&read.label, &tensor.dtype)?;
    if t.dtype != want {
        return Err(bad(format!(
            "a {} tensor for a {} entry: torch would cast it",
            t.dtype.torch_name(),
            want.torch_name()
        )));
    }
    if t.shape.len() != lengths.len() || t.shape.iter().zip(lengths).any(|(n, l)| l > n) {
        return Err(bad(format!(
            "a tensor of size {:?} where the metadata reads {lengths:?} of it",
            t.shape
        )));
    }
    let view = TensorInfo {
        shape: lengths.clone(),
        ..t.clone()
    };
    let storage = &item.storages[t.storage];
    if view
        .storage_byte_range()
        .is_some_and(|(_, end)| end > storage.nbytes())
    {
        return Err(bad("the tensor reaches past its storage".into()));
    }
    let b = bytes
        .into_iter()
        .nth(t.storage)
        .ok_or_else(|| bad("no bytes for its storage".into()))?;
    Ok(Piece {
        dest: dest_offsets.clone(),
        lengths: lengths.clone(),
        src: src_of(b, shard, read.item.offset),
        offset: t.offset,
        stride: t.stride.clone(),
    })
}

/// The run of bytes of a tensor saved whole and contiguous in one chunk:
/// then its storage is that range of the shard file.
fn whole_run(pieces: &[Piece], size: &[u64], dtype: Dtype) -> Option<Src> {
    let [p] = pieces else { return None };
    let contiguous_source = TensorInfo {
        storage: 0,
        dtype,
        offset: p.offset,
        shape: p.lengths.clone(),
        stride: p.stride.clone(),
        requires_grad: false,
        parameter: false,
    }
    .is_contiguous();
    if p.lengths != size || !contiguous_source {
        return None;
    }
    let skip = p.offset * dtype.size();
    Some(match &p.src {
        Src::File { file, offset } => Src::File {
            file: *file,
            offset: offset + skip,
        },
        Src::Owned(v) => Src::Owned(Arc::new(v.get(skip as usize..)?.to_vec())),
    })
}

fn src_of(b: Bytes, shard: usize, base: u64) -> Src {
    match b {
        Bytes::File { offset, .. } => Src::File {
            file: shard,
            offset: base + offset,
        },
        Bytes::Owned(v) => Src::Owned(Arc::new(v)),
    }
}

fn dtype_of(what: &str, name: &str) -> Result<Dtype, ConvertError> {
    Dtype::from_torch_name(&format!("torch.{name}"))
        .filter(|d| !d.is_quantized())
        .ok_or_else(|| ConvertError::Unsupported(format!("{what}: dtype torch.{name}")))
}

fn contiguous(shape: &[u64]) -> Vec<u64> {
    let mut stride = vec![1u64; shape.len()];
    for d in (0..shape.len().saturating_sub(1)).rev() {
        stride[d] = stride[d + 1] * shape[d + 1].max(1);
    }
    stride
}

fn join_path(prefix: &str, path: &str) -> String {
    if path.is_empty() {
        prefix.to_string()
    } else {
        format!("{prefix}.{path}")
    }
}

/// Shift the tensor and storage indices a merged tree refers to.
fn renumber(node: &mut Node, t0: usize, s0: usize) {
    match node {
        Node::Tensor(i) => *i += t0,
        Node::Storage(r) => r.storage += s0,
        _ => node.for_each_child_mut(&mut |child| renumber(child, t0, s0)),
    }
}

/// Convert the distributed checkpoint in `dir` into one file.
pub fn convert(
    dir: &Path,
    output: &Path,
    opts: &ConvertOptions,
) -> Result<Converted, ConvertError> {
    airlock_tensors::write::check_output(output, &[dir], opts.existing)
        .map_err(ConvertError::Write)?;
    let mut limits = opts.limits.scanned_with(&opts.scan);
    limits.rebuild.attributes = opts.to == Target::Pt;
    limits.rebuild.module_attributes = opts.to == Target::Safetensors;
    let loaded = load(dir, &opts.scan, &limits)?;
    let inputs: Vec<&Path> = loaded.inputs.iter().map(PathBuf::as_path).collect();
    let w = write_rebuilt(&loaded.rebuilt, &loaded.storages, output, &inputs, opts)?;
    Ok(Converted {
        input: dir.display().to_string(),
        output: output.display().to_string(),
        format: "dcp",
        verdict: loaded.verdict().name(),
        tensors: w.tensors,
        bytes: w.bytes,
        transformations: w.transformations,
        tensor_bytes: w.tensor_bytes,
    })
}

/// A distributed checkpoint read for a loader that makes objects
/// (`airlock.load`): the tree and every storage's bytes in memory, the
/// chunks of sharded tensors assembled (`dcp_to_torch_save` holds the whole
/// state dict in memory too).
pub fn plan_load(
    dir: &Path,
    opts: &ConvertOptions,
) -> Result<(DcpLoaded, Vec<Vec<u8>>), ConvertError> {
    let limits = opts.limits.scanned_with(&opts.scan);
    let loaded = load(dir, &opts.scan, &limits)?;
    let mut bytes = Vec::with_capacity(loaded.rebuilt.storages.len());
    for (i, s) in loaded.rebuilt.storages.iter().enumerate() {
        let len = usize::try_from(s.numel.saturating_mul(s.dtype.size()))
            .map_err(|_| ConvertError::Unsupported(format!("storage {}: too large", s.key)))?;
        let mut buf = vec![0u8; len];
        airlock_tensors::write::StorageBytes::read(&loaded.storages, i, 0, &mut buf)
            .map_err(|e| ConvertError::io(dir, e))?;
        bytes.push(buf);
    }
    Ok((loaded, bytes))
}

/// The output file name for a distributed checkpoint folder named `name`.
pub fn output_name(name: &str, to: Target) -> String {
    format!("{name}.{}", to.extension())
}

/// Where a folder conversion of `dir` into `out_dir` writes the checkpoint
/// in `folder`: a file named for the folder, where the folder would be
/// mirrored (`out_dir/<name>.<ext>` for `dir` itself).
pub fn output_in(dir: &Path, out_dir: &Path, folder: &Path, to: Target) -> PathBuf {
    let rel = folder.strip_prefix(dir).unwrap_or(folder);
    let name = match rel.file_name() {
        Some(n) => n.to_string_lossy().into_owned(),
        None => folder_name(dir),
    };
    let parent = rel.parent().unwrap_or(Path::new(""));
    out_dir.join(parent).join(output_name(&name, to))
}

/// A folder's own name, also for `.` and paths ending in `..`.
pub fn folder_name(dir: &Path) -> String {
    dir.canonicalize()
        .ok()
        .and_then(|c| c.file_name().map(|n| n.to_string_lossy().into_owned()))
        .or_else(|| dir.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "checkpoint".into())
}

/// The distributed checkpoints among `files` (a folder's, walked): each
/// checkpoint's folder, with the files that belong to it (its metadata,
/// the files the metadata names, the `.distcp` files beside it).
pub fn checkpoints_among(
    files: &[PathBuf],
    limits: &airlock_pickle::Limits,
) -> Vec<(PathBuf, BTreeSet<PathBuf>)> {
    let folders: BTreeSet<&Path> = files
        .iter()
        .filter(|f| {
            f.file_name()
                .is_some_and(|n| n == dcp::METADATA_FILE || n == dcp::RANK0_METADATA_FILE)
        })
        .filter_map(|f| f.parent())
        .collect();
    let mut out = Vec::new();
    for folder in folders {
        let Some(meta) = checkpoint_metadata(folder, limits) else {
            continue;
        };
        let named: BTreeSet<PathBuf> = named_files(&meta, limits)
            .into_iter()
            .map(|n| folder.join(n))
            .collect();
        let members = files
            .iter()
            .filter(|f| {
                **f == meta
                    || named.contains(*f)
                    || (f.parent() == Some(folder) && f.extension().is_some_and(|e| e == "distcp"))
            })
            .cloned()
            .collect();
        out.push((folder.to_path_buf(), members));
    }
    out
}

/// The files a metadata file names (none when it cannot be read).
fn named_files(meta: &Path, limits: &airlock_pickle::Limits) -> Vec<String> {
    let data = FileSource::open(meta).and_then(|s| {
        s.read_upto(
            0,
            s.len().min(airlock_scan::DEFAULT_MAX_PICKLE_BYTES) as usize,
        )
    });
    let Ok(data) = data else {
        return Vec::new();
    };
    let analysis = Loader::Plain.engine_config(limits, Some(1)).analyze(&data);
    match Metadata::read(&analysis) {
        Ok(m) => m.files().into_iter().map(str::to_string).collect(),
        Err(_) => Vec::new(),
    }
}
