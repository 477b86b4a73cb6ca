//! TorchScript code: what the code files of a TorchScript archive
//! (`<archive>/code/**/*.py`, the Python subset `torch.jit.save` writes and
//! `torch.jit.load` compiles and runs, `__setstate__` included, at load
//! time) can reach outside the process.
//!
//! TorchScript has no `open`, no `os` and no `import`: what it reaches of
//! the file system is through operators. The operators taking a file name
//! are read from torch itself (`JIT_FILE_OPS`, generated from the JIT's
//! operator schemas by `scripts/gen_torch_tables.py`: `aten::save`,
//! `aten::from_file`). The serialised code names an operator `torch.NAME`,
//! `ops.NS.NAME` or `torch.ops.NS.NAME`. Names of Python's own
//! capabilities (`open`, `eval`, `os.system`, ...) do not compile as
//! TorchScript, but have no place in a model's code either, and other
//! loaders may run the files: they are reported the same way.
//!
//! Operators of namespaces torch does not register itself (`JIT_NAMESPACES`)
//! come from a native library loaded outside the archive; they are listed,
//! not graded: the archive is code whatever it calls.
//!
//! The reader is a tokenizer, not a parser: comments and string literals
//! are skipped, and every dotted name followed by `(` is a call.

use airlock_policy::torch_tables::{JIT_FILE_OPS, JIT_NAMESPACES};

/// A call the code makes to something that reaches outside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reach {
    /// The name as written (`torch.save`).
    pub callee: String,
    /// What it reaches, in words.
    pub what: String,
    /// 1-based line in the code file.
    pub line: usize,
}

/// What `source` calls.
pub struct Calls {
    /// Calls that reach the file system, processes, the network or native
    /// code.
    pub reaches: Vec<Reach>,
    /// Operators of namespaces torch does not register (`ns::op`), sorted.
    pub custom_ops: Vec<String>,
}

/// Python capabilities, by the name a code file would call them with.
const PYTHON: &[(&str, &str)] = &[
    ("open", "opens a file"),
    ("eval", "evaluates Python code"),
    ("exec", "executes Python code"),
    ("compile", "compiles Python code"),
    ("__import__", "imports a module"),
    ("os.", "the os module: files and processes"),
    ("subprocess.", "runs a process"),
    ("socket.", "opens a network socket"),
    ("builtins.", "Python's builtins"),
    ("importlib.", "imports a module"),
    ("ctypes.", "calls native code"),
    ("pickle.", "unpickles data"),
    ("torch.load", "loads a checkpoint with torch.load"),
    ("torch.ops.load_library", "loads a native library"),
    ("torch.classes.load_library", "loads a native library"),
];

/// Every call in `source` that reaches outside, and the custom operators.
pub fn calls(source: &str) -> Calls {
    let mut reaches = Vec::new();
    let mut custom_ops = std::collections::BTreeSet::new();
    for (callee, line) in dotted_calls(source) {
        if let Some(what) = reaches_outside(&callee) {
            reaches.push(Reach { callee, what, line });
        } else if let Some(op) = custom_op(&callee) {
            custom_ops.insert(op);
        }
    }
    Calls {
        reaches,
        custom_ops: custom_ops.into_iter().collect(),
    }
}

/// What a call to `callee` reaches, if anything outside the process.
fn reaches_outside(callee: &str) -> Option<String> {
    for (op, arg) in JIT_FILE_OPS {
        let (ns, name) = op.split_once("::").unwrap_or(("aten", op));
        let forms = [
            format!("torch.{name}"),
            format!("ops.{ns}.{name}"),
            format!("torch.ops.{ns}.{name}"),
        ];
        if forms.iter().any(|f| f == callee) {
            return Some(format!(
                "the operator {op}, whose argument {arg} names a file"
            ));
        }
    }
    PYTHON.iter().find_map(|(name, what)| {
        let hit = match name.strip_suffix('.') {
            Some(module) => callee
                .strip_prefix(module)
                .is_some_and(|r| r.starts_with('.')),
            None => callee == *name,
        };
        hit.then(|| (*what).to_string())
    })
}

/// `ns::op` for a call of an operator in a namespace torch does not
/// register (`ops.ns.op(...)`, `torch.ops.ns.op(...)`).
fn custom_op(callee: &str) -> Option<String> {
    let rest = callee
        .strip_prefix("torch.ops.")
        .or_else(|| callee.strip_prefix("ops."))?;
    let (ns, op) = rest.split_once('.')?;
    (!JIT_NAMESPACES.contains(&ns)).then(|| format!("{ns}::{op}"))
}

/// Every `a.b.c(` in `source` not preceded by `.` (an attribute of an
/// expression), with its line; comments and string literals skipped.
fn dotted_calls(source: &str) -> Vec<(String, usize)> {
    let b = source.as_bytes();
    let mut out = Vec::new();
    let (mut i, mut line) = (0, 1);
    let mut after_dot = false;
    while i < b.len() {
        let c = b[i];
        if c == b'\n' {
            line += 1;
            i += 1;
        } else if c == b'#' {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if let Some(end) = string_end(b, i) {
            line += b[i..end].iter().filter(|&&c| c == b'\n').count();
            i = end;
            after_dot = false;
            continue;
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'.') {
                i += 1;
            }
            let name = source[start..i].trim_end_matches('.');
            let mut j = i;
            while j < b.len() && (b[j] == b' ' || b[j] == b'\t') {
                j += 1;
            }
            if !after_dot && j < b.len() && b[j] == b'(' {
                out.push((name.to_string(), line));
            }
            after_dot = false;
            continue;
        } else {
            after_dot = c == b'.' || (after_dot && (c == b' ' || c == b'\t'));
            i += 1;
            continue;
        }
        after_dot = false;
    }
    out
}

/// If a string literal (with any prefix: `r`, `b`, `f`, `u`, ...) starts
/// at `i`, the index just past it (or the end of the input).
fn string_end(b: &[u8], i: usize) -> Option<usize> {
    let mut q = i;
    while q < b.len() && q - i < 2 && matches!(b[q].to_ascii_lowercase(), b'r' | b'b' | b'f' | b'u')
    {
        q += 1;
    }
    let quote = *b.get(q).filter(|&&c| c == b'"' || c == b'\'')?;
    if q > i && i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_') {
        return None; // the end of a name such as `bar"`
    }
    let triple = b.len() >= q + 3 && b[q + 1] == quote && b[q + 2] == quote;
    let mut k = if triple { q + 3 } else { q + 1 };
    while k < b.len() {
        match b[k] {
            b'\\' => k += 2,
            c if c == quote => {
                if !triple {
                    return Some(k + 1);
                }
                if b.len() >= k + 3 && b[k + 1] == quote && b[k + 2] == quote {
                    return Some(k + 3);
                }
                k += 1;
            }
            b'\n' if !triple => return Some(k),
            _ => k += 1,
        }
    }
    Some(b.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The code `torch.jit.save` wrote for a module whose `__setstate__`
    /// saves a tensor and maps a file (torch 2.15).
    const SETSTATE: &str = r#"class M(Module):
  __parameters__ = []
  __buffers__ = []
  training : bool
  w : Tensor
  def forward(self: __torch__.M,
    x: Tensor) -> Tensor:
    w = self.w
    return torch.add(x, w)
  def __setstate__(self: __torch__.M,
    state: Tuple[Tensor, bool]) -> NoneType:
    self.w = (state)[0]
    w = self.w
    torch.save(w, "airlock-marker-ts")
    _0 = torch.from_file("airlock-marker-ts2", True)
    return None
"#;

    #[test]
    fn file_operators_are_found_with_their_lines() {
        let c = calls(SETSTATE);
        let found: Vec<(&str, usize)> = c
            .reaches
            .iter()
            .map(|r| (r.callee.as_str(), r.line))
            .collect();
        assert_eq!(found, [("torch.save", 14), ("torch.from_file", 15)]);
        assert!(c.reaches[0].what.contains("aten::save"), "{:?}", c.reaches);
        assert!(c.custom_ops.is_empty());
    }

    #[test]
    fn plain_models_reach_nothing() {
        let code = "class Net(Module):\n  def forward(self: __torch__.Net, x: Tensor) -> Tensor:\n    _0 = torch.linear(x, self.weight, self.bias)\n    _1 = torch.softmax(torch.relu(_0), -1)\n    return ops.prim.NumToTensor(torch.size(_1, 0))\n";
        let c = calls(code);
        assert!(c.reaches.is_empty(), "{:?}", c.reaches);
        assert!(c.custom_ops.is_empty());
    }

    #[test]
    fn strings_comments_and_attributes_are_not_calls() {
        let code = "x = \"torch.save(a, 'f')\"  # open('/etc/passwd')\ny = '''\nos.system(\"id\")\n'''\nz = self.open(3)\nw = (a).torch.save(b)\nv = torch.save (x, f)\n";
        let c = calls(code);
        let found: Vec<(&str, usize)> = c
            .reaches
            .iter()
            .map(|r| (r.callee.as_str(), r.line))
            .collect();
        assert_eq!(found, [("torch.save", 7)]);
    }

    #[test]
    fn python_capabilities_and_operator_spellings() {
        for callee in [
            "open",
            "eval",
            "os.system",
            "subprocess.Popen",
            "ops.aten.save",
            "torch.ops.aten.from_file",
            "torch.ops.load_library",
        ] {
            let c = calls(&format!("  x = {callee}(a)\n"));
            assert_eq!(c.reaches.len(), 1, "{callee}");
        }
        for callee in [
            "opener",
            "osx.system",
            "torch.saved",
            "torch.add",
            "ops.aten.add",
        ] {
            assert!(
                calls(&format!("  x = {callee}(a)\n")).reaches.is_empty(),
                "{callee}"
            );
        }
    }

    #[test]
    fn custom_operators_are_listed() {
        let c = calls(
            "  a = ops.torchvision.nms(b, c, 0.5)\n  d = torch.ops.my_ext.run(a)\n  e = ops.aten.add(a, a)\n  f = ops.quantized.linear(a, p)\n",
        );
        assert_eq!(c.custom_ops, ["my_ext::run", "torchvision::nms"]);
        assert!(c.reaches.is_empty());
    }
}
