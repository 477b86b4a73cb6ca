//! Distributed checkpoints (`torch.distributed.checkpoint`, "DCP"): a
//! folder with a `.metadata` pickle and `.distcp` shard files, read the way
//! torch 2.15 reads them (`torch/distributed/checkpoint/filesystem.py`:
//! `FileSystemReader`; `metadata.py`; `planner_helpers.py`:
//! `create_read_items_for_chunk_list`; `format_utils.py`:
//! `dcp_to_torch_save`), the one reader `scan`, `convert` and `inspect`
//! share.
//!
//! - `.metadata` is `pickle.dump(Metadata)`, read back with plain
//!   `pickle.load` (no `weights_only`). [`Metadata::read`] interprets the
//!   object graph the pickle engine built from it: the dataclasses of
//!   `metadata.py` and `filesystem._StorageInfo`, each made by
//!   `cls.__new__(cls)` (`NEWOBJ` without arguments) and filled by `BUILD`
//!   with its `__dict__` (`TensorProperties` by its `__setstate__`, with a
//!   tuple), `torch.Size`, torch dtypes. Anything else where torch's schema
//!   has one of these is an error: the loader would fail or do something
//!   this reader does not reproduce.
//! - Each `__<rank>_<n>.distcp` file is the concatenation of the items one
//!   writer wrote: every tensor (or chunk of a sharded tensor) as a whole
//!   `torch.save` ZIP, which the reader loads from its byte range with
//!   `torch.load(view, weights_only=True)`, and every other value as the
//!   bytes of `torch.save(value)`, loaded with
//!   `torch.load(BytesIO(bytes), weights_only=False)` (the default load
//!   planner's `load_bytes`). `_StorageInfo` gives each item's file, offset
//!   and length ([`Item`]); [`Metadata::reads`] lists the reads a full load
//!   (`dcp_to_torch_save`) makes, chunk by chunk, as torch plans them.
//! - Without its metadata, a `.distcp` file is split into its ZIPs by
//!   walking their headers ([`split_shard`]).
//!
//! Every size and offset read from a file is checked; the limits on the
//! pickle itself are the pickle engine's.

use std::collections::{BTreeSet, HashMap};
use std::path::{Component, Path};

use airlock_pickle::{Analysis, CallKind, Graph, Mutation, Object, Origin, Value};

use crate::source::{Source, SubSource, le16, le32, le64};
use crate::zip::TorchZip;
use crate::zipconst::{
    EOCD_SIG, EOCD_SIZE, LOCAL_SIG, ZIP64_EOCD_SIG, ZIP64_EOCD_SIZE, ZIP64_LOCATOR_SIG,
    ZIP64_LOCATOR_SIZE,
};

/// The metadata file `FileSystemReader.read_metadata` reads.
pub const METADATA_FILE: &str = ".metadata";
/// The rank-local metadata `_load_state_dict` falls back to when there is no
/// `.metadata` (rank 0: a single process, `no_dist=True`).
pub const RANK0_METADATA_FILE: &str = "__0.metadata";

const METADATA: &str = "torch.distributed.checkpoint.metadata.Metadata";
const TENSOR_STORAGE: &str = "torch.distributed.checkpoint.metadata.TensorStorageMetadata";
const BYTES_STORAGE: &str = "torch.distributed.checkpoint.metadata.BytesStorageMetadata";
const TENSOR_PROPERTIES: &str = "torch.distributed.checkpoint.metadata.TensorProperties";
const CHUNK: &str = "torch.distributed.checkpoint.metadata.ChunkStorageMetadata";
const INDEX: &str = "torch.distributed.checkpoint.metadata.MetadataIndex";
const STORAGE_META: &str = "torch.distributed.checkpoint.metadata.StorageMeta";
const MEM_FORMAT: &str = "torch.distributed.checkpoint.metadata._MEM_FORMAT_ENCODING";
const STORAGE_INFO: &str = "torch.distributed.checkpoint.filesystem._StorageInfo";

/// The classes of torch's metadata schema this reader reads as data: each
/// made by `cls.__new__(cls)` and filled by `BUILD` (only
/// `TensorProperties` has a `__setstate__`, which sets its fields from a
/// tuple and maps the memory-format enum), and the enum itself, whose
/// members the pickle looks up by value.
pub const SCHEMA_CLASSES: &[&str] = &[
    METADATA,
    TENSOR_STORAGE,
    BYTES_STORAGE,
    TENSOR_PROPERTIES,
    CHUNK,
    INDEX,
    STORAGE_META,
    MEM_FORMAT,
    STORAGE_INFO,
];

/// Most chunks one tensor may have (a chunk per rank and more).
pub const MAX_CHUNKS: usize = 1 << 20;
/// Most items one shard file may hold when split without its metadata.
pub const MAX_SPLIT_ITEMS: usize = 1 << 20;

/// Why a folder is not a distributed checkpoint torch reads as this reader
/// does.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DcpError {
    /// The metadata pickle did not complete (the loader fails on it).
    #[error("the metadata pickle does not load: {0}")]
    Unpickled(String),
    /// An object is not what torch's schema has there.
    #[error("{what}: {detail}")]
    Schema {
        /// Where in the metadata (`state_dict_metadata['w'].chunks[0]`).
        what: String,
        /// What was found instead.
        detail: String,
    },
    /// A read the loader makes names no item in `storage_data`.
    #[error("{fqn}: no storage entry for {which} (torch fails with a KeyError)")]
    MissingItem {
        /// The entry.
        fqn: String,
        /// Which chunk (or "the value").
        which: String,
    },
    /// A storage path outside the checkpoint's folder.
    #[error("storage path {0:?} is not a file inside the checkpoint folder")]
    OutsidePath(String),
    /// Item data transformed by a stream extension (compression).
    #[error("{fqn}: items written through stream transforms ({transforms}) are not read")]
    Transformed {
        /// The entry.
        fqn: String,
        /// The descriptors.
        transforms: String,
    },
    /// Chunks of a tensor that overlap or leave parts of it unwritten.
    #[error("{fqn}: {detail}")]
    Chunks {
        /// The tensor.
        fqn: String,
        /// What is wrong.
        detail: String,
    },
}

impl DcpError {
    fn schema(what: impl Into<String>, detail: impl Into<String>) -> DcpError {
        DcpError::Schema {
            what: what.into(),
            detail: detail.into(),
        }
    }
}

/// A checkpoint's metadata, as `pickle.load` of `.metadata` builds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    /// `state_dict_metadata`, in order: every value of the flattened state
    /// dict.
    pub entries: Vec<Entry>,
    /// `planner_data`: the path of each flattened key in the original,
    /// nested state dict (`None` when the metadata has none).
    pub planner_data: Option<HashMap<String, Vec<PathKey>>>,
    /// `storage_data`: where each item is, by key, in dict order (a key
    /// given twice keeps its first place and its last value, as a dict does).
    pub storage: Vec<(ItemKey, Item)>,
    /// `version`, when recorded.
    pub version: Option<String>,
    /// The schema classes ([`SCHEMA_CLASSES`]) the pickle uses and this
    /// reader read as data.
    pub classes: BTreeSet<String>,
}

/// One value of the flattened state dict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its flattened name (`model.layers.0.weight`).
    pub fqn: String,
    /// A tensor or another value.
    pub kind: EntryKind,
}

/// What an entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    /// `TensorStorageMetadata`.
    Tensor(TensorEntry),
    /// `BytesStorageMetadata`: a value saved with `torch.save`.
    Bytes,
}

/// A tensor: what `_EmptyStateDictLoadPlanner` allocates
/// (`torch.empty(size, dtype=dtype)`) and the chunks that fill it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorEntry {
    /// torch's dtype name without its module (`float32`).
    pub dtype: String,
    /// The whole tensor's size.
    pub size: Vec<u64>,
    /// The saved chunks.
    pub chunks: Vec<Chunk>,
}

/// `ChunkStorageMetadata`: a box of the tensor saved as one item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// Where it starts, per dimension.
    pub offsets: Vec<u64>,
    /// Its sizes.
    pub sizes: Vec<u64>,
}

/// One step of a path in the nested state dict: a dict key or a list index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathKey {
    /// A dict key.
    Str(String),
    /// A list index.
    Int(i64),
}

/// `MetadataIndex` as a dict key: torch hashes and compares `fqn` and
/// `offset` only.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ItemKey {
    /// The entry.
    pub fqn: String,
    /// The chunk's offsets (`None` for non-tensor values).
    pub offset: Option<Vec<u64>>,
}

/// `_StorageInfo`: where an item is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Item {
    /// The file, relative to the checkpoint folder.
    pub relative_path: String,
    /// Where the item starts in it.
    pub offset: u64,
    /// Its length.
    pub length: u64,
    /// Stream transforms it was written through (none unless an extension
    /// such as `stream.zstd` was used).
    pub transforms: Vec<String>,
}

/// A read a full load makes: one item, loaded as a tensor (with
/// `weights_only=True`) or as a value (`weights_only=False`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Read<'m> {
    /// The entry read.
    pub fqn: &'m str,
    /// The item.
    pub item: &'m Item,
    /// The item's name in reports (see [`Metadata::label`]).
    pub label: String,
    /// What is read.
    pub kind: ReadKind<'m>,
}

/// What a [`Read`] does with its item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadKind<'m> {
    /// `torch.load(value, weights_only=False)`, the result set at the
    /// entry's path.
    Bytes,
    /// `torch.load(view, weights_only=True)`, narrowed to `lengths` (from
    /// its start) and copied into the tensor at `dest_offsets`.
    Tensor {
        /// The tensor.
        tensor: &'m TensorEntry,
        /// Where the copy goes.
        dest_offsets: Vec<u64>,
        /// Its sizes.
        lengths: Vec<u64>,
    },
}

/// How an item of a shard file is loaded, for its scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardItem {
    /// Its name in reports (`model.w@5044`).
    pub label: String,
    /// Where it starts in the file.
    pub offset: u64,
    /// Its length.
    pub length: u64,
    /// Some entry loads it as a tensor (`weights_only=True`).
    pub as_tensor: bool,
    /// Some entry loads it as a value (`weights_only=False`).
    pub as_value: bool,
    /// Stream transforms it was written through.
    pub transforms: Vec<String>,
}

/// An item's name in reports: the first entry that names it, and where it
/// starts (`model.w@5044`); `@5044` for an item found without metadata.
pub fn item_label(fqn: Option<&str>, offset: u64) -> String {
    format!("{}@{offset}", fqn.unwrap_or_default())
}

/// The name of a member of an item in reports: the item's label, then the
/// member (`model.w@5044/archive/data.pkl`).
pub fn item_member(label: &str, member: Option<&str>) -> String {
    match member {
        Some(m) => format!("{label}/{m}"),
        None => label.to_string(),
    }
}

/// Whether `relative_path` names a file inside the checkpoint folder:
/// `Path(folder) / relative_path` leaves it when the path is absolute or
/// climbs with `..`.
pub fn check_relative_path(relative_path: &str) -> Result<(), DcpError> {
    let p = Path::new(relative_path);
    let inside = !relative_path.is_empty()
        && !relative_path.contains('\0')
        && p.components().all(|c| matches!(c, Component::Normal(_)))
        && p.components().next().is_some();
    if inside {
        Ok(())
    } else {
        Err(DcpError::OutsidePath(relative_path.to_string()))
    }
}

impl Metadata {
    /// Whether the first pickle of `analysis` is a DCP `Metadata` object
    /// (what `pickle.dump(metadata)` writes), whatever it holds.
    pub fn is_metadata(analysis: &Analysis<'_>) -> bool {
        let root = analysis.pickles.first().and_then(|p| p.root);
        root.is_some_and(|r| class_of(&analysis.graph, r).as_deref() == Some(METADATA))
    }

    /// Interpret the first pickle of `analysis` (the `.metadata` file read
    /// by the engine as `pickle.load` reads it) as torch's schema.
    pub fn read(analysis: &Analysis<'_>) -> Result<Metadata, DcpError> {
        let pickle = analysis
            .pickles
            .first()
            .ok_or_else(|| DcpError::Unpickled("no pickle".into()))?;
        if let Some(e) = pickle.error() {
            return Err(DcpError::Unpickled(e.to_string()));
        }
        let root = pickle
            .root
            .ok_or_else(|| DcpError::Unpickled("no result".into()))?;
        let mut r = SchemaReader {
            g: &analysis.graph,
            classes: BTreeSet::new(),
        };
        r.metadata(root)
    }

    /// The entry named `fqn`.
    pub fn entry(&self, fqn: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.fqn == fqn)
    }

    /// The item stored under `key`.
    pub fn item(&self, key: &ItemKey) -> Option<&Item> {
        self.storage.iter().find(|(k, _)| k == key).map(|(_, i)| i)
    }

    /// The files the items are in, in order of first appearance.
    pub fn files(&self) -> Vec<&str> {
        let mut seen = BTreeSet::new();
        self.storage
            .iter()
            .map(|(_, i)| i.relative_path.as_str())
            .filter(|p| seen.insert(*p))
            .collect()
    }

    /// An item's name in reports: the first key of `storage_data` that
    /// stores this byte range, and its offset.
    pub fn label(&self, item: &Item) -> String {
        self.index().label(item)
    }

    /// Lookups by key, built once for a pass over every entry or item.
    fn index(&self) -> Index<'_> {
        let mut items = HashMap::with_capacity(self.storage.len());
        let mut first = HashMap::with_capacity(self.storage.len());
        for (k, i) in &self.storage {
            items.insert(k, i);
            first
                .entry((i.relative_path.as_str(), i.offset, i.length))
                .or_insert(k.fqn.as_str());
        }
        let kinds = self
            .entries
            .iter()
            .map(|e| (e.fqn.as_str(), &e.kind))
            .collect();
        Index {
            items,
            first,
            kinds,
        }
    }

    /// The items of the file `relative_path`, each once (by byte range),
    /// in the order of `storage_data`, with how entries load them. Items
    /// that no entry reads are listed too (neither flag set).
    pub fn shard_items(&self, relative_path: &str) -> Vec<ShardItem> {
        let index = self.index();
        let mut out: Vec<ShardItem> = Vec::new();
        let mut at: HashMap<(u64, u64), usize> = HashMap::new();
        for (key, item) in &self.storage {
            if item.relative_path != relative_path {
                continue;
            }
            let (tensor, value) = match index.kinds.get(key.fqn.as_str()) {
                Some(EntryKind::Tensor(_)) if key.offset.is_some() => (true, false),
                Some(EntryKind::Bytes) if key.offset.is_none() => (false, true),
                _ => (false, false),
            };
            match at.get(&(item.offset, item.length)) {
                Some(&n) => {
                    out[n].as_tensor |= tensor;
                    out[n].as_value |= value;
                }
                None => {
                    at.insert((item.offset, item.length), out.len());
                    out.push(ShardItem {
                        label: item_label(Some(&key.fqn), item.offset),
                        offset: item.offset,
                        length: item.length,
                        as_tensor: tensor,
                        as_value: value,
                        transforms: item.transforms.clone(),
                    });
                }
            }
        }
        out
    }

    /// The reads a full load makes (`dcp_to_torch_save`: every entry, each
    /// tensor whole), in the order of the entries and their chunks.
    pub fn reads(&self) -> Result<Vec<Read<'_>>, DcpError> {
        let index = self.index();
        let mut out = Vec::new();
        for e in &self.entries {
            match &e.kind {
                EntryKind::Bytes => {
                    let key = ItemKey {
                        fqn: e.fqn.clone(),
                        offset: None,
                    };
                    let item = index.items.get(&key).ok_or_else(|| DcpError::MissingItem {
                        fqn: e.fqn.clone(),
                        which: "the value".into(),
                    })?;
                    out.push(Read {
                        fqn: &e.fqn,
                        item,
                        label: index.label(item),
                        kind: ReadKind::Bytes,
                    });
                }
                EntryKind::Tensor(t) => tensor_reads(&index, &e.fqn, t, &mut out)?,
            }
        }
        Ok(out)
    }
}

/// A metadata's lookups (see [`Metadata::index`]).
struct Index<'m> {
    /// `storage_data`, by key.
    items: HashMap<&'m ItemKey, &'m Item>,
    /// The first entry storing each byte range.
    first: HashMap<(&'m str, u64, u64), &'m str>,
    /// Each entry's kind, by name.
    kinds: HashMap<&'m str, &'m EntryKind>,
}

impl Index<'_> {
    fn label(&self, item: &Item) -> String {
        let first = self
            .first
            .get(&(item.relative_path.as_str(), item.offset, item.length));
        item_label(first.copied(), item.offset)
    }
}

/// `create_read_items_for_chunk_list` for one local chunk, the whole
/// tensor: every saved chunk that overlaps it is read, narrowed to the
/// overlap (which starts at the saved chunk's origin: the local chunk
/// starts at 0).
fn tensor_reads<'m>(
    index: &Index<'m>,
    fqn: &'m str,
    t: &'m TensorEntry,
    out: &mut Vec<Read<'m>>,
) -> Result<(), DcpError> {
    for (i, c) in t.chunks.iter().enumerate() {
        let Some(lengths) = overlap(&t.size, c) else {
            continue;
        };
        let key = ItemKey {
            fqn: fqn.to_string(),
            offset: Some(c.offsets.clone()),
        };
        let item = *index.items.get(&key).ok_or_else(|| DcpError::MissingItem {
            fqn: fqn.to_string(),
            which: format!("chunk {i} at {:?}", c.offsets),
        })?;
        out.push(Read {
            fqn,
            item,
            label: index.label(item),
            kind: ReadKind::Tensor {
                tensor: t,
                dest_offsets: c.offsets.clone(),
                lengths,
            },
        });
    }
    Ok(())
}

/// The sizes of the part of chunk `c` inside a tensor of `size` (whose
/// local chunk starts at 0), or `None` when they do not overlap
/// (`_check_shard_metadata_pair_overlap`: a box of size 0 overlaps nothing).
fn overlap(size: &[u64], c: &Chunk) -> Option<Vec<u64>> {
    let mut lengths = Vec::with_capacity(size.len());
    for ((&n, &off), &len) in size.iter().zip(&c.offsets).zip(&c.sizes) {
        // Overlap unless one box ends where (or before) the other starts:
        // the chunk starts at or past the tensor's end, or it is empty at 0.
        if off >= n || off.saturating_add(len) == 0 {
            return None;
        }
        lengths.push(len.min(n - off));
    }
    Some(lengths)
}

/// Check that the chunks of `t` fill the tensor exactly once: torch copies
/// every chunk into `torch.empty(size)`, so an element no chunk covers
/// would be whatever memory held, and where chunks overlap the last one
/// read wins.
pub fn check_chunks(fqn: &str, t: &TensorEntry) -> Result<(), DcpError> {
    let bad = |detail: String| DcpError::Chunks {
        fqn: fqn.to_string(),
        detail,
    };
    let numel = t
        .size
        .iter()
        .try_fold(1u64, |a, &n| a.checked_mul(n))
        .ok_or_else(|| bad(format!("size {:?} overflows", t.size)))?;
    let boxes: Vec<(Vec<u64>, Vec<u64>)> = t
        .chunks
        .iter()
        .filter_map(|c| overlap(&t.size, c).map(|l| (c.offsets.clone(), l)))
        .collect();
    let mut covered = 0u64;
    for (_, l) in &boxes {
        let v = l.iter().product::<u64>();
        covered = covered.saturating_add(v);
    }
    if numel == 0 {
        return Ok(());
    }
    if let Some((a, b)) = overlapping_pair(&boxes) {
        return Err(bad(format!(
            "chunks at {:?} and {:?} overlap: which one torch keeps depends on the order it reads them",
            boxes[a].0, boxes[b].0
        )));
    }
    if covered != numel {
        return Err(bad(format!(
            "the chunks cover {covered} of its {numel} elements: torch would leave the rest as uninitialised memory"
        )));
    }
    Ok(())
}

/// Two boxes that overlap, if any: a sweep along the dimension with the
/// most distinct starts.
fn overlapping_pair(boxes: &[(Vec<u64>, Vec<u64>)]) -> Option<(usize, usize)> {
    let ndim = boxes.first().map_or(0, |b| b.0.len());
    if ndim == 0 {
        return (boxes.len() > 1).then_some((0, 1));
    }
    let dim = (0..ndim)
        .max_by_key(|&d| boxes.iter().map(|b| b.0[d]).collect::<BTreeSet<_>>().len())
        .unwrap_or(0);
    let mut order: Vec<usize> = (0..boxes.len()).collect();
    order.sort_by_key(|&i| boxes[i].0[dim]);
    for (n, &a) in order.iter().enumerate() {
        let end = boxes[a].0[dim] + boxes[a].1[dim];
        for &b in &order[n + 1..] {
            if boxes[b].0[dim] >= end {
                break;
            }
            let disjoint = (0..ndim).any(|d| {
                boxes[a].0[d] >= boxes[b].0[d] + boxes[b].1[d]
                    || boxes[b].0[d] >= boxes[a].0[d] + boxes[a].1[d]
            });
            if !disjoint {
                return Some((a, b));
            }
        }
    }
    None
}

/// The qualified name of the class an object was made from by `NEWOBJ`.
fn class_of(g: &Graph<'_>, v: Value) -> Option<String> {
    match &g.opaque(v)?.origin {
        Origin::Call {
            kind: CallKind::NewObj | CallKind::NewObjEx,
            callable,
            ..
        } => g.global(*callable).map(|c| c.qualified()),
        _ => None,
    }
}

/// Reads torch's schema out of the object graph.
struct SchemaReader<'g, 'a> {
    g: &'g Graph<'a>,
    classes: BTreeSet<String>,
}

impl SchemaReader<'_, '_> {
    fn metadata(&mut self, root: Value) -> Result<Metadata, DcpError> {
        let attrs = self.attrs(root, METADATA, "the metadata")?;
        let get = |name: &str| attrs.iter().find(|(k, _)| k == name).map(|(_, v)| *v);
        let sdm = get("state_dict_metadata")
            .ok_or_else(|| DcpError::schema("the metadata", "no state_dict_metadata attribute"))?;
        let mut entries = Vec::new();
        for (k, v) in self.dict(sdm, "state_dict_metadata")? {
            let fqn = self.string(k, "a state_dict_metadata key")?;
            let what = format!("state_dict_metadata[{fqn:?}]");
            let kind = match class_of(self.g, v).as_deref() {
                Some(TENSOR_STORAGE) => EntryKind::Tensor(self.tensor(v, &what)?),
                Some(BYTES_STORAGE) => {
                    self.attrs(v, BYTES_STORAGE, &what)?;
                    EntryKind::Bytes
                }
                _ => {
                    return Err(self.unexpected(
                        &what,
                        v,
                        "a TensorStorageMetadata or BytesStorageMetadata",
                    ));
                }
            };
            entries.push(Entry { fqn, kind });
        }
        let planner_data = match get("planner_data") {
            None => None,
            Some(v) if v == Value::NONE => None,
            Some(v) => Some(self.planner_data(v)?),
        };
        let storage = match get("storage_data") {
            Some(v) if v != Value::NONE => self.storage_data(v)?,
            _ => {
                return Err(DcpError::schema(
                    "the metadata",
                    "no storage_data (torch: storage_data must not be None)",
                ));
            }
        };
        if let Some(v) = get("storage_meta").filter(|v| *v != Value::NONE) {
            // Read by torch only to set its load id; checked to be the class.
            self.attrs(v, STORAGE_META, "storage_meta")?;
        }
        let version = match get("version") {
            Some(v) if v != Value::NONE => Some(self.string(v, "version")?),
            _ => None,
        };
        Ok(Metadata {
            entries,
            planner_data,
            storage,
            version,
            classes: std::mem::take(&mut self.classes),
        })
    }

    fn tensor(&mut self, v: Value, what: &str) -> Result<TensorEntry, DcpError> {
        let attrs = self.attrs(v, TENSOR_STORAGE, what)?;
        let get = |name: &str| required(&attrs, name, what);
        let dtype = self.properties(get("properties")?, &format!("{what}.properties"))?;
        let size = self.size(get("size")?, &format!("{what}.size"))?;
        let list = get("chunks")?;
        let Some(Object::List(items)) = self.g.object(list) else {
            return Err(self.unexpected(&format!("{what}.chunks"), list, "a list"));
        };
        if items.len() > MAX_CHUNKS {
            return Err(DcpError::schema(what, format!("{} chunks", items.len())));
        }
        let mut chunks = Vec::with_capacity(items.len());
        for (i, &c) in items.iter().enumerate() {
            let cw = format!("{what}.chunks[{i}]");
            let attrs = self.attrs(c, CHUNK, &cw)?;
            let field = |name: &str| {
                attrs
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| *v)
                    .ok_or_else(|| DcpError::schema(&cw, format!("no {name} attribute")))
            };
            let offsets = self.size(field("offsets")?, &format!("{cw}.offsets"))?;
            let sizes = self.size(field("sizes")?, &format!("{cw}.sizes"))?;
            if offsets.len() != size.len() || sizes.len() != size.len() {
                return Err(DcpError::schema(
                    cw,
                    format!(
                        "offsets {offsets:?} and sizes {sizes:?} for a tensor of {} dimensions",
                        size.len()
                    ),
                ));
            }
            chunks.push(Chunk { offsets, sizes });
        }
        Ok(TensorEntry {
            dtype,
            size,
            chunks,
        })
    }

    /// `TensorProperties`: its `__setstate__` takes a 5- or 6-tuple
    /// `(dtype, layout, requires_grad, memory format encoding, pin_memory[,
    /// strides])`; only the dtype is used by the loader, the encoding must
    /// be a member of `_MEM_FORMAT_ENCODING` (else `__setstate__` raises).
    fn properties(&mut self, v: Value, what: &str) -> Result<String, DcpError> {
        let states = self.instance(v, TENSOR_PROPERTIES, what)?;
        let state = states
            .last()
            .copied()
            .ok_or_else(|| DcpError::schema(what, "never filled by BUILD: no dtype"))?;
        let fields = match self.g.tuple(state) {
            Some(f) if f.len() == 5 || f.len() == 6 => f,
            _ => return Err(self.unexpected(what, state, "a 5- or 6-tuple state")),
        };
        let dtype = match self.g.global(fields[0]) {
            Some(d) if d.module == "torch" && !d.name.contains('.') => d.name.to_string(),
            _ => return Err(self.unexpected(&format!("{what}.dtype"), fields[0], "a torch dtype")),
        };
        let encoding = match self.g.opaque(fields[3]).map(|o| &o.origin) {
            Some(Origin::Call {
                kind: CallKind::Reduce,
                callable,
                args,
                ..
            }) if self.g.global(*callable).map(|c| c.qualified()).as_deref()
                == Some(MEM_FORMAT) =>
            {
                self.g.tuple(*args).and_then(|a| match a {
                    [i] => self.g.int(*i),
                    _ => None,
                })
            }
            _ => None,
        };
        if !matches!(encoding, Some(0..=2)) {
            return Err(self.unexpected(
                &format!("{what}.memory_format"),
                fields[3],
                "a _MEM_FORMAT_ENCODING member",
            ));
        }
        self.classes.insert(MEM_FORMAT.to_string());
        Ok(dtype)
    }

    fn planner_data(&mut self, v: Value) -> Result<HashMap<String, Vec<PathKey>>, DcpError> {
        let mut out = HashMap::new();
        for (k, path) in self.dict(v, "planner_data")? {
            let fqn = self.string(k, "a planner_data key")?;
            let what = format!("planner_data[{fqn:?}]");
            let items: &[Value] = match self.g.object(path) {
                Some(Object::Tuple(_)) => self.g.tuple(path).unwrap_or_default(),
                Some(Object::List(l)) => l,
                _ => return Err(self.unexpected(&what, path, "a tuple of keys")),
            };
            if items.is_empty() {
                return Err(DcpError::schema(what, "an empty path"));
            }
            let mut keys = Vec::with_capacity(items.len());
            for &p in items {
                keys.push(match (p.as_small_int(), self.g.object(p)) {
                    (Some(i), _) => PathKey::Int(i),
                    (None, Some(Object::Str(_))) => PathKey::Str(self.string(p, &what)?),
                    _ => return Err(self.unexpected(&what, p, "str and int keys")),
                });
            }
            out.insert(fqn, keys);
        }
        Ok(out)
    }

    fn storage_data(&mut self, v: Value) -> Result<Vec<(ItemKey, Item)>, DcpError> {
        let mut out: Vec<(ItemKey, Item)> = Vec::new();
        let mut at: HashMap<ItemKey, usize> = HashMap::new();
        for (k, i) in self.dict(v, "storage_data")? {
            let key = self.index(k)?;
            let item = self.item(i, &format!("storage_data[{:?}]", key.fqn))?;
            match at.get(&key) {
                Some(&n) => out[n].1 = item,
                None => {
                    at.insert(key.clone(), out.len());
                    out.push((key, item));
                }
            }
        }
        Ok(out)
    }

    /// `MetadataIndex`: `offset` absent from the instance's dict is the
    /// class default, `None`; `index` is not part of the key.
    fn index(&mut self, v: Value) -> Result<ItemKey, DcpError> {
        let attrs = self.attrs(v, INDEX, "a storage_data key")?;
        let get = |name: &str| attrs.iter().find(|(k, _)| k == name).map(|(_, v)| *v);
        let fqn_v =
            get("fqn").ok_or_else(|| DcpError::schema("a storage_data key", "no fqn attribute"))?;
        let fqn = self.string(fqn_v, "a storage_data key's fqn")?;
        let offset = match get("offset") {
            None => None,
            Some(o) if o == Value::NONE => None,
            Some(o) => Some(self.size(o, &format!("storage_data[{fqn:?}].offset"))?),
        };
        Ok(ItemKey { fqn, offset })
    }

    fn item(&mut self, v: Value, what: &str) -> Result<Item, DcpError> {
        let attrs = self.attrs(v, STORAGE_INFO, what)?;
        let get = |name: &str| required(&attrs, name, what);
        let relative_path = self.string(get("relative_path")?, &format!("{what}.relative_path"))?;
        let offset = self.count(get("offset")?, &format!("{what}.offset"))?;
        let length = self.count(get("length")?, &format!("{what}.length"))?;
        let mut transforms = Vec::new();
        if let Ok(t) = get("transform_descriptors") {
            if t != Value::NONE {
                let items: &[Value] = match self.g.object(t) {
                    Some(Object::List(l)) => l,
                    Some(Object::Tuple(_)) => self.g.tuple(t).unwrap_or_default(),
                    _ => return Err(self.unexpected(what, t, "a list of descriptors")),
                };
                for &d in items {
                    transforms.push(self.string(d, &format!("{what}.transform_descriptors"))?);
                }
            }
        }
        Ok(Item {
            relative_path,
            offset,
            length,
            transforms,
        })
    }

    /// The states `BUILD` applied to an instance of `class` made by
    /// `cls.__new__(cls)`, in order.
    fn instance(&mut self, v: Value, class: &str, what: &str) -> Result<Vec<Value>, DcpError> {
        let expected = format!("a {}", class.rsplit('.').next().unwrap_or(class));
        let Some(o) = self.g.opaque(v) else {
            return Err(self.unexpected(what, v, &expected));
        };
        let Origin::Call {
            kind: CallKind::NewObj | CallKind::NewObjEx,
            callable,
            args,
            kwargs,
        } = &o.origin
        else {
            return Err(self.unexpected(what, v, &expected));
        };
        let named = self.g.global(*callable).map(|c| c.qualified());
        let no_args = self.g.tuple(*args).is_some_and(<[Value]>::is_empty)
            && kwargs
                .is_none_or(|k| matches!(self.g.object(k), Some(Object::Dict(d)) if d.is_empty()));
        if named.as_deref() != Some(class) || !no_args {
            return Err(self.unexpected(what, v, &format!("{expected}, made by cls.__new__(cls)")));
        }
        let mut states = Vec::new();
        for m in o.mutations() {
            match m {
                Mutation::SetState { state, .. } => states.push(*state),
                _ => return Err(DcpError::schema(what, "items set or appended on it")),
            }
        }
        self.classes.insert(class.to_string());
        Ok(states)
    }

    /// An instance's attributes after every `BUILD` (no `__setstate__`:
    /// a dict state updates `__dict__`, a `(state, slotstate)` pair also
    /// sets attributes), the last value of a name winning.
    fn attrs(
        &mut self,
        v: Value,
        class: &str,
        what: &str,
    ) -> Result<Vec<(String, Value)>, DcpError> {
        let mut out: Vec<(String, Value)> = Vec::new();
        let mut at: HashMap<String, usize> = HashMap::new();
        for state in self.instance(v, class, what)? {
            let parts: Vec<Value> = match self.g.tuple(state) {
                Some(&[s, slots]) => vec![s, slots],
                _ => vec![state],
            };
            for part in parts {
                if part == Value::NONE {
                    continue;
                }
                for (k, val) in self.dict(part, what)? {
                    let name = self.string(k, &format!("an attribute name of {what}"))?;
                    match at.get(&name) {
                        Some(&n) => out[n].1 = val,
                        None => {
                            at.insert(name.clone(), out.len());
                            out.push((name, val));
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    fn dict(&self, v: Value, what: &str) -> Result<Vec<(Value, Value)>, DcpError> {
        match self.g.object(v) {
            Some(Object::Dict(d)) => Ok(d.entries().to_vec()),
            _ => Err(self.unexpected(what, v, "a dict")),
        }
    }

    /// A `str`, exactly (text that is not valid UTF-8 is refused rather
    /// than replaced: names are compared with each other).
    fn string(&self, v: Value, what: &str) -> Result<String, DcpError> {
        match self.g.object(v) {
            Some(Object::Str(b)) => std::str::from_utf8(b)
                .map(str::to_string)
                .map_err(|_| DcpError::schema(what, "a str with lone surrogates")),
            _ => Err(self.unexpected(what, v, "a str")),
        }
    }

    /// A non-negative int.
    fn count(&self, v: Value, what: &str) -> Result<u64, DcpError> {
        self.g
            .int(v)
            .and_then(|i| u64::try_from(i).ok())
            .ok_or_else(|| self.unexpected(what, v, "a non-negative int"))
    }

    /// `torch.Size(tuple)` (or a plain tuple of non-negative ints).
    fn size(&self, v: Value, what: &str) -> Result<Vec<u64>, DcpError> {
        let tuple = match self.g.opaque(v).map(|o| &o.origin) {
            Some(Origin::Call {
                kind: CallKind::Reduce,
                callable,
                args,
                ..
            }) if self.g.global(*callable).map(|c| c.qualified()).as_deref()
                == Some("torch.Size") =>
            {
                match self.g.tuple(*args) {
                    Some(&[t]) => t,
                    _ => return Err(self.unexpected(what, v, "torch.Size(tuple)")),
                }
            }
            _ => v,
        };
        let items = self
            .g
            .tuple(tuple)
            .ok_or_else(|| self.unexpected(what, v, "a torch.Size"))?;
        items.iter().map(|&i| self.count(i, what)).collect()
    }

    fn unexpected(&self, what: &str, v: Value, expected: &str) -> DcpError {
        let found = match class_of(self.g, v) {
            Some(c) => format!("an instance of {c}"),
            None => self.g.repr(v, 80),
        };
        DcpError::schema(what, format!("{found} where torch's schema has {expected}"))
    }
}

/// Split a `.distcp` file read without its metadata into the `torch.save`
/// ZIPs it concatenates, from its end: the last archive's end-of-central-
/// directory record (and ZIP64 records) give the size and offset of its
/// central directory, relative to where the archive starts, which locates
/// that start, where the archive before it ends. Each must be an archive
/// torch's reader opens. `None` unless the whole file splits into at least
/// two such archives.
pub fn split_shard(src: &dyn Source) -> Option<Vec<(u64, u64)>> {
    let mut items = Vec::new();
    let mut end = src.len();
    while end > 0 {
        if items.len() >= MAX_SPLIT_ITEMS {
            return None;
        }
        let start = zip_start(src, end)?;
        TorchZip::open(&SubSource::new(src, start, end - start)).ok()?;
        items.push((start, end - start));
        end = start;
    }
    items.reverse();
    (items.len() >= 2).then_some(items)
}

/// Where the ZIP archive ending exactly at `end` starts: its
/// end-of-central-directory record is the last one whose comment ends at
/// `end` (miniz searches the last 64 KiB the same way).
fn zip_start(src: &dyn Source, end: u64) -> Option<u64> {
    // torch writes no comment: the record is the last 22 bytes. Otherwise
    // the last 64 KiB are searched.
    let short = EOCD_SIZE.min(end);
    let window = match src.read_vec(end - short, short as usize) {
        Ok(t) if t.len() == EOCD_SIZE as usize && le32(&t, 0) == EOCD_SIG && le16(&t, 20) == 0 => {
            short
        }
        _ => (EOCD_SIZE + u64::from(u16::MAX)).min(end),
    };
    let tail = src.read_vec(end - window, window as usize).ok()?;
    let eocd = (0..=tail.len().checked_sub(EOCD_SIZE as usize)?)
        .rev()
        .find(|&i| {
            le32(&tail, i) == EOCD_SIG
                && i as u64 + EOCD_SIZE + u64::from(le16(&tail, i + 20)) == window
        })?;
    let eocd_pos = end - window + eocd as u64;
    let (mut cd_size, mut cd_offset) = (
        u64::from(le32(&tail, eocd + 12)),
        u64::from(le32(&tail, eocd + 16)),
    );
    // The ZIP64 record, when a locator precedes the record: torch always
    // writes one; its sizes replace the 32-bit ones.
    let mut cd_end = eocd_pos;
    if let Some(loc) = eocd_pos.checked_sub(ZIP64_LOCATOR_SIZE) {
        let locator = src.read_vec(loc, ZIP64_LOCATOR_SIZE as usize).ok()?;
        if le32(&locator, 0) == ZIP64_LOCATOR_SIG {
            let rec = loc.checked_sub(ZIP64_EOCD_SIZE)?;
            let z = src.read_vec(rec, ZIP64_EOCD_SIZE as usize).ok()?;
            if le32(&z, 0) != ZIP64_EOCD_SIG || le64(&z, 4) != ZIP64_EOCD_SIZE - 12 {
                return None;
            }
            (cd_size, cd_offset) = (le64(&z, 40), le64(&z, 48));
            cd_end = rec;
        }
    }
    let start = cd_end.checked_sub(cd_size)?.checked_sub(cd_offset)?;
    let head = src.read_vec(start, 4).ok()?;
    (le32(&head, 0) == LOCAL_SIG && start < end).then_some(start)
}

/// The attribute `name` of `attrs` (from `attrs()`), which the schema
/// requires of `what`.
fn required(attrs: &[(String, Value)], name: &str, what: &str) -> Result<Value, DcpError> {
    attrs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| *v)
        .ok_or_else(|| DcpError::schema(what, format!("no {name} attribute")))
}

#[cfg(test)]
mod tests;
