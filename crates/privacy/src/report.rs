//! The audit's report: text (a line per finding), JSON and SARIF, with the
//! shared rule ids PV0001 to PV0020.

use airlock_policy::{Finding as PolicyFinding, Rule, sarif};
use serde_json::{Value as Json, json};

use crate::{FileResult, Finding};

/// Airlock's version, in reports.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// One line per finding, then a summary.
pub fn to_text(results: &[FileResult]) -> String {
    let mut s = String::new();
    let (mut findings, mut files_with) = (0, 0);
    for r in results {
        if let Some(e) = &r.error {
            s.push_str(&format!("error     {}: {e}\n", r.path));
        }
        if !r.findings.is_empty() {
            files_with += 1;
        }
        if r.more_findings > 0 {
            s.push_str(&format!(
                "{}: {} more finding(s) not shown\n",
                r.path, r.more_findings
            ));
        }
        findings += r.more_findings;
        for f in &r.findings {
            findings += 1;
            s.push_str(&format!(
                "{}  {} {} ({}, {})  {}\n",
                place(f),
                f.rule.id(),
                f.rule.name(),
                f.kind,
                f.evidence,
                f.redacted.replace(|c: char| c.is_control(), "?")
            ));
        }
    }
    let bytes: u64 = results.iter().map(|r| r.bytes).sum();
    s.push_str(&format!(
        "\n{} file(s), {} of strings read: {findings} finding(s) in {files_with} file(s)\n",
        results.len(),
        human(bytes)
    ));
    s
}

fn place(f: &Finding) -> String {
    let l = &f.location;
    let mut p = l.file.clone();
    if let Some(m) = &l.member {
        p.push_str(&format!("[{m}]"));
    }
    if let Some(line) = l.line {
        p.push_str(&format!(":{line}"));
    } else if let Some(k) = &l.key {
        p.push_str(&format!(" {k}"));
    } else if let Some(o) = l.offset {
        p.push_str(&format!(" @{o}"));
    }
    p
}

fn human(b: u64) -> String {
    match b {
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / f64::from(1 << 20)),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} bytes"),
    }
}

/// The whole audit as JSON.
pub fn to_json(results: &[FileResult], problems: &[(String, String)]) -> Json {
    json!({
        "version": VERSION,
        "files": results,
        "problems": problems.iter().map(|(p, why)| json!({"path": p, "error": why})).collect::<Vec<_>>(),
    })
}

/// The findings as SARIF 2.1.0.
pub fn to_sarif(results: &[FileResult]) -> Json {
    let rules: Vec<Rule> = Rule::ALL
        .iter()
        .copied()
        .filter(|r| r.is_privacy() && !crate::audit::RULES.contains(r))
        .collect();
    let mut out = Vec::new();
    for r in results {
        for f in &r.findings {
            let pf = PolicyFinding::new(
                f.rule,
                format!("{} ({}): {}", f.kind, f.evidence, f.redacted),
            );
            let region = match (f.location.line, f.location.offset) {
                (Some(line), _) => json!({"startLine": line}),
                (None, Some(o)) if f.location.member.is_none() => json!({"byteOffset": o}),
                _ => json!({"startLine": 1}),
            };
            let props = json!({"kind": f.kind, "member": f.location.member, "key": f.location.key});
            let message = pf.message.clone();
            out.push(sarif::result(
                &rules,
                &pf,
                message,
                &uri(&f.location.file),
                region,
                props,
            ));
        }
    }
    sarif::log(VERSION, &rules, out)
}

fn uri(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.trim_start_matches("./").chars() {
        airlock_policy::text::push_uri_char(&mut out, c);
    }
    out
}
