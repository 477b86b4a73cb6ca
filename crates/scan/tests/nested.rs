//! Payloads handed to nested loaders are scanned as the nested loader reads
//! them, and their findings reported under the outer call.

use std::path::Path;

use airlock_policy::{Rule, Verdict};
use airlock_scan::{Options, scan_path};

fn scan(file: &str) -> airlock_scan::FileReport {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/malicious")
        .join(file);
    scan_path(&path, file, &Options::default())
}

#[test]
fn each_nested_loaders_payload_is_scanned_under_the_call() {
    for (file, loader, inner_member) in [
        ("nested-pickle-loads.pkl", "pickle.loads", None),
        ("nested-c-pickle-loads.pkl", "_pickle.loads", None),
        (
            "nested-torch-load.pkl",
            "torch.load",
            Some("archive/data.pkl"),
        ),
        (
            "torch-load-from-bytes.pkl",
            "torch.storage._load_from_bytes",
            Some("archive/data.pkl"),
        ),
        ("nested-numpy-load.pkl", "numpy.load", None),
        (
            "numpy-read-array-nested.pkl",
            "numpy.lib.format.read_array",
            None,
        ),
    ] {
        let report = scan(file);
        assert_eq!(report.verdict, Verdict::Dangerous, "{file}");
        let inner: Vec<_> = report
            .findings
            .iter()
            .filter(|f| {
                f.message
                    .starts_with(&format!("in the bytes passed to {loader} at byte "))
            })
            .collect();
        let system = inner
            .iter()
            .find(|f| f.rule == Rule::DangerousGlobal && f.message.contains("posix.system"))
            .unwrap_or_else(|| {
                panic!(
                    "{file}: no inner posix.system finding in {:#?}",
                    report.findings
                )
            });
        let member = system.location.member.as_deref().unwrap();
        assert!(
            member.starts_with(&format!("{loader} payload called at byte ")),
            "{member}"
        );
        if let Some(m) = inner_member {
            assert!(member.ends_with(&format!(" / {m}")), "{member}");
        }
        assert!(
            !inner.iter().any(|f| f.rule == Rule::WeightsOnlyRefusal),
            "{file}"
        );
    }
}

#[test]
fn a_pickle_without_nested_loaders_gets_no_inner_findings() {
    let report = scan("os-system.pkl");
    assert!(
        !report
            .findings
            .iter()
            .any(|f| f.message.starts_with("in the bytes passed to"))
    );
}
