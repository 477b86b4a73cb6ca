//! The scanner on the committed corpora:
//!
//! - `tests/fixtures/malicious`: files built from raw opcodes by
//!   `scripts/gen_malicious_fixtures.py`, each proven by
//!   `scripts/prove_malicious.py` to run its payload in its real loader. The
//!   scanner must never call one safe, and must call it dangerous whenever
//!   it supports the format.
//! - `tests/fixtures/torch`: checkpoints written by real torch
//!   (`scripts/gen_torch_fixtures.py`), with what real `torch.load` did on
//!   each (`scripts/torch_parity.py`). The `weights_only` prediction must
//!   match torch on every one, and every file torch loads with
//!   `weights_only=True` must be safe. `AIRLOCK_TORCH_PARITY` names a fresh
//!   result file (CI regenerates it with the installed torch).

use std::path::{Path, PathBuf};

use airlock_policy::Verdict;
use airlock_scan::{Options, scan_path};
use serde_json::Value as Json;

fn fixtures(dir: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures")
        .join(dir)
}

fn read_json(path: &Path) -> Json {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// Fixtures of formats not supported yet: never safe, an error until they are.
const UNSUPPORTED: &[&str] = &[];

#[test]
fn every_malicious_fixture_is_dangerous() {
    let dir = fixtures("malicious");
    let manifest = read_json(&dir.join("manifest.json"));
    let proof = read_json(&dir.join("proof.json"));
    let entries = manifest.as_array().unwrap();
    assert!(entries.len() >= 100, "corpus too small");
    let mut failures = Vec::new();
    for e in entries {
        let file = e["file"].as_str().unwrap();
        assert_eq!(
            proof["results"][file]["executed"],
            Json::Bool(true),
            "{file}: not proven to execute"
        );
        let report = scan_path(&dir.join(file), file, &Options::default());
        assert_ne!(
            report.verdict,
            Verdict::Safe,
            "{file} ({}) called safe",
            e["technique"]
        );
        let expected = if UNSUPPORTED.contains(&file) {
            Verdict::Error
        } else {
            Verdict::Dangerous
        };
        if report.verdict != expected {
            failures.push(format!(
                "{file}: {} instead of {}: {:?}",
                report.verdict,
                expected,
                report
                    .findings
                    .iter()
                    .map(|f| &f.message)
                    .collect::<Vec<_>>()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn weights_only_prediction_matches_torch() {
    let dir = fixtures("torch");
    let expected_path = std::env::var_os("AIRLOCK_TORCH_PARITY")
        .map(PathBuf::from)
        .unwrap_or_else(|| dir.join("expected.json"));
    let expected = read_json(&expected_path);
    let results = expected["results"].as_object().unwrap();
    assert!(results.len() >= 100, "too few torch fixtures");
    let mut mismatches = Vec::new();
    let mut loadable = 0;
    for (file, want) in results {
        let report = scan_path(&dir.join(file), file, &Options::default());
        let torch_ok = want["weights_only"].as_bool().unwrap();
        let predicted = report.weights_only.unwrap_or(false);
        if predicted != torch_ok {
            mismatches.push(format!(
                "{file}: predicted weights_only={predicted} ({:?}), torch {} ({})",
                report.weights_only_reason,
                torch_ok,
                want["wo_reason"]
                    .as_str()
                    .unwrap_or("")
                    .chars()
                    .take(160)
                    .collect::<String>()
            ));
            continue;
        }
        if torch_ok {
            loadable += 1;
            if report.verdict != Verdict::Safe {
                mismatches.push(format!(
                    "{file}: torch loads it with weights_only=True but the verdict is {}: {:?}",
                    report.verdict,
                    report
                        .findings
                        .iter()
                        .map(|f| &f.message)
                        .collect::<Vec<_>>()
                ));
            }
        } else if let Some(global) = want["unsupported_global"].as_str() {
            // The refusal names the same global.
            let reason = report.weights_only_reason.clone().unwrap_or_default();
            if !reason.contains(&format!("GLOBAL {global} ")) {
                mismatches.push(format!(
                    "{file}: torch refuses GLOBAL {global}, predicted reason {reason:?}"
                ));
            }
        } else if let Some(op) = want["wo_reason"]
            .as_str()
            .and_then(|r| r.strip_prefix("Unsupported operand "))
        {
            let reason = report.weights_only_reason.clone().unwrap_or_default();
            if reason != format!("Unsupported operand {}", op.trim()) {
                mismatches.push(format!(
                    "{file}: torch says Unsupported operand {op}, predicted {reason:?}"
                ));
            }
        }
    }
    assert!(
        loadable >= 60,
        "only {loadable} weights_only-loadable fixtures"
    );
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn benign_fixtures_are_never_dangerous() {
    let dir = fixtures("torch");
    let manifest = read_json(&dir.join("manifest.json"));
    for e in manifest.as_array().unwrap() {
        let file = e["file"].as_str().unwrap();
        let report = scan_path(&dir.join(file), file, &Options::default());
        assert_ne!(
            report.verdict,
            Verdict::Dangerous,
            "{file}: {:?}",
            report
                .findings
                .iter()
                .map(|f| &f.message)
                .collect::<Vec<_>>()
        );
    }
}

/// Hand-built checkpoints on the edges of weights_only loading
/// (`scripts/gen_wo_edge_fixtures.py`): storage bounds, BUILD and REDUCE
/// argument types, odd opcodes, member names. The prediction must match
/// real torch on every one (`AIRLOCK_TORCH_PARITY_EDGE` names a fresh
/// `torch_parity.py` run; the committed `expected.json` otherwise).
#[test]
fn weights_only_prediction_matches_torch_on_edge_cases() {
    let dir = fixtures("torch-edge");
    let expected_path = std::env::var_os("AIRLOCK_TORCH_PARITY_EDGE")
        .map(PathBuf::from)
        .unwrap_or_else(|| dir.join("expected.json"));
    let expected = read_json(&expected_path);
    let results = expected["results"].as_object().unwrap();
    assert!(results.len() >= 20, "too few edge fixtures");
    let mut mismatches = Vec::new();
    for (file, want) in results {
        let report = scan_path(&dir.join(file), file, &Options::default());
        let torch_ok = want["weights_only"].as_bool().unwrap();
        let predicted = report.weights_only.unwrap_or(false);
        if predicted != torch_ok {
            mismatches.push(format!(
                "{file}: predicted weights_only={predicted} ({:?}), torch {torch_ok} ({})",
                report.weights_only_reason,
                want["wo_reason"].as_str().unwrap_or("")
            ));
        }
        if torch_ok && report.verdict != Verdict::Safe {
            mismatches.push(format!(
                "{file}: torch loads it, verdict {}",
                report.verdict
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}
