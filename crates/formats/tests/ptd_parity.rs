//! The `.ptd` reader against what ExecuTorch's own Python reader found in
//! the tensor data files ExecuTorch wrote (tests/fixtures/pte/external,
//! made by scripts/gen_pte_fixtures.py), and against what its C++ runtime
//! did with the byte-edited copies.

use std::path::{Path, PathBuf};

use airlock_formats::ptd::{Ptd, PtdError};
use airlock_formats::{Format, MemSource, sniff};
use serde_json::{Value, json};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/pte/external")
}

fn manifest(path: &Path) -> Vec<Value> {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn read(path: &Path) -> Result<Ptd, PtdError> {
    let bytes = std::fs::read(path).unwrap();
    let src = MemSource::new(&bytes);
    assert_eq!(sniff(&src).unwrap(), Format::ExecuTorchData, "{path:?}");
    Ptd::read(&src, 1 << 30)
}

/// The reader's view in the shape of the generator's `ptd_view`.
fn view(p: &Ptd) -> Value {
    let h = &p.header;
    json!({
        "header": {
            "flatbuffer_offset": h.flatbuffer_offset,
            "flatbuffer_size": h.flatbuffer_size,
            "segment_base_offset": h.segment_base_offset,
            "segment_data_size": h.segment_data_size,
        },
        "version": p.version,
        "segments": p.segments.iter().map(|s| json!([s.offset, s.size])).collect::<Vec<_>>(),
        "named_data": p.entries.iter().map(|e| json!({
            "key": e.name(),
            "segment_index": e.segment_index,
            "tensor_layout": e.layout.as_ref().map(|l| json!({
                "scalar_type": l.scalar_type,
                "sizes": l.sizes,
                "dim_order": l.dim_order,
            })),
        })).collect::<Vec<_>>(),
    })
}

#[test]
fn files_executorch_wrote_read_as_its_reader_reads_them() {
    let files = manifest(&dir().join("manifest.json"));
    assert_eq!(files.len(), 2);
    for f in &files {
        let name = f["ptd"].as_str().unwrap();
        assert_eq!(f["runtime"]["load"], "ok", "{name}: the runtime ran it");
        assert_eq!(f["runtime"]["matches_eager"], true, "{name}");
        let ptd = read(&dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(view(&ptd), f["data"], "{name}");
        assert!(ptd.entries.iter().all(|e| e.problem.is_none()), "{name}");
    }
    // The portable program's file names every weight with its layout; the
    // XNNPACK one holds blobs only.
    let named = |i: usize| read(&dir().join(files[i]["ptd"].as_str().unwrap())).unwrap();
    let portable = named(0);
    let keys: Vec<String> = portable.entries.iter().map(|e| e.name()).collect();
    let mut state: Vec<&String> = files[0]["state_dict"].as_object().unwrap().keys().collect();
    state.sort();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(sorted.iter().collect::<Vec<_>>(), state);
    assert!(portable.entries.iter().all(|e| e.layout.is_some()));
    assert!(named(1).entries.iter().all(|e| e.layout.is_none()));
}

#[test]
fn copies_the_runtime_fails_on_are_refused() {
    let variants = manifest(&dir().join("variants/manifest.json"));
    assert_eq!(variants.len(), 3);
    for v in &variants {
        let name = v["file"].as_str().unwrap();
        assert_eq!(v["expected"], "error", "{name}");
        assert_ne!(v["runtime"]["load"], "ok", "{name}: the runtime refused it");
        let whole = read(&dir().join("variants").join(name));
        let refused = match &whole {
            Err(_) => true,
            Ok(p) => p.entries.iter().any(|e| e.problem.is_some()),
        };
        assert!(refused, "{name}: {whole:?}");
    }
}

#[test]
fn every_cut_of_a_file_is_refused_and_none_panics() {
    let bytes = std::fs::read(dir().join("mlp_weights.ptd")).unwrap();
    for cut in 0..bytes.len() {
        let r = Ptd::read(&MemSource::new(&bytes[..cut]), 1 << 30);
        assert!(r.is_err(), "cut at {cut}: {r:?}");
    }
    for i in 0..bytes.len() {
        let mut b = bytes.clone();
        b[i] ^= 0xff;
        let _ = Ptd::read(&MemSource::new(&b), 1 << 30);
    }
}
