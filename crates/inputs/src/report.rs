//! Checked inputs as text, JSON (schema 1) and SARIF 2.1.0.

use airlock_policy::text::{Color, paint};
use airlock_policy::{Finding, Rule, sarif};
use serde_json::{Value as Json, json};

use crate::check::Outcome;
use crate::hit::{Action, Hit, quote};

/// The crate's version, in reports.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// One input and what the checks made of it.
#[derive(Debug, Clone)]
pub struct Checked {
    /// How the report names it: a file, `file.jsonl:3`, `argument 1`,
    /// `stdin`.
    pub name: String,
    /// The file it came from, for SARIF, and the line of that file where
    /// the input is (a JSON Lines record), if it is not the whole file.
    pub file: Option<(String, Option<u32>)>,
    /// The input.
    pub text: String,
    /// The outcome.
    pub outcome: Outcome,
}

/// 1-based line and column (in characters) of byte `at` of `text`.
pub fn line_column(text: &str, at: usize) -> (u32, u32) {
    let before = &text[..at.min(text.len())];
    let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
    let col = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    (line as u32, col as u32)
}

fn position(c: &Checked, h: &Hit) -> String {
    let (l, col) = line_column(&c.text, h.span.start);
    format!("{l}:{col}")
}

/// Text: a line per input with its verdict, then its findings.
pub fn to_text(checked: &[Checked], color: Color) -> String {
    let mut out = String::new();
    for c in checked {
        let v = c.outcome.verdict();
        let code = match v {
            "blocked" => "1;31",
            "sanitised" | "flagged" => "33",
            _ => "32",
        };
        out.push_str(&format!(
            "{} {}\n",
            paint(color, code, &format!("{v:<9}")),
            c.name
        ));
        for h in &c.outcome.hits {
            out.push_str(&format!(
                "  {} {} {} ({}, score {:.2}, {}): {}\n",
                position(c, h),
                h.rule.id(),
                h.rule.name(),
                h.severity,
                h.score,
                h.action.name(),
                h.message
            ));
        }
        if c.outcome.omitted > 0 {
            out.push_str(&format!("  ... and {} more findings\n", c.outcome.omitted));
        }
    }
    out.push_str(&summary(checked));
    out
}

fn summary(checked: &[Checked]) -> String {
    let count = |v: &str| checked.iter().filter(|c| c.outcome.verdict() == v).count();
    format!(
        "{} input{}: {} blocked, {} sanitised, {} flagged, {} clean\n",
        checked.len(),
        if checked.len() == 1 { "" } else { "s" },
        count("blocked"),
        count("sanitised"),
        count("flagged"),
        count("clean")
    )
}

fn hit_json(c: &Checked, h: &Hit) -> Json {
    let (line, column) = line_column(&c.text, h.span.start);
    json!({
        "rule": h.rule.id(),
        "name": h.rule.name(),
        "severity": h.severity.name(),
        "score": (h.score * 1000.0).round() / 1000.0,
        "action": h.action.name(),
        "start": h.span.start,
        "end": h.span.end,
        "char_start": c.text[..h.span.start].chars().count(),
        "char_end": c.text[..h.span.end].chars().count(),
        "line": line,
        "column": column,
        "message": h.message,
        "decoded": h.decoded,
        "excerpt": quote(&c.text[h.span.clone()]),
    })
}

/// The JSON of one input.
pub fn input_json(c: &Checked) -> Json {
    json!({
        "input": c.name,
        "verdict": c.outcome.verdict(),
        "valid": c.outcome.valid,
        "score": (c.outcome.score() * 1000.0).round() / 1000.0,
        "sanitized": c.outcome.sanitized,
        "changed": c.outcome.sanitized != c.text,
        "findings": c.outcome.hits.iter().map(|h| hit_json(c, h)).collect::<Vec<_>>(),
        "omitted": c.outcome.omitted,
    })
}

/// JSON: schema 1, every input, a summary.
pub fn to_json(checked: &[Checked]) -> Json {
    let count = |v: &str| checked.iter().filter(|c| c.outcome.verdict() == v).count();
    json!({
        "schema": 1,
        "tool": {"name": "airlock", "version": VERSION},
        "inputs": checked.iter().map(input_json).collect::<Vec<_>>(),
        "summary": {
            "inputs": checked.len(),
            "blocked": count("blocked"),
            "sanitised": count("sanitised"),
            "flagged": count("flagged"),
            "clean": count("clean"),
        },
    })
}

/// SARIF 2.1.0: a result per finding, located in its file (or at the
/// input's name when it has none).
pub fn to_sarif(checked: &[Checked]) -> Json {
    let rules: Vec<Rule> = Rule::ALL.iter().copied().filter(|r| r.is_input()).collect();
    let mut results = Vec::new();
    for c in checked {
        for h in &c.outcome.hits {
            let f = Finding::new(h.rule, h.message.clone()).severity(h.severity);
            let (uri, region) = region(c, h);
            results.push(sarif::result(
                &rules,
                &f,
                format!("{} ({})", h.message, h.action.name()),
                &uri,
                region,
                json!({"score": h.score, "action": h.action.name(), "input": c.name}),
            ));
        }
    }
    sarif::log(VERSION, &rules, results)
}

fn region(c: &Checked, h: &Hit) -> (String, Json) {
    let (l1, c1) = line_column(&c.text, h.span.start);
    let (l2, c2) = line_column(&c.text, h.span.end);
    match &c.file {
        Some((file, None)) => (
            uri(file),
            json!({"startLine": l1, "startColumn": c1, "endLine": l2, "endColumn": c2,
                   "charOffset": c.text[..h.span.start].chars().count(),
                   "charLength": c.text[h.span.clone()].chars().count()}),
        ),
        Some((file, Some(line))) => (uri(file), json!({"startLine": line})),
        None => (uri(&c.name), json!({"startLine": l1, "startColumn": c1})),
    }
}

/// A relative path as a URI reference (spaces and the like escaped).
fn uri(path: &str) -> String {
    path.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Whether any input is blocked (exit status 1).
pub fn any_blocked(checked: &[Checked]) -> bool {
    checked.iter().any(|c| !c.outcome.valid)
}

/// Whether any input has a finding the profile acts on.
pub fn any_acted(checked: &[Checked]) -> bool {
    checked
        .iter()
        .any(|c| c.outcome.hits.iter().any(|h| h.action != Action::Report))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_count_characters() {
        assert_eq!(line_column("ab\ncé d", 7), (2, 4));
        assert_eq!(line_column("", 0), (1, 1));
    }
}
