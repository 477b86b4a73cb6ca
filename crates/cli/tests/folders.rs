//! Folder conversion of checkpoint folders as the libraries write them
//! (`tests/fixtures/family`, written by `scripts/gen_family_fixtures.py`):
//! what is data is converted, what is no model format and not code is
//! copied, and the summary says which.

mod common;

use std::path::{Path, PathBuf};

use serde_json::Value as Json;

use common::{airlock, repo};

const TRAINER: &str = "tests/fixtures/family/hf-trainer/checkpoint-1";

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("airlock-folders-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// The safetensors header's `__metadata__`.
fn metadata(path: &Path) -> serde_json::Map<String, Json> {
    let bytes = std::fs::read(path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: Json = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    header["__metadata__"]
        .as_object()
        .cloned()
        .unwrap_or_default()
}

/// A copy of the Trainer checkpoint with a file of custom code next to it,
/// as `trust_remote_code` models have.
fn trainer_copy(name: &str) -> PathBuf {
    let dir = scratch(name).join("checkpoint-1");
    std::fs::create_dir_all(&dir).unwrap();
    for f in names(&repo().join(TRAINER)) {
        std::fs::copy(repo().join(TRAINER).join(&f), dir.join(&f)).unwrap();
    }
    std::fs::write(dir.join("modeling_custom.py"), "import os\n").unwrap();
    dir
}

#[test]
fn a_trainer_checkpoint_becomes_a_usable_folder() {
    let input = trainer_copy("trainer-in");
    let out = scratch("trainer-out");
    let report = out.with_extension("json");
    let _ = std::fs::remove_file(&report);
    let o = airlock(&[
        std::ffi::OsStr::new("convert"),
        input.as_os_str(),
        std::ffi::OsStr::new("-o"),
        out.as_os_str(),
        std::ffi::OsStr::new("--report"),
        report.as_os_str(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(
        err.contains("4 converted, 5 copied, 1 other file(s) left alone"),
        "{err}"
    );
    // training_args.bin is data: TrainingArguments and its enum members.
    assert_eq!(
        names(&out),
        [
            "config.json",
            "model.safetensors",
            "optimizer.safetensors",
            "rng_state.safetensors",
            "scheduler.safetensors",
            "tokenizer.json",
            "tokenizer_config.json",
            "trainer_state.json",
            "training_args.safetensors",
        ]
    );
    let meta = metadata(&out.join("training_args.safetensors"));
    assert_eq!(
        meta["__class__"],
        "\"transformers.training_args.TrainingArguments\""
    );
    assert_eq!(meta["lr_scheduler_type"], "\"linear\"");
    assert_eq!(meta["output_dir"], "\"out\"");
    // Copies are the same bytes; the code file is not copied.
    for f in ["config.json", "tokenizer.json", "model.safetensors"] {
        assert_eq!(
            std::fs::read(out.join(f)).unwrap(),
            std::fs::read(input.join(f)).unwrap(),
            "{f}"
        );
    }
    let r: Json = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(r["copied"].as_array().unwrap().len(), 5, "{r}");
    assert_eq!(r["converted"].as_array().unwrap().len(), 4, "{r}");

    // Again into the same folder: nothing is replaced, each file says so.
    let again = airlock(&[
        std::ffi::OsStr::new("convert"),
        input.as_os_str(),
        std::ffi::OsStr::new("-o"),
        out.as_os_str(),
    ]);
    let err = String::from_utf8_lossy(&again.stderr).into_owned();
    assert_eq!(again.status.code(), Some(2), "{err}");
    assert!(err.contains("config.json: not copied:"), "{err}");
    assert!(err.contains("0 converted"), "{err}");
    std::fs::remove_dir_all(input.parent().unwrap()).unwrap();
    std::fs::remove_dir_all(&out).unwrap();
    let _ = std::fs::remove_file(&report);
}

#[test]
fn only_models_and_in_place_copy_nothing() {
    let input = trainer_copy("only-in");
    let out = scratch("only-out");
    let o = airlock(&[
        std::ffi::OsStr::new("convert"),
        input.as_os_str(),
        std::ffi::OsStr::new("-o"),
        out.as_os_str(),
        std::ffi::OsStr::new("--only-models"),
    ]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(
        names(&out),
        [
            "optimizer.safetensors",
            "rng_state.safetensors",
            "scheduler.safetensors",
            "training_args.safetensors",
        ]
    );
    // In place: the converted files appear next to the inputs, nothing else.
    let before = names(&input);
    let o = airlock(&[std::ffi::OsStr::new("convert"), input.as_os_str()]);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(!err.contains("copied"), "{err}");
    let after = names(&input);
    assert_eq!(after.len(), before.len() + 4, "{after:?}");
    std::fs::remove_dir_all(input.parent().unwrap()).unwrap();
    std::fs::remove_dir_all(&out).unwrap();
}
