//! The danger catalogue: grades a global that is already known not to be on
//! the data allowlist. It never makes anything safe. The data lives in two
//! files: `data/danger_generated.tsv`, derived from the code of the standard
//! library, torch, NumPy, SciPy, joblib and click by `scripts/gen_danger_catalogue.py` (every
//! callable that reaches a capability sink within a few calls, under every
//! path that names it), and the hand-curated `data/danger.toml`, for what
//! static analysis cannot see (C extensions, other packages, attack
//! techniques); its header documents the matching rules.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::Deserialize;

use crate::rules::Severity;

const SOURCE: &str = include_str!("../data/danger.toml");
const GENERATED: &str = include_str!("../data/danger_generated.tsv");

#[derive(Debug, Deserialize)]
struct File {
    entry: Vec<EntryRow>,
    #[serde(default)]
    dunder_component: Vec<DunderRow>,
    #[serde(default)]
    leaf_name: Vec<LeafRow>,
    #[serde(default)]
    module_alias: Vec<AliasRow>,
    #[serde(default)]
    exempt: Vec<ExemptRow>,
}

#[derive(Debug, Deserialize)]
struct ExemptRow {
    pattern: String,
    #[allow(dead_code)]
    why: String,
}

#[derive(Debug, Deserialize)]
struct EntryRow {
    pattern: String,
    category: String,
    severity: SeverityRow,
    why: String,
    source: String,
    /// Other paths of the same object, graded alike (entries such as
    /// `posix.popen(py2)` that are notes, not paths, are left out).
    #[serde(default)]
    aliases: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct DunderRow {
    component: String,
    category: String,
    severity: SeverityRow,
    why: String,
}

/// Names of process and code-execution functions, graded whatever module
/// holds them (a misspelt, platform or attacker-chosen module).
#[derive(Debug, Deserialize)]
struct LeafRow {
    names: Vec<String>,
    category: String,
    severity: SeverityRow,
    why: String,
}

#[derive(Debug, Deserialize)]
struct AliasRow {
    alias: String,
    canonical: String,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum SeverityRow {
    Critical,
    High,
    Medium,
}

impl From<SeverityRow> for Severity {
    fn from(s: SeverityRow) -> Severity {
        match s {
            SeverityRow::Critical => Severity::Critical,
            SeverityRow::High => Severity::High,
            SeverityRow::Medium => Severity::Medium,
        }
    }
}

/// A catalogue entry that matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// The pattern (`os.*`, `builtins.eval`, or a dunder component).
    pub pattern: String,
    /// Its category (`process`, `code-exec`, ...).
    pub category: String,
    /// Its severity.
    pub severity: Severity,
    /// Why it is dangerous.
    pub why: String,
    /// Where the entry comes from.
    pub source: String,
}

#[derive(Debug)]
struct Pattern {
    star: bool,
    hit: Hit,
}

/// The parsed catalogue.
#[derive(Debug)]
pub struct Catalogue {
    patterns: HashMap<String, Vec<Pattern>>,
    dunders: HashMap<String, Hit>,
    leaves: HashMap<String, Hit>,
    aliases: Vec<(String, String)>,
    exempt: std::collections::HashSet<String>,
    entries: usize,
    generated: Generated,
}

/// The entries derived from the code: exact paths, each with the call path
/// that reaches its sink.
#[derive(Debug, Default)]
struct Generated {
    /// Definition path -> (category, evidence).
    entries: HashMap<String, (String, String)>,
    /// Other path reaching the same object -> its definition path.
    aliases: HashMap<String, String>,
    /// Module-valued attribute -> the module it is.
    modules: HashMap<String, String>,
    /// Definition path -> the other paths to the same object.
    others: HashMap<String, Vec<String>>,
}

impl Generated {
    fn parse(text: &str) -> Result<Generated, String> {
        let mut g = Generated::default();
        for (i, line) in text.lines().enumerate() {
            if line.starts_with('#') || line.is_empty() {
                continue;
            }
            let mut cols = line.split('\t');
            let (Some(path), Some(kind), Some(value), None) =
                (cols.next(), cols.next(), cols.next(), cols.next())
            else {
                return Err(format!("line {}: not three columns", i + 1));
            };
            let (path, value) = (path.to_string(), value.to_string());
            match kind {
                "=" => {
                    g.aliases.insert(path, value);
                }
                "module" => {
                    g.modules.insert(path, value);
                }
                _ => {
                    g.entries.insert(path, (kind.to_string(), value));
                }
            }
        }
        for (alias, definition) in &g.aliases {
            if !g.entries.contains_key(definition) {
                return Err(format!("{alias} names {definition}, which has no row"));
            }
            g.others
                .entry(definition.clone())
                .or_default()
                .push(alias.clone());
        }
        // One order whatever the hash seed: which alias a hit is graded
        // like shows in the finding.
        for others in g.others.values_mut() {
            others.sort();
        }
        Ok(g)
    }

    /// The path with module-valued attributes replaced by the modules they
    /// are, one step at a time (`random._os.system` → `os.system`).
    fn module_rewrites(&self, path: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut path = path.to_string();
        for _ in 0..8 {
            let parts: Vec<&str> = path.split('.').collect();
            let Some(rewritten) = (1..parts.len()).rev().find_map(|i| {
                self.modules
                    .get(&parts[..i].join("."))
                    .map(|m| format!("{m}.{}", parts[i..].join(".")))
            }) else {
                break;
            };
            out.push(rewritten.clone());
            path = rewritten;
        }
        out
    }

    /// The entry for exactly this path, or for the path with a module-valued
    /// attribute replaced by the module it is, and the definition it names.
    fn lookup(&self, path: &str) -> Option<(Hit, &str)> {
        let mut path = path.to_string();
        for _ in 0..8 {
            let definition = self.aliases.get(&path).unwrap_or(&path);
            if let Some((definition, (category, evidence))) = self.entries.get_key_value(definition)
            {
                let severity = match category.as_str() {
                    "process" | "code-exec" => Severity::Critical,
                    _ => Severity::High,
                };
                let hit = Hit {
                    pattern: path,
                    category: category.clone(),
                    severity,
                    why: format!("derived from the code: {evidence}"),
                    source: "derived from the code (scripts/gen_danger_catalogue.py)".into(),
                };
                return Some((hit, definition));
            }
            let parts: Vec<&str> = path.split('.').collect();
            let rewritten = (1..parts.len()).rev().find_map(|i| {
                self.modules
                    .get(&parts[..i].join("."))
                    .map(|m| format!("{m}.{}", parts[i..].join(".")))
            })?;
            path = rewritten;
        }
        None
    }
}

/// `a.b.c` or `a.b.*`: identifiers joined by dots.
fn is_dotted_path(s: &str) -> bool {
    let body = s.strip_suffix(".*").unwrap_or(s);
    !body.is_empty()
        && body.split('.').all(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

/// Builtins that only build plain data. A global among them is outside the
/// allowlist (so not safe) but not graded by the catalogue's `builtins.*`
/// catch-all.
const DATA_BUILTINS: &[&str] = &[
    "bool",
    "bytes",
    "dict",
    "float",
    "frozenset",
    "int",
    "list",
    "range",
    "slice",
    "str",
    "tuple",
    "object",
    "NotImplemented",
    "Ellipsis",
];

/// The catalogue shipped with Airlock.
pub fn catalogue() -> &'static Catalogue {
    static CATALOGUE: OnceLock<Catalogue> = OnceLock::new();
    CATALOGUE.get_or_init(|| {
        let mut c = Catalogue::parse(SOURCE).expect("data/danger.toml is valid (checked by tests)");
        c.generated = Generated::parse(GENERATED)
            .expect("data/danger_generated.tsv is valid (checked by tests)");
        c
    })
}

impl Catalogue {
    /// Parse a catalogue in the format of `data/danger.toml`.
    pub fn parse(text: &str) -> Result<Catalogue, String> {
        let file: File = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut patterns: HashMap<String, Vec<Pattern>> = HashMap::new();
        let entries = file.entry.len();
        for e in file.entry {
            let hit = Hit {
                pattern: e.pattern.clone(),
                category: e.category,
                severity: e.severity.into(),
                why: e.why,
                source: e.source,
            };
            let paths = e.aliases.iter().filter(|a| is_dotted_path(a));
            for path in std::iter::once(&e.pattern).chain(paths) {
                let (key, star) = match path.strip_suffix(".*") {
                    Some(k) => (k.to_string(), true),
                    None => (path.clone(), false),
                };
                if key.is_empty() || key.contains('*') {
                    return Err(format!("invalid pattern {path:?}"));
                }
                let hit = hit.clone();
                patterns.entry(key).or_default().push(Pattern { star, hit });
            }
        }
        let dunders = file
            .dunder_component
            .into_iter()
            .map(|d| {
                (
                    d.component.clone(),
                    Hit {
                        pattern: d.component,
                        category: d.category,
                        severity: d.severity.into(),
                        why: d.why,
                        source: "dunder component".into(),
                    },
                )
            })
            .collect();
        let leaves = file
            .leaf_name
            .into_iter()
            .flat_map(|row| {
                row.names.into_iter().map(move |n| {
                    let hit = Hit {
                        pattern: format!("*.{n}"),
                        category: row.category.clone(),
                        severity: row.severity.into(),
                        why: row.why.clone(),
                        source: "leaf name".into(),
                    };
                    (n, hit)
                })
            })
            .collect();
        let aliases = file
            .module_alias
            .into_iter()
            .map(|a| (a.alias, a.canonical))
            .collect();
        let exempt = file.exempt.into_iter().map(|e| e.pattern).collect();
        Ok(Catalogue {
            patterns,
            dunders,
            leaves,
            aliases,
            exempt,
            entries,
            generated: Generated::default(),
        })
    }

    /// Number of entries derived from the code (definitions, not counting
    /// the other paths that reach them).
    pub fn generated_len(&self) -> usize {
        self.generated.entries.len()
    }

    /// Number of `[[entry]]` rows.
    pub fn len(&self) -> usize {
        self.entries
    }

    /// Whether the catalogue has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// Whether danger.toml exempts this exact path (`[[exempt]]`): known to
    /// rebuild data, like TorchScript's list helpers, which its C++ pickler
    /// writes.
    pub fn is_exempt(&self, path: &str) -> bool {
        self.exempt.contains(path)
    }

    /// The most severe entry matching `module.name`, if any. `dotted` says
    /// whether the name is resolved attribute by attribute (protocol 4+).
    pub fn lookup(&self, module: &str, name: &str, dotted: bool) -> Option<Hit> {
        if self.exempt.contains(&format!("{module}.{name}")) {
            return None;
        }
        let mut best: Option<Hit> = None;
        let mut consider = |h: &Hit| {
            if best.as_ref().is_none_or(|b| h.severity > b.severity) {
                best = Some(h.clone());
            }
        };
        let mut variants: Vec<(String, String)> = vec![(module.to_string(), name.to_string())];
        for (alias, canonical) in &self.aliases {
            if module == alias {
                variants.push((canonical.clone(), name.to_string()));
            } else if let Some(rest) = module.strip_prefix(&format!("{alias}.")) {
                variants.push((format!("{canonical}.{rest}"), name.to_string()));
            }
        }
        for (m, n) in variants {
            let mut n = n.as_str();
            loop {
                self.match_path(&m, n, dotted, &mut consider);
                match [".__call__", ".__get__", ".__self__"]
                    .iter()
                    .find_map(|s| n.strip_suffix(s))
                {
                    Some(stripped) if !stripped.is_empty() => n = stripped,
                    _ => break,
                }
            }
        }
        for component in name.split('.') {
            if let Some(h) = self.dunders.get(component) {
                consider(h);
            }
        }
        if let Some(h) = name
            .rsplit('.')
            .next()
            .and_then(|leaf| self.leaves.get(leaf))
        {
            consider(h);
        }
        if let Some(h) = &best {
            let catch_all = h.pattern == "builtins.*" || h.pattern == "__builtin__.*";
            if catch_all && h.severity <= Severity::Medium && DATA_BUILTINS.contains(&name) {
                return None;
            }
        }
        best
    }

    fn match_path(&self, module: &str, name: &str, dotted: bool, consider: &mut impl FnMut(&Hit)) {
        let module_parts: Vec<&str> = module.split('.').collect();
        let name_parts: Vec<&str> = name.split('.').collect();
        let parts: Vec<&str> = module_parts
            .iter()
            .chain(name_parts.iter())
            .copied()
            .collect();
        // Start at the module, and (for dotted names) at every component of
        // the name: attribute chains can reach any module re-exported there.
        let mut starts = vec![0];
        if dotted && name_parts.len() > 1 {
            starts.extend(module_parts.len()..parts.len() - 1);
        }
        for start in starts {
            if let Some((mut hit, definition)) = self.generated.lookup(&parts[start..].join(".")) {
                // The same object under its other paths: graded like them.
                let others = self.generated.others.get(definition).into_iter().flatten();
                let mut curated: Option<Hit> = None;
                for path in std::iter::once(definition).chain(others.map(String::as_str)) {
                    let parts: Vec<&str> = path.split('.').collect();
                    self.match_curated(&parts, &mut |h: &Hit| {
                        if curated.as_ref().is_none_or(|c| h.severity > c.severity) {
                            curated = Some(h.clone());
                        }
                    });
                }
                if let Some(c) = curated.filter(|c| c.severity > hit.severity) {
                    hit.severity = c.severity;
                    if c.pattern == hit.pattern {
                        hit.why = format!("{}; {}", hit.why, c.why);
                    } else {
                        hit.why = format!(
                            "{}; graded like {} ({}: {})",
                            hit.why, c.pattern, c.category, c.why
                        );
                    }
                }
                consider(&hit);
            }
            self.match_curated(&parts[start..], consider);
            // The hand-curated patterns apply under module aliases too.
            for path in self.generated.module_rewrites(&parts[start..].join(".")) {
                let parts: Vec<&str> = path.split('.').collect();
                self.match_curated(&parts, consider);
            }
        }
    }

    /// The hand-curated patterns matching a path, the most specific first
    /// (of equally severe hits, the first considered is kept).
    fn match_curated(&self, parts: &[&str], consider: &mut impl FnMut(&Hit)) {
        for k in (0..parts.len()).rev() {
            let prefix = parts[..=k].join(".");
            let is_last = k + 1 == parts.len();
            if let Some(list) = self.patterns.get(&prefix) {
                for p in list {
                    // "a.b.*" needs something below a.b; "a.b" matches a.b itself too.
                    if !p.star || !is_last {
                        consider(&p.hit);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sev(m: &str, n: &str, dotted: bool) -> Option<Severity> {
        catalogue().lookup(m, n, dotted).map(|h| h.severity)
    }

    #[test]
    fn catalogue_parses_and_is_large() {
        assert!(catalogue().len() > 400);
    }

    #[test]
    fn grades_the_classics() {
        assert_eq!(sev("os", "system", false), Some(Severity::Critical));
        assert_eq!(sev("posix", "system", false), Some(Severity::Critical));
        assert_eq!(sev("builtins", "eval", false), Some(Severity::Critical));
        assert_eq!(sev("subprocess", "Popen", false), Some(Severity::Critical));
        assert_eq!(
            sev(
                "asyncio.unix_events",
                "_UnixSubprocessTransport._start",
                true
            ),
            Some(Severity::Critical)
        );
        assert_eq!(sev("runpy", "_run_code", false), Some(Severity::Critical));
        assert_eq!(
            sev("torch.utils", "collect_env.run", true),
            sev("torch.utils.collect_env", "run", false)
        );
    }

    #[test]
    fn command_and_code_names_are_graded_in_any_module() {
        // A misspelt module (a published bypass attempt), a platform module
        // no entry names, a module the attacker had installed.
        assert_eq!(sev("osix", "system", false), Some(Severity::High));
        assert_eq!(sev("evil_pkg.shim", "popen", false), Some(Severity::High));
        assert_eq!(sev("helpers", "tools.eval", true), Some(Severity::High));
        // Only the whole last component: evaluate, systems, my_exec are not.
        assert_eq!(sev("mylib", "evaluate", false), None);
        assert_eq!(sev("mylib", "systems", false), None);
        assert_eq!(sev("mylib", "exec.helper", true), None);
        // What a pattern grades higher keeps its grade.
        assert_eq!(sev("os", "system", false), Some(Severity::Critical));
    }

    #[test]
    fn security_tooling_is_tampering() {
        // fickling's ScannerDeactivation family: a scanner's own functions.
        assert_eq!(
            sev("fickling.hook", "remove_hook", false),
            Some(Severity::High)
        );
        assert_eq!(
            sev("modelaudit_picklescan", "scan_bytes", false),
            Some(Severity::High)
        );
        assert_eq!(sev("picklescan", "some_func", true), Some(Severity::High));
        assert_eq!(sev("airlock", "guard", false), Some(Severity::High));
        // A prefix, not a substring: other packages are not caught.
        assert_eq!(sev("ficklingx", "f", false), None);
    }

    #[test]
    fn reexports_through_dotted_names() {
        assert_eq!(
            sev("posixpath", "os.system", true),
            Some(Severity::Critical)
        );
        assert_eq!(
            sev("json", "JSONDecoder.decode.__globals__", true),
            Some(Severity::Critical)
        );
    }

    /// Globals that ordinary checkpoints and pickles contain: outside the
    /// allowlist (so suspicious), but never graded dangerous.
    #[test]
    fn common_data_globals_are_not_dangerous() {
        let common = [
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),
            ("numpy.core.multiarray", "scalar"),
            ("numpy", "dtype"),
            ("numpy", "ndarray"),
            ("copyreg", "_reconstructor"),
            ("builtins", "object"),
            ("builtins", "int"),
            ("builtins", "slice"),
            ("collections", "defaultdict"),
            ("collections", "deque"),
            ("datetime", "datetime"),
            ("decimal", "Decimal"),
            ("fractions", "Fraction"),
            ("argparse", "Namespace"),
            ("omegaconf.dictconfig", "DictConfig"),
            ("omegaconf.listconfig", "ListConfig"),
            ("omegaconf.base", "Metadata"),
            ("omegaconf.base", "ContainerMetadata"),
            ("omegaconf.nodes", "AnyNode"),
            ("typing", "Any"),
            ("pathlib", "PosixPath"),
            ("pathlib", "PurePosixPath"),
            ("uuid", "UUID"),
            ("enum", "Enum"),
            ("torch.nn.modules.linear", "Linear"),
            ("torch.nn.modules.container", "Sequential"),
            ("torch._utils", "_rebuild_nested_tensor"),
            ("torch.jit._pickle", "build_intlist"),
            ("torch.jit._pickle", "restore_type_tag"),
            ("transformers.models.bert.configuration_bert", "BertConfig"),
            ("sklearn.linear_model._logistic", "LogisticRegression"),
            ("__main__", "Net"),
        ];
        for (m, n) in common {
            let s = sev(m, n, false);
            assert!(s.is_none_or(|s| s < Severity::High), "{m}.{n} graded {s:?}");
        }
    }

    /// Gadgets nobody listed by hand, found in the code: each is dangerous,
    /// and its explanation is the call path to the sink it reaches.
    #[test]
    fn gadgets_derived_from_the_code() {
        let cases = [
            ("torch", "save", "builtins.open"),
            ("numpy", "memmap", "builtins.open"),
            ("torch.utils.benchmark", "Timer", "builtins.exec"),
            (
                "torch.utils.benchmark.utils.timer",
                "Timer",
                "builtins.exec",
            ),
            (
                "torch.fx.operator_schemas",
                "_torchscript_type_to_python_type",
                "builtins.eval",
            ),
            (
                "torch.fx.operator_schemas",
                "get_signature_for_torch_op",
                "builtins.eval",
            ),
            (
                "torch.fx.graph_module",
                "_exec_with_source",
                "builtins.exec",
            ),
            ("numpy.lib._npyio_impl", "load", "pickle.load"),
            ("numpy.lib.format", "read_array", "pickle.load"),
            ("torch.utils.model_zoo", "load_url", "torch.load"),
            (
                "torch.utils.data.datapipes.datapipe",
                "_DataPipeSerializationWrapper",
                "pickle.loads",
            ),
            (
                "torch.utils.data.datapipes.datapipe",
                "_IterDataPipeSerializationWrapper.__setstate__",
                "pickle.loads",
            ),
        ];
        for (m, n, sink) in cases {
            let hit = catalogue()
                .lookup(m, n, true)
                .unwrap_or_else(|| panic!("{m}.{n} not graded"));
            assert!(hit.severity >= Severity::High, "{m}.{n}: {hit:?}");
            assert!(
                hit.why.starts_with("derived from the code: ") && hit.why.contains(sink),
                "{m}.{n}: {}",
                hit.why
            );
        }
        // Already listed by hand: dangerous either way.
        assert_eq!(
            sev("torch.storage", "_load_from_bytes", false),
            Some(Severity::Critical)
        );
    }

    /// C functions are invisible to the analysis of Python sources: they are
    /// listed by hand.
    #[test]
    fn c_level_file_access_is_dangerous() {
        for (m, n) in [
            ("torch", "from_file"),
            ("torch", "UntypedStorage.from_file"),
            ("torch", "FloatStorage.from_file"),
            ("torch.storage", "TypedStorage.from_file"),
            ("numpy", "fromfile"),
            ("numpy._core.multiarray", "fromfile"),
        ] {
            let s = sev(m, n, true);
            assert!(
                s.is_some_and(|s| s >= Severity::High),
                "{m}.{n} graded {s:?}"
            );
        }
    }

    /// Every path that reaches the same object is graded the same.
    #[test]
    fn reexports_are_graded_identically() {
        let pairs = [
            (("numpy", "load"), ("numpy.lib._npyio_impl", "load")),
            (
                ("torch.utils.model_zoo", "load_url"),
                ("torch.hub", "load_state_dict_from_url"),
            ),
            (("torch", "save"), ("torch.serialization", "save")),
            (("numpy", "memmap"), ("numpy._core.memmap", "memmap")),
            (
                ("numpy.lib.format", "read_array"),
                ("numpy.lib._format_impl", "read_array"),
            ),
            (
                ("torch.utils.benchmark", "Timer"),
                ("torch.utils.benchmark.utils.timer", "Timer"),
            ),
        ];
        for ((m1, n1), (m2, n2)) in pairs {
            let (a, b) = (sev(m1, n1, false), sev(m2, n2, false));
            assert!(a.is_some_and(|s| s >= Severity::High), "{m1}.{n1}: {a:?}");
            assert_eq!(a, b, "{m1}.{n1} and {m2}.{n2}");
        }
        // Through a dotted name and a module-valued attribute.
        assert_eq!(
            sev("torch.utils", "model_zoo.load_url", true),
            sev("torch.utils.model_zoo", "load_url", false)
        );
        let np_alias = catalogue()
            .generated
            .modules
            .iter()
            .find(|(_, m)| *m == "numpy");
        if let Some((alias, _)) = np_alias {
            let (m, attr) = alias.rsplit_once('.').unwrap();
            assert_eq!(
                sev(m, &format!("{attr}.lib.format.read_array"), true),
                sev("numpy.lib.format", "read_array", false),
                "{alias}"
            );
        }
    }

    /// A module reached under another module's attribute (`random._os` is
    /// `os`) is graded by the hand-curated patterns too.
    #[test]
    fn curated_patterns_apply_under_module_aliases() {
        for (m, n, direct) in [
            ("random", "_os.system", ("os", "system")),
            ("argparse", "_os.system", ("os", "system")),
            ("tempfile", "_os.system", ("os", "system")),
            ("enum", "bltns.eval", ("builtins", "eval")),
            ("tempfile", "_shutil.rmtree", ("shutil", "rmtree")),
        ] {
            let s = sev(m, n, true);
            assert!(s.is_some_and(|s| s >= Severity::High), "{m}.{n}: {s:?}");
            assert_eq!(s, sev(direct.0, direct.1, false), "{m}.{n}");
        }
    }

    /// Gadgets of the libraries installed beside torch (derived from SciPy's
    /// and click's code, or curated where the package is not walked), and
    /// `help`, which imports the module a name names.
    #[test]
    fn gadgets_beside_torch_are_dangerous() {
        for (m, n, at_least) in [
            (
                "scipy.stats._distn_infrastructure",
                "rv_continuous",
                Severity::Critical,
            ),
            (
                "scipy.stats._continuous_distns",
                "norm_gen",
                Severity::Critical,
            ),
            ("click", "edit", Severity::Critical),
            ("click.utils", "open_file", Severity::High),
            ("dotenv.cli", "run_command", Severity::Critical),
            ("builtins", "help", Severity::High),
            ("_sitebuiltins", "_Helper", Severity::High),
            // An entry's aliases are graded like it.
            ("click.termui", "edit", Severity::Critical),
            (
                "aiobotocore.credentials",
                "AioProcessProvider",
                Severity::Critical,
            ),
            (
                "botocore.vendored.six.moves",
                "getoutput",
                Severity::Critical,
            ),
            // six.moves names standard modules under its own paths.
            ("six.moves.builtins", "eval", Severity::Critical),
            (
                "botocore.vendored.six.moves.cPickle",
                "loads",
                Severity::High,
            ),
            ("_pytest._py.path", "LocalPath.sysexec", Severity::Critical),
        ] {
            let s = sev(m, n, false);
            assert!(s.is_some_and(|s| s >= at_least), "{m}.{n}: {s:?}");
        }
    }

    /// Nothing the data allowlist accepts is graded by the entries derived
    /// from the code, and construction or state of torch modules is not
    /// dangerous.
    #[test]
    fn derived_entries_spare_data_globals() {
        let names = crate::torch_tables::ALLOWED.iter().map(|(n, _)| *n).chain(
            crate::torch_tables::DEFAULT_USER_ALLOWED
                .iter()
                .map(|(n, _)| *n),
        );
        for name in names {
            let (m, n) = name.rsplit_once('.').unwrap_or(("builtins", name));
            if let Some(h) = catalogue().lookup(m, n, false) {
                assert!(!h.why.starts_with("derived from the code"), "{name}: {h:?}");
            }
        }
        for (m, n) in [
            ("torch.nn.modules.module", "Module"),
            ("torch.nn.modules.module", "Module.__setstate__"),
            ("torch.nn.modules.module", "Module.__init__"),
            ("torch.nn.modules.linear", "Linear.__setstate__"),
            ("torch.nn", "Linear"),
            ("torch.nn.modules.conv", "Conv2d"),
            ("torch.nn.modules.batchnorm", "BatchNorm2d"),
            ("torch.nn.modules.activation", "ReLU"),
            ("torch.nn.parameter", "Parameter"),
            ("torch._tensor", "Tensor"),
            ("torch", "Size"),
            ("torch", "device"),
            ("collections", "OrderedDict"),
            ("collections", "Counter"),
            ("pathlib", "Path"),
            ("pathlib", "WindowsPath"),
            ("typing", "TypeVar"),
            ("functools", "partial"),
            ("enum", "IntEnum"),
        ] {
            let s = sev(m, n, true);
            assert!(s.is_none_or(|s| s < Severity::High), "{m}.{n} graded {s:?}");
        }
        assert!(catalogue().generated_len() > 500);
    }

    #[test]
    fn ordinary_names_are_not_graded() {
        assert_eq!(sev("myproject.code.models", "Net", false), None);
        assert_eq!(sev("__main__", "Net", false), None);
        assert_eq!(sev("numpy.core.multiarray", "scalar", false), None);
        assert_eq!(sev("argparse", "Namespace", false), None);
        assert_eq!(sev("builtins", "frozenset", false), None);
        assert_eq!(sev("collections", "defaultdict", false), None);
    }
}
