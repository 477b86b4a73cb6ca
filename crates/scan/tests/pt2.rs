//! The scanner on torch.export `.pt2` archives (`tests/fixtures/pt2`,
//! written by `scripts/gen_pt2_fixtures.py`):
//!
//! - the benign archives, written by the real `torch.export.save` and
//!   loaded by the real `torch.export.load` (`expected.json`), are programs:
//!   `suspicious`, with no finding of anything torch's writers never write,
//!   and nothing unreadable;
//! - the attack variants (`malicious/`), each proven by
//!   `scripts/prove_malicious.py` to run its payload in `torch.export.load`
//!   (or in the program it returns), are `dangerous`.

use std::path::{Path, PathBuf};

use airlock_policy::{Impact, Rule, Verdict};
use airlock_scan::{Options, scan_path};
use serde_json::Value as Json;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/pt2")
}

fn read_json(path: &Path) -> Json {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn messages(r: &airlock_scan::FileReport) -> Vec<String> {
    r.findings
        .iter()
        .map(|f| format!("{} {}", f.rule.id(), f.message))
        .collect()
}

#[test]
fn real_archives_are_programs_and_nothing_else() {
    let manifest = read_json(&fixtures().join("manifest.json"));
    let entries = manifest.as_array().unwrap();
    assert!(entries.len() >= 6);
    for e in entries {
        let file = e["file"].as_str().unwrap();
        let r = scan_path(&fixtures().join(file), file, &Options::default());
        assert_eq!(r.format.name(), "pytorch-export", "{file}");
        assert_eq!(r.weights_only, None, "{file}: torch.load does not read it");
        assert_eq!(r.verdict, Verdict::Suspicious, "{file}: {:?}", messages(&r));
        assert!(
            r.findings.iter().any(|f| f.rule == Rule::ExportedProgram),
            "{file}: the program is not reported"
        );
        for f in &r.findings {
            assert!(
                f.rule.impact() <= Impact::Suspicious,
                "{file}: {} {}",
                f.rule,
                f.message
            );
            assert_ne!(f.rule, Rule::ExportedProgramCapability, "{file}");
        }
        // Only the tensor subclass is pickled with a class outside the
        // allowlist.
        let foreign = r
            .findings
            .iter()
            .any(|f| f.rule == Rule::NonAllowlistedGlobal);
        assert_eq!(
            foreign,
            file == "subclass.pt2",
            "{file}: {:?}",
            messages(&r)
        );
    }
}

#[test]
fn the_dynamic_program_has_expressions_and_a_guard_torch_wrote() {
    let r = scan_path(
        &fixtures().join("dynamic.pt2"),
        "dynamic.pt2",
        &Options::default(),
    );
    let program = r
        .findings
        .iter()
        .find(|f| f.rule == Rule::ExportedProgram)
        .unwrap();
    assert!(
        program.message.contains("symbolic expression") && program.message.contains("1 guard"),
        "{}",
        program.message
    );
}

#[test]
fn every_attack_variant_is_dangerous() {
    let dir = fixtures().join("malicious");
    let manifest = read_json(&dir.join("manifest.json"));
    let proof = read_json(&dir.join("proof.json"));
    let entries = manifest.as_array().unwrap();
    assert!(entries.len() >= 10);
    for e in entries {
        let file = e["file"].as_str().unwrap();
        assert_eq!(
            proof["results"][file]["executed"],
            Json::Bool(true),
            "{file}: not proven to execute"
        );
        let r = scan_path(&dir.join(file), file, &Options::default());
        assert_eq!(r.verdict, Verdict::Dangerous, "{file}: {:?}", messages(&r));
    }
}

#[test]
fn recording_scans_record_the_configs_and_raw_records() {
    let opts = Options {
        record_pickles: true,
        ..Options::default()
    };
    let r = scan_path(&fixtures().join("mlp.pt2"), "mlp.pt2", &opts);
    let members: Vec<&str> = r
        .pickles
        .iter()
        .filter_map(|p| p.member.as_deref())
        .collect();
    assert!(members.contains(&"mlp/data/weights/model_weights_config.json"));
    assert!(members.contains(&"mlp/data/constants/model_constants_config.json"));
    let storages: Vec<&str> = r.storages.iter().map(|s| s.member.as_str()).collect();
    assert_eq!(storages.len(), 4, "{storages:?}");
    assert!(storages.contains(&"mlp/data/weights/weight_0"));
}
