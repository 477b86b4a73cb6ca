//! Pickles of the objects data pipelines save (pandas, scikit-learn, SciPy,
//! NumPy, the standard library; `tests/fixtures/objects`, written by
//! `scripts/gen_object_fixtures.py` with the real producers): code to
//! trust, never `safe`, and no program step (AL0052) among the calls their
//! producers write. The ones called `dangerous` are listed with the reason.

use std::path::Path;

use airlock_policy::{Rule, Verdict};
use airlock_scan::{Options, scan_path};

/// Files called `dangerous`, and why that is right.
const DANGEROUS: &[(&str, &str)] = &[(
    "scipy-",
    "a frozen SciPy distribution: rv_generic.__setstate__ runs exec on source \
     built from the pickled `shapes` (derived: norm_gen -> ... -> exec)",
)];

#[test]
fn objects_are_code_to_trust_and_no_program() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/objects");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    let files = manifest["files"].as_array().unwrap();
    assert!(files.len() >= 30);
    for f in files {
        let name = f["file"].as_str().unwrap();
        let r = scan_path(&dir.join(name), name, &Options::default());
        let program: Vec<_> = r
            .findings
            .iter()
            .filter(|x| x.rule == Rule::ProgramCall)
            .collect();
        assert!(program.is_empty(), "{name}: {program:?}");
        let expected_dangerous = DANGEROUS.iter().any(|(p, _)| name.starts_with(p));
        let expected = if expected_dangerous {
            Verdict::Dangerous
        } else {
            Verdict::Suspicious
        };
        assert_eq!(r.verdict, expected, "{name}: {:?}", r.findings);
    }
}
