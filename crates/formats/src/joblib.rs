//! joblib's pickle format: `joblib.dump` writes one pickle in which every
//! NumPy array is replaced by a `NumpyArrayWrapper` object, and the array's
//! raw bytes (or, for object arrays, a whole nested pickle) follow right
//! after that wrapper's `BUILD` opcode. `joblib.load` unpickles with
//! `NumpyUnpickler`, whose `load_build` reads those bytes from the file.
//!
//! [`JoblibHost`] describes those reads to the pickle engine (see
//! [`airlock_pickle::Host`]) exactly as joblib performs them (read
//! `joblib/numpy_pickle.py`): the wrapper's attributes come from its
//! constructor arguments and `BUILD` states; a padding byte and padding
//! follow when `numpy_array_alignment_bytes` is set; the array's byte count
//! is the product of its shape times the dtype's item size, with the dtype
//! rebuilt from its pickled form (`numpy.dtype(str, False, True)` plus its
//! `__setstate__` tuple); object arrays are a nested pickle read by a fresh
//! plain unpickler, whose file position ends after its last frame.
//!
//! Anything the host cannot follow exactly is recorded as a problem and
//! stops the analysis there, so that an unfollowed layout is never taken
//! for data.

use airlock_pickle::{
    AfterBuild, Analysis, CallKind, Decoder, EngineConfig, Graph, Host, Mutation, Object, Opcode,
    Origin, Value,
};

/// `joblib.numpy_pickle.NumpyArrayWrapper`, the wrapper of inline arrays.
pub const WRAPPER: (&str, &str) = ("joblib.numpy_pickle", "NumpyArrayWrapper");

/// Whether a global is one of joblib's array wrapper classes, and which.
pub fn wrapper_kind(module: &str, name: &str) -> Option<WrapperKind> {
    match (module, name) {
        ("joblib.numpy_pickle", "NumpyArrayWrapper") => Some(WrapperKind::Inline),
        ("joblib.numpy_pickle" | "joblib.numpy_pickle_compat", "NDArrayWrapper") => {
            Some(WrapperKind::CompanionNpy)
        }
        ("joblib.numpy_pickle" | "joblib.numpy_pickle_compat", "ZNDArrayWrapper") => {
            Some(WrapperKind::CompanionZfile)
        }
        _ => None,
    }
}

/// joblib's array wrappers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WrapperKind {
    /// `NumpyArrayWrapper`: the array follows in the same file.
    Inline,
    /// `NDArrayWrapper` (joblib < 0.10): `np.load(companion file,
    /// allow_pickle=True)`.
    CompanionNpy,
    /// `ZNDArrayWrapper` (joblib < 0.10): a zlib-compressed companion file.
    CompanionZfile,
}

/// An array joblib reads from the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InlineArray {
    /// Offset of the `BUILD` of its wrapper.
    pub build_offset: usize,
    /// Where its bytes start (the padding byte, when there is one).
    pub start: usize,
    /// Where the array data itself starts, after any padding.
    pub data_start: usize,
    /// Bytes read, padding included.
    pub len: usize,
    /// The dtype, in NumPy's notation (`'<f8'`), and the shape.
    pub dtype: String,
    /// The shape.
    pub shape: Vec<u64>,
    /// Whether it is an object array (a nested pickle).
    pub object: bool,
}

/// A companion file an old-format wrapper makes joblib read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Companion {
    /// Offset of the wrapper's `BUILD`.
    pub build_offset: usize,
    /// The file name, relative to the pickle's folder (as joblib joins it).
    pub filename: Option<String>,
    /// Which wrapper.
    pub kind: WrapperKind,
}

/// A nested pickle joblib runs for an object array.
pub struct NestedPickle<'a> {
    /// Offset of the wrapper's `BUILD`.
    pub build_offset: usize,
    /// Its analysis (one pickle, plain unpickler semantics).
    pub analysis: Analysis<'a>,
}

/// The [`Host`] for `joblib.load`.
pub struct JoblibHost<'a> {
    config: EngineConfig,
    /// Arrays read inline, in order.
    pub arrays: Vec<InlineArray>,
    /// Nested pickles of object arrays.
    pub nested: Vec<NestedPickle<'a>>,
    /// Companion files old wrappers load.
    pub companions: Vec<Companion>,
    /// What could not be followed (the analysis stops at the first).
    pub problems: Vec<(usize, String)>,
}

impl<'a> JoblibHost<'a> {
    /// A host whose nested pickles are analysed with `config` (one pickle
    /// each; `max_pickles` is overridden).
    pub fn new(config: EngineConfig) -> Self {
        JoblibHost {
            config: EngineConfig {
                max_pickles: Some(1),
                ..config
            },
            arrays: Vec::new(),
            nested: Vec::new(),
            companions: Vec::new(),
            problems: Vec::new(),
        }
    }

    fn stop(&mut self, at: usize, msg: String) -> AfterBuild {
        self.problems.push((at, msg.clone()));
        AfterBuild::Raise(format!("Airlock cannot follow joblib here: {msg}"))
    }
}

impl<'a> Host<'a> for JoblibHost<'a> {
    fn after_build(
        &mut self,
        g: &Graph<'a>,
        built: Value,
        data: &'a [u8],
        file_pos: usize,
    ) -> AfterBuild {
        let Some(opaque) = g.opaque(built) else {
            return AfterBuild::Continue;
        };
        let Some((kind, init_args)) = instance_of_wrapper(g, &opaque.origin) else {
            return AfterBuild::Continue;
        };
        let build_offset = opaque
            .mutations()
            .iter()
            .rev()
            .find_map(|m| match m {
                Mutation::SetState { offset, .. } => Some(*offset),
                _ => None,
            })
            .unwrap_or(opaque.offset);
        let attrs = match attributes(g, opaque.mutations(), init_args, kind) {
            Ok(a) => a,
            Err(e) => return self.stop(build_offset, e),
        };
        if kind != WrapperKind::Inline {
            self.companions.push(Companion {
                build_offset,
                filename: attrs
                    .get("filename")
                    .and_then(|v| g.str(v).map(|s| s.into_owned())),
                kind,
            });
            return AfterBuild::Continue;
        }
        let array = match inline_layout(g, &attrs) {
            Ok(a) => a,
            Err(e) => return self.stop(build_offset, e),
        };
        if array.object {
            self.object_array(array, build_offset, data, file_pos)
        } else {
            self.inline_array(array, build_offset, data, file_pos)
        }
    }
}

/// What `NumpyArrayWrapper.read_array` reads after the wrapper's `BUILD`.
impl<'a> JoblibHost<'a> {
    /// An object array: `Unpickler(file_handle).load()`, a fresh plain
    /// unpickler, from the file position on.
    fn object_array(
        &mut self,
        array: Layout,
        build_offset: usize,
        data: &'a [u8],
        file_pos: usize,
    ) -> AfterBuild {
        let analysis = self.config.analyze_at(data, file_pos);
        let end = nested_end(data, file_pos, analysis.pickles[0].end);
        let failed = analysis.pickles[0].error().is_some();
        self.nested.push(NestedPickle {
            build_offset,
            analysis,
        });
        self.arrays.push(InlineArray {
            build_offset,
            start: file_pos,
            data_start: file_pos,
            len: end - file_pos,
            dtype: array.dtype,
            shape: array.shape,
            object: true,
        });
        if failed {
            return AfterBuild::Raise(
                "the object array's nested pickle fails (see its findings)".into(),
            );
        }
        AfterBuild::Consume {
            len: end - file_pos,
        }
    }

    /// A numeric array: its bytes, after the alignment padding when the
    /// wrapper says it is aligned.
    fn inline_array(
        &mut self,
        array: Layout,
        build_offset: usize,
        data: &'a [u8],
        file_pos: usize,
    ) -> AfterBuild {
        let mut len = 0usize;
        if array.aligned {
            // One byte giving the padding length, then the padding.
            let Some(&pad) = data.get(file_pos) else {
                return AfterBuild::Raise("EOFError: the alignment padding byte is missing".into());
            };
            len = 1 + pad as usize;
        }
        let Some(total) = array
            .bytes
            .checked_add(len as u64)
            .and_then(|t| usize::try_from(t).ok())
        else {
            return self.stop(build_offset, format!("an array of {} bytes", array.bytes));
        };
        if file_pos
            .checked_add(total)
            .is_none_or(|end| end > data.len())
        {
            // `_read_bytes` raises: "EOF: reading array data, expected ...".
            return AfterBuild::Raise(format!(
                "ValueError: EOF: reading array data, expected {total} bytes at byte {file_pos}"
            ));
        }
        self.arrays.push(InlineArray {
            build_offset,
            start: file_pos,
            data_start: file_pos + len,
            len: total,
            dtype: array.dtype,
            shape: array.shape,
            object: false,
        });
        AfterBuild::Consume { len: total }
    }
}

/// Where the file position stands after a nested pickle: past `STOP`, or
/// at the end of the last frame Python's unframer read ahead.
fn nested_end(data: &[u8], start: usize, stop_end: usize) -> usize {
    let mut end = stop_end;
    let mut d = Decoder::new(data, start);
    while let Some(Ok(op)) = d.next() {
        if op.offset >= stop_end {
            break;
        }
        if op.opcode == Opcode::FRAME {
            if let airlock_pickle::Arg::FrameLen(n) = op.arg {
                let frame_end = d.position().saturating_add(n as usize).min(data.len());
                end = end.max(frame_end);
            }
        }
        if op.opcode == Opcode::STOP {
            break;
        }
    }
    end
}

/// Whether an opaque object is an instance of a joblib wrapper class, and
/// the positional arguments its `__init__` received (if it ran).
fn instance_of_wrapper<'g>(
    g: &'g Graph<'_>,
    origin: &Origin,
) -> Option<(WrapperKind, Option<&'g [Value]>)> {
    let Origin::Call {
        kind,
        callable,
        args,
        ..
    } = origin
    else {
        return None;
    };
    let class_kind = |v: Value| {
        g.global(v)
            .and_then(|gl| wrapper_kind(&gl.module, &gl.name))
    };
    match kind {
        // `cls.__new__(cls, ...)`: no `__init__`.
        CallKind::NewObj | CallKind::NewObjEx => class_kind(*callable).map(|k| (k, None)),
        CallKind::Reduce | CallKind::Obj | CallKind::Inst => {
            if let Some(k) = class_kind(*callable) {
                return Some((k, Some(g.tuple(*args).unwrap_or(&[]))));
            }
            // copyreg._reconstructor(cls, object, None) and
            // copyreg.__newobj__(cls): instances without `__init__`.
            let gl = g.global(*callable)?;
            if gl.module == "copyreg" && (gl.name == "_reconstructor" || gl.name == "__newobj__") {
                let first = *g.tuple(*args)?.first()?;
                return class_kind(first).map(|k| (k, None));
            }
            None
        }
    }
}

/// The instance `__dict__` after `__init__` and every `BUILD`.
struct Attrs(Vec<(String, Value)>);

impl Attrs {
    fn get(&self, name: &str) -> Option<Value> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| *v)
    }
    fn set(&mut self, name: String, v: Value) {
        self.0.push((name, v));
    }
}

fn attributes(
    g: &Graph<'_>,
    mutations: &[Mutation],
    init: Option<&[Value]>,
    kind: WrapperKind,
) -> Result<Attrs, String> {
    let mut attrs = Attrs(Vec::new());
    if let Some(args) = init {
        let names: &[&str] = match kind {
            WrapperKind::Inline => &[
                "subclass",
                "shape",
                "order",
                "dtype",
                "allow_mmap",
                "numpy_array_alignment_bytes",
            ],
            _ => &[],
        };
        if kind == WrapperKind::Inline {
            if args.len() < 4 || args.len() > names.len() {
                return Err(format!(
                    "NumpyArrayWrapper called with {} arguments",
                    args.len()
                ));
            }
            // `numpy_array_alignment_bytes` defaults to 16 in `__init__`.
            attrs.set(
                "numpy_array_alignment_bytes".into(),
                Value::small_int(16).expect("small"),
            );
        } else if !args.is_empty() {
            return Err("an old joblib wrapper called with arguments".into());
        }
        for (name, v) in names.iter().zip(args) {
            attrs.set((*name).into(), *v);
        }
    }
    for m in mutations {
        let Mutation::SetState { state, .. } = m else {
            return Err("an array wrapper modified other than by BUILD".into());
        };
        // `load_build`: a `(state, slotstate)` pair or a dict; both update
        // the instance's attributes.
        let (dict, slots) = match g.tuple(*state) {
            Some(&[a, b]) => (a, Some(b)),
            _ => (*state, None),
        };
        for d in [Some(dict), slots].into_iter().flatten() {
            if d == Value::NONE {
                continue;
            }
            let Some(Object::Dict(items)) = g.object(d) else {
                return Err(format!("a wrapper state that is {}", g.repr(d, 60)));
            };
            for (k, v) in items.entries() {
                let Some(k) = g.str(*k) else {
                    return Err("a wrapper attribute whose name is not a string".into());
                };
                attrs.set(k.into_owned(), *v);
            }
        }
    }
    Ok(attrs)
}

struct Layout {
    dtype: String,
    shape: Vec<u64>,
    bytes: u64,
    object: bool,
    aligned: bool,
}

fn inline_layout(g: &Graph<'_>, attrs: &Attrs) -> Result<Layout, String> {
    let shape_v = attrs.get("shape").ok_or("a wrapper without a shape")?;
    let dtype_v = attrs.get("dtype").ok_or("a wrapper without a dtype")?;
    let items = g
        .tuple(shape_v)
        .or_else(|| match g.object(shape_v) {
            Some(Object::List(l)) => Some(&l[..]),
            _ => None,
        })
        .ok_or_else(|| format!("a shape that is {}", g.repr(shape_v, 60)))?;
    let mut shape = Vec::with_capacity(items.len());
    for v in items {
        let n = g
            .int(*v)
            .ok_or_else(|| format!("a shape entry that is {}", g.repr(*v, 40)))?;
        shape.push(u64::try_from(n).map_err(|_| format!("a negative dimension {n}"))?);
    }
    let count = shape
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d))
        .ok_or("an element count that overflows")?;
    let dt = pickled_dtype(g, dtype_v, 0)?;
    let aligned = match attrs.get("numpy_array_alignment_bytes") {
        None => false,
        Some(v) => v != Value::NONE,
    };
    let bytes = if dt.object {
        0
    } else {
        count
            .checked_mul(dt.itemsize)
            .ok_or("an array size that overflows")?
    };
    Ok(Layout {
        dtype: dt.descr,
        shape,
        bytes,
        object: dt.object,
        aligned,
    })
}

/// A dtype rebuilt from its pickled form, as far as the byte layout goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PickledDtype {
    /// NumPy's type string (`'<f8'`, `'|O'`, `'|V12'`).
    pub descr: String,
    /// Bytes per element.
    pub itemsize: u64,
    /// Whether it holds Python objects anywhere (fields, subarrays).
    pub object: bool,
}

/// The item size of a typestr's kind and digits (`U` counts characters of
/// four bytes), for the kinds Airlock knows.
fn typestr_size(kind: &str, n: Option<u64>) -> Option<u64> {
    match (kind, n) {
        ("b", Some(1)) | ("i" | "u", Some(1 | 2 | 4 | 8)) | ("f", Some(2 | 4 | 8 | 16)) => n,
        ("c", Some(8 | 16 | 32)) => n,
        ("M" | "m", Some(8)) => n,
        ("O", Some(8)) => n,
        ("S" | "V", Some(_)) => n,
        ("U", Some(c)) => c.checked_mul(4),
        _ => None,
    }
}

/// Whether a pickled dtype's subarray `(base dtype, shape)` or one of its
/// fields `{name: (dtype, offset[, title])}` holds objects (`None` or
/// Python's `None`: there is none). `what` describes the dtype in errors.
fn members_hold_objects(
    g: &Graph<'_>,
    subarray: Option<Value>,
    fields: Option<Value>,
    depth: usize,
    what: &dyn Fn() -> String,
) -> Result<bool, String> {
    let mut object = false;
    if let Some(sub) = subarray.filter(|v| *v != Value::NONE) {
        let t = g.tuple(sub).ok_or_else(what)?;
        let inner = pickled_dtype(g, *t.first().ok_or_else(what)?, depth + 1)?;
        object |= inner.object;
    }
    if let Some(fields) = fields.filter(|v| *v != Value::NONE) {
        let Some(Object::Dict(d)) = g.object(fields) else {
            return Err(what());
        };
        for (_, spec) in d.entries() {
            let t = g.tuple(*spec).ok_or_else(what)?;
            let inner = pickled_dtype(g, *t.first().ok_or_else(what)?, depth + 1)?;
            object |= inner.object;
        }
    }
    Ok(object)
}

/// Rebuild `numpy.dtype(typestr, False, True)` followed by its
/// `__setstate__((version, byteorder, subarray, names, fields, elsize,
/// alignment, flags[, metadata]))`, as far as size and object-ness go.
/// Structured dtypes are followed through their fields; anything else is
/// an error, never a guess.
pub fn pickled_dtype(g: &Graph<'_>, v: Value, depth: usize) -> Result<PickledDtype, String> {
    if depth > 32 {
        return Err("a dtype nested too deeply".into());
    }
    let what = || format!("a dtype that is {}", g.repr(v, 80));
    let op = g.opaque(v).ok_or_else(what)?;
    let Origin::Call { callable, args, .. } = &op.origin else {
        return Err(what());
    };
    let gl = g.global(*callable).ok_or_else(what)?;
    if gl.qualified() != "numpy.dtype" {
        return Err(what());
    }
    let args = g.tuple(*args).ok_or_else(what)?;
    let typestr = args.first().and_then(|a| g.str(*a)).ok_or_else(what)?;
    let (kind, digits) = typestr.split_at(
        typestr
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(typestr.len()),
    );
    let n: Option<u64> = if digits.is_empty() {
        None
    } else {
        digits.parse().ok()
    };
    let mut state: Option<&[Value]> = None;
    for m in op.mutations() {
        match m {
            Mutation::SetState { state: s, .. } => state = Some(g.tuple(*s).ok_or_else(what)?),
            _ => return Err(what()),
        }
    }
    let field = |i: usize| state.and_then(|s| s.get(i).copied());
    let byteorder = field(1).and_then(|b| g.str(b).map(|s| s.into_owned()));
    let elsize = field(5)
        .and_then(|e| g.int(e))
        .filter(|&e| e >= 0)
        .map(|e| e as u64);
    // Without a state, numpy set the flags from the type string itself.
    let flags = state.map(|_| field(7).and_then(|f| g.int(f)).unwrap_or(0));
    let base = typestr_size(kind, n)
        .ok_or_else(|| format!("a dtype {typestr:?} Airlock does not know"))?;
    let itemsize = match kind {
        "S" | "U" | "V" => elsize.unwrap_or(base),
        _ => base,
    };
    let members_object = members_hold_objects(g, field(2), field(4), depth, &what)?;
    let object = kind == "O" || members_object;
    // NPY_ITEM_HASOBJECT: numpy trusts the pickled flags; a disagreement
    // with the fields means Airlock cannot tell how joblib reads the array.
    let flags = flags.unwrap_or(if object { 1 } else { 0 });
    if (flags & 1 != 0) != object && (kind == "V" || kind == "O") {
        return Err(format!(
            "a dtype whose flags ({flags}) disagree with its fields about holding objects"
        ));
    }
    let order = match byteorder.as_deref() {
        Some("<" | ">" | "|" | "=") => byteorder.unwrap_or_default(),
        None => "|".into(),
        Some(other) => return Err(format!("a dtype byte order {other:?}")),
    };
    Ok(PickledDtype {
        descr: format!("{order}{typestr}"),
        itemsize,
        object,
    })
}
