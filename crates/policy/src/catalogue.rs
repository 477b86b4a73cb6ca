//! The danger catalogue: grades a global that is already known not to be on
//! the data allowlist. It never makes anything safe. The data lives in
//! `data/danger.toml`, whose header documents the matching rules.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::Deserialize;

use crate::rules::Severity;

const SOURCE: &str = include_str!("../data/danger.toml");

#[derive(Debug, Deserialize)]
struct File {
    entry: Vec<EntryRow>,
    #[serde(default)]
    dunder_component: Vec<DunderRow>,
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
}

#[derive(Debug, Deserialize)]
struct DunderRow {
    component: String,
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
    aliases: Vec<(String, String)>,
    exempt: std::collections::HashSet<String>,
    entries: usize,
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
        Catalogue::parse(SOURCE).expect("data/danger.toml is valid (checked by tests)")
    })
}

impl Catalogue {
    /// Parse a catalogue in the format of `data/danger.toml`.
    pub fn parse(text: &str) -> Result<Catalogue, String> {
        let file: File = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut patterns: HashMap<String, Vec<Pattern>> = HashMap::new();
        let entries = file.entry.len();
        for e in file.entry {
            let (key, star) = match e.pattern.strip_suffix(".*") {
                Some(k) => (k.to_string(), true),
                None => (e.pattern.clone(), false),
            };
            if key.is_empty() || key.contains('*') {
                return Err(format!("invalid pattern {:?}", e.pattern));
            }
            patterns.entry(key).or_default().push(Pattern {
                star,
                hit: Hit {
                    pattern: e.pattern,
                    category: e.category,
                    severity: e.severity.into(),
                    why: e.why,
                    source: e.source,
                },
            });
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
        let aliases = file
            .module_alias
            .into_iter()
            .map(|a| (a.alias, a.canonical))
            .collect();
        let exempt = file.exempt.into_iter().map(|e| e.pattern).collect();
        Ok(Catalogue {
            patterns,
            dunders,
            aliases,
            exempt,
            entries,
        })
    }

    /// Number of `[[entry]]` rows.
    pub fn len(&self) -> usize {
        self.entries
    }

    /// Whether the catalogue has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries == 0
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
            let mut prefix = String::new();
            for (k, part) in parts[start..].iter().enumerate() {
                if k > 0 {
                    prefix.push('.');
                }
                prefix.push_str(part);
                let is_last = start + k + 1 == parts.len();
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
