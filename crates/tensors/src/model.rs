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
        }
    }

    /// Whether Python refuses it as a dict key or set member (the mutable
    /// containers).
    pub fn is_unhashable(&self) -> bool {
        matches!(
            self,
            Node::List(_)
                | Node::Dict(_)
                | Node::OrderedDict(_)
                | Node::Counter(_)
                | Node::Set(_)
                | Node::ByteArray(_)
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
}
