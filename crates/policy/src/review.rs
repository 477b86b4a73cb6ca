//! Reviewing a pickle's events: allowlist first, then the danger catalogue
//! to grade what is not allowed.
//!
//! A global is data-only when `torch.load(weights_only=True)` would accept it
//! by default: the allowlist is torch's own. Everything else makes the file
//! at least `suspicious`; the catalogue decides whether it is `dangerous`.
//! Structures that only attacks produce (calling a computed callable,
//! unregistered extension codes, setting state on an imported global) are
//! dangerous whatever they name.

use std::borrow::Cow;
use std::collections::BTreeMap;

use airlock_pickle::{
    Analysis, CallKind, EngineLimit, ErrorKind, Event, EventKind, Global, Graph, Object, Origin,
    Value,
};

use crate::catalogue::{Hit, catalogue};
use crate::finding::Finding;
use crate::rules::{Rule, Severity};
use crate::weights_only::{WoKind, allowed, storage_dtype, torch_name};
use crate::{constructors, enums};

/// How the pickle is loaded, which decides what is expected in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loader {
    /// `torch.load`: persistent ids are storage references.
    Torch,
    /// `torch.load` of the legacy tar format: persistent ids are storage
    /// keys, or `(class, source file, source)` tuples answered with the class.
    TorchTar,
    /// `pickle.load` or similar: one pickle, no persistent ids.
    Plain,
    /// `joblib.load`: a plain pickle whose `NumpyArrayWrapper` objects stand
    /// for arrays stored inline.
    Joblib,
}

impl Loader {
    /// The pickle engine configured as this loader configures its
    /// unpickler: the one configuration `scan`, `inspect`, `convert` and
    /// `airlock.load` analyse a loader's pickles with.
    ///
    /// - Python 2 strings: `torch.load` passes `encoding="utf-8"`,
    ///   `pickle.load` defaults to ASCII.
    /// - `persistent_load` is taken as defined for every loader: a superset,
    ///   since a custom loader may define it and go on (the rebuild of a
    ///   plain pickle, which `pickle.load` would refuse at the first
    ///   persistent id, turns it off).
    /// - No out-of-band buffers (no loader here passes any).
    pub fn engine_config(
        self,
        limits: &airlock_pickle::Limits,
        max_pickles: Option<usize>,
    ) -> airlock_pickle::EngineConfig {
        airlock_pickle::EngineConfig {
            limits: limits.clone(),
            encoding: match self {
                Loader::Torch | Loader::TorchTar => airlock_pickle::LegacyEncoding::Utf8,
                Loader::Plain | Loader::Joblib => airlock_pickle::LegacyEncoding::Ascii,
            },
            persistent_load: true,
            buffers: false,
            max_pickles,
            ..airlock_pickle::EngineConfig::default()
        }
    }
}

/// Globals NumPy's own pickles use to rebuild arrays, dtypes and scalars.
/// They build data from data (the classes and values they are given are
/// imported, and graded, on their own), whatever the loader.
const NUMPY_DATA: &[&str] = &[
    "numpy.ndarray",
    "numpy.dtype",
    "numpy.core.multiarray._reconstruct",
    "numpy._core.multiarray._reconstruct",
    "numpy.core.multiarray.scalar",
    "numpy._core.multiarray.scalar",
    "numpy.core.numeric._frombuffer",
    "numpy._core.numeric._frombuffer",
];

/// Pickle's own instance-creation helpers (protocols 0 to 2 create objects
/// through them): they only instantiate the classes they are given, which
/// are imported, and graded, on their own.
const PICKLE_MACHINERY: &[&str] = &[
    "copyreg._reconstructor",
    "copyreg.__newobj__",
    "copyreg.__newobj_ex__",
    "builtins.object",
];

/// Whether a global is on the data allowlist for a loader: torch's
/// weights-only allowlist, NumPy's array rebuilding functions, pickle's
/// instance-creation helpers, and for `joblib.load` its inline array
/// wrapper.
pub fn is_data_global(g: &Global<'_>, loader: Loader) -> bool {
    let name = g.qualified();
    is_allowlisted(g)
        || NUMPY_DATA.contains(&name.as_str())
        || PICKLE_MACHINERY.contains(&name.as_str())
        || (loader == Loader::Joblib && name == "joblib.numpy_pickle.NumpyArrayWrapper")
}

/// What to review.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The archive member the pickle comes from.
    pub member: Option<&'a str>,
    /// How it is loaded.
    pub loader: Loader,
    /// Whether further pickles after the first are unexpected.
    pub single_pickle: bool,
}

struct GlobalUse {
    name: String,
    opcode: &'static str,
    offset: u64,
    imports: usize,
    calls: Vec<(CallKind, u64, String)>,
    /// Some call runs its code (see [`Finding::called`]).
    runs_code: bool,
    /// Some call is a program step (rule AL0052): a function called, not
    /// an object rebuilt.
    program_call: bool,
    /// Calls that only name something else, graded on its own: `getattr`
    /// fetching a named attribute of an imported global (recorded as that
    /// global), `operator.getitem` subscribing a `typing` form
    /// (`typing.List[int]`, which typing's reduce writes).
    explained: usize,
    hit: Option<Hit>,
}

fn written(g: &Global<'_>) -> (String, String) {
    match &g.written {
        Some((m, n)) => (m.to_string(), n.to_string()),
        None => (g.module.to_string(), g.name.to_string()),
    }
}

/// Whether a global is on the data allowlist (torch's weights-only
/// allowlist), under the name torch matches or the one Python imports.
pub fn is_allowlisted(g: &Global<'_>) -> bool {
    allowed(&torch_name(g)).is_some() || allowed(&g.qualified()).is_some()
}

/// The catalogue entry grading a global, under any of its names.
pub fn grade(g: &Global<'_>) -> Option<Hit> {
    let (wm, wn) = written(g);
    let a = catalogue().lookup(&g.module, &g.name, g.dotted);
    let b = catalogue().lookup(&wm, &wn, g.dotted);
    match (a, b) {
        (Some(a), Some(b)) => Some(if b.severity > a.severity { b } else { a }),
        (a, b) => a.or(b),
    }
}

fn call_word(kind: CallKind) -> &'static str {
    match kind {
        CallKind::Reduce => "REDUCE",
        CallKind::NewObj => "NEWOBJ",
        CallKind::NewObjEx => "NEWOBJ_EX",
        CallKind::Obj => "OBJ",
        CallKind::Inst => "INST",
    }
}

/// Functions that change their first argument in place: called on an
/// imported global, they change the process's state.
const MUTATORS: &[&str] = &[
    "operator.setitem",
    "operator.delitem",
    "operator.iadd",
    "operator.ior",
    "operator.iconcat",
    "_operator.setitem",
    "_operator.delitem",
    "_operator.iadd",
    "_operator.ior",
    "_operator.iconcat",
    "builtins.setattr",
    "builtins.delattr",
    "builtins.dict.update",
    "builtins.dict.__setitem__",
    "builtins.dict.setdefault",
    "builtins.list.append",
    "builtins.list.extend",
    "builtins.list.insert",
    "builtins.set.add",
    "builtins.set.update",
];

/// Review every event of an analysed pickle stream.
pub fn review(analysis: &Analysis<'_>, ctx: Context<'_>) -> Vec<Finding> {
    let mut r = Reviewer {
        g: &analysis.graph,
        ctx,
        out: Vec::new(),
        globals: BTreeMap::new(),
        by_name: BTreeMap::new(),
    };
    for (index, pickle) in analysis.pickles.iter().enumerate() {
        let extra = index >= 1 && ctx.single_pickle;
        // Bytes after the first pickle: a hidden pickle if they do anything
        // or form a whole pickle, plain trailing data otherwise. Where the
        // analysis stopped at a limit it is never trailing data: what lies
        // beyond was not read, and a limit is never silent.
        let stopped = matches!(
            pickle.error().map(|e| &e.kind),
            Some(ErrorKind::LimitExceeded { .. })
        );
        let acts = pickle.error().is_none() || pickle.events.len() > 1 || stopped;
        if extra && index == 1 {
            r.after_first(analysis, pickle.start, acts);
        }
        for event in &pickle.events {
            if !(extra && !acts && matches!(event.kind, EventKind::Error(_))) {
                r.event(event, pickle.events.len());
            }
        }
    }
    r.finish()
}

/// The review of one stream: findings so far, and every global outside the
/// data allowlist with the calls made to it.
struct Reviewer<'g, 'a, 'c> {
    g: &'g Graph<'a>,
    ctx: Context<'c>,
    out: Vec<Finding>,
    /// By (first name, first offset).
    globals: BTreeMap<(String, u64), GlobalUse>,
    /// Qualified name → its key in `globals`.
    by_name: BTreeMap<String, (String, u64)>,
}

impl Reviewer<'_, '_, '_> {
    fn push(&mut self, f: Finding, offset: usize) {
        self.out
            .push(f.member(self.ctx.member).offset(Some(offset as u64)));
    }

    /// What follows the first pickle of a stream loaded as one pickle.
    fn after_first(&mut self, analysis: &Analysis<'_>, start: usize, acts: bool) {
        let f = if acts {
            Finding::new(
                Rule::HiddenPickle,
                format!(
                    "{} more pickle(s) follow the first, from byte {start}; loaders that read in a loop run them",
                    analysis.pickles.len() - 1,
                ),
            )
        } else {
            Finding::new(
                Rule::TrailingData,
                format!(
                    "{} bytes after the first pickle, from byte {start}, are not a pickle and are never read",
                    analysis.input_len - start,
                ),
            )
        };
        self.push(f, start);
    }

    /// One event, handed to its kind's handler.
    fn event(&mut self, event: &Event, events_in_pickle: usize) {
        let opname = event.opcode.map(|o| o.name()).unwrap_or("?");
        let at = event.offset;
        match &event.kind {
            &EventKind::Import(id) => self.import(Value::object(id), opname, at),
            &EventKind::Call(id) => self.call(Value::object(id), at),
            &EventKind::DynamicImport(id) => self.dynamic_import(Value::object(id), at),
            &EventKind::Extension {
                code,
                object,
                resolved,
            } => self.extension(code, Value::object(object), resolved, opname, at),
            EventKind::Build(b) => self.build(b.target, b.state, at),
            EventKind::Mutate(m) => self.mutate(m.target, m.method, opname, at),
            &EventKind::PersistentLoad(id) => self.persistent_load(Value::object(id), at),
            EventKind::Buffer(_) => self.push(
                Finding::new(
                    Rule::OutOfBandBuffer,
                    "NEXT_BUFFER asks the loader for an out-of-band buffer",
                ),
                at,
            ),
            // The loader extension reports what it read itself.
            EventKind::LoaderRead(_) => {}
            EventKind::Error(e) => self.error(&e.kind, events_in_pickle > 1, at),
        }
    }

    /// A global imported: recorded, graded when the stream is done.
    fn import(&mut self, id: Value, opcode: &'static str, at: usize) {
        if let Some(gl) = self.g.global(id) {
            self.record_import(gl, opcode, at);
        }
    }

    fn record_import(&mut self, gl: &Global<'_>, opcode: &'static str, at: usize) {
        if is_data_global(gl, self.ctx.loader) {
            return;
        }
        let name = gl.qualified();
        let key = self
            .by_name
            .entry(name.clone())
            .or_insert_with(|| (name.clone(), at as u64))
            .clone();
        let entry = self.globals.entry(key).or_insert_with(|| GlobalUse {
            name,
            opcode,
            offset: at as u64,
            imports: 0,
            calls: Vec::new(),
            runs_code: false,
            program_call: false,
            explained: 0,
            hit: grade(gl),
        });
        entry.imports += 1;
    }

    /// A call: to an imported global (recorded with it), or to something
    /// computed at load time.
    fn call(&mut self, id: Value, at: usize) {
        let g = self.g;
        let Some(Origin::Call {
            kind,
            callable,
            args,
            kwargs,
        }) = g.opaque(id).map(|o| &o.origin)
        else {
            return;
        };
        let fetched;
        let gl = match resolve_callable(g, *callable, self.ctx.loader) {
            Some(gl) => gl,
            None => match self.fetched_global(*callable) {
                Some(attr) => {
                    fetched = attr;
                    &fetched
                }
                None => {
                    let what = format!(
                        "{} calls {}, which is not an imported global but computed at load time: {}",
                        call_word(*kind),
                        g.repr(*callable, 120),
                        g.repr(*args, 160)
                    );
                    self.push(Finding::new(Rule::ComputedCallable, what), at);
                    return;
                }
            },
        };
        if let Some(attr) = fetched_attribute(g, gl, *args) {
            // getattr(G, 'name'): the global G.name, as protocol 4 names it.
            self.record_import(&attr, "getattr", at);
            if let Some(entry) = self.usage_of(gl) {
                entry.explained += 1;
            }
        } else if is_type_subscript(g, gl, *args) {
            if let Some(entry) = self.usage_of(gl) {
                entry.explained += 1;
            }
        }
        if is_data_global(gl, self.ctx.loader) {
            self.machinery_call(gl, *args);
            return;
        }
        self.mutation_by_call(gl, *args, at);
        let runs = runs_code(g, *kind, *args, *kwargs) && !enum_lookup(g, gl, *kind, *args);
        let program = runs
            && matches!(kind, CallKind::Reduce | CallKind::Inst | CallKind::Obj)
            && constructors::is_program_function(gl);
        if let Some(entry) = self.usage_of(gl) {
            entry.calls.push((*kind, at as u64, g.repr(id, 200)));
            entry.runs_code |= runs;
            entry.program_call |= program;
        }
    }

    /// The global a value fetched by `getattr(G, 'name')`, if it is one.
    fn fetched_global(&self, v: Value) -> Option<Global<'static>> {
        let g = self.g;
        let Some(Origin::Call {
            kind: CallKind::Reduce,
            callable,
            args,
            kwargs: None,
        }) = g.opaque(v).map(|o| &o.origin)
        else {
            return None;
        };
        fetched_attribute(g, g.global(*callable)?, *args)
    }

    fn usage_of(&mut self, gl: &Global<'_>) -> Option<&mut GlobalUse> {
        self.by_name
            .get(&gl.qualified())
            .and_then(|key| self.globals.get_mut(key))
    }

    /// copyreg's instance-creation helpers run code of the classes they
    /// are given unless they only call `__new__` without arguments:
    /// `_reconstructor(cls, base, state)` calls `base.__new__(cls, state)`
    /// and `base.__init__` unless `base` is `object` and `state` is `None`;
    /// `__newobj__(cls, *args)` and `__newobj_ex__` pass their arguments.
    fn machinery_call(&mut self, callable: &Global<'_>, args: Value) {
        let g = self.g;
        let Some(items) = g.tuple(args) else {
            return;
        };
        let runs: Vec<Value> = match (callable.qualified().as_str(), items) {
            ("copyreg._reconstructor", &[cls, base, state]) => {
                let plain = g
                    .global(base)
                    .is_some_and(|b| b.qualified() == "builtins.object")
                    && state == Value::NONE;
                if plain { vec![] } else { vec![cls, base] }
            }
            ("copyreg.__newobj__", [cls, rest @ ..]) if !rest.is_empty() => vec![*cls],
            ("copyreg.__newobj_ex__", [cls, ..]) => vec![*cls],
            _ => vec![],
        };
        for v in runs {
            if let Some(entry) = g.global(v).and_then(|gl| self.usage_of(gl)) {
                entry.runs_code = true;
            }
        }
    }

    /// A call that changes an imported global's state (`operator.setitem`
    /// on `copyreg.dispatch_table`, `setattr` on a module): like BUILD on
    /// a global, it changes the process for everything loaded after.
    fn mutation_by_call(&mut self, callable: &Global<'_>, args: Value, at: usize) {
        let name = callable.qualified();
        if !MUTATORS.contains(&name.as_str()) {
            return;
        }
        let g = self.g;
        let Some(target) = g.tuple(args).and_then(|a| a.first().copied()) else {
            return;
        };
        let Some(global) = g.global(target) else {
            return;
        };
        let what = format!(
            "{name} changes the imported global {} with {}",
            global.qualified(),
            g.repr(args, 160)
        );
        self.push(Finding::new(Rule::GlobalMutation, what), at);
    }

    fn dynamic_import(&mut self, id: Value, at: usize) {
        let what = format!(
            "STACK_GLOBAL with operands computed at load time: {}",
            self.g.repr(id, 160)
        );
        self.push(Finding::new(Rule::ComputedCallable, what), at);
    }

    fn extension(&mut self, code: i32, object: Value, resolved: bool, opname: &str, at: usize) {
        let what = if resolved {
            format!(
                "extension code {code} resolves to {}, registered earlier in the stream",
                self.g.repr(object, 80)
            )
        } else {
            format!("extension code {code} is not registered by anything in the file")
        };
        self.push(
            Finding::new(Rule::Extension, format!("{opname}: {what}")),
            at,
        );
    }

    /// BUILD on an imported global changes it for the whole process.
    fn build(&mut self, target: Value, state: Value, at: usize) {
        let Some(gl) = self.g.global(target) else {
            return;
        };
        let what = format!(
            "BUILD sets state {} on the imported global {}",
            self.g.repr(state, 120),
            gl.qualified()
        );
        self.push(Finding::new(Rule::GlobalMutation, what), at);
    }

    /// APPEND(S)/SETITEM(S)/ADDITEMS on an imported global.
    fn mutate(&mut self, target: Value, method: &str, opname: &str, at: usize) {
        let Some(gl) = self.g.global(target) else {
            return;
        };
        let what = format!(
            "{opname} calls {}.{method} on the imported global",
            gl.qualified()
        );
        self.push(Finding::new(Rule::GlobalMutation, what), at);
    }

    /// A persistent id, checked against what the loader's
    /// `persistent_load` accepts.
    fn persistent_load(&mut self, id: Value, at: usize) {
        let g = self.g;
        let Some(Origin::Persistent { pid }) = g.opaque(id).map(|o| &o.origin) else {
            return;
        };
        let problem = match self.ctx.loader {
            Loader::Plain | Loader::Joblib => {
                Some("a plain pickle with persistent ids needs a custom loader".to_string())
            }
            // The legacy format's module references: the class they name
            // is graded where it is imported.
            Loader::Torch if module_pid(g, *pid).is_some() => None,
            // torch's persistent_load raises on anything but a tuple,
            // whatever the options: the file cannot load.
            Loader::Torch if g.tuple(*pid).is_none() => {
                let what = format!(
                    "persistent id {} is not a tuple: torch's persistent_load raises \"saved_id must be a tuple\", so torch.load fails on this file whatever its options",
                    g.repr(*pid, 120)
                );
                self.push(Finding::new(Rule::StorageMismatch, what), at);
                return;
            }
            Loader::Torch => storage_pid_problem(g, *pid),
            Loader::TorchTar => tar_pid_problem(g, *pid),
        };
        if let Some(problem) = problem {
            let what = format!("persistent id {}: {problem}", g.repr(*pid, 120));
            self.push(Finding::new(Rule::UnexpectedPersistentId, what), at);
        }
    }

    /// Where the unpickler stops (`ran_before`: the pickle did something
    /// before, which runs when the file is loaded).
    fn error(&mut self, kind: &ErrorKind, ran_before: bool, at: usize) {
        let (rule, what) = match kind {
            ErrorKind::LimitExceeded { limit, max } => (
                Rule::AnalysisLimit,
                format!("analysis stopped: more than {max} {}", limit_name(*limit)),
            ),
            _ => (
                Rule::PickleError,
                format!("the unpickler stops here: {kind}"),
            ),
        };
        let before = if ran_before {
            "; everything before this point runs when the file is loaded"
        } else {
            ""
        };
        self.push(Finding::new(rule, format!("{what}{before}")), at);
    }

    /// The findings, with one per global outside the allowlist.
    fn finish(mut self) -> Vec<Finding> {
        for usage in std::mem::take(&mut self.globals).into_values() {
            // Every call only named another global, graded on its own.
            if usage.explained > 0 && usage.explained == usage.calls.len() {
                continue;
            }
            let f = global_finding(&usage)
                .member(self.ctx.member)
                .offset(Some(usage.offset))
                .subject(usage.name);
            self.out.push(f);
        }
        self.out
    }
}

/// `getattr(G, 'name')` with `G` an imported global and `name` a literal
/// identifier: the global `G.name`, which protocol 4 names in one
/// `STACK_GLOBAL` (`zoneinfo.ZoneInfo._unpickle`, the reduce of a
/// `ZoneInfo`), graded as such.
fn fetched_attribute(g: &Graph<'_>, callable: &Global<'_>, args: Value) -> Option<Global<'static>> {
    if callable.qualified() != "builtins.getattr" {
        return None;
    }
    let &[target, name] = g.tuple(args)? else {
        return None;
    };
    let base = g.global(target)?;
    let attr = g.str(name)?;
    let identifier = attr.starts_with(|c: char| c.is_alphabetic() || c == '_')
        && attr.chars().all(|c| c.is_alphanumeric() || c == '_');
    if !identifier {
        return None;
    }
    Some(Global {
        module: Cow::Owned(base.module.to_string()),
        name: Cow::Owned(format!("{}.{attr}", base.name)),
        written: None,
        dotted: true,
        opcode: base.opcode,
        offset: base.offset,
        mutations: Vec::new(),
    })
}

/// `operator.getitem(F, args)` with `F` a form of the `typing` module:
/// `F[args]`, a type annotation (typing's generic aliases reduce to it).
/// Subscribing a typing form checks and stores its arguments; a string
/// argument becomes a `ForwardRef`, compiled, never evaluated.
fn is_type_subscript(g: &Graph<'_>, callable: &Global<'_>, args: Value) -> bool {
    let name = callable.qualified();
    if name != "operator.getitem" && name != "_operator.getitem" {
        return false;
    }
    let Some(&[target, _]) = g.tuple(args) else {
        return false;
    };
    g.global(target)
        .is_some_and(|t| t.module == "typing" || t.module == "typing_extensions")
}

/// Whether a call runs code of its callable: anything but `NEWOBJ` /
/// `NEWOBJ_EX` without arguments, which only calls `cls.__new__(cls)`.
fn runs_code(g: &Graph<'_>, kind: CallKind, args: Value, kwargs: Option<Value>) -> bool {
    let no_args = g.tuple(args).is_some_and(<[Value]>::is_empty);
    let no_kwargs = kwargs.is_none_or(
        |kw| matches!(g.object(kw), Some(airlock_pickle::Object::Dict(d)) if d.is_empty()),
    );
    !matches!(kind, CallKind::NewObj | CallKind::NewObjEx) || !no_args || !no_kwargs
}

/// Whether a call is `Class(value)` for a member of an enum class of the
/// derived table ([`crate::enums`]): a lookup, no code of the class runs.
pub fn enum_lookup(g: &Graph<'_>, class: &Global<'_>, kind: CallKind, args: Value) -> bool {
    let Some(&[value]) = g.tuple(args) else {
        return false;
    };
    if kind != CallKind::Reduce {
        return false;
    }
    let member = match g.object(value) {
        Some(airlock_pickle::Object::Str(_)) => g.str(value),
        _ => None,
    };
    let name = class.qualified();
    match (member, value.kind()) {
        (Some(s), _) => enums::is_member(&name, enums::Member::Str(&s)),
        (None, airlock_pickle::ValueKind::Int(i)) => enums::is_member(&name, enums::Member::Int(i)),
        _ => false,
    }
}

/// The finding for a global outside the allowlist: graded by the danger
/// catalogue, with its first call.
fn global_finding(usage: &GlobalUse) -> Finding {
    let mut f = global_finding_graded(usage);
    f.called = usage.runs_code;
    f
}

fn global_finding_graded(usage: &GlobalUse) -> Finding {
    let calls = match usage.calls.as_slice() {
        [] => String::new(),
        [(kind, off, shown)] => format!("; {} calls {shown} at byte {off}", call_word(*kind)),
        [(kind, off, shown), rest @ ..] => format!(
            "; {} calls {shown} at byte {off}, and {} more call(s)",
            call_word(*kind),
            rest.len()
        ),
    };
    let imported = format!(
        "{} imports {} at byte {}",
        usage.opcode, usage.name, usage.offset
    );
    match &usage.hit {
        Some(hit) if hit.severity >= Severity::High => {
            let severity = if usage.calls.is_empty() {
                hit.severity.min(Severity::High)
            } else {
                hit.severity
            };
            Finding::new(
                Rule::DangerousGlobal,
                format!("{imported}{calls} ({}: {})", hit.category, hit.why),
            )
            .severity(severity)
        }
        _ if usage.program_call => Finding::new(
            Rule::ProgramCall,
            format!(
                "{imported}{calls}: a function, not a class, called: a program step{}",
                usage
                    .hit
                    .as_ref()
                    .map(|h| format!(" ({}: {})", h.category, h.why))
                    .unwrap_or_default()
            ),
        ),
        Some(hit) => Finding::new(
            Rule::NonAllowlistedGlobal,
            format!(
                "{imported}{calls}: not in the data allowlist ({}: {})",
                hit.category, hit.why
            ),
        )
        .severity(Severity::Medium),
        None => Finding::new(
            Rule::NonAllowlistedGlobal,
            format!("{imported}{calls}: not in the data allowlist"),
        ),
    }
}

/// The global a callable is: itself, or for `torch.load`'s legacy format a
/// `('module', <class>, source file, source)` persistent id, which
/// `persistent_load` answers with the class it names.
fn resolve_callable<'g, 'a>(g: &'g Graph<'a>, v: Value, loader: Loader) -> Option<&'g Global<'a>> {
    if let Some(gl) = g.global(v) {
        return Some(gl);
    }
    match (loader, g.opaque(v).map(|o| &o.origin)) {
        (Loader::Torch, Some(Origin::Persistent { pid })) => module_pid(g, *pid),
        (Loader::TorchTar, Some(Origin::Persistent { pid })) => {
            g.tuple(*pid).and_then(|items| g.global(*items.first()?))
        }
        _ => None,
    }
}

fn module_pid<'g, 'a>(g: &'g Graph<'a>, pid: Value) -> Option<&'g Global<'a>> {
    let items = g.tuple(pid)?;
    if items.len() == 4 && g.str(items[0]).as_deref() == Some("module") {
        return g.global(items[1]);
    }
    None
}

fn limit_name(l: EngineLimit) -> &'static str {
    l.name()
}

/// What is wrong with a legacy tar persistent id, if anything: a storage key
/// (`deserialized_objects[int(saved_id)]`) or a `(class, file, source)` tuple.
fn tar_pid_problem(g: &Graph<'_>, pid: Value) -> Option<String> {
    if let Some(items) = g.tuple(pid) {
        return match items.first() {
            Some(first) if g.global(*first).is_some() => None,
            _ => Some("a tuple whose first item is not a class".into()),
        };
    }
    if g.int(pid).is_some() || g.str(pid).is_some_and(|s| s.trim().parse::<i64>().is_ok()) {
        return None;
    }
    Some("not a storage key".into())
}

/// What is wrong with a torch persistent id, if anything: it must be
/// `('storage', <storage class>, key, location, numel[, view])`.
fn storage_pid_problem(g: &Graph<'_>, pid: Value) -> Option<String> {
    let Some(items) = g.tuple(pid) else {
        return Some("not a tuple".into());
    };
    let is =
        |v: &Value, want: &[u8]| matches!(g.object(*v), Some(Object::Str(s)) if &s[..] == want);
    if items.len() < 5 || items.len() > 6 || !is(&items[0], b"storage") {
        return Some("not a ('storage', type, key, location, numel) reference".into());
    }
    let storage_class = g.global(items[1]).map(torch_name);
    let ok_class = storage_class.as_deref().is_some_and(|c| {
        storage_dtype(c).is_some()
            || (c == "torch.storage.TypedStorage" && allowed(c) == Some(WoKind::Class))
    });
    if !ok_class {
        return Some(format!("{} is not a storage class", g.repr(items[1], 60)));
    }
    if g.str(items[2]).is_none() || g.str(items[3]).is_none() || g.int(items[4]).is_none() {
        return Some("key, location and element count have the wrong types".into());
    }
    None
}
