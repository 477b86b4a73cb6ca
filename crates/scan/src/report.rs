//! Rendering scan results: one finding model, three renderers.
//!
//! - JSON, schema 1 (the contract in the project's design notes: keys may be
//!   added, the documented ones stay);
//! - SARIF 2.1.0 for code-scanning services, with every rule's help text;
//! - text for people: one line per file, details on request.

pub use airlock_policy::text::Color;
use airlock_policy::text::paint;
use std::fmt::Write as _;

use airlock_policy::{Finding, Rule, Severity, Verdict, sarif};
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
            if let Some(b) = &r.path_bytes {
                file["path_bytes"] = json!(hex(b));
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

/// A SARIF artifact URI: the path's bytes (exact, even when they are not
/// UTF-8), percent-encoded where a URI needs it.
fn uri(r: &FileReport) -> String {
    let bytes = r.path_bytes.as_deref().unwrap_or(r.path.as_bytes());
    let bytes = bytes.strip_prefix(b"./").unwrap_or(bytes);
    let raw = r.path_bytes.is_some();
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            airlock_policy::text::push_uri_char(&mut out, c);
        }
        for b in chunk.invalid() {
            debug_assert!(raw);
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Text for a terminal: control characters (which could move the cursor,
/// colour the screen or start a line that looks like another file's
/// verdict) and bidirectional and other invisible format characters are
/// shown as escapes; with `backslashes`, `\` is doubled so that a path is
/// never ambiguous.
pub fn escape_text(s: &str, backslashes: bool) -> std::borrow::Cow<'_, str> {
    let plain = |c: char| !(c.is_control() || is_format_char(c) || (backslashes && c == '\\'));
    if s.chars().all(plain) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\\' if backslashes => out.push_str("\\\\"),
            c if (c as u32) < 0x100 && !plain(c) => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if !plain(c) => out.push_str(&format!("\\u{{{:04x}}}", c as u32)),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Unicode format characters that change how text around them is shown
/// (bidirectional overrides and isolates, zero-width characters).
fn is_format_char(c: char) -> bool {
    matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}' | '\u{061c}')
}

/// The SARIF 2.1.0 log.
pub fn to_sarif(reports: &[FileReport]) -> Json {
    // Model-file rules only: the CI rules are `airlock ci`'s, the network
    // rules `airlock net`'s.
    let rules: Vec<Rule> = Rule::ALL.iter().copied().filter(|r| r.is_model()).collect();
    let mut results = Vec::new();
    for r in reports {
        for f in &r.findings {
            let mut message = f.message.clone();
            if let Some(m) = &f.location.member {
                message = format!("{m}: {message}");
            }
            // Code-scanning services want a line-based region; model files
            // are binary, so the alert sits at the file's start and the byte
            // offset is in the message and the properties.
            if let Some(o) = f.location.offset {
                message = format!("{message} (byte {o})");
            }
            let properties = json!({
                "verdict": r.verdict.name(),
                "format": r.format.name(),
                "member": f.location.member,
                "offset": f.location.offset,
            });
            let region = json!({"startLine": 1});
            results.push(sarif::result(
                &rules,
                f,
                message,
                &uri(r),
                region,
                properties,
            ));
        }
    }
    sarif::log(VERSION, &rules, results)
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
    let member = f.location.member.as_deref().map(|m| escape_text(m, true));
    match (member, f.location.offset) {
        (Some(m), Some(o)) => format!(" [{m} @ {o}]"),
        (Some(m), None) => format!(" [{m}]"),
        (None, Some(o)) => format!(" [@ {o}]"),
        (None, None) => String::new(),
    }
}

/// The text report: one line per file, and every finding with `verbose`.
pub fn to_text(reports: &[FileReport], verbose: bool, color: Color) -> String {
    let mut out = String::new();
    let paths: Vec<_> = reports.iter().map(|r| escape_text(&r.path, true)).collect();
    let width = paths
        .iter()
        .map(|p| p.chars().count())
        .max()
        .unwrap_or(0)
        .min(60);
    for (r, path) in reports.iter().zip(&paths) {
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
            path,
            r.format.name()
        );
        if verbose {
            if let Some(reason) = &r.weights_only_reason {
                let _ = writeln!(
                    out,
                    "{:11}weights_only refusal: {}",
                    "",
                    escape_text(reason, false)
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
                    escape_text(&f.message, false),
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
                escape_text(&shown.join(", "), false)
            );
        }
    }
    format!(
        "{} {}",
        main.rule.id(),
        escape_text(&first_line(&main.message, 150), false)
    )
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
