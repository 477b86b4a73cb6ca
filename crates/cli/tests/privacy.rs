//! `airlock privacy report` on audit documents: the limits decide the
//! findings and the exit status, and every format renders them. (The audit
//! itself runs Python: `python/tests/test_privacy.py` trains the models and
//! runs `airlock privacy audit` in the sandbox.)

mod common;

use common::{airlock, tempdir};
use serde_json::{Value, json};

/// An audit document of the shape `airlock.privacy` writes.
fn document(auc: f64, exposure: f64) -> Value {
    json!({
        "schema": "airlock-privacy-audit/1", "model": "tiny", "seed": 0,
        "membership": {
            "loss": {"members_mean": 0.01, "nonmembers_mean": 3.2},
            "attacks": {"loss_threshold": {
                "auc": auc, "tpr_at_1%_fpr": 0.04, "tpr_at_0.1%_fpr": 0.01,
                "lowest_measurable_fpr": 0.005, "balanced_accuracy": 0.9,
                "members": 200, "nonmembers": 200,
                "roc": [[0.0, 0.0], [0.005, 0.01], [0.01, 0.04], [0.5, 0.95], [1.0, 1.0]]}}},
        "canaries": {"format": "the secret number is {6 digits}", "space": 1_000_000,
                     "training_texts": 4000,
                     "canaries": [{"repetitions": 64, "exposure": exposure, "max_measurable": 9.97,
                                   "extracted": false}]},
    })
}

fn write(doc: &Value) -> std::path::PathBuf {
    let path = tempdir("privacy").join("audit.json");
    std::fs::write(&path, serde_json::to_vec(doc).unwrap()).unwrap();
    path
}

#[test]
fn the_limits_decide_findings_and_exit_status() {
    let leaky = write(&document(0.96, 9.9));
    let o = airlock(&["privacy", "report", leaky.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(text.contains("PV0030 membership-inference"), "{text}");
    assert!(text.contains("PV0031 canary-exposure"), "{text}");
    assert!(
        text.contains("4.0% at 1% FPR, 1.0% with no false positive"),
        "{text}"
    );
    let lenient = ["--max-auc", "0.99", "--max-exposure", "10"];
    let o = airlock(
        &[
            &["privacy", "report", leaky.to_str().unwrap()][..],
            &lenient,
        ]
        .concat(),
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let fine = write(&document(0.52, 2.0));
    assert_eq!(
        airlock(&["privacy", "report", fine.to_str().unwrap()])
            .status
            .code(),
        Some(0)
    );
}

#[test]
fn every_format_renders_the_findings() {
    let leaky = write(&document(0.96, 9.9));
    let path = leaky.to_str().unwrap();
    let sarif: Value =
        serde_json::from_slice(&airlock(&["privacy", "report", path, "--format", "sarif"]).stdout)
            .unwrap();
    let results: Vec<&str> = sarif["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["ruleId"].as_str().unwrap())
        .collect();
    assert_eq!(results, ["PV0030", "PV0031"]);
    let report: Value =
        serde_json::from_slice(&airlock(&["privacy", "report", path, "--format", "json"]).stdout)
            .unwrap();
    assert_eq!(report["findings"].as_array().unwrap().len(), 2);
    assert_eq!(report["limits"]["max_auc"], 0.6);
    // A JSON report holds its document: it can be judged again.
    let again = leaky.with_file_name("report.json");
    std::fs::write(&again, serde_json::to_vec(&report).unwrap()).unwrap();
    let o = airlock(&[
        "privacy",
        "report",
        again.to_str().unwrap(),
        "--max-auc",
        "1",
        "--max-exposure",
        "10",
    ]);
    assert_eq!(o.status.code(), Some(0));
    let html = String::from_utf8(airlock(&["privacy", "report", path, "--format", "html"]).stdout)
        .unwrap();
    assert!(
        html.starts_with("<!doctype html>") && html.contains("<svg") && !html.contains("<script")
    );
    assert!(html.contains("PV0030 membership-inference"));
}

#[test]
fn what_is_not_an_audit_is_an_error() {
    let path = tempdir("privacy").join("other.json");
    std::fs::write(&path, b"{\"files\": []}").unwrap();
    let o = airlock(&["privacy", "report", path.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not an airlock privacy audit document"));
}
