//! torch's own objects: tensors and the storages behind them, `torch.Size`,
//! `torch.device`, dtypes and layouts, read as `torch.load` builds them.

use airlock_pickle::{ObjId, Object, Opaque, Origin, Value};

use super::{Make, Node, Result, Target, TypedStorage, Walker, allow, push_storage, push_tensor};
use crate::dtype::Dtype;
use crate::model::{StorageInfo, StorageRef, TensorInfo, TorchCall, TorchFunction};

/// `torch.storage._dtype_to_storage_type_map()`: the legacy storage class
/// names torch's `find_class` turns into `StorageType`, with their dtypes
/// (the quantized ones only serve quantized tensors).
const STORAGE_TYPES: &[(&str, &str)] = &[
    ("DoubleStorage", "torch.float64"),
    ("FloatStorage", "torch.float32"),
    ("HalfStorage", "torch.float16"),
    ("LongStorage", "torch.int64"),
    ("IntStorage", "torch.int32"),
    ("ShortStorage", "torch.int16"),
    ("CharStorage", "torch.int8"),
    ("ByteStorage", "torch.uint8"),
    ("BoolStorage", "torch.bool"),
    ("BFloat16Storage", "torch.bfloat16"),
    ("ComplexDoubleStorage", "torch.complex128"),
    ("ComplexFloatStorage", "torch.complex64"),
    ("QInt8Storage", "torch.qint8"),
    ("QInt32Storage", "torch.qint32"),
    ("QUInt8Storage", "torch.quint8"),
    ("QUInt4x2Storage", "torch.quint4x2"),
    ("QUInt2x4Storage", "torch.quint2x4"),
];

pub(super) fn is_storage_type_name(name: &str) -> bool {
    STORAGE_TYPES.iter().any(|(n, _)| *n == name)
}

/// Every `torch.dtype` of torch 2.x, by `str(dtype)`.
const TORCH_DTYPES: &[&str] = &[
    "bcomplex32",
    "bfloat16",
    "bits16",
    "bits1x8",
    "bits2x4",
    "bits4x2",
    "bits8",
    "bool",
    "complex128",
    "complex32",
    "complex64",
    "float16",
    "float32",
    "float4_e2m1fn_x2",
    "float64",
    "float8_e4m3fn",
    "float8_e4m3fnuz",
    "float8_e5m2",
    "float8_e5m2fnuz",
    "float8_e8m0fnu",
    "int1",
    "int16",
    "int2",
    "int3",
    "int32",
    "int4",
    "int5",
    "int6",
    "int64",
    "int7",
    "int8",
    "qint32",
    "qint8",
    "quint2x4",
    "quint4x2",
    "quint8",
    "uint1",
    "uint16",
    "uint2",
    "uint3",
    "uint32",
    "uint4",
    "uint5",
    "uint6",
    "uint64",
    "uint7",
    "uint8",
];

/// Attributes of `torch` that are dtypes under another name.
const DTYPE_ALIASES: &[(&str, &str)] = &[
    ("bit", "uint1"),
    ("cdouble", "complex128"),
    ("cfloat", "complex64"),
    ("chalf", "complex32"),
    ("double", "float64"),
    ("float", "float32"),
    ("half", "float16"),
    ("int", "int32"),
    ("long", "int64"),
    ("short", "int16"),
];

/// The `str()` of the dtype a global names (`torch.float` → `torch.float32`).
pub(super) fn dtype_value(global: &str) -> Option<String> {
    let name = global.strip_prefix("torch.")?;
    let name = DTYPE_ALIASES
        .iter()
        .find(|(a, _)| *a == name)
        .map_or(name, |(_, c)| c);
    TORCH_DTYPES
        .contains(&name)
        .then(|| format!("torch.{name}"))
}

/// The quantization schemes (`torch.qscheme` globals) quantized tensors
/// name.
const QSCHEMES: &[&str] = &[
    "torch.per_tensor_affine",
    "torch.per_channel_affine",
    "torch.per_tensor_symmetric",
    "torch.per_channel_symmetric",
    "torch.per_channel_affine_float_qparams",
];

/// Whether the global names a `torch.qscheme`.
pub(super) fn is_qscheme(global: &str) -> bool {
    QSCHEMES.contains(&global)
}

/// A persistent object met as a value of its own (a bare storage, or the
/// storage argument of a [`TorchCall`]): the typed storage
/// `persistent_load` returns, with [`RebuildOptions::torch_objects`](super::RebuildOptions).
pub(super) fn bare_storage(w: &mut Walker<'_, '_>, id: ObjId) -> Result<Node> {
    let ts = storage_arg(w, Value::from(id))?;
    Ok(Node::Storage(StorageRef {
        storage: ts.storage,
        dtype: ts.dtype.torch_name().to_string(),
        byte_offset: ts.byte_offset,
        nbytes: ts.nbytes,
    }))
}

/// With [`RebuildOptions::torch_objects`](super::RebuildOptions): the
/// torch-only tensor a call makes, as that call with its arguments rebuilt
/// as data. `None` when the call is not one of those.
fn torch_object<'g>(
    w: &mut Walker<'g, '_>,
    id: ObjId,
    op: &'g Opaque,
    name: &str,
    make: Make<'g>,
) -> Result<Option<Node>> {
    let Some(function) = TorchFunction::from_name(name) else {
        return Ok(None);
    };
    let Make::Call(args) = make else {
        return Ok(None);
    };
    if matches!(
        function,
        TorchFunction::RebuildTensorV2 | TorchFunction::RebuildTensorV3
    ) {
        // Only views with the conjugate or negative bit set; the others are
        // plain tensors.
        let metadata = match (function, args.len()) {
            (TorchFunction::RebuildTensorV2, 7) | (TorchFunction::RebuildTensorV3, 8) => {
                args[args.len() - 1]
            }
            _ => return Ok(None),
        };
        if metadata_bits(w, metadata)? == (false, false) {
            return Ok(None);
        }
    }
    // BUILD on a tensor would run Tensor.__setstate__ on it.
    w.check_mutations(op, 0, name)?;
    // Backward hooks, as for plain tensors: none, or an empty dict.
    let hooks = match (function, args.len()) {
        (TorchFunction::RebuildTensorV2 | TorchFunction::RebuildTensorV3, n) if n >= 6 => {
            Some(args[5])
        }
        (TorchFunction::RebuildQTensor, 7) => Some(args[6]),
        _ => None,
    };
    if let Some(hooks) = hooks {
        no_hooks(w, hooks)?;
    }
    let short = name.rsplit('.').next().unwrap_or(name).to_string();
    let mut out = Vec::with_capacity(args.len());
    for (i, &a) in args.iter().enumerate() {
        out.push(w.child(format!("{short}.{i}"), a)?);
    }
    Ok(Some(Node::TorchCall(Box::new(TorchCall {
        id: id.index() as u64,
        function,
        args: out,
    }))))
}

/// The layouts `torch.serialization._get_layout` knows.
const LAYOUTS: &[&str] = &[
    "torch._mkldnn",
    "torch.jagged",
    "torch.sparse_bsc",
    "torch.sparse_bsr",
    "torch.sparse_coo",
    "torch.sparse_csc",
    "torch.sparse_csr",
    "torch.strided",
];

/// The legacy CPU tensor classes (`torch._tensor_classes`), with the dtype
/// an empty instance has. `torch.Tensor()` has the default dtype, float32
/// unless the loading program changed it.
const TENSOR_CLASSES: &[(&str, Dtype)] = &[
    ("torch.Tensor", Dtype::F32),
    ("torch.DoubleTensor", Dtype::F64),
    ("torch.FloatTensor", Dtype::F32),
    ("torch.HalfTensor", Dtype::F16),
    ("torch.BFloat16Tensor", Dtype::BF16),
    ("torch.LongTensor", Dtype::I64),
    ("torch.IntTensor", Dtype::I32),
    ("torch.ShortTensor", Dtype::I16),
    ("torch.CharTensor", Dtype::I8),
    ("torch.ByteTensor", Dtype::U8),
    ("torch.BoolTensor", Dtype::Bool),
];

/// The rebuild functions and classes that make tensors Airlock rebuilds.
const TENSOR_FUNCTIONS: &[&str] = &[
    "torch._utils._rebuild_tensor",
    "torch._utils._rebuild_tensor_v2",
    "torch._utils._rebuild_tensor_v3",
    "torch._utils._rebuild_parameter",
    "torch._utils._rebuild_parameter_with_state",
    "torch._tensor._rebuild_from_type_v2",
    "torch.nn.parameter.Parameter",
];

fn is_tensor_function(name: &str) -> bool {
    TENSOR_FUNCTIONS.contains(&name) || TENSOR_CLASSES.iter().any(|(n, _)| *n == name)
}

/// Tensor rebuilds Airlock refuses, with the reason.
fn refused_tensor_function(name: &str) -> Option<String> {
    let what = match name {
        "torch._utils._rebuild_qtensor" => "quantized tensors (their values are not their bytes)",
        "torch._utils._rebuild_sparse_tensor" | "torch._utils._rebuild_sparse_csr" => {
            "sparse tensors"
        }
        "torch._utils._rebuild_nested_tensor" => "nested tensors",
        "torch._utils._rebuild_meta_tensor_no_storage" => "meta-device tensors (they have no data)",
        "torch._utils._rebuild_wrapper_subclass" => "tensor wrapper subclasses",
        "torch._utils._rebuild_device_tensor_from_cpu_tensor"
        | "torch._utils._rebuild_device_tensor_from_numpy"
        | "torch._utils._rebuild_xla_tensor"
        | "torch._utils._rebuild_mlu_tensor" => "device-specific tensor rebuilds",
        _ if name.starts_with("torch.cuda.") && name.ends_with("Tensor") => {
            "legacy CUDA tensor classes"
        }
        _ if name.starts_with("torch.sparse.") && name.ends_with("Tensor") => {
            "legacy sparse tensor classes"
        }
        _ => return None,
    };
    Some(format!("{name}: {what} are not rebuilt"))
}

/// Tensor attributes with a descriptor: `setattr` through
/// `_set_obj_state` changes the tensor itself (`data`, `requires_grad`,
/// ...) or fails (read-only properties).
const TENSOR_DESCRIPTORS: &[&str] = &[
    "H",
    "T",
    "__cuda_array_interface__",
    "__weakref__",
    "_backward_hooks",
    "_base",
    "_cdata",
    "_grad",
    "_grad_fn",
    "_has_grad_dtype_override",
    "_has_symbolic_sizes_strides",
    "_post_accumulate_grad_hooks",
    "_python_dispatch",
    "_version",
    "data",
    "device",
    "dtype",
    "grad",
    "grad_dtype",
    "grad_fn",
    "imag",
    "is_cpu",
    "is_cuda",
    "is_ipu",
    "is_leaf",
    "is_maia",
    "is_meta",
    "is_mkldnn",
    "is_mps",
    "is_mtia",
    "is_nested",
    "is_quantized",
    "is_sparse",
    "is_sparse_csr",
    "is_vulkan",
    "is_xla",
    "is_xpu",
    "itemsize",
    "layout",
    "mH",
    "mT",
    "name",
    "names",
    "nbytes",
    "ndim",
    "output_nr",
    "real",
    "requires_grad",
    "retains_grad",
    "shape",
    "volatile",
];

/// Calls on torch objects: tensors, `torch.Size`, `torch.device`, layouts.
pub(super) fn call<'g>(
    w: &mut Walker<'g, '_>,
    id: ObjId,
    op: &'g Opaque,
    name: &str,
    make: Make<'g>,
) -> Result<Option<Node>> {
    if w.opts.torch_objects {
        if let Some(node) = torch_object(w, id, op, name, make)? {
            return Ok(Some(node));
        }
    }
    if is_tensor_function(name) {
        let mut t = tensor(w, name, make)?;
        // BUILD on a tensor runs Tensor.__setstate__.
        w.check_mutations(op, allow::STATE, name)?;
        for state in op.states() {
            t = set_state(w, t, state)?;
        }
        let idx = push_tensor(&mut w.out, t);
        w.tensors.insert(id, idx);
        return Ok(Some(Node::Tensor(idx)));
    }
    if let Some(reason) = refused_tensor_function(name) {
        return Err(w.refused(reason));
    }
    let node = match name {
        "torch.Size" => {
            w.check_mutations(op, 0, name)?;
            match make {
                Make::New | Make::Call([]) => Node::Size(Vec::new()),
                Make::Call([dims]) => Node::Size(int_seq(w, *dims, "torch.Size", true)?),
                Make::Call(args) => return Err(w.arity(name, "at most 1", args.len())),
            }
        }
        "torch.device" => {
            w.check_mutations(op, 0, name)?;
            Node::Device(device(w, make)?)
        }
        "torch.serialization._get_layout" => {
            w.check_mutations(op, 0, name)?;
            let Make::Call([layout]) = make else {
                return Err(w.invalid("_get_layout takes the layout's name"));
            };
            match w.str_of(*layout) {
                Some(l) if LAYOUTS.contains(&l) => Node::Layout(l.to_string()),
                _ => {
                    return Err(w.invalid(format!(
                        "_get_layout({}) names no layout (KeyError)",
                        w.describe(*layout)
                    )));
                }
            }
        }
        _ => return Ok(None),
    };
    Ok(Some(node))
}

/// `torch.device(type)` / `torch.device(type, index)`.
fn device(w: &Walker<'_, '_>, make: Make<'_>) -> Result<String> {
    let valid_type = |t: &str| {
        !t.is_empty()
            && t.bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_')
    };
    let text = match make {
        Make::Call([s]) => {
            let Some(s) = w.str_of(*s) else {
                return Err(w.not_data(format!("torch.device({})", w.describe(*s))));
            };
            let ok = match s.split_once(':') {
                Some((t, i)) => {
                    valid_type(t) && !i.is_empty() && i.bytes().all(|c| c.is_ascii_digit())
                }
                None => valid_type(s),
            };
            if !ok {
                return Err(w.invalid(format!("invalid device string {s:?}")));
            }
            s.to_string()
        }
        Make::Call([s, i]) => {
            let (Some(s), Some(i)) = (w.str_of(*s), w.int_of(*i)) else {
                return Err(w.not_data("torch.device with arguments that are not (str, int)"));
            };
            if !valid_type(s) || i < 0 {
                return Err(w.invalid(format!("invalid device ({s:?}, {i})")));
            }
            format!("{s}:{i}")
        }
        _ => return Err(w.invalid("torch.device takes a type and an optional index")),
    };
    Ok(text)
}

/// A sequence of ints (sizes, strides): a tuple, list or `torch.Size`.
fn int_seq(w: &Walker<'_, '_>, v: Value, what: &str, allow_negative: bool) -> Result<Vec<i64>> {
    let items: &[Value] = match w.g.object(v) {
        Some(Object::Tuple(t)) => w.g.items(*t),
        Some(Object::List(l)) => l,
        Some(Object::Opaque(o)) => {
            // torch.Size((...)) passed where a tuple is expected.
            let op = w.g.opaque_at(*o);
            if let Origin::Call { callable, args, .. } = &op.origin {
                if matches!(w.target(*callable), Ok(Target::Global(n)) if n == "torch.Size") {
                    // One level only: the Size's own argument is a tuple.
                    return match w.tuple_of(*args) {
                        Some(&[inner])
                            if matches!(
                                w.g.object(inner),
                                Some(Object::Tuple(_) | Object::List(_))
                            ) =>
                        {
                            int_seq(w, inner, what, allow_negative)
                        }
                        _ => {
                            Err(w
                                .not_data(format!("{what}: a torch.Size of {}", w.describe(*args))))
                        }
                    };
                }
            }
            return Err(w.not_data(format!("{what} {}", w.describe(v))));
        }
        _ => {
            return Err(w.invalid(format!(
                "{what} {} is not a sequence of ints",
                w.describe(v)
            )));
        }
    };
    items
        .iter()
        .map(|&x| match w.int_of(x) {
            Some(i) if allow_negative || i >= 0 => Ok(i),
            Some(i) => Err(w.refused(format!(
                "{what} holds the negative value {i}, which is not rebuilt"
            ))),
            None => Err(w.invalid(format!("{what} holds {}, not an int", w.describe(x)))),
        })
        .collect()
}

/// A `requires_grad` argument.
fn flag(w: &Walker<'_, '_>, v: Value, what: &str) -> Result<bool> {
    match v.kind() {
        airlock_pickle::ValueKind::Bool(b) => Ok(b),
        _ => Err(w.invalid(format!("{what} is {}, not a bool", w.describe(v)))),
    }
}

/// Only floating point and complex tensors can require gradients.
fn check_requires_grad(w: &Walker<'_, '_>, dtype: Dtype, requires_grad: bool) -> Result<()> {
    if requires_grad && !dtype.is_differentiable() {
        return Err(w.invalid(format!(
            "a {dtype} tensor cannot require gradients (only floating point and complex ones can)"
        )));
    }
    Ok(())
}

/// `tensor._backward_hooks = hooks`: hooks would run code in backward, so
/// only an empty dict (what every torch writes) or `None` is accepted.
fn no_hooks(w: &mut Walker<'_, '_>, v: Value) -> Result<()> {
    if v == Value::NONE {
        return Ok(());
    }
    match w.value(v)? {
        Node::Dict(d) | Node::OrderedDict(d) | Node::Counter(d) if d.is_empty() => Ok(()),
        _ => Err(w.refused("a tensor with backward hooks is not rebuilt")),
    }
}

/// The optional metadata argument: the conjugate and negative bits. A view
/// with either set reads other values than its bytes hold, so it is refused
/// (with [`RebuildOptions::torch_objects`](super::RebuildOptions) it never
/// reaches here: it is kept as a [`TorchCall`]).
fn no_metadata(w: &mut Walker<'_, '_>, v: Value) -> Result<()> {
    match metadata_bits(w, v)? {
        (false, false) => Ok(()),
        (true, _) => Err(w.refused(
            "a conjugate view (metadata {'conj': True}) is not rebuilt: its bytes are not its values",
        )),
        (false, true) => Err(w.refused(
            "a negative view (metadata {'neg': True}) is not rebuilt: its bytes are not its values",
        )),
    }
}

/// The `(conj, neg)` bits of a tensor's metadata argument
/// (`torch._utils.get_tensor_metadata`); other keys are refused.
fn metadata_bits(w: &mut Walker<'_, '_>, v: Value) -> Result<(bool, bool)> {
    if v == Value::NONE {
        return Ok((false, false));
    }
    let Node::Dict(items) = w.value(v)? else {
        return Err(w.invalid("tensor metadata that is not a dict"));
    };
    let mut bits = (false, false);
    for (k, val) in items {
        match (&k, &val) {
            (Node::Str(k), Node::Bool(b)) if k == "conj" => bits.0 = *b,
            (Node::Str(k), Node::Bool(b)) if k == "neg" => bits.1 = *b,
            _ => {
                return Err(w.refused(format!(
                    "tensor metadata {} is not rebuilt",
                    super::key_segment(&k)
                )));
            }
        }
    }
    Ok(bits)
}

fn tensor_arg(w: &mut Walker<'_, '_>, v: Value, what: &str) -> Result<TensorInfo> {
    match w.value(v)? {
        Node::Tensor(i) => Ok(w.out.tensors[i].clone()),
        _ => Err(w.invalid(format!("{what}: {} is not a tensor", w.describe(v)))),
    }
}

fn function_args<'v>(w: &Walker<'_, '_>, name: &str, make: Make<'v>) -> Result<&'v [Value]> {
    match make {
        Make::Call(args) => Ok(args),
        Make::New => Err(w.invalid(format!("{name} is a function, not a class"))),
    }
}

/// An empty tensor with no data (`torch.empty(0)`): a storage of its own,
/// held inline and empty.
fn empty_tensor(w: &mut Walker<'_, '_>, dtype: Dtype) -> TensorInfo {
    let key = format!("empty/{}", w.out.storages.len());
    let storage = push_storage(
        &mut w.out,
        StorageInfo {
            key,
            dtype,
            numel: 0,
            location: "cpu".into(),
            inline: Some(Vec::new()),
        },
    );
    TensorInfo {
        storage,
        dtype,
        offset: 0,
        shape: vec![0],
        stride: vec![1],
        requires_grad: false,
        parameter: false,
    }
}

/// What one of the tensor functions or classes returns.
fn tensor<'g>(w: &mut Walker<'g, '_>, name: &str, make: Make<'g>) -> Result<TensorInfo> {
    if let Some(&(_, dtype)) = TENSOR_CLASSES.iter().find(|(n, _)| *n == name) {
        return match make {
            Make::New | Make::Call([]) => Ok(empty_tensor(w, dtype)),
            Make::Call(_) => Err(w.not_data(format!("{name} built from arguments"))),
        };
    }
    if name == "torch.nn.parameter.Parameter" {
        return parameter(w, name, make);
    }
    let args = function_args(w, name, make)?;
    match name {
        "torch._utils._rebuild_tensor" => {
            let &[storage, offset, size, stride] = args else {
                return Err(w.arity(name, "4", args.len()));
            };
            let ts = storage_arg(w, storage)?;
            view(w, ts, ts.dtype, offset, size, stride, false)
        }
        "torch._utils._rebuild_tensor_v2" => rebuild_tensor_v2(w, name, args),
        "torch._utils._rebuild_tensor_v3" => rebuild_tensor_v3(w, name, args),
        "torch._utils._rebuild_parameter" | "torch._utils._rebuild_parameter_with_state" => {
            rebuild_parameter(w, name, args)
        }
        "torch._tensor._rebuild_from_type_v2" => rebuild_from_type_v2(w, name, args),
        _ => Err(w.not_data(format!("a call to {name}"))),
    }
}

/// `Parameter(data=None, requires_grad=True)`.
fn parameter(w: &mut Walker<'_, '_>, name: &str, make: Make<'_>) -> Result<TensorInfo> {
    let (data, requires_grad) = match make {
        Make::New | Make::Call([]) => (None, true),
        Make::Call([d]) => (Some(*d), true),
        Make::Call([d, rg]) => (Some(*d), flag(w, *rg, "Parameter's requires_grad")?),
        Make::Call(args) => return Err(w.arity(name, "at most 2", args.len())),
    };
    let mut t = match data {
        None | Some(Value::NONE) => empty_tensor(w, Dtype::F32),
        Some(d) => tensor_arg(w, d, name)?,
    };
    check_requires_grad(w, t.dtype, requires_grad)?;
    t.requires_grad = requires_grad;
    t.parameter = true;
    Ok(t)
}

/// `_rebuild_tensor_v2(storage, storage_offset, size, stride,
/// requires_grad, backward_hooks, metadata=None)`.
fn rebuild_tensor_v2(w: &mut Walker<'_, '_>, name: &str, args: &[Value]) -> Result<TensorInfo> {
    let (&[storage, offset, size, stride, rg, hooks], metadata) = match args {
        [a, b, c, d, e, f] => (&[*a, *b, *c, *d, *e, *f], None),
        [a, b, c, d, e, f, m] => (&[*a, *b, *c, *d, *e, *f], Some(*m)),
        _ => return Err(w.arity(name, "6 or 7", args.len())),
    };
    let ts = storage_arg(w, storage)?;
    let requires_grad = flag(w, rg, "requires_grad")?;
    no_hooks(w, hooks)?;
    if let Some(m) = metadata {
        no_metadata(w, m)?;
    }
    view(w, ts, ts.dtype, offset, size, stride, requires_grad)
}

/// `_rebuild_tensor_v3(storage, storage_offset, size, stride,
/// requires_grad, backward_hooks, dtype, metadata=None)`.
fn rebuild_tensor_v3(w: &mut Walker<'_, '_>, name: &str, args: &[Value]) -> Result<TensorInfo> {
    let (&[storage, offset, size, stride, rg, hooks, dtype], metadata) = match args {
        [a, b, c, d, e, f, g] => (&[*a, *b, *c, *d, *e, *f, *g], None),
        [a, b, c, d, e, f, g, m] => (&[*a, *b, *c, *d, *e, *f, *g], Some(*m)),
        _ => return Err(w.arity(name, "7 or 8", args.len())),
    };
    let ts = storage_arg(w, storage)?;
    let dtype = dtype_arg(w, dtype)?;
    let requires_grad = flag(w, rg, "requires_grad")?;
    no_hooks(w, hooks)?;
    if let Some(m) = metadata {
        no_metadata(w, m)?;
    }
    view(w, ts, dtype, offset, size, stride, requires_grad)
}

/// `_rebuild_parameter(data, requires_grad, backward_hooks)` and
/// `_rebuild_parameter_with_state(..., state)`.
fn rebuild_parameter(w: &mut Walker<'_, '_>, name: &str, args: &[Value]) -> Result<TensorInfo> {
    let with_state = name.ends_with("_with_state");
    let (data, rg, hooks, state) = match (args, with_state) {
        (&[d, r, h], false) => (d, r, h, None),
        (&[d, r, h, s], true) => (d, r, h, Some(s)),
        _ => {
            return Err(w.arity(name, if with_state { "4" } else { "3" }, args.len()));
        }
    };
    let mut t = tensor_arg(w, data, name)?;
    let requires_grad = flag(w, rg, "requires_grad")?;
    check_requires_grad(w, t.dtype, requires_grad)?;
    no_hooks(w, hooks)?;
    t.requires_grad = requires_grad;
    t.parameter = true;
    if let Some(state) = state {
        drop_attributes(w, state, "Parameter")?;
    }
    Ok(t)
}

/// `_rebuild_from_type_v2(func, new_type, args, state)`: `func(*args)`,
/// then `as_subclass(new_type)` and the state.
fn rebuild_from_type_v2<'g>(
    w: &mut Walker<'g, '_>,
    name: &str,
    args: &[Value],
) -> Result<TensorInfo> {
    let &[func, new_type, func_args, state] = args else {
        return Err(w.arity(name, "4", args.len()));
    };
    let func = match w.target(func)? {
        Target::Global(f) if is_tensor_function(&f) => f,
        Target::Global(f) => {
            if let Some(reason) = refused_tensor_function(&f) {
                return Err(w.refused(reason));
            }
            return Err(w.not_data(format!("{name} with the function {f}")));
        }
        other => return Err(w.not_data(format!("{name} with {}", other.name()))),
    };
    let parameter = match w.target(new_type)? {
        Target::Global(t) if t == "torch.Tensor" => false,
        Target::Global(t) if t == "torch.nn.parameter.Parameter" => true,
        // A class outside the allowlist, like any other: its
        // methods are code.
        other => return Err(w.not_data(format!("tensor subclass {}", other.name()))),
    };
    let Some(inner) = w.tuple_of(func_args) else {
        return Err(w.invalid(format!("{name}: the arguments are not a tuple")));
    };
    // Nested calls do not pass through `Walker::value`: their
    // depth is counted here.
    let Some(args_id) = func_args.obj() else {
        return Err(w.invalid(format!("{name}: the arguments are not a tuple")));
    };
    w.enter(args_id)?;
    let r = tensor(w, &func, Make::Call(inner));
    w.leave(args_id);
    let mut t = r?;
    // `ret.as_subclass(new_type)` keeps data and requires_grad.
    t.parameter = parameter;
    drop_attributes(w, state, if parameter { "Parameter" } else { "tensor" })?;
    Ok(t)
}

/// `_set_obj_state(tensor, state)`: Python attributes set on the tensor.
/// They are checked as data and dropped; attributes that are tensor
/// properties would change the tensor (`data`, `requires_grad`) or fail,
/// and are refused.
fn drop_attributes(w: &mut Walker<'_, '_>, state: Value, what: &str) -> Result<()> {
    let items = w.state_items(state, what)?;
    let mut names = Vec::new();
    for (k, v) in items {
        let Some(name) = w.str_of(k) else {
            return Err(w.invalid(format!("{what}: an attribute name that is not a str")));
        };
        if TENSOR_DESCRIPTORS.contains(&name) {
            return Err(w.refused(format!(
                "the {what}'s state sets {name:?}, a tensor property: not rebuilt"
            )));
        }
        w.child(name, v)?;
        names.push(name);
    }
    if !names.is_empty() {
        w.transformed(format!(
            "the {what}'s Python attributes were dropped: {}",
            names.join(", ")
        ));
    }
    Ok(())
}

/// `Tensor.__setstate__(state)`, what `BUILD` runs on a tensor.
fn set_state(w: &mut Walker<'_, '_>, mut t: TensorInfo, state: Value) -> Result<TensorInfo> {
    let Some(items) = w.tuple_of(state) else {
        return Err(w.not_data(format!(
            "a tensor state {} that is not a tuple",
            w.describe(state)
        )));
    };
    match *items {
        // Legacy serialization of Tensor: self.set_(*state).
        [storage, offset, size, stride] => {
            let ts = storage_arg(w, storage)?;
            if ts.dtype != t.dtype {
                return Err(w.invalid(format!(
                    "set_ expects a storage of {}, got one of {}",
                    t.dtype, ts.dtype
                )));
            }
            let requires_grad = t.requires_grad;
            let parameter = t.parameter;
            t = view(w, ts, t.dtype, offset, size, stride, requires_grad)?;
            t.parameter = parameter;
        }
        // Legacy serialization of Variable: data, then the 3-tuple.
        [data, _, _, rg, hooks] => {
            let parameter = t.parameter;
            t = tensor_arg(w, data, "Variable data")?;
            t.parameter = parameter;
            let requires_grad = flag(w, rg, "requires_grad")?;
            check_requires_grad(w, t.dtype, requires_grad)?;
            no_hooks(w, hooks)?;
            t.requires_grad = requires_grad;
        }
        [rg, _, hooks] => {
            let requires_grad = flag(w, rg, "requires_grad")?;
            check_requires_grad(w, t.dtype, requires_grad)?;
            no_hooks(w, hooks)?;
            t.requires_grad = requires_grad;
        }
        _ => {
            return Err(w.invalid(format!(
                "a tensor state of {} items (Tensor.__setstate__ unpacks 3, 4 or 5)",
                items.len()
            )));
        }
    }
    Ok(t)
}

/// A dtype argument (`_rebuild_tensor_v3`).
fn dtype_arg(w: &Walker<'_, '_>, v: Value) -> Result<Dtype> {
    let name = match w.target(v) {
        Ok(Target::Global(n)) => n,
        _ => return Err(w.invalid(format!("the dtype {} is not a torch dtype", w.describe(v)))),
    };
    match dtype_value(&name) {
        Some(canonical) => Dtype::from_torch_name(&canonical)
            .ok_or_else(|| w.refused(format!("tensors of dtype {canonical} are not rebuilt"))),
        None => Err(w.not_data(format!("global {name} given as a dtype"))),
    }
}

/// The typed storage a persistent object stands for.
fn storage_arg(w: &mut Walker<'_, '_>, v: Value) -> Result<TypedStorage> {
    let Some((id, op)) = w.opaque_of(v) else {
        return Err(w.not_data(format!(
            "a storage argument {} that is not a persistent id",
            w.describe(v)
        )));
    };
    let Origin::Persistent { pid } = &op.origin else {
        return Err(w.not_data(format!(
            "a storage argument {} that is not a persistent id",
            w.describe(v)
        )));
    };
    if let Some(&ts) = w.loaded.get(&id) {
        return Ok(ts);
    }
    w.check_mutations(op, 0, "a storage")?;
    let ts = persistent_load(w, *pid)?;
    w.loaded.insert(id, ts);
    Ok(ts)
}

/// The dtype of a persistent id's storage type.
fn storage_type(w: &Walker<'_, '_>, v: Value) -> Result<Dtype> {
    let target = match w.g.global(v) {
        Some(_) => w.target(v)?,
        None => {
            return Err(w.invalid(format!("the storage type {} is not a class", w.describe(v))));
        }
    };
    match target {
        Target::StorageType(name) => {
            let torch_name = STORAGE_TYPES
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, d)| *d)
                .unwrap_or_default();
            Dtype::from_torch_name(torch_name).ok_or_else(|| {
                w.refused(format!(
                    "storage type {name} holds {torch_name} data, which is not rebuilt"
                ))
            })
        }
        Target::Global(n) if n == "torch.UntypedStorage" || n == "torch.storage.UntypedStorage" => {
            match w.layout {
                super::StorageLayout::Zip => Ok(Dtype::U8),
                // `storage_type.dtype`: the class has none.
                super::StorageLayout::Legacy => Err(w.invalid(
                    "the legacy format's persistent id names torch.UntypedStorage, which has no dtype (AttributeError)",
                )),
            }
        }
        other => Err(w.not_data(format!("storage type {}", other.name()))),
    }
}

/// The fields of a storage's persistent id.
struct StorageId<'g> {
    dtype: Dtype,
    key: &'g str,
    location: &'g str,
    numel: u64,
    nbytes: u64,
}

/// `persistent_load(saved_id)` of `_load` or `_legacy_load`.
fn persistent_load(w: &mut Walker<'_, '_>, pid: Value) -> Result<TypedStorage> {
    let (data, view) = storage_id_fields(w, pid)?;
    let id = storage_id(w, data)?;
    let typed = typed_storage(w, &id);
    let Some(view) = view else {
        return Ok(typed);
    };
    if view == Value::NONE {
        return Ok(typed);
    }
    storage_view(w, typed, id.dtype, view)
}

/// `typename, *data = saved_id` with `typename == "storage"`: the fields
/// after the type name, and the legacy format's view metadata.
fn storage_id_fields<'g>(w: &Walker<'g, '_>, pid: Value) -> Result<(&'g [Value], Option<Value>)> {
    let Some(items) = w.tuple_of(pid) else {
        // Protocol 0 writes persistent ids as text lines: a str.
        return Err(w.invalid(format!(
            "the persistent id is a {}, not a tuple (saved_id must be a tuple): {}",
            w.g.type_name(pid),
            w.describe(pid)
        )));
    };
    let Some((&kind, data)) = items.split_first() else {
        return Err(w.invalid("an empty persistent id"));
    };
    let typename = w.str_or_ascii(kind);
    if typename != Some("storage") {
        return Err(w.invalid(format!(
            "persistent id of type {} where a storage is expected",
            w.describe(kind)
        )));
    }
    let (expected, view) = match w.layout {
        super::StorageLayout::Zip => (4, None),
        super::StorageLayout::Legacy => (5, data.get(4).copied()),
    };
    if data.len() != expected {
        return Err(w.invalid(format!(
            "a storage id with {} fields after the type name (torch unpacks {expected})",
            data.len()
        )));
    }
    Ok((data, view))
}

/// `(storage_type, key, location, numel)`, checked.
fn storage_id<'g>(w: &Walker<'g, '_>, data: &[Value]) -> Result<StorageId<'g>> {
    let dtype = storage_type(w, data[0])?;
    let Some(key) = w.str_of(data[1]) else {
        return Err(w.not_data(format!(
            "a storage key {} that is not a str",
            w.describe(data[1])
        )));
    };
    let Some(location) = w.str_or_ascii(data[2]) else {
        return Err(w.invalid(format!(
            "the storage location {} is not a str",
            w.describe(data[2])
        )));
    };
    let numel = match w.int_of(data[3]) {
        Some(n) if n >= 0 => n as u64,
        _ => {
            return Err(w.invalid(format!(
                "the storage size {} is not a non-negative int",
                w.describe(data[3])
            )));
        }
    };
    let Some(nbytes) = numel.checked_mul(dtype.size()) else {
        return Err(w.invalid(format!("a storage of {numel} elements overflows")));
    };
    Ok(StorageId {
        dtype,
        key,
        location,
        numel,
        nbytes,
    })
}

/// The typed storage for a key: loaded once, then cached under the key.
fn typed_storage(w: &mut Walker<'_, '_>, id: &StorageId<'_>) -> TypedStorage {
    let &StorageId {
        dtype,
        key,
        location,
        numel,
        nbytes,
    } = id;
    let new_storage = |w: &mut Walker<'_, '_>, numel: u64, inline: Option<Vec<u8>>| {
        push_storage(
            &mut w.out,
            StorageInfo {
                key: key.to_string(),
                dtype,
                numel,
                location: location.to_string(),
                inline,
            },
        )
    };
    match w.by_key.get(key).copied() {
        None => {
            let storage = new_storage(w, numel, None);
            let ts = TypedStorage {
                storage,
                byte_offset: 0,
                nbytes,
                dtype,
            };
            w.by_key.insert(key.to_string(), ts);
            ts
        }
        Some(prev) if prev.dtype == dtype => prev,
        // Another dtype over the same bytes: a typed view of the same
        // untyped storage.
        Some(prev) if prev.nbytes == nbytes => TypedStorage { dtype, ..prev },
        Some(_) => match w.layout {
            // `_load` loads the record again under the new size: a
            // storage of its own, not cached.
            super::StorageLayout::Zip => TypedStorage {
                storage: new_storage(w, numel, None),
                byte_offset: 0,
                nbytes,
                dtype,
            },
            // `_legacy_load` makes a new, empty typed storage.
            super::StorageLayout::Legacy => TypedStorage {
                storage: new_storage(w, 0, Some(Vec::new())),
                byte_offset: 0,
                nbytes: 0,
                dtype,
            },
        },
    }
}

/// The legacy format's view metadata `(view_key, offset, view_size)`: a
/// slice of the root's bytes, cached under view_key.
fn storage_view(
    w: &mut Walker<'_, '_>,
    typed: TypedStorage,
    dtype: Dtype,
    view: Value,
) -> Result<TypedStorage> {
    let Some(&[view_key, offset, size]) = w.tuple_of(view) else {
        return Err(w.invalid("view metadata that is not (key, offset, size)"));
    };
    let Some(view_key) = w.str_of(view_key) else {
        return Err(w.not_data("a storage view key that is not a str"));
    };
    if let Some(&existing) = w.by_key.get(view_key) {
        return Ok(existing);
    }
    let (Some(offset), Some(size)) = (w.int_of(offset), w.int_of(size)) else {
        return Err(w.invalid("view metadata whose offset or size is not an int"));
    };
    if offset < 0 || size < 0 {
        return Err(w.refused("a storage view with a negative offset or size is not rebuilt"));
    }
    let el = dtype.size();
    // `untyped[start:end]` clamps to the storage, as Python slices do.
    let start = (offset as u64).saturating_mul(el).min(typed.nbytes);
    let end = (offset as u64)
        .saturating_add(size as u64)
        .saturating_mul(el)
        .min(typed.nbytes)
        .max(start);
    let ts = TypedStorage {
        storage: typed.storage,
        byte_offset: typed.byte_offset + start,
        nbytes: end - start,
        dtype,
    };
    w.by_key.insert(view_key.to_string(), ts);
    Ok(ts)
}

/// `torch.empty(0, dtype).set_(storage, offset, size, stride)`, with the
/// bounds check of `checkInBoundsForStorage`.
fn view(
    w: &Walker<'_, '_>,
    ts: TypedStorage,
    dtype: Dtype,
    offset: Value,
    size: Value,
    stride: Value,
    requires_grad: bool,
) -> Result<TensorInfo> {
    let offset = match w.int_of(offset) {
        Some(o) if o >= 0 => o as u64,
        Some(o) => return Err(w.invalid(format!("invalid storage offset {o}"))),
        None => {
            return Err(w.invalid(format!(
                "the storage offset {} is not an int",
                w.describe(offset)
            )));
        }
    };
    let shape = int_seq(w, size, "size", true)?;
    let strides = int_seq(w, stride, "stride", true)?;
    if shape.len() != strides.len() {
        return Err(w.invalid(format!(
            "{} sizes but {} strides",
            shape.len(),
            strides.len()
        )));
    }
    if let Some(n) = shape.iter().find(|&&n| n < 0) {
        return Err(w.invalid(format!("negative dimension {n}")));
    }
    if let Some(s) = strides.iter().find(|&&s| s < 0) {
        return Err(w.refused(format!("negative stride {s} is not rebuilt")));
    }
    if dtype.is_quantized() {
        return Err(w.refused(format!(
            "a plain tensor over a {dtype} storage is not rebuilt (quantized storages belong to quantized tensors)"
        )));
    }
    check_requires_grad(w, dtype, requires_grad)?;
    let shape: Vec<u64> = shape.into_iter().map(|n| n as u64).collect();
    let strides: Vec<u64> = strides.into_iter().map(|s| s as u64).collect();
    let el = dtype.size();
    if ts.byte_offset % el != 0 {
        return Err(w.refused(format!(
            "a {dtype} view starting at byte {} of its storage is not rebuilt",
            ts.byte_offset
        )));
    }
    // safe_compute_numel: the element count, and here its bytes, fit in
    // an int64.
    let numel = shape.iter().try_fold(1u64, |a, &n| a.checked_mul(n));
    if numel
        .and_then(|n| n.checked_mul(el))
        .is_none_or(|b| b > i64::MAX as u64)
    {
        return Err(w.invalid(format!(
            "the size {shape:?} overflows (numel: integer multiplication overflow)"
        )));
    }
    if !shape.contains(&0) {
        // computeStorageNbytes: itemsize * (1 + sum((size - 1) * stride)).
        let overflow = || w.invalid("the view's extent overflows");
        let mut last: u64 = 0;
        for (&n, &s) in shape.iter().zip(&strides) {
            let span = (n - 1).checked_mul(s).ok_or_else(overflow)?;
            last = last.checked_add(span).ok_or_else(overflow)?;
        }
        let needed = offset
            .checked_add(last)
            .and_then(|x| x.checked_add(1))
            .and_then(|x| x.checked_mul(el))
            .ok_or_else(overflow)?;
        if needed > ts.nbytes {
            return Err(w.invalid(format!(
                "the view (offset {offset}, size {shape:?}, stride {strides:?}) needs {needed} bytes of a storage of {} bytes (setStorage out of bounds)",
                ts.nbytes
            )));
        }
    }
    Ok(TensorInfo {
        storage: ts.storage,
        dtype,
        offset: ts.byte_offset / el + offset,
        shape,
        stride: strides,
        requires_grad,
        parameter: false,
    })
}
