//! The survey as text, JSON (schema 1) and SARIF 2.1.0.

use airlock_policy::text::{Color, paint};
use airlock_policy::{Rule, Verdict, sarif};
use serde_json::{Value as Json, json};

use crate::listeners::{Exposure, Listener, Survey};

/// The crate's version, in reports.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Whether a listener is shown: anything reachable beyond loopback or
/// identified; every socket with `all`.
fn shown(l: &Listener, all: bool) -> bool {
    all || l.exposure != Exposure::Local || l.service.is_some()
}

/// Text: one block per listener shown, then a summary.
pub fn to_text(s: &Survey, all: bool, color: Color) -> String {
    let mut out = String::new();
    for l in s.listeners.iter().filter(|l| shown(l, all)) {
        let (word, code) = match l.exposure {
            Exposure::CodeExecutionExposed => ("code-execution-exposed", "1;31"),
            Exposure::Exposed => ("exposed", "33"),
            Exposure::Local => ("local", "32"),
        };
        out.push_str(&format!("{} {}", paint(color, code, word), l.endpoint()));
        out.push_str(&format!("  ({}", l.bound.name()));
        if !l.interfaces.is_empty() {
            let on: Vec<String> = l
                .interfaces
                .iter()
                .map(|i| format!("{} {} {}", i.name, i.ip, i.class.name()))
                .collect();
            out.push_str(&format!(": {}", on.join(", ")));
        }
        out.push_str(")\n");
        match &l.process {
            Some(p) => out.push_str(&format!(
                "  process {} ({}): {}\n",
                p.pid,
                p.user.clone().unwrap_or_else(|| format!("uid {}", l.uid)),
                clip(&p.command())
            )),
            None => out.push_str(&format!("  process: not readable (uid {})\n", l.uid)),
        }
        for f in &l.findings {
            out.push_str(&format!(
                "  {} {}: {}\n",
                f.rule.id(),
                f.rule.name(),
                body(&f.message)
            ));
        }
        for e in &l.evidence {
            out.push_str(&format!("  exchange: {}\n", e.detail));
        }
    }
    out.push_str(&summary(s));
    out
}

/// The message without its leading endpoint (shown in the heading).
fn body(m: &str) -> &str {
    m.split_once(": ").map_or(m, |(_, b)| b)
}

fn clip(s: &str) -> String {
    let one: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if one.chars().count() > 160 {
        one.chars().take(157).collect::<String>() + "..."
    } else {
        one
    }
}

fn summary(s: &Survey) -> String {
    let n = |e: Exposure| s.listeners.iter().filter(|l| l.exposure == e).count();
    let mut line = format!(
        "{} listening socket(s): {} code-execution-exposed, {} exposed, {} local",
        s.listeners.len(),
        n(Exposure::CodeExecutionExposed),
        n(Exposure::Exposed),
        n(Exposure::Local)
    );
    if s.exchanges_skipped > 0 {
        line.push_str(&format!(
            "; {} socket(s) not confirmed by an exchange (at most {} per survey)",
            s.exchanges_skipped,
            crate::listeners::MAX_EXCHANGES
        ));
    }
    if s.unreadable_processes > 0 {
        line.push_str(&format!(
            "; {} process(es) of other users not readable (run as root to see every process)",
            s.unreadable_processes
        ));
    }
    line + "\n"
}

/// The JSON report.
pub fn to_json(s: &Survey, all: bool) -> Json {
    let listeners: Vec<Json> = s
        .listeners
        .iter()
        .filter(|l| shown(l, all))
        .map(|l| {
            let mut v = serde_json::to_value(l).expect("serialisable");
            v["verdict"] = json!(l.verdict.name());
            v["findings"] = l
                .findings
                .iter()
                .map(|f| {
                    json!({
                        "rule": f.rule.id(),
                        "name": f.rule.name(),
                        "severity": f.severity.name(),
                        "message": f.message,
                    })
                })
                .collect();
            v
        })
        .collect();
    json!({
        "schema": 1,
        "tool": {"name": "airlock", "version": VERSION},
        "interfaces": s.interfaces,
        "listeners": listeners,
        "unreadable_processes": s.unreadable_processes,
        "exchanges_skipped": s.exchanges_skipped,
        "summary": {
            "listeners": s.listeners.len(),
            "code_execution_exposed": s.listeners.iter().filter(|l| l.exposure == Exposure::CodeExecutionExposed).count(),
            "exposed": s.listeners.iter().filter(|l| l.exposure == Exposure::Exposed).count(),
            "local": s.listeners.iter().filter(|l| l.exposure == Exposure::Local).count(),
        },
    })
}

/// SARIF: a result per finding, located at `listener/PROTO/ADDR/PORT`.
pub fn to_sarif(s: &Survey) -> Json {
    let rules: Vec<Rule> = Rule::ALL.iter().copied().filter(|r| r.is_net()).collect();
    let mut results = Vec::new();
    for l in &s.listeners {
        let uri = format!("listener/{}/{}/{}", l.proto.name(), l.ip, l.port).replace(':', "%3A");
        for f in &l.findings {
            let props =
                json!({"exposure": l.exposure.name(), "pid": l.process.as_ref().map(|p| p.pid)});
            results.push(sarif::result(
                &rules,
                f,
                f.message.clone(),
                &uri,
                json!({"startLine": 1}),
                props,
            ));
        }
    }
    sarif::log(VERSION, &rules, results)
}

/// Counts for the exit status: (dangerous, suspicious).
pub fn counts(s: &Survey) -> (usize, usize) {
    let n = |v: Verdict| s.listeners.iter().filter(|l| l.verdict == v).count();
    (n(Verdict::Dangerous), n(Verdict::Suspicious))
}

/// Probe results as text: open endpoints (every one with `all`), then a
/// summary.
pub fn probe_text(r: &[crate::probe::Endpoint], all: bool, color: Color) -> String {
    let mut out = String::new();
    for e in r.iter().filter(|e| all || e.open) {
        let (word, code) = match (e.open, e.verdict) {
            (false, _) => ("closed", "2"),
            (true, Verdict::Dangerous) => ("code-execution-exposed", "1;31"),
            (true, Verdict::Suspicious) => ("exposed", "33"),
            _ => ("open", "0"),
        };
        out.push_str(&format!("{} tcp {}", paint(color, code, word), e.addr));
        if let Some(k) = e.service {
            out.push_str(&format!("  {}", k.describe()));
        }
        out.push('\n');
        for f in &e.findings {
            out.push_str(&format!("  {} {}\n", f.rule.id(), f.rule.name()));
        }
        for v in &e.evidence {
            out.push_str(&format!("  exchange: {}\n", v.detail));
        }
    }
    let open = r.iter().filter(|e| e.open).count();
    let n = |v: Verdict| r.iter().filter(|e| e.verdict == v).count();
    out.push_str(&format!(
        "{} endpoint(s) probed: {open} open, {} code-execution-exposed, {} exposed\n",
        r.len(),
        n(Verdict::Dangerous),
        n(Verdict::Suspicious)
    ));
    out
}

/// Probe results as JSON (schema 1).
pub fn probe_json(r: &[crate::probe::Endpoint], all: bool) -> Json {
    let endpoints: Vec<Json> = r
        .iter()
        .filter(|e| all || e.open)
        .map(|e| {
            let mut v = serde_json::to_value(e).expect("serialisable");
            v["verdict"] = json!(e.verdict.name());
            v["findings"] = e
                .findings
                .iter()
                .map(|f| json!({"rule": f.rule.id(), "name": f.rule.name(), "severity": f.severity.name(), "message": f.message}))
                .collect();
            v
        })
        .collect();
    json!({
        "schema": 1,
        "tool": {"name": "airlock", "version": VERSION},
        "endpoints": endpoints,
        "summary": {
            "probed": r.len(),
            "open": r.iter().filter(|e| e.open).count(),
            "code_execution_exposed": r.iter().filter(|e| e.verdict == Verdict::Dangerous).count(),
            "exposed": r.iter().filter(|e| e.verdict == Verdict::Suspicious).count(),
        },
    })
}

/// Probe results as SARIF: a result per finding, at `endpoint/ADDR/PORT`.
pub fn probe_sarif(r: &[crate::probe::Endpoint]) -> Json {
    let rules: Vec<Rule> = Rule::ALL.iter().copied().filter(|r| r.is_net()).collect();
    let mut results = Vec::new();
    for e in r {
        let uri = format!("endpoint/{}/{}", e.addr.ip(), e.addr.port()).replace(':', "%3A");
        for f in &e.findings {
            results.push(sarif::result(
                &rules,
                f,
                f.message.clone(),
                &uri,
                json!({"startLine": 1}),
                json!({}),
            ));
        }
    }
    sarif::log(VERSION, &rules, results)
}

/// `net lint` as text: `path:line: RULE name: message`, then a summary.
pub fn lint_text(files: &[crate::lint::FileLint], color: Color) -> String {
    let mut out = String::new();
    let mut n = 0;
    for f in files {
        for x in &f.findings {
            n += 1;
            let code = if x.rule.impact() >= airlock_policy::Impact::Suspicious {
                "33"
            } else {
                "2"
            };
            out.push_str(&format!(
                "{}:{}: {} {}: {}\n",
                f.path,
                x.location.line.unwrap_or(1),
                paint(color, code, x.rule.id()),
                x.rule.name(),
                x.message
            ));
        }
    }
    out.push_str(&format!("{n} finding(s) in {} file(s)\n", files.len()));
    out
}

/// `net lint` as JSON (schema 1).
pub fn lint_json(files: &[crate::lint::FileLint]) -> Json {
    let files: Vec<Json> = files
        .iter()
        .map(|f| {
            json!({
                "path": f.path,
                "verdict": f.verdict.name(),
                "findings": f.findings.iter().map(|x| json!({
                    "rule": x.rule.id(),
                    "name": x.rule.name(),
                    "severity": x.severity.name(),
                    "message": x.message,
                    "line": x.location.line,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({"schema": 1, "tool": {"name": "airlock", "version": VERSION}, "files": files})
}

/// `net lint` as SARIF, each finding at its file and line.
pub fn lint_sarif(files: &[crate::lint::FileLint]) -> Json {
    let rules: Vec<Rule> = Rule::ALL.iter().copied().filter(|r| r.is_net()).collect();
    let mut results = Vec::new();
    for f in files {
        let mut uri = String::new();
        for c in f.path.strip_prefix("./").unwrap_or(&f.path).chars() {
            airlock_policy::text::push_uri_char(&mut uri, c);
        }
        for x in &f.findings {
            let region = json!({"startLine": x.location.line.unwrap_or(1)});
            results.push(sarif::result(
                &rules,
                x,
                x.message.clone(),
                &uri,
                region,
                json!({}),
            ));
        }
    }
    sarif::log(VERSION, &rules, results)
}
