//! What the command-line tests share: the repository, and `airlock` run in
//! it without colours.

use std::ffi::OsStr;
use std::path::Path;
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
