//! `airlock secrets` on model folders written by the real producers
//! (`scripts/gen_secrets_fixtures.py`: torch.save, safetensors, a trained
//! tokenizer, a notebook, a log, a git config, a key made by
//! `cryptography`) with planted fake credentials and personal data, and on
//! clean look-alikes (hashes, UUIDs, commit ids, base64 weights, a trained
//! vocabulary, a token in tensor bytes, which are never read).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use common::{airlock, repo};
use serde_json::Value;

/// The fixtures copied to a fresh folder, `dot-git` renamed `.git` (git
/// cannot track a folder of that name).
fn fixtures() -> PathBuf {
    let d = common::tempdir("secrets");
    copy(&repo().join("tests/fixtures/secrets"), &d);
    std::fs::rename(d.join("planted/dot-git"), d.join("planted/.git")).unwrap();
    d
}

fn copy(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

fn audit(args: &[&str]) -> (Value, i32) {
    let out = airlock(args);
    let v = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    (v, out.status.code().unwrap())
}

/// Kinds found per file, relative to `root`.
fn kinds(report: &Value, root: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut m = BTreeMap::new();
    for f in report["files"].as_array().unwrap() {
        let path = f["path"].as_str().unwrap();
        let rel = Path::new(path)
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let found: BTreeSet<String> = f["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["kind"].as_str().unwrap().to_string())
            .collect();
        m.insert(rel, found);
    }
    m
}

#[test]
fn every_planted_secret_is_found_and_nothing_in_the_clean_folder() {
    let d = fixtures();
    let expected: BTreeMap<String, BTreeSet<String>> =
        serde_json::from_str(&std::fs::read_to_string(d.join("expected.json")).unwrap()).unwrap();
    let (rep, code) = audit(&["secrets", "--format", "json", d.to_str().unwrap()]);
    assert_eq!(code, 1);
    let found = kinds(&rep, &d);
    for (file, want) in &expected {
        assert_eq!(found.get(file), Some(want), "{file}");
    }
    // A .git folder's object store is not read; its config is.
    assert!(found.keys().all(|k| !k.contains(".git/objects")));
    let (clean, code) = audit(&[
        "secrets",
        "--format",
        "json",
        d.join("clean").to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{clean}");
}

#[test]
fn findings_are_redacted_and_located() {
    let d = fixtures();
    let ckpt = d.join("planted/lightning.ckpt");
    let (rep, _) = audit(&["secrets", "--format", "json", ckpt.to_str().unwrap()]);
    let raw = std::fs::read(&ckpt).unwrap();
    for f in rep["files"][0]["findings"].as_array().unwrap() {
        let red = f["redacted"].as_str().unwrap();
        assert!(red.contains('…'), "{red}");
        let loc = &f["location"];
        assert_eq!(loc["member"], "lightning/data.pkl");
        assert!(loc["offset"].is_u64());
        if f["kind"] == "wandb-api-key" {
            assert_eq!(loc["key"], "wandb_api_key");
        }
    }
    // The secret itself is nowhere in the report.
    let text = airlock(&["secrets", ckpt.to_str().unwrap()]);
    let shown = String::from_utf8_lossy(&text.stdout).into_owned();
    let hf = token_at(&raw, b"hf_");
    assert!(!shown.contains(&hf), "{shown}");
    assert!(
        shown.contains("PV0001 credential (huggingface-token"),
        "{shown}"
    );
}

/// The 37 characters of the token starting with `prefix` in `raw`.
fn token_at(raw: &[u8], prefix: &[u8]) -> String {
    let at = raw.windows(prefix.len()).position(|w| w == prefix).unwrap();
    String::from_utf8_lossy(&raw[at..at + 37]).into_owned()
}

#[test]
fn fail_on_levels_and_sarif() {
    let d = fixtures();
    let cfg = d.join("planted/config.json");
    let c = cfg.to_str().unwrap();
    // A user path and a Slack token: secrets fail, never does not.
    assert_eq!(airlock(&["secrets", c]).status.code(), Some(1));
    assert_eq!(
        airlock(&["secrets", "--fail-on", "never", c]).status.code(),
        Some(0)
    );
    let (sarif, _) = audit(&[
        "secrets",
        "--format",
        "sarif",
        d.join("planted").to_str().unwrap(),
    ]);
    let run = &sarif["runs"][0];
    assert_eq!(
        common::sarif_rule_ids(&sarif),
        ["PV0001", "PV0002", "PV0003", "PV0010", "PV0020"]
    );
    assert!(run["results"].as_array().unwrap().len() >= 15);
    let missing = airlock(&["secrets", "/nonexistent/airlock-secrets"]);
    assert_eq!(missing.status.code(), Some(2));
}

/// `airlock scan --secrets`: the scan's report with the secrets audit's,
/// in every format, and a credential raises the exit status.
#[test]
fn scan_with_secrets() {
    let d = fixtures();
    let model = d.join("planted/model.safetensors");
    let plain = airlock(&["scan", "--no-progress", model.to_str().unwrap()]);
    assert_eq!(plain.status.code(), Some(0), "a safetensors file is safe");
    let both = airlock(&[
        "scan",
        "--no-progress",
        "--secrets",
        model.to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&both.stdout);
    assert_eq!(both.status.code(), Some(1), "{text}");
    assert!(
        text.contains("safe ") && text.contains("PV0001 credential (github-token"),
        "{text}"
    );
    let json: Value = serde_json::from_slice(
        &airlock(&[
            "scan",
            "--no-progress",
            "--secrets",
            "--format",
            "json",
            model.to_str().unwrap(),
        ])
        .stdout,
    )
    .unwrap();
    assert_eq!(json["files"][0]["verdict"], "safe");
    let rules: Vec<&str> = json["secrets"]["files"][0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    assert!(rules.contains(&"PV0001"), "{rules:?}");
    let sarif: Value = serde_json::from_slice(
        &airlock(&[
            "scan",
            "--no-progress",
            "--secrets",
            "--format",
            "sarif",
            model.to_str().unwrap(),
        ])
        .stdout,
    )
    .unwrap();
    assert_eq!(sarif["runs"].as_array().unwrap().len(), 2);
    let clean = airlock(&[
        "scan",
        "--no-progress",
        "--secrets",
        d.join("clean/model.safetensors").to_str().unwrap(),
    ]);
    assert_eq!(
        clean.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&clean.stdout)
    );
}
