//! Fuzz the located YAML reader `airlock ci` reads workflows with, the
//! Dockerfiles a workflow or script builds, the compose files scripts run
//! and the compose and Dockerfile readers: any text gives a tree or a
//! syntax error, repository paths that stay inside the checkout, and
//! findings with positions inside the text, never a panic.
#![no_main]

use airlock_ci::{compose, dockerfile, yaml};
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
    for path in dockerfile::built_by_script(text)
        .into_iter()
        .chain(compose::used_by(text))
    {
        assert!(!path.split('/').any(|p| p == ".."));
    }
    let lines = text.lines().count() as u32;
    let (findings, built) = compose::audit(text, "ci");
    for path in built {
        assert!(!path.split('/').any(|p| p == ".."));
    }
    // YAML breaks lines at CR, LF and CR LF alike (`str::lines` only at
    // LF): positions are YAML's, at most one past its last line.
    let yaml_lines = text.replace("\r\n", "\n").split(['\n', '\r']).count() as u32;
    for f in findings {
        assert!(f.location.line.is_some_and(|l| l >= 1 && l <= yaml_lines + 1));
    }
    for f in dockerfile::unpinned(text) {
        assert!(f.location.line.is_some_and(|l| l >= 1 && l <= lines));
    }
});
