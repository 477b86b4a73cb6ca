//! Rebuild a checkpoint's object graph as data, running nothing.
//!
//! [`rebuild`] walks the object graph [`airlock_pickle`] left for one pickle
//! of a stream and turns it into a [`Rebuilt`]: a tree of plain values whose
//! leaves may be tensors, the tensors as strided views into storages, and
//! the storages as references to the checkpoint's records. Every call,
//! import and persistent load of the graph is *interpreted* from an
//! allowlist of what real loaders do for it; nothing is imported or run, and
//! anything not on the allowlist is refused with an error that names it and
//! where it sits in the tree (`model.optimizer: class
//! torch.optim.adam.Adam is not rebuilt as data`).
//!
//! # What is rebuilt
//!
//! **Tensors**, as `torch.load(weights_only=False)` rebuilds them:
//!
//! - `torch._utils._rebuild_tensor_v2`, `_rebuild_tensor` and
//!   `_rebuild_tensor_v3` (dtype given, `UntypedStorage`); the optional
//!   metadata argument may only carry unset bits;
//! - `torch._utils._rebuild_parameter` and `_rebuild_parameter_with_state`
//!   (the Python attributes are dropped and recorded as a transformation);
//! - `torch._tensor._rebuild_from_type_v2` when the type is `torch.Tensor`
//!   or `torch.nn.parameter.Parameter` (attributes dropped likewise);
//! - the legacy `torch.FloatTensor()`-style classes (`torch.Tensor` too) and
//!   `torch.nn.parameter.Parameter(data, requires_grad)`, with `BUILD`
//!   applying `Tensor.__setstate__` (`set_(storage, offset, size, stride)`,
//!   the 5-tuple `Variable` state, the 3-tuple `requires_grad` state);
//! - storages from persistent ids: [`StorageLayout::Zip`] reads
//!   `('storage', storage_type, key, location, numel)` (record
//!   `data/<key>`, `UntypedStorage` counted in bytes) and
//!   [`StorageLayout::Legacy`] reads `('storage', storage_type, root_key,
//!   location, numel, view_metadata)` (views become the root storage with
//!   an offset). Storages are shared exactly as torch shares them: the same
//!   key gives the same storage, and the same tensor object (memo) the same
//!   [`TensorInfo`];
//! - offsets and strides are checked against the storage size the way
//!   `Tensor.set_` checks them; 0-dim and empty tensors are kept; every
//!   [`Dtype`] is rebuilt.
//!
//! **Plain data**: `None`, bools, ints of any size, floats, complex numbers
//! (`builtins.complex`), `str`, `bytes` (`_codecs.encode(s, 'latin1')`,
//! `builtins.bytes`), `bytearray` ([`Node::ByteArray`]), lists, tuples,
//! dicts, sets and frozensets (`builtins.set`/`frozenset` calls too),
//! `collections.OrderedDict` ([`Node::OrderedDict`]; its `_metadata`
//! attribute is dropped, or kept as [`Node::Attributes`] with
//! [`RebuildOptions::attributes`]), `collections.Counter` ([`Node::Counter`]),
//! `torch.Size`, `torch.device`, `torch.<dtype>` globals and layouts
//! (`torch.serialization._get_layout`).
//!
//! **Foreign objects rebuilt as data** (see [`foreign`] for each rule), every
//! replacement recorded as a [`Transformation`] with its tree path:
//! NumPy arrays (`_reconstruct` + `BUILD`, `_frombuffer`) of bool, integer,
//! float and complex dtypes become tensors whose bytes are held inline
//! ([`StorageInfo::inline`]); NumPy scalars become ints, floats, bools or
//! complex numbers and a bare `numpy.dtype` its name; `argparse.Namespace`
//! a dict; omegaconf `DictConfig`/`ListConfig` a dict/list of plain values;
//! `pathlib` paths a string; `collections.defaultdict` a dict, `deque` a
//! list; a pickled `nn.Module` (any class whose instance state has
//! `_parameters`, `_buffers` and `_modules` dicts) the `OrderedDict`
//! `model.state_dict()` would return.
//!
//! # What is refused
//!
//! Anything else: any other global or call, an unresolvable persistent id,
//! a bare storage, and, naming the function, quantized
//! (`_rebuild_qtensor`), sparse (`_rebuild_sparse_tensor`), nested
//! (`_rebuild_nested_tensor`), meta (`_rebuild_meta_tensor_no_storage`),
//! wrapper-subclass (`_rebuild_wrapper_subclass`) and device-specific
//! (`_rebuild_device_tensor_from_cpu_tensor`, `..._from_numpy`,
//! `torch.cuda.*Tensor`) rebuilds, tensor subclasses, conjugate/negative
//! bit views (their bytes are not their values), dtypes outside [`Dtype`],
//! negative strides, backward hooks. Where torch itself would fail (an out
//! of bounds view, a persistent id that is not a tuple, an unknown storage
//! type) the error says so. Reference cycles are an error; shared subtrees
//! are duplicated in the output; [`RebuildOptions`] bounds depth, values
//! and bytes.
//!
//! # For a loader that has torch
//!
//! With [`RebuildOptions::torch_objects`], quantized, sparse and meta
//! tensors, conjugate and negative views and bare storages are kept, not
//! refused: each as a [`Node::TorchCall`] to the torch rebuild function
//! `torch.load(weights_only=True)` would call for it (never another one),
//! its arguments rebuilt as data like everything else, storages as
//! [`Node::Storage`] and quantization schemes as [`Node::QScheme`]. With
//! [`RebuildOptions::references`], a cycle becomes a [`Node::Shared`] object
//! with [`Node::Ref`]s back to it. `airlock.load` sets both and makes those
//! objects with torch; the writers refuse them. Nested tensors, which
//! `weights_only` refuses, stay refused.
//!
//! # Output
//!
//! [`Rebuilt::tensors`] holds the tensors the tree refers to, in the order
//! it first refers to them; a tensor object referenced twice (memo) is one
//! [`TensorInfo`], and tensors viewing one storage name the same
//! [`StorageInfo`]. [`Rebuilt::storages`] holds the storages those tensors
//! view, in the order they first view them. Storages whose bytes the pickle
//! itself holds (NumPy arrays, the empty storage of a `torch.FloatTensor()`
//! never filled) have [`StorageInfo::inline`] set and keys (`numpy/<n>`,
//! `empty/<n>`) that name no record. [`Rebuilt::transformations`] lists
//! every foreign object replaced by data, with its path.
//!
//! The graph is read as it stands at the end of the pickle. Real picklers
//! never mutate a container after passing it to a call, so that is what
//! the loader sees too; a hand-made pickle that does may rebuild differently
//! from `torch.load`, never into anything but data.

use std::collections::{HashMap, HashSet};

use airlock_pickle::{
    Analysis, CallKind, Global, Graph, Mutation, ObjId, Object, Opaque, Origin, Value, ValueKind,
};
use airlock_pyvalue::{
    Number, bytearray_repr_cut, bytes_repr, complex_repr, float_repr, int_repr, str_repr,
};

use crate::dtype::Dtype;
use crate::model::{Node, Rebuilt, StorageInfo, TensorInfo, Transformation};

pub mod foreign;
mod torch;

/// How the checkpoint lays out its storages, which decides how persistent
/// ids are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageLayout {
    /// A ZIP checkpoint (`torch.serialization._load`): ids are `('storage',
    /// storage_type, key, location, numel)`; storage `key` is the record
    /// `data/<key>`, whose first [`StorageInfo::nbytes`] bytes are its data.
    /// The container's `byteorder` record is the reader's business: torch
    /// byte-swaps the storages of a checkpoint written big-endian.
    Zip,
    /// The legacy stream (`_legacy_load`): ids are `('storage',
    /// storage_type, root_key, location, numel, view_metadata)`, and
    /// `('module', class, source_file, source)` for the classes of pickled
    /// modules. After the object pickle and the list of keys, each root
    /// storage's data follows in key order as an 8-byte little-endian
    /// element count and that many elements of its [`StorageInfo::dtype`]
    /// (the dtype of the first id that named the key).
    Legacy,
}

/// Bounds on the rebuild. The walk runs on a thread of its own whose stack
/// is reserved from `max_depth` (128 KiB a level, at most 1 GiB), so a
/// depth limit beyond about 8000 levels is no longer guaranteed to stop it
/// before its stack ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RebuildOptions {
    /// Deepest nesting of values (containers, objects, tensor arguments).
    pub max_depth: usize,
    /// Values visited; shared subtrees count each time they are copied.
    pub max_nodes: u64,
    /// Bytes of strings, bytes and inline array data copied into the output.
    pub max_bytes: u64,
    /// Keep the tensors only torch can hold (quantized, sparse,
    /// meta-device, conjugate and negative views) and bare storages as
    /// [`Node::TorchCall`] and [`Node::Storage`] instead of refusing them:
    /// the calls to torch's own rebuild functions that
    /// `torch.load(weights_only=True)` makes, with data arguments, for a
    /// loader that has torch (`airlock.load`). The writers refuse them.
    pub torch_objects: bool,
    /// Keep reference cycles (a list that contains itself) as
    /// [`Node::Shared`] and [`Node::Ref`] instead of refusing them, for a
    /// loader that makes Python objects (`airlock.load`); plain data has no
    /// cycles, and the writers refuse them.
    pub references: bool,
    /// Keep a state dict's `_metadata` (an `OrderedDict` attribute: the
    /// module versions `load_state_dict` reads) as [`Node::Attributes`]
    /// instead of dropping it, for a loader that makes Python objects
    /// (`airlock.load`) and the `pt` writer; safetensors has no place for it.
    pub attributes: bool,
    /// Keep the data attributes of a pickled `nn.Module` replaced by its
    /// state dict (an Ultralytics model's `names`, `yaml`, `stride`,
    /// `args`) in [`Rebuilt::module_attributes`], for the safetensors
    /// writer, which stores them apart from the state dict.
    pub module_attributes: bool,
}

impl Default for RebuildOptions {
    fn default() -> Self {
        RebuildOptions {
            max_depth: 200,
            max_nodes: 20_000_000,
            max_bytes: 4 << 30,
            torch_objects: false,
            references: false,
            attributes: false,
            module_attributes: false,
        }
    }
}

/// Why a pickle could not be rebuilt as data. Every variant that concerns a
/// value names its path in the tree (`<root>` for the loaded object).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RebuildError {
    /// The stream has no pickle with that index.
    #[error("the stream has no pickle {index} (it holds {count})")]
    NoPickle {
        /// The index asked for.
        index: usize,
        /// Pickles in the stream.
        count: usize,
    },
    /// The pickle did not complete: the real load raises before returning.
    #[error("pickle {index} did not complete, so there is nothing to rebuild: {message}")]
    Incomplete {
        /// The pickle's index.
        index: usize,
        /// Why.
        message: String,
    },
    /// An object outside the allowlist: a class, a call, a global.
    #[error("{path}: {what} is not rebuilt as data")]
    NotData {
        /// Where in the tree.
        path: String,
        /// What it is (`class torch.optim.adam.Adam`).
        what: String,
    },
    /// Something Airlock deliberately does not rebuild (quantized or sparse
    /// tensors, unsupported dtypes, ...); the reason says what and why.
    #[error("{path}: {reason}")]
    Refused {
        /// Where in the tree.
        path: String,
        /// What is refused, and why.
        reason: String,
    },
    /// Malformed: the real loader would fail here too.
    #[error("{path}: {reason} (torch.load fails here too)")]
    Invalid {
        /// Where in the tree.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// An object that contains itself.
    #[error("{path}: the object contains itself (a reference cycle), which plain data cannot hold")]
    Cycle {
        /// Where the cycle closes.
        path: String,
    },
    /// Nested deeper than [`RebuildOptions::max_depth`].
    #[error("{path}: nested deeper than the limit of {max} levels")]
    TooDeep {
        /// Where the limit was hit.
        path: String,
        /// The limit.
        max: usize,
    },
    /// More values than [`RebuildOptions::max_nodes`].
    #[error("{path}: more than the limit of {max} values")]
    TooManyNodes {
        /// Where the limit was hit.
        path: String,
        /// The limit.
        max: u64,
    },
    /// More bytes than [`RebuildOptions::max_bytes`].
    #[error("{path}: more than the limit of {max} bytes of strings, bytes and array data")]
    TooManyBytes {
        /// Where the limit was hit.
        path: String,
        /// The limit.
        max: u64,
    },
}

impl RebuildError {
    /// The tree path the error concerns, if it concerns a value.
    pub fn path(&self) -> Option<&str> {
        match self {
            RebuildError::NoPickle { .. } | RebuildError::Incomplete { .. } => None,
            RebuildError::NotData { path, .. }
            | RebuildError::Refused { path, .. }
            | RebuildError::Invalid { path, .. }
            | RebuildError::Cycle { path }
            | RebuildError::TooDeep { path, .. }
            | RebuildError::TooManyNodes { path, .. }
            | RebuildError::TooManyBytes { path, .. } => Some(path),
        }
    }
}

type Result<T> = std::result::Result<T, RebuildError>;

/// Rebuild pickle `pickle` of `analysis` as data (see the module docs for
/// what is rebuilt and what is refused). `analysis` should come from the
/// engine configured as the scanner configures it for torch (UTF-8 for
/// Python 2 strings, `persistent_load` defined).
pub fn rebuild(
    analysis: &Analysis<'_>,
    pickle: usize,
    layout: StorageLayout,
    opts: &RebuildOptions,
) -> Result<Rebuilt> {
    let Some(p) = analysis.pickles.get(pickle) else {
        return Err(RebuildError::NoPickle {
            index: pickle,
            count: analysis.pickles.len(),
        });
    };
    if let Some(e) = p.error() {
        return Err(RebuildError::Incomplete {
            index: pickle,
            message: e.to_string(),
        });
    }
    let Some(root) = p.root else {
        return Err(RebuildError::Incomplete {
            index: pickle,
            message: "it has no result".into(),
        });
    };
    let walk = || {
        let mut w = Walker::new(&analysis.graph, layout, opts);
        let node = w.value(root)?;
        w.out.root = node;
        Ok(compact(w.out))
    };
    // The walk recurses once or a few times per level of the tree, and the
    // frames of a debug build are large: it runs on a thread whose stack
    // grows with `max_depth`, so that the depth limit, not the caller's
    // stack, bounds it. Where no thread can be started it runs here.
    let stack = opts
        .max_depth
        .saturating_mul(STACK_PER_LEVEL)
        .saturating_add(1 << 20)
        .min(MAX_STACK);
    std::thread::scope(|scope| {
        match std::thread::Builder::new()
            .name("airlock-rebuild".into())
            .stack_size(stack)
            .spawn_scoped(scope, walk)
        {
            Ok(handle) => handle
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            Err(_) => walk(),
        }
    })
}

/// Stack reserved for the walk per level of [`RebuildOptions::max_depth`]
/// (a debug build uses up to about 40 KiB a level; a release build a tenth).
const STACK_PER_LEVEL: usize = 128 << 10;

/// The most stack reserved for the walk.
const MAX_STACK: usize = 1 << 30;

/// Keep only the tensors the tree refers to, in the order the tree first
/// refers to them, and the storages those tensors view, in the order the
/// tensors first view them. The walk leaves others behind: the plain tensor
/// a Parameter wraps, the empty tensor a legacy `torch.FloatTensor()` is
/// before `set_`, a module parameter before `detach()`.
fn compact(mut out: Rebuilt) -> Rebuilt {
    fn visit(
        node: &mut Node,
        old: &[TensorInfo],
        map: &mut [Option<usize>],
        kept: &mut Vec<TensorInfo>,
    ) {
        match node {
            Node::Tensor(i) => {
                let Some(slot) = map.get_mut(*i) else { return };
                let new = *slot.get_or_insert_with(|| {
                    kept.push(old[*i].clone());
                    kept.len() - 1
                });
                *i = new;
            }
            other => other.for_each_child_mut(&mut |n| visit(n, old, map, kept)),
        }
    }
    /// Storages a [`Node::Storage`] names, kept after the tensors' own.
    fn visit_storages(
        node: &mut Node,
        map: &mut [Option<usize>],
        old: &mut [Option<StorageInfo>],
        out: &mut Vec<StorageInfo>,
    ) {
        match node {
            Node::Storage(s) => {
                let (Some(slot), Some(storage)) = (map.get_mut(s.storage), old.get_mut(s.storage))
                else {
                    return;
                };
                s.storage = *slot.get_or_insert_with(|| {
                    out.extend(storage.take());
                    out.len() - 1
                });
            }
            other => other.for_each_child_mut(&mut |n| visit_storages(n, map, old, out)),
        }
    }
    let old = std::mem::take(&mut out.tensors);
    let mut map = vec![None; old.len()];
    let mut kept = Vec::new();
    visit(&mut out.root, &old, &mut map, &mut kept);
    for (_, attrs) in &mut out.module_attributes {
        for (_, node) in attrs {
            visit(node, &old, &mut map, &mut kept);
        }
    }
    let mut old_storages: Vec<Option<StorageInfo>> = std::mem::take(&mut out.storages)
        .into_iter()
        .map(Some)
        .collect();
    let mut smap: Vec<Option<usize>> = vec![None; old_storages.len()];
    for t in &mut kept {
        let (Some(slot), Some(storage)) =
            (smap.get_mut(t.storage), old_storages.get_mut(t.storage))
        else {
            continue;
        };
        let new = *slot.get_or_insert_with(|| {
            out.storages.extend(storage.take());
            out.storages.len() - 1
        });
        t.storage = new;
    }
    out.tensors = kept;
    // Only trees rebuilt with `torch_objects` name storages directly.
    visit_storages(
        &mut out.root,
        &mut smap,
        &mut old_storages,
        &mut out.storages,
    );
    out
}

/// The engine configured as `torch.load` configures its unpickler (and as
/// the scanner analyses torch pickles), with the engine's default limits:
/// see [`Loader::engine_config`].
///
/// [`Loader::engine_config`]: airlock_policy::review::Loader::engine_config
pub fn torch_engine_config() -> airlock_pickle::EngineConfig {
    airlock_policy::review::Loader::Torch.engine_config(&airlock_pickle::Limits::default(), None)
}

/// The path shown for the loaded object itself.
pub const ROOT_PATH: &str = "<root>";

/// A class or function named by the pickle, as the real loader resolves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// A global, by its dotted name after pickle's and torch's renaming.
    Global(String),
    /// torch's `StorageType(name)`: what `find_class` returns for a legacy
    /// storage class name (`FloatStorage`) whatever the module.
    StorageType(String),
    /// The class a legacy `('module', class, ...)` persistent id returns.
    LegacyClass(String),
}

impl Target {
    fn name(&self) -> &str {
        match self {
            Target::Global(n) | Target::LegacyClass(n) => n,
            Target::StorageType(n) => n,
        }
    }
}

/// How an object is made from its class or function.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Make<'v> {
    /// `f(*args)`.
    Call(&'v [Value]),
    /// `cls.__new__(cls)`: an empty instance (`NEWOBJ` with no arguments,
    /// `copyreg._reconstructor(cls, object, None)`, `OBJ` without
    /// arguments), filled by `BUILD` and item opcodes.
    New,
}

/// Which mutations an object may have had applied.
pub(crate) mod allow {
    /// `BUILD`.
    pub const STATE: u8 = 1;
    /// `SETITEM(S)`.
    pub const ITEMS: u8 = 2;
    /// `APPEND(S)`.
    pub const EXTEND: u8 = 4;
    /// `ADDITEMS`.
    pub const ADD: u8 = 8;
}

/// A typed storage as `persistent_load` returns it: a byte range of one of
/// the output storages, with the dtype the id gave it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TypedStorage {
    /// Index into [`Rebuilt::storages`].
    pub storage: usize,
    /// Start of the range, in bytes (non-zero only for legacy views).
    pub byte_offset: u64,
    /// Length of the range, in bytes.
    pub nbytes: u64,
    /// The typed storage's dtype.
    pub dtype: Dtype,
}

pub(crate) struct Walker<'g, 'a> {
    pub(crate) g: &'g Graph<'a>,
    pub(crate) layout: StorageLayout,
    pub(crate) opts: &'g RebuildOptions,
    pub(crate) out: Rebuilt,
    path: Vec<String>,
    depth: usize,
    nodes: u64,
    bytes: u64,
    active: HashSet<ObjId>,
    /// Objects a [`Node::Ref`] refers to (with [`RebuildOptions::references`]).
    referenced: HashSet<ObjId>,
    /// Tensor objects (and NumPy arrays) already rebuilt: the same object
    /// is the same [`TensorInfo`].
    pub(crate) tensors: HashMap<ObjId, usize>,
    /// `tensor.detach()` of a rebuilt tensor, for module state dicts.
    pub(crate) detached: HashMap<usize, usize>,
    /// `persistent_load` results by persistent object.
    pub(crate) loaded: HashMap<ObjId, TypedStorage>,
    /// `_load`'s `loaded_storages` / `_legacy_load`'s
    /// `deserialized_objects`, by key.
    pub(crate) by_key: HashMap<String, TypedStorage>,
    /// Whether a conversion that records one transformation for its whole
    /// subtree (omegaconf, modules) is in progress.
    pub(crate) quiet: usize,
}

impl<'g, 'a> Walker<'g, 'a> {
    fn new(g: &'g Graph<'a>, layout: StorageLayout, opts: &'g RebuildOptions) -> Self {
        Walker {
            g,
            layout,
            opts,
            out: Rebuilt::default(),
            path: Vec::new(),
            depth: 0,
            nodes: 0,
            bytes: 0,
            active: HashSet::new(),
            referenced: HashSet::new(),
            tensors: HashMap::new(),
            detached: HashMap::new(),
            loaded: HashMap::new(),
            by_key: HashMap::new(),
            quiet: 0,
        }
    }

    // ----- errors and paths -------------------------------------------

    pub(crate) fn path_string(&self) -> String {
        if self.path.is_empty() {
            ROOT_PATH.to_string()
        } else {
            self.path.join(".")
        }
    }

    pub(crate) fn not_data(&self, what: impl Into<String>) -> RebuildError {
        RebuildError::NotData {
            path: self.path_string(),
            what: what.into(),
        }
    }

    pub(crate) fn refused(&self, reason: impl Into<String>) -> RebuildError {
        RebuildError::Refused {
            path: self.path_string(),
            reason: reason.into(),
        }
    }

    pub(crate) fn invalid(&self, reason: impl Into<String>) -> RebuildError {
        RebuildError::Invalid {
            path: self.path_string(),
            reason: reason.into(),
        }
    }

    pub(crate) fn transformed(&mut self, what: impl Into<String>) {
        if self.quiet == 0 {
            self.out.transformations.push(Transformation {
                path: self.path_string(),
                what: what.into(),
            });
        }
    }

    /// A global used as a value (a class stored in a config, as Lightning
    /// stores `hparams_type`): its qualified name. Nothing is imported; the
    /// proof still refuses a file that calls it anywhere.
    fn class_reference(&mut self, name: String) -> Node {
        self.transformed(format!(
            "the reference to {name} replaced by its qualified name (it was not imported)"
        ));
        self.out.foreign.insert(name.clone());
        self.out.objects.insert(name.clone());
        Node::Str(name)
    }

    /// Rebuild `v` one level down the tree, under path segment `seg`.
    pub(crate) fn child(&mut self, seg: impl Into<String>, v: Value) -> Result<Node> {
        self.path.push(seg.into());
        let r = self.value(v);
        self.path.pop();
        r
    }

    /// Run `f` one level down the tree, under path segment `seg`.
    pub(crate) fn under<T>(
        &mut self,
        seg: impl Into<String>,
        f: impl FnOnce(&mut Self) -> Result<T>,
    ) -> Result<T> {
        self.path.push(seg.into());
        let r = f(self);
        self.path.pop();
        r
    }

    pub(crate) fn charge_bytes(&mut self, n: u64) -> Result<()> {
        self.bytes = self.bytes.saturating_add(n);
        if self.bytes > self.opts.max_bytes {
            return Err(RebuildError::TooManyBytes {
                path: self.path_string(),
                max: self.opts.max_bytes,
            });
        }
        Ok(())
    }

    /// Enter an object: depth and cycle checks. Pair with [`Self::leave`].
    pub(crate) fn enter(&mut self, id: ObjId) -> Result<()> {
        if self.depth >= self.opts.max_depth {
            return Err(RebuildError::TooDeep {
                path: self.path_string(),
                max: self.opts.max_depth,
            });
        }
        if !self.active.insert(id) {
            return Err(RebuildError::Cycle {
                path: self.path_string(),
            });
        }
        self.depth += 1;
        Ok(())
    }

    pub(crate) fn leave(&mut self, id: ObjId) {
        self.depth -= 1;
        self.active.remove(&id);
    }

    // ----- graph accessors --------------------------------------------

    /// The value as an exact `str` (none for lone surrogates).
    pub(crate) fn str_of(&self, v: Value) -> Option<&'g str> {
        match self.g.object(v)? {
            Object::Str(s) => std::str::from_utf8(s).ok(),
            _ => None,
        }
    }

    /// A `str`, or `bytes` decoded as ASCII (torch's `_maybe_decode_ascii`).
    pub(crate) fn str_or_ascii(&self, v: Value) -> Option<&'g str> {
        match self.g.object(v)? {
            Object::Str(s) => std::str::from_utf8(s).ok(),
            Object::Bytes(b) if b.is_ascii() => std::str::from_utf8(b).ok(),
            _ => None,
        }
    }

    pub(crate) fn tuple_of(&self, v: Value) -> Option<&'g [Value]> {
        self.g.tuple(v)
    }

    pub(crate) fn int_of(&self, v: Value) -> Option<i64> {
        self.g.int(v)
    }

    /// The opaque object a value refers to, with its id.
    pub(crate) fn opaque_of(&self, v: Value) -> Option<(ObjId, &'g Opaque)> {
        let id = v.obj()?;
        match self.g.get(id) {
            Object::Opaque(o) => Some((id, self.g.opaque_at(*o))),
            _ => None,
        }
    }

    pub(crate) fn describe(&self, v: Value) -> String {
        self.g.repr(v, 80)
    }

    /// The dotted name the real loader resolves a global to, or `None`
    /// when the lookup fails (a dotted name before protocol 4).
    fn global_target(&self, g: &Global<'_>) -> Option<Target> {
        // torch's UnpicklerWrapper.find_class: a name containing "Storage"
        // that names a legacy storage type is that StorageType, whatever
        // the module. It sees the name as written, before fix_imports.
        let written = g.written.as_ref().map_or(&*g.name, |(_, n)| &**n);
        if written.contains("Storage") && torch::is_storage_type_name(written) {
            return Some(Target::StorageType(written.to_string()));
        }
        if g.name.contains('.') && !g.dotted {
            // Before protocol 4 `getattr(module, "a.b")` raises.
            return None;
        }
        // _load's load_module_mapping (torch.tensor moved to torch._tensor);
        // _legacy_load has no such mapping.
        let module = match (&*g.module, self.layout) {
            ("torch.tensor", StorageLayout::Zip) => "torch._tensor",
            (m, _) => m,
        };
        Some(Target::Global(format!("{module}.{}", g.name)))
    }

    /// What a callable value resolves to.
    pub(crate) fn target(&self, v: Value) -> Result<Target> {
        if let Some(g) = self.g.global(v) {
            return self.global_target(g).ok_or_else(|| {
                self.invalid(format!(
                    "global {} uses a dotted name, which pickle resolves only from protocol 4",
                    g.qualified()
                ))
            });
        }
        if let Some((_, op)) = self.opaque_of(v) {
            if let Origin::Persistent { pid } = &op.origin {
                if self.layout == StorageLayout::Legacy {
                    if let Some(items) = self.tuple_of(*pid) {
                        if items.len() == 4 && self.str_or_ascii(items[0]) == Some("module") {
                            if let Some(Target::Global(n)) =
                                self.g.global(items[1]).and_then(|g| self.global_target(g))
                            {
                                return Ok(Target::LegacyClass(n));
                            }
                        }
                    }
                }
            }
        }
        Err(self.not_data(format!(
            "a call to {}, which is not a global",
            self.describe(v)
        )))
    }

    /// The class/function and construction of an object made by a call.
    pub(crate) fn construct(&self, op: &'g Opaque) -> Result<Option<(Target, Make<'g>, CallKind)>> {
        let Origin::Call {
            kind,
            callable,
            args,
            kwargs,
        } = &op.origin
        else {
            return Ok(None);
        };
        let target = self.target(*callable)?;
        let Some(items) = self.tuple_of(*args) else {
            return Err(self.invalid(format!(
                "{} is called with arguments that are not a tuple",
                target.name()
            )));
        };
        if let Some(kw) = kwargs {
            let empty = matches!(self.g.object(*kw), Some(Object::Dict(d)) if d.is_empty());
            if !empty {
                return Err(self.not_data(format!(
                    "class {} created with keyword arguments (NEWOBJ_EX)",
                    target.name()
                )));
            }
        }
        // copyreg's protocol 0/1 reconstruction of an object without a
        // __reduce__ of its own: object.__new__(cls).
        if *kind == CallKind::Reduce {
            if let Target::Global(name) = &target {
                if name == "copyreg._reconstructor" {
                    if let &[cls, base, state] = items {
                        let base_is_object = self
                            .g
                            .global(base)
                            .and_then(|g| self.global_target(g))
                            .is_some_and(|t| t == Target::Global("builtins.object".into()));
                        if base_is_object && state == Value::NONE {
                            return Ok(Some((self.target(cls)?, Make::New, CallKind::NewObj)));
                        }
                    }
                    return Err(
                        self.not_data(format!("copyreg._reconstructor{}", self.describe(*args)))
                    );
                }
                if name == "copyreg.__newobj__" {
                    if let &[cls] = items {
                        return Ok(Some((self.target(cls)?, Make::New, CallKind::NewObj)));
                    }
                    return Err(
                        self.not_data(format!("copyreg.__newobj__{}", self.describe(*args)))
                    );
                }
            }
        }
        let make = match kind {
            CallKind::Reduce => Make::Call(items),
            CallKind::NewObj | CallKind::NewObjEx => {
                if !items.is_empty() {
                    return Err(self.not_data(format!(
                        "class {} created by NEWOBJ with arguments",
                        target.name()
                    )));
                }
                Make::New
            }
            CallKind::Obj | CallKind::Inst => {
                if items.is_empty() {
                    Make::New
                } else {
                    Make::Call(items)
                }
            }
        };
        Ok(Some((target, make, *kind)))
    }

    /// Fail unless every mutation of `op` is of an allowed kind.
    pub(crate) fn check_mutations(&self, op: &Opaque, allowed: u8, what: &str) -> Result<()> {
        for m in op.mutations() {
            let (bit, opcode) = match m {
                Mutation::SetState { .. } => (allow::STATE, "BUILD"),
                Mutation::SetItems { .. } => (allow::ITEMS, "SETITEM(S)"),
                Mutation::Extend { .. } => (allow::EXTEND, "APPEND(S)"),
                Mutation::Add { .. } => (allow::ADD, "ADDITEMS"),
            };
            if allowed & bit == 0 {
                return Err(self.not_data(format!("{what} updated by {opcode}")));
            }
        }
        Ok(())
    }

    // ----- values -------------------------------------------------------

    /// Rebuild any value.
    pub(crate) fn value(&mut self, v: Value) -> Result<Node> {
        self.nodes += 1;
        if self.nodes > self.opts.max_nodes {
            return Err(RebuildError::TooManyNodes {
                path: self.path_string(),
                max: self.opts.max_nodes,
            });
        }
        let id = match v.kind() {
            ValueKind::None => return Ok(Node::None),
            ValueKind::Bool(b) => return Ok(Node::Bool(b)),
            ValueKind::Int(i) => return Ok(Node::Int(i)),
            ValueKind::Ref(id) => id,
        };
        match self.g.get(id) {
            Object::Float(f) => return Ok(Node::Float(*f)),
            Object::Int(b) => {
                return match i64::try_from(&**b) {
                    Ok(i) => Ok(Node::Int(i)),
                    Err(_) if b.bits() > airlock_pyvalue::MAX_DECIMAL_BITS => Err(self.refused(format!(
                        "an int of {} bits, over the {}-bit limit for values written as text (Python itself refuses to print ints of more than 4300 digits)",
                        b.bits(),
                        airlock_pyvalue::MAX_DECIMAL_BITS
                    ))),
                    Err(_) => Ok(Node::BigInt((**b).clone())),
                };
            }
            Object::Str(s) => {
                self.charge_bytes(s.len() as u64)?;
                return match std::str::from_utf8(s) {
                    Ok(s) => Ok(Node::Str(s.to_string())),
                    Err(_) => Err(self.refused(
                        "a str with lone surrogate code points is not valid Unicode and is not rebuilt",
                    )),
                };
            }
            Object::Bytes(b) => {
                self.charge_bytes(b.len() as u64)?;
                return Ok(Node::Bytes(b.to_vec()));
            }
            Object::ByteArray(b) => {
                self.charge_bytes(b.len() as u64)?;
                return Ok(Node::ByteArray(b.to_vec()));
            }
            _ => {}
        }
        if let Some(&t) = self.tensors.get(&id) {
            return Ok(Node::Tensor(t));
        }
        if self.opts.references && self.active.contains(&id) {
            self.referenced.insert(id);
            return Ok(Node::Ref(id.index() as u64));
        }
        self.enter(id)?;
        let r = self.object(id);
        self.leave(id);
        match r {
            Ok(node) if self.referenced.contains(&id) => {
                Ok(Node::Shared(id.index() as u64, Box::new(node)))
            }
            r => r,
        }
    }

    fn object(&mut self, id: ObjId) -> Result<Node> {
        let g = self.g;
        match g.get(id) {
            Object::Tuple(items) => {
                let items = g.items(*items);
                let mut out = Vec::with_capacity(items.len());
                for (i, &item) in items.iter().enumerate() {
                    out.push(self.child(i.to_string(), item)?);
                }
                Ok(Node::Tuple(out))
            }
            Object::List(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, &item) in items.iter().enumerate() {
                    out.push(self.child(i.to_string(), item)?);
                }
                Ok(Node::List(out))
            }
            Object::Dict(d) => {
                let mut out = Vec::with_capacity(d.len());
                for &(k, v) in d.entries() {
                    let key = self.value(k)?;
                    let value = self.child(key_segment(&key), v)?;
                    out.push((key, value));
                }
                Ok(Node::Dict(out))
            }
            Object::Set(s) | Object::FrozenSet(s) => {
                let mut out = Vec::with_capacity(s.len());
                for (i, &item) in s.entries().iter().enumerate() {
                    out.push(self.child(i.to_string(), item)?);
                }
                Ok(Node::Set(out))
            }
            Object::Global(gl) => match self.global_target(gl) {
                Some(Target::Global(name)) => match torch::dtype_value(&name) {
                    Some(d) => Ok(Node::TorchDtype(d)),
                    None if self.opts.torch_objects && torch::is_qscheme(&name) => {
                        Ok(Node::QScheme(name))
                    }
                    None => Ok(self.class_reference(name)),
                },
                Some(Target::StorageType(name)) => {
                    Err(self.not_data(format!("storage class {name}")))
                }
                _ => Err(self.invalid(format!(
                    "global {} uses a dotted name, which pickle resolves only from protocol 4",
                    gl.qualified()
                ))),
            },
            Object::Opaque(o) => {
                let op = g.opaque_at(*o);
                self.opaque(id, op)
            }
            Object::MemoryView(_) => Err(self.not_data("a memoryview")),
            Object::Vacant => Err(self.invalid("an object left incomplete by the pickle")),
            // Scalars were handled by `value`.
            Object::Float(_)
            | Object::Int(_)
            | Object::Str(_)
            | Object::Bytes(_)
            | Object::ByteArray(_) => Err(self.invalid("unexpected scalar")),
        }
    }

    fn opaque(&mut self, id: ObjId, op: &'g Opaque) -> Result<Node> {
        match &op.origin {
            Origin::Call { .. } => {}
            Origin::Persistent { .. } if self.opts.torch_objects => {
                return torch::bare_storage(self, id);
            }
            Origin::Persistent { pid } => {
                return Err(self.not_data(format!(
                    "a bare storage (persistent id {})",
                    self.describe(*pid)
                )));
            }
            Origin::DynamicGlobal { module, name } => {
                return Err(self.not_data(format!(
                    "a global whose name is computed at load time ({} . {})",
                    self.describe(*module),
                    self.describe(*name)
                )));
            }
            Origin::Extension { code } => {
                return Err(self.not_data(format!("the unregistered extension code {code}")));
            }
            Origin::Buffer => return Err(self.not_data("an out-of-band buffer")),
            Origin::LoaderData { .. } => return Err(self.not_data("data read by a loader hook")),
        }
        let Some((target, make, kind)) = self.construct(op)? else {
            return Err(self.invalid("unexpected object"));
        };
        let name = match &target {
            // TorchScript archives pickle their modules as classes compiled
            // from the archive's own code.
            Target::Global(n) if n.starts_with("__torch__.") => {
                return Err(self.refused(format!(
                    "TorchScript class {n}: TorchScript archives hold code and are not rebuilt"
                )));
            }
            Target::Global(n) => n.clone(),
            Target::StorageType(n) => {
                return Err(self.not_data(format!("a call to storage class {n}")));
            }
            Target::LegacyClass(n) => {
                return match foreign::module(self, id, op, &format!("class {n}"))? {
                    Some(node) => {
                        self.out.foreign.insert(n.clone());
                        Ok(node)
                    }
                    None => Err(self.not_data(format!("class {n}"))),
                };
            }
        };
        if let Some(node) = torch::call(self, id, op, &name, make)? {
            return Ok(node);
        }
        if let Some(node) = self.builtin_call(op, &name, make)? {
            return Ok(node);
        }
        if let Some(node) = foreign::call(self, id, op, &name, make)? {
            return Ok(node);
        }
        let what = match (make, kind) {
            (Make::New, _) | (_, CallKind::NewObj | CallKind::Obj | CallKind::Inst) => {
                format!("class {name}")
            }
            _ if name
                .rsplit('.')
                .next()
                .is_some_and(|n| n.starts_with(|c: char| c.is_ascii_uppercase())) =>
            {
                format!("class {name}")
            }
            _ => format!("a call to {name}"),
        };
        Err(self.not_data(what))
    }

    /// The standard library's data types that pickle through calls.
    fn builtin_call(&mut self, op: &'g Opaque, name: &str, make: Make<'g>) -> Result<Option<Node>> {
        let node = match name {
            "collections.OrderedDict" => {
                let items = self.mapping(op, make, name)?;
                let attrs = self.ordered_dict_attributes(op)?;
                if attrs.is_empty() {
                    Node::OrderedDict(items)
                } else if self.opts.attributes {
                    Node::Attributes(Box::new(Node::OrderedDict(items)), attrs)
                } else {
                    self.transformed(
                        "the OrderedDict's _metadata attribute (module versions for load_state_dict) was dropped",
                    );
                    Node::OrderedDict(items)
                }
            }
            "builtins.set" | "builtins.frozenset" => {
                let mut items = Vec::new();
                match make {
                    // set.__new__ ignores its argument (set.__init__ fills
                    // the set); frozenset.__new__ takes it.
                    Make::New => {}
                    Make::Call([]) => {}
                    Make::Call([it]) => items = self.iterable(*it, name)?,
                    Make::Call(args) => return Err(self.arity(name, "at most 1", args.len())),
                }
                let adds = if name == "builtins.set" {
                    allow::ADD
                } else {
                    0
                };
                self.check_mutations(op, adds, name)?;
                for m in op.mutations() {
                    if let Mutation::Add { items: added, .. } = m {
                        for &v in added.iter() {
                            let n = self.child(items.len().to_string(), v)?;
                            items.push(n);
                        }
                    }
                }
                Node::Set(self.dedup_set(items)?)
            }
            "builtins.bytearray" | "builtins.bytes" => {
                self.check_mutations(op, 0, name)?;
                let bytes = match make {
                    Make::New | Make::Call([]) => Vec::new(),
                    Make::Call([b]) => match self.g.object(*b) {
                        Some(Object::Bytes(b) | Object::ByteArray(b)) => b.to_vec(),
                        _ => match self.value(*b)? {
                            Node::Bytes(b) | Node::ByteArray(b) => b,
                            _ => {
                                return Err(self.not_data(format!("{name}({})", self.describe(*b))));
                            }
                        },
                    },
                    // bytearray(str, encoding), as protocol 0/1 picklers of
                    // old Pythons wrote it.
                    Make::Call([s, enc]) => self.encode(*s, Some(*enc))?,
                    Make::Call(args) => return Err(self.arity(name, "at most 2", args.len())),
                };
                self.charge_bytes(bytes.len() as u64)?;
                if name == "builtins.bytearray" {
                    Node::ByteArray(bytes)
                } else {
                    Node::Bytes(bytes)
                }
            }
            "_codecs.encode" => {
                self.check_mutations(op, 0, name)?;
                let Make::Call(args) = make else {
                    return Err(self.invalid("_codecs.encode is a function, not a class"));
                };
                let bytes = match args {
                    [s] => self.encode(*s, None)?,
                    [s, enc] => self.encode(*s, Some(*enc))?,
                    _ => return Err(self.arity(name, "1 or 2", args.len())),
                };
                self.charge_bytes(bytes.len() as u64)?;
                Node::Bytes(bytes)
            }
            "builtins.complex" => {
                self.check_mutations(op, 0, name)?;
                let (re, im) = match make {
                    Make::New | Make::Call([]) => (0.0, 0.0),
                    Make::Call([re]) => (self.real(*re)?, 0.0),
                    Make::Call([re, im]) => (self.real(*re)?, self.real(*im)?),
                    Make::Call(args) => return Err(self.arity(name, "at most 2", args.len())),
                };
                Node::Complex(re, im)
            }
            _ => return Ok(None),
        };
        Ok(Some(node))
    }

    fn arity(&self, name: &str, expected: &str, got: usize) -> RebuildError {
        self.invalid(format!("{name} takes {expected} arguments, got {got}"))
    }

    /// A real number argument (`complex(re, im)`), as a float.
    fn real(&self, v: Value) -> Result<f64> {
        if let Some(f) = self.g.float(v) {
            return Ok(f);
        }
        if let Some(i) = self.int_of(v) {
            return Ok(i as f64);
        }
        Err(self.not_data(format!("complex({})", self.describe(v))))
    }

    /// `_codecs.encode(s, encoding)` / `bytearray(s, encoding)`.
    fn encode(&self, s: Value, encoding: Option<Value>) -> Result<Vec<u8>> {
        let Some(text) = self.str_of(s) else {
            return Err(self.not_data(format!("_codecs.encode({})", self.describe(s))));
        };
        let enc = match encoding {
            None => "utf-8".to_string(),
            Some(e) => match self.str_of(e) {
                Some(e) => e.to_ascii_lowercase().replace('_', "-"),
                None => return Err(self.not_data(format!("encoding {}", self.describe(e)))),
            },
        };
        match enc.as_str() {
            "latin1" | "latin-1" | "iso-8859-1" | "iso8859-1" | "l1" => text
                .chars()
                .map(|c| u8::try_from(u32::from(c)).ok())
                .collect::<Option<Vec<u8>>>()
                .ok_or_else(|| {
                    self.invalid("a character beyond U+00FF cannot be encoded as latin-1")
                }),
            "utf-8" | "utf8" => Ok(text.as_bytes().to_vec()),
            _ => Err(self.not_data(format!("encoding {enc:?}"))),
        }
    }

    /// The items of an iterable argument (`set(list)`, `deque(list)`).
    pub(crate) fn iterable(&mut self, v: Value, what: &str) -> Result<Vec<Node>> {
        match self.value(v)? {
            Node::List(items) | Node::Tuple(items) | Node::Set(items) => Ok(items),
            Node::Dict(items) | Node::OrderedDict(items) | Node::Counter(items) => {
                Ok(items.into_iter().map(|(k, _)| k).collect())
            }
            Node::Bytes(b) | Node::ByteArray(b) => {
                Ok(b.into_iter().map(|x| Node::Int(x as i64)).collect())
            }
            Node::Str(s) => Ok(s.chars().map(|c| Node::Str(c.to_string())).collect()),
            _ => Err(self.not_data(format!("{what}({})", self.describe(v)))),
        }
    }

    /// A dict-like object made by a call and `SETITEM(S)`: its items, with
    /// Python's dict semantics (an equal key keeps its place and takes the
    /// new value). `make` may pass a mapping or an iterable of pairs.
    pub(crate) fn mapping(
        &mut self,
        op: &'g Opaque,
        make: Make<'g>,
        what: &str,
    ) -> Result<Vec<(Node, Node)>> {
        self.check_mutations(op, allow::ITEMS | allow::STATE, what)?;
        let mut items: Vec<(Node, Node)> = Vec::new();
        match make {
            Make::New | Make::Call([]) => {}
            Make::Call([init]) => {
                let pairs = self.pairs(*init, what)?;
                for (k, v) in pairs {
                    self.insert(&mut items, k, v)?;
                }
            }
            Make::Call(args) => return Err(self.arity(what, "at most 1", args.len())),
        }
        for (k, v) in op.set_items() {
            self.hashable(k)?;
            let key = self.value(k)?;
            let value = self.child(key_segment(&key), v)?;
            self.insert(&mut items, key, value)?;
        }
        Ok(items)
    }

    /// The `(key, value)` pairs of a mapping or of an iterable of pairs.
    fn pairs(&mut self, v: Value, what: &str) -> Result<Vec<(Node, Node)>> {
        match self.value(v)? {
            Node::Dict(items) | Node::OrderedDict(items) | Node::Counter(items) => Ok(items),
            Node::List(items) | Node::Tuple(items) => items
                .into_iter()
                .map(|p| match p {
                    Node::Tuple(mut kv) | Node::List(mut kv) if kv.len() == 2 => {
                        let v = kv.pop().unwrap_or_default();
                        let k = kv.pop().unwrap_or_default();
                        Ok((k, v))
                    }
                    _ => Err(self.invalid(format!("{what}: an item is not a (key, value) pair"))),
                })
                .collect(),
            _ => Err(self.not_data(format!("{what}({})", self.describe(v)))),
        }
    }

    /// Python raises `TypeError: unhashable type` for these keys.
    pub(crate) fn hashable(&self, k: Value) -> Result<()> {
        let ty = match self.g.object(k) {
            Some(Object::List(_)) => "list",
            Some(Object::Dict(_)) => "dict",
            Some(Object::Set(_)) => "set",
            Some(Object::ByteArray(_)) => "bytearray",
            _ => return Ok(()),
        };
        Err(self.invalid(format!("unhashable type: '{ty}' used as a key")))
    }

    pub(crate) fn insert(
        &self,
        items: &mut Vec<(Node, Node)>,
        key: Node,
        value: Node,
    ) -> Result<()> {
        if key.is_unhashable() {
            return Err(self.invalid(format!("unhashable key (a {})", key.type_name())));
        }
        match items.iter_mut().find(|(k, _)| key_eq(k, &key)) {
            Some(slot) => slot.1 = value,
            None => items.push((key, value)),
        }
        Ok(())
    }

    pub(crate) fn dedup_set(&self, items: Vec<Node>) -> Result<Vec<Node>> {
        let mut out: Vec<Node> = Vec::with_capacity(items.len());
        for item in items {
            if item.is_unhashable() {
                return Err(self.invalid(format!("unhashable set member (a {})", item.type_name())));
            }
            if !out.iter().any(|o| key_eq(o, &item)) {
                out.push(item);
            }
        }
        Ok(out)
    }

    /// `OrderedDict` keeps instance attributes in its pickled state;
    /// `state_dict()` puts `_metadata` (the module versions
    /// `load_state_dict` reads) there. It is rebuilt as data; any other
    /// attribute is refused.
    fn ordered_dict_attributes(&mut self, op: &'g Opaque) -> Result<Vec<(String, Node)>> {
        let mut attrs = Vec::new();
        for state in op.states() {
            for (k, v) in self.state_items(state, "collections.OrderedDict")? {
                let Some(name) = self.str_of(k) else {
                    return Err(self.refused(
                        "an OrderedDict attribute whose name is not a str is not rebuilt",
                    ));
                };
                if name != "_metadata" {
                    return Err(self.not_data(format!(
                        "collections.OrderedDict with the attribute {name:?}"
                    )));
                }
                let value = self.child(name, v)?;
                attrs.retain(|(n, _): &(String, Node)| n != name);
                attrs.push((name.to_string(), value));
            }
        }
        Ok(attrs)
    }

    /// The attribute items of a `BUILD` state: a dict, or `(dict or None,
    /// slots dict or None)`, as `load_build` and `_set_obj_state` take it.
    pub(crate) fn state_items(&self, state: Value, what: &str) -> Result<Vec<(Value, Value)>> {
        let mut out = Vec::new();
        let parts: Vec<Value> = match self.tuple_of(state) {
            Some(&[d, s]) => vec![d, s],
            Some(_) => {
                return Err(
                    self.invalid(format!("{what}: a state tuple that is not (dict, slots)"))
                );
            }
            None => vec![state],
        };
        for part in parts {
            match self.g.object(part) {
                None if part == Value::NONE => {}
                Some(Object::Dict(d)) => out.extend(d.entries().iter().copied()),
                _ => {
                    return Err(
                        self.not_data(format!("{what} with the state {}", self.describe(part)))
                    );
                }
            }
        }
        Ok(out)
    }

    /// The merged attribute dict of an instance filled by `BUILD`s (later
    /// states override earlier ones, like `__dict__.update`).
    pub(crate) fn instance_dict(&self, op: &Opaque, what: &str) -> Result<Vec<(&'g str, Value)>> {
        let mut out: Vec<(&'g str, Value)> = Vec::new();
        for state in op.states() {
            for (k, v) in self.state_items(state, what)? {
                let Some(name) = self.str_of(k) else {
                    return Err(self.refused(format!(
                        "{what}: an attribute whose name is not a str is not rebuilt"
                    )));
                };
                match out.iter_mut().find(|(n, _)| *n == name) {
                    Some(slot) => slot.1 = v,
                    None => out.push((name, v)),
                }
            }
        }
        Ok(out)
    }
}

/// The path segment of a dict key: a `str` as itself, anything else as
/// Python's `repr`.
pub fn key_segment(key: &Node) -> String {
    match key {
        Node::Str(s) => s.clone(),
        other => py_repr(other),
    }
}

/// Python's `repr` of simple values (enough for dict keys in paths).
pub(crate) fn py_repr(n: &Node) -> String {
    match n {
        Node::None => "None".into(),
        Node::Bool(true) => "True".into(),
        Node::Bool(false) => "False".into(),
        Node::Int(i) => i.to_string(),
        Node::BigInt(b) => int_repr(b),
        Node::Float(f) => float_repr(*f),
        Node::Complex(re, im) => complex_repr(*re, *im),
        Node::Str(s) => str_repr(s),
        Node::ByteArray(b) => bytearray_repr_cut(b, usize::MAX),
        Node::Bytes(b) => bytes_repr(b),
        Node::Tuple(items) => {
            let inner: Vec<String> = items.iter().map(py_repr).collect();
            if inner.len() == 1 {
                format!("({},)", inner[0])
            } else {
                format!("({})", inner.join(", "))
            }
        }
        Node::TorchDtype(d) => d.clone(),
        Node::Layout(l) | Node::QScheme(l) => l.clone(),
        Node::Device(d) => format!("device(type='{d}')"),
        Node::Storage(s) => format!("<storage {}>", s.storage),
        Node::TorchCall(c) => format!("<{} {}>", c.function.name(), c.id),
        Node::Shared(_, n) | Node::Attributes(n, _) => py_repr(n),
        Node::Ref(_) => "[...]".into(),
        Node::Size(s) => format!(
            "torch.Size([{}])",
            s.iter().map(i64::to_string).collect::<Vec<_>>().join(", ")
        ),
        Node::Tensor(i) => format!("<tensor {i}>"),
        Node::List(_) => "<list>".into(),
        Node::Set(_) => "<frozenset>".into(),
        Node::Dict(_) | Node::OrderedDict(_) | Node::Counter(_) => "<dict>".into(),
        Node::NpArray { dtype, .. } => format!("<numpy.ndarray dtype='{dtype}'>"),
    }
}

/// A number, for Python's cross-type equality.
pub(crate) fn num(n: &Node) -> Option<Number<'_>> {
    Some(match n {
        Node::Bool(b) => Number::Int(i64::from(*b)),
        Node::Int(i) => Number::Int(*i),
        Node::BigInt(b) => Number::Big(b),
        Node::Float(f) => Number::Float(*f),
        Node::Complex(re, im) => Number::Complex(*re, *im),
        _ => return None,
    })
}

/// Python `==` between two hashable keys.
pub fn key_eq(a: &Node, b: &Node) -> bool {
    match (num(a), num(b)) {
        (Some(x), Some(y)) => return x.py_eq(&y),
        (Some(_), None) | (None, Some(_)) => return false,
        (None, None) => {}
    }
    let as_ints = |items: &[Node]| -> Option<Vec<i64>> {
        items
            .iter()
            .map(|n| match n {
                Node::Int(i) => Some(*i),
                Node::Bool(b) => Some(*b as i64),
                _ => None,
            })
            .collect()
    };
    match (a, b) {
        (Node::None, Node::None) => true,
        (Node::Str(x), Node::Str(y)) => x == y,
        (Node::Bytes(x), Node::Bytes(y)) => x == y,
        (Node::ByteArray(x), Node::ByteArray(y)) => x == y,
        (Node::Tuple(x), Node::Tuple(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| key_eq(p, q))
        }
        // torch.Size is a tuple subclass.
        (Node::Size(x), Node::Size(y)) => x == y,
        (Node::Size(s), Node::Tuple(t)) | (Node::Tuple(t), Node::Size(s)) => {
            as_ints(t).as_deref() == Some(s.as_slice())
        }
        (Node::Set(x), Node::Set(y)) => {
            x.len() == y.len() && x.iter().all(|p| y.iter().any(|q| key_eq(p, q)))
        }
        (Node::TorchDtype(x), Node::TorchDtype(y)) => x == y,
        (Node::Device(x), Node::Device(y)) => x == y,
        (Node::Layout(x), Node::Layout(y)) => x == y,
        (Node::Tensor(x), Node::Tensor(y)) => x == y,
        _ => false,
    }
}

/// A tensor rebuilt and added to the output, for the submodules.
pub(crate) fn push_tensor(out: &mut Rebuilt, t: TensorInfo) -> usize {
    out.tensors.push(t);
    out.tensors.len() - 1
}

/// A storage added to the output.
pub(crate) fn push_storage(out: &mut Rebuilt, s: StorageInfo) -> usize {
    out.storages.push(s);
    out.storages.len() - 1
}

#[cfg(test)]
mod tests;
