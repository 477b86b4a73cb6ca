//! safetensors output, planned then streamed.
//!
//! **Names.** The tree is flattened: dict keys (str or int; anything else
//! is refused, naming the dict) and list/tuple indices are joined with dots
//! (`model.layers.0.weight`). Two entries flattening to the same name
//! (`{"a.b": x, "a": {"b": y}}`) are refused. A root that is not a
//! container is named [`SafetensorsOptions::root_name`].
//!
//! **Non-tensor values** (`epoch`, `config`, `None`, ...) go to
//! `__metadata__`, whose values safetensors requires to be strings: one
//! entry per value, keyed by its flattened name, holding the value's JSON
//! text. JSON has no bytes, big ints, non-finite floats and so on, which are
//! written as one-key objects:
//!
//! | value | JSON text |
//! |---|---|
//! | `None`, bool, int (64-bit), finite float, str | `null`, `true`, `3`, `0.5`, `"text"` |
//! | list, tuple (in a set), empty list or tuple | `[...]` |
//! | empty dict | `{}` |
//! | int beyond 64 bits | `{"__int__": "123..."}` |
//! | nan, inf, -inf | `{"__float__": "nan"}` |
//! | complex | `{"__complex__": [re, im]}` |
//! | bytes | `{"__bytes__": "<hex>"}` |
//! | bytearray | `{"__bytearray__": "<hex>"}` |
//! | set | `{"__set__": [...]}` |
//! | dict inside a set (Python has none) | `{"__dict__": [[key, value], ...]}` |
//! | `torch.dtype`, `torch.device`, `torch.Size` | `{"__dtype__": "torch.float16"}`, `{"__device__": "cuda:0"}`, `{"__size__": [2, 3]}` |
//!
//! The entries together (keys and values, plus
//! [`SafetensorsOptions::extra_metadata`]) are limited to
//! [`SafetensorsOptions::metadata_limit`] bytes: over it the plan fails, or,
//! with [`MetadataOverflow::Drop`], the values that do not fit are left out
//! and recorded as transformations.
//!
//! **Module attributes.** A pickled `nn.Module` is rebuilt as its state
//! dict; the attributes of it that are data (an Ultralytics model's
//! `names`, `yaml`, `stride`, `args`; [`Rebuilt::module_attributes`]) are
//! written under `__attributes__.<module path>.<attribute>` (`<module path>`
//! empty for a root module), tensors as tensors and the rest as metadata,
//! so that selecting the state dict by its prefix (`model.`) never picks
//! them up.
//!
//! **Tensors.** Dtypes without a safetensors name that `safetensors.torch`
//! loads back are refused, naming the tensor: complex128, complex32, and
//! float8_e8m0fnu (the library writes `F8_E8M0`, but its torch loader has
//! no mapping back). safetensors cannot
//! alias: tensors sharing a storage, and one tensor under two names, are
//! written as independent copies and recorded as transformations.
//! Non-contiguous views are gathered into C order.
//!
//! **Layout**, as the `safetensors` library writes it: 8-byte little-endian
//! header length, compact JSON (`__metadata__` first, its keys sorted, then
//! the tensors in data order), padded with spaces to a multiple of 8, then
//! the data, tensors ordered by dtype (widest first, in the library's dtype
//! order) then name, so that every tensor starts aligned to its element
//! size.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;

use serde_json::{Value, json};

use super::gather::{Buffers, View, check_view, copy_view};
use super::{MAX_DEPTH, StorageBytes, WriteError, py_type};
use crate::model::{Node, Rebuilt, Transformation};

/// Where the data attributes of modules replaced by their state dicts go:
/// `__attributes__.<module path>.<attribute>`, apart from the state dict's
/// names.
pub const MODULE_ATTRIBUTES: &str = "__attributes__";

/// Largest header the safetensors library reads.
pub use airlock_formats::safetensors::MAX_HEADER;

/// What to do with non-tensor values over the metadata limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MetadataOverflow {
    /// Refuse to plan.
    #[default]
    Error,
    /// Leave out each value that does not fit (in tree order), recording
    /// a transformation for it.
    Drop,
}

/// Options of [`plan`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SafetensorsOptions {
    /// Limit on `__metadata__`, keys and values, in bytes (default 1 MiB).
    pub metadata_limit: u64,
    /// What to do over the limit.
    pub overflow: MetadataOverflow,
    /// Name of a root that is a single tensor or value (default `tensor`).
    pub root_name: String,
    /// Entries added to `__metadata__` as they are (default
    /// `format = pt`, which `transformers` requires to load the file).
    pub extra_metadata: Vec<(String, String)>,
    /// Output buffer size in bytes (default 8 MiB).
    pub buffer_bytes: usize,
    /// Storage window a non-contiguous view is gathered from, in bytes
    /// (default 64 MiB): a view spanning more is gathered in several
    /// passes over its storage, one per output buffer.
    pub gather_window_bytes: usize,
}

impl Default for SafetensorsOptions {
    fn default() -> Self {
        SafetensorsOptions {
            metadata_limit: 1 << 20,
            overflow: MetadataOverflow::Error,
            root_name: "tensor".into(),
            extra_metadata: vec![("format".into(), "pt".into())],
            buffer_bytes: 8 << 20,
            gather_window_bytes: 64 << 20,
        }
    }
}

/// One tensor of a plan, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedTensor {
    /// Its flattened name.
    pub name: String,
    /// Index into [`Rebuilt::tensors`].
    pub tensor: usize,
    /// Its safetensors dtype (`F32`).
    pub dtype: &'static str,
    /// Its shape.
    pub shape: Vec<u64>,
    /// Start and end of its bytes in the data buffer.
    pub offsets: (u64, u64),
    view: View,
    storage_key: String,
}

/// Everything [`write`](fn@write) needs: the header, and where each tensor's bytes
/// come from. Planning checks everything that can be refused, so that
/// writing can only fail on I/O.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SafetensorsPlan {
    tensors: Vec<PlannedTensor>,
    metadata: BTreeMap<String, String>,
    header: Vec<u8>,
    data_len: u64,
    transformations: Vec<Transformation>,
    buffers: Buffers,
}

impl SafetensorsPlan {
    /// The tensors in file order.
    pub fn tensors(&self) -> &[PlannedTensor] {
        &self.tensors
    }

    /// `__metadata__`.
    pub fn metadata(&self) -> &BTreeMap<String, String> {
        &self.metadata
    }

    /// What the plan changes: copies of shared storages, dropped values,
    /// the root's name (the rebuild's own changes are in
    /// [`Rebuilt::transformations`]).
    pub fn transformations(&self) -> &[Transformation] {
        &self.transformations
    }

    /// The header's length (JSON and padding), as the file's first 8 bytes
    /// give it.
    pub fn header_len(&self) -> u64 {
        self.header.len() as u64
    }

    /// The file's length.
    pub fn file_len(&self) -> u64 {
        8 + self.header.len() as u64 + self.data_len
    }
}

/// The tree's entries, flattened.
#[derive(Default)]
struct Flat {
    tensors: Vec<(String, usize)>,
    leaves: Vec<(String, String)>,
    names: HashSet<String>,
}

impl Flat {
    fn claim(&mut self, name: &str) -> Result<(), WriteError> {
        if !self.names.insert(name.to_string()) {
            return Err(WriteError::DuplicateName {
                name: name.to_string(),
            });
        }
        Ok(())
    }
}

/// Plan the safetensors file for `rebuilt`: names, dtypes, offsets,
/// metadata and header; refuses what safetensors cannot hold.
pub fn plan(
    rebuilt: &Rebuilt,
    options: &SafetensorsOptions,
) -> Result<SafetensorsPlan, WriteError> {
    let mut flat = Flat::default();
    let mut transformations = Vec::new();
    match &rebuilt.root {
        Node::Dict(p) | Node::OrderedDict(p) | Node::Counter(p) if !p.is_empty() => {
            flatten(&rebuilt.root, "", 0, &mut flat)?
        }
        Node::List(i) | Node::Tuple(i) if !i.is_empty() => {
            flatten(&rebuilt.root, "", 0, &mut flat)?
        }
        Node::Dict(_)
        | Node::OrderedDict(_)
        | Node::Counter(_)
        | Node::List(_)
        | Node::Tuple(_) => {}
        other => {
            transformations.push(Transformation {
                path: options.root_name.clone(),
                what: format!(
                    "the checkpoint is a single {}; named {:?}",
                    py_type(other),
                    options.root_name
                ),
            });
            flatten(other, &options.root_name, 0, &mut flat)?
        }
    }

    for (path, attrs) in &rebuilt.module_attributes {
        let dict = Node::Dict(
            attrs
                .iter()
                .map(|(k, v)| (Node::Str(k.clone()), v.clone()))
                .collect(),
        );
        let name = match path.as_str() {
            "" => MODULE_ATTRIBUTES.to_string(),
            path => format!("{MODULE_ATTRIBUTES}.{path}"),
        };
        flatten(&dict, &name, 1, &mut flat)?;
    }

    // Tensors: dtype, view, sharing.
    let mut planned = Vec::with_capacity(flat.tensors.len());
    let mut first_of_tensor: HashMap<usize, &str> = HashMap::new();
    let mut first_of_storage: HashMap<usize, &str> = HashMap::new();
    for (name, index) in &flat.tensors {
        if name == "__metadata__" {
            return Err(WriteError::ReservedName { name: name.clone() });
        }
        let t = rebuilt
            .tensors
            .get(*index)
            .ok_or_else(|| WriteError::InvalidTensor {
                name: name.clone(),
                detail: format!(
                    "refers to tensor {index}, but the checkpoint has {}",
                    rebuilt.tensors.len()
                ),
            })?;
        let dtype = t
            .dtype
            .safetensors_name()
            .ok_or(WriteError::UnsupportedDtype {
                name: name.clone(),
                dtype: t.dtype,
                format: "safetensors",
            })?;
        let view = check_view(t, &rebuilt.storages, &|| name.clone())?;
        if let Some(first) = first_of_tensor.get(index) {
            transformations.push(Transformation {
                path: name.clone(),
                what: format!(
                    "the same tensor as {first}; written again as an independent copy \
                     (safetensors cannot alias)"
                ),
            });
        } else if let Some(first) = first_of_storage.get(&t.storage) {
            transformations.push(Transformation {
                path: name.clone(),
                what: format!(
                    "shares its storage with {first}; written as an independent copy \
                     (safetensors cannot alias)"
                ),
            });
        }
        first_of_tensor.entry(*index).or_insert(name);
        first_of_storage.entry(t.storage).or_insert(name);
        planned.push(PlannedTensor {
            name: name.clone(),
            tensor: *index,
            dtype,
            shape: t.shape.clone(),
            offsets: (0, view.nbytes),
            storage_key: rebuilt.storages[t.storage].key.clone(),
            view,
        });
    }
    planned.sort_by(|a, b| {
        dtype_rank(b.dtype)
            .cmp(&dtype_rank(a.dtype))
            .then_with(|| a.name.cmp(&b.name))
    });
    let mut at = 0u64;
    for p in &mut planned {
        let n = p.offsets.1;
        let end = at.checked_add(n).ok_or_else(|| WriteError::InvalidTensor {
            name: p.name.clone(),
            detail: "the tensors' total size overflows 64 bits".into(),
        })?;
        p.offsets = (at, end);
        at = end;
    }

    let metadata = metadata(flat.leaves, options, &mut transformations)?;
    let header = header(&planned, &metadata)?;
    Ok(SafetensorsPlan {
        tensors: planned,
        metadata,
        header,
        data_len: at,
        transformations,
        buffers: Buffers {
            chunk: options.buffer_bytes.max(1),
            window: options.gather_window_bytes.max(1),
        },
    })
}

/// Stream the planned file to `out`: header, then each tensor's bytes in C
/// order. Returns the bytes written ([`SafetensorsPlan::file_len`]).
pub fn write(
    plan: &SafetensorsPlan,
    src: &dyn StorageBytes,
    out: &mut dyn Write,
) -> Result<u64, WriteError> {
    out.write_all(&(plan.header.len() as u64).to_le_bytes())
        .map_err(WriteError::Output)?;
    out.write_all(&plan.header).map_err(WriteError::Output)?;
    let mut total = 8 + plan.header.len() as u64;
    for t in &plan.tensors {
        total += copy_view(&t.view, src, &t.storage_key, out, plan.buffers)?;
    }
    out.flush().map_err(WriteError::Output)?;
    Ok(total)
}

/// [`write`](fn@write) to a file: contiguous tensors whose storage lies in
/// one file ([`StorageBytes::file_range`]) are copied file to file by the
/// kernel (`copy_file_range`, through `std::io::copy`), the others through
/// the buffer. While the copy goes on, a helper thread asks the kernel to
/// write the copied pages to disk ([`Writeback`]), so the caller's final
/// fsync finds little left to do. Returns the bytes written.
pub fn write_file(
    plan: &SafetensorsPlan,
    src: &dyn StorageBytes,
    out: &std::fs::File,
) -> Result<u64, WriteError> {
    std::thread::scope(|scope| {
        let writeback = Writeback::start(scope, out);
        write_file_with(plan, src, out, &writeback)
    })
}

fn write_file_with(
    plan: &SafetensorsPlan,
    src: &dyn StorageBytes,
    out: &std::fs::File,
    writeback: &Writeback,
) -> Result<u64, WriteError> {
    use std::io::{Read, Seek, SeekFrom};
    let mut w = std::io::BufWriter::with_capacity(plan.buffers.chunk.max(1 << 16), out);
    w.write_all(&(plan.header.len() as u64).to_le_bytes())
        .map_err(WriteError::Output)?;
    w.write_all(&plan.header).map_err(WriteError::Output)?;
    let mut total = 8 + plan.header.len() as u64;
    for t in &plan.tensors {
        let direct = if t.view.nbytes > 0 && t.view.is_c_contiguous() {
            src.file_range(t.view.storage)
        } else {
            None
        };
        match direct {
            Some((file, base)) => {
                w.flush().map_err(WriteError::Output)?;
                let storage_err = |source| WriteError::Storage {
                    index: t.view.storage,
                    key: t.storage_key.clone(),
                    source,
                };
                let mut input = file;
                input
                    .seek(SeekFrom::Start(base + t.view.start))
                    .map_err(storage_err)?;
                let mut output: &std::fs::File = w.get_ref();
                let mut left = t.view.nbytes;
                while left > 0 {
                    let piece = left.min(WRITEBACK_STEP);
                    let n = std::io::copy(&mut (&mut input).take(piece), &mut output)
                        .map_err(WriteError::Output)?;
                    if n != piece {
                        return Err(storage_err(std::io::Error::new(
                            std::io::ErrorKind::UnexpectedEof,
                            format!(
                                "{} of {} bytes: the input ends early",
                                t.view.nbytes - left + n,
                                t.view.nbytes
                            ),
                        )));
                    }
                    left -= n;
                    total += n;
                    super::progress::add(n);
                    writeback.kick();
                }
            }
            None => {
                total += copy_view(&t.view, src, &t.storage_key, &mut w, plan.buffers)?;
                writeback.kick();
            }
        }
    }
    w.flush().map_err(WriteError::Output)?;
    Ok(total)
}

/// Bytes copied between two writeback requests.
const WRITEBACK_STEP: u64 = 64 << 20;

/// Early writeback: a thread that runs `fdatasync` on the output whenever
/// the writer has copied another [`WRITEBACK_STEP`] bytes and the previous
/// sync is over. The copy fills the page cache at memory speed while the
/// disk writes what came before, instead of the whole file being written
/// by one fsync at the end. Errors are ignored here: the caller's final
/// fsync reports them. Requests made while a sync runs are merged; dropping
/// the sender ends the thread after its current sync.
struct Writeback {
    tx: Option<std::sync::mpsc::SyncSender<()>>,
}

impl Writeback {
    fn start<'scope>(
        scope: &'scope std::thread::Scope<'scope, '_>,
        out: &std::fs::File,
    ) -> Writeback {
        let Ok(file) = out.try_clone() else {
            return Writeback { tx: None };
        };
        let (tx, rx) = std::sync::mpsc::sync_channel::<()>(1);
        scope.spawn(move || {
            while rx.recv().is_ok() {
                let _ = file.sync_data();
            }
        });
        Writeback { tx: Some(tx) }
    }

    fn kick(&self) {
        if let Some(tx) = &self.tx {
            let _ = tx.try_send(());
        }
    }
}

fn join(prefix: &str, seg: &str, root: bool) -> String {
    if root {
        seg.to_string()
    } else {
        format!("{prefix}.{seg}")
    }
}

/// Flatten `n`, named `name` (`""` with `depth == 0` for a container root).
fn flatten(n: &Node, name: &str, depth: usize, flat: &mut Flat) -> Result<(), WriteError> {
    if depth > MAX_DEPTH {
        return Err(WriteError::TooDeep {
            path: name.to_string(),
            limit: MAX_DEPTH,
        });
    }
    let root = depth == 0 && name.is_empty();
    match n {
        Node::Dict(pairs) | Node::OrderedDict(pairs) | Node::Counter(pairs)
            if !pairs.is_empty() =>
        {
            for (k, v) in pairs {
                let seg = match k {
                    Node::Str(s) => s.clone(),
                    Node::Int(i) => i.to_string(),
                    Node::BigInt(i) => i.to_string(),
                    other => {
                        return Err(WriteError::KeyType {
                            path: if root {
                                "<root>".into()
                            } else {
                                name.to_string()
                            },
                            kind: py_type(other),
                        });
                    }
                };
                flatten(v, &join(name, &seg, root), depth + 1, flat)?;
            }
        }
        Node::List(items) | Node::Tuple(items) if !items.is_empty() => {
            for (i, v) in items.iter().enumerate() {
                flatten(v, &join(name, &i.to_string(), root), depth + 1, flat)?;
            }
        }
        Node::Tensor(i) => {
            flat.claim(name)?;
            flat.tensors.push((name.to_string(), *i));
        }
        leaf => {
            flat.claim(name)?;
            let v = leaf_json(leaf, depth).map_err(|detail| WriteError::Unrepresentable {
                path: name.to_string(),
                detail,
            })?;
            flat.leaves.push((name.to_string(), v.to_string()));
        }
    }
    Ok(())
}

/// A non-tensor value as JSON (see the module documentation).
fn leaf_json(n: &Node, depth: usize) -> Result<Value, String> {
    if depth > MAX_DEPTH {
        return Err(format!("nested deeper than {MAX_DEPTH} levels"));
    }
    let items = |v: &[Node]| -> Result<Vec<Value>, String> {
        v.iter().map(|x| leaf_json(x, depth + 1)).collect()
    };
    Ok(match n {
        Node::None => Value::Null,
        Node::Bool(b) => Value::Bool(*b),
        Node::Int(i) => json!(i),
        Node::BigInt(b) => match i64::try_from(b) {
            Ok(i) => json!(i),
            Err(_) => json!({ "__int__": b.to_string() }),
        },
        Node::Float(f) => float_json(*f),
        Node::Complex(re, im) => json!({ "__complex__": [float_json(*re), float_json(*im)] }),
        Node::Str(s) => Value::String(s.clone()),
        Node::Layout(s) => json!({ "__layout__": s }),
        Node::Bytes(b) => json!({ "__bytes__": hex(b) }),
        Node::ByteArray(b) => json!({ "__bytearray__": hex(b) }),
        Node::List(v) | Node::Tuple(v) => Value::Array(items(v)?),
        Node::Set(v) => json!({ "__set__": items(v)? }),
        Node::Dict(p) | Node::OrderedDict(p) | Node::Counter(p) => {
            // Only an empty dict reaches here from the flattening; inside a
            // set (where Python has none) keep the pairs in order.
            if p.is_empty() {
                json!({})
            } else {
                let pairs: Result<Vec<Value>, String> = p
                    .iter()
                    .map(|(k, v)| Ok(json!([leaf_json(k, depth + 1)?, leaf_json(v, depth + 1)?])))
                    .collect();
                json!({ "__dict__": pairs? })
            }
        }
        Node::Tensor(_) => {
            return Err("a tensor inside a set cannot be written to safetensors".into());
        }
        Node::TorchDtype(d) => json!({ "__dtype__": d }),
        Node::Device(d) => json!({ "__device__": d }),
        Node::Size(s) => json!({ "__size__": s }),
        Node::NpArray {
            dtype,
            shape,
            items: v,
        } => json!({ "__ndarray__": { "dtype": dtype, "shape": shape, "items": items(v)? } }),
        Node::Attributes(..) => {
            return Err(format!(
                "a {} with attributes (a state dict's _metadata) cannot be written to safetensors",
                n.type_name()
            ));
        }
        Node::QScheme(_)
        | Node::Storage(_)
        | Node::TorchCall(_)
        | Node::Shared(..)
        | Node::Ref(_) => {
            return Err(format!(
                "a {} only torch can hold cannot be written to safetensors",
                n.type_name()
            ));
        }
    })
}

fn float_json(f: f64) -> Value {
    match serde_json::Number::from_f64(f) {
        Some(n) => Value::Number(n),
        None if f.is_nan() => json!({ "__float__": "nan" }),
        None if f > 0.0 => json!({ "__float__": "inf" }),
        None => json!({ "__float__": "-inf" }),
    }
}

fn hex(b: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(b.len() * 2);
    for &c in b {
        s.push(char::from(DIGITS[usize::from(c >> 4)]));
        s.push(char::from(DIGITS[usize::from(c & 15)]));
    }
    s
}

/// `__metadata__` within the limit.
fn metadata(
    leaves: Vec<(String, String)>,
    options: &SafetensorsOptions,
    transformations: &mut Vec<Transformation>,
) -> Result<BTreeMap<String, String>, WriteError> {
    let mut map = BTreeMap::new();
    let mut used = 0u64;
    for (k, v) in &options.extra_metadata {
        used += (k.len() + v.len()) as u64;
        map.insert(k.clone(), v.clone());
    }
    let total: u64 = used
        + leaves
            .iter()
            .map(|(k, v)| (k.len() + v.len()) as u64)
            .sum::<u64>();
    if total > options.metadata_limit && options.overflow == MetadataOverflow::Error
        || used > options.metadata_limit
    {
        let (largest, largest_size) = leaves
            .iter()
            .map(|(k, v)| (k.clone(), (k.len() + v.len()) as u64))
            .max_by_key(|e| e.1)
            .unwrap_or_else(|| ("the extra metadata".into(), used));
        return Err(WriteError::MetadataTooLarge {
            size: total,
            limit: options.metadata_limit,
            largest,
            largest_size,
        });
    }
    for (k, v) in leaves {
        if let Some(entry) = map.get(&k) {
            // safetensors' own entries (`format = pt`, which transformers
            // reads) win; the checkpoint's value is reported, not lost
            // silently.
            let what = format!(
                "non-tensor value {v} left out of the metadata: {k:?} is the file's own entry \
                 ({k} = {entry}), which loaders read"
            );
            transformations.push(Transformation { path: k, what });
            continue;
        }
        let size = (k.len() + v.len()) as u64;
        if used + size > options.metadata_limit {
            transformations.push(Transformation {
                path: k,
                what: format!(
                    "non-tensor value left out: its {size} bytes of metadata are over the \
                     {}-byte limit",
                    options.metadata_limit
                ),
            });
            continue;
        }
        used += size;
        map.insert(k, v);
    }
    Ok(map)
}

/// The safetensors library's dtype order (its `Dtype` enum): tensors are
/// laid out from the highest rank down.
fn dtype_rank(name: &str) -> u8 {
    const ORDER: &[&str] = &[
        "BOOL",
        "U8",
        "I8",
        "F8_E5M2",
        "F8_E4M3",
        "F8_E4M3FNUZ",
        "F8_E5M2FNUZ",
        "I16",
        "U16",
        "F16",
        "BF16",
        "I32",
        "U32",
        "F32",
        "C64",
        "F64",
        "I64",
        "U64",
    ];
    ORDER.iter().position(|&d| d == name).unwrap_or(0) as u8
}

/// The JSON header, padded with spaces to a multiple of 8.
fn header(
    tensors: &[PlannedTensor],
    metadata: &BTreeMap<String, String>,
) -> Result<Vec<u8>, WriteError> {
    let mut parts: Vec<String> = Vec::with_capacity(tensors.len() + 1);
    if !metadata.is_empty() {
        parts.push(format!("\"__metadata__\":{}", enc(metadata)));
    }
    for t in tensors {
        parts.push(format!(
            "{}:{{\"dtype\":\"{}\",\"shape\":{},\"data_offsets\":[{},{}]}}",
            enc(t.name.as_str()),
            t.dtype,
            enc(&t.shape),
            t.offsets.0,
            t.offsets.1
        ));
    }
    let mut h = format!("{{{}}}", parts.join(",")).into_bytes();
    h.resize(h.len().div_ceil(8) * 8, b' ');
    if h.len() as u64 > MAX_HEADER {
        return Err(WriteError::HeaderTooLarge {
            size: h.len() as u64,
            limit: MAX_HEADER,
        });
    }
    Ok(h)
}

/// Compact JSON of what the header holds (strings, string maps, integer
/// lists: they always serialize).
fn enc<T: serde::Serialize + ?Sized>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::Dtype;
    use crate::model::{StorageInfo, TensorInfo};
    use crate::write::MemStorages;
    use airlock_formats::MemSource;
    use num_bigint::BigInt;

    fn s(k: &str) -> Node {
        Node::Str(k.into())
    }

    fn f32_tensor(storage: usize, offset: u64, shape: &[u64], stride: &[u64]) -> TensorInfo {
        TensorInfo {
            storage,
            dtype: Dtype::F32,
            offset,
            shape: shape.to_vec(),
            stride: stride.to_vec(),
            requires_grad: false,
            parameter: false,
        }
    }

    fn f32_storage(key: &str, numel: u64) -> StorageInfo {
        StorageInfo {
            key: key.into(),
            dtype: Dtype::F32,
            numel,
            location: "cpu".into(),
            inline: None,
        }
    }

    fn write_all(
        r: &Rebuilt,
        src: &MemStorages,
        o: &SafetensorsOptions,
    ) -> (SafetensorsPlan, Vec<u8>) {
        let p = plan(r, o).unwrap();
        let mut out = Vec::new();
        let n = write(&p, src, &mut out).unwrap();
        assert_eq!(n, p.file_len());
        assert_eq!(n as usize, out.len());
        let h = airlock_formats::safetensors::read_header(&MemSource::new(&out)).unwrap();
        assert_eq!(h.header_len, p.header_len());
        (p, out)
    }

    #[test]
    fn nested_containers_flatten_to_dotted_names() {
        let r = Rebuilt {
            root: Node::Dict(vec![
                (
                    s("model"),
                    Node::OrderedDict(vec![(
                        s("layers"),
                        Node::List(vec![Node::Dict(vec![(s("weight"), Node::Tensor(0))])]),
                    )]),
                ),
                (s("pair"), Node::Tuple(vec![Node::Tensor(1), Node::Int(7)])),
                (Node::Int(3), Node::Tensor(2)),
            ]),
            tensors: vec![
                f32_tensor(0, 0, &[2], &[1]),
                f32_tensor(0, 1, &[], &[]),
                f32_tensor(0, 0, &[1], &[1]),
            ],
            storages: vec![f32_storage("0", 2)],
            transformations: vec![],
            foreign: Default::default(),
            objects: Default::default(),
            module_attributes: Vec::new(),
        };
        let src = MemStorages::new(vec![vec![1, 2, 3, 4, 5, 6, 7, 8]]);
        let (p, out) = write_all(&r, &src, &SafetensorsOptions::default());
        let names: Vec<&str> = p.tensors().iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["3", "model.layers.0.weight", "pair.0"]);
        assert_eq!(p.metadata().get("pair.1").map(String::as_str), Some("7"));
        assert_eq!(p.metadata().get("format").map(String::as_str), Some("pt"));
        // Two of the three share the first one's storage.
        assert_eq!(p.transformations().len(), 2);
        let data = &out[8 + p.header_len() as usize..];
        assert_eq!(data, [1, 2, 3, 4, 1, 2, 3, 4, 5, 6, 7, 8, 5, 6, 7, 8]);
    }

    #[test]
    fn keys_that_are_not_str_or_int_are_refused_by_path() {
        let r = Rebuilt {
            root: Node::Dict(vec![(
                s("opt"),
                Node::Dict(vec![(Node::Tuple(vec![]), Node::None)]),
            )]),
            ..Default::default()
        };
        let e = plan(&r, &SafetensorsOptions::default()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "opt: a dict key of type tuple cannot name a tensor (keys must be str or int)"
        );
    }

    #[test]
    fn colliding_and_reserved_names_are_refused() {
        let r = Rebuilt {
            root: Node::Dict(vec![
                (s("a.b"), Node::Int(1)),
                (s("a"), Node::Dict(vec![(s("b"), Node::Int(2))])),
            ]),
            ..Default::default()
        };
        assert!(matches!(
            plan(&r, &SafetensorsOptions::default()),
            Err(WriteError::DuplicateName { name }) if name == "a.b"
        ));
        let r = Rebuilt {
            root: Node::Dict(vec![(s("__metadata__"), Node::Tensor(0))]),
            tensors: vec![f32_tensor(0, 0, &[1], &[1])],
            storages: vec![f32_storage("0", 1)],
            transformations: vec![],
            foreign: Default::default(),
            objects: Default::default(),
            module_attributes: Vec::new(),
        };
        assert!(matches!(
            plan(&r, &SafetensorsOptions::default()),
            Err(WriteError::ReservedName { .. })
        ));
        // A checkpoint value named like the file's own entry: the entry
        // stays (loaders read it), the value is reported as left out.
        let r = Rebuilt {
            root: Node::Dict(vec![(s("format"), s("state_dict"))]),
            ..Default::default()
        };
        let p = plan(&r, &SafetensorsOptions::default()).unwrap();
        assert_eq!(p.metadata().get("format").map(String::as_str), Some("pt"));
        assert!(
            p.transformations()
                .iter()
                .any(|t| t.path == "format" && t.what.contains("state_dict")),
            "{:?}",
            p.transformations()
        );
    }

    #[test]
    fn dtypes_without_a_safetensors_name_are_refused_by_name() {
        for dtype in [Dtype::C128, Dtype::C32, Dtype::F8E8M0Fnu] {
            assert!(dtype.safetensors_name().is_none());
            let r = Rebuilt {
                root: Node::Dict(vec![(s("w"), Node::Tensor(0))]),
                tensors: vec![TensorInfo {
                    dtype,
                    ..f32_tensor(0, 0, &[1], &[1])
                }],
                storages: vec![StorageInfo {
                    dtype,
                    ..f32_storage("0", 1)
                }],
                transformations: vec![],
                foreign: Default::default(),
                objects: Default::default(),
                module_attributes: Vec::new(),
            };
            let e = plan(&r, &SafetensorsOptions::default()).unwrap_err();
            assert_eq!(
                e.to_string(),
                format!("tensor w: safetensors has no dtype for {dtype}")
            );
        }
    }

    #[test]
    fn leaves_are_json_and_the_limit_holds() {
        let big: BigInt = BigInt::from(1) << 100;
        let r = Rebuilt {
            root: Node::Dict(vec![
                (s("none"), Node::None),
                (s("nan"), Node::Float(f64::NAN)),
                (s("half"), Node::Float(0.5)),
                (s("bytes"), Node::Bytes(vec![0, 255])),
                (s("big"), Node::BigInt(big.clone())),
                (s("neg"), Node::BigInt(-big)),
                (s("z"), Node::Complex(1.0, f64::NEG_INFINITY)),
                (
                    s("set"),
                    Node::Set(vec![Node::Tuple(vec![Node::Int(1), s("x")])]),
                ),
                (s("dt"), Node::TorchDtype("torch.bfloat16".into())),
                (s("dev"), Node::Device("cuda:1".into())),
                (s("size"), Node::Size(vec![2, 3])),
                (s("empty"), Node::List(vec![])),
                (s("emptyd"), Node::Dict(vec![])),
                (s("text"), s("é\"")),
            ]),
            ..Default::default()
        };
        let (p, _) = write_all(&r, &MemStorages::default(), &SafetensorsOptions::default());
        let m = p.metadata();
        let want = [
            ("none", "null"),
            ("nan", r#"{"__float__":"nan"}"#),
            ("half", "0.5"),
            ("bytes", r#"{"__bytes__":"00ff"}"#),
            ("big", r#"{"__int__":"1267650600228229401496703205376"}"#),
            ("neg", r#"{"__int__":"-1267650600228229401496703205376"}"#),
            ("z", r#"{"__complex__":[1.0,{"__float__":"-inf"}]}"#),
            ("set", r#"{"__set__":[[1,"x"]]}"#),
            ("dt", r#"{"__dtype__":"torch.bfloat16"}"#),
            ("dev", r#"{"__device__":"cuda:1"}"#),
            ("size", r#"{"__size__":[2,3]}"#),
            ("empty", "[]"),
            ("emptyd", "{}"),
            ("text", "\"é\\\"\""),
        ];
        for (k, v) in want {
            assert_eq!(m.get(k).map(String::as_str), Some(v), "{k}");
        }

        let tight = SafetensorsOptions {
            metadata_limit: 40,
            ..Default::default()
        };
        let e = plan(&r, &tight).unwrap_err();
        assert!(
            e.to_string()
                .contains("over the 40-byte limit (largest: neg, 49 bytes)"),
            "{e}"
        );
        let dropping = SafetensorsOptions {
            overflow: MetadataOverflow::Drop,
            ..tight
        };
        let p = plan(&r, &dropping).unwrap();
        let used: usize = p.metadata().iter().map(|(k, v)| k.len() + v.len()).sum();
        assert!(used <= 40);
        assert_eq!(p.metadata().len() - 1 + p.transformations().len(), 14);
        assert!(p.transformations().iter().any(|t| t.path == "z"));
    }

    #[test]
    fn a_single_tensor_root_is_named() {
        let r = Rebuilt {
            root: Node::Tensor(0),
            tensors: vec![f32_tensor(0, 0, &[1], &[1])],
            storages: vec![f32_storage("0", 1)],
            transformations: vec![],
            foreign: Default::default(),
            objects: Default::default(),
            module_attributes: Vec::new(),
        };
        let (p, _) = write_all(
            &r,
            &MemStorages::new(vec![vec![0; 4]]),
            &SafetensorsOptions::default(),
        );
        assert_eq!(p.tensors()[0].name, "tensor");
        assert_eq!(p.transformations().len(), 1);
    }

    #[test]
    fn tensors_are_laid_out_widest_dtype_first_and_aligned() {
        let dtypes = [
            Dtype::U8,
            Dtype::F64,
            Dtype::BF16,
            Dtype::I32,
            Dtype::Bool,
            Dtype::U64,
        ];
        let r = Rebuilt {
            root: Node::List((0..dtypes.len()).map(Node::Tensor).collect()),
            tensors: dtypes
                .iter()
                .enumerate()
                .map(|(i, &dtype)| TensorInfo {
                    storage: i,
                    dtype,
                    ..f32_tensor(0, 0, &[3], &[1])
                })
                .collect(),
            storages: dtypes
                .iter()
                .map(|&dtype| StorageInfo {
                    dtype,
                    ..f32_storage("0", 3)
                })
                .collect(),
            transformations: vec![],
            foreign: Default::default(),
            objects: Default::default(),
            module_attributes: Vec::new(),
        };
        let src = MemStorages::new(
            dtypes
                .iter()
                .map(|d| vec![1; 3 * d.size() as usize])
                .collect(),
        );
        let (p, _) = write_all(&r, &src, &SafetensorsOptions::default());
        let order: Vec<&str> = p.tensors().iter().map(|t| t.dtype).collect();
        assert_eq!(order, ["U64", "F64", "I32", "BF16", "U8", "BOOL"]);
        assert_eq!(p.header_len() % 8, 0);
        for t in p.tensors() {
            let size = airlock_formats::safetensors::dtype_bits(t.dtype).unwrap() / 8;
            assert_eq!(t.offsets.0 % size, 0);
        }
    }
}
