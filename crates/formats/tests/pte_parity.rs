//! The `.pte` reader against what ExecuTorch's own Python reader found in
//! the programs ExecuTorch wrote (tests/fixtures/pte/manifest.json, made by
//! scripts/gen_pte_fixtures.py), and on the byte-edited variants.

use std::path::{Path, PathBuf};

use airlock_formats::pte::{BlobLocation, Pte, PteError};
use airlock_formats::{Format, MemSource, sniff};
use serde_json::Value;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/pte")
}

fn manifest(path: &Path) -> Vec<Value> {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn read(path: &Path) -> (Vec<u8>, Result<Pte, PteError>) {
    let bytes = std::fs::read(path).unwrap();
    let r = Pte::read(&MemSource::new(&bytes), 1 << 30);
    (bytes, r)
}

/// Compare a program read by this reader with ExecuTorch's reading.
fn same_as_executorch(file: &str, pte: &Pte, want: &Value) {
    let header = &want["extended_header"];
    let h = pte.header.expect("an extended header");
    assert_eq!(h.program_size, header["program_size"], "{file}");
    assert_eq!(
        h.segment_base_offset, header["segment_base_offset"],
        "{file}"
    );
    assert_eq!(h.segment_data_size, header["segment_data_size"], "{file}");
    assert_eq!(pte.version, want["version"], "{file}");
    let plans = want["plans"].as_array().unwrap();
    assert_eq!(pte.plans.len(), plans.len(), "{file}");
    for (p, w) in pte.plans.iter().zip(plans) {
        assert_eq!(p.name.as_deref(), w["name"].as_str(), "{file}");
        let ops: Vec<Value> = p
            .operators
            .iter()
            .map(|o| serde_json::json!([o.name, o.overload]))
            .collect();
        assert_eq!(&Value::Array(ops), &w["operators"], "{file}");
        let delegates = w["delegates"].as_array().unwrap();
        assert_eq!(p.delegates.len(), delegates.len(), "{file}");
        for (d, wd) in p.delegates.iter().zip(delegates) {
            assert_eq!(d.id, wd["id"], "{file}");
            let loc = match d.location {
                Some(BlobLocation::Inline) => "INLINE",
                Some(BlobLocation::Segment) => "SEGMENT",
                other => panic!("{file}: {other:?}"),
            };
            assert_eq!(loc, wd["location"], "{file}");
            assert_eq!(d.index, wd["index"], "{file}");
            assert_eq!(
                serde_json::json!(d.compile_specs),
                wd["compile_specs"],
                "{file}"
            );
        }
        let kinds = &w["instructions"];
        assert_eq!(
            p.kernel_calls as u64,
            kinds["KernelCall"].as_u64().unwrap_or(0),
            "{file}"
        );
        assert_eq!(
            p.delegate_calls as u64,
            kinds["DelegateCall"].as_u64().unwrap_or(0),
            "{file}"
        );
        assert_eq!(p.values as u64, w["values"], "{file}");
    }
    let segments: Vec<Value> = pte
        .segments
        .iter()
        .map(|s| serde_json::json!([s.offset, s.size]))
        .collect();
    assert_eq!(Value::Array(segments), want["segments"], "{file}");
    let cs = pte.constant_segment.as_ref().unwrap();
    assert_eq!(cs.segment_index, want["constant_segment"]["segment_index"]);
    assert_eq!(
        cs.offsets,
        want["constant_segment"]["offsets"]
            .as_array()
            .unwrap()
            .len()
    );
    let mds = want["mutable_data_segments"].as_array().unwrap();
    assert_eq!(pte.mutable_data_segments.len(), mds.len(), "{file}");
    for (m, w) in pte.mutable_data_segments.iter().zip(mds) {
        assert_eq!(m.segment_index, w["segment_index"], "{file}");
        assert_eq!(m.offsets, w["offsets"].as_array().unwrap().len(), "{file}");
    }
    assert_eq!(
        serde_json::json!(pte.constant_buffers),
        want["constant_buffer"],
        "{file}"
    );
    assert_eq!(
        serde_json::json!(pte.delegate_data),
        want["backend_delegate_data"],
        "{file}"
    );
    let named: Vec<Value> = pte
        .named_data
        .iter()
        .map(|n| serde_json::json!([n.key, n.segment_index]))
        .collect();
    assert_eq!(Value::Array(named), want["named_data"], "{file}");
}

#[test]
fn programs_read_as_executorch_reads_them() {
    let entries = manifest(&dir().join("manifest.json"));
    assert_eq!(entries.len(), 4);
    for e in &entries {
        let file = e["file"].as_str().unwrap();
        let (bytes, r) = read(&dir().join(file));
        assert_eq!(sniff(&MemSource::new(&bytes)).unwrap(), Format::ExecuTorch);
        let pte = r.unwrap_or_else(|err| panic!("{file}: {err}"));
        assert!(pte.problems.is_empty(), "{file}: {:?}", pte.problems);
        same_as_executorch(file, &pte, &e["program"]);
        // Every blob is where its reference says, and the runtime ran it.
        for p in &pte.plans {
            for d in &p.delegates {
                assert!(d.blob_size.is_some_and(|s| s > 0), "{file}: {d:?}");
            }
        }
        assert_eq!(e["runtime"]["load"], "ok", "{file}");
    }
}

#[test]
fn variants() {
    let entries = manifest(&dir().join("variants/manifest.json"));
    for e in &entries {
        let file = e["file"].as_str().unwrap();
        let (bytes, r) = read(&dir().join("variants").join(file));
        assert_eq!(
            sniff(&MemSource::new(&bytes)).unwrap(),
            Format::ExecuTorch,
            "{file}"
        );
        match file {
            // Renamed strings: the program reads as ExecuTorch reads it.
            "evil_namespace.pte" | "from_file.pte" | "unknown_backend.pte" | "aoti_backend.pte" => {
                let pte = r.unwrap();
                assert!(pte.problems.is_empty(), "{file}: {:?}", pte.problems);
                same_as_executorch(file, &pte, &e["program"]);
            }
            "truncated.pte" => {
                let err = r.unwrap_err();
                assert!(matches!(err, PteError::Header(_)), "{file}: {err}");
                assert!(err.to_string().contains("truncated"), "{err}");
            }
            "segment_cut.pte" => {
                let err = r.unwrap_err();
                assert!(err.to_string().contains("truncated"), "{file}: {err}");
            }
            "segment_oob.pte" => {
                let pte = r.unwrap();
                same_as_executorch(file, &pte, &e["program"]);
                assert!(
                    pte.problems
                        .iter()
                        .any(|p| p.contains("reaches past the end of the file")),
                    "{:?}",
                    pte.problems
                );
                assert_eq!(pte.plans[0].delegates[0].blob_size, None);
            }
            other => panic!("a variant this test does not know: {other}"),
        }
    }
}

/// Every cut and every flipped byte of a real program: an error or a
/// reading, never a panic.
#[test]
fn every_cut_and_byte_flip() {
    for name in ["mlp.pte", "xnnpack_inline.pte"] {
        let bytes = std::fs::read(dir().join(name)).unwrap();
        for cut in 0..bytes.len() {
            let r = Pte::read(&MemSource::new(&bytes[..cut]), 1 << 30);
            assert!(r.is_err() || !r.unwrap().problems.is_empty() || cut == bytes.len());
        }
        let flat = Pte::read(&MemSource::new(&bytes), 1 << 30)
            .unwrap()
            .program_size as usize;
        let mut refused = 0;
        for i in 0..flat {
            for x in [0x01u8, 0x80, 0xff] {
                let mut b = bytes.clone();
                b[i] ^= x;
                if let Err(PteError::Verifier(_)) = Pte::read(&MemSource::new(&b), 1 << 30) {
                    refused += 1;
                }
            }
        }
        // Offsets, lengths and vtables are most of a small program.
        assert!(
            refused > flat / 2,
            "{name}: {refused} of {} flips refused",
            3 * flat
        );
    }
}

#[test]
fn the_flatbuffer_limit_is_an_error() {
    let bytes = std::fs::read(dir().join("mlp.pte")).unwrap();
    let err = Pte::read(&MemSource::new(&bytes), 100).unwrap_err();
    assert!(matches!(err, PteError::TooLarge { .. }), "{err}");
}

#[test]
fn another_version_and_no_header() {
    let mut bytes = std::fs::read(dir().join("mlp.pte")).unwrap();
    bytes[6..8].copy_from_slice(b"11");
    assert_eq!(sniff(&MemSource::new(&bytes)).unwrap(), Format::ExecuTorch);
    let err = Pte::read(&MemSource::new(&bytes), 1 << 30).unwrap_err();
    assert!(matches!(err, PteError::Identifier(_)), "{err}");
    // Without the extended header the flatbuffer is the whole file: the
    // segment the constants are in is then not there.
    let mut bytes = std::fs::read(dir().join("mlp.pte")).unwrap();
    bytes[8..12].copy_from_slice(b"xx00");
    let pte = Pte::read(&MemSource::new(&bytes), 1 << 30).unwrap();
    assert!(pte.header.is_none());
    assert!(!pte.problems.is_empty());
}

/// Every byte of the flatbuffers of three programs flipped (xor 0xff),
/// against what ExecuTorch's runtime did with each
/// (`_load_program_from_buffer` with InternalConsistency verification, in
/// `runtime_flips.json`, written by `gen_pte_fixtures.py --flips`: 1 loaded,
/// 0 refused, -1 the bindings died, -2 a planned buffer they could not
/// allocate). The reader never accepts what the runtime refuses; it refuses
/// more (it also checks what the runtime only checks when a method loads).
#[test]
fn byte_flips_against_the_runtime() {
    let want: serde_json::Map<String, Value> =
        serde_json::from_slice(&std::fs::read(dir().join("runtime_flips.json")).unwrap()).unwrap();
    assert_eq!(want.len(), 3);
    for (name, results) in &want {
        let bytes = std::fs::read(dir().join(name)).unwrap();
        let (mut agree, mut stricter, mut laxer) = (0, 0, Vec::new());
        for (i, r) in results.as_array().unwrap().iter().enumerate() {
            let mut b = bytes.clone();
            b[i] ^= 0xff;
            let accepted =
                Pte::read(&MemSource::new(&b), 1 << 30).is_ok_and(|p| p.problems.is_empty());
            match (r.as_i64().unwrap(), accepted) {
                (1, true) | (0 | -1, false) | (-2, _) => agree += 1,
                (1, false) => stricter += 1,
                _ => laxer.push(i),
            }
        }
        println!(
            "{name}: {agree} agree, {stricter} refused here only, {} accepted here only",
            laxer.len()
        );
        assert!(
            laxer.is_empty(),
            "{name}: accepted where the runtime refused: {laxer:?}"
        );
        assert!(
            stricter * 20 < results.as_array().unwrap().len(),
            "{name}: {stricter}"
        );
    }
}

/// A program whose 400,000 values all reach one tensor with a million
/// sizes: within the verifier's table limit, but some 4e11 size checks if
/// each were made. The reader stops at its step budget, and says so.
#[test]
fn a_shared_vector_is_checked_within_the_budget() {
    let n: u32 = 400_000;
    let m: u32 = 1_000_000;
    let mut b: Vec<u8> = Vec::new();
    let u16s = |b: &mut Vec<u8>, v: &[u16]| v.iter().for_each(|x| b.extend(x.to_le_bytes()));
    let u32s = |b: &mut Vec<u8>, v: &[u32]| v.iter().for_each(|x| b.extend(x.to_le_bytes()));
    u32s(&mut b, &[16]); // root: the Program table at 16
    b.extend(b"ET12");
    u16s(&mut b, &[8, 8, 0, 4]); // Program's vtable: execution_plan at +4
    u32s(&mut b, &[8, 4]); // Program at 16: soffset, execution_plan -> 24
    u32s(&mut b, &[1, 16]); // plans at 24: one, -> 44
    u16s(&mut b, &[10, 8, 0, 0, 4, 0]); // the plan's vtable at 32: values at +4
    u32s(&mut b, &[12, 4]); // the plan at 44: soffset, values -> 52
    let e = 56 + 4 * n as usize; // the shared EValue's vtable
    b.extend(n.to_le_bytes()); // values at 52
    for i in 0..n as usize {
        let at = 56 + 4 * i;
        b.extend(((e + 8 - at) as u32).to_le_bytes());
    }
    u16s(&mut b, &[8, 12, 4, 8]); // EValue's vtable: type at +4, val at +8
    u32s(&mut b, &[8, 5, 16]); // EValue at e + 8: a Tensor, -> e + 8 + 8 + 16
    u16s(&mut b, &[10, 8, 0, 0, 4, 0]); // Tensor's vtable at e + 20: sizes at +4
    u32s(&mut b, &[12, 4]); // Tensor at e + 32: soffset, sizes -> e + 40
    b.extend(m.to_le_bytes());
    for _ in 0..m {
        b.extend(1u32.to_le_bytes());
    }
    let started = std::time::Instant::now();
    let pte = Pte::read(&MemSource::new(&b), 1 << 30).unwrap();
    assert!(started.elapsed().as_secs() < 30, "{:?}", started.elapsed());
    assert_eq!(pte.plans[0].values, n as usize);
    assert!(
        pte.problems.iter().any(|p| p.contains("analysis limit")),
        "{:?}",
        pte.problems
    );
}
