//! Convert every benign torch fixture (written by real torch, see
//! `tests/fixtures/torch/manifest.json`) to safetensors and to a
//! `weights_only` checkpoint. Every output must be valid and scan `safe`;
//! refusals must say why. The outputs and a `pairs.json` are written to
//! `AIRLOCK_CONVERT_PARITY_DIR` when it is set, for
//! `scripts/convert_parity.py` to compare every tensor with what real
//! `torch.load` gives (`scripts/test.sh` runs both).

mod common;

use std::path::{Path, PathBuf};

use airlock_convert::{ConvertOptions, Target, convert_file, shards};
use airlock_formats::{FileSource, safetensors};
use airlock_policy::Verdict;
use airlock_scan::{Options, scan_path};
use serde_json::{Value as Json, json};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/torch")
}

#[test]
fn every_benign_fixture_converts_or_says_why() {
    let out_dir = match std::env::var_os("AIRLOCK_CONVERT_PARITY_DIR") {
        Some(d) => PathBuf::from(d),
        None => std::env::temp_dir().join(format!("airlock-convert-{}", std::process::id())),
    };
    std::fs::create_dir_all(&out_dir).unwrap();
    let manifest: Json =
        serde_json::from_slice(&std::fs::read(fixtures().join("manifest.json")).unwrap()).unwrap();
    let mut pairs = Vec::new();
    let mut problems = Vec::new();
    let (mut st, mut pt, mut refused) = (0, 0, 0);
    for e in manifest.as_array().unwrap() {
        let file = e["file"].as_str().unwrap();
        let input = fixtures().join(file);
        for to in [Target::Safetensors, Target::Pt] {
            let sub = out_dir.join(to.extension());
            std::fs::create_dir_all(&sub).unwrap();
            let output = sub.join(shards::output_name(file, to));
            let _ = std::fs::remove_file(&output);
            let opts = ConvertOptions {
                to,
                ..ConvertOptions::default()
            };
            match convert_file(&input, &output, &opts) {
                Ok(c) => {
                    let report = scan_path(&output, file, &Options::default());
                    if report.verdict != Verdict::Safe {
                        problems.push(format!(
                            "{file} -> {}: the output scans {} {:?}",
                            to.extension(),
                            report.verdict,
                            report
                                .findings
                                .iter()
                                .map(|f| &f.message)
                                .collect::<Vec<_>>()
                        ));
                    }
                    match to {
                        Target::Safetensors => {
                            st += 1;
                            if let Err(err) =
                                safetensors::read_header(&FileSource::open(&output).unwrap())
                            {
                                problems.push(format!("{file}: invalid safetensors header: {err}"));
                            }
                        }
                        Target::Pt => {
                            pt += 1;
                            if report.weights_only != Some(true) {
                                problems.push(format!(
                                    "{file}: the pt output is not weights_only-loadable"
                                ));
                            }
                        }
                    }
                    assert_eq!(c.output, output.display().to_string());
                    pairs.push(json!({
                        "input": input.display().to_string(),
                        "output": output.display().to_string(),
                        "to": to.extension(),
                    }));
                }
                Err(err) => {
                    refused += 1;
                    assert!(
                        !output.exists(),
                        "{file}: a refused conversion left {}",
                        output.display()
                    );
                    let msg = err.to_string();
                    assert!(msg.len() > 20, "{file}: unclear refusal {msg:?}");
                }
            }
        }
    }
    std::fs::write(
        out_dir.join("pairs.json"),
        serde_json::to_string_pretty(&pairs).unwrap(),
    )
    .unwrap();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // 85 of the 118 fixtures rebuild as data; safetensors has no dtype for
    // complex128, complex32 and float8_e8m0fnu.
    assert!(
        st >= 75 && pt >= 80,
        "{st} safetensors, {pt} pt, {refused} refused"
    );
    if std::env::var_os("AIRLOCK_CONVERT_PARITY_DIR").is_none() {
        std::fs::remove_dir_all(&out_dir).ok();
    }
}

#[test]
fn dangerous_files_are_refused_and_nothing_is_written() {
    let input =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/malicious/os-system.pkl");
    let out = std::env::temp_dir().join(format!(
        "airlock-refused-{}.safetensors",
        std::process::id()
    ));
    let err = convert_file(&input, &out, &ConvertOptions::default()).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("refused: the scan says dangerous"),
        "{err}"
    );
    assert!(!out.exists());
}

#[test]
fn an_input_is_never_overwritten() {
    let dir = std::env::temp_dir().join(format!("airlock-overwrite-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("model.pt");
    std::fs::copy(fixtures().join("sd_mlp.pt"), &input).unwrap();
    let before = std::fs::read(&input).unwrap();
    let err = convert_file(
        &input,
        &input,
        &ConvertOptions {
            to: Target::Pt,
            ..ConvertOptions::default()
        },
    );
    assert!(err.is_err());
    assert_eq!(std::fs::read(&input).unwrap(), before);
    std::fs::remove_dir_all(&dir).ok();
}

/// A Hugging Face sharded checkpoint (`scripts/gen_sharded_fixtures.py`)
/// becomes `model-0000X-of-0000Y.safetensors` files and a
/// `model.safetensors.index.json` naming, for every tensor, the shard that
/// holds it; other files are left alone.
#[test]
fn sharded_checkpoints_convert_with_their_index() {
    let input = fixtures().join("../sharded");
    let (out, keep) = common::parity_dir("sharded");
    let _ = std::fs::remove_dir_all(&out);
    let outcome =
        airlock_convert::convert_folder(&input, &out, &ConvertOptions::default()).unwrap();
    assert!(outcome.failed.is_empty(), "{:?}", outcome.failed);
    assert_eq!(outcome.converted.len(), 2);
    let index: Json =
        serde_json::from_slice(&std::fs::read(out.join("model.safetensors.index.json")).unwrap())
            .unwrap();
    let mut total = 0u64;
    let mut names = 0;
    for (name, file) in index["weight_map"].as_object().unwrap() {
        let header =
            safetensors::read_header(&FileSource::open(&out.join(file.as_str().unwrap())).unwrap())
                .unwrap();
        let t = header
            .tensors
            .iter()
            .find(|t| &t.name == name)
            .unwrap_or_else(|| panic!("{name} is not in {file}"));
        total += t.offsets.1 - t.offsets.0;
        names += 1;
    }
    assert_eq!(names, 7);
    assert_eq!(index["metadata"]["total_size"], total);
    // The folder's other files are copied (the original index is not: the
    // converted one replaces it).
    assert_eq!(
        std::fs::read(out.join("config.json")).unwrap(),
        std::fs::read(input.join("config.json")).unwrap()
    );
    assert_eq!(outcome.copied.len(), 1, "{:?}", outcome.copied);
    assert!(!out.join("pytorch_model.bin.index.json").exists());
    let pairs: Vec<Json> = outcome
        .converted
        .iter()
        .map(|c| json!({"input": c.input, "output": c.output, "to": "safetensors"}))
        .collect();
    std::fs::write(
        out.join("pairs.json"),
        serde_json::to_string_pretty(&pairs).unwrap(),
    )
    .unwrap();
    if !keep {
        std::fs::remove_dir_all(&out).ok();
    }
}

/// An Ultralytics checkpoint (`scripts/gen_family_fixtures.py`): the
/// pickled DetectionModel becomes its state dict under `model.`, and its
/// data attributes (class names, model configuration, strides, training
/// arguments) are kept under `__attributes__.model.`, apart from it.
#[test]
fn ultralytics_models_keep_their_attributes() {
    let input = fixtures().join("../family/ultralytics/yolo-tiny.pt");
    let (out, keep) = common::parity_dir("family");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).unwrap();
    let output = out.join("yolo-tiny.safetensors");
    let c = convert_file(&input, &output, &ConvertOptions::default()).unwrap();
    let what: Vec<&str> = c.transformations.iter().map(|t| t.what.as_str()).collect();
    assert!(
        what.iter().any(|w| w.contains("data attributes (")
            && w.contains("names")
            && w.contains("stride")),
        "{what:?}"
    );
    let header = safetensors::read_header(&FileSource::open(&output).unwrap()).unwrap();
    let meta = |k: &str| {
        header
            .metadata
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(
        meta("__attributes__.model.names.0").as_deref(),
        Some("\"cat\"")
    );
    assert_eq!(
        meta("__attributes__.model.names.1").as_deref(),
        Some("\"dog\"")
    );
    assert_eq!(meta("__attributes__.model.yaml.nc").as_deref(), Some("2"));
    assert_eq!(
        meta("__attributes__.model.args.task").as_deref(),
        Some("\"detect\"")
    );
    let names: Vec<&str> = header.tensors.iter().map(|t| t.name.as_str()).collect();
    assert!(names.contains(&"__attributes__.model.stride"), "{names:?}");
    assert!(names.contains(&"model.model.0.conv.weight"), "{names:?}");
    // Nothing of the attributes lands among the state dict's names.
    assert!(
        names
            .iter()
            .filter(|n| n.starts_with("model."))
            .all(|n| n.starts_with("model.model.")),
        "{names:?}"
    );
    let pairs = json!([{"input": input.display().to_string(), "output": output.display().to_string(), "to": "safetensors"}]);
    std::fs::write(out.join("pairs.json"), pairs.to_string()).unwrap();
    if !keep {
        std::fs::remove_dir_all(&out).ok();
    }
}

/// NumPy arrays written by real NumPy (`tests/fixtures/numpy`,
/// `tests/fixtures/pyzip/savez*.npz`) convert when they are numeric and
/// little-endian; the rest is refused with the reason.
#[test]
fn numpy_arrays_convert() {
    let (out, keep) = common::parity_dir("numpy");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).unwrap();
    let numpy = fixtures().join("../numpy");
    let mut inputs: Vec<PathBuf> = std::fs::read_dir(&numpy)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "npy"))
        .collect();
    inputs.sort();
    inputs.push(fixtures().join("../pyzip/savez.npz"));
    inputs.push(fixtures().join("../pyzip/savez_compressed.npz"));
    let mut pairs = Vec::new();
    let mut refusals = Vec::new();
    for input in inputs {
        let name = input.file_name().unwrap().to_string_lossy().into_owned();
        let output = out.join(shards::output_name(&name, Target::Safetensors));
        match convert_file(&input, &output, &ConvertOptions::default()) {
            Ok(_) => pairs.push(json!({
                "input": input.display().to_string(),
                "output": output.display().to_string(),
                "to": "safetensors",
                "loader": "numpy",
            })),
            Err(e) => refusals.push(format!("{name}: {e}")),
        }
    }
    assert!(
        pairs.len() >= 30,
        "{} converted; refused: {refusals:#?}",
        pairs.len()
    );
    assert!(
        refusals.iter().any(|r| r.contains("object array")),
        "object arrays must be refused with the reason: {refusals:#?}"
    );
    std::fs::write(
        out.join("pairs.json"),
        serde_json::to_string_pretty(&pairs).unwrap(),
    )
    .unwrap();
    if !keep {
        std::fs::remove_dir_all(&out).ok();
    }
}
