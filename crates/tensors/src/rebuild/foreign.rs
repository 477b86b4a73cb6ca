//! Objects of other libraries rebuilt as plain data, without importing
//! them. Each rule reads the state the library's own pickling writes and
//! reproduces what the loaded object holds; each replacement is recorded as
//! a [`Transformation`](crate::model::Transformation).
//!
//! | Pickled as | Rebuilt as |
//! |---|---|
//! | `numpy.core.multiarray._reconstruct(numpy.ndarray, ...)` + `BUILD (version, shape, dtype, is_fortran, rawdata)`, or `numpy.core.numeric._frombuffer(buf, dtype, shape, order)` (protocol 5), `numpy._core` alike | a tensor whose storage holds the bytes inline; Fortran order gives Fortran strides; big-endian data is byte-swapped to little-endian |
//! | `numpy.core.multiarray.scalar(dtype, bytes)` | [`Node::Bool`], [`Node::Int`]/[`Node::BigInt`], [`Node::Float`], [`Node::Complex`] |
//! | `numpy.dtype(...)` on its own | its name (`float32`; `>f4` when big-endian), a [`Node::Str`] |
//! | `argparse.Namespace` | a [`Node::Dict`] of its attributes |
//! | omegaconf `DictConfig` / `ListConfig` (with their `AnyNode`, `StringNode`, ... `UnionNode` nodes) | a [`Node::Dict`] / [`Node::List`] of the node values, as `OmegaConf.to_container(cfg, resolve=False)` returns (interpolations and `???` kept as strings, metadata and flags dropped) |
//! | `pathlib.PosixPath`, `WindowsPath`, `PurePosixPath`, `PureWindowsPath`, `Path`, `PurePath` (and `pathlib._local`) | its string |
//! | `collections.defaultdict` | a [`Node::Dict`] (the default factory, a builtin type, dropped) |
//! | `collections.Counter` | a [`Node::Counter`] (`weights_only` allows it) |
//! | `collections.deque` | a [`Node::List`] (`maxlen` applied, then dropped) |
//! | a pickled `nn.Module` (any class whose instance state has `_parameters`, `_buffers` and `_modules` dicts) | the [`Node::OrderedDict`] `state_dict()` returns: parameters, then persistent buffers, then submodules with dotted prefixes; `None` entries skipped; tensors detached |
//!
//! NumPy dtypes rebuilt: `bool`, `int8`..`int64`, `uint8`..`uint64`,
//! `float16`, `float32`, `float64`, `complex64`, `complex128`. Object,
//! string, datetime, structured and `longdouble` arrays are refused, as are
//! `ndarray` subclasses (`numpy.matrix`, masked arrays). A module's
//! `state_dict()` is the default `nn.Module` one: classes that override it,
//! register state-dict hooks (refused when present) or return extra state
//! through `get_extra_state` may name their entries differently.

use airlock_pickle::{ObjId, Object, Opaque, Value};

use super::{Make, Result, Target, Walker, allow, push_storage, push_tensor};
use crate::dtype::Dtype;
use crate::model::{Node, StorageInfo, TensorInfo};

/// Whether `name` is one of the foreign types rebuilt as data by name
/// (the table above, `nn.Module` classes aside): data whether or not a
/// pickle uses what it builds from them.
pub fn is_foreign_data_type(name: &str) -> bool {
    matches!(
        name,
        "numpy.core.multiarray._reconstruct"
            | "numpy._core.multiarray._reconstruct"
            | "numpy.core.numeric._frombuffer"
            | "numpy._core.numeric._frombuffer"
            | "numpy.core.multiarray.scalar"
            | "numpy._core.multiarray.scalar"
            | "numpy.ndarray"
            | "numpy.dtype"
            | "argparse.Namespace"
            | "collections.defaultdict"
            | "collections.Counter"
            | "collections.deque"
            | "omegaconf.base.Metadata"
            | "omegaconf.base.ContainerMetadata"
    ) || omegaconf_kind(name).is_some()
        || is_pathlib(name)
}

/// Foreign classes and functions; `None` when `name` is none of them.
pub(super) fn call<'g>(
    w: &mut Walker<'g, '_>,
    id: ObjId,
    op: &'g Opaque,
    name: &str,
    make: Make<'g>,
) -> Result<Option<Node>> {
    if let Some(node) = enum_member(w, op, name, make)? {
        w.out.foreign.insert(name.to_string());
        return Ok(Some(node));
    }
    let node = match name {
        "numpy.core.multiarray._reconstruct" | "numpy._core.multiarray._reconstruct" => {
            array(w, id, op, make)?
        }
        "numpy.core.numeric._frombuffer" | "numpy._core.numeric._frombuffer" => {
            frombuffer(w, id, op, make)?
        }
        "numpy.core.multiarray.scalar" | "numpy._core.multiarray.scalar" => {
            w.check_mutations(op, 0, name)?;
            scalar(w, make)?
        }
        "numpy.dtype" => {
            let d = np_dtype_of(w, op, make)?;
            let text = d.name();
            w.transformed(format!("numpy.dtype('{text}') replaced by its name"));
            Node::Str(text)
        }
        "argparse.Namespace" => namespace(w, op, make)?,
        _ if omegaconf_kind(name).is_some() => omegaconf(w, op, name, make)?,
        _ if is_pathlib(name) => path(w, op, name, make)?,
        "collections.defaultdict" => defaultdict(w, op, make)?,
        "collections.Counter" => {
            let items = w.mapping(op, make, name)?;
            if op.states().next().is_some() {
                return Err(w.not_data("a collections.Counter with attributes"));
            }
            Node::Counter(items)
        }
        "collections.deque" => deque(w, op, make)?,
        _ => match make {
            Make::New => {
                let what = format!("class {name}");
                let node = match module(w, id, op, &what)? {
                    Some(node) => node,
                    None => {
                        w.out.objects.insert(name.to_string());
                        instance(w, op, name)?
                    }
                };
                w.out.foreign.insert(name.to_string());
                return Ok(Some(node));
            }
            Make::Call(_) => return Ok(None),
        },
    };
    w.out.foreign.insert(name.to_string());
    Ok(Some(node))
}

// ----- NumPy ------------------------------------------------------------

/// Byte order of a NumPy dtype.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    Little,
    Big,
    /// `|`: single-byte types.
    None,
}

/// A NumPy dtype Airlock rebuilds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct NpDtype {
    /// `b`, `i`, `u`, `f`, `c`.
    kind: u8,
    /// Bytes per item.
    size: u64,
    order: Order,
}

impl NpDtype {
    fn dtype(self) -> Option<Dtype> {
        Some(match (self.kind, self.size) {
            (b'b', 1) => Dtype::Bool,
            (b'i', 1) => Dtype::I8,
            (b'i', 2) => Dtype::I16,
            (b'i', 4) => Dtype::I32,
            (b'i', 8) => Dtype::I64,
            (b'u', 1) => Dtype::U8,
            (b'u', 2) => Dtype::U16,
            (b'u', 4) => Dtype::U32,
            (b'u', 8) => Dtype::U64,
            (b'f', 2) => Dtype::F16,
            (b'f', 4) => Dtype::F32,
            (b'f', 8) => Dtype::F64,
            (b'c', 8) => Dtype::C64,
            (b'c', 16) => Dtype::C128,
            _ => return None,
        })
    }

    /// `str(dtype)`: the name for native (little-endian) and single-byte
    /// types, `dtype.str` (`>f4`) for big-endian ones.
    fn name(self) -> String {
        if self.order == Order::Big && self.size > 1 {
            return format!(">{}{}", self.kind as char, self.size);
        }
        let base = match self.kind {
            b'b' => return "bool".into(),
            b'i' => "int",
            b'u' => "uint",
            b'f' => "float",
            _ => "complex",
        };
        format!("{base}{}", self.size * 8)
    }

    /// Whether the element bytes are stored big-endian and must be swapped.
    fn swapped(self) -> bool {
        self.order == Order::Big && self.size > 1
    }
}

/// The descriptor string `numpy.dtype(...)` is given: `f8`, `<i4`,
/// `float32`, ...
fn parse_descr(s: &str) -> std::result::Result<(u8, u64, Option<Order>), String> {
    let (order, rest) = match s.as_bytes().first() {
        Some(b'<') => (Some(Order::Little), &s[1..]),
        Some(b'>') => (Some(Order::Big), &s[1..]),
        Some(b'|') => (Some(Order::None), &s[1..]),
        Some(b'=') => (Some(Order::Little), &s[1..]),
        _ => (None, s),
    };
    let named = match rest {
        "bool" | "?" | "bool_" => Some((b'b', 1)),
        "int8" => Some((b'i', 1)),
        "int16" => Some((b'i', 2)),
        "int32" => Some((b'i', 4)),
        "int64" => Some((b'i', 8)),
        "uint8" => Some((b'u', 1)),
        "uint16" => Some((b'u', 2)),
        "uint32" => Some((b'u', 4)),
        "uint64" => Some((b'u', 8)),
        "float16" => Some((b'f', 2)),
        "float32" => Some((b'f', 4)),
        "float64" => Some((b'f', 8)),
        "complex64" => Some((b'c', 8)),
        "complex128" => Some((b'c', 16)),
        _ => None,
    };
    if let Some((kind, size)) = named {
        return Ok((kind, size, order));
    }
    let kind = rest.bytes().next().unwrap_or(0);
    let size: Option<u64> = rest.get(1..).and_then(|d| d.parse().ok());
    match (kind, size) {
        (b'b' | b'i' | b'u' | b'f' | b'c', Some(size)) => {
            let d = NpDtype {
                kind,
                size,
                order: Order::Little,
            };
            if d.dtype().is_some() {
                return Ok((kind, size, order));
            }
            Err(format!("numpy dtype {s:?} is not rebuilt"))
        }
        (b'O', _) => Err(
            "numpy arrays of dtype object are not rebuilt (their items are Python objects)".into(),
        ),
        _ => Err(format!("numpy dtype {s:?} is not rebuilt")),
    }
}

/// A `numpy.dtype(descr, align, copy)` object and its `BUILD` state.
fn np_dtype(w: &mut Walker<'_, '_>, v: Value) -> Result<NpDtype> {
    let Some((_, op)) = w.opaque_of(v) else {
        return Err(w.invalid(format!("{} is not a numpy dtype", w.describe(v))));
    };
    let Some((target, make, _)) = w.construct(op)? else {
        return Err(w.not_data(format!("a numpy dtype {}", w.describe(v))));
    };
    if target != Target::Global("numpy.dtype".into()) {
        return Err(w.not_data(format!("{} given as a numpy dtype", target.name())));
    }
    np_dtype_of(w, op, make)
}

fn np_dtype_of(w: &mut Walker<'_, '_>, op: &Opaque, make: Make<'_>) -> Result<NpDtype> {
    w.check_mutations(op, allow::STATE, "numpy.dtype")?;
    let Make::Call(args) = make else {
        return Err(w.not_data("numpy.dtype created without arguments"));
    };
    let Some(&descr) = args.first() else {
        return Err(w.invalid("numpy.dtype() needs a descriptor"));
    };
    if args.len() > 3 {
        return Err(w.arity("numpy.dtype", "at most 3", args.len()));
    }
    let Some(text) = w.str_of(descr) else {
        return Err(w.refused(format!("numpy dtype {} is not rebuilt", w.describe(descr))));
    };
    let (kind, size, mut order) = parse_descr(text).map_err(|e| w.refused(e))?;
    // arraydescr_setstate: (version, endian, subarray, names, fields,
    // elsize, alignment, flags[, metadata]).
    for state in op.states() {
        let Some(items) = w.tuple_of(state) else {
            return Err(w.invalid("a numpy dtype state that is not a tuple"));
        };
        let version = items.first().and_then(|&v| w.int_of(v));
        match (version, items.len()) {
            (Some(3), 8) | (Some(4), 9) => {}
            _ => {
                return Err(w.refused(format!(
                    "numpy dtype state {} is not rebuilt",
                    w.describe(state)
                )));
            }
        }
        if items[2..5].iter().any(|&x| x != Value::NONE) {
            return Err(w.refused("structured and subarray numpy dtypes are not rebuilt"));
        }
        order = Some(match w.str_of(items[1]) {
            Some("<") | Some("=") => Order::Little,
            Some(">") => Order::Big,
            Some("|") => Order::None,
            _ => return Err(w.invalid("a numpy dtype byte order that is not <, >, | or =")),
        });
    }
    // No byte order given: native, taken as little-endian (every platform
    // torch ships wheels for).
    let order = match order {
        Some(o) => o,
        None if size == 1 => Order::None,
        None => Order::Little,
    };
    Ok(NpDtype { kind, size, order })
}

/// Bytes of an array or scalar: `bytes`, or a `str` the Python 2 pickle
/// decoded (NumPy encodes it back as latin-1).
fn raw_bytes(w: &mut Walker<'_, '_>, v: Value, what: &str) -> Result<Vec<u8>> {
    match w.g.object(v) {
        Some(Object::Bytes(b) | Object::ByteArray(b)) => return Ok(b.to_vec()),
        Some(Object::Str(_)) => {
            if let Some(s) = w.str_of(v) {
                if let Some(b) = s
                    .chars()
                    .map(|c| u8::try_from(u32::from(c)).ok())
                    .collect::<Option<Vec<u8>>>()
                {
                    return Ok(b);
                }
            }
            return Err(w.invalid(format!("{what}: a str that is not latin-1")));
        }
        Some(Object::List(_)) => {
            return Err(w.refused(
                "numpy arrays of dtype object are not rebuilt (their items are Python objects)",
            ));
        }
        _ => {}
    }
    match w.value(v)? {
        Node::Bytes(b) | Node::ByteArray(b) => Ok(b),
        _ => Err(w.invalid(format!("{what}: {} is not bytes", w.describe(v)))),
    }
}

/// Swap each element's bytes (each half of a complex number).
fn byteswap(bytes: &mut [u8], d: NpDtype) {
    let unit = if d.kind == b'c' { d.size / 2 } else { d.size } as usize;
    if unit > 1 {
        for chunk in bytes.chunks_exact_mut(unit) {
            chunk.reverse();
        }
    }
}

fn half_to_f64(h: u16) -> f64 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = ((h >> 10) & 0x1f) as i32;
    let mant = (h & 0x3ff) as f64;
    match exp {
        0 => sign * mant * 2f64.powi(-24),
        31 if mant == 0.0 => sign * f64::INFINITY,
        31 => f64::NAN,
        _ => sign * (1.0 + mant / 1024.0) * 2f64.powi(exp - 15),
    }
}

/// `numpy.core.multiarray.scalar(dtype, bytes)`.
fn scalar(w: &mut Walker<'_, '_>, make: Make<'_>) -> Result<Node> {
    let Make::Call(&[dtype, data]) = make else {
        return Err(w.not_data("numpy scalar() without (dtype, bytes)"));
    };
    let d = np_dtype(w, dtype)?;
    let mut b = raw_bytes(w, data, "numpy scalar")?;
    if b.len() as u64 != d.size {
        return Err(w.invalid(format!(
            "a numpy scalar of {} bytes for a {}-byte dtype",
            b.len(),
            d.size
        )));
    }
    if d.swapped() {
        byteswap(&mut b, d);
    }
    let arr8 = |b: &[u8]| -> [u8; 8] {
        let mut a = [0u8; 8];
        a.copy_from_slice(&b[..8]);
        a
    };
    let (node, kind) = match (d.kind, d.size) {
        (b'b', _) => (Node::Bool(b[0] != 0), "bool"),
        (b'i', 1) => (Node::Int(b[0] as i8 as i64), "int"),
        (b'i', 2) => (Node::Int(i16::from_le_bytes([b[0], b[1]]) as i64), "int"),
        (b'i', 4) => (
            Node::Int(i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64),
            "int",
        ),
        (b'i', 8) => (Node::Int(i64::from_le_bytes(arr8(&b))), "int"),
        (b'u', 1) => (Node::Int(b[0] as i64), "int"),
        (b'u', 2) => (Node::Int(u16::from_le_bytes([b[0], b[1]]) as i64), "int"),
        (b'u', 4) => (
            Node::Int(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64),
            "int",
        ),
        (b'u', 8) => {
            let u = u64::from_le_bytes(arr8(&b));
            match i64::try_from(u) {
                Ok(i) => (Node::Int(i), "int"),
                Err(_) => (Node::BigInt(u.into()), "int"),
            }
        }
        (b'f', 2) => (
            Node::Float(half_to_f64(u16::from_le_bytes([b[0], b[1]]))),
            "float",
        ),
        (b'f', 4) => (
            Node::Float(f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64),
            "float",
        ),
        (b'f', 8) => (Node::Float(f64::from_le_bytes(arr8(&b))), "float"),
        (b'c', 8) => (
            Node::Complex(
                f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64,
                f32::from_le_bytes([b[4], b[5], b[6], b[7]]) as f64,
            ),
            "complex",
        ),
        (b'c', 16) => (
            Node::Complex(
                f64::from_le_bytes(arr8(&b)),
                f64::from_le_bytes(arr8(&b[8..])),
            ),
            "complex",
        ),
        _ => {
            return Err(w.refused(format!(
                "numpy scalars of dtype {} are not rebuilt",
                d.name()
            )));
        }
    };
    w.transformed(format!(
        "numpy {} scalar replaced by a Python {kind}",
        d.name()
    ));
    Ok(node)
}

/// Shape as non-negative ints.
fn shape_of(w: &Walker<'_, '_>, v: Value) -> Result<Vec<u64>> {
    let items: &[Value] = match w.g.object(v) {
        Some(Object::Tuple(t)) => w.g.items(*t),
        Some(Object::List(l)) => l,
        _ => return Err(w.invalid(format!("the array shape {} is not a tuple", w.describe(v)))),
    };
    items
        .iter()
        .map(|&x| match w.int_of(x) {
            Some(n) if n >= 0 => Ok(n as u64),
            _ => Err(w.invalid(format!(
                "the array shape {} holds a negative or non-int size",
                w.describe(v)
            ))),
        })
        .collect()
}

/// C-order strides, in elements; Fortran order when `fortran`.
fn contiguous_strides(shape: &[u64], fortran: bool) -> Vec<u64> {
    let mut strides = vec![0u64; shape.len()];
    let mut acc = 1u64;
    let order: Vec<usize> = if fortran {
        (0..shape.len()).collect()
    } else {
        (0..shape.len()).rev().collect()
    };
    for i in order {
        strides[i] = acc;
        acc = acc.saturating_mul(shape[i].max(1));
    }
    strides
}

/// Add a tensor over inline bytes for an array.
fn array_tensor(
    w: &mut Walker<'_, '_>,
    id: ObjId,
    d: NpDtype,
    shape: Vec<u64>,
    stride: Vec<u64>,
    mut bytes: Vec<u8>,
    how: &str,
) -> Result<Node> {
    let Some(dtype) = d.dtype() else {
        return Err(w.refused(format!(
            "numpy arrays of dtype {} are not rebuilt",
            d.name()
        )));
    };
    let numel = shape.iter().try_fold(1u64, |a, &n| a.checked_mul(n));
    let expected = numel.and_then(|n| n.checked_mul(d.size));
    if expected != Some(bytes.len() as u64) {
        return Err(w.invalid(format!(
            "{how}: {} bytes of data for shape {shape:?} of {} (buffer size does not match array size)",
            bytes.len(),
            d.name()
        )));
    }
    w.charge_bytes(bytes.len() as u64)?;
    let swapped = d.swapped();
    if swapped {
        byteswap(&mut bytes, d);
    }
    let numel = numel.unwrap_or(0);
    let key = format!("numpy/{}", w.out.storages.len());
    let storage = push_storage(
        &mut w.out,
        StorageInfo {
            key,
            dtype,
            numel,
            location: "cpu".into(),
            inline: Some(bytes),
        },
    );
    let t = TensorInfo {
        storage,
        dtype,
        offset: 0,
        shape: shape.clone(),
        stride,
        requires_grad: false,
        parameter: false,
    };
    let idx = push_tensor(&mut w.out, t);
    w.tensors.insert(id, idx);
    w.transformed(format!(
        "numpy.ndarray of {}, shape {shape:?}, rebuilt as a {dtype} tensor holding its bytes inline{}",
        d.name(),
        if swapped { ", byte-swapped from big-endian" } else { "" }
    ));
    Ok(Node::Tensor(idx))
}

/// `_reconstruct(numpy.ndarray, (0,), b'b')` then `ndarray.__setstate__`.
fn array(w: &mut Walker<'_, '_>, id: ObjId, op: &Opaque, make: Make<'_>) -> Result<Node> {
    let Make::Call(&[subtype, _, _]) = make else {
        return Err(w.invalid("numpy _reconstruct takes (subtype, shape, dtype)"));
    };
    match w.target(subtype)? {
        Target::Global(n) if n == "numpy.ndarray" => {}
        other => {
            return Err(w.refused(format!(
                "numpy array subclass {} is not rebuilt",
                other.name()
            )));
        }
    }
    w.check_mutations(op, allow::STATE, "numpy.ndarray")?;
    let Some(state) = op.states().last() else {
        // Never filled: _reconstruct's empty int8 ('b') array.
        let d = NpDtype {
            kind: b'i',
            size: 1,
            order: Order::None,
        };
        return array_tensor(w, id, d, vec![0], vec![1], Vec::new(), "numpy array");
    };
    let Some(items) = w.tuple_of(state) else {
        return Err(w.invalid("a numpy array state that is not a tuple"));
    };
    // (version, shape, dtype, is_fortran, rawdata), the version optional.
    let (shape, dtype, fortran, raw) = match *items {
        [version, shape, dtype, fortran, raw] => {
            match w.int_of(version) {
                Some(0 | 1) => {}
                _ => {
                    return Err(w.invalid(format!(
                        "numpy array pickle version {}",
                        w.describe(version)
                    )));
                }
            }
            (shape, dtype, fortran, raw)
        }
        [shape, dtype, fortran, raw] => (shape, dtype, fortran, raw),
        _ => return Err(w.invalid("a numpy array state of the wrong length")),
    };
    let d = np_dtype(w, dtype)?;
    let shape = shape_of(w, shape)?;
    let Some(fortran) = w.int_of(fortran) else {
        return Err(w.invalid("numpy array is_fortran flag that is not an int"));
    };
    let bytes = raw_bytes(w, raw, "numpy array")?;
    let stride = contiguous_strides(&shape, fortran != 0);
    array_tensor(w, id, d, shape, stride, bytes, "numpy array")
}

/// `numpy.core.numeric._frombuffer(buf, dtype, shape, order[, axis_order])`:
/// what protocol 5 writes for contiguous arrays.
fn frombuffer(w: &mut Walker<'_, '_>, id: ObjId, op: &Opaque, make: Make<'_>) -> Result<Node> {
    w.check_mutations(op, 0, "numpy _frombuffer")?;
    let (buf, dtype, shape, order, axes) = match make {
        Make::Call(&[b, d, s, o]) => (b, d, s, o, None),
        Make::Call(&[b, d, s, o, a]) => (b, d, s, o, Some(a)),
        _ => return Err(w.invalid("numpy _frombuffer takes (buf, dtype, shape, order)")),
    };
    let d = np_dtype(w, dtype)?;
    let shape = shape_of(w, shape)?;
    let bytes = raw_bytes(w, buf, "numpy buffer")?;
    if bytes.len() as u64 % d.size.max(1) != 0 {
        return Err(w.invalid("buffer size must be a multiple of element size"));
    }
    let axes = match axes {
        None => None,
        Some(Value::NONE) => None,
        Some(a) => Some(shape_of(w, a)?),
    };
    let (shape, stride) = match (w.str_of(order), axes) {
        (Some("C"), _) => {
            let s = contiguous_strides(&shape, false);
            (shape, s)
        }
        (Some("F"), _) => {
            let s = contiguous_strides(&shape, true);
            (shape, s)
        }
        // reshape(shape, order='C').transpose(axis_order).
        (Some("K"), Some(axes)) => {
            let c = contiguous_strides(&shape, false);
            let mut seen = vec![false; shape.len()];
            let mut new_shape = Vec::with_capacity(shape.len());
            let mut new_stride = Vec::with_capacity(shape.len());
            if axes.len() != shape.len() {
                return Err(w.invalid("axes don't match array"));
            }
            for &a in &axes {
                let a = a as usize;
                if a >= shape.len() || seen[a] {
                    return Err(w.invalid("axes don't match array"));
                }
                seen[a] = true;
                new_shape.push(shape[a]);
                new_stride.push(c[a]);
            }
            (new_shape, new_stride)
        }
        _ => {
            return Err(w.refused(format!(
                "numpy _frombuffer with order {} is not rebuilt",
                w.describe(order)
            )));
        }
    };
    array_tensor(w, id, d, shape, stride, bytes, "numpy array")
}

// ----- objects of any other class -------------------------------------

/// `Class(value)` where `Class` is an enum class of the derived table
/// ([`airlock_policy::enums`]) and `value` one of its members' values:
/// the member's value (a lookup runs no code of the class).
fn enum_member(
    w: &mut Walker<'_, '_>,
    op: &Opaque,
    name: &str,
    make: Make<'_>,
) -> Result<Option<Node>> {
    use airlock_pickle::ValueKind;
    use airlock_policy::enums::{Member, is_member};
    let Make::Call(&[arg]) = make else {
        return Ok(None);
    };
    let node = match (w.g.object(arg), arg.kind()) {
        (Some(Object::Str(_)), _) => match w.g.str(arg) {
            Some(s) if is_member(name, Member::Str(&s)) => Node::Str(s.into_owned()),
            _ => return Ok(None),
        },
        (_, ValueKind::Int(i)) if is_member(name, Member::Int(i)) => Node::Int(i),
        _ => return Ok(None),
    };
    w.check_mutations(op, 0, name)?;
    w.transformed(format!(
        "the enum member {name}({}) replaced by its value",
        super::py_repr(&node)
    ));
    Ok(Some(node))
}

/// The key naming an instance's class in the dict it is rebuilt as.
pub const CLASS_KEY: &str = "__class__";

/// An instance of any other class that the pickle only creates with
/// `cls.__new__(cls)` (`NEWOBJ` without arguments, `copyreg.__newobj__`,
/// `copyreg._reconstructor(cls, object, None)`) and fills with `BUILD`
/// (its `__dict__`, slots) or `SETITEM(S)` (a dict subclass): a
/// [`Node::Dict`] whose first entry is `"__class__"`: the qualified class
/// name, followed by the attributes (or the items). The class is never
/// imported; a `__setstate__` it may define is not run.
fn instance(w: &mut Walker<'_, '_>, op: &Opaque, name: &str) -> Result<Node> {
    let what = format!("class {name}");
    w.check_mutations(op, allow::STATE | allow::ITEMS, &what)?;
    let attrs = w.instance_dict(op, &what)?;
    let has_items = op.set_items().next().is_some();
    if has_items && !attrs.is_empty() {
        return Err(w.not_data(format!(
            "{what}: an instance with both attributes and dict items"
        )));
    }
    let mut out = vec![(Node::Str(CLASS_KEY.into()), Node::Str(name.to_string()))];
    for (attr, v) in attrs {
        if attr == CLASS_KEY {
            return Err(w.not_data(format!("{what}: an attribute named {CLASS_KEY}")));
        }
        let value = w.child(attr, v)?;
        out.push((Node::Str(attr.to_string()), value));
    }
    for (k, v) in op.set_items() {
        w.hashable(k)?;
        let key = w.value(k)?;
        if key == Node::Str(CLASS_KEY.into()) {
            return Err(w.not_data(format!("{what}: an item keyed {CLASS_KEY}")));
        }
        let value = w.child(super::key_segment(&key), v)?;
        w.insert(&mut out, key, value)?;
    }
    w.transformed(format!(
        "{what} (made by __new__ and filled with its state) replaced by a dict of its {} under \"{CLASS_KEY}\": its class name; the class was not imported",
        if has_items { "items" } else { "attributes" }
    ));
    Ok(Node::Dict(out))
}

// ----- argparse, pathlib, collections ----------------------------------

/// `argparse.Namespace`: `object.__new__` and `BUILD` with its `__dict__`.
fn namespace(w: &mut Walker<'_, '_>, op: &Opaque, make: Make<'_>) -> Result<Node> {
    if let Make::Call(args) = make {
        if !args.is_empty() {
            return Err(w.invalid("argparse.Namespace takes keyword arguments only"));
        }
    }
    w.check_mutations(op, allow::STATE, "argparse.Namespace")?;
    let attrs = w.instance_dict(op, "argparse.Namespace")?;
    let mut items = Vec::with_capacity(attrs.len());
    for (name, v) in attrs {
        let value = w.child(name, v)?;
        items.push((Node::Str(name.to_string()), value));
    }
    w.transformed("argparse.Namespace replaced by a dict of its attributes");
    Ok(Node::Dict(items))
}

fn is_pathlib(name: &str) -> bool {
    let class = name
        .strip_prefix("pathlib._local.")
        .or_else(|| name.strip_prefix("pathlib."));
    matches!(
        class,
        Some(
            "PosixPath" | "WindowsPath" | "PurePosixPath" | "PureWindowsPath" | "Path" | "PurePath"
        )
    )
}

/// `str(PurePosixPath(*parts))`: an absolute part restarts the path;
/// empty and `.` components vanish; two leading slashes are kept (POSIX
/// leaves them implementation-defined), more collapse to one.
fn posix_path(parts: &[&str]) -> String {
    let mut root = "";
    let mut comps: Vec<&str> = Vec::new();
    for part in parts {
        if part.starts_with('/') {
            let stripped = part.trim_start_matches('/');
            root = if part.len() - stripped.len() == 2 {
                "//"
            } else {
                "/"
            };
            comps.clear();
        }
        comps.extend(part.split('/').filter(|c| !c.is_empty() && *c != "."));
    }
    let body = comps.join("/");
    if root.is_empty() && body.is_empty() {
        ".".into()
    } else {
        format!("{root}{body}")
    }
}

/// `str(PureWindowsPath(*parts))` for the parts pathlib pickles: an
/// optional anchor (`C:\`, `\\server\share\`) first, then plain names.
fn windows_path(parts: &[&str]) -> Option<String> {
    let mut out = String::new();
    let mut comps: Vec<String> = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        let p = part.replace('/', "\\");
        let is_anchor = p.starts_with('\\') || p.as_bytes().get(1) == Some(&b':');
        if is_anchor {
            if i != 0 {
                return None;
            }
            out = p;
            continue;
        }
        for c in p.split('\\') {
            if c.contains(':') {
                return None;
            }
            if !c.is_empty() && c != "." {
                comps.push(c.to_string());
            }
        }
    }
    if !out.is_empty() && !comps.is_empty() && !out.ends_with('\\') {
        out.push('\\');
    }
    out.push_str(&comps.join("\\"));
    if out.is_empty() {
        out.push('.');
    }
    Some(out)
}

/// `pathlib` paths: `cls(*parts)`.
fn path(w: &mut Walker<'_, '_>, op: &Opaque, name: &str, make: Make<'_>) -> Result<Node> {
    w.check_mutations(op, 0, name)?;
    let Make::Call(args) = make else {
        return Err(w.not_data(format!("class {name} created without its parts")));
    };
    let mut parts = Vec::with_capacity(args.len());
    for &a in args {
        match w.str_of(a) {
            Some(s) => parts.push(s),
            None => {
                return Err(w.invalid(format!(
                    "{name}: the path part {} is not a str",
                    w.describe(a)
                )));
            }
        }
    }
    let text = if name.ends_with("WindowsPath") {
        windows_path(&parts)
            .ok_or_else(|| w.refused(format!("the Windows path parts {parts:?} are not rebuilt")))?
    } else {
        posix_path(&parts)
    };
    w.charge_bytes(text.len() as u64)?;
    let class = name.rsplit('.').next().unwrap_or(name);
    w.transformed(format!("pathlib.{class} replaced by its string"));
    Ok(Node::Str(text))
}

/// Default factories a `defaultdict` may hold: builtin types, never
/// called while loading, dropped from the rebuilt dict.
const DEFAULT_FACTORIES: &[&str] = &[
    "builtins.bool",
    "builtins.bytes",
    "builtins.dict",
    "builtins.float",
    "builtins.frozenset",
    "builtins.int",
    "builtins.list",
    "builtins.set",
    "builtins.str",
    "builtins.tuple",
    "collections.Counter",
    "collections.OrderedDict",
    "collections.defaultdict",
    "collections.deque",
];

fn defaultdict<'g>(w: &mut Walker<'g, '_>, op: &'g Opaque, make: Make<'g>) -> Result<Node> {
    let (factory, rest) = match make {
        Make::New | Make::Call([]) => (None, Make::Call(&[])),
        Make::Call([f, rest @ ..]) => (Some(*f), Make::Call(rest)),
    };
    let factory_name = match factory {
        None | Some(Value::NONE) => "None".to_string(),
        Some(f) => match w.target(f) {
            Ok(Target::Global(n)) if DEFAULT_FACTORIES.contains(&n.as_str()) => n,
            _ => {
                return Err(w.not_data(format!(
                    "collections.defaultdict with the default factory {}",
                    w.describe(f)
                )));
            }
        },
    };
    if op.states().next().is_some() {
        return Err(w.not_data("a collections.defaultdict with attributes"));
    }
    let items = w.mapping(op, rest, "collections.defaultdict")?;
    w.transformed(format!(
        "collections.defaultdict replaced by a dict (default factory {factory_name} dropped)"
    ));
    Ok(Node::Dict(items))
}

fn deque(w: &mut Walker<'_, '_>, op: &Opaque, make: Make<'_>) -> Result<Node> {
    w.check_mutations(op, allow::EXTEND, "collections.deque")?;
    let (init, maxlen) = match make {
        Make::New | Make::Call([]) => (None, None),
        Make::Call([it]) => (Some(*it), None),
        Make::Call([it, m]) => (Some(*it), Some(*m)),
        Make::Call(args) => return Err(w.arity("collections.deque", "at most 2", args.len())),
    };
    let maxlen = match maxlen {
        None | Some(Value::NONE) => None,
        Some(m) => match w.int_of(m) {
            Some(n) if n >= 0 => Some(n as usize),
            _ => return Err(w.invalid("maxlen must be a non-negative integer")),
        },
    };
    let mut items = match init {
        Some(it) => w.iterable(it, "collections.deque")?,
        None => Vec::new(),
    };
    for v in op.appended() {
        let n = w.child(items.len().to_string(), v)?;
        items.push(n);
    }
    // A bounded deque keeps the last maxlen items appended.
    if let Some(m) = maxlen {
        if items.len() > m {
            items.drain(..items.len() - m);
        }
    }
    w.transformed(match maxlen {
        Some(m) => format!("collections.deque replaced by a list (maxlen {m} dropped)"),
        None => "collections.deque replaced by a list".into(),
    });
    Ok(Node::List(items))
}

// ----- omegaconf -------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OmegaKind {
    Dict,
    List,
    Value,
    Union,
}

fn omegaconf_kind(name: &str) -> Option<OmegaKind> {
    Some(match name {
        "omegaconf.dictconfig.DictConfig" => OmegaKind::Dict,
        "omegaconf.listconfig.ListConfig" => OmegaKind::List,
        "omegaconf.base.UnionNode" => OmegaKind::Union,
        "omegaconf.nodes.AnyNode"
        | "omegaconf.nodes.StringNode"
        | "omegaconf.nodes.IntegerNode"
        | "omegaconf.nodes.FloatNode"
        | "omegaconf.nodes.BooleanNode"
        | "omegaconf.nodes.BytesNode"
        | "omegaconf.nodes.PathNode"
        | "omegaconf.nodes.NoneNode"
        | "omegaconf.nodes.EnumNode"
        | "omegaconf.nodes.LiteralNode"
        | "omegaconf.nodes.InterpolationResultNode" => OmegaKind::Value,
        _ => return None,
    })
}

/// An omegaconf container or node: `object.__new__` and `BUILD` with the
/// `__dict__` its `__getstate__` returns. Only `_content` (containers,
/// `UnionNode`) or `_val` (value nodes) is read: `_metadata` holds type
/// annotations and flags, `_parent` points back up the tree.
fn omegaconf(w: &mut Walker<'_, '_>, op: &Opaque, name: &str, make: Make<'_>) -> Result<Node> {
    let Some(kind) = omegaconf_kind(name) else {
        return Err(w.not_data(format!("class {name}")));
    };
    if let Make::Call(args) = make {
        return Err(w.not_data(format!(
            "class {name} constructed from {} arguments",
            args.len()
        )));
    }
    w.check_mutations(op, allow::STATE, name)?;
    let attrs = w.instance_dict(op, name)?;
    let field = match kind {
        OmegaKind::Value => "_val",
        _ => "_content",
    };
    let Some(&(_, content)) = attrs.iter().find(|(n, _)| *n == field) else {
        return Err(w.refused(format!(
            "{name} without its {field} attribute is not rebuilt"
        )));
    };
    let top = w.quiet == 0;
    w.quiet += 1;
    let r = omegaconf_content(w, kind, content);
    w.quiet -= 1;
    let node = r?;
    if top {
        let class = name.rsplit('.').next().unwrap_or(name);
        w.transformed(format!(
            "omegaconf {class} replaced by its plain values (as OmegaConf.to_container(resolve=False))"
        ));
    }
    Ok(node)
}

fn omegaconf_content(w: &mut Walker<'_, '_>, kind: OmegaKind, content: Value) -> Result<Node> {
    let g = w.g;
    match (kind, g.object(content)) {
        (OmegaKind::Value | OmegaKind::Union, _) => w.value(content),
        // None (the config is None) and str ("???", "${...}") contents.
        (_, None) | (_, Some(Object::Str(_))) => w.value(content),
        (OmegaKind::Dict, Some(Object::Dict(d))) => {
            let mut items = Vec::with_capacity(d.len());
            for &(k, v) in d.entries() {
                let key = w.value(k)?;
                let value = w.child(super::key_segment(&key), v)?;
                items.push((key, value));
            }
            Ok(Node::Dict(items))
        }
        (OmegaKind::List, Some(Object::List(l))) => {
            let mut items = Vec::with_capacity(l.len());
            for (i, &v) in l.iter().enumerate() {
                items.push(w.child(i.to_string(), v)?);
            }
            Ok(Node::List(items))
        }
        _ => Err(w.refused(format!(
            "an omegaconf container whose content is {} is not rebuilt",
            w.describe(content)
        ))),
    }
}

// ----- nn.Module --------------------------------------------------------

/// A pickled `nn.Module` (found by its instance state, whatever its class)
/// rebuilt as the `OrderedDict` its default `state_dict()` returns; `None`
/// when `op` is not a module.
pub(super) fn module(
    w: &mut Walker<'_, '_>,
    _id: ObjId,
    op: &Opaque,
    what: &str,
) -> Result<Option<Node>> {
    if !is_module(w, op) {
        return Ok(None);
    }
    let top = w.quiet == 0;
    w.quiet += 1;
    let mut entries = Vec::new();
    let r = module_state(w, op, "", &mut entries, what);
    let kept = match r {
        Ok(()) if top && w.opts.module_attributes => module_attributes(w, op, what),
        _ => Vec::new(),
    };
    w.quiet -= 1;
    r?;
    if top {
        let attrs = if kept.is_empty() {
            "its other attributes were dropped".to_string()
        } else {
            let names: Vec<&str> = kept.iter().map(|(n, _)| n.as_str()).collect();
            format!(
                "its data attributes ({}) kept apart, the others dropped",
                names.join(", ")
            )
        };
        w.transformed(format!(
            "{what} (an nn.Module) replaced by the OrderedDict its state_dict() returns ({} entries); {attrs}",
            entries.len()
        ));
        if !kept.is_empty() {
            let path = w.path.join(".");
            w.out.module_attributes.push((path, kept));
        }
    }
    Ok(Some(Node::OrderedDict(entries)))
}

/// The public attributes of a module's instance dict that rebuild as data
/// (what its class set in `__init__`: names, configs, strides); the rest
/// (torch's bookkeeping, whose names start with `_`, `training`, and
/// anything not data) is left out.
fn module_attributes(w: &mut Walker<'_, '_>, op: &Opaque, what: &str) -> Vec<(String, Node)> {
    let Ok(attrs) = w.instance_dict(op, what) else {
        return Vec::new();
    };
    let mut kept = Vec::new();
    for (name, v) in attrs {
        if name.starts_with('_') || name == "training" {
            continue;
        }
        if let Ok(node) = w.child(name, v) {
            kept.push((name.to_string(), node));
        }
    }
    kept
}

fn is_module(w: &Walker<'_, '_>, op: &Opaque) -> bool {
    let Ok(attrs) = w.instance_dict(op, "module") else {
        return false;
    };
    ["_parameters", "_buffers", "_modules"]
        .iter()
        .all(|n| attrs.iter().any(|(a, _)| a == n))
}

/// The `(name, value)` items of a module's `_parameters`/`_buffers`/
/// `_modules`: a dict, or an `OrderedDict` (older torch).
fn str_items<'g>(w: &Walker<'g, '_>, v: Value, what: &str) -> Result<Vec<(&'g str, Value)>> {
    let mut raw: Vec<(Value, Value)> = Vec::new();
    match w.g.object(v) {
        Some(Object::Dict(d)) => raw.extend(d.entries().iter().copied()),
        Some(Object::Opaque(_)) => {
            let Some((_, op)) = w.opaque_of(v) else {
                return Err(w.refused(format!(
                    "the module's {what} is not a dict: no state_dict() to rebuild"
                )));
            };
            let ordered = matches!(w.construct(op)?, Some((Target::Global(n), Make::New | Make::Call([]), _)) if n == "collections.OrderedDict");
            if !ordered {
                return Err(w.not_data(format!("{what} {}", w.describe(v))));
            }
            w.check_mutations(op, allow::ITEMS, what)?;
            raw.extend(op.set_items());
        }
        _ => {
            return Err(w.refused(format!(
                "the module's {what} {} is not a dict: no state_dict() to rebuild",
                w.describe(v)
            )));
        }
    }
    let mut out: Vec<(&'g str, Value)> = Vec::with_capacity(raw.len());
    for (k, v) in raw {
        let Some(name) = w.str_of(k) else {
            return Err(w.refused(format!(
                "the module's {what} holds a name that is not a str: no state_dict() to rebuild"
            )));
        };
        match out.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = v,
            None => out.push((name, v)),
        }
    }
    Ok(out)
}

/// `tensor.detach()`: the same view, not a Parameter, not requiring grad.
fn detach(w: &mut Walker<'_, '_>, i: usize) -> usize {
    let t = &w.out.tensors[i];
    if !t.requires_grad && !t.parameter {
        return i;
    }
    if let Some(&d) = w.detached.get(&i) {
        return d;
    }
    let mut d = t.clone();
    d.requires_grad = false;
    d.parameter = false;
    let di = push_tensor(&mut w.out, d);
    w.detached.insert(i, di);
    di
}

/// `Module._save_to_state_dict` then the submodules, recursively.
fn module_state(
    w: &mut Walker<'_, '_>,
    op: &Opaque,
    prefix: &str,
    out: &mut Vec<(Node, Node)>,
    what: &str,
) -> Result<()> {
    w.check_mutations(op, allow::STATE, what)?;
    let attrs = w.instance_dict(op, what)?;
    let attr = |n: &str| attrs.iter().find(|(a, _)| *a == n).map(|&(_, v)| v);
    for hooks in ["_state_dict_hooks", "_state_dict_pre_hooks"] {
        if let Some(h) = attr(hooks) {
            let empty = match w.under(hooks, |w| w.value(h)) {
                Ok(Node::None) => true,
                Ok(Node::Dict(d) | Node::OrderedDict(d) | Node::Counter(d)) => d.is_empty(),
                _ => false,
            };
            if !empty {
                return Err(w.refused(format!(
                    "{what} has {hooks}: state_dict() would run them, so it is not rebuilt"
                )));
            }
        }
    }
    let non_persistent: Vec<String> = match attr("_non_persistent_buffers_set") {
        None => Vec::new(),
        Some(v) => match w.under("_non_persistent_buffers_set", |w| w.value(v))? {
            Node::Set(items) | Node::List(items) => items
                .into_iter()
                .filter_map(|n| match n {
                    Node::Str(s) => Some(s),
                    _ => None,
                })
                .collect(),
            _ => {
                return Err(w.refused(
                    "the module's _non_persistent_buffers_set is not a set: no state_dict() to rebuild",
                ));
            }
        },
    };
    let (Some(params), Some(buffers), Some(modules)) =
        (attr("_parameters"), attr("_buffers"), attr("_modules"))
    else {
        return Err(w.refused(format!("{what} lacks _parameters, _buffers or _modules")));
    };
    let params = str_items(w, params, "_parameters")?;
    let buffers = str_items(w, buffers, "_buffers")?;
    let modules = str_items(w, modules, "_modules")?;
    for (kind, entries) in [("parameter", params), ("buffer", buffers)] {
        for (name, v) in entries {
            if v == Value::NONE || (kind == "buffer" && non_persistent.iter().any(|n| n == name)) {
                continue;
            }
            let node = w.child(name, v)?;
            let Node::Tensor(i) = node else {
                let e = w.under(name, |w| {
                    Ok(w.refused(format!(
                        "the module {kind} is not a tensor: no state_dict() to rebuild"
                    )))
                })?;
                return Err(e);
            };
            let d = detach(w, i);
            out.push((Node::Str(format!("{prefix}{name}")), Node::Tensor(d)));
        }
    }
    for (name, v) in modules {
        if v == Value::NONE {
            continue;
        }
        let sub_prefix = format!("{prefix}{name}.");
        w.under(name, |w| {
            let Some((id, sub)) = w.opaque_of(v) else {
                return Err(w.not_data(format!("{} in _modules", w.describe(v))));
            };
            let global = match w.construct(sub)? {
                Some((t @ (Target::Global(_) | Target::LegacyClass(_)), Make::New, _)) => {
                    t.name().to_string()
                }
                _ => return Err(w.not_data(format!("{} in _modules", w.describe(v)))),
            };
            let class = format!("class {global}");
            if !is_module(w, sub) {
                return Err(w.not_data(format!("{class} (in _modules, without module state)")));
            }
            w.out.foreign.insert(global);
            w.enter(id)?;
            let r = module_state(w, sub, &sub_prefix, out, &class);
            w.leave(id);
            r
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn posix_paths_as_pathlib_prints_them() {
        assert_eq!(
            posix_path(&["runs", "exp1", "model.pt"]),
            "runs/exp1/model.pt"
        );
        assert_eq!(posix_path(&["/", "etc", "x"]), "/etc/x");
        assert_eq!(posix_path(&["a", "/b", "c"]), "/b/c");
        assert_eq!(posix_path(&["//", "x"]), "//x");
        assert_eq!(posix_path(&["///x"]), "/x");
        assert_eq!(posix_path(&[]), ".");
        assert_eq!(posix_path(&["a/./b//c"]), "a/b/c");
    }

    #[test]
    fn windows_paths() {
        assert_eq!(
            windows_path(&["C:\\", "Users", "x"]).unwrap(),
            "C:\\Users\\x"
        );
        assert_eq!(windows_path(&["a", "b"]).unwrap(), "a\\b");
        assert_eq!(
            windows_path(&["\\\\server\\share\\", "f"]).unwrap(),
            "\\\\server\\share\\f"
        );
        assert!(windows_path(&["a", "C:\\x"]).is_none());
    }

    #[test]
    fn half_floats() {
        assert_eq!(half_to_f64(0x3c00), 1.0);
        assert_eq!(half_to_f64(0xc000), -2.0);
        assert_eq!(half_to_f64(0x0001), 2f64.powi(-24));
        assert_eq!(half_to_f64(0x7c00), f64::INFINITY);
        assert!(half_to_f64(0x7e00).is_nan());
        assert_eq!(half_to_f64(0x3555), 0.333251953125);
    }

    #[test]
    fn descriptors() {
        assert_eq!(parse_descr("f8").unwrap(), (b'f', 8, None));
        assert_eq!(parse_descr(">i4").unwrap(), (b'i', 4, Some(Order::Big)));
        assert_eq!(parse_descr("float32").unwrap(), (b'f', 4, None));
        assert!(parse_descr("O8").unwrap_err().contains("object"));
        assert!(parse_descr("U5").is_err());
        assert!(parse_descr("f16").is_err());
        assert!(parse_descr("").is_err());
    }

    #[test]
    fn strides() {
        assert_eq!(contiguous_strides(&[2, 3, 4], false), vec![12, 4, 1]);
        assert_eq!(contiguous_strides(&[2, 3, 4], true), vec![1, 2, 6]);
        assert_eq!(contiguous_strides(&[], false), Vec::<u64>::new());
    }
}
