//! What the command-line tests share: the repository, and `airlock` run in
//! it without colours.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root (fixtures and examples are relative to it).
pub fn repo() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// `airlock ARGS` run in the repository, its output collected.
pub fn airlock<S: AsRef<OsStr>>(args: &[S]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args(args)
        .current_dir(repo())
        .env("NO_COLOR", "1")
        .output()
        .expect("run airlock")
}

/// A fresh folder under the target directory, named after `prefix`, this
/// process and a counter.
#[allow(dead_code)] // not every test file needs one
pub fn tempdir(prefix: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The rule ids a SARIF log declares, in order.
#[allow(dead_code)] // not every test file writes SARIF
pub fn sarif_rule_ids(sarif: &serde_json::Value) -> Vec<String> {
    sarif["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .expect("a SARIF log declares its rules")
        .iter()
        .map(|r| r["id"].as_str().expect("a rule id").to_string())
        .collect()
}
