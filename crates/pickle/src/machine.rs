//! The symbolic machine: runs opcodes the way CPython's C unpickler
//! (`_pickle.c`) does, on a real stack, mark stack and memo, but where the
//! unpickler would import or call something it records an event and pushes a
//! symbolic object instead. Nothing from the input is ever executed.
//!
//! Where the unpickler certainly raises (stack underflow, a missing memo key,
//! an unhashable dict key, calling an `int`, ...) the run stops with an error,
//! exactly where the real load would. Where the outcome depends on code the
//! analysis cannot see (what a call returns), the run goes on, so the events
//! are a superset of what the real load does.
//!
//! `run` is `load()`: it reads one opcode at a time, runs the commonest
//! through a fast path, and hands every other to its handler in
//! `machine/load.rs`, one per opcode, named after the `load_*` function of
//! `_pickle.c` it follows.

use std::borrow::Cow;

use crate::compat;
use crate::decode::{Arg, Decoder, Op};
use crate::error::{EngineLimit, Error, ErrorKind};
use crate::graph::{Blob, Global, Graph, HashError, ObjId, Object, Opaque, Origin, Table, Value};
use crate::literal::{Int, LegacyEncoding};
use crate::opcode::Opcode;

mod load;

/// Bounds on the work and memory one analysis may use. Exceeding one stops
/// the analysis with [`ErrorKind::LimitExceeded`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Opcodes executed in one stream.
    pub max_ops: u64,
    /// Values on the stack at once.
    pub max_stack: usize,
    /// Marks on the mark stack at once.
    pub max_marks: usize,
    /// Entries in the memo of one pickle.
    pub max_memo: usize,
    /// Items in one list, tuple, dict or set.
    pub max_container: usize,
    /// Objects in the graph.
    pub max_objects: usize,
    /// Bytes allocated for objects, containers, decoded strings and the memo.
    pub max_bytes: u64,
    /// Pickles analysed back to back in one stream.
    pub max_pickles: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_ops: 100_000_000,
            max_stack: 1_000_000,
            max_marks: 1_000_000,
            max_memo: 10_000_000,
            max_container: 50_000_000,
            max_objects: 20_000_000,
            max_bytes: 1 << 30,
            max_pickles: 64,
        }
    }
}

/// How the analysed load is configured: the arguments the real loader passes
/// to its `Unpickler`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineConfig {
    /// Resource limits.
    pub limits: Limits,
    /// `fix_imports` (default `True` in `pickle.load`).
    pub fix_imports: bool,
    /// `encoding` for Python 2 strings (`ASCII` in `pickle.load`, `utf-8` in `torch.load`).
    pub encoding: LegacyEncoding,
    /// Whether the loader defines `persistent_load` (torch does); without it
    /// `PERSID`/`BINPERSID` raise.
    pub persistent_load: bool,
    /// Whether the loader passes out-of-band `buffers`; without them
    /// `NEXT_BUFFER` raises.
    pub buffers: bool,
    /// Pickles to analyse back to back; `None` analyses until the input ends.
    pub max_pickles: Option<usize>,
    /// Run every opcode through the general path, bypassing the fast path
    /// for common opcodes. Only for testing that both agree.
    #[doc(hidden)]
    pub general_path_only: bool,
    /// Read frames as the C unpickler reads a file (`pickle.load(f)`,
    /// `torch.load`), not as `pickle.loads` reads bytes: where a read
    /// crosses the end of a frame, the rest of the frame is dropped and
    /// reading goes on after it (see [`crate::Decoder`]).
    pub file_frames: bool,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            limits: Limits::default(),
            fix_imports: true,
            encoding: LegacyEncoding::Ascii,
            persistent_load: true,
            buffers: false,
            max_pickles: None,
            general_path_only: false,
            file_frames: false,
        }
    }
}

/// Something the real unpickler does that reaches outside plain data.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Offset of the opcode.
    pub offset: usize,
    /// The opcode; `None` only for an error at a byte that is not an opcode.
    pub opcode: Option<Opcode>,
    /// What happens.
    pub kind: EventKind,
}

/// `BUILD`: the state applied to an object.
#[derive(Debug, Clone, PartialEq)]
pub struct Build {
    /// The object whose state is set.
    pub target: Value,
    /// The state.
    pub state: Value,
}

/// `APPEND(S)`, `SETITEM(S)` or `ADDITEMS` on an object that is not a plain
/// list, dict or set: its `extend`/`append`, `__setitem__` or `add` method
/// runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Mutate {
    /// The object.
    pub target: Value,
    /// The method the unpickler calls.
    pub method: &'static str,
    /// How many items.
    pub count: usize,
}

/// The kinds of [`Event`]. Rare, large payloads are boxed to keep the
/// event log compact (24 bytes per event).
#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    /// `find_class(module, name)`: imports the module, fetches the attribute.
    /// The id is an [`Object::Global`].
    Import(ObjId),
    /// `find_class` on operands whose values are only known at load time.
    /// The id is an opaque object with [`Origin::DynamicGlobal`].
    DynamicImport(ObjId),
    /// A call (`REDUCE`, `NEWOBJ`, `NEWOBJ_EX`, `OBJ`, `INST`). The id is
    /// the opaque result, with [`Origin::Call`].
    Call(ObjId),
    /// `BUILD`.
    Build(Box<Build>),
    /// A method call on an object that is not plain data.
    Mutate(Box<Mutate>),
    /// `persistent_load(pid)`. The id is the opaque result.
    PersistentLoad(ObjId),
    /// `EXT1/2/4`: a global from the extension registry, resolved when a
    /// `copyreg.add_extension` call earlier in the stream registered it.
    Extension {
        /// The code.
        code: i32,
        /// The global, or an opaque object when unresolved.
        object: ObjId,
        /// Whether the code was resolved to a global.
        resolved: bool,
    },
    /// `NEXT_BUFFER`: an out-of-band buffer supplied by the loader.
    Buffer(ObjId),
    /// A loader extension read bytes from the file itself after a `BUILD`
    /// (see [`Host`]). The id is the opaque result, with
    /// [`Origin::LoaderData`].
    LoaderRead(ObjId),
    /// The run stopped here with an error; everything before it happened.
    Error(Box<Error>),
}

/// What a loader does after a `BUILD`, beyond the standard unpickler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterBuild {
    /// Nothing more.
    Continue,
    /// The loader reads `len` bytes from its file, where the file position
    /// stands (see [`Host::after_build`]), and replaces the built object with
    /// what it made of them. Unpickling then goes on after those bytes.
    Consume {
        /// Bytes read.
        len: usize,
    },
    /// The loader raises; the message says what.
    Raise(String),
}

/// A loader that extends the unpickler. joblib's `NumpyUnpickler`, for one,
/// reads raw array data (or a nested pickle) from the file right after the
/// `BUILD` of its array wrapper objects; a host describes such reads so the
/// engine stays aligned with the real loader.
pub trait Host<'a> {
    /// Called after every successful `BUILD`, with the built object (on top
    /// of the stack) and the offset where the loader's file position stands:
    /// just after the `BUILD` opcode, or at the end of the current frame when
    /// inside one (Python's unpickler reads whole frames ahead).
    fn after_build(
        &mut self,
        graph: &Graph<'a>,
        built: Value,
        data: &'a [u8],
        file_pos: usize,
    ) -> AfterBuild;
}

/// The symbolic run of one pickle.
#[derive(Debug, Clone, PartialEq)]
pub struct Pickle {
    /// Offset of the first opcode.
    pub start: usize,
    /// Offset just past the last byte read (after `STOP`, or where it failed).
    pub end: usize,
    /// The protocol declared by `PROTO`, if any (the last one seen).
    pub protocol: Option<u8>,
    /// Opcodes executed.
    pub ops: u64,
    /// The result of `STOP`, when the run completed.
    pub root: Option<Value>,
    /// Imports, calls, builds and the like, in execution order; an error,
    /// if any, is the last event.
    pub events: Vec<Event>,
    /// Offset of the first read that crossed the end of a `FRAME`: no
    /// pickler writes one, and `pickle.loads` and a file reader read on
    /// differently from there.
    pub frame_straddle: Option<usize>,
}

impl Pickle {
    /// The error that stopped the run, if it did not complete.
    pub fn error(&self) -> Option<&Error> {
        match self.events.last() {
            Some(Event {
                kind: EventKind::Error(e),
                ..
            }) => Some(&**e),
            _ => None,
        }
    }
}

/// The result of analysing a stream of pickles.
#[derive(Debug)]
pub struct Analysis<'a> {
    /// All objects built, shared by the pickles of the stream.
    pub graph: Graph<'a>,
    /// The pickles, in order. Analysis stops after the first that fails.
    pub pickles: Vec<Pickle>,
    /// Offset where analysis ended.
    pub end: usize,
    /// Length of the input.
    pub input_len: usize,
}

impl Analysis<'_> {
    /// The first error, if any pickle failed.
    pub fn error(&self) -> Option<&Error> {
        self.pickles.iter().find_map(|p| p.error())
    }

    /// Bytes after the last analysed pickle that were not analysed.
    pub fn trailing_bytes(&self) -> usize {
        self.input_len - self.end
    }

    /// All events of all pickles, in order.
    pub fn events(&self) -> impl Iterator<Item = &Event> {
        self.pickles.iter().flat_map(|p| p.events.iter())
    }
}

/// Analyse `data` as back-to-back pickles with the default [`EngineConfig`].
pub fn analyze(data: &[u8]) -> Analysis<'_> {
    EngineConfig::default().analyze(data)
}

impl EngineConfig {
    /// Analyse `data` from offset 0.
    pub fn analyze<'a>(&self, data: &'a [u8]) -> Analysis<'a> {
        self.analyze_at(data, 0)
    }

    /// Analyse `data` from offset `start`: pickles back to back until the
    /// input ends, a pickle fails, or `max_pickles` have been read.
    pub fn analyze_at<'a>(&self, data: &'a [u8], start: usize) -> Analysis<'a> {
        self.run(data, start, None)
    }

    /// [`analyze_at`](EngineConfig::analyze_at) for a loader that extends the
    /// unpickler (see [`Host`]).
    pub fn analyze_with<'a>(
        &self,
        data: &'a [u8],
        start: usize,
        host: &mut dyn Host<'a>,
    ) -> Analysis<'a> {
        self.run(data, start, Some(host))
    }

    fn run<'c, 'a>(
        &'c self,
        data: &'a [u8],
        start: usize,
        host: Option<&'c mut dyn Host<'a>>,
    ) -> Analysis<'a> {
        let mut m = Machine::new(self, host, data, start);
        let mut pickles = Vec::new();
        let max = self.max_pickles.unwrap_or(usize::MAX);
        let mut pos = start.min(data.len());
        loop {
            if pickles.len() >= max {
                break;
            }
            if !pickles.is_empty() && pos >= data.len() {
                break;
            }
            if pickles.len() >= self.limits.max_pickles {
                let error = Error {
                    offset: pos,
                    opcode: None,
                    kind: ErrorKind::LimitExceeded {
                        limit: EngineLimit::Pickles,
                        max: self.limits.max_pickles as u64,
                    },
                };
                pickles.push(Pickle {
                    start: pos,
                    end: pos,
                    protocol: None,
                    ops: 0,
                    frame_straddle: None,
                    root: None,
                    events: vec![Event {
                        offset: pos,
                        opcode: None,
                        kind: EventKind::Error(Box::new(error)),
                    }],
                });
                break;
            }
            let p = m.run(pos);
            pos = p.end;
            let failed = p.error().is_some();
            pickles.push(p);
            if failed {
                break;
            }
        }
        Analysis {
            graph: m.graph,
            pickles,
            end: pos,
            input_len: data.len(),
        }
    }
}

/// The memo: dense for the small indices real picklers use, sparse beyond,
/// so a `LONG_BINPUT 4294967295` costs one entry, not 32 GB.
#[derive(Default)]
struct Memo {
    dense: Vec<Option<Value>>,
    sparse: std::collections::HashMap<u64, Value>,
    len: usize,
}

const MAX_DENSE_MEMO: usize = 1 << 20;

impl Memo {
    fn get(&self, idx: i64) -> Option<Value> {
        if idx < 0 {
            return None;
        }
        let idx = idx as u64;
        if (idx as usize) < self.dense.len() {
            self.dense[idx as usize]
        } else {
            self.sparse.get(&idx).copied()
        }
    }

    /// Store; returns the bytes newly allocated.
    fn put(&mut self, idx: u64, v: Value) -> u64 {
        if (idx as usize) < self.dense.len() {
            let slot = &mut self.dense[idx as usize];
            if slot.is_none() {
                self.len += 1;
            }
            *slot = Some(v);
            return 0;
        }
        // Dense while indices grow about as a pickler assigns them.
        let dense_limit = (self.dense.len() * 2).clamp(1024, MAX_DENSE_MEMO);
        if (idx as usize) < dense_limit {
            let before = self.dense.len();
            self.dense.resize(idx as usize + 1, None);
            self.dense[idx as usize] = Some(v);
            self.len += 1;
            return ((idx as usize + 1 - before) * std::mem::size_of::<Option<Value>>()) as u64;
        }
        if self.sparse.insert(idx, v).is_none() {
            self.len += 1;
            return 48;
        }
        0
    }
}

struct Machine<'c, 'a> {
    cfg: &'c EngineConfig,
    host: Option<&'c mut dyn Host<'a>>,
    /// End of the current frame, while a host read is pending inside it.
    frame_end: usize,
    /// Bytes host reads consumed after `frame_end`, still to be skipped.
    file_extra: usize,
    jump_pending: bool,
    /// The first frame crossing of the pickle, from decoders replaced.
    straddle: Option<usize>,
    data: &'a [u8],
    graph: Graph<'a>,
    ext_registry: std::collections::HashMap<i64, (String, String)>,
    ops_total: u64,
    bytes: u64,
    eq_budget: u64,
    work_budget: u64,
    empty_tuple: Option<ObjId>,
    // Per pickle:
    stack: Vec<Value>,
    marks: Vec<usize>,
    memo: Memo,
    proto: u8,
    /// The protocol the last `PROTO` declared, even one refused.
    protocol: Option<u8>,
    events: Vec<Event>,
}

type Step<T = ()> = Result<T, ErrorKind>;

fn raises(msg: impl Into<String>) -> ErrorKind {
    ErrorKind::Raises(msg.into())
}

impl<'c, 'a> Machine<'c, 'a> {
    fn new(
        cfg: &'c EngineConfig,
        host: Option<&'c mut dyn Host<'a>>,
        data: &'a [u8],
        start: usize,
    ) -> Self {
        let len = data.len().saturating_sub(start);
        let work = (len as u64).saturating_mul(64) + 1_000_000;
        let mut graph = Graph::default();
        // Reserve the arenas for the densest real pickles (a torch state
        // dict holds about one object per 12 bytes and one call per 40):
        // untouched reserved pages cost no memory, regrowth would copy.
        let cap = |per_byte: usize, size: usize| {
            (len / per_byte)
                .min(cfg.limits.max_objects)
                .min((256 << 20) / size)
        };
        graph.reserve(
            cap(8, std::mem::size_of::<Object>()),
            cap(8, std::mem::size_of::<Value>()),
            cap(24, std::mem::size_of::<Opaque>()),
        );
        Machine {
            cfg,
            host,
            frame_end: 0,
            file_extra: 0,
            jump_pending: false,
            straddle: None,
            data,
            graph,
            ext_registry: std::collections::HashMap::new(),
            ops_total: 0,
            bytes: 0,
            eq_budget: work,
            work_budget: work,
            empty_tuple: None,
            stack: Vec::new(),
            marks: Vec::new(),
            memo: Memo::default(),
            proto: 0,
            protocol: None,
            events: Vec::new(),
        }
    }

    fn limit(&self, limit: EngineLimit, max: u64) -> ErrorKind {
        ErrorKind::LimitExceeded { limit, max }
    }

    fn charge(&mut self, n: u64) -> Step {
        self.bytes = self.bytes.saturating_add(n);
        if self.bytes > self.cfg.limits.max_bytes {
            return Err(self.limit(EngineLimit::MaterializedBytes, self.cfg.limits.max_bytes));
        }
        Ok(())
    }

    fn new_obj(&mut self, obj: Object<'a>) -> Step<ObjId> {
        if self.graph.len() >= self.cfg.limits.max_objects {
            return Err(self.limit(EngineLimit::Objects, self.cfg.limits.max_objects as u64));
        }
        let owned = match &obj {
            Object::Bytes(b) | Object::Str(b) | Object::ByteArray(b) if b.is_owned() => {
                b.len() as u64
            }
            Object::List(l) => (l.len() * std::mem::size_of::<Value>()) as u64,
            _ => 0,
        };
        self.charge(std::mem::size_of::<Object>() as u64 + owned)?;
        Ok(self.graph.add(obj))
    }

    fn push(&mut self, v: Value) -> Step {
        if self.stack.len() >= self.cfg.limits.max_stack {
            return Err(self.limit(EngineLimit::StackDepth, self.cfg.limits.max_stack as u64));
        }
        self.stack.push(v);
        Ok(())
    }

    /// `Pdata_poptuple(start)`: the items above `start` become a tuple.
    fn tuple_from_stack(&mut self, start: usize) -> Step<ObjId> {
        if start < self.fence() || start > self.stack.len() {
            return Err(self.underflow());
        }
        let n = self.stack.len() - start;
        if n == 0 {
            // Like CPython, every empty tuple is the same object.
            if let Some(id) = self.empty_tuple {
                return Ok(id);
            }
            let items = self.graph.add_items(&[]);
            let id = self.new_obj(Object::Tuple(items))?;
            self.empty_tuple = Some(id);
            return Ok(id);
        }
        self.check_container(n)?;
        self.charge((n * std::mem::size_of::<Value>()) as u64)?;
        if self.graph.items_len() + n > u32::MAX as usize {
            return Err(self.limit(EngineLimit::MaterializedBytes, self.cfg.limits.max_bytes));
        }
        let items = self.graph.add_items(&self.stack[start..]);
        self.stack.truncate(start);
        self.new_obj(Object::Tuple(items))
    }

    fn new_opaque(&mut self, origin: Origin, offset: usize) -> Step<ObjId> {
        if self.graph.len() >= self.cfg.limits.max_objects {
            return Err(self.limit(EngineLimit::Objects, self.cfg.limits.max_objects as u64));
        }
        self.charge((std::mem::size_of::<Object>() + std::mem::size_of::<Opaque>()) as u64)?;
        Ok(self.graph.add_opaque(Opaque::new(origin, offset)))
    }

    fn push_opaque(&mut self, origin: Origin, offset: usize) -> Step<ObjId> {
        let id = self.new_opaque(origin, offset)?;
        self.push(Value::object(id))?;
        Ok(id)
    }

    fn push_obj(&mut self, obj: Object<'a>) -> Step<ObjId> {
        let id = self.new_obj(obj)?;
        self.push(Value::object(id))?;
        Ok(id)
    }

    fn fence(&self) -> usize {
        self.marks.last().copied().unwrap_or(0)
    }

    fn underflow(&self) -> ErrorKind {
        if self.marks.is_empty() {
            ErrorKind::StackUnderflow
        } else {
            ErrorKind::UnexpectedMark
        }
    }

    fn pop(&mut self) -> Step<Value> {
        if self.stack.len() <= self.fence() {
            return Err(self.underflow());
        }
        self.stack.pop().ok_or(ErrorKind::StackUnderflow)
    }

    fn top(&self) -> Step<Value> {
        if self.stack.len() <= self.fence() {
            return Err(self.underflow());
        }
        self.stack.last().copied().ok_or(ErrorKind::StackUnderflow)
    }

    /// `marker()`: pop the topmost mark and return its stack position.
    fn marker(&mut self) -> Step<usize> {
        self.marks.pop().ok_or(ErrorKind::MissingMark)
    }

    /// `Pdata_poptuple(start)`.
    fn pop_items(&mut self, start: usize) -> Step<Vec<Value>> {
        if start < self.fence() || start > self.stack.len() {
            return Err(self.underflow());
        }
        Ok(self.stack.split_off(start))
    }

    fn check_container(&self, n: usize) -> Step {
        if n > self.cfg.limits.max_container {
            return Err(self.limit(
                EngineLimit::ContainerItems,
                self.cfg.limits.max_container as u64,
            ));
        }
        Ok(())
    }

    fn event(&mut self, op: &Op<'a>, kind: EventKind) {
        self.events.push(Event {
            offset: op.offset,
            opcode: Some(op.opcode),
            kind,
        });
    }

    fn int_value(&mut self, i: Int) -> Step<Value> {
        Ok(match i {
            Int::Small(v) => match Value::small_int(v) {
                Some(value) => value,
                None => {
                    Value::object(self.new_obj(Object::Int(Box::new(num_bigint::BigInt::from(v))))?)
                }
            },
            Int::Big(b) => Value::object(self.new_obj(Object::Int(b))?),
        })
    }

    fn hash_error(&self, e: HashError) -> ErrorKind {
        match e {
            HashError::Unhashable(t) => raises(format!("TypeError: unhashable type: '{t}'")),
            HashError::TooDeep => raises("key nested too deeply to analyse"),
            HashError::Budget => self.limit(EngineLimit::KeyComparisons, self.work_budget),
        }
    }

    fn check_budget(&self) -> Step {
        if self.eq_budget == 0 {
            return Err(self.limit(EngineLimit::KeyComparisons, self.work_budget));
        }
        Ok(())
    }

    /// Insert into a literal dict or set object, with Python's key semantics.
    fn table_insert_pairs(&mut self, id: ObjId, pairs: &[(Value, Value)]) -> Step {
        let mut obj = self.graph.take(id);
        let mut result = Ok(());
        if let Object::Dict(d) = &mut obj {
            for &(k, v) in pairs {
                let r = self.graph.table_insert(
                    d,
                    k,
                    (k, v),
                    |e| e.0,
                    |slot, new| slot.1 = new.1,
                    &mut self.eq_budget,
                );
                if let Err(e) = r {
                    result = Err(self.hash_error(e));
                    break;
                }
            }
            if result.is_ok() {
                result = self.check_container(d.len());
            }
        }
        self.graph.put(id, obj);
        self.charge((pairs.len() * 2 * std::mem::size_of::<Value>() + pairs.len() * 12) as u64)?;
        result?;
        self.check_budget()
    }

    fn set_insert(&mut self, set: &mut Table<Value>, items: &[Value]) -> Step {
        for &k in items {
            self.graph
                .table_insert(set, k, k, |e| *e, |_, _| {}, &mut self.eq_budget)
                .map_err(|e| self.hash_error(e))?;
        }
        self.check_container(set.len())?;
        self.charge((items.len() * (std::mem::size_of::<Value>() + 12)) as u64)?;
        self.check_budget()
    }

    fn make_global(
        &mut self,
        module: Cow<'a, str>,
        name: Cow<'a, str>,
        opcode: Opcode,
        offset: usize,
    ) -> Step<ObjId> {
        let mut global = Global {
            module,
            name,
            written: None,
            dotted: self.proto >= 4,
            opcode,
            offset,
            mutations: Vec::new(),
        };
        if self.proto < 3 && self.cfg.fix_imports {
            if let Some((m, n)) = compat::map_2to3(&global.module, &global.name) {
                let written = (global.module.clone(), global.name.clone());
                global.module = Cow::Borrowed(m);
                if let Some(n) = n {
                    global.name = Cow::Borrowed(n);
                }
                global.written = Some(written);
            }
        }
        self.new_obj(Object::Global(Box::new(global)))
    }

    fn str_operand(&self, v: Value) -> Option<Cow<'a, str>> {
        match self.graph.object(v)? {
            Object::Str(Blob::Borrowed(b)) => Some(String::from_utf8_lossy(b)),
            Object::Str(b) => Some(Cow::Owned(String::from_utf8_lossy(b).into_owned())),
            _ => None,
        }
    }

    /// Run one pickle starting at `start`, like `load()` of `_pickle.c`.
    fn run(&mut self, start: usize) -> Pickle {
        let mut decoder = self.begin(start);
        let ops_before = self.ops_total;
        let outcome = loop {
            match self.next_op(&mut decoder) {
                Ok(None) => {}
                Ok(Some(root)) => break Ok(root),
                Err(e) => break Err(e),
            }
        };
        let root = match outcome {
            Ok(root) => Some(root),
            Err(e) => {
                self.events.push(Event {
                    offset: e.offset,
                    opcode: e.opcode,
                    kind: EventKind::Error(Box::new(e)),
                });
                None
            }
        };
        Pickle {
            start,
            end: decoder.position(),
            protocol: self.protocol,
            frame_straddle: self.straddle.or(decoder.straddle()),
            ops: self.ops_total - ops_before,
            root,
            events: std::mem::take(&mut self.events),
        }
    }

    /// Reset the state of one pickle, for a pickle at `start`.
    fn begin(&mut self, start: usize) -> Decoder<'a> {
        self.stack.clear();
        self.marks.clear();
        self.memo = Memo::default();
        self.memo
            .dense
            .reserve((self.data.len().saturating_sub(start) / 16).min(MAX_DENSE_MEMO));
        self.proto = 0;
        self.protocol = None;
        let len = self.data.len().saturating_sub(start);
        self.events =
            Vec::with_capacity((len / 24).min((256 << 20) / std::mem::size_of::<Event>()));
        self.frame_end = 0;
        self.file_extra = 0;
        self.jump_pending = false;
        self.straddle = None;
        self.decoder(self.data, start)
    }

    /// A decoder of `data` from `pos`, reading frames as the loader does.
    fn decoder(&self, data: &'a [u8], pos: usize) -> Decoder<'a> {
        Decoder::new(data, pos).reading_files(self.cfg.file_frames)
    }

    /// Keep a decoder's frame crossing before it is replaced.
    fn keep_straddle(&mut self, decoder: &Decoder<'a>) {
        if self.straddle.is_none() {
            self.straddle = decoder.straddle();
        }
    }

    /// Run the next opcode; after `STOP`, the pickle's result.
    #[inline(always)]
    fn next_op(&mut self, decoder: &mut Decoder<'a>) -> Result<Option<Value>, Error> {
        let offset = Decoder::position(decoder);
        if self.ops_total >= self.cfg.limits.max_ops {
            return Err(Error {
                offset,
                opcode: None,
                kind: self.limit(EngineLimit::Opcodes, self.cfg.limits.max_ops),
            });
        }
        if !self.cfg.general_path_only {
            if let Some((opcode, result)) = self.fast_step(decoder) {
                self.ops_total += 1;
                return match result {
                    Ok(()) => Ok(None),
                    Err(kind) => Err(Error {
                        offset,
                        opcode: Some(opcode),
                        kind,
                    }),
                };
            }
        }
        let op = match decoder.read_op() {
            Ok(op) => op,
            Err(_) if self.jump_pending => return self.leave_frame(decoder, offset),
            Err(e) => return Err(e.into()),
        };
        self.ops_total += 1;
        let at = |kind| Error {
            offset: op.offset,
            opcode: Some(op.opcode),
            kind,
        };
        if op.opcode == Opcode::STOP {
            // `load_stop`.
            return self.pop().map(Some).map_err(at);
        }
        self.step(&op, decoder.remaining()).map_err(at)?;
        if self.host.is_some() {
            self.host_step(&op, decoder).map_err(at)?;
        }
        Ok(None)
    }

    /// No opcode at `offset` while a host read is pending: at the end of the
    /// frame, Python's unpickler goes on reading from the file, after what
    /// the host consumed.
    fn leave_frame(
        &mut self,
        decoder: &mut Decoder<'a>,
        offset: usize,
    ) -> Result<Option<Value>, Error> {
        if offset != self.frame_end {
            return Err(Error {
                offset,
                opcode: None,
                kind: raises("UnpicklingError: pickle exhausted before end of frame"),
            });
        }
        self.keep_straddle(decoder);
        *decoder = self.decoder(self.data, self.frame_end + self.file_extra);
        self.jump_pending = false;
        self.frame_end = 0;
        self.file_extra = 0;
        Ok(None)
    }

    /// The opcodes that make up most of a real pickle (memo traffic, small
    /// ints, marks, small tuples, constants), decoded and run in one dispatch.
    /// Returns `None`, consuming nothing, for any other opcode and whenever
    /// the argument is truncated or the operation would fail in a way `step`
    /// reports differently; `step` then handles it, so the semantics stay
    /// those of the general path.
    #[inline(always)]
    fn fast_step(&mut self, decoder: &mut Decoder<'a>) -> Option<(Opcode, Step)> {
        use Opcode as O;
        let rest = decoder.rest();
        let (opcode, used, result) = match *rest.first()? {
            b'q' => {
                let idx = *rest.get(1)? as u64;
                (O::BINPUT, 2, self.memo_put(idx))
            }
            b'r' => {
                let b = rest.get(1..5)?;
                let idx = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as u64;
                (O::LONG_BINPUT, 5, self.memo_put(idx))
            }
            b'h' => {
                let v = self.memo.get(*rest.get(1)? as i64)?;
                (O::BINGET, 2, self.push(v))
            }
            b'j' => {
                let b = rest.get(1..5)?;
                let v = self
                    .memo
                    .get(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64)?;
                (O::LONG_BINGET, 5, self.push(v))
            }
            b'K' => {
                let v = Value::small_int(*rest.get(1)? as i64)?;
                (O::BININT1, 2, self.push(v))
            }
            b'M' => {
                let b = rest.get(1..3)?;
                let v = Value::small_int(u16::from_le_bytes([b[0], b[1]]) as i64)?;
                (O::BININT2, 3, self.push(v))
            }
            b'J' => {
                let b = rest.get(1..5)?;
                let v = Value::small_int(i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64)?;
                (O::BININT, 5, self.push(v))
            }
            b'N' => (O::NONE, 1, self.push(Value::NONE)),
            b'\x88' => (O::NEWTRUE, 1, self.push(Value::TRUE)),
            b'\x89' => (O::NEWFALSE, 1, self.push(Value::FALSE)),
            b'(' if self.marks.len() < self.cfg.limits.max_marks => {
                self.marks.push(self.stack.len());
                (O::MARK, 1, Ok(()))
            }
            b')' | b'\x85' | b'\x86' | b'\x87' | b't' => {
                let (opcode, result) = self.fast_tuple(rest[0])?;
                (opcode, 1, result)
            }
            _ => return None,
        };
        decoder.advance(used);
        Some((opcode, result))
    }

    /// The tuple opcodes of [`fast_step`](Machine::fast_step), from their
    /// byte.
    #[inline(always)]
    fn fast_tuple(&mut self, byte: u8) -> Option<(Opcode, Step)> {
        use Opcode as O;
        let (opcode, start) = match byte {
            b')' => (O::EMPTY_TUPLE, self.stack.len()),
            b'\x85' => (O::TUPLE1, self.stack.len().checked_sub(1)?),
            b'\x86' => (O::TUPLE2, self.stack.len().checked_sub(2)?),
            b'\x87' => (O::TUPLE3, self.stack.len().checked_sub(3)?),
            _ => (O::TUPLE, *self.marks.last()?),
        };
        if start < self.fence() && opcode != O::TUPLE {
            return None;
        }
        if opcode == O::TUPLE {
            self.marks.pop();
        }
        let result = self
            .tuple_from_stack(start)
            .and_then(|id| self.push(Value::object(id)));
        Some((opcode, result))
    }

    /// With a [`Host`]: follow frames, and let the host act after `BUILD`.
    fn host_step(&mut self, op: &Op<'a>, decoder: &mut Decoder<'a>) -> Step {
        let pos = Decoder::position(decoder);
        match op.arg {
            Arg::FrameLen(n) => self.host_frame(op.offset, n, pos),
            _ if op.opcode == Opcode::BUILD => self.host_after_build(op, decoder, pos),
            _ => Ok(()),
        }
    }

    /// A `FRAME` at `offset` whose body starts at `pos`: where it ends.
    fn host_frame(&mut self, offset: usize, n: u64, pos: usize) -> Step {
        if self.jump_pending && offset < self.frame_end {
            return Err(raises(
                "UnpicklingError: beginning of a new frame before end of current frame",
            ));
        }
        if !self.jump_pending {
            self.frame_end = pos.saturating_add(n as usize);
        }
        Ok(())
    }

    /// After a `BUILD` that ends at `pos`: what the host reads from the file.
    fn host_after_build(&mut self, op: &Op<'a>, decoder: &mut Decoder<'a>, pos: usize) -> Step {
        let Some(host) = self.host.as_deref_mut() else {
            return Ok(());
        };
        // `BUILD` leaves the object on the stack.
        let Some(&built) = self.stack.last() else {
            return Err(ErrorKind::StackUnderflow);
        };
        let file_pos = if self.jump_pending {
            self.frame_end + self.file_extra
        } else if pos < self.frame_end {
            self.frame_end
        } else {
            pos
        };
        let len = match host.after_build(&self.graph, built, self.data, file_pos) {
            AfterBuild::Continue => return Ok(()),
            AfterBuild::Raise(msg) => return Err(raises(msg)),
            AfterBuild::Consume { len } => len,
        };
        let end = file_pos
            .checked_add(len)
            .filter(|&e| e <= self.data.len())
            .ok_or_else(|| {
                raises(format!(
                    "EOFError: the loader reads {len} bytes at byte {file_pos}, past the end of the file"
                ))
            })?;
        let origin = Origin::LoaderData {
            built,
            start: file_pos,
            len,
        };
        let id = self.new_opaque(origin, op.offset)?;
        if let Some(top) = self.stack.last_mut() {
            *top = Value::object(id);
        }
        self.event(op, EventKind::LoaderRead(id));
        self.keep_straddle(decoder);
        if file_pos == pos {
            *decoder = self.decoder(self.data, end);
        } else {
            // Inside a frame: the rest of the frame comes first, then the
            // file after the bytes read.
            self.file_extra = end - self.frame_end;
            self.jump_pending = true;
            *decoder = self.decoder(&self.data[..self.frame_end], pos);
        }
        Ok(())
    }

    /// PUT and its variants: memoize the top of the stack.
    fn memo_put(&mut self, idx: u64) -> Step {
        let v = self.top()?;
        let grown = self.memo.put(idx, v);
        self.charge(grown)?;
        if self.memo.len > self.cfg.limits.max_memo {
            return Err(self.limit(EngineLimit::MemoEntries, self.cfg.limits.max_memo as u64));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::DecodeErrorKind;

    fn run(data: &[u8]) -> Analysis<'_> {
        analyze(data)
    }

    /// A host that, after any `BUILD`, reads as many bytes as the built
    /// object's class name is long (`c__main__\nX\n` reads 1).
    struct SkipHost(Vec<usize>);

    impl<'a> Host<'a> for SkipHost {
        fn after_build(
            &mut self,
            graph: &Graph<'a>,
            built: Value,
            _data: &'a [u8],
            file_pos: usize,
        ) -> AfterBuild {
            self.0.push(file_pos);
            let Some(Origin::Call { callable, .. }) = graph.opaque(built).map(|o| &o.origin) else {
                return AfterBuild::Continue;
            };
            match graph.global(*callable) {
                Some(g) => AfterBuild::Consume { len: g.name.len() },
                None => AfterBuild::Continue,
            }
        }
    }

    fn with_host(data: &[u8]) -> (Analysis<'_>, Vec<usize>) {
        let mut host = SkipHost(Vec::new());
        let a = EngineConfig::default().analyze_with(data, 0, &mut host);
        (a, host.0)
    }

    #[test]
    fn host_reads_after_build_outside_frames() {
        // obj = AB(); BUILD {}; then 2 raw bytes the host reads; then STOP.
        let data = b"\x80\x02c__main__\nAB\n)\x81}b\xff\xfe.";
        let (a, seen) = with_host(data);
        assert!(a.error().is_none(), "{:?}", a.error());
        assert_eq!(seen, [19]);
        let root = a.pickles[0].root.unwrap();
        assert_eq!(
            a.graph.repr(root, 80),
            "<2 bytes read by the loader at byte 19>"
        );
        assert!(
            a.events()
                .any(|e| matches!(e.kind, EventKind::LoaderRead(_)))
        );
        // Without the host the raw bytes are (invalid) opcodes.
        assert!(analyze(data).error().is_some());
    }

    #[test]
    fn host_reads_after_the_frame_like_python() {
        // FRAME of 20 bytes holding the object, its BUILD, and three more
        // opcodes (NONE, POP, NONE) that still come from the frame; the
        // host's two bytes follow the frame; then STOP from the file.
        let body = b"c__main__\nAB\n)\x81}bN0N";
        assert_eq!(body.len(), 20);
        let mut data = b"\x80\x04\x95".to_vec();
        data.extend_from_slice(&(body.len() as u64).to_le_bytes());
        data.extend_from_slice(body);
        data.extend_from_slice(b"\xff\xfe.");
        let (a, seen) = with_host(&data);
        assert!(a.error().is_none(), "{:?}", a.error());
        assert_eq!(seen, [31], "the file position is the end of the frame");
        assert_eq!(a.pickles[0].root, Some(Value::NONE));
        assert_eq!(a.pickles[0].end, data.len());
    }

    #[test]
    fn host_read_past_the_end_is_an_error() {
        let data = b"\x80\x02c__main__\nABCDEFGH\n)\x81}b\xff.";
        let (a, _) = with_host(data);
        assert!(
            matches!(a.error().map(|e| &e.kind), Some(ErrorKind::Raises(m)) if m.starts_with("EOFError"))
        );
    }

    #[test]
    fn dict_roundtrip() {
        let a = run(b"\x80\x02}q\x00(X\x01\x00\x00\x00aq\x01K\x01X\x01\x00\x00\x00bq\x02]q\x03(K\x02K\x03eu.");
        let p = &a.pickles[0];
        assert!(p.error().is_none(), "{:?}", p.error());
        assert_eq!(a.graph.repr(p.root.unwrap(), 100), "{'a': 1, 'b': [2, 3]}");
    }

    #[test]
    fn stack_global_through_memo_and_pop() {
        // 'os' memoized, then a decoy pushed and popped: the operands are
        // still 'os' and 'system'.
        let data =
            b"\x80\x04\x8c\x02os\x94\x8c\x04None\x940h\x00\x8c\x06system\x93\x8c\x02id\x85R.";
        let a = run(data);
        let imports: Vec<String> = a
            .events()
            .filter_map(|e| match e.kind {
                EventKind::Import(id) => match a.graph.get(id) {
                    Object::Global(g) => Some(g.qualified()),
                    _ => None,
                },
                _ => None,
            })
            .collect();
        assert_eq!(imports, ["os.system"]);
        assert!(a.pickles[0].error().is_none());
    }

    #[test]
    fn fix_imports_maps_protocol_2_only() {
        let a = run(b"c__builtin__\neval\n.");
        let g = a.graph.global(a.pickles[0].root.unwrap()).unwrap();
        assert_eq!(g.qualified(), "builtins.eval");
        let a = run(b"\x80\x03c__builtin__\neval\n.");
        let g = a.graph.global(a.pickles[0].root.unwrap()).unwrap();
        assert_eq!(g.qualified(), "__builtin__.eval");
    }

    #[test]
    fn payload_then_garbage_keeps_events() {
        let a = run(b"cos\nsystem\n(S'id'\ntR\xff");
        let p = &a.pickles[0];
        assert!(matches!(
            p.error().unwrap().kind,
            ErrorKind::Decode(DecodeErrorKind::UnknownOpcode(0xff))
        ));
        assert!(
            p.events
                .iter()
                .any(|e| matches!(e.kind, EventKind::Call(_)))
        );
    }

    #[test]
    fn memoize_uses_count_of_entries() {
        // BINPUT 5 then MEMOIZE stores at index 1 (one entry so far).
        let a = run(b"\x80\x04K\x07q\x05K\x08\x94h\x01.");
        assert_eq!(a.pickles[0].root, Value::small_int(8));
    }

    #[test]
    fn underflow_and_marks() {
        assert!(matches!(
            run(b".").pickles[0].error().unwrap().kind,
            ErrorKind::StackUnderflow
        ));
        assert!(matches!(
            run(b"N(.").pickles[0].error().unwrap().kind,
            ErrorKind::UnexpectedMark
        ));
        assert!(matches!(
            run(b"Nt.").pickles[0].error().unwrap().kind,
            ErrorKind::MissingMark
        ));
        // POP removes a mark sitting on top of the stack.
        assert_eq!(run(b"N(0.").pickles[0].root, Some(Value::NONE));
    }

    #[test]
    fn unhashable_key_raises() {
        let a = run(b"}]K\x01s.");
        assert!(
            matches!(&a.pickles[0].error().unwrap().kind, ErrorKind::Raises(m) if m.contains("unhashable"))
        );
    }

    #[test]
    fn equal_keys_merge() {
        let a = run(b"(K\x01U\x01aG?\xf0\x00\x00\x00\x00\x00\x00U\x01bd.");
        assert_eq!(a.graph.repr(a.pickles[0].root.unwrap(), 100), "{1: 'b'}");
    }

    #[test]
    fn extension_resolved_after_add_extension() {
        let data = b"\x80\x02ccopyreg\nadd_extension\n(X\x02\x00\x00\x00osX\x06\x00\x00\x00systemK\x07tR0\x82\x07X\x02\x00\x00\x00id\x85R.";
        let a = run(data);
        assert!(a.pickles[0].error().is_none(), "{:?}", a.pickles[0].error());
        let resolved: Vec<_> = a
            .events()
            .filter_map(|e| match e.kind {
                EventKind::Extension {
                    object,
                    resolved: true,
                    ..
                } => a.graph.global(Value::object(object)).map(|g| g.qualified()),
                _ => None,
            })
            .collect();
        assert_eq!(resolved, ["os.system"]);
    }

    #[test]
    fn several_pickles() {
        let a = run(b"K\x01.K\x02.");
        assert_eq!(a.pickles.len(), 2);
        assert_eq!(a.pickles[1].root, Value::small_int(2));
        assert_eq!(a.trailing_bytes(), 0);
    }
}
