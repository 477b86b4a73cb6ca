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

/// For every member `torch.export.load` hands to `torch.load`, the scan
/// predicts what real `torch.load(weights_only=True)` did with it when the
/// fixtures were written: a refusal (AL0026) exactly where torch refused.
#[test]
fn weights_only_prediction_matches_torch_on_every_member() {
    let expected = read_json(&fixtures().join("expected.json"));
    let mut members = 0;
    for (file, want) in expected.as_object().unwrap() {
        let r = scan_path(&fixtures().join(file), file, &Options::default());
        for (member, ok) in want["weights_only"].as_object().unwrap() {
            members += 1;
            let refused = r.findings.iter().any(|f| {
                f.rule == Rule::WeightsOnlyRefusal
                    && f.location
                        .member
                        .as_deref()
                        .is_some_and(|m| m == member || m.starts_with(&format!("{member} / ")))
            });
            assert_eq!(
                !refused,
                ok.as_bool().unwrap(),
                "{file}: {member}: {:?}",
                messages(&r)
            );
        }
    }
    assert!(members >= 9, "{members}");
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

/// The entries of a fixture, as (name, bytes).
fn members(file: &str) -> Vec<(String, Vec<u8>)> {
    use airlock_formats::zip::{Extracted, TorchZip};
    let data = std::fs::read(fixtures().join(file)).unwrap();
    let src = airlock_formats::MemSource::new(&data);
    let zip = TorchZip::open(&src).unwrap();
    (0..zip.entries.len())
        .map(|i| match zip.extract(&src, i, 1 << 20).unwrap() {
            Extracted::Data(d) => (zip.entries[i].name_lossy(), d),
            other => panic!("{other:?}"),
        })
        .collect()
}

/// A ZIP of stored entries, as torch's writer lays them out.
fn zip(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data) in entries {
        let crc = crc32fast::hash(data);
        let offset = out.len() as u32;
        let fixed = |sig: u32, central: bool| {
            let mut h = sig.to_le_bytes().to_vec();
            if central {
                h.extend(20u16.to_le_bytes());
            }
            for v in [20u16, 0, 0, 0, 0x21] {
                h.extend(v.to_le_bytes());
            }
            for v in [crc, data.len() as u32, data.len() as u32] {
                h.extend(v.to_le_bytes());
            }
            h.extend((name.len() as u16).to_le_bytes());
            h.extend(0u16.to_le_bytes());
            h
        };
        out.extend(fixed(0x04034b50, false));
        out.extend(name.as_bytes());
        out.extend(data);
        central.extend(fixed(0x02014b50, true));
        central.extend([0u8; 6]);
        central.extend([0u8, 0, 0xa4, 0x81]);
        central.extend(offset.to_le_bytes());
        central.extend(name.as_bytes());
    }
    let at = out.len() as u32;
    out.extend(&central);
    out.extend(0x06054b50u32.to_le_bytes());
    out.extend([0u8; 4]);
    let n = entries.len() as u16;
    out.extend(n.to_le_bytes());
    out.extend(n.to_le_bytes());
    out.extend((central.len() as u32).to_le_bytes());
    out.extend(at.to_le_bytes());
    out.extend([0u8; 2]);
    out
}

/// `mlp.pt2` with the member ending in `suffix` changed by `edit`.
fn edited(suffix: &str, edit: impl Fn(&[u8]) -> Vec<u8>) -> Vec<(String, Vec<u8>)> {
    let mut m = members("mlp.pt2");
    let e = m.iter_mut().find(|(n, _)| n.ends_with(suffix)).unwrap();
    e.1 = edit(&e.1);
    m
}

fn replace_text(from: &str, to: &str) -> impl Fn(&[u8]) -> Vec<u8> {
    let (from, to) = (from.to_string(), to.to_string());
    move |d| {
        let s = String::from_utf8(d.to_vec()).unwrap();
        assert!(s.contains(&from), "{from} not in {s}");
        s.replacen(&from, &to, 1).into_bytes()
    }
}

fn scan(entries: &[(String, Vec<u8>)]) -> airlock_scan::FileReport {
    airlock_scan::scan_bytes(&zip(entries), "x.pt2", &Options::default())
}

fn has(r: &airlock_scan::FileReport, rule: Rule, text: &str) -> bool {
    r.findings
        .iter()
        .any(|f| f.rule == rule && f.message.contains(text))
}

#[test]
fn the_rebuilt_fixture_is_the_fixture() {
    let r = scan(&members("mlp.pt2"));
    assert_eq!(r.verdict, Verdict::Suspicious, "{:?}", messages(&r));
}

#[test]
fn layouts_torch_fails_on_are_errors() {
    let r = scan(&edited("/archive_version", |_| b"1".to_vec()));
    assert!(
        has(&r, Rule::Pt2Layout, "archive_version"),
        "{:?}",
        messages(&r)
    );
    assert_eq!(r.verdict, Verdict::Error);
    // A view past the end of its record.
    let r = scan(&edited(
        "/model_weights_config.json",
        replace_text(
            r#"{"as_int": 8}, {"as_int": 4}"#,
            r#"{"as_int": 80}, {"as_int": 4}"#,
        ),
    ));
    assert!(
        has(&r, Rule::Pt2Layout, "reaches past"),
        "{:?}",
        messages(&r)
    );
    // A constant of no known kind sends the loader to the older layout.
    let r = scan(&edited(
        "/model_constants_config.json",
        replace_text(
            r#"{"config": {}}"#,
            r#"{"config": {"c": {"path_name": "x_0", "is_param": false, "use_pickle": true, "tensor_meta": null}}}"#,
        ),
    ));
    assert!(
        has(&r, Rule::Pt2Layout, "of no kind torch knows"),
        "{:?}",
        messages(&r)
    );
    // JSON Python reads differently from this reader is not followed.
    let r = scan(&edited("/model_weights_config.json", |_| {
        b"{\"config\": NaN}".to_vec()
    }));
    assert!(has(&r, Rule::Pt2Layout, "not JSON"), "{:?}", messages(&r));
}

#[test]
fn use_pickle_is_what_python_finds_true() {
    // A duplicated key: Python keeps the last value; a non-empty string is
    // true. Either way the raw record is read with torch.load.
    for flag in [
        r#""use_pickle": false, "use_pickle": true"#,
        r#""use_pickle": "no""#,
    ] {
        let r = scan(&edited(
            "/model_weights_config.json",
            replace_text(r#""use_pickle": false"#, flag),
        ));
        assert!(
            r.findings.iter().any(|f| f
                .message
                .contains("read with torch.load(weights_only=False)")),
            "{flag}: {:?}",
            messages(&r)
        );
        assert_ne!(r.verdict, Verdict::Safe);
    }
}

#[test]
fn what_torch_writes_stays_suspicious_and_the_rest_is_dangerous() {
    let program =
        |from: &str, to: &str| scan(&edited("/models/model.json", replace_text(from, to)));
    let r = program(
        r#""guards_code": []"#,
        r#""guards_code": ["L['x'].size()[0] <= 64"]"#,
    );
    assert_eq!(r.verdict, Verdict::Suspicious, "{:?}", messages(&r));
    let r = program(
        r#""guards_code": []"#,
        r#""guards_code": ["L['x'].numpy().tofile('/tmp/x')"]"#,
    );
    assert!(has(&r, Rule::ExportedProgramCapability, "guard"));
    assert_eq!(r.verdict, Verdict::Dangerous);
    let r = program(
        "torch.ops.aten.relu.default",
        "torch.serialization.os.system",
    );
    assert!(
        has(&r, Rule::ExportedProgramCapability, "not an operator"),
        "{:?}",
        messages(&r)
    );
    let r = program(
        "torch.ops.aten.relu.default",
        "torch.ops.aten.from_file.default",
    );
    assert!(has(&r, Rule::ExportedProgramCapability, "aten::from_file"));
    let r = program(
        "torch.ops.aten.relu.default",
        "torch.ops.mylib.relu.default",
    );
    assert!(
        has(&r, Rule::ExportedProgram, "outside torch: mylib::relu"),
        "{:?}",
        messages(&r)
    );
    assert_eq!(r.verdict, Verdict::Suspicious);
}

#[test]
fn native_code_and_checkpoints_in_the_archive_are_seen() {
    let mut m = members("mlp.pt2");
    m.push((
        "mlp/data/aotinductor/model/model.so".into(),
        b"\x7fELF".to_vec(),
    ));
    let r = scan(&m);
    assert!(
        has(&r, Rule::ExportedProgramCapability, "AOTInductor"),
        "{:?}",
        messages(&r)
    );
    assert_eq!(r.verdict, Verdict::Dangerous);
    // A .pt2 that is also a torch checkpoint: torch.load reads its data.pkl.
    let mut m = members("mlp.pt2");
    m.push((
        "mlp/data.pkl".into(),
        b"\x80\x02cposix\nsystem\nX\x02\x00\x00\x00idtR.".to_vec(),
    ));
    let r = scan(&m);
    assert_eq!(r.format.name(), "pytorch-export");
    assert_eq!(r.verdict, Verdict::Dangerous, "{:?}", messages(&r));
    assert_eq!(r.weights_only, Some(false));
}

#[test]
fn a_config_entry_this_reader_does_not_read_does_not_hide_the_others() {
    // torch takes `"dtype": 7.0` for 7 (an IntEnum key); this reader does
    // not read that tensor, but the pickled weight after it is still
    // scanned as torch.load reads it.
    let payload = b"\x80\x02cposix\nsystem\nX\x02\x00\x00\x00idtR.".to_vec();
    let inner = zip(&[
        ("archive/data.pkl".into(), payload),
        ("archive/version".into(), b"3\n".to_vec()),
    ]);
    let mut m = edited(
        "/model_weights_config.json",
        replace_text(
            r#"{"config": {"#,
            r#"{"config": {"extra": {"path_name": "weight_9", "is_param": false, "use_pickle": true, "tensor_meta": null}, "#,
        ),
    );
    let cfg = m
        .iter_mut()
        .find(|(n, _)| n.ends_with("/model_weights_config.json"))
        .unwrap();
    cfg.1 = replace_text(r#""dtype": 7"#, r#""dtype": 7.0"#)(&cfg.1);
    m.push(("mlp/data/weights/weight_9".into(), inner));
    let r = scan(&m);
    assert_eq!(r.verdict, Verdict::Dangerous, "{:?}", messages(&r));
    assert!(has(&r, Rule::Pt2Layout, "dtype"), "{:?}", messages(&r));
}
