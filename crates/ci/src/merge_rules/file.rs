//! `merge_rules.yaml`, read as the merge bot reads it: a YAML list of rule
//! mappings splatted into a dataclass, so an unknown key or a missing
//! required one refuses the whole file. `name`, `patterns`, `approved_by`
//! and `mandatory_checks_name` are required (the last may be null);
//! `ignore_flaky_failures` defaults to true.

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;
use yaml_rust2::{Yaml, YamlLoader};

/// One rule, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeRule {
    /// Its name.
    pub name: String,
    /// Globs every changed file must match one of.
    pub patterns: Vec<String>,
    /// Logins, and `org/team` slugs (anything with a `/`).
    pub approved_by: Vec<String>,
    /// Check names that must be green (matched by substring); `None` when
    /// null.
    pub mandatory_checks: Option<Vec<String>>,
    /// Whether up to ten flaky, broken-trunk or unstable failures are
    /// tolerated.
    pub ignore_flaky_failures: bool,
    /// The 1-based line of the rule's first key.
    pub line: usize,
}

/// Why a rules file cannot be read (the bot refuses every merge then).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RulesError {
    /// Not YAML.
    #[error("not YAML: {0}")]
    Yaml(String),
    /// The bot takes a missing or empty file for "no rules are defined".
    #[error("no rules are defined: the merge bot refuses every merge")]
    Empty,
    /// Not a list of mappings, or a field of the wrong type.
    #[error("line {line}: {what}")]
    Shape {
        /// Where.
        line: usize,
        /// What is wrong.
        what: String,
    },
}

const KEYS: [&str; 5] = [
    "name",
    "patterns",
    "approved_by",
    "mandatory_checks_name",
    "ignore_flaky_failures",
];

/// Read a rules file's text.
pub fn parse(text: &str) -> Result<Vec<MergeRule>, RulesError> {
    let docs = YamlLoader::load_from_str(text).map_err(|e| RulesError::Yaml(e.to_string()))?;
    let lines = item_lines(text);
    let items = match docs.first() {
        None | Some(Yaml::Null) => return Err(RulesError::Empty),
        Some(Yaml::Array(items)) if items.is_empty() => return Err(RulesError::Empty),
        Some(Yaml::Array(items)) => items,
        Some(_) => {
            return Err(RulesError::Shape {
                line: 1,
                what: "the file is not a list of rules".into(),
            });
        }
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| rule(item, lines.get(i).copied().unwrap_or(1)))
        .collect()
}

fn rule(item: &Yaml, line: usize) -> Result<MergeRule, RulesError> {
    let shape = |what: String| RulesError::Shape { line, what };
    let Yaml::Hash(map) = item else {
        return Err(shape("a rule that is not a mapping".into()));
    };
    for k in map.keys() {
        match k.as_str() {
            Some(k) if KEYS.contains(&k) => {}
            _ => {
                return Err(shape(format!(
                    "unknown key {k:?}: the merge bot refuses the file (MergeRule takes {})",
                    KEYS.join(", ")
                )));
            }
        }
    }
    let get = |k: &str| map.get(&Yaml::String(k.to_string()));
    let required = |k: &str| {
        get(k).ok_or_else(|| shape(format!("missing key {k}: the merge bot refuses the file")))
    };
    let name = match required("name")? {
        Yaml::String(s) => s.clone(),
        other => return Err(shape(format!("name is not a string: {other:?}"))),
    };
    let strings = |k: &str, v: &Yaml| -> Result<Vec<String>, RulesError> {
        match v {
            Yaml::Array(a) => a
                .iter()
                .map(|x| {
                    scalar(x).ok_or_else(|| {
                        shape(format!("rule {name:?}: {k} holds {x:?}, not a string"))
                    })
                })
                .collect(),
            other => Err(shape(format!(
                "rule {name:?}: {k} is not a list: {other:?}"
            ))),
        }
    };
    let patterns = strings("patterns", required("patterns")?)?;
    let approved_by = strings("approved_by", required("approved_by")?)?;
    let mandatory_checks = match required("mandatory_checks_name")? {
        Yaml::Null => None,
        v => Some(strings("mandatory_checks_name", v)?),
    };
    let ignore_flaky_failures = match get("ignore_flaky_failures") {
        None => true,
        Some(Yaml::Boolean(b)) => *b,
        Some(other) => {
            return Err(shape(format!(
                "rule {name:?}: ignore_flaky_failures is not a boolean: {other:?}"
            )));
        }
    };
    Ok(MergeRule {
        name,
        patterns,
        approved_by,
        mandatory_checks,
        ignore_flaky_failures,
        line,
    })
}

/// A scalar as the string Python's YAML loader would give, for list items
/// (a login that looks like a number is still a name).
fn scalar(y: &Yaml) -> Option<String> {
    match y {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The line of each item of the top-level list, in order.
fn item_lines(text: &str) -> Vec<usize> {
    struct Lines {
        depth: usize,
        lines: Vec<usize>,
    }
    impl MarkedEventReceiver for Lines {
        fn on_event(&mut self, ev: Event, mark: Marker) {
            match ev {
                Event::SequenceStart(..) | Event::MappingStart(..) => {
                    if self.depth == 1 {
                        self.lines.push(mark.line());
                    }
                    self.depth += 1;
                }
                Event::SequenceEnd | Event::MappingEnd => self.depth = self.depth.saturating_sub(1),
                Event::Scalar(..) | Event::Alias(..) if self.depth == 1 => {
                    self.lines.push(mark.line());
                }
                _ => {}
            }
        }
    }
    let mut r = Lines {
        depth: 0,
        lines: Vec::new(),
    };
    let _ = Parser::new_from_str(text).load(&mut r, false);
    r.lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_are_read_with_their_lines() {
        let rules = parse(
            "- name: Docs\n  patterns:\n  - docs/**\n  approved_by: [svekars]\n  mandatory_checks_name: null\n\n- name: Any\n  patterns: ['*']\n  approved_by: []\n  mandatory_checks_name: [Lint]\n  ignore_flaky_failures: false\n",
        )
        .unwrap();
        assert_eq!(rules.len(), 2);
        assert_eq!((rules[0].name.as_str(), rules[0].line), ("Docs", 1));
        assert_eq!(rules[0].mandatory_checks, None);
        assert!(rules[0].ignore_flaky_failures);
        assert_eq!((rules[1].name.as_str(), rules[1].line), ("Any", 7));
        assert_eq!(
            rules[1].mandatory_checks.as_deref(),
            Some(&["Lint".to_string()][..])
        );
        assert!(!rules[1].ignore_flaky_failures);
    }

    #[test]
    fn the_bot_refuses_what_its_dataclass_refuses() {
        let base = "- name: A\n  patterns: [a]\n  approved_by: [x]\n";
        assert!(
            matches!(parse(base), Err(RulesError::Shape { what, .. }) if what.contains("missing key mandatory_checks_name"))
        );
        let extra = format!("{base}  mandatory_checks_name: null\n  approvers: [y]\n");
        assert!(
            matches!(parse(&extra), Err(RulesError::Shape { what, .. }) if what.contains("unknown key"))
        );
        assert_eq!(parse(""), Err(RulesError::Empty));
        assert_eq!(parse("[]"), Err(RulesError::Empty));
        assert!(matches!(parse("a: b"), Err(RulesError::Shape { .. })));
    }
}
