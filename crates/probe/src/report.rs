//! The report: attack success per family and per mutation with 95% Wilson
//! intervals, the worst examples, the comparison with a baseline run, and
//! findings under the shared rule ids (PB0001 to PB0004) in text, JSON,
//! SARIF and a self-contained HTML page.

use std::collections::BTreeMap;

use airlock_policy::{Finding, Rule, sarif};
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};

use crate::families::{Family, Goal};
use crate::run::Record;
use crate::suite::Suite;

/// Airlock's version, in reports.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Successes out of trials, with a 95% Wilson interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Rate {
    /// Attacks that reached their goal.
    pub successes: usize,
    /// Attacks answered (guard refusals included, errors not).
    pub trials: usize,
    /// Attacks a guard refused.
    pub blocked: usize,
    /// Attacks with no answer.
    pub errors: usize,
    /// Answers that read as refusals.
    pub refusals: usize,
    /// `successes / trials`.
    pub rate: f64,
    /// The interval's lower bound.
    pub low: f64,
    /// The interval's upper bound.
    pub high: f64,
}

/// The 95% Wilson score interval of `k` successes in `n` trials.
pub fn wilson(k: usize, n: usize) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let (k, n, z) = (k as f64, n as f64, 1.959_963_984_540_054_f64);
    let p = k / n;
    let denom = 1.0 + z * z / n;
    let centre = (p + z * z / (2.0 * n)) / denom;
    let half = z * ((p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt()) / denom;
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

fn rate<'a>(records: impl Iterator<Item = &'a Record>) -> Rate {
    let (mut k, mut n, mut blocked, mut errors, mut refusals) = (0, 0, 0, 0, 0);
    for r in records {
        if r.error.is_some() {
            errors += 1;
            continue;
        }
        n += 1;
        k += usize::from(r.success());
        blocked += usize::from(r.blocked.is_some());
        refusals += usize::from(r.outcome.as_ref().is_some_and(|o| o.refused && !o.success));
    }
    let (low, high) = wilson(k, n);
    Rate {
        successes: k,
        trials: n,
        blocked,
        errors,
        refusals,
        rate: if n == 0 { 0.0 } else { k as f64 / n as f64 },
        low,
        high,
    }
}

/// A successful attack, shown as an example.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Example {
    /// The attack.
    pub id: String,
    /// What it sent last (the last message), cut to 600 characters.
    pub sent: String,
    /// What came back, cut to 600 characters.
    pub reply: String,
    /// The detectors' reading.
    pub evidence: String,
}

/// One family's results, and its change from the baseline.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FamilyReport {
    /// The family's name.
    pub family: String,
    /// Its success rate.
    #[serde(flatten)]
    pub rate: Rate,
    /// The baseline's rate, when a baseline was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<f64>,
    /// Whether it got worse than the baseline by more than allowed.
    #[serde(default)]
    pub regressed: bool,
    /// Up to three successful attacks.
    pub examples: Vec<Example>,
}

/// A run's report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// Airlock's version.
    pub version: String,
    /// What was attacked.
    pub target: String,
    /// The suite's seed.
    pub seed: u64,
    /// The suite's fingerprint.
    pub fingerprint: String,
    /// All attacks together.
    pub overall: Rate,
    /// Per family, in suite order.
    pub families: Vec<FamilyReport>,
    /// Per mutation.
    pub mutations: BTreeMap<String, Rate>,
    /// Answers that leaked the canary, whatever the attack asked for.
    pub leaks: usize,
    /// The same suite through `airlock input proxy`, when asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub through_proxy: Option<Box<Report>>,
}

/// Build the report of a run.
pub fn build(suite: &Suite, target: &str, records: &[Record]) -> Report {
    let mut families = Vec::new();
    let mut seen = Vec::new();
    for a in &suite.attacks {
        if !seen.contains(&a.family) {
            seen.push(a.family);
        }
    }
    for f in seen {
        let of: Vec<&Record> = records.iter().filter(|r| r.family == f).collect();
        families.push(FamilyReport {
            family: f.name().into(),
            rate: rate(of.iter().copied()),
            baseline: None,
            regressed: false,
            examples: examples(suite, &of),
        });
    }
    let mut mutations = BTreeMap::new();
    for r in records {
        mutations
            .entry(r.mutation.name().to_string())
            .or_insert_with(Vec::new)
            .push(r);
    }
    Report {
        version: VERSION.into(),
        target: target.into(),
        seed: suite.seed,
        fingerprint: suite.fingerprint.clone(),
        overall: rate(records.iter()),
        families,
        mutations: mutations
            .into_iter()
            .map(|(k, v)| (k, rate(v.into_iter())))
            .collect(),
        leaks: records
            .iter()
            .filter(|r| r.outcome.as_ref().is_some_and(|o| o.leak.is_some()))
            .count(),
        through_proxy: None,
    }
}

fn examples(suite: &Suite, records: &[&Record]) -> Vec<Example> {
    records
        .iter()
        .filter(|r| r.success())
        .take(3)
        .map(|r| {
            let attack = suite.attacks.iter().find(|a| a.id == r.id);
            let sent = attack
                .and_then(|a| a.messages.last())
                .map(|m| m.content.as_str())
                .unwrap_or("");
            Example {
                id: r.id.clone(),
                sent: cut(sent, 600),
                reply: cut(r.reply.as_deref().unwrap_or(""), 600),
                evidence: evidence(r),
            }
        })
        .collect()
}

fn evidence(r: &Record) -> String {
    let Some(o) = &r.outcome else {
        return String::new();
    };
    let mut parts = Vec::new();
    if let Some(form) = o.leak {
        parts.push(format!(
            "canary leaked ({})",
            serde_json::to_value(form)
                .unwrap_or_default()
                .as_str()
                .unwrap_or("")
        ));
    }
    if o.marker {
        parts.push("marker repeated".to_string());
    }
    if let Some(u) = &o.exfil_url {
        let carries = if o.exfil_carries_canary {
            ", carrying the canary"
        } else {
            ""
        };
        parts.push(format!("link to {u}{carries}"));
    }
    parts.join("; ")
}

fn cut(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n).collect::<String>() + "…"
    }
}

/// Mark the families that got worse than `baseline` by more than
/// `margin` (a fraction: 0.05 is five percentage points). A family the
/// baseline did not run is not compared.
pub fn compare(report: &mut Report, baseline: &Report, margin: f64) {
    for f in &mut report.families {
        let Some(b) = baseline.families.iter().find(|b| b.family == f.family) else {
            continue;
        };
        f.baseline = Some(b.rate.rate);
        f.regressed = f.rate.rate > b.rate.rate + margin + 1e-12;
    }
}

/// The findings: one per family with successes, under the rule of the
/// goal its successes reached, and one per regressed family.
pub fn findings(report: &Report, suite: &Suite, records: &[Record]) -> Vec<Finding> {
    let mut out = Vec::new();
    for f in &report.families {
        let fam = Family::lookup(&f.family);
        let hits: Vec<&Record> = records
            .iter()
            .filter(|r| Some(r.family) == fam && r.success())
            .collect();
        for (goal, rule) in [
            (Goal::Leak, Rule::CanaryLeaked),
            (Goal::Marker, Rule::InjectionFollowed),
            (Goal::Exfil, Rule::ExfiltrationLinkEmitted),
        ] {
            let k = hits.iter().filter(|r| r.goal == goal).count();
            if k > 0 {
                let n = records
                    .iter()
                    .filter(|r| Some(r.family) == fam && r.goal == goal && r.error.is_none())
                    .count();
                out.push(Finding::new(
                    rule,
                    format!(
                        "{}: {k} of {n} attacks succeeded ({}), seed {}",
                        f.family,
                        percent(k as f64 / n.max(1) as f64),
                        suite.seed
                    ),
                ));
            }
        }
        if f.regressed {
            out.push(Finding::new(
                Rule::ProbeRegression,
                format!(
                    "{}: {} of attacks succeeded, {} in the baseline",
                    f.family,
                    percent(f.rate.rate),
                    percent(f.baseline.unwrap_or(0.0))
                ),
            ));
        }
    }
    out
}

/// `0.123` as `12.3%`.
pub fn percent(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

/// The report as text.
pub fn to_text(report: &Report) -> String {
    let mut s = format!(
        "airlock probe: {} (seed {}, suite {:.12})\n\n",
        one_line(&report.target, 300),
        report.seed,
        report.fingerprint
    );
    s.push_str(&table(report));
    if let Some(p) = &report.through_proxy {
        s.push_str(&format!(
            "\nThrough airlock input proxy ({}):\n\n",
            one_line(&p.target, 300)
        ));
        s.push_str(&table(p));
    }
    for f in report.families.iter().filter(|f| !f.examples.is_empty()) {
        s.push_str(&format!("\n{}, worst examples:\n", f.family));
        for e in &f.examples {
            s.push_str(&format!(
                "  {}  {}\n    sent:  {}\n    reply: {}\n",
                e.id,
                one_line(&e.evidence, 400),
                one_line(&e.sent, 160),
                one_line(&e.reply, 160)
            ));
        }
    }
    s
}

fn table(report: &Report) -> String {
    let mut s = format!(
        "  {:<20} {:>9}  {:>7}  {:<15} {:>7} {:>8} {:>6}{}\n",
        "family",
        "succeeded",
        "rate",
        "95% interval",
        "refused",
        "blocked",
        "errors",
        if report.families.iter().any(|f| f.baseline.is_some()) {
            "  baseline"
        } else {
            ""
        }
    );
    let rows = report
        .families
        .iter()
        .map(|f| (f.family.as_str(), &f.rate, f.baseline, f.regressed))
        .chain(std::iter::once(("all", &report.overall, None, false)));
    for (name, r, base, regressed) in rows {
        let base = match base {
            Some(b) => format!(
                "  {}{}",
                percent(b),
                if regressed { "  REGRESSED" } else { "" }
            ),
            None => String::new(),
        };
        s.push_str(&format!(
            "  {:<20} {:>4} / {:<4} {:>6}  {:<15} {:>7} {:>8} {:>6}{base}\n",
            name,
            r.successes,
            r.trials,
            percent(r.rate),
            format!("{}–{}", percent(r.low), percent(r.high)),
            r.refusals,
            r.blocked,
            r.errors
        ));
    }
    s
}

/// `s` on one line, safe for a terminal: line breaks shown as ⏎, control,
/// invisible and tag characters (escape sequences a model could answer
/// with among them) as `<U+XXXX>`.
pub fn one_line(s: &str, n: usize) -> String {
    let mut out = String::new();
    for c in cut(s, n).chars() {
        match c {
            '\n' | '\r' => out.push_str(" ⏎ "),
            c if c.is_control() || is_invisible(c) => {
                out.push_str(&format!("<U+{:04X}>", c as u32))
            }
            c => out.push(c),
        }
    }
    out
}

fn is_invisible(c: char) -> bool {
    matches!(c as u32, 0xAD | 0x034F | 0x061C | 0x115F | 0x1160 | 0x17B4 | 0x17B5 | 0x180B..=0x180F
        | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x206F | 0x3164 | 0xFE00..=0xFE0F
        | 0xFEFF | 0xFFA0 | 0xFFF0..=0xFFFB | 0xE0000..=0xE0FFF)
}

/// The report as JSON.
pub fn to_json(report: &Report, findings: &[Finding]) -> Json {
    let mut v = serde_json::to_value(report).expect("a report serialises");
    v["findings"] = findings
        .iter()
        .map(|f| json!({"rule": f.rule.id(), "name": f.rule.name(), "severity": f.severity.name(), "message": f.message}))
        .collect();
    v
}

/// The findings as SARIF 2.1.0, located at `location` (the system
/// prompt's file when one was given, else the target).
pub fn to_sarif(findings: &[Finding], location: &str) -> Json {
    let rules: Vec<Rule> = Rule::ALL.iter().copied().filter(|r| r.is_probe()).collect();
    let results = findings
        .iter()
        .map(|f| {
            sarif::result(
                &rules,
                f,
                f.message.clone(),
                location,
                json!({"startLine": 1}),
                json!({}),
            )
        })
        .collect();
    sarif::log(VERSION, &rules, results)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_intervals_match_published_values() {
        // Newcombe (1998), table I: 0/10 → 0–0.2775, 1/29 → 0.0061–0.1718.
        let (l, h) = wilson(0, 10);
        assert!(l == 0.0 && (h - 0.2775).abs() < 1e-4, "{h}");
        let (l, h) = wilson(1, 29);
        assert!(
            (l - 0.0061).abs() < 1e-4 && (h - 0.1718).abs() < 1e-4,
            "{l} {h}"
        );
        assert_eq!(wilson(0, 0), (0.0, 1.0));
    }

    #[test]
    fn text_never_carries_escapes_or_hidden_characters() {
        let s = one_line("a\u{1b}[31mred\u{E0041}\nb", 100);
        assert_eq!(s, "a<U+001B>[31mred<U+E0041> ⏎ b");
    }
}
