//! Which rule lets a pull request merge, as `trymerge.py`'s
//! `find_matching_merge_rule` decides: rules in file order, the first whose
//! three gates pass wins (every changed file matches its patterns; one of
//! its approvers approved; its mandatory checks are green). When none
//! passes, the closest rule is reported with what is missing, scored as the
//! bot scores it: matched files (0 to 9,999), then 10,000 "no approval from
//! the needed sets", 20,000 "checks pending", 30,000 "checks failed".
//!
//! Fails closed where the bot fails open: an approver list naming only
//! teams that resolve to nobody (the bot then accepts any approval) is a
//! configuration error, and an empty `approved_by` (no approval needed)
//! passes only with [`EvalOptions::allow_no_approval`].

use super::file::MergeRule;
use super::glob::{GlobError, Mode, Patterns};
use super::pr::{Check, PullRequest};

/// How rules are applied.
#[derive(Debug, Clone, Copy, Default)]
pub struct EvalOptions {
    /// How patterns are read.
    pub mode: Mode,
    /// Let a rule with an empty `approved_by` pass without approval, as
    /// the bot does.
    pub allow_no_approval: bool,
}

/// Failures of these classes are tolerated, up to the threshold.
const TOLERATED: [&str; 3] = ["FLAKY", "BROKEN_TRUNK", "UNSTABLE"];

/// Tolerated failures with `ignore_flaky_failures` (the bot's default).
const FLAKY_THRESHOLD: usize = 10;

/// One rule's result.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RuleResult {
    /// The rule's name.
    pub rule: String,
    /// Its line in the rules file.
    pub line: usize,
    /// Whether it passes.
    pub passed: bool,
    /// The bot's score (higher is closer); 40,000 when it passes.
    pub score: u32,
    /// What is missing, when it does not pass.
    pub missing: Option<String>,
}

/// What the bot would do with the pull request.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Evaluation {
    /// The rule that lets it merge, if any.
    pub merged_by: Option<String>,
    /// The closest rule when none passes.
    pub closest: Option<RuleResult>,
    /// Every rule's result, in file order (up to the one that passes).
    pub rules: Vec<RuleResult>,
}

/// Apply `rules` to `pr`.
pub fn evaluate(
    rules: &[MergeRule],
    pr: &PullRequest,
    opts: EvalOptions,
) -> Result<Evaluation, GlobError> {
    let approvers = pr.approvers();
    let mut results = Vec::new();
    for r in rules {
        let result = evaluate_rule(r, pr, &approvers, opts)?;
        let passed = result.passed;
        results.push(result);
        if passed {
            return Ok(Evaluation {
                merged_by: Some(r.name.clone()),
                closest: None,
                rules: results,
            });
        }
    }
    let closest = results
        .iter()
        .fold(None::<&RuleResult>, |best, r| match best {
            Some(b) if b.score >= r.score => Some(b),
            _ => Some(r),
        })
        .cloned();
    Ok(Evaluation {
        merged_by: None,
        closest,
        rules: results,
    })
}

fn evaluate_rule(
    r: &MergeRule,
    pr: &PullRequest,
    approvers: &[&str],
    opts: EvalOptions,
) -> Result<RuleResult, GlobError> {
    let result = |score: u32, missing: Option<String>| RuleResult {
        rule: r.name.clone(),
        line: r.line,
        passed: missing.is_none(),
        score,
        missing,
    };
    let patterns = Patterns::new(&r.patterns, opts.mode)?;
    let unmatched: Vec<&String> = pr
        .changed_files
        .iter()
        .filter(|f| !patterns.matches(f))
        .collect();
    if let Some(first) = unmatched.first() {
        let matched = (pr.changed_files.len() - unmatched.len()).min(9_999) as u32;
        return Ok(result(
            matched,
            Some(format!(
                "{} of {} changed files match none of its patterns (first: {first})",
                unmatched.len(),
                pr.changed_files.len()
            )),
        ));
    }
    if let Some(missing) = approval_missing(r, pr, approvers, opts) {
        return Ok(result(10_000, Some(missing)));
    }
    Ok(match checks_missing(r, &pr.checks) {
        Some((score, missing)) => result(score, Some(missing)),
        None => result(40_000, None),
    })
}

/// Why the rule's approval gate fails, if it does.
fn approval_missing(
    r: &MergeRule,
    pr: &PullRequest,
    approvers: &[&str],
    opts: EvalOptions,
) -> Option<String> {
    if r.approved_by.is_empty() {
        return (!opts.allow_no_approval).then(|| {
            "approved_by is empty: the bot merges without any approval (refused here unless no approval is explicitly allowed)".to_string()
        });
    }
    let mut set: Vec<&str> = Vec::new();
    let mut nobody = Vec::new();
    for a in &r.approved_by {
        if a.contains('/') {
            match pr.teams.get(a) {
                Some(members) if !members.is_empty() => {
                    set.extend(members.iter().map(String::as_str))
                }
                _ => nobody.push(a.as_str()),
            }
        } else {
            set.push(a);
        }
    }
    if set.is_empty() {
        return Some(format!(
            "configuration error: its approvers ({}) resolve to nobody, and the bot would then accept any approval",
            nobody.join(", ")
        ));
    }
    if approvers.iter().any(|a| set.contains(a)) {
        return None;
    }
    Some(format!(
        "no approval from one of: {}{}",
        r.approved_by.join(", "),
        if approvers.is_empty() {
            " (nobody has approved)".to_string()
        } else {
            format!(" (approved by {})", approvers.join(", "))
        }
    ))
}

/// The score and reason when the rule's mandatory checks are not green.
fn checks_missing(r: &MergeRule, checks: &[Check]) -> Option<(u32, String)> {
    let required = r.mandatory_checks.as_deref().unwrap_or_default();
    let mut pending: Vec<&str> = Vec::new();
    let mut failed: Vec<&str> = Vec::new();
    let mut tolerated: Vec<&str> = Vec::new();
    for name in required {
        let relevant: Vec<&Check> = checks
            .iter()
            .filter(|c| c.name.contains(name.as_str()))
            .collect();
        if relevant.is_empty() {
            pending.push(name);
        }
        for c in relevant {
            match check_state(c) {
                State::Passed | State::Ignored => {}
                State::Pending => pending.push(&c.name),
                State::Tolerable => tolerated.push(&c.name),
                State::Failed => failed.push(&c.name),
            }
        }
    }
    let threshold = if r.ignore_flaky_failures {
        FLAKY_THRESHOLD
    } else {
        0
    };
    if tolerated.len() > threshold {
        failed.extend(tolerated);
    }
    dedup(&mut failed);
    dedup(&mut pending);
    if !failed.is_empty() {
        return Some((
            30_000,
            format!("mandatory checks failed: {}", failed.join(", ")),
        ));
    }
    if !pending.is_empty() {
        return Some((
            20_000,
            format!("mandatory checks pending: {}", pending.join(", ")),
        ));
    }
    None
}

fn dedup(v: &mut Vec<&str>) {
    let mut seen = std::collections::HashSet::new();
    v.retain(|x| seen.insert(*x));
}

enum State {
    Passed,
    Pending,
    Failed,
    /// A failure classified flaky, broken trunk or unstable.
    Tolerable,
    /// A cancellation classified invalid.
    Ignored,
}

fn check_state(c: &Check) -> State {
    match c.conclusion.as_deref() {
        None => State::Pending,
        Some("SUCCESS" | "SKIPPED" | "NEUTRAL") => State::Passed,
        Some(_) => match c.classification.as_deref() {
            Some("INVALID_CANCEL") => State::Ignored,
            Some(k) if TOLERATED.contains(&k) => State::Tolerable,
            _ if c.name.contains("unstable") => State::Tolerable,
            _ => State::Failed,
        },
    }
}
