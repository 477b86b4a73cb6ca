//! What a torch.export program (`models/<name>.json` of a `.pt2` archive)
//! runs, judged against what torch's own writers write (torch 2.15).
//!
//! - **Symbolic expressions** (`SymExpr.expr_str`): `torch.export.load`
//!   rebuilds each with `sympy.sympify(expr_str, locals=...)`, which
//!   evaluates the text with Python's `eval` (a name it does not know
//!   becomes a symbol; a builtin such as `__import__` is called). torch
//!   writes `sympy.srepr(expr)`: calls of sympy classes (`Symbol('s0',
//!   positive=True)`, `Mul(Integer(2), ...)`), string and number literals,
//!   keyword arguments; older files `str(expr)` (`2*s0 + 1`). Anything else
//!   ([`check_expression`]) is not an expression torch wrote.
//! - **Guards** (`guards_code`): `ep.module()` pastes each into a function
//!   it compiles with `exec` (`torch/export/_unlift.py`,
//!   `_convert_guards_code_to_fn`) and runs on every call, with `torch`,
//!   `math` and two symbolic helpers in scope. torch writes them with
//!   `ShapeGuardPythonPrinter`: inputs (`L['x']`, with subscripts and
//!   attributes), `.size()`, `.stride()`, `.storage_offset()`, arithmetic,
//!   comparisons, `math.floor` and its kin, `torch.sym_float`. Anything
//!   else ([`check_guard`]) is not a guard torch wrote.
//! - **Call targets** (`Node.target`, `as_operator`): resolved by
//!   attribute lookups from `torch` (`torch.os.system` would resolve), from
//!   `operator` or from `math` (`deserialize_operator`); torch's verifier
//!   then accepts only operators (`torch.ops.*`) and the builtins and torch
//!   functions it lists ([`VERIFIER_FUNCTIONS`]). Operators that take a file
//!   name are graded as in TorchScript code; operators of namespaces torch
//!   does not register come from a library loaded outside the archive.

use airlock_policy::torch_tables::{JIT_FILE_OPS, JIT_NAMESPACES};

/// What a call target resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// An operator, `ns::name`.
    Operator(String),
    /// A higher-order operator (`torch.ops.higher_order.cond`).
    HigherOrder(String),
    /// One of the builtins and torch functions torch's verifier accepts.
    Function,
    /// An operator of a serialisation extension (`#namespace:op`), whose
    /// handler a library registers.
    Extension(String),
    /// Anything else: an attribute path torch resolves to whatever callable
    /// it reaches, which no writer produces.
    Other,
}

/// The functions other than operators that torch's verifier accepts as call
/// targets (`Verifier.allowed_builtin_ops`, `_allowed_torch_functions` in
/// `torch/_export/verifier.py`, and `_SYM_OPS` in
/// `torch/_export/serde/serialize.py`), as torch serialises them
/// (`module.name`).
pub const VERIFIER_FUNCTIONS: &[&str] = &[
    "_operator.abs",
    "_operator.add",
    "_operator.and_",
    "_operator.eq",
    "_operator.floordiv",
    "_operator.ge",
    "_operator.getitem",
    "_operator.gt",
    "_operator.le",
    "_operator.lshift",
    "_operator.lt",
    "_operator.mod",
    "_operator.mul",
    "_operator.ne",
    "_operator.neg",
    "_operator.not_",
    "_operator.or_",
    "_operator.pos",
    "_operator.pow",
    "_operator.rshift",
    "_operator.sub",
    "_operator.truediv",
    "builtins.round",
    "math.ceil",
    "math.floor",
    "math.trunc",
    "torch._C._set_grad_enabled",
    "torch._functorch.predispatch._add_batch_dim",
    "torch._functorch.predispatch._enter_dual_level",
    "torch._functorch.predispatch._exit_dual_level",
    "torch._functorch.predispatch._jvp_decrement_nesting",
    "torch._functorch.predispatch._jvp_increment_nesting",
    "torch._functorch.predispatch._make_dual",
    "torch._functorch.predispatch._remove_batch_dim",
    "torch._functorch.predispatch._unpack_dual",
    "torch._functorch.predispatch._unwrap_for_grad",
    "torch._functorch.predispatch._vmap_decrement_nesting",
    "torch._functorch.predispatch._vmap_increment_nesting",
    "torch._functorch.predispatch.lazy_load_decompositions",
    "torch._sym_sqrt",
    "torch.amp.autocast_mode._enter_autocast",
    "torch.amp.autocast_mode._exit_autocast",
    "torch.autograd.grad_mode.set_grad_enabled",
    "torch.export.custom_ops._call_custom_autograd_function_in_pre_dispatch",
    "torch.fx.experimental.symbolic_shapes.cast_symbool_to_symint_guardless",
    "torch.sym_float",
    "torch.sym_int",
    "torch.sym_ite",
    "torch.sym_max",
    "torch.sym_min",
    "torch.sym_not",
    "torch.sym_sum",
];

/// What a serialised call target is.
pub fn classify_target(target: &str) -> Target {
    if let Some(rest) = target.strip_prefix("torch.ops.") {
        let mut parts = rest.split('.');
        if let (Some(ns), Some(op)) = (parts.next(), parts.next()) {
            if !ns.is_empty() && !op.is_empty() {
                return if ns == "higher_order" {
                    Target::HigherOrder(op.to_string())
                } else {
                    Target::Operator(format!("{ns}::{op}"))
                };
            }
        }
        return Target::Other;
    }
    if VERIFIER_FUNCTIONS.contains(&target) {
        return Target::Function;
    }
    match target.strip_prefix('#') {
        Some(ext) if ext.contains(':') => Target::Extension(ext.to_string()),
        _ => Target::Other,
    }
}

/// What an operator reaches outside the process, if anything: the
/// operators whose arguments name a file (`JIT_FILE_OPS`, from torch's
/// schemas).
pub fn operator_reach(op: &str) -> Option<&'static str> {
    JIT_FILE_OPS
        .iter()
        .any(|(name, _)| *name == op)
        .then_some("takes a file name")
}

/// Whether an operator's namespace is one torch registers itself.
pub fn is_torch_namespace(op: &str) -> bool {
    let ns = op.split("::").next().unwrap_or("");
    JIT_NAMESPACES.contains(&ns)
}

/// One token of an expression or guard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok<'a> {
    Name(&'a str),
    Num,
    Str,
    Op(&'a str),
}

const OPS: &[&str] = &[
    "**", "//", "==", "!=", "<=", ">=", "<<", ">>", "+", "-", "*", "/", "%", "<", ">", "(", ")",
    "[", "]", ",", ".", "=", "&", "|", "~",
];

/// Split `s` into tokens, or say why it is not in the small Python subset
/// both grammars share (one line, ASCII names, plain literals).
fn tokens(s: &str) -> Result<Vec<Tok<'_>>, String> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b' ' || c == b'\t' {
            i += 1;
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            out.push(Tok::Name(&s[start..i]));
        } else if c.is_ascii_digit() || (c == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit))
        {
            i = number_end(b, i)?;
            out.push(Tok::Num);
        } else if c == b'\'' || c == b'"' {
            if matches!(out.last(), Some(Tok::Name(_) | Tok::Str)) {
                return Err("a prefixed or concatenated string literal".into());
            }
            i = string_end(b, i)?;
            out.push(Tok::Str);
        } else if let Some(op) = OPS.iter().find(|op| s[i..].starts_with(**op)) {
            out.push(Tok::Op(op));
            i += op.len();
        } else {
            let ch = s[i..].chars().next().unwrap_or('?');
            return Err(format!("the character {ch:?}"));
        }
    }
    Ok(out)
}

/// The end of a decimal number literal starting at `i`.
fn number_end(b: &[u8], mut i: usize) -> Result<usize, String> {
    let digits = |b: &[u8], mut i: usize| {
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        i
    };
    i = digits(b, i);
    if b.get(i) == Some(&b'.') {
        i = digits(b, i + 1);
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        i = digits(b, i);
    }
    if b.get(i)
        .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
    {
        return Err("a number literal of another form than decimal".into());
    }
    Ok(i)
}

/// The end of a one-line string literal starting at `i` (its quote).
fn string_end(b: &[u8], i: usize) -> Result<usize, String> {
    let quote = b[i];
    let mut j = i + 1;
    while j < b.len() {
        match b[j] {
            c if c == quote => return Ok(j + 1),
            b'\\' => j += 2,
            _ => j += 1,
        }
    }
    Err("an unterminated string literal".into())
}

/// The classes `sympy.srepr` writes for the expressions torch makes, and
/// the functions `GraphModuleDeserializer` adds to `sympify`'s names.
const SREPR_NAMES: &[&str] = &[
    "Symbol",
    "Dummy",
    "Integer",
    "Rational",
    "Float",
    "Add",
    "Mul",
    "Pow",
    "Mod",
    "Max",
    "Min",
    "Abs",
    "floor",
    "ceiling",
    "sqrt",
    "Eq",
    "Ne",
    "Lt",
    "Le",
    "Gt",
    "Ge",
    "Equality",
    "Unequality",
    "StrictLessThan",
    "LessThan",
    "StrictGreaterThan",
    "GreaterThan",
    "And",
    "Or",
    "Not",
    "Xor",
    "Piecewise",
    "ExprCondPair",
    "BooleanTrue",
    "BooleanFalse",
    "true",
    "false",
    "oo",
    "zoo",
    "nan",
    "Infinity",
    "NegativeInfinity",
    "NaN",
    "ComplexInfinity",
    "Zero",
    "One",
    "NegativeOne",
    "Half",
    "Tuple",
    "True",
    "False",
    "None",
    "FloorDiv",
    "ModularIndexing",
    "Where",
    "PythonMod",
    "CleanDiv",
    "CeilToInt",
    "FloorToInt",
    "CeilDiv",
    "LShift",
    "RShift",
    "PowByNatural",
    "FloatPow",
    "FloatTrueDiv",
    "IntTrueDiv",
    "IsNonOverlappingAndDenseIndicator",
    "TruncToFloat",
    "TruncToInt",
    "RoundToInt",
    "RoundDecimal",
    "ToFloat",
    "Identity",
];

/// Whether a name can stand for a symbol in `str(expr)`: letters then
/// digits (`s0`, `u12`), which no builtin is named like.
fn is_symbol_name(n: &str) -> bool {
    let letters = n.trim_end_matches(|c: char| c.is_ascii_digit());
    letters.len() < n.len()
        && !letters.is_empty()
        && letters.chars().all(|c| c.is_ascii_alphabetic())
}

/// Check a symbolic expression against what torch writes (see the module
/// documentation); the reason when it is not.
pub fn check_expression(expr: &str) -> Result<(), String> {
    let toks = tokens(expr)?;
    for (i, t) in toks.iter().enumerate() {
        match *t {
            Tok::Op(op @ ("." | "[" | "]")) => {
                return Err(format!("{op:?} (attribute access or subscript)"));
            }
            Tok::Name(n) => {
                let keyword = toks.get(i + 1) == Some(&Tok::Op("="))
                    && matches!(i.checked_sub(1).map(|p| toks[p]), Some(Tok::Op("(" | ",")));
                let ok = if keyword {
                    !n.starts_with('_')
                } else {
                    SREPR_NAMES.contains(&n)
                        || is_symbol_name(n)
                        || n.starts_with("OpaqueUnaryFn_")
                        || n.starts_with("BitwiseFn_")
                };
                if !ok {
                    return Err(format!("the name {n}"));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Names a guard uses on their own (`ShapeGuardPythonPrinter`, and the
/// scope `_convert_guards_code_to_fn` gives the code).
const GUARD_NAMES: &[&str] = &[
    "L",
    "math",
    "torch",
    "abs",
    "max",
    "min",
    "round",
    "and",
    "or",
    "not",
    "if",
    "else",
    "True",
    "False",
    "None",
    "IsNonOverlappingAndDenseIndicator",
    "cast_symbool_to_symint_guardless",
];
/// Of those, the ones a guard calls.
const GUARD_CALLS: &[&str] = &[
    "abs",
    "max",
    "min",
    "round",
    "IsNonOverlappingAndDenseIndicator",
    "cast_symbool_to_symint_guardless",
];
/// `math.<name>` in guards.
const GUARD_MATH: &[&str] = &[
    "floor", "ceil", "trunc", "cos", "cosh", "acos", "sin", "sinh", "asin", "tan", "tanh", "atan",
    "log2", "inf", "nan", "sqrt", "isnan", "isinf", "pi", "e", "exp", "log",
];
/// `torch.<name>` in guards.
const GUARD_TORCH: &[&str] = &[
    "sym_float",
    "_sym_sqrt",
    "sym_int",
    "sym_max",
    "sym_min",
    "sym_not",
    "sym_ite",
    "sym_sum",
];
/// Methods a guard calls on its inputs.
const GUARD_METHODS: &[&str] = &["size", "stride", "storage_offset", "numel", "dim"];

/// Check a guard against what torch's guard printer writes (see the module
/// documentation); the reason when it is not.
pub fn check_guard(guard: &str) -> Result<(), String> {
    let toks = tokens(guard)?;
    for (i, t) in toks.iter().enumerate() {
        let Tok::Name(n) = *t else {
            if *t == Tok::Op("=") {
                return Err("an assignment".into());
            }
            continue;
        };
        let called = toks.get(i + 1) == Some(&Tok::Op("("));
        // After a dot: an attribute of what precedes the dot.
        let owner =
            (i > 0 && toks[i - 1] == Tok::Op(".")).then(|| i.checked_sub(2).map(|p| toks[p]));
        let ok = match owner {
            Some(Some(Tok::Name("math"))) => GUARD_MATH.contains(&n),
            Some(Some(Tok::Name("torch"))) => GUARD_TORCH.contains(&n),
            // An attribute of a value (an input, a size): read, or one of
            // the methods that read its shape.
            Some(_) => !n.starts_with('_') && (!called || GUARD_METHODS.contains(&n)),
            None => {
                GUARD_NAMES.contains(&n)
                    && (!called || GUARD_CALLS.contains(&n))
                    && (!matches!(n, "math" | "torch") || toks.get(i + 1) == Some(&Tok::Op(".")))
            }
        };
        if !ok {
            let what = if called { "the call" } else { "the name" };
            return Err(format!("{what} {n}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expressions_torch_writes() {
        for ok in [
            "Symbol('s77', positive=True, integer=True)",
            "Mul(Integer(2), Symbol('s0', positive=True, integer=True))",
            "FloorDiv(Symbol('s0'), Integer(2))",
            "Float('1.5', precision=53)",
            "2*s0 + 1",
            "Max(s0, u1) >= 3",
            "OpaqueUnaryFn_sqrt(s0)",
        ] {
            assert_eq!(check_expression(ok), Ok(()), "{ok}");
        }
        for bad in [
            "__import__('os').system('id') or Symbol('s0')",
            "Symbol('s0').__class__",
            "eval('1')",
            "sympify('x')",
            "f'{x}'",
            "Symbol('s0')\nimport os",
            "lambdify(s0, s0)",
            "Symbol(_x=1)",
            "0x10",
        ] {
            assert!(check_expression(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn guards_torch_writes() {
        for ok in [
            "L['x'].size()[0] > 4",
            "L['x'].size()[0] <= 1024",
            "math.floor(L['x'].size()[0] / 2) == 3",
            "torch.sym_float(L['x'].size()[0]) >= 1.5",
            "L['inp'].feature.stride()[1] == 1 and L['inp'][0].storage_offset() == 0",
            "max(2, L['x'].size()[0]) % 2 == 0",
        ] {
            assert_eq!(check_guard(ok), Ok(()), "{ok}");
        }
        for bad in [
            "__import__('posix').system('id') == 0",
            "torch.os.system('id')",
            "torch.load('x')",
            "L['x'].numpy().tofile('/tmp/x')",
            "L['x'].untyped_storage().from_file('x', True, 8)",
            "open('x')",
            "L['x'].__class__",
            "math.__dict__",
            "x = 1",
            "getattr(L, 'x')",
            "'{}'.format(L)",
            "math",
        ] {
            assert!(check_guard(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn targets() {
        assert_eq!(
            classify_target("torch.ops.aten.linear.default"),
            Target::Operator("aten::linear".into())
        );
        assert_eq!(
            classify_target("torch.ops.higher_order.cond"),
            Target::HigherOrder("cond".into())
        );
        assert_eq!(classify_target("_operator.getitem"), Target::Function);
        assert_eq!(classify_target("torch.sym_int"), Target::Function);
        assert_eq!(classify_target("torch.os.system"), Target::Other);
        assert_eq!(classify_target("torch.ops.aten"), Target::Other);
        assert_eq!(
            classify_target("#mylib:op"),
            Target::Extension("mylib:op".into())
        );
        assert_eq!(operator_reach("aten::from_file"), Some("takes a file name"));
        assert!(is_torch_namespace("aten::add") && !is_torch_namespace("mylib::op"));
    }
}
