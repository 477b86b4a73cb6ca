//! NumPy files end to end: every `.npy` fixture written or hand-built by
//! `scripts/gen_numpy_fixtures.py` gets the verdict what real `np.load`
//! did with it implies (`manifest.json`): `safe` when it loads with
//! `allow_pickle=False`, or when only its header length needs
//! `allow_pickle=True` (a note says so); never `safe` otherwise (object
//! arrays are `suspicious` or worse, broken files `error`). Descriptors
//! Airlock deliberately does not interpret (the generator marks them "not
//! interpreted") are `error`, never a guess.

use airlock_policy::{Rule, Verdict};
use airlock_scan::{Options, scan_path};
use serde_json::Value as Json;

fn dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/numpy")
}

#[test]
fn verdicts_follow_what_numpy_load_does() {
    let manifest: Json =
        serde_json::from_slice(&std::fs::read(dir().join("manifest.json")).unwrap()).unwrap();
    let mut failures = Vec::new();
    let (mut safe, mut not_safe) = (0, 0);
    for f in manifest["files"].as_array().unwrap() {
        let name = f["file"].as_str().unwrap();
        if !name.ends_with(".npy") {
            continue;
        }
        let r = scan_path(&dir().join(name), name, &Options::default());
        let loads = f["load"]["ok"].as_bool() == Some(true);
        let trusted = f["load_trusted"]["ok"].as_bool() == Some(true);
        let object = f["header"]["dtype"]["hasobject"].as_bool() == Some(true)
            || f["header"]["dtype"]["kind"] == "O";
        let refused = f["description"]
            .as_str()
            .unwrap_or("")
            .contains("not interpreted");
        let ok = if refused {
            not_safe += 1;
            r.verdict == Verdict::Error
        } else if object {
            not_safe += 1;
            r.verdict != Verdict::Safe
                && r.findings.iter().any(|f| f.rule == Rule::NumpyObjectArray)
        } else if loads || trusted {
            safe += 1;
            r.verdict == Verdict::Safe
                && (loads || r.findings.iter().any(|f| f.rule == Rule::NpyLargeHeader))
        } else {
            not_safe += 1;
            r.verdict == Verdict::Error
        };
        if !ok {
            failures.push(format!(
                "{name}: np.load ok={loads} object={object}, verdict {} {:?}",
                r.verdict,
                r.findings.iter().map(|f| &f.message).collect::<Vec<_>>()
            ));
        }
    }
    assert!(
        safe >= 50 && not_safe >= 20,
        "{safe} loadable, {not_safe} not"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn npz_archives_are_read_as_numpy_reads_them() {
    let savez = scan_path(
        &dir().join("../pyzip/savez.npz"),
        "savez.npz",
        &Options::default(),
    );
    assert_eq!(savez.format.name(), "npz");
    assert_eq!(savez.verdict, Verdict::Safe, "{:?}", savez.findings);
    let compressed = scan_path(
        &dir().join("../pyzip/savez_compressed.npz"),
        "c.npz",
        &Options::default(),
    );
    assert_eq!(
        compressed.verdict,
        Verdict::Safe,
        "{:?}",
        compressed.findings
    );
}
