//! Rendering `airlock ci` results: text with annotated source snippets,
//! JSON (schema 1, the shape of `airlock scan`'s with line and column),
//! SARIF 2.1.0 with the CI rules' documentation, and GitHub workflow
//! commands (`::error file=...,line=...,col=...::`) for annotations on pull
//! requests. Also inline suppressions.

pub use airlock_policy::text::Color;
use airlock_policy::text::paint;
use std::fmt::Write as _;

use airlock_policy::{Finding, Rule, Severity, sarif};
use serde_json::{Value as Json, json};

use crate::{CiReport, Counts};

/// The tool's version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// An inline suppression: the line it is on and the rules it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suppression {
    /// Line of the comment, 1-based.
    pub line: u32,
    /// Rule ids or names, as written.
    pub rules: Vec<String>,
}

/// The `# airlock: ignore[CI0004, release-cache]` comments of a file.
pub fn suppressions(source: &str) -> Vec<Suppression> {
    let mut out = Vec::new();
    for (i, line) in source.lines().enumerate() {
        let Some(at) = line.find("airlock: ignore[") else {
            continue;
        };
        if !line[..at].trim_end().ends_with('#') {
            continue;
        }
        let rest = &line[at + "airlock: ignore[".len()..];
        let Some(end) = rest.find(']') else { continue };
        out.push(Suppression {
            line: i as u32 + 1,
            rules: rest[..end]
                .split(',')
                .map(|r| r.trim().to_string())
                .filter(|r| !r.is_empty())
                .collect(),
        });
    }
    out
}

/// Whether a suppression on the finding's line or the line above names its
/// rule.
pub fn suppressed(ignores: &[Suppression], f: &Finding) -> bool {
    let Some(line) = f.location.line else {
        return false;
    };
    ignores.iter().any(|s| {
        (s.line == line || s.line + 1 == line)
            && s.rules
                .iter()
                .any(|r| r.eq_ignore_ascii_case(f.rule.id()) || r == f.rule.name())
    })
}

/// Whether a finding is shown: notes only with `verbose`.
pub fn shown(f: &Finding, verbose: bool) -> bool {
    verbose || f.rule.impact() != airlock_policy::Impact::Note
}

fn finding_json(f: &Finding) -> Json {
    json!({
        "rule": f.rule.id(),
        "name": f.rule.name(),
        "severity": f.severity.name(),
        "precision": f.rule.precision(),
        "message": f.message,
        "location": {"line": f.location.line, "column": f.location.column},
    })
}

/// The JSON report (schema 1).
pub fn to_json(reports: &[CiReport], verbose: bool) -> Json {
    let c = Counts::of(reports);
    json!({
        "schema": 1,
        "tool": {"name": "airlock", "version": VERSION},
        "command": "ci",
        "files": reports.iter().map(|r| json!({
            "path": r.path,
            "kind": r.kind,
            "verdict": r.verdict.name(),
            "findings": r.findings.iter().filter(|f| shown(f, verbose)).map(finding_json).collect::<Vec<_>>(),
            "suppressed": r.suppressed,
        })).collect::<Vec<_>>(),
        "summary": {
            "files": c.files,
            "safe": c.safe,
            "suspicious": c.suspicious,
            "dangerous": c.dangerous,
            "error": c.error,
            "suppressed": c.suppressed,
        },
    })
}

fn uri(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        airlock_policy::text::push_uri_char(&mut out, c);
    }
    out
}

/// The SARIF 2.1.0 log: the CI rules, and a result per finding with its
/// region.
pub fn to_sarif(reports: &[CiReport], verbose: bool) -> Json {
    let rules: Vec<Rule> = Rule::ALL.iter().copied().filter(|r| r.is_ci()).collect();
    let mut results = Vec::new();
    for r in reports {
        for f in r.findings.iter().filter(|f| shown(f, verbose)) {
            let region = json!({
                "startLine": f.location.line.unwrap_or(1),
                "startColumn": f.location.column.unwrap_or(1),
            });
            let (message, at) = (f.message.clone(), uri(&r.path));
            results.push(sarif::result(&rules, f, message, &at, region, json!({})));
        }
    }
    sarif::log(VERSION, &rules, results)
}

fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

fn gh_level(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "notice",
    }
}

/// GitHub Actions workflow commands: one annotation per finding.
pub fn to_github(reports: &[CiReport], verbose: bool) -> String {
    let mut out = String::new();
    for r in reports {
        for f in r.findings.iter().filter(|f| shown(f, verbose)) {
            let _ = writeln!(
                out,
                "::{} file={},line={},col={},title={}::{}",
                gh_level(f.severity),
                escape_property(&r.path),
                f.location.line.unwrap_or(1),
                f.location.column.unwrap_or(1),
                escape_property(&format!("{} {}", f.rule.id(), f.rule.name())),
                escape_data(&f.message)
            );
        }
    }
    out
}

fn level_word(s: Severity) -> (&'static str, &'static str) {
    match s {
        Severity::Critical | Severity::High => ("error", "1;31"),
        Severity::Medium => ("warning", "1;33"),
        Severity::Low | Severity::Info => ("note", "1;36"),
    }
}

/// How many characters to underline from `col` (1-based) in `line`: the
/// token there (a key without its colon, a scalar to the end of the line
/// without a trailing comment).
fn underline(line: &str, col: u32) -> usize {
    let rest: String = line.chars().skip(col.saturating_sub(1) as usize).collect();
    let rest = match rest.find(" #") {
        Some(i) => &rest[..i],
        None => &rest[..],
    };
    let rest = rest.trim_end();
    let rest = match rest.find(": ") {
        Some(i) => &rest[..i],
        None => rest.strip_suffix(':').unwrap_or(rest),
    };
    rest.chars().count().max(1)
}

/// The text report: each finding with its source line and a caret, then a
/// summary.
pub fn to_text(reports: &[CiReport], verbose: bool, color: Color) -> String {
    let mut out = String::new();
    for r in reports {
        let lines: Vec<&str> = r.source.lines().collect();
        for f in r.findings.iter().filter(|f| shown(f, verbose)) {
            let (word, code) = level_word(f.severity);
            let line = f.location.line.unwrap_or(1);
            let col = f.location.column.unwrap_or(1);
            let _ = writeln!(
                out,
                "{}: {}",
                paint(color, code, &format!("{word}[{}]", f.rule.id())),
                paint(color, "1", &format!("{}: {}", f.rule.name(), f.message))
            );
            let gutter = line.to_string().len();
            let _ = writeln!(out, "{:gutter$}--> {}:{line}:{col}", "", r.path);
            if let Some(text) = lines.get(line as usize - 1) {
                let text = text.replace('\t', " ");
                let _ = writeln!(out, "{:gutter$} |", "");
                let _ = writeln!(out, "{line} | {text}");
                let carets = "^".repeat(underline(&text, col));
                let _ = writeln!(
                    out,
                    "{:gutter$} | {}{}",
                    "",
                    " ".repeat(col as usize - 1),
                    paint(color, code, &carets)
                );
            }
            let _ = writeln!(
                out,
                "{:gutter$} = help: `airlock rules {}` explains the rule; `# airlock: ignore[{}]` on this line or the one above suppresses it",
                "",
                f.rule.id(),
                f.rule.id()
            );
            out.push('\n');
        }
    }
    let c = Counts::of(reports);
    let shown_count: usize = reports
        .iter()
        .map(|r| r.findings.iter().filter(|f| shown(f, verbose)).count())
        .sum();
    let notes = c.findings - shown_count;
    let mut tail = format!(
        "{} file(s) audited: {} finding(s), {} file(s) clean, {} suspicious, {} dangerous, {} error",
        c.files, shown_count, c.safe, c.suspicious, c.dangerous, c.error
    );
    if c.suppressed > 0 {
        let _ = write!(tail, "; {} suppressed inline", c.suppressed);
    }
    if notes > 0 {
        let _ = write!(
            tail,
            "; {notes} note(s) (release context) shown with --verbose"
        );
    }
    let _ = writeln!(out, "{tail}");
    out
}
