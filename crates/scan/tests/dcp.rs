//! Distributed checkpoints (`tests/fixtures/dcp`, written by real torch with
//! `scripts/gen_dcp_fixtures.py`): `.metadata` scanned as the pickle
//! `pickle.load` reads, each `.distcp` item by item as `torch.load` reads
//! it from the range the metadata gives, and the malicious variants, proven
//! to run their payload in `dcp_to_torch_save`, dangerous.

use std::path::{Path, PathBuf};

use airlock_formats::Format;
use airlock_policy::{Rule, Verdict};
use airlock_scan::{FileReport, Options, scan_bytes, scan_path};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/dcp")
}

fn scan(path: &Path) -> FileReport {
    scan_path(path, &path.display().to_string(), &Options::default())
}

/// A copy of fixture folder `name` to change, in a fresh temporary folder.
fn copy(name: &str, tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("airlock-dcp-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for e in std::fs::read_dir(fixtures().join(name)).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dir.join(e.file_name())).unwrap();
    }
    dir
}

#[test]
fn benign_checkpoints_metadata_suspicious_shards_safe() {
    for name in ["model", "training", "per-item", "sharded"] {
        let dir = fixtures().join(name);
        let meta = scan(&dir.join(".metadata"));
        assert_eq!(meta.format, Format::DcpMetadata, "{name}");
        // pickle.load, not weights_only: the schema's classes are outside
        // the data allowlist, and nothing else is found.
        assert_eq!(
            meta.verdict,
            Verdict::Suspicious,
            "{name}: {:#?}",
            meta.findings
        );
        assert_eq!(meta.weights_only, None);
        assert!(
            meta.findings
                .iter()
                .all(|f| f.rule == Rule::NonAllowlistedGlobal),
            "{name}: {:#?}",
            meta.findings
        );
        let mut shards = 0;
        for e in std::fs::read_dir(&dir).unwrap() {
            let path = e.unwrap().path();
            if path.extension().is_some_and(|x| x == "distcp") {
                let r = scan(&path);
                assert_eq!(r.format, Format::DcpShard, "{}", path.display());
                assert_eq!(
                    r.verdict,
                    Verdict::Safe,
                    "{}: {:#?}",
                    path.display(),
                    r.findings
                );
                shards += 1;
            }
        }
        assert!(shards >= 1, "{name}");
    }
}

#[test]
fn payloads_in_what_the_loader_unpickles_are_dangerous() {
    let meta = scan(&fixtures().join("malicious-metadata/.metadata"));
    assert_eq!(meta.verdict, Verdict::Dangerous);
    let f = meta.main_finding().unwrap();
    assert_eq!(f.rule, Rule::DangerousGlobal);
    assert!(f.message.contains("posix.system"), "{}", f.message);

    let shard = scan(&fixtures().join("malicious-bytes/__0_0.distcp"));
    assert_eq!(shard.verdict, Verdict::Dangerous);
    let f = shard.main_finding().unwrap();
    assert_eq!(f.rule, Rule::DangerousGlobal);
    // Located in the item "config.name" starts at, inside its data.pkl.
    assert_eq!(
        f.location.member.as_deref(),
        Some("config.name@0/archive/data.pkl")
    );
    // The rest of that checkpoint is as written by torch.
    assert_eq!(
        scan(&fixtures().join("malicious-metadata/__0_0.distcp")).verdict,
        Verdict::Safe
    );
}

#[test]
fn a_shard_alone_is_split_into_its_archives() {
    let bytes = std::fs::read(fixtures().join("malicious-bytes/__0_0.distcp")).unwrap();
    let r = scan_bytes(&bytes, "alone.distcp", &Options::default());
    assert_eq!(r.format, Format::DcpShard);
    assert_eq!(r.verdict, Verdict::Dangerous);
    assert_eq!(
        r.main_finding().unwrap().location.member.as_deref(),
        Some("@0/archive/data.pkl")
    );
    let bytes = std::fs::read(fixtures().join("model/__0_0.distcp")).unwrap();
    let r = scan_bytes(&bytes, "alone.distcp", &Options::default());
    assert_eq!((r.format, r.verdict), (Format::DcpShard, Verdict::Safe));
    // Cut short, it is no shard: torch's reader finds the end of the
    // archive before the last one (and reports what follows).
    let r = scan_bytes(&bytes[..bytes.len() - 3], "cut.distcp", &Options::default());
    assert_eq!(r.format, Format::TorchZip);
}

#[test]
fn every_pickle_the_loader_reads_is_recorded_under_its_item() {
    let opts = Options {
        record_pickles: true,
        ..Options::default()
    };
    let dir = fixtures().join("training");
    let r = scan_path(&dir.join("__0_0.distcp"), "s", &opts);
    assert!(!r.pickles.is_empty());
    for p in &r.pickles {
        let member = p.member.as_deref().unwrap();
        assert!(
            member.contains('@') && member.ends_with("/data.pkl"),
            "{member}"
        );
    }
    assert!(!r.storages.is_empty());
    let meta = scan_path(&dir.join(".metadata"), "m", &opts);
    assert_eq!(meta.pickles.len(), 1);
}

#[test]
fn a_storage_path_outside_the_folder_is_dangerous() {
    let dir = copy("model", "outside");
    let path = dir.join(".metadata");
    let data = std::fs::read(&path).unwrap();
    // Same length, so the pickle's frame stays valid.
    let at = data.windows(12).position(|w| w == b"__0_0.distcp").unwrap();
    let mut evil = data.clone();
    evil[at..at + 12].copy_from_slice(b"../_0.distcp");
    std::fs::write(&path, &evil).unwrap();
    let r = scan(&path);
    assert_eq!(r.verdict, Verdict::Dangerous, "{:#?}", r.findings);
    assert!(r.findings.iter().any(|f| f.rule == Rule::DcpExternalPath));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn missing_and_cut_shards_are_errors() {
    let dir = copy("training", "cut");
    std::fs::remove_file(dir.join("__0_1.distcp")).unwrap();
    let shard = dir.join("__0_0.distcp");
    let data = std::fs::read(&shard).unwrap();
    std::fs::write(&shard, &data[..data.len() - 100]).unwrap();
    let meta = scan(&dir.join(".metadata"));
    assert_eq!(meta.verdict, Verdict::Error, "{:#?}", meta.findings);
    let layout: Vec<&str> = meta
        .findings
        .iter()
        .filter(|f| f.rule == Rule::DcpLayout)
        .map(|f| f.message.as_str())
        .collect();
    assert!(
        layout.iter().any(|m| m.contains("__0_1.distcp")),
        "{layout:#?}"
    );
    assert!(
        layout.iter().any(|m| m.contains("past")) || layout.len() >= 2,
        "{layout:#?}"
    );
    let r = scan(&shard);
    assert_eq!(r.verdict, Verdict::Error, "{:#?}", r.findings);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bytes_no_item_covers_are_noted() {
    let dir = copy("model", "gap");
    let shard = dir.join("__0_0.distcp");
    let mut data = std::fs::read(&shard).unwrap();
    data.extend_from_slice(b"never read");
    std::fs::write(&shard, &data).unwrap();
    let r = scan(&shard);
    assert_eq!(r.verdict, Verdict::Safe);
    assert!(
        r.findings
            .iter()
            .any(|f| f.rule == Rule::TrailingData && f.message.contains("10 bytes")),
        "{:#?}",
        r.findings
    );
    std::fs::remove_dir_all(&dir).ok();
}
