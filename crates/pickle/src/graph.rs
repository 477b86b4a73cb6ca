//! The object graph a symbolic run builds: literal values and containers with
//! their exact contents, globals, and opaque nodes for every object the real
//! unpickler would create by running code (calls, persistent loads, ...).
//!
//! Objects live in an arena and refer to each other by [`ObjId`], so aliasing
//! (memo `GET`, `DUP`) and cycles are represented exactly: appending to a list
//! through one alias is visible through all of them, as in Python.

use std::borrow::Cow;
use std::hash::{BuildHasher, Hash, Hasher};

use airlock_pyvalue::{
    Number, bytearray_repr_cut, bytes_repr_cut, float_repr, int_repr, str_repr_cut,
};
use num_bigint::BigInt;

use crate::opcode::Opcode;

/// Index of an object in a [`Graph`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjId(pub(crate) u32);

impl ObjId {
    /// The index as a number (stable within one analysis).
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// A value on the stack, in the memo or in a container: `None`, a bool or an
/// int of up to 62 bits inline, anything else (floats included) a reference
/// to an [`Object`] in the graph. Packed into 8 bytes, since real pickles
/// hold millions of them; use [`Value::kind`] to inspect one.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Value(std::num::NonZeroU64);

/// A [`Value`] unpacked for matching.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValueKind {
    /// `None`.
    None,
    /// `True` or `False`.
    Bool(bool),
    /// An `int` of up to 62 bits (larger ones are [`Object::Int`]).
    Int(i64),
    /// Any other object.
    Ref(ObjId),
}

// The two low bits are a tag, never both zero, so `Option<Value>` is 8
// bytes too.
const TAG_MASK: u64 = 0b11;
const TAG_REF: u64 = 0b11;
const TAG_INT: u64 = 0b01;
const TAG_CONST: u64 = 0b10;

const fn packed(bits: u64) -> Value {
    match std::num::NonZeroU64::new(bits) {
        Some(v) => Value(v),
        None => panic!("tag bits are never zero"),
    }
}

impl Value {
    /// `None`.
    pub const NONE: Value = packed(TAG_CONST);
    /// `False`.
    pub const FALSE: Value = packed(TAG_CONST | 1 << 2);
    /// `True`.
    pub const TRUE: Value = packed(TAG_CONST | 2 << 2);
    /// Smallest int stored inline.
    pub const MIN_INLINE_INT: i64 = -(1 << 61);
    /// Largest int stored inline.
    pub const MAX_INLINE_INT: i64 = (1 << 61) - 1;

    /// A bool.
    pub const fn bool(b: bool) -> Value {
        if b { Value::TRUE } else { Value::FALSE }
    }

    /// An inline int, when `i` fits in 62 bits.
    pub const fn small_int(i: i64) -> Option<Value> {
        if i >= Value::MIN_INLINE_INT && i <= Value::MAX_INLINE_INT {
            Some(packed(((i << 2) as u64) | TAG_INT))
        } else {
            None
        }
    }

    /// A reference to an object.
    pub const fn object(id: ObjId) -> Value {
        packed(((id.0 as u64) << 2) | TAG_REF)
    }

    /// The value unpacked.
    #[inline]
    pub const fn kind(self) -> ValueKind {
        let bits = self.0.get();
        match bits & TAG_MASK {
            TAG_REF => ValueKind::Ref(ObjId((bits >> 2) as u32)),
            TAG_INT => ValueKind::Int((bits as i64) >> 2),
            _ => match bits >> 2 {
                0 => ValueKind::None,
                1 => ValueKind::Bool(false),
                _ => ValueKind::Bool(true),
            },
        }
    }

    /// The referenced object id, if this is not an inline scalar.
    #[inline]
    pub const fn obj(self) -> Option<ObjId> {
        match self.kind() {
            ValueKind::Ref(id) => Some(id),
            _ => None,
        }
    }

    /// The inline int, if this is one (see also [`Graph::int`]).
    pub const fn as_small_int(self) -> Option<i64> {
        match self.kind() {
            ValueKind::Int(i) => Some(i),
            _ => None,
        }
    }
}

impl From<ObjId> for Value {
    fn from(id: ObjId) -> Value {
        Value::object(id)
    }
}

impl std::fmt::Debug for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.kind() {
            ValueKind::None => f.write_str("None"),
            ValueKind::Bool(b) => write!(f, "{}", if b { "True" } else { "False" }),
            ValueKind::Int(i) => write!(f, "{i}"),
            ValueKind::Ref(id) => write!(f, "#{}", id.0),
        }
    }
}

/// A global as the unpickler's `find_class` receives it.
#[derive(Debug, Clone, PartialEq)]
pub struct Global<'a> {
    /// The module that gets imported (after the `fix_imports` mapping).
    pub module: Cow<'a, str>,
    /// The attribute looked up on it (after the `fix_imports` mapping).
    pub name: Cow<'a, str>,
    /// The module and name as written in the pickle, when `fix_imports`
    /// mapped them to other names.
    pub written: Option<(Cow<'a, str>, Cow<'a, str>)>,
    /// Whether `name` is resolved as a dotted attribute path (protocol 4 and
    /// later: `a.b` means `getattr(getattr(module, 'a'), 'b')`).
    pub dotted: bool,
    /// The opcode that produced it (`GLOBAL`, `STACK_GLOBAL`, `INST`, `EXT*`).
    pub opcode: Opcode,
    /// Byte offset of that opcode.
    pub offset: usize,
    /// Mutations applied to the global object (`BUILD` on a class or module
    /// sets attributes on it).
    pub mutations: Vec<Mutation>,
}

impl Global<'_> {
    /// `module.name`.
    pub fn qualified(&self) -> String {
        format!("{}.{}", self.module, self.name)
    }
}

/// How an opaque object came to exist.
#[derive(Debug, Clone, PartialEq)]
pub enum Origin {
    /// The result of calling something.
    Call {
        /// Which opcode called.
        kind: CallKind,
        /// The callable or class.
        callable: Value,
        /// The positional arguments (normally a tuple).
        args: Value,
        /// Keyword arguments (`NEWOBJ_EX` only).
        kwargs: Option<Value>,
    },
    /// The result of the loader's `persistent_load(pid)`.
    Persistent {
        /// The persistent id.
        pid: Value,
    },
    /// A `STACK_GLOBAL` whose operands are not known strings at analysis
    /// time: the unpickler imports whatever they turn out to be.
    DynamicGlobal {
        /// The module operand.
        module: Value,
        /// The name operand.
        name: Value,
    },
    /// An `EXT*` code not registered by anything the analysis saw.
    Extension {
        /// The code.
        code: i64,
    },
    /// An out-of-band buffer (`NEXT_BUFFER`).
    Buffer,
    /// What a loader extension made of bytes it read from the file after a
    /// `BUILD` (see [`Host`](crate::Host)).
    LoaderData {
        /// The object whose `BUILD` triggered the read.
        built: Value,
        /// Offset of the bytes read.
        start: usize,
        /// How many.
        len: usize,
    },
}

/// Which opcode made a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallKind {
    /// `REDUCE`: `callable(*args)`.
    Reduce,
    /// `NEWOBJ`: `cls.__new__(cls, *args)`.
    NewObj,
    /// `NEWOBJ_EX`: `cls.__new__(cls, *args, **kwargs)`.
    NewObjEx,
    /// `OBJ`: `cls(*args)` (or `cls.__new__(cls)` without arguments).
    Obj,
    /// `INST`: like `OBJ`, with the class named inline.
    Inst,
}

impl CallKind {
    /// The opcode for this kind of call.
    pub fn opcode(self) -> Opcode {
        match self {
            CallKind::Reduce => Opcode::REDUCE,
            CallKind::NewObj => Opcode::NEWOBJ,
            CallKind::NewObjEx => Opcode::NEWOBJ_EX,
            CallKind::Obj => Opcode::OBJ,
            CallKind::Inst => Opcode::INST,
        }
    }
}

/// A change the unpickler applies to an existing object by calling its
/// methods. On opaque objects and globals these run the object's own code.
#[derive(Debug, Clone, PartialEq)]
pub enum Mutation {
    /// `BUILD`: `obj.__setstate__(state)`, or the default: update
    /// `obj.__dict__` and set slot attributes.
    SetState {
        /// The state.
        state: Value,
        /// Offset of the `BUILD`.
        offset: usize,
    },
    /// `APPEND`/`APPENDS`: `obj.extend(items)` (or `obj.append` per item).
    Extend {
        /// The items.
        items: Box<[Value]>,
        /// Offset of the opcode.
        offset: usize,
    },
    /// `SETITEM`/`SETITEMS`: `obj[key] = value` per pair.
    SetItems {
        /// The key/value pairs.
        items: Box<[(Value, Value)]>,
        /// Offset of the opcode.
        offset: usize,
    },
    /// `ADDITEMS`: `obj.add(item)` per item.
    Add {
        /// The items.
        items: Box<[Value]>,
        /// Offset of the opcode.
        offset: usize,
    },
}

/// An object the real unpickler would create by running code or a hook.
#[derive(Debug, Clone, PartialEq)]
pub struct Opaque {
    /// How it was created.
    pub origin: Origin,
    /// Offset of the creating opcode.
    pub offset: usize,
    /// What was done to it afterwards, in order (boxed: most objects have
    /// none, and opaque nodes are numerous, so 8 bytes beat a 24-byte `Vec`).
    #[allow(clippy::box_collection)]
    pub(crate) mutations: Option<Box<Vec<Mutation>>>,
}

impl Opaque {
    pub(crate) fn new(origin: Origin, offset: usize) -> Self {
        Opaque {
            origin,
            offset,
            mutations: None,
        }
    }

    /// What was done to the object after it was created, in order.
    pub fn mutations(&self) -> &[Mutation] {
        self.mutations.as_deref().map_or(&[], |v| v.as_slice())
    }

    pub(crate) fn push_mutation(&mut self, m: Mutation) {
        self.mutations.get_or_insert_with(Default::default).push(m);
    }

    /// The states applied by `BUILD`, in order.
    pub fn states(&self) -> impl Iterator<Item = Value> + '_ {
        self.mutations().iter().filter_map(|m| match m {
            Mutation::SetState { state, .. } => Some(*state),
            _ => None,
        })
    }

    /// The key/value pairs set by `SETITEM(S)`, in order.
    pub fn set_items(&self) -> impl Iterator<Item = (Value, Value)> + '_ {
        self.mutations()
            .iter()
            .filter_map(|m| match m {
                Mutation::SetItems { items, .. } => Some(items.iter().copied()),
                _ => None,
            })
            .flatten()
    }

    /// The items added by `APPEND(S)`, in order.
    pub fn appended(&self) -> impl Iterator<Item = Value> + '_ {
        self.mutations()
            .iter()
            .filter_map(|m| match m {
                Mutation::Extend { items, .. } => Some(items.iter().copied()),
                _ => None,
            })
            .flatten()
    }
}

/// A dict or set: entries in insertion order, deduplicated with Python's
/// equality for hashable literals.
#[derive(Debug, Clone)]
pub struct Table<E> {
    entries: Vec<E>,
    hashes: Vec<u64>,
    index: Option<hashbrown::HashTable<u32>>,
}

impl<E> Default for Table<E> {
    fn default() -> Self {
        Table {
            entries: Vec::new(),
            hashes: Vec::new(),
            index: None,
        }
    }
}

impl<E: PartialEq> PartialEq for Table<E> {
    fn eq(&self, other: &Self) -> bool {
        self.entries == other.entries
    }
}

impl<E> Table<E> {
    /// The entries in insertion order.
    pub fn entries(&self) -> &[E] {
        &self.entries
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// A dict: `(key, value)` pairs in insertion order.
pub type Dict = Table<(Value, Value)>;
/// A set or frozenset: items in insertion order.
pub type Set = Table<Value>;

/// The items of a tuple, stored in the graph's shared item pool
/// (see [`Graph::items`]): tuples are immutable, so they need no allocation
/// of their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Items {
    start: u32,
    len: u32,
}

impl Items {
    /// Number of items.
    pub fn len(self) -> usize {
        self.len as usize
    }

    /// Whether there are none.
    pub fn is_empty(self) -> bool {
        self.len == 0
    }
}

/// The bytes of a `str`, `bytes` or `bytearray` object: borrowed from the
/// input (the common case, no copy) or owned (decoded escapes, mutations).
/// 16 bytes, so that [`Object`] stays at 24.
#[derive(Clone, PartialEq, Eq)]
pub enum Blob<'a> {
    /// A slice of the input.
    Borrowed(&'a [u8]),
    /// Bytes the analysis produced (boxed to keep `Blob` at 16 bytes).
    #[allow(clippy::box_collection)]
    Owned(Box<Vec<u8>>),
}

impl<'a> Blob<'a> {
    /// Whether the bytes were copied out of the input.
    pub fn is_owned(&self) -> bool {
        matches!(self, Blob::Owned(_))
    }

    pub(crate) fn to_mut(&mut self) -> &mut Vec<u8> {
        if let Blob::Borrowed(b) = *self {
            *self = Blob::Owned(Box::new(b.to_vec()));
        }
        match self {
            Blob::Owned(v) => v,
            Blob::Borrowed(_) => unreachable!("just made owned"),
        }
    }
}

impl std::ops::Deref for Blob<'_> {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Blob::Borrowed(b) => b,
            Blob::Owned(v) => v,
        }
    }
}

impl<'a> From<Cow<'a, [u8]>> for Blob<'a> {
    fn from(c: Cow<'a, [u8]>) -> Self {
        match c {
            Cow::Borrowed(b) => Blob::Borrowed(b),
            Cow::Owned(v) => Blob::Owned(Box::new(v)),
        }
    }
}

impl std::fmt::Debug for Blob<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self))
    }
}

/// Index of an [`Opaque`] in its graph (see [`Graph::opaque_at`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OpaqueId(u32);

/// An object in the graph. Large, rare variants are boxed and opaque nodes
/// live in a side table, so the arena stays compact (24 bytes per object).
#[derive(Debug, Clone, PartialEq)]
pub enum Object<'a> {
    /// A `float`.
    Float(f64),
    /// An `int` beyond the 62 bits stored inline in a [`Value`].
    Int(Box<BigInt>),
    /// `bytes`.
    Bytes(Blob<'a>),
    /// `bytearray`.
    ByteArray(Blob<'a>),
    /// `str`, as UTF-8 in which surrogate code points may appear (what
    /// `s.encode('utf-8', 'surrogatepass')` gives). Use [`Graph::str`].
    Str(Blob<'a>),
    /// `tuple`: its items are [`Graph::items`] of this.
    Tuple(Items),
    /// `list` (boxed to keep `Object` at 24 bytes).
    #[allow(clippy::box_collection)]
    List(Box<Vec<Value>>),
    /// `dict`.
    Dict(Box<Dict>),
    /// `set`.
    Set(Box<Set>),
    /// `frozenset`.
    FrozenSet(Box<Set>),
    /// A global imported by `find_class`.
    Global(Box<Global<'a>>),
    /// An object created by running code or a loader hook: see
    /// [`Graph::opaque_at`].
    Opaque(OpaqueId),
    /// A read-only `memoryview` over another object (`READONLY_BUFFER`).
    MemoryView(Value),
    /// Placeholder while an object is being updated in place.
    Vacant,
}

impl Object<'_> {
    /// The Python type name, for messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Object::Float(_) => "float",
            Object::Int(_) => "int",
            Object::Bytes(_) => "bytes",
            Object::ByteArray(_) => "bytearray",
            Object::Str(_) => "str",
            Object::Tuple(_) => "tuple",
            Object::List(_) => "list",
            Object::Dict(_) => "dict",
            Object::Set(_) => "set",
            Object::FrozenSet(_) => "frozenset",
            Object::Global(_) => "global",
            Object::Opaque(_) => "object",
            Object::MemoryView(_) => "memoryview",
            Object::Vacant => "object",
        }
    }

    /// Whether the object is plain data built by the unpickler itself (no
    /// code of any class runs when the unpickler mutates it).
    pub fn is_literal(&self) -> bool {
        !matches!(self, Object::Global(_) | Object::Opaque(_) | Object::Vacant)
    }
}

/// The arena of objects built while analysing a stream.
#[derive(Debug, Default)]
pub struct Graph<'a> {
    objects: Vec<Object<'a>>,
    items: Vec<Value>,
    opaques: Vec<Opaque>,
    hasher: foldhash::fast::RandomState,
    hash_cache: std::collections::HashMap<u32, Result<u64, &'static str>>,
}

/// Why a value cannot be a dict key or set member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HashError {
    /// `TypeError: unhashable type`.
    Unhashable(&'static str),
    /// Nested deeper than the analysis follows.
    TooDeep,
    /// The work budget for key comparisons is spent.
    Budget,
}

/// Deepest nesting of tuples/frozensets followed when hashing or comparing keys.
const MAX_KEY_DEPTH: usize = 256;

impl<'a> Graph<'a> {
    /// Number of objects.
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    /// Whether the graph is empty.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// The object with this id.
    pub fn get(&self, id: ObjId) -> &Object<'a> {
        &self.objects[id.index()]
    }

    pub(crate) fn get_mut(&mut self, id: ObjId) -> &mut Object<'a> {
        &mut self.objects[id.index()]
    }

    pub(crate) fn take(&mut self, id: ObjId) -> Object<'a> {
        std::mem::replace(&mut self.objects[id.index()], Object::Vacant)
    }

    pub(crate) fn put(&mut self, id: ObjId, obj: Object<'a>) {
        self.objects[id.index()] = obj;
    }

    pub(crate) fn add(&mut self, obj: Object<'a>) -> ObjId {
        let id = ObjId(self.objects.len() as u32);
        self.objects.push(obj);
        id
    }

    pub(crate) fn reserve(&mut self, objects: usize, items: usize, opaques: usize) {
        self.objects.reserve(objects);
        self.items.reserve(items);
        self.opaques.reserve(opaques);
    }

    /// Store tuple items in the pool.
    pub(crate) fn add_items(&mut self, items: &[Value]) -> Items {
        let start = self.items.len() as u32;
        self.items.extend_from_slice(items);
        Items {
            start,
            len: items.len() as u32,
        }
    }

    /// Items stored so far in the tuple pool.
    pub(crate) fn items_len(&self) -> usize {
        self.items.len()
    }

    /// The items of a tuple.
    pub fn items(&self, items: Items) -> &[Value] {
        &self.items[items.start as usize..(items.start + items.len) as usize]
    }

    pub(crate) fn add_opaque(&mut self, opaque: Opaque) -> ObjId {
        let oid = OpaqueId(self.opaques.len() as u32);
        self.opaques.push(opaque);
        self.add(Object::Opaque(oid))
    }

    /// The opaque node with this id.
    pub fn opaque_at(&self, id: OpaqueId) -> &Opaque {
        &self.opaques[id.0 as usize]
    }

    pub(crate) fn opaque_at_mut(&mut self, id: OpaqueId) -> &mut Opaque {
        &mut self.opaques[id.0 as usize]
    }

    /// All objects with their ids.
    pub fn iter(&self) -> impl Iterator<Item = (ObjId, &Object<'a>)> {
        self.objects
            .iter()
            .enumerate()
            .map(|(i, o)| (ObjId(i as u32), o))
    }

    /// The object a value refers to, if it is not an inline scalar.
    pub fn object(&self, v: Value) -> Option<&Object<'a>> {
        v.obj().map(|id| self.get(id))
    }

    /// The value as a `str` (lossy for lone surrogates), if it is one.
    pub fn str(&self, v: Value) -> Option<Cow<'_, str>> {
        match self.object(v)? {
            Object::Str(s) => Some(String::from_utf8_lossy(s)),
            _ => None,
        }
    }

    /// The value as a tuple, if it is one.
    pub fn tuple(&self, v: Value) -> Option<&[Value]> {
        match self.object(v)? {
            Object::Tuple(t) => Some(self.items(*t)),
            _ => None,
        }
    }

    /// The value as a global, if it is one.
    pub fn global(&self, v: Value) -> Option<&Global<'a>> {
        match self.object(v)? {
            Object::Global(g) => Some(g),
            _ => None,
        }
    }

    /// The value as an opaque object, if it is one.
    pub fn opaque(&self, v: Value) -> Option<&Opaque> {
        match self.object(v)? {
            Object::Opaque(o) => Some(self.opaque_at(*o)),
            _ => None,
        }
    }

    /// Python type name of a value, for messages.
    pub fn type_name(&self, v: Value) -> &'static str {
        match v.kind() {
            ValueKind::None => "NoneType",
            ValueKind::Bool(_) => "bool",
            ValueKind::Int(_) => "int",
            ValueKind::Ref(id) => self.get(id).type_name(),
        }
    }

    /// Whether the value is plain data built by the unpickler itself.
    pub fn is_literal(&self, v: Value) -> bool {
        match v.kind() {
            ValueKind::Ref(id) => self.get(id).is_literal(),
            _ => true,
        }
    }

    /// The value as an `int` that fits in 64 bits (bools count, as in Python).
    pub fn int(&self, v: Value) -> Option<i64> {
        match v.kind() {
            ValueKind::Int(i) => Some(i),
            ValueKind::Bool(b) => Some(b as i64),
            ValueKind::Ref(id) => match self.get(id) {
                Object::Int(b) => num_traits::ToPrimitive::to_i64(&**b),
                _ => None,
            },
            ValueKind::None => None,
        }
    }

    /// The value as a `float`, if it is one.
    pub fn float(&self, v: Value) -> Option<f64> {
        match self.object(v)? {
            Object::Float(f) => Some(*f),
            _ => None,
        }
    }

    /// Python's `hash()` class of a key: equal keys hash equally. Errors for
    /// unhashable values (the unpickler would raise `TypeError`).
    pub(crate) fn key_hash(&mut self, v: Value) -> Result<u64, HashError> {
        self.key_hash_depth(v, 0)
    }

    /// The hash of a number: numbers equal across types hash equally.
    fn number_hash(&self, n: Number<'_>) -> u64 {
        let mut h = self.hasher.build_hasher();
        h.write_u8(1);
        n.key().hash(&mut h);
        h.finish()
    }

    fn key_hash_depth(&mut self, v: Value, depth: usize) -> Result<u64, HashError> {
        if depth > MAX_KEY_DEPTH {
            return Err(HashError::TooDeep);
        }
        let id = match v.kind() {
            ValueKind::None => {
                let mut h = self.hasher.build_hasher();
                h.write_u8(0);
                return Ok(h.finish());
            }
            ValueKind::Bool(b) => return Ok(self.number_hash(Number::Int(b as i64))),
            ValueKind::Int(i) => return Ok(self.number_hash(Number::Int(i))),
            ValueKind::Ref(id) => id,
        };
        // Tuple and frozenset hashes are cached: they cost their size, and a
        // pickle can reuse one key many times through the memo.
        let composite = matches!(self.get(id), Object::Tuple(_));
        if composite {
            if let Some(cached) = self.hash_cache.get(&id.0) {
                return cached.map_err(HashError::Unhashable);
            }
        }
        let result = match self.get(id) {
            Object::Float(f) => Ok(self.number_hash(Number::Float(*f))),
            Object::Int(b) => Ok(self.number_hash(Number::Big(b))),
            Object::Str(s) | Object::Bytes(s) => {
                let mut h = self.hasher.build_hasher();
                h.write_u8(if matches!(self.get(id), Object::Str(_)) {
                    4
                } else {
                    5
                });
                h.write(s);
                Ok(h.finish())
            }
            Object::Tuple(items) => {
                let items = self.items(*items).to_vec();
                let mut acc = self.hasher.build_hasher();
                acc.write_u8(6);
                acc.write_usize(items.len());
                let mut r = Ok(());
                for item in items.iter() {
                    match self.key_hash_depth(*item, depth + 1) {
                        Ok(h) => acc.write_u64(h),
                        Err(e) => {
                            r = Err(e);
                            break;
                        }
                    }
                }
                r.map(|()| acc.finish())
            }
            Object::FrozenSet(set) => {
                // Order-independent: the members are already deduplicated.
                Ok(set
                    .hashes
                    .iter()
                    .fold(0x9e37_79b9_7f4a_7c15u64 ^ set.len() as u64, |a, h| {
                        a.wrapping_add(h.wrapping_mul(0x2545_f491_4f6c_dd1d))
                    }))
            }
            Object::Global(g) => {
                let mut h = self.hasher.build_hasher();
                h.write_u8(8);
                h.write(g.module.as_bytes());
                h.write_u8(0);
                h.write(g.name.as_bytes());
                Ok(h.finish())
            }
            Object::MemoryView(inner) => match self.object(*inner) {
                Some(Object::Bytes(_)) => {
                    let inner = *inner;
                    self.key_hash_depth(inner, depth + 1)
                }
                _ => Err(HashError::Unhashable("memoryview")),
            },
            Object::Opaque(_) | Object::Vacant => {
                let mut h = self.hasher.build_hasher();
                h.write_u8(9);
                h.write_u32(id.0);
                Ok(h.finish())
            }
            Object::List(_) => Err(HashError::Unhashable("list")),
            Object::Dict(_) => Err(HashError::Unhashable("dict")),
            Object::Set(_) => Err(HashError::Unhashable("set")),
            Object::ByteArray(_) => Err(HashError::Unhashable("bytearray")),
        };
        if composite {
            match &result {
                Ok(h) => {
                    self.hash_cache.insert(id.0, Ok(*h));
                }
                Err(HashError::Unhashable(t)) => {
                    self.hash_cache.insert(id.0, Err(t));
                }
                Err(HashError::TooDeep | HashError::Budget) => {}
            }
        }
        result
    }

    /// Python `==` between two hashable keys. `budget` bounds the work spent
    /// on deep comparisons so analysis time stays linear in the input.
    pub(crate) fn key_eq(&self, a: Value, b: Value, budget: &mut u64, depth: usize) -> bool {
        *budget = budget.saturating_sub(1);
        if *budget == 0 || depth > MAX_KEY_DEPTH {
            return false;
        }
        match (self.numeric(a), self.numeric(b)) {
            (Some(x), Some(y)) => return x.py_eq(&y),
            (Some(_), None) | (None, Some(_)) => return false,
            (None, None) => {}
        }
        match (a.kind(), b.kind()) {
            (ValueKind::None, ValueKind::None) => true,
            (ValueKind::Ref(x), ValueKind::Ref(y)) => {
                if x == y {
                    return true;
                }
                match (self.get(x), self.get(y)) {
                    (Object::Str(p), Object::Str(q)) | (Object::Bytes(p), Object::Bytes(q)) => {
                        *budget = budget.saturating_sub(p.len() as u64 / 64);
                        p == q
                    }
                    (Object::Tuple(p), Object::Tuple(q)) => {
                        p.len() == q.len()
                            && self
                                .items(*p)
                                .iter()
                                .zip(self.items(*q).iter())
                                .all(|(u, v)| self.key_eq(*u, *v, budget, depth + 1))
                    }
                    (Object::FrozenSet(p), Object::FrozenSet(q)) => {
                        p.len() == q.len()
                            && p.entries.iter().all(|u| {
                                q.entries
                                    .iter()
                                    .any(|v| self.key_eq(*u, *v, budget, depth + 1))
                            })
                    }
                    (Object::Global(p), Object::Global(q)) => {
                        p.module == q.module && p.name == q.name
                    }
                    _ => false,
                }
            }
            _ => false,
        }
    }

    fn numeric(&self, v: Value) -> Option<Number<'_>> {
        match v.kind() {
            ValueKind::Bool(b) => Some(Number::Int(b as i64)),
            ValueKind::Int(i) => Some(Number::Int(i)),
            ValueKind::Ref(id) => match self.get(id) {
                Object::Float(f) => Some(Number::Float(*f)),
                Object::Int(b) => Some(Number::Big(b)),
                _ => None,
            },
            ValueKind::None => None,
        }
    }

    /// Insert `key` into a table, replacing an equal key's entry (dict
    /// semantics: the first key object is kept, the value replaced).
    pub(crate) fn table_insert<E>(
        &mut self,
        table: &mut Table<E>,
        key: Value,
        entry: E,
        key_of: impl Fn(&E) -> Value,
        replace: impl FnOnce(&mut E, E),
        budget: &mut u64,
    ) -> Result<(), HashError> {
        let h = self.key_hash(key)?;
        let found = match &table.index {
            None => table
                .entries
                .iter()
                .zip(table.hashes.iter())
                .position(|(e, &eh)| eh == h && self.key_eq(key_of(e), key, budget, 0)),
            Some(index) => index
                .find(h, |&i| {
                    self.key_eq(key_of(&table.entries[i as usize]), key, budget, 0)
                })
                .map(|&i| i as usize),
        };
        if *budget == 0 {
            return Err(HashError::Budget);
        }
        if let Some(i) = found {
            replace(&mut table.entries[i], entry);
            return Ok(());
        }
        let i = table.entries.len() as u32;
        table.entries.push(entry);
        table.hashes.push(h);
        match &mut table.index {
            Some(index) => {
                let hashes = &table.hashes;
                index.insert_unique(h, i, |&j| hashes[j as usize]);
            }
            None if table.entries.len() > 8 => {
                let mut index = hashbrown::HashTable::with_capacity(table.entries.len() * 2);
                for (j, &eh) in table.hashes.iter().enumerate() {
                    let hashes = &table.hashes;
                    index.insert_unique(eh, j as u32, |&k| hashes[k as usize]);
                }
                table.index = Some(index);
            }
            None => {}
        }
        Ok(())
    }

    /// A Python-like `repr` of a value, cut at about `max_len` characters.
    pub fn repr(&self, v: Value, max_len: usize) -> String {
        let mut out = String::new();
        self.repr_into(v, &mut out, max_len, 0);
        if out.len() > max_len {
            let mut cut = max_len;
            while !out.is_char_boundary(cut) {
                cut -= 1;
            }
            out.truncate(cut);
            out.push('…');
        }
        out
    }

    fn repr_into(&self, v: Value, out: &mut String, max_len: usize, depth: usize) {
        use std::fmt::Write;
        if out.len() > max_len {
            return;
        }
        if depth > 16 {
            out.push_str("...");
            return;
        }
        let seq =
            |out: &mut String, open: &str, close: &str, items: &mut dyn Iterator<Item = Value>| {
                out.push_str(open);
                let mut n = 0;
                for item in items {
                    if n > 0 {
                        out.push_str(", ");
                    }
                    if out.len() > max_len {
                        out.push_str("...");
                        break;
                    }
                    self.repr_into(item, out, max_len, depth + 1);
                    n += 1;
                }
                if open == "(" && n == 1 {
                    out.push(',');
                }
                out.push_str(close);
            };
        match v.kind() {
            ValueKind::None => out.push_str("None"),
            ValueKind::Bool(b) => out.push_str(if b { "True" } else { "False" }),
            ValueKind::Int(i) => {
                let _ = write!(out, "{i}");
            }
            ValueKind::Ref(id) => match self.get(id) {
                Object::Float(f) => out.push_str(&float_repr(*f)),
                Object::Int(b) => out.push_str(&int_repr(b)),
                Object::Str(s) => {
                    let s = String::from_utf8_lossy(s);
                    out.push_str(&str_repr_cut(&s, max_len.saturating_sub(out.len()) + 1));
                }
                Object::Bytes(b) => out.push_str(&bytes_repr_cut(b, max_len + 1)),
                Object::ByteArray(b) => out.push_str(&bytearray_repr_cut(b, max_len + 1)),
                Object::Tuple(items) => seq(out, "(", ")", &mut self.items(*items).iter().copied()),
                Object::List(items) => seq(out, "[", "]", &mut items.iter().copied()),
                Object::Set(s) => seq(out, "{", "}", &mut s.entries().iter().copied()),
                Object::FrozenSet(s) => {
                    seq(out, "frozenset({", "})", &mut s.entries().iter().copied())
                }
                Object::Dict(d) => {
                    out.push('{');
                    for (n, (k, val)) in d.entries().iter().enumerate() {
                        if n > 0 {
                            out.push_str(", ");
                        }
                        if out.len() > max_len {
                            out.push_str("...");
                            break;
                        }
                        self.repr_into(*k, out, max_len, depth + 1);
                        out.push_str(": ");
                        self.repr_into(*val, out, max_len, depth + 1);
                    }
                    out.push('}');
                }
                Object::Global(g) => out.push_str(&g.qualified()),
                Object::Opaque(o) => match &self.opaque_at(*o).origin {
                    Origin::Call { callable, args, .. } => {
                        self.repr_into(*callable, out, max_len, depth + 1);
                        match self.tuple(*args) {
                            Some(items) => {
                                out.push('(');
                                for (n, item) in items.iter().enumerate() {
                                    if n > 0 {
                                        out.push_str(", ");
                                    }
                                    self.repr_into(*item, out, max_len, depth + 1);
                                }
                                out.push(')');
                            }
                            None => {
                                out.push_str("(*");
                                self.repr_into(*args, out, max_len, depth + 1);
                                out.push(')');
                            }
                        }
                    }
                    Origin::Persistent { pid } => {
                        out.push_str("persistent_load(");
                        self.repr_into(*pid, out, max_len, depth + 1);
                        out.push(')');
                    }
                    Origin::DynamicGlobal { module, name } => {
                        out.push_str("find_class(");
                        self.repr_into(*module, out, max_len, depth + 1);
                        out.push_str(", ");
                        self.repr_into(*name, out, max_len, depth + 1);
                        out.push(')');
                    }
                    Origin::Extension { code } => {
                        let _ = write!(out, "<extension {code}>");
                    }
                    Origin::Buffer => out.push_str("<out-of-band buffer>"),
                    Origin::LoaderData { start, len, .. } => {
                        out.push_str(&format!("<{len} bytes read by the loader at byte {start}>"))
                    }
                },
                Object::MemoryView(inner) => {
                    out.push_str("memoryview(");
                    self.repr_into(*inner, out, max_len, depth + 1);
                    out.push(')');
                }
                Object::Vacant => out.push_str("<object>"),
            },
        }
    }
}
