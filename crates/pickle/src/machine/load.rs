//! The opcode handlers: one function per opcode, or per family of opcodes
//! that differ only in how their argument is encoded, each named after the
//! `load_*` function of CPython's `_pickle.c` (and of `Unpickler` in
//! `Lib/pickle.py`) it follows decision by decision.
//!
//! [`Machine::step`] dispatches on the decoded argument, whose kind the
//! decoder fixes per opcode ([`Arg`]): each handler receives its operand
//! already typed. The opcodes without an argument are dispatched by opcode
//! in [`Machine::step_no_arg`], like the switch of `load()` in `_pickle.c`.
//!
//! | Family | Opcodes | Handlers (`_pickle.c`) |
//! |---|---|---|
//! | stack and marks | `MARK`, `POP`, `POP_MARK`, `DUP` | `load_mark`, `load_pop`, `load_pop_mark`, `load_dup` |
//! | constants | `NONE`, `NEWTRUE`, `NEWFALSE`, `INT`, `BININT*`, `LONG*`, `FLOAT`, `BINFLOAT` | `load_none`, `load_bool`, `load_int`, `load_binint*`, `load_long`, `load_counted_long`, `load_float`, `load_binfloat` |
//! | strings and bytes | `STRING`, `BINSTRING`, `SHORT_BINSTRING`, `*UNICODE*`, `*BINBYTES*`, `BYTEARRAY8` | `load_string`, `load_counted_binstring`, `load_unicode`, `load_counted_binunicode`, `load_counted_binbytes`, `load_counted_bytearray` |
//! | buffers | `NEXT_BUFFER`, `READONLY_BUFFER` | `load_next_buffer`, `load_readonly_buffer` |
//! | containers | `*TUPLE*`, `*LIST`, `*DICT`, `EMPTY_SET`, `FROZENSET`, `APPEND(S)`, `SETITEM(S)`, `ADDITEMS` | `load_counted_tuple`, `load_tuple`, `load_empty_list`, `load_list`, `load_empty_dict`, `load_dict`, `load_empty_set`, `load_frozenset`, `load_append(s)` (`do_append`), `load_setitem(s)` (`do_setitems`), `load_additems` |
//! | memo | `GET`, `BINGET`, `LONG_BINGET`, `PUT`, `BINPUT`, `LONG_BINPUT`, `MEMOIZE` | `load_get`, `load_binget`, `load_long_binget`, `load_put`, `load_binput`, `load_long_binput`, `load_memoize` |
//! | globals, calls and state | `GLOBAL`, `STACK_GLOBAL`, `INST`, `OBJ`, `NEWOBJ`, `NEWOBJ_EX`, `REDUCE`, `BUILD` | `load_global`, `load_stack_global`, `load_inst`, `load_obj`, `load_newobj`, `load_newobj_ex`, `load_reduce`, `load_build` |
//! | persistent ids | `PERSID`, `BINPERSID` | `load_persid`, `load_binpersid` |
//! | protocol and frames | `PROTO`, `FRAME` (`STOP` ends the run in `run`) | `load_proto`, `load_frame` (`load_stop`) |
//! | extensions | `EXT1`, `EXT2`, `EXT4` | `load_extension` |

use std::borrow::Cow;

use super::{Build, EventKind, Machine, Mutate, Step, raises};
use crate::decode::{Arg, Op};
use crate::error::{DecodeErrorKind, EngineLimit, ErrorKind};
use crate::graph::{Blob, CallKind, Mutation, ObjId, Object, Origin, Table, Value, ValueKind};
use crate::literal::{Int, LegacyEncoding};
use crate::opcode::Opcode;

/// Dispatch.
impl<'a> Machine<'_, 'a> {
    /// Run one opcode other than `STOP`. The decoder gives every opcode one
    /// kind of argument, so the argument picks the handler, and the opcode
    /// only tells apart the members of a family that share an argument kind.
    pub(super) fn step(&mut self, op: &Op<'a>, remaining: usize) -> Step {
        match op.arg {
            Arg::None => self.step_no_arg(op),
            Arg::Int(ref i) => self.load_int(i),
            Arg::Bool(b) => self.push(Value::bool(b)),
            Arg::Float(f) => self.load_float(f),
            Arg::Bytes(b) if op.opcode == Opcode::BYTEARRAY8 => {
                self.load_object(Object::ByteArray(Blob::Borrowed(b)))
            }
            Arg::Bytes(b) => self.load_object(Object::Bytes(Blob::Borrowed(b))),
            Arg::Str(ref s) => self.load_object(Object::Str(s.clone().into())),
            Arg::LegacyStr(ref s) => self.load_string(s.clone()),
            Arg::Names { module, name } if op.opcode == Opcode::INST => {
                self.load_inst(op, module, name)
            }
            Arg::Names { module, name } => self.load_global(op, module, name),
            Arg::PersId(pid) => self.load_persid(op, pid),
            Arg::MemoIndex(idx) => match op.opcode {
                Opcode::GET | Opcode::BINGET | Opcode::LONG_BINGET => self.load_get(idx),
                _ => self.load_put(idx),
            },
            Arg::ExtCode(code) => self.load_extension(op, code),
            Arg::Proto(p) => self.load_proto(p),
            Arg::FrameLen(n) => load_frame(n, remaining),
        }
    }

    /// The opcodes without an argument.
    fn step_no_arg(&mut self, op: &Op<'a>) -> Step {
        use Opcode as O;
        match op.opcode {
            O::MARK => self.load_mark(),
            O::POP => self.load_pop(),
            O::POP_MARK => self.load_pop_mark(),
            O::DUP => self.load_dup(),
            O::NONE => self.push(Value::NONE),
            O::NEWTRUE => self.push(Value::TRUE),
            O::NEWFALSE => self.push(Value::FALSE),
            O::NEXT_BUFFER => self.load_next_buffer(op),
            O::READONLY_BUFFER => self.load_readonly_buffer(),
            O::EMPTY_TUPLE => self.load_counted_tuple(0),
            O::TUPLE1 => self.load_counted_tuple(1),
            O::TUPLE2 => self.load_counted_tuple(2),
            O::TUPLE3 => self.load_counted_tuple(3),
            O::TUPLE => self.load_tuple(),
            O::EMPTY_LIST => self.load_object(Object::List(Box::default())),
            O::LIST => self.load_list(),
            O::EMPTY_DICT => self.load_object(Object::Dict(Box::default())),
            O::DICT => self.load_dict(),
            O::EMPTY_SET => self.load_object(Object::Set(Box::default())),
            O::FROZENSET => self.load_frozenset(),
            O::APPEND => self.load_append(op),
            O::APPENDS => self.load_appends(op),
            O::SETITEM => self.load_setitem(op),
            O::SETITEMS => self.load_setitems(op),
            O::ADDITEMS => self.load_additems(op),
            O::STACK_GLOBAL => self.load_stack_global(op),
            O::OBJ => self.load_obj(op),
            O::NEWOBJ | O::NEWOBJ_EX => self.load_newobj(op),
            O::REDUCE => self.load_reduce(op),
            O::BUILD => self.load_build(op),
            O::BINPERSID => self.load_binpersid(op),
            O::MEMOIZE => self.load_memoize(),
            // `run` ends the pickle at `STOP`, and the decoder gives every
            // other opcode an argument: the default case of `load()`.
            other => Err(ErrorKind::Decode(DecodeErrorKind::UnknownOpcode(
                other as u8,
            ))),
        }
    }
}

/// Stack and marks.
impl<'a> Machine<'_, 'a> {
    /// `load_mark`.
    fn load_mark(&mut self) -> Step {
        if self.marks.len() >= self.cfg.limits.max_marks {
            return Err(self.limit(EngineLimit::Marks, self.cfg.limits.max_marks as u64));
        }
        self.marks.push(self.stack.len());
        Ok(())
    }

    /// `load_pop`: a mark on top of the stack goes first.
    fn load_pop(&mut self) -> Step {
        let len = self.stack.len();
        if self.marks.last() == Some(&len) {
            self.marks.pop();
        } else if len <= self.fence() {
            return Err(self.underflow());
        } else {
            self.stack.pop();
        }
        Ok(())
    }

    /// `load_pop_mark`.
    fn load_pop_mark(&mut self) -> Step {
        let i = self.marker()?;
        self.stack.truncate(i);
        Ok(())
    }

    /// `load_dup`.
    fn load_dup(&mut self) -> Step {
        let v = self.top()?;
        self.push(v)
    }
}

/// Constants, strings and bytes.
impl<'a> Machine<'_, 'a> {
    /// Push a new object: `load_counted_binbytes`, `load_counted_bytearray`,
    /// `load_unicode`, `load_counted_binunicode`, `load_empty_list`,
    /// `load_empty_dict`, `load_empty_set`.
    fn load_object(&mut self, obj: Object<'a>) -> Step {
        self.push_obj(obj)?;
        Ok(())
    }

    /// `load_int`, `load_binint*`, `load_long`, `load_counted_long`.
    fn load_int(&mut self, i: &Int) -> Step {
        let v = self.int_value(i.clone())?;
        self.push(v)
    }

    /// `load_float`, `load_binfloat`.
    fn load_float(&mut self, f: f64) -> Step {
        let id = self.new_obj(Object::Float(f))?;
        self.push(Value::object(id))
    }

    /// `load_string`, `load_counted_binstring`: a Python 2 `str`, decoded
    /// with the unpickler's `encoding` (bytes for `encoding='bytes'`).
    fn load_string(&mut self, s: Cow<'a, [u8]>) -> Step {
        let decoded =
            crate::literal::decode_legacy(s, self.cfg.encoding).map_err(|e| raises(e.0))?;
        let obj = if self.cfg.encoding == LegacyEncoding::Bytes {
            Object::Bytes(decoded.into())
        } else {
            Object::Str(decoded.into())
        };
        self.push_obj(obj)?;
        Ok(())
    }

    /// `load_next_buffer`: only with the loader's `buffers`.
    fn load_next_buffer(&mut self, op: &Op<'a>) -> Step {
        if !self.cfg.buffers {
            return Err(ErrorKind::NoBuffers);
        }
        let id = self.push_opaque(Origin::Buffer, op.offset)?;
        self.event(op, EventKind::Buffer(id));
        Ok(())
    }

    /// `load_readonly_buffer`: `memoryview(top).toreadonly()` unless the top
    /// is already read-only.
    fn load_readonly_buffer(&mut self) -> Step {
        let v = self.top()?;
        match self.graph.object(v) {
            Some(Object::Bytes(_) | Object::MemoryView(_)) => Ok(()),
            Some(Object::ByteArray(_) | Object::Opaque(_) | Object::Global(_)) => {
                let id = self.new_obj(Object::MemoryView(v))?;
                if let Some(top) = self.stack.last_mut() {
                    *top = Value::object(id);
                }
                Ok(())
            }
            _ => Err(raises(format!(
                "TypeError: memoryview: a bytes-like object is required, not '{}'",
                self.graph.type_name(v)
            ))),
        }
    }
}

/// Containers.
impl<'a> Machine<'_, 'a> {
    /// `load_counted_tuple(n)`: `EMPTY_TUPLE`, `TUPLE1`, `TUPLE2`, `TUPLE3`.
    fn load_counted_tuple(&mut self, n: usize) -> Step {
        if self.stack.len() < n {
            return Err(self.underflow());
        }
        let id = self.tuple_from_stack(self.stack.len() - n)?;
        self.push(Value::object(id))
    }

    /// `load_tuple`: the items above the topmost mark.
    fn load_tuple(&mut self) -> Step {
        let i = self.marker()?;
        let id = self.tuple_from_stack(i)?;
        self.push(Value::object(id))
    }

    /// `load_list`.
    fn load_list(&mut self) -> Step {
        let i = self.marker()?;
        let items = self.pop_items(i)?;
        self.check_container(items.len())?;
        self.push_obj(Object::List(Box::new(items)))?;
        Ok(())
    }

    /// `load_dict`.
    fn load_dict(&mut self) -> Step {
        let i = self.marker()?;
        let items = self.pop_items(i)?;
        if items.len() % 2 != 0 {
            return Err(ErrorKind::OddItems(Opcode::DICT));
        }
        let id = self.new_obj(Object::Dict(Box::default()))?;
        let pairs: Vec<(Value, Value)> = items.chunks_exact(2).map(|c| (c[0], c[1])).collect();
        self.table_insert_pairs(id, &pairs)?;
        self.push(Value::object(id))
    }

    /// `load_frozenset`.
    fn load_frozenset(&mut self) -> Step {
        let i = self.marker()?;
        let items = self.pop_items(i)?;
        let mut set = Table::default();
        self.set_insert(&mut set, &items)?;
        self.push_obj(Object::FrozenSet(Box::new(set)))?;
        Ok(())
    }

    /// `load_append`.
    fn load_append(&mut self, op: &Op<'a>) -> Step {
        let len = self.stack.len();
        if len <= self.fence() + 1 {
            return Err(self.underflow());
        }
        self.do_append(op, len - 1)
    }

    /// `load_appends`.
    fn load_appends(&mut self, op: &Op<'a>) -> Step {
        let x = self.marker()?;
        self.do_append(op, x)
    }

    /// `load_setitem`.
    fn load_setitem(&mut self, op: &Op<'a>) -> Step {
        let len = self.stack.len();
        if len < 2 {
            return Err(self.underflow());
        }
        self.do_setitems(op, len - 2)
    }

    /// `load_setitems`.
    fn load_setitems(&mut self, op: &Op<'a>) -> Step {
        let x = self.marker()?;
        self.do_setitems(op, x)
    }

    /// `load_additems`.
    fn load_additems(&mut self, op: &Op<'a>) -> Step {
        let x = self.marker()?;
        self.do_additems(op, x)
    }
}

/// The memo.
impl<'a> Machine<'_, 'a> {
    /// `load_get`, `load_binget`, `load_long_binget`.
    fn load_get(&mut self, idx: i64) -> Step {
        let v = self.memo.get(idx).ok_or(ErrorKind::MemoMissing(idx))?;
        self.push(v)
    }

    /// `load_put`, `load_binput`, `load_long_binput`: the stack is checked
    /// before the index.
    fn load_put(&mut self, idx: i64) -> Step {
        self.top()?;
        if idx < 0 {
            return Err(ErrorKind::NegativeMemoIndex(idx));
        }
        self.memo_put(idx as u64)
    }

    /// `load_memoize`: the index is the number of entries.
    fn load_memoize(&mut self) -> Step {
        self.top()?;
        self.memo_put(self.memo.len as u64)
    }
}

/// Globals, calls and state.
impl<'a> Machine<'_, 'a> {
    /// `load_global`.
    fn load_global(&mut self, op: &Op<'a>, module: &'a str, name: &'a str) -> Step {
        let id = self.make_global(
            Cow::Borrowed(module),
            Cow::Borrowed(name),
            op.opcode,
            op.offset,
        )?;
        self.event(op, EventKind::Import(id));
        self.push(Value::object(id))
    }

    /// `load_stack_global`: operands that are literals must be `str`;
    /// operands only known at load time make a dynamic import.
    fn load_stack_global(&mut self, op: &Op<'a>) -> Step {
        let name = self.pop()?;
        let module = self.pop()?;
        let literal_non_str = |v: Value| {
            self.graph.is_literal(v) && !matches!(self.graph.object(v), Some(Object::Str(_)))
        };
        if literal_non_str(module) || literal_non_str(name) {
            return Err(ErrorKind::StackGlobalNotStr);
        }
        match (self.str_operand(module), self.str_operand(name)) {
            (Some(m), Some(n)) => {
                let id = self.make_global(m, n, op.opcode, op.offset)?;
                self.event(op, EventKind::Import(id));
                self.push(Value::object(id))
            }
            _ => {
                let id = self.push_opaque(Origin::DynamicGlobal { module, name }, op.offset)?;
                self.event(op, EventKind::DynamicImport(id));
                Ok(())
            }
        }
    }

    /// `load_inst`: the mark is taken before the class is imported.
    fn load_inst(&mut self, op: &Op<'a>, module: &'a str, name: &'a str) -> Step {
        let i = self.marker()?;
        let cls = self.make_global(
            Cow::Borrowed(module),
            Cow::Borrowed(name),
            op.opcode,
            op.offset,
        )?;
        self.event(op, EventKind::Import(cls));
        let args = self.tuple_from_stack(i)?;
        self.call(
            op,
            CallKind::Inst,
            Value::object(cls),
            Value::object(args),
            None,
        )
    }

    /// `load_obj`: the class is the first item above the mark.
    fn load_obj(&mut self, op: &Op<'a>) -> Step {
        let i = self.marker()?;
        if self.stack.len() < i + 1 {
            return Err(self.underflow());
        }
        let args = self.tuple_from_stack(i + 1)?;
        let cls = self.pop()?;
        self.call(op, CallKind::Obj, cls, Value::object(args), None)
    }

    /// `load_newobj(self, use_kwargs)`: `NEWOBJ` and `NEWOBJ_EX`.
    fn load_newobj(&mut self, op: &Op<'a>) -> Step {
        let kwargs = if op.opcode == Opcode::NEWOBJ_EX {
            Some(self.pop()?)
        } else {
            None
        };
        let args = self.pop()?;
        let cls = self.pop()?;
        let name = op.opcode.name();
        if self.graph.is_literal(cls) {
            return Err(raises(format!(
                "UnpicklingError: {name} class argument must be a type, not {}",
                self.graph.type_name(cls)
            )));
        }
        if self.graph.is_literal(args) && self.graph.tuple(args).is_none() {
            return Err(raises(format!(
                "UnpicklingError: {name} args argument must be a tuple, not {}",
                self.graph.type_name(args)
            )));
        }
        let kind = match kwargs {
            None => CallKind::NewObj,
            Some(kw) => {
                if self.graph.is_literal(kw)
                    && !matches!(self.graph.object(kw), Some(Object::Dict(_)))
                {
                    return Err(raises(format!(
                        "UnpicklingError: {name} kwargs argument must be a dict, not {}",
                        self.graph.type_name(kw)
                    )));
                }
                CallKind::NewObjEx
            }
        };
        self.call(op, kind, cls, args, kwargs)
    }

    /// `load_reduce`; a call of `copyreg.add_extension` registers its code.
    fn load_reduce(&mut self, op: &Op<'a>) -> Step {
        let args = self.pop()?;
        let callable = self.pop()?;
        if self.graph.is_literal(args) && self.graph.tuple(args).is_none() {
            return Err(raises("TypeError: argument list must be a tuple"));
        }
        self.call(op, CallKind::Reduce, callable, args, None)?;
        self.track_add_extension(callable, args);
        Ok(())
    }
}

/// Persistent ids, protocol, frames and extensions.
impl<'a> Machine<'_, 'a> {
    /// `load_persid`: the id is the ASCII line.
    fn load_persid(&mut self, op: &Op<'a>, pid: &'a str) -> Step {
        if !self.cfg.persistent_load {
            return Err(ErrorKind::NoPersistentLoad);
        }
        let pid = Value::object(self.new_obj(Object::Str(Blob::Borrowed(pid.as_bytes())))?);
        self.persistent_load(op, pid)
    }

    /// `load_binpersid`: the id is popped.
    fn load_binpersid(&mut self, op: &Op<'a>) -> Step {
        if !self.cfg.persistent_load {
            return Err(ErrorKind::NoPersistentLoad);
        }
        let pid = self.pop()?;
        self.persistent_load(op, pid)
    }

    /// The loader's `persistent_load(pid)`.
    fn persistent_load(&mut self, op: &Op<'a>, pid: Value) -> Step {
        let id = self.push_opaque(Origin::Persistent { pid }, op.offset)?;
        self.event(op, EventKind::PersistentLoad(id));
        Ok(())
    }

    /// `load_proto`: protocols above 5 are refused.
    fn load_proto(&mut self, p: u8) -> Step {
        self.protocol = Some(p);
        if p > 5 {
            return Err(ErrorKind::UnsupportedProtocol(p));
        }
        self.proto = p;
        Ok(())
    }

    /// `load_extension` (`EXT1`, `EXT2`, `EXT4`): a code registered earlier
    /// in the stream resolves to its global; any other stays opaque.
    fn load_extension(&mut self, op: &Op<'a>, code: i64) -> Step {
        if code <= 0 {
            return Err(ErrorKind::ExtCodeNotPositive(code));
        }
        let (id, resolved) = match self.ext_registry.get(&code).cloned() {
            Some((m, n)) => {
                let id = self.make_global(Cow::Owned(m), Cow::Owned(n), op.opcode, op.offset)?;
                self.event(op, EventKind::Import(id));
                (id, true)
            }
            None => (
                self.new_opaque(Origin::Extension { code }, op.offset)?,
                false,
            ),
        };
        self.event(
            op,
            EventKind::Extension {
                code: code as i32,
                object: id,
                resolved,
            },
        );
        self.push(Value::object(id))
    }
}

/// `load_frame`: the announced frame must fit in the `remaining` bytes.
fn load_frame(n: u64, remaining: usize) -> Step {
    if n > isize::MAX as u64 {
        return Err(ErrorKind::Decode(DecodeErrorKind::LengthOverflow(n)));
    }
    if n > remaining as u64 {
        return Err(ErrorKind::Decode(DecodeErrorKind::Truncated {
            needed: n,
            available: remaining as u64,
        }));
    }
    Ok(())
}

/// Calls, and the methods `APPEND(S)`, `SETITEM(S)`, `ADDITEMS` and `BUILD`
/// run on objects.
impl<'a> Machine<'_, 'a> {
    /// Record a call and push its opaque result.
    fn call(
        &mut self,
        op: &Op<'a>,
        kind: CallKind,
        callable: Value,
        args: Value,
        kwargs: Option<Value>,
    ) -> Step {
        if self.graph.is_literal(callable) {
            return Err(raises(format!(
                "TypeError: '{}' object is not callable",
                self.graph.type_name(callable)
            )));
        }
        let id = self.push_opaque(
            Origin::Call {
                kind,
                callable,
                args,
                kwargs,
            },
            op.offset,
        )?;
        self.event(op, EventKind::Call(id));
        Ok(())
    }

    /// `copyreg.add_extension(module, name, code)` with literal arguments
    /// registers `code` for later `EXT` opcodes in the same process.
    fn track_add_extension(&mut self, callable: Value, args: Value) {
        let Some(g) = self.graph.global(callable) else {
            return;
        };
        if g.module != "copyreg" || g.name != "add_extension" {
            return;
        }
        let Some(items) = self.graph.tuple(args) else {
            return;
        };
        if let &[m, n, code] = items {
            let Some(code) = code.as_small_int() else {
                return;
            };
            if let (Some(m), Some(n)) = (self.graph.str(m), self.graph.str(n)) {
                let entry = (m.into_owned(), n.into_owned());
                self.ext_registry.insert(code, entry);
            }
        }
    }

    /// A method call on an object only its code knows (an opaque object or
    /// a global): `values` stack values are kept with the mutation, which
    /// is recorded on the object and reported as an event.
    fn record_mutation(
        &mut self,
        op: &Op<'a>,
        target: Value,
        mutation: Mutation,
        method: &'static str,
        count: usize,
        values: usize,
    ) -> Step {
        self.charge((values * std::mem::size_of::<Value>()) as u64)?;
        self.mutate_opaque(target, mutation);
        let mutate = Mutate {
            target,
            method,
            count,
        };
        self.event(op, EventKind::Mutate(Box::new(mutate)));
        Ok(())
    }

    fn mutate_opaque(&mut self, target: Value, mutation: Mutation) {
        match target.obj().map(|id| self.graph.get_mut(id)) {
            Some(Object::Opaque(o)) => {
                let o = *o;
                self.graph.opaque_at_mut(o).push_mutation(mutation);
            }
            Some(Object::Global(g)) => g.mutations.push(mutation),
            _ => {}
        }
    }

    /// `do_append(x)` of `_pickle.c`.
    fn do_append(&mut self, op: &Op<'a>, x: usize) -> Step {
        let len = self.stack.len();
        if x > len || x <= self.fence() {
            return Err(self.underflow());
        }
        if len == x {
            return Ok(());
        }
        let target = self.stack[x - 1];
        let items = self.stack.split_off(x);
        match target.obj().map(|id| (id, self.graph.get(id))) {
            Some((id, Object::List(l))) => {
                let n = l.len() + items.len();
                self.check_container(n)?;
                self.charge((items.len() * std::mem::size_of::<Value>()) as u64)?;
                if let Object::List(l) = self.graph.get_mut(id) {
                    l.extend(items);
                }
            }
            Some((id, Object::ByteArray(_))) => {
                let bytes = self.bytes_of(&items)?;
                self.charge(bytes.len() as u64)?;
                if let Object::ByteArray(b) = self.graph.get_mut(id) {
                    b.to_mut().extend_from_slice(&bytes);
                }
            }
            Some((_, Object::Opaque(_) | Object::Global(_))) => {
                let (count, values) = (items.len(), items.len());
                let mutation = Mutation::Extend {
                    items: items.into_boxed_slice(),
                    offset: op.offset,
                };
                self.record_mutation(op, target, mutation, "extend", count, values)?;
            }
            _ => {
                return Err(raises(format!(
                    "AttributeError: '{}' object has no attribute 'append'",
                    self.graph.type_name(target)
                )));
            }
        }
        Ok(())
    }

    /// The items `bytearray.extend` appends: ints in `range(0, 256)`.
    fn bytes_of(&self, items: &[Value]) -> Step<Vec<u8>> {
        let mut bytes = Vec::with_capacity(items.len());
        for v in items {
            match v.kind() {
                ValueKind::Int(i @ 0..=255) => bytes.push(i as u8),
                ValueKind::Bool(b) => bytes.push(b as u8),
                ValueKind::Int(_) => {
                    return Err(raises("ValueError: byte must be in range(0, 256)"));
                }
                _ => {
                    return Err(raises(format!(
                        "TypeError: '{}' object cannot be interpreted as an integer",
                        self.graph.type_name(*v)
                    )));
                }
            }
        }
        Ok(bytes)
    }

    /// `do_setitems(x)` of `_pickle.c`.
    fn do_setitems(&mut self, op: &Op<'a>, x: usize) -> Step {
        let len = self.stack.len();
        if x > len || x <= self.fence() {
            return Err(self.underflow());
        }
        if len == x {
            return Ok(());
        }
        if (len - x) % 2 != 0 {
            return Err(ErrorKind::OddItems(Opcode::SETITEMS));
        }
        let target = self.stack[x - 1];
        let items = self.stack.split_off(x);
        let pairs: Vec<(Value, Value)> = items.chunks_exact(2).map(|c| (c[0], c[1])).collect();
        match target.obj().map(|id| (id, self.graph.get(id))) {
            Some((id, Object::Dict(_))) => self.table_insert_pairs(id, &pairs)?,
            Some((id, Object::List(_) | Object::ByteArray(_))) => {
                for &(k, v) in &pairs {
                    self.sequence_setitem(id, k, v)?;
                }
            }
            Some((_, Object::Opaque(_) | Object::Global(_))) => {
                let (count, values) = (pairs.len(), 2 * pairs.len());
                let mutation = Mutation::SetItems {
                    items: pairs.into_boxed_slice(),
                    offset: op.offset,
                };
                self.record_mutation(op, target, mutation, "__setitem__", count, values)?;
            }
            _ => {
                return Err(raises(format!(
                    "TypeError: '{}' object does not support item assignment",
                    self.graph.type_name(target)
                )));
            }
        }
        Ok(())
    }

    /// `list[key] = value` / `bytearray[key] = value` with an integer key.
    fn sequence_setitem(&mut self, id: ObjId, key: Value, value: Value) -> Step {
        let index = match key.kind() {
            ValueKind::Int(i) => i,
            ValueKind::Bool(b) => b as i64,
            _ => {
                let ty = self.graph.get(id).type_name();
                return Err(raises(format!(
                    "TypeError: {ty} indices must be integers or slices, not {}",
                    self.graph.type_name(key)
                )));
            }
        };
        let byte = match (self.graph.get(id), value.kind()) {
            (Object::ByteArray(_), ValueKind::Int(v @ 0..=255)) => Some(v as u8),
            (Object::ByteArray(_), ValueKind::Bool(b)) => Some(b as u8),
            (Object::ByteArray(_), _) => {
                return Err(raises("TypeError: an integer in range(0, 256) is required"));
            }
            _ => None,
        };
        let n = match self.graph.get(id) {
            Object::List(l) => l.len(),
            Object::ByteArray(b) => b.len(),
            _ => 0,
        } as i64;
        let i = if index < 0 { index + n } else { index };
        if i < 0 || i >= n {
            return Err(raises("IndexError: assignment index out of range"));
        }
        match (self.graph.get_mut(id), byte) {
            (Object::List(l), _) => l[i as usize] = value,
            (Object::ByteArray(b), Some(byte)) => b.to_mut()[i as usize] = byte,
            _ => {}
        }
        Ok(())
    }

    /// The body of `load_additems` of `_pickle.c`, for the items above
    /// `mark`.
    fn do_additems(&mut self, op: &Op<'a>, mark: usize) -> Step {
        let len = self.stack.len();
        if mark > len || mark <= self.fence() {
            return Err(self.underflow());
        }
        if len == mark {
            return Ok(());
        }
        let target = self.stack[mark - 1];
        let items = self.stack.split_off(mark);
        match target.obj().map(|id| (id, self.graph.get(id))) {
            Some((id, Object::Set(_))) => {
                let mut obj = self.graph.take(id);
                let r = match &mut obj {
                    Object::Set(set) => self.set_insert(set, &items),
                    _ => Ok(()),
                };
                self.graph.put(id, obj);
                r?;
            }
            Some((_, Object::Opaque(_) | Object::Global(_))) => {
                let (count, values) = (items.len(), items.len());
                let mutation = Mutation::Add {
                    items: items.into_boxed_slice(),
                    offset: op.offset,
                };
                self.record_mutation(op, target, mutation, "add", count, values)?;
            }
            _ => {
                return Err(raises(format!(
                    "AttributeError: '{}' object has no attribute 'add'",
                    self.graph.type_name(target)
                )));
            }
        }
        Ok(())
    }

    /// `load_build` of `_pickle.c`.
    fn load_build(&mut self, op: &Op<'a>) -> Step {
        let len = self.stack.len();
        if len < 2 || len - 2 < self.fence() {
            return Err(self.underflow());
        }
        let state = self.pop()?;
        let target = self.top()?;
        self.event(op, EventKind::Build(Box::new(Build { target, state })));
        if !self.graph.is_literal(target) {
            self.mutate_opaque(
                target,
                Mutation::SetState {
                    state,
                    offset: op.offset,
                },
            );
            return Ok(());
        }
        // Built-in data types have no __setstate__ and no __dict__: only an
        // empty state is accepted by the default path.
        let (inst_state, slot_state) = match self.graph.tuple(state) {
            Some(&[a, b]) => (a, Some(b)),
            _ => (state, None),
        };
        let ty = self.graph.type_name(target);
        if inst_state != Value::NONE {
            if self.graph.is_literal(inst_state)
                && !matches!(self.graph.object(inst_state), Some(Object::Dict(_)))
            {
                return Err(raises("UnpicklingError: state is not a dictionary"));
            }
            return Err(raises(format!(
                "AttributeError: '{ty}' object has no attribute '__dict__'"
            )));
        }
        if let Some(slots) = slot_state {
            match self.graph.object(slots) {
                Some(Object::Dict(d)) if d.is_empty() => {}
                Some(Object::Dict(_)) | Some(Object::Opaque(_)) | Some(Object::Global(_)) => {
                    return Err(raises(format!(
                        "AttributeError: '{ty}' object attribute is read-only"
                    )));
                }
                _ => return Err(raises("UnpicklingError: slot state is not a dictionary")),
            }
        }
        Ok(())
    }
}
