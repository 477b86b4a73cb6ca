//! Scan and rebuild read the same pickles: on every fixture the rebuild
//! reads (torch ZIP checkpoints, the ZIP-trick malicious files included,
//! legacy streams, plain pickles), each pickle `convert`, `inspect` and
//! `airlock.load` rebuild from is one the scan analysed: the same member,
//! offset and bytes; and each storage record their tensors' bytes come
//! from is one the scan checked against the pickle, the same member at the
//! same place. And a rebuild from bytes the scan did not analyse is
//! refused.

use std::path::{Path, PathBuf};

use airlock_convert::input::{ReadLimits, load};
use airlock_convert::proof::refuse_unproven;
use airlock_formats::{FileSource, Format, Source};
use airlock_scan::{Options, scan_source};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn recording() -> Options {
    Options {
        record_pickles: true,
        ..Options::default()
    }
}

#[test]
fn every_pickle_rebuilt_is_one_the_scan_analysed() {
    let mut all = Vec::new();
    files(&fixtures(), &mut all);
    all.sort();
    let opts = recording();
    let limits = ReadLimits::default().scanned_with(&opts);
    let (mut checked, mut storages, mut failures) = (0, 0, Vec::new());
    for path in &all {
        let src = FileSource::open(path).unwrap();
        let report = scan_source(&src, &path.display().to_string(), &opts);
        let format = report.format;
        let reads_pickles = matches!(
            format,
            Format::TorchZip | Format::TorchLegacy | Format::Pickle
        );
        let Ok(loaded) = load(&src as &dyn Source, format, "x", &limits) else {
            continue;
        };
        if reads_pickles && loaded.pickles.is_empty() {
            failures.push(format!(
                "{}: rebuilt from no recorded pickle",
                path.display()
            ));
        }
        for p in &loaded.pickles {
            if !report.pickles.contains(p) {
                failures.push(format!(
                    "{}: {:?} at byte {} not analysed by the scan ({:?})",
                    path.display(),
                    p.member,
                    p.start,
                    report.pickles
                ));
            }
        }
        for r in &loaded.storages_read {
            if !report.storages.contains(r) {
                failures.push(format!(
                    "{}: storage record {} ({:?}) not checked by the scan",
                    path.display(),
                    r.member,
                    r.bytes
                ));
            }
        }
        storages += loaded.storages_read.len();
        if let Err(e) = refuse_unproven(&report, &loaded) {
            // Refused for a global outside the allowlist, never for a
            // pickle the scan did not see.
            assert!(
                !e.to_string().contains("not the one the scan analysed"),
                "{e}"
            );
        }
        checked += usize::from(reads_pickles);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        checked >= 80,
        "only {checked} pickle-bearing fixtures rebuilt"
    );
    assert!(storages >= 150, "only {storages} storage records read");
}

#[test]
fn a_rebuild_from_bytes_the_scan_did_not_analyse_is_refused() {
    let dir = fixtures().join("torch");
    let a = dir.join("ckpt_training_minimal.pt");
    let b = dir.join("ckpt_training.pt");
    let opts = recording();
    let limits = ReadLimits::default().scanned_with(&opts);
    let src_a = FileSource::open(&a).unwrap();
    let src_b = FileSource::open(&b).unwrap();
    let report_a = scan_source(&src_a, "a", &opts);
    let loaded_b = load(&src_b as &dyn Source, Format::TorchZip, "b", &limits).unwrap();
    let err = refuse_unproven(&report_a, &loaded_b)
        .unwrap_err()
        .to_string();
    assert!(err.contains("not the one the scan analysed"), "{err}");
    // A scan that did not record its pickles proves nothing either.
    let unrecorded = scan_source(&src_b, "b", &Options::default());
    let err = refuse_unproven(&unrecorded, &loaded_b)
        .unwrap_err()
        .to_string();
    assert!(err.contains("not the one the scan analysed"), "{err}");
    // The file's own scan.
    let report_b = scan_source(&src_b, "b", &opts);
    refuse_unproven(&report_b, &loaded_b).unwrap();
    // Storage records the scan did not check are refused too.
    let mut unchecked = report_b.clone();
    unchecked
        .storages
        .pop()
        .expect("the checkpoint has storages");
    let err = refuse_unproven(&unchecked, &loaded_b)
        .unwrap_err()
        .to_string();
    assert!(err.contains("not one the scan checked"), "{err}");
}
