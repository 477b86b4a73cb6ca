//! A checkpoint rebuilt as data: a tree of plain values whose leaves may be
//! tensors, each tensor a view into a storage. Nothing in it can run code;
//! the writers turn it into safetensors or a `weights_only` checkpoint.

use num_bigint::BigInt;

use crate::dtype::Dtype;

/// A storage: a run of bytes in the checkpoint, shared by the tensors that
/// view it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageInfo {
    /// Its key: the record `data/<key>` of a ZIP checkpoint, the key in the
    /// legacy format's storage list.
    pub key: String,
    /// The storage's element type (`uint8` for an untyped storage).
    pub dtype: Dtype,
    /// Elements, as the persistent id declares.
    pub numel: u64,
    /// The location tag (`cpu`, `cuda:0`, ...).
    pub location: String,
    /// The bytes, when the pickle itself holds them (a NumPy array's
    /// data); otherwise the container holds them under `key`.
    pub inline: Option<Vec<u8>>,
}

impl StorageInfo {
    /// Size in bytes.
    pub fn nbytes(&self) -> u64 {
        self.numel.saturating_mul(self.dtype.size())
    }
}

/// A tensor: a strided view into a storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    /// Index into [`Rebuilt::storages`].
    pub storage: usize,
    /// The tensor's element type (may differ from an untyped storage's).
    pub dtype: Dtype,
    /// Offset into the storage, in elements of `dtype`.
    pub offset: u64,
    /// Sizes.
    pub shape: Vec<u64>,
    /// Strides, in elements.
    pub stride: Vec<u64>,
    /// `requires_grad`.
    pub requires_grad: bool,
    /// Whether it was an `nn.Parameter`.
    pub parameter: bool,
}

impl TensorInfo {
    /// Number of elements.
    pub fn numel(&self) -> u64 {
        self.shape.iter().product()
    }

    /// Size of the tensor's data when written contiguously.
    pub fn nbytes(&self) -> u64 {
        self.numel() * self.dtype.size()
    }

    /// Whether the view is C-contiguous (dimensions of size 1 and empty
    /// tensors are contiguous whatever their strides).
    pub fn is_contiguous(&self) -> bool {
        if self.numel() == 0 {
            return true;
        }
        let mut expected = 1u64;
        for (&n, &s) in self.shape.iter().zip(&self.stride).rev() {
            if n != 1 && s != expected {
                return false;
            }
            expected *= n;
        }
        true
    }

    /// The byte range of the storage the view touches, `(start, end)`, or
    /// `None` for an empty tensor.
    pub fn storage_byte_range(&self) -> Option<(u64, u64)> {
        if self.numel() == 0 {
            return None;
        }
        let last: u64 = self
            .shape
            .iter()
            .zip(&self.stride)
            .map(|(&n, &s)| (n - 1) * s)
            .sum();
        let size = self.dtype.size();
        Some((self.offset * size, (self.offset + last + 1) * size))
    }
}

/// A value of the rebuilt tree.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Node {
    /// `None`.
    #[default]
    None,
    /// A bool.
    Bool(bool),
    /// An int that fits in 64 bits.
    Int(i64),
    /// A larger int.
    BigInt(BigInt),
    /// A float.
    Float(f64),
    /// A complex number.
    Complex(f64, f64),
    /// A string.
    Str(String),
    /// `bytes`.
    Bytes(Vec<u8>),
    /// A `bytearray` (`weights_only` loads it as one).
    ByteArray(Vec<u8>),
    /// A list.
    List(Vec<Node>),
    /// A tuple.
    Tuple(Vec<Node>),
    /// A set or frozenset.
    Set(Vec<Node>),
    /// A dict, in insertion order.
    Dict(Vec<(Node, Node)>),
    /// A `collections.OrderedDict` (what state dicts are).
    OrderedDict(Vec<(Node, Node)>),
    /// A `collections.Counter` (`weights_only` loads it as one).
    Counter(Vec<(Node, Node)>),
    /// A tensor: index into [`Rebuilt::tensors`].
    Tensor(usize),
    /// A `torch.dtype` (`torch.float32`).
    TorchDtype(String),
    /// A `torch.device` (`cpu`, `cuda:0`).
    Device(String),
    /// A `torch.Size`.
    Size(Vec<i64>),
    /// A `torch.layout` (`torch.strided`), as `torch.serialization._get_layout`
    /// pickles it. Added for the rebuild: checkpoints that record a layout
    /// (`torch.strided` next to a dtype and device) would otherwise be
    /// refused, and a plain string would not load back as a layout.
    Layout(String),
    /// A `torch.qscheme` (`torch.per_tensor_affine`), which quantized
    /// tensors name. Only in trees rebuilt with
    /// [`RebuildOptions::torch_objects`](crate::rebuild::RebuildOptions).
    QScheme(String),
    /// A typed storage, as torch's `persistent_load` returns it: a byte
    /// range of one of [`Rebuilt::storages`] seen as elements of `dtype`
    /// (torch's name, which may be a quantized one). Only in trees rebuilt
    /// with [`RebuildOptions::torch_objects`](crate::rebuild::RebuildOptions):
    /// a bare storage, or the storage argument of a [`TorchCall`].
    Storage(StorageRef),
    /// A tensor only torch can hold (quantized, sparse, meta-device, a
    /// conjugate or negative view), as the call to torch's own rebuild
    /// function that `torch.load(weights_only=True)` makes for it, with
    /// arguments that are data. Only in trees rebuilt with
    /// [`RebuildOptions::torch_objects`](crate::rebuild::RebuildOptions);
    /// the writers refuse it.
    TorchCall(Box<TorchCall>),
    /// An object that contains itself, with its identity: the [`Node::Ref`]s
    /// inside it refer to it. Only in trees rebuilt with
    /// [`RebuildOptions::references`](crate::rebuild::RebuildOptions), for a
    /// loader that makes Python objects; the writers refuse it.
    Shared(u64, Box<Node>),
    /// A value with instance attributes set on it once built, as pickle's
    /// `BUILD` sets them: a state dict's `_metadata` (the module versions
    /// `load_state_dict` reads), on its `OrderedDict`. Only in trees rebuilt
    /// with [`RebuildOptions::attributes`](crate::rebuild::RebuildOptions).
    Attributes(Box<Node>, Vec<(String, Node)>),
    /// A reference back to the enclosing [`Node::Shared`] with that
    /// identity: where a reference cycle closes.
    Ref(u64),
    /// A NumPy array of fixed-size strings (`<U3`) or bytes (`|S4`), which
    /// `np.load` reads without pickle: its dtype as NumPy writes it
    /// (`typestr`), its shape, and its items in C order ([`Node::Str`] or
    /// [`Node::Bytes`], trailing NULs removed as NumPy returns them).
    NpArray {
        /// The dtype's `typestr`.
        dtype: String,
        /// The shape.
        shape: Vec<u64>,
        /// The items, in C order.
        items: Vec<Node>,
    },
}

/// A byte range of a storage seen as a typed storage (see [`Node::Storage`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageRef {
    /// Index into [`Rebuilt::storages`].
    pub storage: usize,
    /// The typed storage's dtype, by torch's name (`torch.quint8`).
    pub dtype: String,
    /// Start of the range, in bytes (non-zero only for legacy views).
    pub byte_offset: u64,
    /// Length of the range, in bytes.
    pub nbytes: u64,
}

/// One of torch's data-only rebuild functions, which `weights_only`
/// allows (see [`Node::TorchCall`]). Nested tensors are not among them:
/// `weights_only` refuses `_rebuild_nested_tensor`, whose views torch does
/// not bound-check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TorchFunction {
    /// `torch._utils._rebuild_tensor_v2`, for conjugate and negative views.
    RebuildTensorV2,
    /// `torch._utils._rebuild_tensor_v3`, for conjugate and negative views.
    RebuildTensorV3,
    /// `torch._utils._rebuild_qtensor`: a quantized tensor.
    RebuildQTensor,
    /// `torch._utils._rebuild_sparse_tensor`: a sparse tensor (COO, CSR,
    /// CSC, BSR, BSC).
    RebuildSparseTensor,
    /// `torch._utils._rebuild_meta_tensor_no_storage`: a tensor on the
    /// meta device, which has no data.
    RebuildMetaTensorNoStorage,
}

impl TorchFunction {
    /// Every function, with its qualified name.
    pub const ALL: &'static [(TorchFunction, &'static str)] = &[
        (
            TorchFunction::RebuildTensorV2,
            "torch._utils._rebuild_tensor_v2",
        ),
        (
            TorchFunction::RebuildTensorV3,
            "torch._utils._rebuild_tensor_v3",
        ),
        (
            TorchFunction::RebuildQTensor,
            "torch._utils._rebuild_qtensor",
        ),
        (
            TorchFunction::RebuildSparseTensor,
            "torch._utils._rebuild_sparse_tensor",
        ),
        (
            TorchFunction::RebuildMetaTensorNoStorage,
            "torch._utils._rebuild_meta_tensor_no_storage",
        ),
    ];

    /// The function's qualified name (`torch._utils._rebuild_qtensor`).
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(f, _)| *f == self)
            .map_or("", |(_, n)| n)
    }

    /// The function with that qualified name.
    pub fn from_name(name: &str) -> Option<TorchFunction> {
        Self::ALL.iter().find(|(_, n)| *n == name).map(|(f, _)| *f)
    }
}

/// A call to one of torch's rebuild functions (see [`Node::TorchCall`]).
#[derive(Debug, Clone, PartialEq)]
pub struct TorchCall {
    /// The object's identity in the pickle: calls with the same `id` are
    /// one object, to be made once and shared.
    pub id: u64,
    /// The function.
    pub function: TorchFunction,
    /// Its positional arguments.
    pub args: Vec<Node>,
}

impl Node {
    /// The Python type's name, for messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Node::None => "NoneType",
            Node::Bool(_) => "bool",
            Node::Int(_) | Node::BigInt(_) => "int",
            Node::Float(_) => "float",
            Node::Complex(..) => "complex",
            Node::Str(_) => "str",
            Node::Bytes(_) => "bytes",
            Node::ByteArray(_) => "bytearray",
            Node::List(_) => "list",
            Node::Tuple(_) => "tuple",
            Node::Set(_) => "set",
            Node::Dict(_) => "dict",
            Node::OrderedDict(_) => "OrderedDict",
            Node::Counter(_) => "Counter",
            Node::Tensor(_) => "Tensor",
            Node::TorchDtype(_) => "torch.dtype",
            Node::Device(_) => "torch.device",
            Node::Size(_) => "torch.Size",
            Node::Layout(_) => "torch.layout",
            Node::QScheme(_) => "torch.qscheme",
            Node::Storage(_) => "TypedStorage",
            Node::TorchCall(_) => "Tensor",
            Node::Shared(_, n) | Node::Attributes(n, _) => n.type_name(),
            Node::Ref(_) => "reference",
            Node::NpArray { .. } => "numpy.ndarray",
        }
    }

    /// A NumPy array's items (C order) as nested lists of its shape, as
    /// `ndarray.tolist()` gives them; a 0-d array is its item.
    pub fn nested_items(shape: &[u64], items: &[Node]) -> Node {
        match shape.split_first() {
            None => items.first().cloned().unwrap_or_default(),
            Some((&n, rest)) => {
                let per: usize = rest.iter().map(|&d| d as usize).product();
                let rows = (0..n as usize)
                    .map(|i| {
                        let chunk = items.get(i * per..(i + 1) * per).unwrap_or(&[]);
                        Node::nested_items(rest, chunk)
                    })
                    .collect();
                Node::List(rows)
            }
        }
    }

    /// Call `f` on each value this one holds directly: container items,
    /// dict keys and values, a call's arguments, a shared object's content.
    pub fn for_each_child_mut(&mut self, f: &mut dyn FnMut(&mut Node)) {
        match self {
            Node::List(items) | Node::Tuple(items) | Node::Set(items) => {
                items.iter_mut().for_each(f)
            }
            Node::Dict(pairs) | Node::OrderedDict(pairs) | Node::Counter(pairs) => {
                for (k, v) in pairs {
                    f(k);
                    f(v);
                }
            }
            Node::TorchCall(c) => c.args.iter_mut().for_each(f),
            Node::Shared(_, inner) => f(inner),
            Node::Attributes(inner, attrs) => {
                f(inner);
                attrs.iter_mut().for_each(|(_, v)| f(v));
            }
            _ => {}
        }
    }

    /// Whether Python refuses it as a dict key or set member (the mutable
    /// containers).
    pub fn is_unhashable(&self) -> bool {
        if let Node::Shared(_, n) | Node::Attributes(n, _) = self {
            return n.is_unhashable();
        }
        matches!(
            self,
            Node::List(_)
                | Node::Dict(_)
                | Node::OrderedDict(_)
                | Node::Counter(_)
                | Node::Set(_)
                | Node::ByteArray(_)
                | Node::NpArray { .. }
        )
    }
}

/// Something the rebuild changed on the way: a foreign object replaced by
/// plain data, a shared storage copied, ...
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Transformation {
    /// Where in the tree (`model.layers.0.weight`, `config`).
    pub path: String,
    /// What was done, in a sentence.
    pub what: String,
}

/// A checkpoint rebuilt as data.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Rebuilt {
    /// The loaded object.
    pub root: Node,
    /// The tensors the tree refers to.
    pub tensors: Vec<TensorInfo>,
    /// The storages the tensors view.
    pub storages: Vec<StorageInfo>,
    /// What was transformed.
    pub transformations: Vec<Transformation>,
    /// Globals outside `torch.load(weights_only=True)`'s allowlist that the
    /// rebuild turned into data: the foreign types it knows (NumPy,
    /// `argparse`, omegaconf, `pathlib`, `collections`) and the classes of
    /// pickled `nn.Module`s. A global imported anywhere in the stream and
    /// not here was not proven to be data (see the convert crate).
    pub foreign: std::collections::BTreeSet<String>,
    /// Of those, the classes whose instances became dicts naming their
    /// class under `"__class__"`, or that were stored as values and became
    /// their names: what `torch.load` returns differs in type (the guard
    /// says so).
    pub objects: std::collections::BTreeSet<String>,
    /// Pickled `nn.Module`s replaced by their state dicts, by tree path,
    /// with the attributes of each that rebuilt as data (with
    /// [`RebuildOptions::module_attributes`](crate::rebuild::RebuildOptions)).
    pub module_attributes: Vec<(String, Vec<(String, Node)>)>,
}
