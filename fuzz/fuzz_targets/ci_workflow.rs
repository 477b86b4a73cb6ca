//! Fuzz the located YAML reader `airlock ci` reads workflows with, the
//! Dockerfiles a workflow builds, and the Dockerfile `FROM` reader: any
//! text gives a tree or a syntax error, and findings with positions inside
//! the text, never a panic.
#![no_main]

use airlock_ci::{dockerfile, yaml};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(Some(root)) = yaml::parse(text) {
        for path in dockerfile::built_by(&root) {
            assert!(!path.contains(".."));
        }
    }
    let lines = text.lines().count() as u32;
    for f in dockerfile::unpinned(text) {
        assert!(f.location.line.is_some_and(|l| l >= 1 && l <= lines));
    }
});
