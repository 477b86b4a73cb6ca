//! The scanner on the evaluation corpus (`eval/labels.json`): every file of
//! `eval/corpus`, `tests/fixtures/torch` and `tests/fixtures/malicious`, in
//! the group its real loader put it in (`scripts/verify_eval_corpus.py`
//! loads each one in a throw-away process; CI checks the committed labels
//! against a fresh run). The bar the side-by-side evaluation
//! (`scripts/compare.sh`) holds Airlock to:
//!
//! - malicious (the payload ran): dangerous;
//! - benign, loaded by the safe loader (`weights_only=True`,
//!   `allow_pickle=False`, safetensors): safe;
//! - benign, refused by the safe loader: suspicious (not safe, because the
//!   safe loader refuses it; not dangerous, because nothing in it runs code);
//! - malformed (every loader raises): error.

use std::collections::BTreeMap;
use std::path::Path;

use airlock_policy::Verdict;
use airlock_scan::{Options, scan_path};

#[test]
fn every_labelled_file_gets_the_verdict_its_group_requires() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let text = std::fs::read_to_string(root.join("eval/labels.json")).unwrap();
    let labels: serde_json::Value = serde_json::from_str(&text).unwrap();
    let files = labels["files"].as_array().unwrap();
    let mut counts: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut wrong = Vec::new();
    for f in files {
        let path = f["path"].as_str().unwrap();
        let group = f["group"].as_str().unwrap();
        let want = match group {
            "malicious" => Verdict::Dangerous,
            "benign-wo" => Verdict::Safe,
            "benign-refused" => Verdict::Suspicious,
            "malformed" => Verdict::Error,
            other => panic!("{path}: unknown group {other}"),
        };
        let name = Path::new(path).file_name().unwrap().to_string_lossy();
        let r = scan_path(&root.join(path), &name, &Options::default());
        *counts
            .entry((group.to_string(), format!("{:?}", r.verdict)))
            .or_default() += 1;
        if r.verdict != want {
            let rules: Vec<_> = r.findings.iter().map(|x| x.rule.id()).collect();
            wrong.push(format!(
                "{path} ({group}): {:?}, want {want:?} {rules:?}",
                r.verdict
            ));
        }
    }
    assert!(files.len() > 250, "{} labelled files", files.len());
    for g in ["malicious", "benign-wo", "benign-refused", "malformed"] {
        assert!(
            counts.keys().any(|(group, _)| group == g),
            "no {g} file in the corpus"
        );
    }
    assert!(wrong.is_empty(), "{counts:?}\n{}", wrong.join("\n"));
}
