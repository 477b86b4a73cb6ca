//! Distributed checkpoints (`tests/fixtures/dcp`, written by real torch with
//! `scripts/gen_dcp_fixtures.py`) converted as `dcp_to_torch_save` +
//! `torch.load` would return them: the rebuilt tree, every tensor's dtype,
//! shape, strides, storage sharing and bytes (SHA-256) equal to what the
//! real loader returned (`expected.json`), the outputs valid and `safe`,
//! the malicious variants refused with nothing written. With
//! `AIRLOCK_CONVERT_PARITY_DIR`, the outputs and a `pairs.json` are kept
//! for `scripts/convert_parity.py` to compare with real torch again.

mod common;

use std::path::{Path, PathBuf};

use airlock_convert::{
    ConvertError, ConvertOptions, Target, convert_folder, dcp, input::ReadLimits,
};
use airlock_formats::{FileSource, safetensors};
use airlock_policy::Verdict;
use airlock_scan::{Options, scan_path};
use airlock_tensors::write::StorageBytes;
use serde_json::{Value as J, json};

#[path = "../../tensors/tests/common/canon.rs"]
mod canon;
use canon::Canon;
use sha2::{Digest, Sha256};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/dcp")
}

fn expected() -> J {
    serde_json::from_slice(&std::fs::read(fixtures().join("expected.json")).unwrap()).unwrap()
}

const BENIGN: &[&str] = &["model", "training", "per-item", "sharded"];

#[test]
fn the_rebuild_is_what_the_real_loader_returns() {
    let expected = expected();
    // Strided chunks gathered in memory (the default), and from the file
    // element by element (no memory allowed).
    let limits = [
        ReadLimits::default(),
        ReadLimits {
            max_inflated_bytes: 0,
            ..ReadLimits::default()
        },
    ];
    for (name, limits) in BENIGN
        .iter()
        .flat_map(|n| limits.iter().map(move |l| (n, l)))
    {
        let want = &expected["fixtures"][name];
        assert_eq!(want["rebuildable"], true, "{name}");
        let loaded = dcp::load(&fixtures().join(name), &Options::default(), limits)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let data: Vec<Vec<u8>> = loaded
            .rebuilt
            .storages
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let mut buf = vec![0u8; s.nbytes() as usize];
                loaded.storages.read(i, 0, &mut buf).unwrap();
                buf
            })
            .collect();
        let mut c = Canon::new(&loaded.rebuilt, &data);
        let tree = c.value(&loaded.rebuilt.root, "", true);
        assert_eq!(tree, want["tree"], "{name}: tree");
        assert_eq!(
            J::Array(c.tensors.clone()),
            want["tensors"],
            "{name}: tensors"
        );
        assert_eq!(J::Array(c.leaves.clone()), want["leaves"], "{name}: leaves");
        // The metadata is suspicious (pickle.load of torch's classes), the
        // shards safe.
        assert_eq!(loaded.verdict(), Verdict::Suspicious, "{name}");
        assert_eq!(loaded.reports.len(), loaded.inputs.len());
    }
}

#[test]
fn outputs_are_safe_and_hold_the_same_tensors() {
    let expected = expected();
    let (dir, keep) = common::parity_dir("dcp");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut pairs = Vec::new();
    for name in BENIGN {
        for to in [Target::Safetensors, Target::Pt] {
            let output = dir.join(dcp::output_name(name, to));
            let opts = ConvertOptions {
                to,
                ..ConvertOptions::default()
            };
            let c = dcp::convert(&fixtures().join(name), &output, &opts)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!((c.format, c.verdict), ("dcp", "suspicious"));
            let report = scan_path(&output, name, &Options::default());
            assert_eq!(
                report.verdict,
                Verdict::Safe,
                "{name}: {:#?}",
                report.findings
            );
            if to == Target::Safetensors {
                check_safetensors(&output, &expected["fixtures"][name]["tensors"]);
            } else {
                assert_eq!(report.weights_only, Some(true), "{name}");
            }
            pairs.push(json!({
                "input": fixtures().join(name).display().to_string(),
                "output": output.display().to_string(),
                "to": to.extension(),
                "loader": "dcp",
            }));
        }
    }
    std::fs::write(
        dir.join("pairs.json"),
        serde_json::to_string_pretty(&pairs).unwrap(),
    )
    .unwrap();
    if !keep {
        std::fs::remove_dir_all(&dir).ok();
    }
}

/// Every tensor the real loader returned is in the file under its dotted
/// path, with its dtype, shape and bytes.
fn check_safetensors(path: &Path, tensors: &J) {
    let bytes = std::fs::read(path).unwrap();
    let header = safetensors::read_header(&FileSource::open(path).unwrap()).unwrap();
    let base = 8 + u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    for t in tensors.as_array().unwrap() {
        let name = t["path"].as_str().unwrap();
        let got = header
            .tensors
            .iter()
            .find(|h| h.name == name)
            .unwrap_or_else(|| panic!("{}: no {name}", path.display()));
        let data = &bytes[base + got.offsets.0 as usize..base + got.offsets.1 as usize];
        assert_eq!(hex::encode(Sha256::digest(data)), t["sha256"], "{name}");
        let shape: Vec<u64> = t["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_u64().unwrap())
            .collect();
        assert_eq!(got.shape, shape, "{name}");
    }
}

#[test]
fn malicious_checkpoints_are_refused_and_nothing_is_written() {
    let (dir, _) = common::parity_dir("dcp-refused");
    std::fs::create_dir_all(&dir).unwrap();
    for name in ["malicious-metadata", "malicious-bytes"] {
        let output = dir.join(format!("{name}.safetensors"));
        let _ = std::fs::remove_file(&output);
        match dcp::convert(&fixtures().join(name), &output, &ConvertOptions::default()) {
            Err(ConvertError::Refused(r)) => assert_eq!(r.verdict, Verdict::Dangerous, "{name}"),
            other => panic!("{name}: {:?}", other.map(|c| c.output)),
        }
        assert!(!output.exists(), "{name}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_folder_of_checkpoints_converts_each_into_one_file() {
    let (dir, _) = common::parity_dir("dcp-folder");
    let _ = std::fs::remove_dir_all(&dir);
    let outcome = convert_folder(&fixtures(), &dir, &ConvertOptions::default()).unwrap();
    let mut converted: Vec<&str> = outcome
        .converted
        .iter()
        .map(|c| c.output.as_str())
        .collect();
    converted.sort_unstable();
    let want: Vec<String> = ["model", "per-item", "sharded", "training"]
        .iter()
        .map(|n| dir.join(format!("{n}.safetensors")).display().to_string())
        .collect();
    assert_eq!(converted, want);
    let failed: Vec<&str> = outcome.failed.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(failed.len(), 2, "{:?}", outcome.failed);
    assert!(
        outcome
            .failed
            .iter()
            .all(|(_, why)| why.contains("dangerous"))
    );
    // The shards and metadata are the checkpoints', not files of their own.
    assert!(outcome.skipped.is_empty(), "{:?}", outcome.skipped);
    assert!(!dir.join("model").exists());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_shard_or_metadata_alone_points_to_its_folder() {
    let output = std::env::temp_dir().join(format!(
        "airlock-dcp-one-{}.safetensors",
        std::process::id()
    ));
    for file in ["model/.metadata", "training/__0_0.distcp"] {
        let e = airlock_convert::convert_file(
            &fixtures().join(file),
            &output,
            &ConvertOptions::default(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("convert its folder"), "{file}: {e}");
    }
    assert!(!output.exists());
}

#[test]
fn inspect_shows_the_checkpoint_as_the_real_loader_returns_it() {
    let i = airlock_convert::inspect::inspect(&fixtures().join("training"), &Options::default())
        .unwrap();
    assert_eq!((i.format, i.verdict), ("dcp", "suspicious"));
    assert!(i.not_rebuilt.is_none());
    assert_eq!(i.tensors.len(), 16);
    assert_eq!(i.metadata["epoch"], json!(3));
    assert!(
        i.findings
            .iter()
            .all(|f| f.starts_with(".metadata: AL0005")),
        "{:#?}",
        i.findings
    );
    let i =
        airlock_convert::inspect::inspect(&fixtures().join("malicious-bytes"), &Options::default())
            .unwrap();
    assert_eq!(i.verdict, "dangerous");
    assert!(i.tensors.is_empty() && i.not_rebuilt.is_some());
    assert!(
        i.findings[0].starts_with("__0_0.distcp: AL0001"),
        "{:#?}",
        i.findings
    );
}
