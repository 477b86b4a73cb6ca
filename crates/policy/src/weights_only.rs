//! Predicting `torch.load(path, weights_only=True)` without running it.
//!
//! torch's weights-only unpickler (`torch/_weights_only_unpickler.py`) is a
//! small pure-Python unpickler: 34 opcodes, globals looked up by their dotted
//! name in a fixed allowlist (never imported), and type checks on `REDUCE`,
//! `NEWOBJ`, `BUILD`, the container opcodes and persistent ids. The
//! prediction replays the same decisions on the engine's analysis of the
//! pickle: the opcode stream for the opcode subset, the events for the
//! checks, in execution order, so the refusal reported is the first one torch
//! would hit, with torch's own message. The tables come from torch itself
//! (`scripts/gen_torch_tables.py`); a parity test compares the prediction
//! with real `torch.load` on every fixture.

use airlock_pickle::{
    Analysis, Build, CallKind, Decoder, Event, EventKind, Graph, Mutate, Object, Opcode, Origin,
    Pickle, Value, ValueKind,
};

use crate::torch_tables;

/// What an allowlisted global is (`_get_allowed_globals()` values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WoKind {
    /// A class: `REDUCE` and `NEWOBJ` create instances.
    Class,
    /// A function: `REDUCE` calls it.
    Function,
    /// A `torch.dtype`: not callable.
    Dtype,
    /// A quantization scheme: not callable.
    QScheme,
    /// A legacy storage class, pushed as a `StorageType`: not callable.
    StorageType,
}

/// Why torch would refuse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefusalKind {
    /// A global outside the allowlist (its display name).
    UnsupportedGlobal(String),
    /// A global from `sys`, `os`, `posix` or `nt`.
    BlockedModule(String),
    /// An opcode the weights-only unpickler does not implement.
    UnsupportedOperand(u8),
    /// TorchScript archives are refused outright.
    TorchScript,
    /// The legacy tar format is refused outright.
    LegacyTar,
    /// An error `torch.load` raises whatever `weights_only` is: the file
    /// cannot be loaded at all (a tensor view past its storage).
    LoadFails,
    /// Any other refusal or error.
    Other,
}

/// The refusal torch would give.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// What kind.
    pub kind: RefusalKind,
    /// The message of the exception torch raises inside `torch.load`
    /// (`torch.load` wraps `UnpicklingError`s in a longer text).
    pub message: String,
    /// The member it happens in, if any.
    pub member: Option<String>,
    /// The byte offset in that member, if any.
    pub offset: Option<u64>,
}

impl Refusal {
    fn new(kind: RefusalKind, message: impl Into<String>) -> Refusal {
        Refusal {
            kind,
            message: message.into(),
            member: None,
            offset: None,
        }
    }
}

/// How `persistent_load` behaves for the pickle being checked.
#[derive(Clone, Copy)]
pub enum Persistent<'a> {
    /// Module-level `load()`: every persistent id is refused.
    Refused,
    /// `_load` of a ZIP checkpoint: ids are `('storage', type, key,
    /// location, numel)` and `data/<key>` must exist with the right size;
    /// the closure gives a record's size.
    Zip(&'a dyn Fn(&str) -> Option<u64>),
    /// `_legacy_load`: ids are `('storage', type, key, location, numel,
    /// view_metadata)`.
    Legacy,
}

/// The dotted name torch's weights-only unpickler matches a global under:
/// the module and name as written in the pickle (before Python's 2-to-3
/// renaming), through torch's own mapping.
pub fn torch_name(g: &airlock_pickle::Global<'_>) -> String {
    let (m, n) = written(g);
    let (m, n) = torch_global_name(&m, &n);
    format!("{m}.{n}")
}

/// `_read_global_instruction` + the lookup: the dotted name torch matches.
pub fn torch_global_name(module: &str, name: &str) -> (String, String) {
    if let Ok(i) =
        torch_tables::NAME_MAPPING.binary_search_by(|((m, n), _)| (*m, *n).cmp(&(module, name)))
    {
        let (m, n) = torch_tables::NAME_MAPPING[i].1;
        return (m.to_string(), n.to_string());
    }
    if let Ok(i) = torch_tables::IMPORT_MAPPING.binary_search_by(|(m, _)| (*m).cmp(module)) {
        return (
            torch_tables::IMPORT_MAPPING[i].1.to_string(),
            name.to_string(),
        );
    }
    (module.to_string(), name.to_string())
}

/// The allowlisted kind of a full dotted name, default user allowlist
/// included.
pub fn allowed(full: &str) -> Option<WoKind> {
    let find = |table: &[(&str, WoKind)]| {
        table
            .binary_search_by(|(n, _)| (*n).cmp(full))
            .ok()
            .map(|i| table[i].1)
    };
    find(torch_tables::ALLOWED).or_else(|| find(torch_tables::DEFAULT_USER_ALLOWED))
}

/// `"builtins.x"` is shown as `"x"` in torch's message.
fn display_name(full: &str) -> String {
    match full.strip_prefix("builtins") {
        Some("") => "builtins".into(),
        Some(rest) if rest.starts_with('.') => rest[1..].to_string(),
        _ => full.to_string(),
    }
}

/// Check one global as `load()` does for `GLOBAL`.
pub fn check_global(module: &str, name: &str) -> Result<WoKind, Refusal> {
    let (m, n) = torch_global_name(module, name);
    let full = format!("{m}.{n}");
    if torch_tables::BLOCKED_MODULES.contains(&m.as_str()) {
        return Err(Refusal::new(
            RefusalKind::BlockedModule(full.clone()),
            format!("Trying to load unsupported GLOBAL {full} whose module {m} is blocked."),
        ));
    }
    if let Some(kind) = allowed(&full) {
        return Ok(kind);
    }
    if torch_tables::DTENSOR.contains(&full.as_str()) {
        return Err(Refusal::new(
            RefusalKind::Other,
            "``torch.distributed.tensor`` must be imported to load DTensors",
        ));
    }
    let display = display_name(&full);
    Err(Refusal::new(
        RefusalKind::UnsupportedGlobal(display.clone()),
        format!(
            "Unsupported global: GLOBAL {display} was not an allowed global by default. Please use \
             `torch.serialization.add_safe_globals([{display}])` or the \
             `torch.serialization.safe_globals([{display}])` context manager to allowlist this global \
             if you trust this class/function."
        ),
    ))
}

/// The opcodes the weights-only unpickler implements.
pub fn supported_opcode(op: Opcode) -> bool {
    use Opcode as O;
    matches!(
        op,
        O::GLOBAL
            | O::NEWOBJ
            | O::REDUCE
            | O::BUILD
            | O::APPEND
            | O::APPENDS
            | O::SETITEM
            | O::SETITEMS
            | O::MARK
            | O::TUPLE
            | O::TUPLE1
            | O::TUPLE2
            | O::TUPLE3
            | O::NONE
            | O::NEWFALSE
            | O::NEWTRUE
            | O::EMPTY_TUPLE
            | O::EMPTY_LIST
            | O::EMPTY_DICT
            | O::EMPTY_SET
            | O::BININT
            | O::BININT1
            | O::BININT2
            | O::BINFLOAT
            | O::BINUNICODE
            | O::SHORT_BINSTRING
            | O::BINPERSID
            | O::BINGET
            | O::LONG_BINGET
            | O::BINPUT
            | O::LONG_BINPUT
            | O::LONG1
            | O::PROTO
            | O::STOP
    )
}

/// The Python type of a value as the weights-only checks see it: `dict`,
/// `collections.OrderedDict`, `torch.Tensor`, ...
pub fn wo_type(g: &Graph<'_>, v: Value) -> String {
    match v.kind() {
        ValueKind::None => "NoneType".into(),
        ValueKind::Bool(_) => "bool".into(),
        ValueKind::Int(_) => "int".into(),
        ValueKind::Ref(id) => match g.get(id) {
            Object::Global(_) => "type".into(),
            Object::Opaque(o) => match &g.opaque_at(*o).origin {
                Origin::Call { callable, args, .. } => match g.global(*callable) {
                    Some(gl) => result_type(g, &torch_name(gl), *args),
                    None => "object".into(),
                },
                Origin::Persistent { .. } => "torch.storage.TypedStorage".into(),
                _ => "object".into(),
            },
            other => other.type_name().into(),
        },
    }
}

/// What calling an allowlisted callable returns.
fn result_type(g: &Graph<'_>, full: &str, args: Value) -> String {
    match full {
        "builtins.set" => "set".into(),
        "builtins.bytearray" => "bytearray".into(),
        "builtins.complex" => "complex".into(),
        "_codecs.encode" => "bytes".into(),
        "torch.serialization._get_layout" => "torch.layout".into(),
        "torch._utils._rebuild_parameter" | "torch._utils._rebuild_parameter_with_state" => {
            "torch.nn.parameter.Parameter".into()
        }
        "torch._tensor._rebuild_from_type_v2" => match g
            .tuple(args)
            .and_then(|a| a.get(1))
            .and_then(|t| g.global(*t))
        {
            Some(t) => torch_name(t),
            None => "object".into(),
        },
        f if f.starts_with("torch._utils._rebuild_") => "torch.Tensor".into(),
        f if f.ends_with("Tensor") && f.starts_with("torch.") => "torch.Tensor".into(),
        f => f.into(),
    }
}

/// `<class 'dict'>` as Python prints it.
fn class_repr(t: &str) -> String {
    format!("<class '{t}'>")
}

fn written(g: &airlock_pickle::Global<'_>) -> (String, String) {
    match &g.written {
        Some((m, n)) => (m.to_string(), n.to_string()),
        None => (g.module.to_string(), g.name.to_string()),
    }
}

/// What `dict.update(state)` raises for a literal state, if anything: it
/// takes a mapping or an iterable of pairs.
fn dict_update_error(g: &Graph<'_>, state: Value) -> Option<String> {
    if !g.is_literal(state) {
        return None;
    }
    let items: Vec<Value> = match g.object(state) {
        Some(Object::Dict(_)) => return None,
        Some(Object::List(l)) => l.to_vec(),
        Some(Object::Tuple(_)) => g.tuple(state).unwrap_or(&[]).to_vec(),
        Some(Object::Str(s) | Object::Bytes(s) | Object::ByteArray(s)) if s.is_empty() => {
            return None;
        }
        _ => {
            return Some(format!(
                "TypeError: '{}' object is not iterable",
                g.type_name(state)
            ));
        }
    };
    for (i, item) in items.iter().enumerate() {
        let len = match g.object(*item) {
            Some(Object::Tuple(_)) => g.tuple(*item).map(|t| t.len()),
            Some(Object::List(l)) => Some(l.len()),
            Some(Object::Str(s)) => Some(String::from_utf8_lossy(s).chars().count()),
            Some(Object::Bytes(b) | Object::ByteArray(b)) => Some(b.len()),
            _ if !g.is_literal(*item) => return None,
            _ => None,
        };
        match len {
            Some(2) => {}
            Some(n) => {
                return Some(format!(
                    "ValueError: dictionary update sequence element #{i} has length {n}; 2 is required"
                ));
            }
            None => {
                return Some(format!(
                    "TypeError: cannot convert dictionary update sequence element #{i} to a sequence"
                ));
            }
        }
    }
    None
}

/// Python truthiness of a literal value (unknown objects count as true).
fn truthy(g: &Graph<'_>, v: Value) -> bool {
    match v.kind() {
        ValueKind::None => false,
        ValueKind::Bool(b) => b,
        ValueKind::Int(i) => i != 0,
        ValueKind::Ref(id) => match g.get(id) {
            Object::Float(f) => *f != 0.0,
            Object::Str(s) | Object::Bytes(s) | Object::ByteArray(s) => !s.is_empty(),
            Object::Tuple(t) => !t.is_empty(),
            Object::List(l) => !l.is_empty(),
            Object::Dict(d) => !d.is_empty(),
            Object::Set(s) | Object::FrozenSet(s) => !s.is_empty(),
            _ => true,
        },
    }
}

fn py_str(g: &Graph<'_>, v: Value) -> String {
    match g.object(v) {
        Some(Object::Str(s)) => String::from_utf8_lossy(s).into_owned(),
        _ => g.repr(v, 120),
    }
}

/// Check one pickle of a file as the weights-only unpickler would load it.
/// `data` is the bytes the pickle was analysed from.
pub fn check_pickle(
    data: &[u8],
    analysis: &Analysis<'_>,
    pickle: &Pickle,
    persistent: Persistent<'_>,
) -> Result<(), Refusal> {
    let g = &analysis.graph;
    let bad_op = first_unsupported_opcode(data, pickle);
    for event in &pickle.events {
        if let Some((off, byte)) = bad_op {
            if off <= event.offset {
                return Err(unsupported_operand(off, byte));
            }
        }
        check_event(g, event, persistent).map_err(|mut r| {
            r.offset = Some(event.offset as u64);
            r
        })?;
    }
    if let Some((off, byte)) = bad_op {
        return Err(unsupported_operand(off, byte));
    }
    Ok(())
}

/// The first opcode outside the subset, with its offset.
fn first_unsupported_opcode(data: &[u8], pickle: &Pickle) -> Option<(usize, u8)> {
    let mut dec = Decoder::new(data, pickle.start);
    while dec.position() < pickle.end {
        match dec.read_op() {
            Ok(op) => {
                if !supported_opcode(op.opcode) {
                    return Some((op.offset, op.opcode.byte()));
                }
            }
            Err(_) => break,
        }
    }
    None
}

fn unsupported_operand(offset: usize, byte: u8) -> Refusal {
    let mut r = Refusal::new(
        RefusalKind::UnsupportedOperand(byte),
        format!("Unsupported operand {byte}"),
    );
    r.offset = Some(offset as u64);
    r
}

/// The check torch makes for one event; the caller sets the offset.
fn check_event(g: &Graph<'_>, event: &Event, persistent: Persistent<'_>) -> Result<(), Refusal> {
    match &event.kind {
        EventKind::Import(id) => {
            if let Some(gl) = g.global(Value::object(*id)) {
                let (m, n) = written(gl);
                check_global(&m, &n)?;
            }
            Ok(())
        }
        EventKind::Call(id) => {
            let Some(Origin::Call {
                kind,
                callable,
                args,
                ..
            }) = g.opaque(Value::object(*id)).map(|o| &o.origin)
            else {
                return Ok(());
            };
            check_call(g, *kind, *callable, *args)
        }
        EventKind::Build(b) => check_build(g, b),
        EventKind::Mutate(m) => check_mutate(g, m, event.opcode.map(|o| o.name()).unwrap_or("")),
        EventKind::PersistentLoad(id) => {
            let Some(Origin::Persistent { pid }) = g.opaque(Value::object(*id)).map(|o| &o.origin)
            else {
                return Ok(());
            };
            check_persistent(g, *pid, persistent)
        }
        EventKind::DynamicImport(_) | EventKind::Extension { .. } | EventKind::Buffer(_) => {
            // Their opcodes (STACK_GLOBAL, EXT*, NEXT_BUFFER) are outside the subset.
            Ok(())
        }
        EventKind::LoaderRead(_) => Err(Refusal::new(
            RefusalKind::Other,
            "a loader extension read data torch's unpickler would not",
        )),
        EventKind::Error(e) => Err(Refusal::new(RefusalKind::Other, e.kind.to_string())),
    }
}

/// `BUILD`: the types whose state torch sets, and how.
fn check_build(g: &Graph<'_>, b: &Build) -> Result<(), Refusal> {
    let t = wo_type(g, b.target);
    let ok_always = [
        "torch.Tensor",
        "torch.nn.parameter.Parameter",
        "collections.OrderedDict",
    ];
    let with_dict = [
        "collections.Counter",
        "torch.storage.TypedStorage",
        "torch.storage.UntypedStorage",
    ];
    let no_dict = ["set", "bytearray", "complex", "torch.Size", "torch.device"];
    if t == "collections.OrderedDict" {
        // `inst.__dict__.update(state)`.
        if let Some(e) = dict_update_error(g, b.state) {
            return Err(Refusal::new(RefusalKind::Other, e));
        }
    } else if ok_always.contains(&t.as_str()) || with_dict.contains(&t.as_str()) {
    } else if no_dict.contains(&t.as_str()) {
        if truthy(g, b.state) {
            return Err(Refusal::new(
                RefusalKind::Other,
                format!("AttributeError: '{t}' object has no attribute '__dict__'"),
            ));
        }
    } else if allowed(&t) != Some(WoKind::Class) {
        return Err(Refusal::new(
            RefusalKind::Other,
            format!(
                "Can only build Tensor, Parameter, OrderedDict or types allowlisted via `add_safe_globals`, but got {}",
                class_repr(&t)
            ),
        ));
    }
    Ok(())
}

/// `APPEND(S)`, `SETITEM(S)` and `ADDITEMS` on something that is not a
/// plain list, dict or set.
fn check_mutate(g: &Graph<'_>, m: &Mutate, opname: &str) -> Result<(), Refusal> {
    let t = wo_type(g, m.target);
    match m.method {
        "__setitem__" => {
            if !["dict", "collections.OrderedDict", "collections.Counter"].contains(&t.as_str()) {
                return Err(Refusal::new(
                    RefusalKind::Other,
                    format!(
                        "Can only {opname} for dict, collections.OrderedDict, collections.Counter, but got {}",
                        class_repr(&t)
                    ),
                ));
            }
            Ok(())
        }
        _ => {
            let verb = if opname == "APPEND" {
                "append to"
            } else {
                "extend"
            };
            Err(Refusal::new(
                RefusalKind::Other,
                format!("Can only {verb} lists, but got {}", class_repr(&t)),
            ))
        }
    }
}

fn check_call(g: &Graph<'_>, kind: CallKind, callable: Value, args: Value) -> Result<(), Refusal> {
    let other = |m: String| Refusal::new(RefusalKind::Other, m);
    let global = g.global(callable);
    let full = global.map(torch_name);
    let wo_kind = full.as_deref().and_then(allowed);
    match kind {
        CallKind::Reduce => {
            let Some(k) = wo_kind else {
                return Err(other(format!(
                    "Trying to call reduce for unrecognized function {}",
                    py_str(g, callable)
                )));
            };
            match k {
                WoKind::Dtype => Err(other(
                    "TypeError: 'torch.dtype' object is not callable".into(),
                )),
                WoKind::QScheme => Err(other(
                    "TypeError: 'torch.qscheme' object is not callable".into(),
                )),
                WoKind::StorageType => Err(other(
                    "TypeError: 'StorageType' object is not callable".into(),
                )),
                WoKind::Class | WoKind::Function => {
                    check_rebuild_args(g, full.as_deref().unwrap_or(""), args)
                }
            }
        }
        CallKind::NewObj => match (full.as_deref(), wo_kind) {
            (Some("torch.nn.parameter.Parameter"), _) | (_, Some(WoKind::Class)) => Ok(()),
            (Some(f), Some(WoKind::Function)) => Err(other(format!(
                "TypeError: function.__new__(X): X is not a type object (function) [{f}]"
            ))),
            (Some(_), Some(_)) => Err(other(
                "TypeError: cannot create instances of this type".into(),
            )),
            _ => Err(other(format!(
                "Can only create new object for nn.Parameter or classes allowlisted via `add_safe_globals` but got {}",
                py_str(g, callable)
            ))),
        },
        // OBJ, INST and NEWOBJ_EX are outside the opcode subset.
        _ => Ok(()),
    }
}

/// What the rebuild functions themselves check on the arguments torch
/// writes: a storage first, and the argument count.
fn check_rebuild_args(g: &Graph<'_>, full: &str, args: Value) -> Result<(), Refusal> {
    let Some(items) = g.tuple(args) else {
        return Ok(());
    };
    let arity = |lo: usize, hi: usize| -> Result<(), Refusal> {
        if items.len() < lo || items.len() > hi {
            return Err(Refusal::new(
                RefusalKind::Other,
                format!(
                    "TypeError: {}() takes {lo} to {hi} positional arguments but {} were given",
                    full.rsplit('.').next().unwrap_or(full),
                    items.len()
                ),
            ));
        }
        Ok(())
    };
    let storage_first = || -> Result<(), Refusal> {
        let t = wo_type(g, items[0]);
        if t != "torch.storage.TypedStorage" && t != "torch.storage.UntypedStorage" {
            return Err(Refusal::new(
                RefusalKind::Other,
                format!("AttributeError: '{t}' object has no attribute '_untyped_storage'"),
            ));
        }
        Ok(())
    };
    // `tensor.set_(storage, offset, size, stride)` fails when the view
    // reaches past the storage (it would have to resize it).
    let in_bounds = || -> Result<(), Refusal> {
        let Some(numel) = storage_numel(g, items[0]) else {
            return Ok(());
        };
        let ints =
            |v: Value| -> Option<Vec<i64>> { g.tuple(v)?.iter().map(|x| g.int(*x)).collect() };
        let (Some(offset), Some(size), Some(stride)) =
            (g.int(items[1]), ints(items[2]), ints(items[3]))
        else {
            return Ok(());
        };
        if offset < 0 || size.iter().chain(&stride).any(|&x| x < 0) || size.len() != stride.len() {
            return Ok(());
        }
        let needed = if size.contains(&0) {
            Some(0)
        } else {
            size.iter()
                .zip(&stride)
                .try_fold(offset as i128 + 1, |acc, (&n, &st)| {
                    Some(acc + (n as i128 - 1) * st as i128)
                })
        };
        match needed {
            Some(n) if n > numel as i128 => Err(Refusal::new(
                RefusalKind::LoadFails,
                "RuntimeError: Trying to resize storage that is not resizable",
            )),
            _ => Ok(()),
        }
    };
    match full {
        "torch._utils._rebuild_tensor_v2" => {
            arity(6, 7)?;
            storage_first()?;
            in_bounds()
        }
        "torch._utils._rebuild_tensor" => {
            arity(4, 4)?;
            storage_first()?;
            in_bounds()
        }
        "torch._utils._rebuild_tensor_v3" => {
            arity(7, 8)?;
            storage_first()
        }
        "torch._utils._rebuild_parameter" => arity(3, 3),
        "torch._utils._rebuild_parameter_with_state" => arity(4, 4),
        "torch._tensor._rebuild_from_type_v2" => arity(4, 4),
        _ => Ok(()),
    }
}

/// The element count a storage's persistent id declares.
fn storage_numel(g: &Graph<'_>, storage: Value) -> Option<i64> {
    let Origin::Persistent { pid } = &g.opaque(storage)?.origin else {
        return None;
    };
    let items = g.tuple(*pid)?;
    g.int(*items.get(4)?)
}

fn check_persistent(g: &Graph<'_>, pid: Value, mode: Persistent<'_>) -> Result<(), Refusal> {
    let other = |m: String| Refusal::new(RefusalKind::Other, m);
    let t = wo_type(g, pid);
    let items = g.tuple(pid);
    if items.is_none() && t != "int" {
        return Err(other(format!(
            "persistent_load id must be tuple or int, but got {}",
            class_repr(&t)
        )));
    }
    if let Some(items) = items {
        if let Some(first) = items.first() {
            let is_storage = match g.object(*first) {
                Some(Object::Str(s)) | Some(Object::Bytes(s)) => &s[..] == b"storage",
                _ => false,
            };
            if !is_storage {
                return Err(other(format!(
                    "Only persistent_load of storage is allowed, but got {}",
                    class_repr(&wo_type(g, *first))
                )));
            }
        }
    }
    let Some(items) = items else {
        return match mode {
            Persistent::Refused => Err(other("unsupported persistent id encountered".into())),
            _ => Err(other(
                "AssertionError: saved_id must be a tuple, got int".into(),
            )),
        };
    };
    let want = match mode {
        Persistent::Refused => return Err(other("unsupported persistent id encountered".into())),
        Persistent::Zip(_) => 4,
        Persistent::Legacy => 5,
    };
    let data = &items[items.len().min(1)..];
    if data.len() != want {
        return Err(other(if data.len() < want {
            format!(
                "ValueError: not enough values to unpack (expected {want}, got {})",
                data.len()
            )
        } else {
            format!("ValueError: too many values to unpack (expected {want})")
        }));
    }
    let storage_type = match g.global(data[0]) {
        Some(gl) => torch_name(gl),
        None => String::new(),
    };
    // `_load` maps UntypedStorage to uint8; `_legacy_load` asks the class
    // for `.dtype`, which it does not have.
    let dtype = if storage_type == "torch.storage.UntypedStorage" {
        if matches!(mode, Persistent::Legacy) {
            return Err(other(
                "AttributeError: type object 'torch.storage.UntypedStorage' has no attribute 'dtype'".into(),
            ));
        }
        Some("torch.uint8")
    } else {
        torch_tables::STORAGE_DTYPES
            .iter()
            .find(|(s, _)| *s == storage_type)
            .map(|(_, d)| *d)
    };
    let Some(dtype) = dtype else {
        return Err(other(format!(
            "AttributeError: '{}' object has no attribute 'dtype'",
            wo_type(g, data[0])
        )));
    };
    if let Persistent::Zip(record_size) = mode {
        let key = py_str(g, data[1]);
        let numel = g.int(data[3]).unwrap_or(-1);
        let name = format!("data/{key}");
        let Some(size) = record_size(&name) else {
            return Err(other(format!(
                "RuntimeError: PytorchStreamReader failed locating file {name}: file not found"
            )));
        };
        let elsize = dtype_size(dtype);
        if numel < 0 {
            // pybind11 cannot pass a negative byte count as size_t.
            return Err(other(format!(
                "TypeError: get_storage_from_record(): incompatible function arguments ({numel} elements)"
            )));
        }
        let expected = (numel as u64).saturating_mul(elsize);
        if size != expected {
            return Err(other(format!(
                "RuntimeError: record size ({size} bytes) does not match expected size ({expected} bytes = {numel} elements * {elsize} bytes/element)"
            )));
        }
    }
    Ok(())
}

/// Element size of a dtype by its torch name (`torch.float32` → 4).
pub fn dtype_size(dtype: &str) -> u64 {
    torch_tables::DTYPE_SIZES
        .iter()
        .find(|(n, _)| *n == dtype)
        .map(|(_, s)| *s)
        .unwrap_or(1)
}

/// The dtype a storage class holds (`torch.FloatStorage` → `torch.float32`).
pub fn storage_dtype(storage_class: &str) -> Option<&'static str> {
    if storage_class == "torch.storage.UntypedStorage" {
        return Some("torch.uint8");
    }
    torch_tables::STORAGE_DTYPES
        .iter()
        .find(|(s, _)| *s == storage_class)
        .map(|(_, d)| *d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globals_as_torch_checks_them() {
        assert_eq!(
            check_global("torch._utils", "_rebuild_tensor_v2"),
            Ok(WoKind::Function)
        );
        assert_eq!(check_global("__builtin__", "set"), Ok(WoKind::Class));
        assert_eq!(
            check_global("torch", "nn.parameter.Parameter"),
            Ok(WoKind::Class)
        );
        assert!(matches!(
            check_global("torch.nn", "Parameter"),
            Err(Refusal {
                kind: RefusalKind::UnsupportedGlobal(_),
                ..
            })
        ));
        let e = check_global("os", "system").unwrap_err();
        assert_eq!(
            e.message,
            "Trying to load unsupported GLOBAL os.system whose module os is blocked."
        );
        let e = check_global("__builtin__", "intern").unwrap_err();
        assert!(matches!(e.kind, RefusalKind::BlockedModule(_)));
        let e = check_global("builtins", "getattr").unwrap_err();
        assert_eq!(e.kind, RefusalKind::UnsupportedGlobal("getattr".into()));
        let e = check_global("argparse", "Namespace").unwrap_err();
        assert!(e.message.starts_with(
            "Unsupported global: GLOBAL argparse.Namespace was not an allowed global by default."
        ));
    }

    #[test]
    fn tables_are_sorted() {
        assert!(torch_tables::ALLOWED.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(
            torch_tables::NAME_MAPPING
                .windows(2)
                .all(|w| w[0].0 < w[1].0)
        );
        assert!(
            torch_tables::IMPORT_MAPPING
                .windows(2)
                .all(|w| w[0].0 < w[1].0)
        );
        assert_eq!(dtype_size("torch.float32"), 4);
        assert_eq!(storage_dtype("torch.HalfStorage"), Some("torch.float16"));
    }
}
