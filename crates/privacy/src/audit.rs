//! `airlock privacy audit`: the memorisation audit's document (written by
//! the Python package's `airlock.privacy`, which must run the model) judged
//! against limits into findings PV0030 to PV0032, and rendered as text,
//! JSON, SARIF and a standalone HTML page with its ROC curves. The one
//! judge and renderer of the command and of `airlock.privacy`'s reports.

use airlock_policy::{Finding as PolicyFinding, Rule, sarif};
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};

use crate::report::VERSION;

/// The audit's rules (the other privacy rules are `airlock secrets`').
pub const RULES: [Rule; 3] = [
    Rule::MembershipInference,
    Rule::CanaryExposure,
    Rule::TrainingDataExtraction,
];

/// The limits a model must stay under.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Highest ROC AUC of a membership attack.
    pub max_auc: f64,
    /// Highest true-positive rate at 1% false positives.
    pub max_tpr_at_1: f64,
    /// Highest canary exposure, bits.
    pub max_exposure: f64,
    /// Highest exact-match rate of the extraction test.
    pub max_extraction: f64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_auc: 0.6,
            max_tpr_at_1: 0.05,
            max_exposure: 8.0,
            max_extraction: 0.0,
        }
    }
}

/// One limit exceeded.
#[derive(Debug, Clone)]
pub struct AuditFinding {
    /// Its rule.
    pub rule: Rule,
    /// What was measured, against which limit.
    pub message: String,
}

fn finding(rule: Rule, message: String) -> AuditFinding {
    AuditFinding { rule, message }
}

fn num(v: &Json, key: &str) -> Option<f64> {
    v.get(key).and_then(Json::as_f64)
}

/// The findings of a document under `limits`.
pub fn judge(doc: &Json, limits: &Limits) -> Vec<AuditFinding> {
    let mut out = Vec::new();
    if let Some(attacks) = doc.pointer("/membership/attacks").and_then(Json::as_object) {
        for (name, a) in attacks {
            membership_findings(name, a, limits, &mut out);
        }
    }
    for c in doc
        .pointer("/canaries/canaries")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
    {
        canary_findings(c, limits, &mut out);
    }
    if let Some(e) = doc.get("extraction") {
        let rate = num(e, "exact_match_rate").unwrap_or(0.0);
        if rate > limits.max_extraction {
            out.push(finding(
                Rule::TrainingDataExtraction,
                format!(
                    "greedy decoding reproduced {} of {} training texts exactly ({:.1}%, limit {:.1}%)",
                    e["exact_matches"],
                    e["texts"],
                    rate * 100.0,
                    limits.max_extraction * 100.0
                ),
            ));
        }
    }
    out
}

fn membership_findings(name: &str, a: &Json, limits: &Limits, out: &mut Vec<AuditFinding>) {
    let auc = num(a, "auc").unwrap_or(0.0);
    let tpr = num(a, "tpr_at_1%_fpr").unwrap_or(0.0);
    if auc > limits.max_auc || tpr > limits.max_tpr_at_1 {
        out.push(finding(
            Rule::MembershipInference,
            format!(
                "{} attack: ROC AUC {auc:.3} (limit {:.3}), {:.1}% of members found at 1% false positives (limit {:.1}%)",
                name.replace('_', "-"),
                limits.max_auc,
                tpr * 100.0,
                limits.max_tpr_at_1 * 100.0
            ),
        ));
    }
}

fn canary_findings(c: &Json, limits: &Limits, out: &mut Vec<AuditFinding>) {
    let reps = c["repetitions"].as_u64().unwrap_or(0);
    let exp = num(c, "exposure").unwrap_or(0.0);
    if exp > limits.max_exposure {
        out.push(finding(
            Rule::CanaryExposure,
            format!(
                "a canary inserted {reps} time(s) has an exposure of {exp:.1} bits (limit {:.1}; at most {} measurable)",
                limits.max_exposure, c["max_measurable"]
            ),
        ));
    }
    if c["extracted"].as_bool() == Some(true) {
        out.push(finding(
            Rule::TrainingDataExtraction,
            format!("a canary inserted {reps} time(s) is extracted: greedy decoding from its prefix gives its secret"),
        ));
    }
}

/// The measurements, then the findings.
pub fn to_text(doc: &Json, findings: &[AuditFinding]) -> String {
    let mut s = format!(
        "privacy audit of {}\n",
        doc["model"].as_str().unwrap_or("?")
    );
    if let Some(m) = doc.get("membership") {
        s.push_str(&format!(
            "membership inference: mean loss {} on members, {} on non-members\n",
            m["loss"]["members_mean"], m["loss"]["nonmembers_mean"]
        ));
        for (name, a) in m["attacks"].as_object().into_iter().flatten() {
            s.push_str(&format!(
                "  {:<22} AUC {:.3}  TPR {:.1}% at 1% FPR, {}  ({} members, {} non-members)\n",
                name.replace('_', "-"),
                num(a, "auc").unwrap_or(0.0),
                num(a, "tpr_at_1%_fpr").unwrap_or(0.0) * 100.0,
                low_fpr(a),
                a["members"],
                a["nonmembers"]
            ));
        }
    }
    if let Some(c) = doc.get("canaries") {
        s.push_str(&format!(
            "canaries ({}, {} secrets):\n",
            c["format"].as_str().unwrap_or(""),
            c["space"]
        ));
        for r in c["canaries"].as_array().into_iter().flatten() {
            s.push_str(&format!(
                "  inserted {:>4} time(s): exposure {:.1} bits of {}{}\n",
                r["repetitions"],
                num(r, "exposure").unwrap_or(0.0),
                r["max_measurable"],
                if r["extracted"].as_bool() == Some(true) {
                    ", extracted"
                } else {
                    ""
                }
            ));
        }
    }
    if let Some(e) = doc.get("extraction") {
        s.push_str(&format!(
            "extraction: {} of {} texts reproduced exactly, {:.1}% of suffix tokens on average\n",
            e["exact_matches"],
            e["texts"],
            num(e, "mean_token_match").unwrap_or(0.0) * 100.0
        ));
    }
    s.push('\n');
    for f in findings {
        s.push_str(&format!(
            "{} {}  {}\n",
            f.rule.id(),
            f.rule.name(),
            f.message
        ));
    }
    s.push_str(&format!("{} finding(s)\n", findings.len()));
    s
}

/// The TPR at 0.1% false positives, or, with too few non-members to
/// measure it, the TPR with no false positive at all.
fn low_fpr(a: &Json) -> String {
    let tpr = num(a, "tpr_at_0.1%_fpr").unwrap_or(0.0) * 100.0;
    if num(a, "lowest_measurable_fpr").unwrap_or(0.0) > 0.001 {
        format!("{tpr:.1}% with no false positive")
    } else {
        format!("{tpr:.1}% at 0.1%")
    }
}

/// The document, the limits and the findings.
pub fn to_json(doc: &Json, limits: &Limits, findings: &[AuditFinding]) -> Json {
    json!({
        "version": VERSION,
        "limits": limits,
        "findings": findings.iter().map(|f| json!({
            "rule": f.rule.id(), "name": f.rule.name(), "message": f.message,
        })).collect::<Vec<_>>(),
        "audit": doc,
    })
}

/// The findings as SARIF 2.1.0, located at the spec the audit ran.
pub fn to_sarif(findings: &[AuditFinding], artifact: &str) -> Json {
    let rules = RULES.to_vec();
    let results = findings
        .iter()
        .map(|f| {
            let pf = PolicyFinding::new(f.rule, f.message.clone());
            sarif::result(
                &rules,
                &pf,
                f.message.clone(),
                artifact,
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

    fn doc(auc: f64, tpr: f64, exposure: f64, extracted: bool) -> Json {
        json!({
            "model": "m",
            "membership": {"loss": {"members_mean": 0.1, "nonmembers_mean": 2.0},
                           "attacks": {"loss_threshold": {"auc": auc, "tpr_at_1%_fpr": tpr,
                                                          "tpr_at_0.1%_fpr": 0.0, "members": 10,
                                                          "nonmembers": 10, "roc": [[0, 0], [1, 1]]}}},
            "canaries": {"format": "x{6 digits}", "space": 1000000,
                         "canaries": [{"repetitions": 16, "exposure": exposure,
                                       "max_measurable": 9.97, "extracted": extracted}]},
        })
    }

    #[test]
    fn limits_decide_the_findings() {
        let l = Limits::default();
        assert!(judge(&doc(0.5, 0.01, 1.0, false), &l).is_empty());
        let rules = |d: &Json| -> Vec<&str> { judge(d, &l).iter().map(|f| f.rule.id()).collect() };
        assert_eq!(rules(&doc(0.9, 0.01, 1.0, false)), ["PV0030"]);
        assert_eq!(rules(&doc(0.55, 0.2, 1.0, false)), ["PV0030"]);
        assert_eq!(rules(&doc(0.5, 0.0, 12.0, true)), ["PV0031", "PV0032"]);
        let strict = Limits {
            max_exposure: 0.5,
            ..l
        };
        assert_eq!(judge(&doc(0.5, 0.0, 1.0, false), &strict).len(), 1);
        let text = to_text(
            &doc(0.9, 0.3, 1.0, false),
            &judge(&doc(0.9, 0.3, 1.0, false), &l),
        );
        assert!(text.contains("AUC 0.900"), "{text}");
        assert!(text.contains("PV0030 membership-inference"), "{text}");
    }
}
