//! joblib parity: on files written by the real `joblib.dump`
//! (`scripts/gen_joblib_fixtures.py`), the engine with [`JoblibHost`] finds
//! exactly the array bytes joblib wrote (same SHA-256 for every array),
//! follows object arrays' nested pickles, and ends exactly where the file
//! ends.

use std::collections::BTreeMap;

use airlock_formats::joblib::JoblibHost;
use airlock_pickle::{EngineConfig, LegacyEncoding};
use serde_json::Value as Json;
use sha2::{Digest, Sha256};

fn dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/joblib")
}

/// `joblib.load` unpickles with `pickle._Unpickler` defaults.
fn config() -> EngineConfig {
    EngineConfig {
        encoding: LegacyEncoding::Ascii,
        persistent_load: false,
        max_pickles: Some(1),
        ..EngineConfig::default()
    }
}

#[test]
fn inline_arrays_match_what_joblib_wrote() {
    let manifest: Json =
        serde_json::from_slice(&std::fs::read(dir().join("manifest.json")).unwrap()).unwrap();
    let mut checked = 0;
    for f in manifest["files"].as_array().unwrap() {
        if f["loader"] != "joblib.load" || !f["compression"].is_null() {
            continue;
        }
        let name = f["file"].as_str().unwrap();
        let data = std::fs::read(dir().join(name)).unwrap();
        let mut host = JoblibHost::new(config());
        let a = config().analyze_with(&data, 0, &mut host);
        assert!(a.error().is_none(), "{name}: {:?}", a.error());
        assert!(host.problems.is_empty(), "{name}: {:?}", host.problems);
        assert_eq!(a.end, data.len(), "{name}: the pickle ends the file");

        // Same arrays (as a multiset: traversal order of objects differs
        // from pickling order for class instances).
        let mut want: BTreeMap<(String, bool), usize> = BTreeMap::new();
        for arr in f["arrays"].as_array().unwrap() {
            let key = arr["sha256"].as_str().unwrap_or("object").to_string();
            *want
                .entry((key, arr["object"].as_bool().unwrap()))
                .or_default() += 1;
        }
        let mut got: BTreeMap<(String, bool), usize> = BTreeMap::new();
        for arr in &host.arrays {
            let key = if arr.object {
                "object".to_string()
            } else {
                let bytes = &data[arr.data_start..arr.start + arr.len];
                hex::encode(Sha256::digest(bytes))
            };
            *got.entry((key, arr.object)).or_default() += 1;
        }
        assert_eq!(got, want, "{name}");
        for n in &host.nested {
            assert!(n.analysis.error().is_none(), "{name}: nested pickle failed");
        }
        checked += 1;
    }
    assert!(checked >= 7, "only {checked} joblib files checked");
}

#[test]
fn without_the_host_the_arrays_derail_a_plain_reading() {
    // What a scanner that decodes joblib files as plain pickles sees: the
    // raw array bytes are taken for opcodes.
    let data = std::fs::read(dir().join("numeric.joblib")).unwrap();
    let a = config().analyze(&data);
    assert!(a.error().is_some());
}
