//! A small protocol-2 pickler for the rebuilt tree, emitting only what
//! torch's weights-only unpickler accepts: its opcode subset (no `LONG4`,
//! `BINBYTES`, `SHORT_BINUNICODE`, `FROZENSET`, ...) and its allowlisted
//! globals, written the way CPython's pickler and `torch.save` write them.
//!
//! Values and their encodings:
//!
//! | value | pickled as |
//! |---|---|
//! | `None`, bools, ints | `NONE`, `NEWTRUE`/`NEWFALSE`, `BININT1`/`BININT2`/`BININT`/`LONG1` |
//! | float | `BINFLOAT` |
//! | complex | `builtins.complex(re, im)` |
//! | str | `BINUNICODE` |
//! | bytes | `_codecs.encode(latin-1 text, "latin1")`, as CPython's protocol 2 |
//! | list, tuple, dict | `EMPTY_LIST`+`APPENDS`, `TUPLE*`, `EMPTY_DICT`+`SETITEMS` |
//! | set | `builtins.set([...])` (a frozenset too: weights-only has no frozenset) |
//! | OrderedDict | `collections.OrderedDict()` + `SETITEMS` |
//! | tensor | `torch._utils._rebuild_tensor_v2`/`_v3`, in `_rebuild_parameter` for parameters |
//! | torch.dtype, device, Size | `torch.<dtype>`, `torch.device(str)`, `torch.Size(tuple)` |
//!
//! Storages are persistent ids `('storage', <class>, key, 'cpu', numel)`;
//! each is pickled once and memoized, so every tensor of a storage gets the
//! same storage object back, and a tensor under two names is pickled once
//! and fetched from the memo the second time: sharing survives the trip.

use std::collections::HashMap;

use airlock_pickle::Opcode;
use airlock_pyvalue::NumKey;
use num_bigint::BigInt;

use super::{MAX_DEPTH, PathLink, Seg, WriteError, py_type};
use crate::model::{Node, Rebuilt, Transformation};

// The opcodes written, with their bytes from the engine's one opcode table.
const PROTO: u8 = Opcode::PROTO.byte();
const STOP: u8 = Opcode::STOP.byte();
const NONE: u8 = Opcode::NONE.byte();
const NEWTRUE: u8 = Opcode::NEWTRUE.byte();
const NEWFALSE: u8 = Opcode::NEWFALSE.byte();
const BININT: u8 = Opcode::BININT.byte();
const BININT1: u8 = Opcode::BININT1.byte();
const BININT2: u8 = Opcode::BININT2.byte();
const LONG1: u8 = Opcode::LONG1.byte();
const BINFLOAT: u8 = Opcode::BINFLOAT.byte();
const BINUNICODE: u8 = Opcode::BINUNICODE.byte();
const EMPTY_LIST: u8 = Opcode::EMPTY_LIST.byte();
const APPEND: u8 = Opcode::APPEND.byte();
const APPENDS: u8 = Opcode::APPENDS.byte();
const EMPTY_DICT: u8 = Opcode::EMPTY_DICT.byte();
const BUILD: u8 = Opcode::BUILD.byte();
const SETITEM: u8 = Opcode::SETITEM.byte();
const SETITEMS: u8 = Opcode::SETITEMS.byte();
const EMPTY_TUPLE: u8 = Opcode::EMPTY_TUPLE.byte();
const TUPLE: u8 = Opcode::TUPLE.byte();
const TUPLE1: u8 = Opcode::TUPLE1.byte();
const TUPLE2: u8 = Opcode::TUPLE2.byte();
const TUPLE3: u8 = Opcode::TUPLE3.byte();
const MARK: u8 = Opcode::MARK.byte();
const GLOBAL: u8 = Opcode::GLOBAL.byte();
const REDUCE: u8 = Opcode::REDUCE.byte();
const BINPERSID: u8 = Opcode::BINPERSID.byte();
const BINPUT: u8 = Opcode::BINPUT.byte();
const LONG_BINPUT: u8 = Opcode::LONG_BINPUT.byte();
const BINGET: u8 = Opcode::BINGET.byte();
const LONG_BINGET: u8 = Opcode::LONG_BINGET.byte();

/// Items per `APPENDS`/`SETITEMS`, as CPython batches them.
const BATCH: usize = 1000;

/// torch's device types (`torch.device` refuses any other).
const DEVICE_TYPES: &[&str] = &[
    "cpu",
    "cuda",
    "ipu",
    "xpu",
    "mkldnn",
    "opengl",
    "opencl",
    "ideep",
    "hip",
    "ve",
    "fpga",
    "maia",
    "xla",
    "lazy",
    "vulkan",
    "mps",
    "meta",
    "hpu",
    "mtia",
    "privateuseone",
];

/// How a storage is referenced: its class in the persistent id, the
/// element count there, and which rebuild function its tensors use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StorageForm {
    /// `("torch", "FloatStorage")` or `("torch.storage", "UntypedStorage")`.
    pub(crate) class: (&'static str, &'static str),
    /// Elements of the class's dtype (bytes for an untyped storage).
    pub(crate) numel: u64,
    /// Typed: `_rebuild_tensor_v2`, which takes the dtype from the storage;
    /// untyped: `_rebuild_tensor_v3`, which names it.
    pub(crate) typed: bool,
}

/// The pickle and what it references.
pub(crate) struct Pickled {
    /// `data.pkl`.
    pub(crate) data: Vec<u8>,
    /// Storage indices by key: key `"0"` is `storages[0]`, in the order the
    /// unpickler first meets them (the order torch's offset computation
    /// expects the `data/<key>` records in).
    pub(crate) storages: Vec<usize>,
    /// What changed on the way.
    pub(crate) transformations: Vec<Transformation>,
}

/// The opcode emitter with its memo.
struct Pickler {
    buf: Vec<u8>,
    memo_len: u32,
    globals: HashMap<(&'static str, String), u32>,
}

impl Pickler {
    fn new() -> Self {
        Pickler {
            buf: vec![PROTO, 2],
            memo_len: 0,
            globals: HashMap::new(),
        }
    }

    fn op(&mut self, op: u8) {
        self.buf.push(op);
    }

    /// Memoize the top of the stack; returns its memo index.
    fn put(&mut self) -> Result<u32, WriteError> {
        let i = self.memo_len;
        self.memo_len = i
            .checked_add(1)
            .ok_or_else(|| WriteError::Unrepresentable {
                path: "<root>".into(),
                detail: "more than 2^32 memoized objects".into(),
            })?;
        if i < 256 {
            self.buf.extend_from_slice(&[BINPUT, i as u8]);
        } else {
            self.buf.push(LONG_BINPUT);
            self.buf.extend_from_slice(&i.to_le_bytes());
        }
        Ok(i)
    }

    fn get(&mut self, i: u32) {
        if i < 256 {
            self.buf.extend_from_slice(&[BINGET, i as u8]);
        } else {
            self.buf.push(LONG_BINGET);
            self.buf.extend_from_slice(&i.to_le_bytes());
        }
    }

    /// `GLOBAL module\nname\n`, memoized: later uses are `BINGET`s.
    fn global(&mut self, module: &'static str, name: &str) -> Result<(), WriteError> {
        if let Some(&i) = self.globals.get(&(module, name.to_string())) {
            self.get(i);
            return Ok(());
        }
        self.buf.push(GLOBAL);
        self.buf.extend_from_slice(module.as_bytes());
        self.buf.push(b'\n');
        self.buf.extend_from_slice(name.as_bytes());
        self.buf.push(b'\n');
        let i = self.put()?;
        self.globals.insert((module, name.to_string()), i);
        Ok(())
    }

    /// An int, in the smallest opcode CPython would use.
    fn int(&mut self, v: i64) {
        if (0..=0xff).contains(&v) {
            self.buf.extend_from_slice(&[BININT1, v as u8]);
        } else if (0..=0xffff).contains(&v) {
            self.buf.push(BININT2);
            self.buf.extend_from_slice(&(v as u16).to_le_bytes());
        } else if let Ok(v32) = i32::try_from(v) {
            self.buf.push(BININT);
            self.buf.extend_from_slice(&v32.to_le_bytes());
        } else {
            self.long1(&BigInt::from(v).to_signed_bytes_le());
        }
    }

    fn long1(&mut self, le: &[u8]) {
        self.buf.push(LONG1);
        self.buf.push(le.len() as u8);
        self.buf.extend_from_slice(le);
    }

    /// A big int: `LONG1` holds up to 255 bytes, and the weights-only
    /// unpickler has no `LONG4`.
    fn bigint(&mut self, v: &BigInt, path: &PathLink) -> Result<(), WriteError> {
        if let Ok(small) = i64::try_from(v) {
            self.int(small);
            return Ok(());
        }
        let le = v.to_signed_bytes_le();
        if le.len() > 255 {
            return Err(WriteError::Unrepresentable {
                path: path.render(),
                detail: format!(
                    "an int of {} bytes: weights-only loading reads ints of at most 255 bytes",
                    le.len()
                ),
            });
        }
        self.long1(&le);
        Ok(())
    }

    fn float(&mut self, v: f64) {
        self.buf.push(BINFLOAT);
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    fn str(&mut self, s: &str, path: &PathLink) -> Result<(), WriteError> {
        let n = u32::try_from(s.len()).map_err(|_| WriteError::Unrepresentable {
            path: path.render(),
            detail: format!(
                "a string of {} bytes (pickle strings hold under 4 GiB)",
                s.len()
            ),
        })?;
        self.buf.push(BINUNICODE);
        self.buf.extend_from_slice(&n.to_le_bytes());
        self.buf.extend_from_slice(s.as_bytes());
        Ok(())
    }

    /// A tuple of `n` items already on the stack (after a `MARK` when
    /// `n > 3`).
    fn tuple_end(&mut self, n: usize) {
        match n {
            0 => self.op(EMPTY_TUPLE),
            1 => self.op(TUPLE1),
            2 => self.op(TUPLE2),
            3 => self.op(TUPLE3),
            _ => self.op(TUPLE),
        }
    }

    fn int_tuple(&mut self, items: impl ExactSizeIterator<Item = i64>) {
        let n = items.len();
        if n > 3 {
            self.op(MARK);
        }
        for v in items {
            self.int(v);
        }
        self.tuple_end(n);
    }
}

/// Pickle `rebuilt.root`. `forms` gives, for each storage its reachable
/// tensors view, how it is referenced; every reachable tensor's view has
/// been checked against its storage.
pub(crate) fn pickle_tree(
    rebuilt: &Rebuilt,
    forms: &[Option<StorageForm>],
) -> Result<Pickled, WriteError> {
    let mut t = Tree {
        p: Pickler::new(),
        rebuilt,
        forms,
        tensor_memo: HashMap::new(),
        storage_memo: HashMap::new(),
        storages: Vec::new(),
        transformations: Vec::new(),
    };
    t.node(&rebuilt.root, &PathLink::ROOT, 0)?;
    t.p.op(STOP);
    Ok(Pickled {
        data: t.p.buf,
        storages: t.storages,
        transformations: t.transformations,
    })
}

/// The tree walk.
struct Tree<'r> {
    p: Pickler,
    rebuilt: &'r Rebuilt,
    forms: &'r [Option<StorageForm>],
    /// Tensor index → memo index.
    tensor_memo: HashMap<usize, u32>,
    /// Storage index → memo index.
    storage_memo: HashMap<usize, u32>,
    /// Storage indices by key.
    storages: Vec<usize>,
    transformations: Vec<Transformation>,
}

impl Tree<'_> {
    fn node(&mut self, n: &Node, path: &PathLink, depth: usize) -> Result<(), WriteError> {
        if depth > MAX_DEPTH {
            return Err(WriteError::TooDeep {
                path: path.render(),
                limit: MAX_DEPTH,
            });
        }
        match n {
            Node::List(items) => {
                self.p.op(EMPTY_LIST);
                self.appends(items, path, depth)?;
            }
            Node::Tuple(items) => {
                if items.len() > 3 {
                    self.p.op(MARK);
                }
                for (i, item) in items.iter().enumerate() {
                    self.node(item, &path.child(Seg::Index(i)), depth + 1)?;
                }
                self.p.tuple_end(items.len());
            }
            Node::Set(items) => {
                for (i, item) in items.iter().enumerate() {
                    check_hashable(item, &path.child(Seg::Index(i)), "a set element")?;
                }
                self.p.global("__builtin__", "set")?;
                self.p.op(EMPTY_LIST);
                self.appends(items, path, depth)?;
                self.p.op(TUPLE1);
                self.p.op(REDUCE);
            }
            Node::Dict(pairs) => {
                check_keys(pairs, path)?;
                self.p.op(EMPTY_DICT);
                self.setitems(pairs, path, depth)?;
            }
            Node::Counter(pairs) => {
                check_keys(pairs, path)?;
                self.p.global("collections", "Counter")?;
                self.p.op(EMPTY_TUPLE);
                self.p.op(REDUCE);
                self.setitems(pairs, path, depth)?;
            }
            Node::OrderedDict(pairs) => {
                check_keys(pairs, path)?;
                self.p.global("collections", "OrderedDict")?;
                self.p.op(EMPTY_TUPLE);
                self.p.op(REDUCE);
                self.setitems(pairs, path, depth)?;
            }
            Node::Attributes(inner, attrs) => {
                // As `OrderedDict.__reduce__` pickles a state dict: the
                // object and its items, then `BUILD` with `{name: value}`.
                self.node(inner, path, depth)?;
                let pairs: Vec<(Node, Node)> = attrs
                    .iter()
                    .map(|(k, v)| (Node::Str(k.clone()), v.clone()))
                    .collect();
                self.p.op(EMPTY_DICT);
                self.setitems(&pairs, path, depth)?;
                self.p.op(BUILD);
            }
            Node::NpArray { shape, items, .. } => {
                // No NumPy in a weights_only checkpoint: nested lists.
                self.node(&Node::nested_items(shape, items), path, depth)?;
            }
            leaf => self.leaf(leaf, path)?,
        }
        Ok(())
    }

    /// A value that holds no other value (kept out of [`Self::node`] so
    /// that the recursion's stack frames stay small).
    #[inline(never)]
    fn leaf(&mut self, n: &Node, path: &PathLink) -> Result<(), WriteError> {
        match n {
            Node::None => self.p.op(NONE),
            Node::Bool(b) => self.p.op(if *b { NEWTRUE } else { NEWFALSE }),
            Node::Int(i) => self.p.int(*i),
            Node::BigInt(i) => self.p.bigint(i, path)?,
            Node::Float(f) => self.p.float(*f),
            Node::Complex(re, im) => {
                self.p.global("__builtin__", "complex")?;
                self.p.float(*re);
                self.p.float(*im);
                self.p.op(TUPLE2);
                self.p.op(REDUCE);
            }
            Node::Str(s) => self.p.str(s, path)?,
            Node::Bytes(b) => {
                // CPython's protocol 2 for bytes: the latin-1 text of the
                // bytes, encoded back. (Its `bytes()` form for b'' is not
                // allowed by weights-only loading; this one is.)
                self.p.global("_codecs", "encode")?;
                let text: String = b.iter().map(|&c| char::from(c)).collect();
                self.p.str(&text, path)?;
                self.p.str("latin1", path)?;
                self.p.op(TUPLE2);
                self.p.op(REDUCE);
            }
            Node::ByteArray(b) => {
                // CPython's protocol 2 for bytearray:
                // `bytearray(b.decode('latin-1'), 'latin-1')`.
                self.p.global("__builtin__", "bytearray")?;
                let text: String = b.iter().map(|&c| char::from(c)).collect();
                self.p.str(&text, path)?;
                self.p.str("latin-1", path)?;
                self.p.op(TUPLE2);
                self.p.op(REDUCE);
            }
            Node::Tensor(i) => self.tensor(*i, path)?,
            Node::TorchDtype(name) => {
                let short = dtype_global(name).ok_or_else(|| WriteError::Unrepresentable {
                    path: path.render(),
                    detail: format!("torch dtype {name:?} is not one weights-only loading knows"),
                })?;
                self.p.global("torch", short)?;
            }
            Node::Layout(name) => {
                // What `torch.layout.__reduce__` writes.
                if !matches!(
                    name.as_str(),
                    "torch.strided"
                        | "torch.sparse_coo"
                        | "torch.sparse_csr"
                        | "torch.sparse_csc"
                        | "torch.sparse_bsr"
                        | "torch.sparse_bsc"
                        | "torch._mkldnn"
                        | "torch.jagged"
                ) {
                    return Err(WriteError::Unrepresentable {
                        path: path.render(),
                        detail: format!("{name:?} is not a torch layout"),
                    });
                }
                self.p.global("torch.serialization", "_get_layout")?;
                self.p.str(name, path)?;
                self.p.op(TUPLE1);
                self.p.op(REDUCE);
            }
            Node::QScheme(_)
            | Node::Storage(_)
            | Node::TorchCall(_)
            | Node::Shared(..)
            | Node::Ref(_) => {
                return Err(WriteError::Unrepresentable {
                    path: path.render(),
                    detail: format!("a {} only torch can hold is not written", n.type_name()),
                });
            }
            Node::Device(d) => {
                if !valid_device(d) {
                    return Err(WriteError::Unrepresentable {
                        path: path.render(),
                        detail: format!("{d:?} is not a device torch.device accepts"),
                    });
                }
                self.p.global("torch", "device")?;
                self.p.str(d, path)?;
                self.p.op(TUPLE1);
                self.p.op(REDUCE);
            }
            Node::Size(dims) => {
                self.p.global("torch", "Size")?;
                self.p.int_tuple(dims.iter().copied());
                self.p.op(TUPLE1);
                self.p.op(REDUCE);
            }

            Node::List(_)
            | Node::Tuple(_)
            | Node::Set(_)
            | Node::Dict(_)
            | Node::OrderedDict(_)
            | Node::Counter(_)
            | Node::Attributes(..)
            | Node::NpArray { .. } => unreachable!("containers are written by node()"),
        }
        Ok(())
    }

    fn appends(&mut self, items: &[Node], path: &PathLink, depth: usize) -> Result<(), WriteError> {
        for (b, batch) in items.chunks(BATCH).enumerate() {
            if batch.len() > 1 {
                self.p.op(MARK);
            }
            for (j, item) in batch.iter().enumerate() {
                let i = b * BATCH + j;
                self.node(item, &path.child(Seg::Index(i)), depth + 1)?;
            }
            self.p.op(if batch.len() > 1 { APPENDS } else { APPEND });
        }
        Ok(())
    }

    fn setitems(
        &mut self,
        pairs: &[(Node, Node)],
        path: &PathLink,
        depth: usize,
    ) -> Result<(), WriteError> {
        for batch in pairs.chunks(BATCH) {
            if batch.len() > 1 {
                self.p.op(MARK);
            }
            for (k, v) in batch {
                let at = path.child(Seg::Key(k));
                self.node(k, &at, depth + 1)?;
                self.node(v, &at, depth + 1)?;
            }
            self.p.op(if batch.len() > 1 { SETITEMS } else { SETITEM });
        }
        Ok(())
    }

    /// A tensor as `torch.save` pickles it, or its memo entry.
    fn tensor(&mut self, index: usize, path: &PathLink) -> Result<(), WriteError> {
        if let Some(&m) = self.tensor_memo.get(&index) {
            self.p.get(m);
            return Ok(());
        }
        let missing = || WriteError::InvalidTensor {
            name: path.render(),
            detail: format!("refers to tensor {index}, which is not in the checkpoint"),
        };
        let t = self.rebuilt.tensors.get(index).ok_or_else(missing)?;
        let form = self
            .forms
            .get(t.storage)
            .and_then(|f| f.clone())
            .ok_or_else(missing)?;
        // torch refuses requires_grad on integer and bool tensors at load.
        let requires_grad = t.requires_grad && can_require_grad(t.dtype);
        if t.requires_grad && !requires_grad {
            self.transformations.push(Transformation {
                path: path.render(),
                what: format!(
                    "requires_grad dropped: torch refuses it on {} tensors",
                    t.dtype
                ),
            });
        }
        if t.parameter {
            self.p.global("torch._utils", "_rebuild_parameter")?;
        }
        self.p.global(
            "torch._utils",
            if form.typed {
                "_rebuild_tensor_v2"
            } else {
                "_rebuild_tensor_v3"
            },
        )?;
        self.p.op(MARK);
        self.storage(t.storage, &form, path)?;
        // Views were checked to fit int64.
        self.p.int(t.offset as i64);
        self.p.int_tuple(t.shape.iter().map(|&v| v as i64));
        self.p.int_tuple(t.stride.iter().map(|&v| v as i64));
        // A parameter's data does not require grad; the parameter does.
        self.p.op(if requires_grad && !t.parameter {
            NEWTRUE
        } else {
            NEWFALSE
        });
        self.empty_ordered_dict()?;
        if !form.typed {
            let name = t.dtype.torch_name();
            self.p
                .global("torch", name.strip_prefix("torch.").unwrap_or(name))?;
        }
        self.p.op(TUPLE);
        self.p.op(REDUCE);
        if t.parameter {
            self.p.op(if requires_grad { NEWTRUE } else { NEWFALSE });
            self.empty_ordered_dict()?;
            self.p.op(TUPLE3);
            self.p.op(REDUCE);
        }
        let m = self.p.put()?;
        self.tensor_memo.insert(index, m);
        Ok(())
    }

    /// `OrderedDict()`: the backward hooks torch passes to its rebuild
    /// functions.
    fn empty_ordered_dict(&mut self) -> Result<(), WriteError> {
        self.p.global("collections", "OrderedDict")?;
        self.p.op(EMPTY_TUPLE);
        self.p.op(REDUCE);
        Ok(())
    }

    /// The storage's persistent id the first time, its memo entry after.
    fn storage(
        &mut self,
        index: usize,
        form: &StorageForm,
        path: &PathLink,
    ) -> Result<(), WriteError> {
        if let Some(&m) = self.storage_memo.get(&index) {
            self.p.get(m);
            return Ok(());
        }
        let key = self.storages.len().to_string();
        self.storages.push(index);
        if let Some(s) = self.rebuilt.storages.get(index) {
            if s.location != "cpu" {
                self.transformations.push(Transformation {
                    path: path.render(),
                    what: format!(
                        "storage {:?} was on {}; written as a CPU storage (key {key})",
                        s.key, s.location
                    ),
                });
            }
        }
        self.p.op(MARK);
        self.p.str("storage", path)?;
        self.p.global(form.class.0, form.class.1)?;
        self.p.str(&key, path)?;
        self.p.str("cpu", path)?;
        let numel = i64::try_from(form.numel).map_err(|_| WriteError::InvalidTensor {
            name: path.render(),
            detail: format!("storage of {} elements is out of int64 range", form.numel),
        })?;
        self.p.int(numel);
        self.p.op(TUPLE);
        self.p.op(BINPERSID);
        let m = self.p.put()?;
        self.storage_memo.insert(index, m);
        Ok(())
    }
}

/// Whether torch lets a tensor of `dtype` require grad: floating point and
/// complex dtypes (float8 included).
pub(crate) fn can_require_grad(dtype: crate::dtype::Dtype) -> bool {
    use crate::dtype::Dtype as D;
    !matches!(
        dtype,
        D::Bool | D::I8 | D::I16 | D::I32 | D::I64 | D::U8 | D::U16 | D::U32 | D::U64
    )
}

/// The name after `torch.` of a dtype weights-only loading allows
/// (`torch.float32` or `float32` → `float32`).
fn dtype_global(name: &str) -> Option<&str> {
    let short = name.strip_prefix("torch.").unwrap_or(name);
    let full = format!("torch.{short}");
    (airlock_policy::weights_only::allowed(&full)
        == Some(airlock_policy::weights_only::WoKind::Dtype))
    .then_some(short)
}

/// `type` or `type:index`, with a type torch knows.
fn valid_device(d: &str) -> bool {
    let (ty, index) = match d.split_once(':') {
        Some((t, i)) => (t, Some(i)),
        None => (d, None),
    };
    DEVICE_TYPES.contains(&ty)
        && index
            .is_none_or(|i| !i.is_empty() && i.len() <= 9 && i.bytes().all(|b| b.is_ascii_digit()))
}

/// Python refuses unhashable dict keys and set elements at load; so do we,
/// at write. A set is written as a `set` (unhashable) whatever it was.
fn check_hashable(n: &Node, path: &PathLink, what: &str) -> Result<(), WriteError> {
    hashable_at(n, path, what, 0)
}

fn hashable_at(n: &Node, path: &PathLink, what: &str, depth: usize) -> Result<(), WriteError> {
    if depth > MAX_DEPTH {
        return Err(WriteError::TooDeep {
            path: path.render(),
            limit: MAX_DEPTH,
        });
    }
    match n {
        Node::List(_) | Node::Dict(_) | Node::OrderedDict(_) | Node::Counter(_) | Node::Set(_) => {
            Err(WriteError::Unrepresentable {
                path: path.render(),
                detail: format!("{what} of type {} is unhashable", py_type(n)),
            })
        }
        Node::Tuple(items) => {
            for (i, item) in items.iter().enumerate() {
                hashable_at(item, &path.child(Seg::Index(i)), what, depth + 1)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Keys Python would consider equal, for the common key types (a NaN is
/// equal to no other key).
#[derive(PartialEq, Eq, Hash)]
enum KeyId<'a> {
    Str(&'a str),
    Num(NumKey),
    Bytes(&'a [u8]),
}

fn key_id(k: &Node) -> Option<KeyId<'_>> {
    Some(match k {
        Node::Str(s) => KeyId::Str(s),
        Node::Bytes(b) => KeyId::Bytes(b),
        _ => KeyId::Num(crate::rebuild::num(k).filter(|n| !n.is_nan())?.key()),
    })
}

/// Keys hashable and not repeated (Python would keep only the last value
/// of a repeated key: the tree and the loaded dict would differ).
fn check_keys(pairs: &[(Node, Node)], path: &PathLink) -> Result<(), WriteError> {
    let mut seen = std::collections::HashSet::new();
    for (k, _) in pairs {
        let at = path.child(Seg::Key(k));
        check_hashable(k, &at, "a dict key")?;
        if let Some(id) = key_id(k) {
            if !seen.insert(id) {
                return Err(WriteError::Unrepresentable {
                    path: at.render(),
                    detail: "the dict has this key twice; Python would keep only the last value"
                        .into(),
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pickle(root: Node) -> Result<Vec<u8>, WriteError> {
        let r = Rebuilt {
            root,
            ..Default::default()
        };
        pickle_tree(&r, &[]).map(|p| p.data)
    }

    #[test]
    fn scalars_use_cpythons_opcodes() {
        let got = pickle(Node::List(vec![
            Node::Int(0),
            Node::Int(255),
            Node::Int(256),
            Node::Int(65535),
            Node::Int(65536),
            Node::Int(-1),
            Node::Int(i64::from(i32::MIN)),
            Node::Int(1 << 31),
            Node::Int(i64::MIN),
        ]))
        .unwrap();
        let mut want = vec![PROTO, 2, EMPTY_LIST, MARK];
        want.extend_from_slice(&[BININT1, 0, BININT1, 255, BININT2, 0, 1, BININT2, 255, 255]);
        want.extend_from_slice(&[BININT, 0, 0, 1, 0, BININT, 255, 255, 255, 255]);
        want.extend_from_slice(&[BININT, 0, 0, 0, 0x80]);
        want.extend_from_slice(&[LONG1, 5, 0, 0, 0, 0x80, 0]);
        want.extend_from_slice(&[LONG1, 8, 0, 0, 0, 0, 0, 0, 0, 0x80]);
        want.extend_from_slice(&[APPENDS, STOP]);
        assert_eq!(got, want);
    }

    #[test]
    fn bytes_are_latin1_text_through_codecs_encode() {
        let got = pickle(Node::Bytes(vec![0x00, 0xe9, 0xff])).unwrap();
        let mut want = vec![PROTO, 2];
        want.extend_from_slice(b"c_codecs\nencode\nq\x00X\x05\x00\x00\x00\x00\xc3\xa9\xc3\xbf");
        want.extend_from_slice(b"X\x06\x00\x00\x00latin1");
        want.extend_from_slice(&[TUPLE2, REDUCE, STOP]);
        assert_eq!(got, want);
    }

    #[test]
    fn ints_past_255_bytes_are_refused() {
        let ok: BigInt = BigInt::from(1) << 2030;
        assert!(pickle(Node::BigInt(ok)).is_ok());
        let too_big: BigInt = BigInt::from(1) << 2040;
        let e = pickle(Node::Dict(vec![(
            Node::Str("n".into()),
            Node::BigInt(too_big),
        )]))
        .unwrap_err();
        assert!(e.to_string().starts_with("n: an int of 256 bytes"), "{e}");
    }

    #[test]
    fn unhashable_and_repeated_keys_are_refused() {
        let e = pickle(Node::Dict(vec![(Node::List(vec![]), Node::None)])).unwrap_err();
        assert!(e.to_string().contains("unhashable"), "{e}");
        let e = pickle(Node::Set(vec![Node::Tuple(vec![Node::Set(vec![])])])).unwrap_err();
        assert!(e.to_string().contains("unhashable"), "{e}");
        let e = pickle(Node::OrderedDict(vec![
            (Node::Int(1), Node::None),
            (Node::Bool(true), Node::None),
        ]))
        .unwrap_err();
        assert!(e.to_string().contains("twice"), "{e}");
        // {0.5: 0, 0.5: 0} and {1+0j: 0, 1.0: 0} have one key, {nan: 0, nan: 0} two.
        let dict = |a: Node, b: Node| pickle(Node::Dict(vec![(a, Node::None), (b, Node::None)]));
        for (a, b) in [
            (Node::Float(0.5), Node::Float(0.5)),
            (Node::Complex(1.0, 0.0), Node::Float(1.0)),
        ] {
            let e = dict(a, b).unwrap_err();
            assert!(e.to_string().contains("twice"), "{e}");
        }
        assert!(dict(Node::Float(f64::NAN), Node::Float(f64::NAN)).is_ok());
        assert!(
            pickle(Node::Dict(vec![(
                Node::Tuple(vec![Node::Int(1)]),
                Node::None
            )]))
            .is_ok()
        );
    }

    #[test]
    fn devices_and_dtypes_are_checked() {
        assert!(pickle(Node::Device("cuda:0".into())).is_ok());
        assert!(pickle(Node::Device("cpu".into())).is_ok());
        for bad in ["gpu", "cuda:", "cuda:x", "cuda:0:1", ""] {
            assert!(pickle(Node::Device(bad.into())).is_err(), "{bad}");
        }
        assert!(pickle(Node::TorchDtype("torch.float8_e8m0fnu".into())).is_ok());
        assert!(pickle(Node::TorchDtype("float16".into())).is_ok());
        for bad in ["torch.Tensor", "torch.float128", "os.system"] {
            assert!(pickle(Node::TorchDtype(bad.into())).is_err(), "{bad}");
        }
    }

    #[test]
    fn depth_is_bounded() {
        let mut n = Node::None;
        for _ in 0..MAX_DEPTH {
            n = Node::List(vec![n]);
        }
        assert!(pickle(n.clone()).is_ok());
        let e = pickle(Node::List(vec![n])).unwrap_err();
        assert!(matches!(e, WriteError::TooDeep { .. }), "{e}");
    }

    #[test]
    fn globals_are_memoized() {
        let got = pickle(Node::List(vec![
            Node::Complex(1.0, 2.0),
            Node::Complex(3.0, 4.0),
        ]))
        .unwrap();
        let count = got.windows(8).filter(|w| w == b"complex\n").count();
        assert_eq!(count, 1);
    }
}
