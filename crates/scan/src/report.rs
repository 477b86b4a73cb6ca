//! Rendering scan results: one finding model, three renderers.
//!
//! - JSON, schema 1 (the contract in the project's design notes: keys may be
//!   added, the documented ones stay);
//! - SARIF 2.1.0 for code-scanning services, with every rule's help text;
//! - text for people: one line per file, details on request.

use std::fmt::Write as _;

use airlock_policy::{Finding, Rule, Severity, Verdict};
use serde_json::{Value as Json, json};

use crate::FileReport;

/// The tool's version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Counts of verdicts.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Files reported.
    pub files: usize,
    /// Safe files.
    pub safe: usize,
    /// Suspicious files.
    pub suspicious: usize,
    /// Dangerous files.
    pub dangerous: usize,
    /// Files with errors.
    pub error: usize,
}

impl Summary {
    /// Count the verdicts of some reports.
    pub fn of(reports: &[FileReport]) -> Summary {
        let mut s = Summary {
            files: reports.len(),
            ..Summary::default()
        };
        for r in reports {
            match r.verdict {
                Verdict::Safe => s.safe += 1,
                Verdict::Suspicious => s.suspicious += 1,
                Verdict::Dangerous => s.dangerous += 1,
                Verdict::Error => s.error += 1,
            }
        }
        s
    }

    /// The exit status the command-line contract gives: 0 when every file
    /// is safe, 1 when some file is suspicious or dangerous, 2 otherwise
    /// when some file is an error.
    pub fn exit_code(&self) -> i32 {
        if self.dangerous + self.suspicious > 0 {
            1
        } else if self.error > 0 {
            2
        } else {
            0
        }
    }
}

fn finding_json(f: &Finding) -> Json {
    json!({
        "rule": f.rule.id(),
        "name": f.rule.name(),
        "severity": f.severity.name(),
        "message": f.message,
        "location": {
            "member": f.location.member,
            "offset": f.location.offset,
        },
    })
}

/// The JSON report (schema 1).
pub fn to_json(reports: &[FileReport]) -> Json {
    let s = Summary::of(reports);
    json!({
        "schema": 1,
        "tool": {"name": "airlock", "version": VERSION},
        "files": reports.iter().map(|r| {
            let mut file = json!({
                "path": r.path,
                "format": r.format.name(),
                "verdict": r.verdict.name(),
                "weights_only": r.weights_only,
                "weights_only_reason": r.weights_only_reason,
                "findings": r.findings.iter().map(finding_json).collect::<Vec<_>>(),
                "size": r.size,
                "bytes_read": r.bytes_read,
            });
            if let Some(c) = r.compression {
                file["compression"] = json!(c);
            }
            file
        }).collect::<Vec<_>>(),
        "summary": {
            "files": s.files,
            "safe": s.safe,
            "suspicious": s.suspicious,
            "dangerous": s.dangerous,
            "error": s.error,
        },
    })
}

fn sarif_level(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "note",
    }
}

fn security_severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "3.0",
        Severity::Info => "1.0",
    }
}

fn uri(path: &str) -> String {
    let p = path.strip_prefix("./").unwrap_or(path);
    p.chars()
        .map(|c| match c {
            ' ' => "%20".to_string(),
            '%' => "%25".to_string(),
            '#' => "%23".to_string(),
            '?' => "%3F".to_string(),
            c => c.to_string(),
        })
        .collect()
}

/// The SARIF 2.1.0 log.
pub fn to_sarif(reports: &[FileReport]) -> Json {
    let rules: Vec<Json> = Rule::ALL
        .iter()
        .map(|r| {
            json!({
                "id": r.id(),
                "name": r.name(),
                "shortDescription": {"text": r.summary()},
                "fullDescription": {"text": r.summary()},
                "help": {"text": r.doc(), "markdown": r.doc()},
                "defaultConfiguration": {"level": sarif_level(r.severity())},
                "properties": {
                    "tags": ["security", "machine-learning", "supply-chain"],
                    "security-severity": security_severity(r.severity()),
                    "precision": "high",
                },
            })
        })
        .collect();
    let mut results = Vec::new();
    for r in reports {
        for f in &r.findings {
            let index = Rule::ALL.iter().position(|x| *x == f.rule).unwrap_or(0);
            let mut message = f.message.clone();
            if let Some(m) = &f.location.member {
                message = format!("{m}: {message}");
            }
            // Code-scanning services want a line-based region; model files
            // are binary, so the alert sits at the file's start and the byte
            // offset is in the message and the properties.
            let physical = json!({
                "artifactLocation": {"uri": uri(&r.path)},
                "region": {"startLine": 1},
            });
            if let Some(o) = f.location.offset {
                message = format!("{message} (byte {o})");
            }
            results.push(json!({
                "ruleId": f.rule.id(),
                "ruleIndex": index,
                "level": sarif_level(f.severity),
                "message": {"text": message},
                "locations": [{"physicalLocation": physical}],
                "properties": {
                    "severity": f.severity.name(),
                    "verdict": r.verdict.name(),
                    "format": r.format.name(),
                    "member": f.location.member,
                    "offset": f.location.offset,
                },
            }));
        }
    }
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "airlock",
                "version": VERSION,
                "informationUri": "https://github.com/airlock-ml/airlock",
                "rules": rules,
            }},
            "results": results,
            "columnKind": "unicodeCodePoints",
        }],
    })
}

/// Colours for the text report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Color {
    /// Plain text.
    Never,
    /// ANSI colours.
    Always,
}

fn paint(color: Color, code: &str, text: &str) -> String {
    match color {
        Color::Never => text.to_string(),
        Color::Always => format!("\x1b[{code}m{text}\x1b[0m"),
    }
}

fn verdict_code(v: Verdict) -> &'static str {
    match v {
        Verdict::Safe => "32",
        Verdict::Suspicious => "33",
        Verdict::Error => "35",
        Verdict::Dangerous => "1;31",
    }
}

fn location(f: &Finding) -> String {
    match (&f.location.member, f.location.offset) {
        (Some(m), Some(o)) => format!(" [{m} @ {o}]"),
        (Some(m), None) => format!(" [{m}]"),
        (None, Some(o)) => format!(" [@ {o}]"),
        (None, None) => String::new(),
    }
}

/// The text report: one line per file, and every finding with `verbose`.
pub fn to_text(reports: &[FileReport], verbose: bool, color: Color) -> String {
    let mut out = String::new();
    let width = reports
        .iter()
        .map(|r| r.path.chars().count())
        .max()
        .unwrap_or(0)
        .min(60);
    for r in reports {
        let verdict = paint(
            color,
            verdict_code(r.verdict),
            &format!("{:<10}", r.verdict.name()),
        );
        let wo = match r.weights_only {
            Some(true) => ", weights_only: yes",
            Some(false) => ", weights_only: no",
            None => "",
        };
        let reason = match r.main_finding() {
            Some(f) if r.verdict != Verdict::Safe || verbose => format!("  {}", one_line(r, f)),
            _ => String::new(),
        };
        let compressed = r.compression.map(|c| format!(", {c}")).unwrap_or_default();
        let _ = writeln!(
            out,
            "{verdict} {:<width$}  ({}{compressed}{wo}){reason}",
            r.path,
            r.format.name()
        );
        if verbose {
            if let Some(reason) = &r.weights_only_reason {
                let _ = writeln!(
                    out,
                    "{:11}weights_only refusal: {}",
                    "",
                    first_line(reason, 200)
                );
            }
            for f in &r.findings {
                let sev = paint(
                    color,
                    severity_code(f.severity),
                    &format!("{:<8}", f.severity.name()),
                );
                let _ = writeln!(
                    out,
                    "{:11}{sev} {} {}: {}{}",
                    "",
                    f.rule.id(),
                    f.rule.name(),
                    f.message,
                    location(f)
                );
            }
            let _ = writeln!(out, "{:11}read {} of {} bytes", "", r.bytes_read, r.size);
        }
    }
    let s = Summary::of(reports);
    let _ = writeln!(
        out,
        "\n{} file(s): {} safe, {} suspicious, {} dangerous, {} error",
        s.files, s.safe, s.suspicious, s.dangerous, s.error
    );
    out
}

/// The main finding in one line: several globals outside the allowlist
/// are listed by name.
fn one_line(r: &FileReport, main: &Finding) -> String {
    if main.rule == Rule::NonAllowlistedGlobal {
        let names: Vec<&str> = r
            .findings
            .iter()
            .filter(|f| f.rule == Rule::NonAllowlistedGlobal)
            .filter_map(|f| f.subject.as_deref())
            .collect();
        if names.len() > 1 {
            let shown: Vec<&str> = names.iter().take(4).copied().collect();
            let more = if names.len() > shown.len() {
                format!(" and {} more", names.len() - shown.len())
            } else {
                String::new()
            };
            return format!(
                "{} {} globals outside the data allowlist: {}{more}",
                main.rule.id(),
                names.len(),
                shown.join(", ")
            );
        }
    }
    format!("{} {}", main.rule.id(), first_line(&main.message, 150))
}

fn severity_code(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "1;31",
        Severity::High => "31",
        Severity::Medium => "33",
        Severity::Low => "36",
        Severity::Info => "2",
    }
}

fn first_line(s: &str, max: usize) -> String {
    let line = s.lines().next().unwrap_or("");
    if line.chars().count() > max {
        let cut: String = line.chars().take(max).collect();
        format!("{cut}…")
    } else {
        line.to_string()
    }
}
