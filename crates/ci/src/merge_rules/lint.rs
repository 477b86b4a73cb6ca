//! Mistakes in a rules file: what makes the bot merge more than its
//! authors meant (catch-alls, rules needing no approval, approvers that
//! resolve to nobody), rules that can never be the one deciding, and
//! patterns the bot reads differently from a plain glob.

use std::collections::BTreeMap;

use airlock_policy::{Finding, Rule};

use super::file::MergeRule;
use super::glob::{Mode, Patterns, compat_only_witness};

/// What linting needs besides the rules.
#[derive(Debug, Clone, Default)]
pub struct LintOptions {
    /// The reading the findings are about (catch-alls differ).
    pub mode: Mode,
    /// Members of the `org/team` entries, when known: teams missing here
    /// are then reported as resolving to nobody.
    pub teams: Option<BTreeMap<String, Vec<String>>>,
}

/// Every finding for `rules`, in file order.
pub fn lint(rules: &[MergeRule], opts: &LintOptions) -> Vec<Finding> {
    let mut out = Vec::new();
    // Each rule's patterns compiled once: whether they cover every path.
    let compiled: Vec<Option<bool>> = rules
        .iter()
        .map(|r| {
            Patterns::new(&r.patterns, opts.mode)
                .ok()
                .map(|p| covers_every_path(&p))
        })
        .collect();
    for (i, r) in rules.iter().enumerate() {
        let line = u32::try_from(r.line).unwrap_or(u32::MAX);
        let at = |f: Finding| {
            let message = format!("rule {:?}: {}", r.name, f.message);
            Finding { message, ..f }.at(line, 1)
        };
        let every = match compiled[i] {
            Some(every) => every,
            None => {
                let e = Patterns::new(&r.patterns, opts.mode).err();
                let msg = e.map(|e| e.to_string()).unwrap_or_default();
                out.push(at(Finding::new(Rule::MergeRulesInvalid, msg)));
                continue;
            }
        };
        if every {
            out.push(at(catch_all(r)));
        }
        if r.approved_by.is_empty() {
            out.push(at(Finding::new(
                Rule::MergeRuleNoApproval,
                "approved_by is empty: the bot merges a pull request this rule covers without any approval",
            )));
        } else if let Some(f) = unresolved(r, opts) {
            out.push(at(f));
        }
        let earlier = rules[..i]
            .iter()
            .zip(&compiled)
            .find(|(e, every)| shadows(e, **every == Some(true), r));
        if let Some((earlier, _)) = earlier {
            out.push(at(Finding::new(
                Rule::MergeRuleShadowed,
                format!(
                    "never decides: rule {:?} (line {}) comes first, covers every path it does, with the same approvers or more and no more checks",
                    earlier.name, earlier.line
                ),
            )));
        }
        for p in &r.patterns {
            if let Some(path) = compat_only_witness(p) {
                out.push(at(Finding::new(
                    Rule::MergeRuleModeDependent,
                    format!(
                        "pattern {p:?} also matches {path:?} as the merge bot reads it (no end anchor{}), not as a whole-path glob",
                        if p.contains('?') { "; `?` is a regex quantifier" } else { "" }
                    ),
                )));
            }
        }
    }
    out
}

/// Whether patterns cover every path (probed with paths of every shape).
fn covers_every_path(patterns: &Patterns) -> bool {
    let probes = ["a", "x/y/z.py", ".github/workflows/release.yml", "setup.py"];
    probes.iter().all(|p| patterns.matches(p))
}

/// The finding for a rule that covers every path.
fn catch_all(r: &MergeRule) -> Finding {
    let who = if r.approved_by.is_empty() {
        "nobody needed".to_string()
    } else {
        r.approved_by.join(", ")
    };
    Finding::new(
        Rule::MergeRuleCatchAll,
        format!(
            "its patterns match every path: anyone among its approvers ({who}) can merge any change, workflows and release scripts included"
        ),
    )
}

/// Approvers that resolve to nobody, when the teams are known.
fn unresolved(r: &MergeRule, opts: &LintOptions) -> Option<Finding> {
    let teams = opts.teams.as_ref()?;
    let logins = r.approved_by.iter().filter(|a| !a.contains('/')).count();
    let empty: Vec<&str> = r
        .approved_by
        .iter()
        .filter(|a| a.contains('/') && teams.get(*a).is_none_or(Vec::is_empty))
        .map(String::as_str)
        .collect();
    if logins > 0 || empty.is_empty() {
        return None;
    }
    Some(Finding::new(
        Rule::MergeRuleUnresolvedApprovers,
        format!(
            "its approvers ({}) resolve to nobody: the bot then accepts an approval from anyone",
            empty.join(", ")
        ),
    ))
}

/// Whether `earlier` passes whenever `later` would: it covers `later`'s
/// patterns (the same strings, or every path), with at least its approvers
/// and at most its checks.
fn shadows(earlier: &MergeRule, every: bool, later: &MergeRule) -> bool {
    let covers = every || later.patterns.iter().all(|p| earlier.patterns.contains(p));
    let approvers = later
        .approved_by
        .iter()
        .all(|a| earlier.approved_by.contains(a));
    let checks = earlier
        .mandatory_checks
        .as_deref()
        .unwrap_or_default()
        .iter()
        .all(|c| {
            later
                .mandatory_checks
                .as_deref()
                .unwrap_or_default()
                .contains(c)
        });
    let flaky = earlier.ignore_flaky_failures || !later.ignore_flaky_failures;
    covers && approvers && checks && flaky && !later.approved_by.is_empty()
}
