//! torch.export `.pt2` archives (`tests/fixtures/pt2`, written by the real
//! `torch.export.save`, see `scripts/gen_pt2_fixtures.py`) converted to
//! safetensors: every tensor of `torch.export.load(...).state_dict` and of
//! its tensor constants, under its name, bit for bit what the real loader
//! returned (`expected.json`: dtype, shape and the SHA-256 of the
//! contiguous bytes). What cannot be converted is refused with the reason,
//! and the attack variants are never converted.
//!
//! Also ExecuTorch tensor data files (`tests/fixtures/pte/external`, written
//! by ExecuTorch's exporter, see `scripts/gen_pte_fixtures.py`), the other
//! exported format whose weights are named: every tensor under its name,
//! bit for bit the module's state dict the program was exported from.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use airlock_convert::{ConvertOptions, Target, convert_file};
use airlock_formats::{FileSource, Source, safetensors};
use airlock_policy::Verdict;
use airlock_scan::{Options, scan_path};
use serde_json::Value as Json;
use sha2::Digest;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/pt2")
}

fn out_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("airlock-pt2-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// safetensors' dtype names, as torch names them.
fn torch_dtype(st: &str) -> &str {
    match st {
        "F64" => "float64",
        "F32" => "float32",
        "F16" => "float16",
        "BF16" => "bfloat16",
        "F8_E4M3" => "float8_e4m3fn",
        "F8_E5M2" => "float8_e5m2",
        "I64" => "int64",
        "I32" => "int32",
        "I16" => "int16",
        "I8" => "int8",
        "U8" => "uint8",
        "BOOL" => "bool",
        other => panic!("unexpected dtype {other}"),
    }
}

/// Every tensor of a safetensors file: (dtype, shape, SHA-256 of its bytes).
fn tensors(path: &Path) -> BTreeMap<String, (String, Vec<u64>, String)> {
    let src = FileSource::open(path).unwrap();
    let header = safetensors::read_header(&src).unwrap();
    let base = 8 + header.header_len;
    header
        .tensors
        .iter()
        .map(|t| {
            let bytes = src
                .read_vec(base + t.offsets.0, (t.offsets.1 - t.offsets.0) as usize)
                .unwrap();
            let sha = hex::encode(sha2::Sha256::digest(&bytes));
            (
                t.name.clone(),
                (torch_dtype(&t.dtype).to_string(), t.shape.clone(), sha),
            )
        })
        .collect()
}

/// The tensor `name` was written with the dtype, shape and bytes `want`
/// records (the fixtures' expected.json and manifest.json shape).
fn same_tensor(
    got: &BTreeMap<String, (String, Vec<u64>, String)>,
    file: &str,
    name: &str,
    want: &Json,
) {
    let (dtype, shape, sha) = got
        .get(name)
        .unwrap_or_else(|| panic!("{file}: {name} not written"));
    assert_eq!(dtype, want["dtype"].as_str().unwrap(), "{file}: {name}");
    let want_shape: Vec<u64> = want["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().unwrap())
        .collect();
    assert_eq!(shape, &want_shape, "{file}: {name}");
    assert_eq!(sha, want["sha256"].as_str().unwrap(), "{file}: {name}");
}

#[test]
fn weights_convert_bit_identical_to_torch_export_load() {
    let expected: Json =
        serde_json::from_slice(&std::fs::read(fixtures().join("expected.json")).unwrap()).unwrap();
    let out = out_dir("parity");
    let mut converted = 0;
    let mut refused = Vec::new();
    for (file, want) in expected.as_object().unwrap() {
        let output = out.join(format!("{file}.safetensors"));
        match convert_file(&fixtures().join(file), &output, &ConvertOptions::default()) {
            Ok(c) => {
                converted += 1;
                assert_eq!(c.verdict, "suspicious", "{file}");
                let got = tensors(&output);
                let mut names = 0;
                for part in ["state_dict", "constants"] {
                    for (name, t) in want[part].as_object().unwrap() {
                        names += 1;
                        same_tensor(&got, file, name, t);
                    }
                }
                assert_eq!(got.len(), names, "{file}: extra tensors written");
                let report = scan_path(&output, file, &Options::default());
                assert_eq!(report.verdict, Verdict::Safe, "{file}");
            }
            Err(e) => {
                assert!(!output.exists(), "{file}: a refused conversion left a file");
                refused.push((file.clone(), e.to_string()));
            }
        }
    }
    let refused_files: Vec<&str> = refused.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(refused_files, vec!["subclass.pt2"], "{refused:#?}");
    assert!(refused[0].1.contains("tensor subclass"), "{}", refused[0].1);
    assert_eq!(converted, 6);
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn weights_convert_to_a_weights_only_checkpoint() {
    let out = out_dir("pt");
    let output = out.join("buffers_constants.pt");
    let opts = ConvertOptions {
        to: Target::Pt,
        ..ConvertOptions::default()
    };
    let c = convert_file(&fixtures().join("buffers_constants.pt2"), &output, &opts).unwrap();
    assert_eq!(c.tensors, 7);
    let report = scan_path(&output, "out.pt", &Options::default());
    assert_eq!(report.verdict, Verdict::Safe);
    assert_eq!(report.weights_only, Some(true));
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn attack_variants_are_never_converted() {
    let dir = fixtures().join("malicious");
    let out = out_dir("refused");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let input = entry.unwrap().path();
        if input.extension().is_none_or(|e| e != "pt2") {
            continue;
        }
        let output = out.join("x.safetensors");
        let err = convert_file(&input, &output, &ConvertOptions::default())
            .expect_err(&input.display().to_string());
        assert!(!output.exists());
        assert!(
            err.to_string().contains("dangerous"),
            "{}: {err}",
            input.display()
        );
    }
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn tensor_data_files_convert_bit_identical_to_the_state_dict() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/pte/external");
    let manifest: Json =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    let out = out_dir("ptd");
    let mut converted = 0;
    for entry in manifest.as_array().unwrap() {
        let file = entry["ptd"].as_str().unwrap();
        let output = out.join(format!("{file}.safetensors"));
        let named = entry["data"]["named_data"].as_array().unwrap();
        let result = convert_file(&dir.join(file), &output, &ConvertOptions::default());
        if named.iter().any(|n| n["tensor_layout"].is_null()) {
            let err = result.expect_err(file).to_string();
            assert!(
                err.contains("blobs without a tensor layout"),
                "{file}: {err}"
            );
            assert!(!output.exists());
            continue;
        }
        let c = result.unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(c.verdict, "safe", "{file}");
        converted += 1;
        let got = tensors(&output);
        let want = entry["state_dict"].as_object().unwrap();
        assert_eq!(got.len(), want.len(), "{file}");
        for (name, t) in want {
            same_tensor(&got, file, name, t);
        }
        let report = scan_path(&output, file, &Options::default());
        assert_eq!(report.verdict, Verdict::Safe, "{file}");
    }
    assert_eq!(converted, 1);
    for v in ["bad_dim_order.ptd", "segment_cut.ptd", "truncated.ptd"] {
        let output = out.join("v.safetensors");
        let err = convert_file(
            &dir.join("variants").join(v),
            &output,
            &ConvertOptions::default(),
        )
        .expect_err(v);
        assert!(!output.exists(), "{v}: {err}");
    }
    std::fs::remove_dir_all(&out).ok();
}
