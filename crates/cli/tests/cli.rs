//! The `airlock` binary end to end, on the example files shipped in the
//! repository: exit statuses, the JSON contract, SARIF, and snapshots of
//! every output format.

mod common;

use std::process::Output;

use serde_json::Value as Json;

use common::{airlock, repo};

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

#[test]
fn verdicts_of_the_examples() {
    let o = airlock(&["scan", "--format", "json", "examples"]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let report: Json = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(report["schema"], 1);
    assert_eq!(report["tool"]["name"], "airlock");
    let verdict = |path: &str| {
        report["files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["path"] == path)
            .unwrap_or_else(|| panic!("{path} missing"))
            .clone()
    };
    let expect = [
        ("examples/arrays/embeddings.npy", "safe", Json::Null),
        (
            "examples/arrays/classifier.joblib",
            "suspicious",
            Json::Null,
        ),
        ("examples/arrays/object_labels.npz", "dangerous", Json::Null),
        ("examples/models/state_dict.pt", "safe", Json::Bool(true)),
        ("examples/models/model.safetensors", "safe", Json::Null),
        (
            "examples/models/checkpoint_numpy.pt",
            "suspicious",
            Json::Bool(false),
        ),
        (
            "examples/models/whole_model.pt",
            "suspicious",
            Json::Bool(false),
        ),
        (
            "examples/models/torchscript.pt",
            "suspicious",
            Json::Bool(false),
        ),
        (
            "examples/models/malicious_checkpoint.pt",
            "dangerous",
            Json::Bool(false),
        ),
        ("examples/models/truncated.pt", "error", Json::Bool(false)),
        ("examples/pickles/benign_config.pkl", "safe", Json::Null),
        ("examples/pickles/memo_trick.pkl", "dangerous", Json::Null),
        (
            "examples/pickles/inst_protocol0.pkl",
            "dangerous",
            Json::Null,
        ),
        (
            "examples/pickles/payload_then_garbage.pkl",
            "dangerous",
            Json::Null,
        ),
    ];
    for (path, v, wo) in expect {
        let f = verdict(path);
        assert_eq!(f["verdict"], v, "{path}");
        assert_eq!(f["weights_only"], wo, "{path}");
        for finding in f["findings"].as_array().unwrap() {
            for key in ["rule", "name", "severity", "message", "location"] {
                assert!(finding.get(key).is_some(), "{path}: finding without {key}");
            }
        }
    }
    let memo = verdict("examples/pickles/memo_trick.pkl");
    let first = &memo["findings"][0];
    assert_eq!(first["rule"], "AL0001");
    assert_eq!(first["severity"], "critical");
    assert!(
        first["message"]
            .as_str()
            .unwrap()
            .contains("os.system('echo AIRLOCK-DEMO-PAYLOAD')")
    );
    assert_eq!(first["location"]["offset"], 25);
    assert_eq!(
        report["summary"],
        serde_json::json!({"files": 14, "safe": 4, "suspicious": 4, "dangerous": 5, "error": 1})
    );
}

#[test]
fn exit_statuses() {
    assert_eq!(
        airlock(&["scan", "examples/models/state_dict.pt"])
            .status
            .code(),
        Some(0)
    );
    assert_eq!(
        airlock(&[
            "scan",
            "examples/models/state_dict.pt",
            "examples/models/model.safetensors"
        ])
        .status
        .code(),
        Some(0)
    );
    assert_eq!(
        airlock(&["scan", "examples/models/whole_model.pt"])
            .status
            .code(),
        Some(1)
    );
    assert_eq!(
        airlock(&["scan", "examples/models/truncated.pt"])
            .status
            .code(),
        Some(2)
    );
    // Suspicious or dangerous wins over error.
    assert_eq!(
        airlock(&[
            "scan",
            "examples/models/truncated.pt",
            "examples/pickles/memo_trick.pkl"
        ])
        .status
        .code(),
        Some(1)
    );
    let missing = airlock(&["scan", "no/such/file.pt"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no/such/file.pt"));
    assert_eq!(airlock(&["scan"]).status.code(), Some(2));
    assert_eq!(
        airlock(&["scan", "--format", "yaml", "examples"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(airlock(&["frobnicate"]).status.code(), Some(2));
}

#[test]
fn output_file() {
    let dir = std::env::temp_dir().join(format!("airlock-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("report.sarif");
    let o = airlock(&[
        "scan",
        "-f",
        "sarif",
        "-o",
        out.to_str().unwrap(),
        "examples/pickles",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(o.stdout.is_empty());
    let sarif: Json = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn sarif_is_well_formed() {
    let o = airlock(&["scan", "--format", "sarif", "examples"]);
    let sarif: Json = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let run = &sarif["runs"][0];
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    assert!(rules.len() >= 20);
    for r in rules {
        assert!(r["id"].as_str().unwrap().starts_with("AL"));
        assert!(!r["help"]["text"].as_str().unwrap().is_empty());
        assert!(r["properties"]["security-severity"].as_str().is_some());
    }
    let results = run["results"].as_array().unwrap();
    assert!(!results.is_empty());
    for res in results {
        let index = res["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[index]["id"], res["ruleId"]);
        assert!(["error", "warning", "note"].contains(&res["level"].as_str().unwrap()));
        let uri = res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
            .as_str()
            .unwrap();
        assert!(uri.starts_with("examples/"), "{uri}");
    }
}

#[test]
fn snapshots() {
    let text = stdout(&airlock(&["scan", "-v", "examples"]));
    insta::assert_snapshot!("scan_text_verbose", text);
    let text = stdout(&airlock(&["scan", "examples"]));
    insta::assert_snapshot!("scan_text", text);
    let json: Json =
        serde_json::from_str(&stdout(&airlock(&["scan", "-f", "json", "examples"]))).unwrap();
    insta::assert_json_snapshot!("scan_json", json, {".tool.version" => "[version]"});
    let sarif: Json = serde_json::from_str(&stdout(&airlock(&[
        "scan",
        "-f",
        "sarif",
        "examples/pickles",
    ])))
    .unwrap();
    insta::assert_json_snapshot!("scan_sarif", sarif, {".runs[0].tool.driver.version" => "[version]"});
}

#[test]
fn rules_documentation_is_generated() {
    let o = airlock(&["rules", "--markdown"]);
    assert_eq!(o.status.code(), Some(0));
    let docs = std::fs::read_to_string(repo().join("docs/rules.md")).expect("docs/rules.md");
    assert_eq!(
        stdout(&o),
        docs,
        "docs/rules.md is stale: run `cargo run -p airlock-cli -- rules --markdown > docs/rules.md`"
    );
    let one = airlock(&["rules", "AL0001"]);
    assert!(stdout(&one).contains("## What it detects"));
    assert_eq!(airlock(&["rules", "AL9999"]).status.code(), Some(2));
}

#[test]
fn folders_skip_non_model_files_unless_asked() {
    let o = airlock(&["scan", "tests/fixtures/malicious"]);
    let text = stdout(&o);
    assert!(!text.contains("manifest.json"), "{text}");
    assert!(text.contains("were skipped"));
    let o = airlock(&["scan", "--all", "tests/fixtures/malicious"]);
    assert!(stdout(&o).contains("manifest.json"));
}

/// What `airlock convert` says when it refuses, for each kind of refusal:
/// a dangerous file, a class that is not data, storages that do not match
/// the pickle, formats that hold code. No output file is ever left behind.
#[test]
fn convert_refusals() {
    let out = std::env::temp_dir().join(format!("airlock-cli-refusals-{}", std::process::id()));
    std::fs::create_dir_all(&out).unwrap();
    let cases = [
        "tests/fixtures/malicious/os-system.pkl",
        "tests/fixtures/torch-edge/unknown_class_called.pt",
        "tests/fixtures/torch-edge/storage_size_mismatch.pt",
        "tests/fixtures/torch-edge/storage_record_missing.pt",
        "tests/fixtures/torch/ts_scripted.pt",
        "tests/fixtures/torch/quant_per_tensor.pt",
        "tests/fixtures/torch/np_array_object.pt",
        "tests/fixtures/joblib/sklearn-pipeline.joblib",
        "tests/fixtures/numpy/object.npy",
        "tests/fixtures/torch/sd_complex128.pt",
    ];
    let mut transcript = String::new();
    for case in cases {
        let target = out.join("out.safetensors");
        let o = airlock(&["convert", case, "-o", target.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&o.stderr).replace(out.to_str().unwrap(), "[out]");
        transcript.push_str(&format!(
            "$ airlock convert {case}\nexit {}\n{stderr}\n",
            o.status.code().unwrap_or(-1)
        ));
        assert!(!target.exists(), "{case}: an output was left behind");
        assert_eq!(
            std::fs::read_dir(&out).unwrap().count(),
            0,
            "{case}: a temporary file was left behind"
        );
    }
    std::fs::remove_dir_all(&out).ok();
    insta::assert_snapshot!("convert_refusals", transcript);
}

/// `airlock hash`, `sign` and `verify` on the signing fixtures (made by the
/// real model_signing, scripts/gen_signing_fixtures.py): exit statuses and
/// what is reported.
#[test]
fn hash_sign_and_verify() {
    let tmp = std::env::temp_dir().join(format!("airlock-cli-sign-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(tmp.join("model/weights")).unwrap();
    let fx = repo().join("tests/fixtures/signing");
    for f in [
        "config.json",
        "weights/a.bin",
        "weights-b.bin",
        "weights.c",
        "empty.txt",
    ] {
        std::fs::copy(fx.join("model").join(f), tmp.join("model").join(f)).unwrap();
    }
    let model = tmp.join("model");
    let model = model.to_str().unwrap();
    let sig = tmp.join("m.sig");
    let sig = sig.to_str().unwrap();
    let key = |n: &str| fx.join("keys").join(n).to_str().unwrap().to_string();
    let status = |o: &Output| o.status.code();

    // Checksum lists: written, checked, a change caught (exit 1).
    let list = airlock(&["hash", model]);
    assert_eq!(status(&list), Some(0));
    assert_eq!(stdout(&list).lines().count(), 5, "{}", stdout(&list));
    let sums = tmp.join("sums.txt");
    std::fs::write(&sums, &list.stdout).unwrap();
    assert_eq!(
        status(&airlock(&["hash", "-c", sums.to_str().unwrap()])),
        Some(0)
    );

    // Sign, verify, tamper.
    let o = airlock(&["sign", model, "--key", &key("p521.pem"), "-o", sig]);
    assert_eq!(
        status(&o),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = airlock(&["verify", model, "--sig", sig, "--key", &key("p521.pub.pem")]);
    assert_eq!(
        status(&o),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(stdout(&o).starts_with("verified "), "{}", stdout(&o));
    std::fs::write(tmp.join("model/weights.c"), b"changed").unwrap();
    let o = airlock(&["verify", model, "--sig", sig, "--key", &key("p521.pub.pem")]);
    assert_eq!(status(&o), Some(1));
    assert!(stdout(&o).contains("changed  weights.c"), "{}", stdout(&o));
    assert_eq!(
        status(&airlock(&["hash", "-c", sums.to_str().unwrap()])),
        Some(1)
    );
    // Another key: not verified; an unreadable or unusable key: an error.
    let o = airlock(&["verify", model, "--sig", sig, "--key", &key("p256.pub.pem")]);
    assert_eq!(status(&o), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("another key"));
    let o = airlock(&[
        "verify",
        model,
        "--sig",
        sig,
        "--key",
        &key("ed25519.pub.pem"),
    ]);
    assert_eq!(status(&o), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("Ed25519"));
    let o = airlock(&["sign", model, "--key", &key("rsa.pem"), "-o", sig]);
    assert_eq!(status(&o), Some(2));
    // A signature that is not one: never verified.
    std::fs::write(sig, b"{\"mediaType\": \"x\"}").unwrap();
    let o = airlock(&["verify", model, "--sig", sig, "--key", &key("p521.pub.pem")]);
    assert_eq!(status(&o), Some(1));
    // Neither --key nor --cert-chain: a usage error.
    assert_eq!(status(&airlock(&["verify", model, "--sig", sig])), Some(2));
    // model_signing's certificate-mode signature, with --scan: verified,
    // and the random .bin files are not model files anyone can load.
    let o = airlock(&[
        "verify",
        fx.join("model").to_str().unwrap(),
        "--sig",
        fx.join("sig/cert-leaf.sig").to_str().unwrap(),
        "--cert-chain",
        fx.join("pki/root.pem").to_str().unwrap(),
        "--scan",
    ]);
    assert_eq!(status(&o), Some(1), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("verified ") && stdout(&o).contains("NOT SAFE"),
        "{}",
        stdout(&o)
    );
    let _ = std::fs::remove_dir_all(&tmp);
}
