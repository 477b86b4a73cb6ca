//! Archives of the PyTorch-family libraries, written by the real libraries
//! (`tests/fixtures/family`, `scripts/gen_family_fixtures.py`): every
//! member a loader reads is scanned and located, and what their loaders run
//! besides pickles is reported. Their malicious variants are in
//! `tests/fixtures/malicious` (`corpus.rs` checks they are dangerous).

use std::path::PathBuf;

use airlock_formats::Format;
use airlock_policy::{Rule, Verdict};
use airlock_scan::{FileReport, Options, scan_path, scan_source};

fn family(path: &str) -> FileReport {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/family")
        .join(path);
    scan_path(&p, path, &Options::default())
}

fn rules(r: &FileReport) -> Vec<(Rule, String)> {
    r.findings
        .iter()
        .map(|f| (f.rule, f.location.member.clone().unwrap_or_default()))
        .collect()
}

#[test]
fn nemo_config_targets_and_weights() {
    let r = family("nemo/asr_tiny.nemo");
    assert_eq!(r.format, Format::Nemo);
    assert_eq!(r.verdict, Verdict::Suspicious, "{:?}", rules(&r));
    let targets: Vec<&str> = r
        .findings
        .iter()
        .filter(|f| f.rule == Rule::ConfigTarget)
        .filter_map(|f| f.subject.as_deref())
        .collect();
    assert_eq!(
        targets,
        [
            "nemo.collections.asr.models.ctc_models.EncDecCTCModel",
            "nemo.collections.asr.modules.AudioToMelSpectrogramPreprocessor",
            "nemo.collections.asr.modules.ConvASREncoder",
            "nemo.collections.asr.modules.ConvASRDecoder",
        ]
    );
    // The weights are a torch checkpoint torch loads with weights_only:
    // nothing is reported under them.
    assert!(
        r.findings
            .iter()
            .all(|f| f.location.member.as_deref() == Some("./model_config.yaml")),
        "{:?}",
        rules(&r)
    );
}

#[test]
fn pandas_pickles_are_found_in_every_container() {
    for ext in ["zip", "tar.gz", "gz", "bz2", "xz"] {
        let r = family(&format!("pandas/frame.pkl.{ext}"));
        assert_eq!(r.verdict, Verdict::Suspicious, "{ext}: {:?}", rules(&r));
        let f = r
            .findings
            .iter()
            .find(|f| f.rule == Rule::NonAllowlistedGlobal)
            .unwrap_or_else(|| panic!("{ext}: {:?}", rules(&r)));
        assert_eq!(f.subject.as_deref(), Some("pandas.DataFrame"), "{ext}");
        if ext == "zip" || ext == "tar.gz" {
            // Located in the archive's member.
            let member = f.location.member.as_deref().unwrap_or_default();
            assert!(member.contains("frame.pkl"), "{ext}: {member}");
        }
    }
}

#[test]
fn sb3_serialized_values_are_scanned() {
    let r = family("sb3/ppo_cartpole.zip");
    assert_eq!(r.format, Format::StableBaselines);
    assert_eq!(r.verdict, Verdict::Suspicious);
    let members: std::collections::BTreeSet<String> = r
        .findings
        .iter()
        .filter_map(|f| f.location.member.clone())
        .collect();
    for want in [
        "data/action_space",
        "data/observation_space",
        "data/policy_class",
    ] {
        assert!(members.contains(want), "{want} not in {members:?}");
    }
}

#[test]
fn torchserve_handler_and_requirements_are_code() {
    let r = family("torchserve/tiny.mar");
    assert_eq!(r.format, Format::TorchServe);
    assert_eq!(r.verdict, Verdict::Suspicious);
    let code: Vec<String> = r
        .findings
        .iter()
        .filter(|f| f.rule == Rule::ArchiveCode)
        .filter_map(|f| f.location.member.clone())
        .collect();
    assert_eq!(code, ["handler.py", "requirements.txt"]);
}

#[test]
fn torch_package_modules_are_code() {
    let r = family("torch-package/tinynet.pt");
    assert_eq!(r.format, Format::TorchPackage);
    assert_eq!(r.verdict, Verdict::Suspicious, "{:?}", rules(&r));
    assert!(
        rules(&r).contains(&(Rule::ArchiveCode, "tinynet/tinynet.py".into())),
        "{:?}",
        rules(&r)
    );
    // The packaged module's class is what the pickle builds.
    assert!(
        r.findings
            .iter()
            .any(|f| f.subject.as_deref() == Some("tinynet.TinyNet")),
        "{:?}",
        rules(&r)
    );
}

/// A ZIP of one stored member, written field by field.
fn zip_of(name: &str, data: &[u8]) -> Vec<u8> {
    let crc = crc32fast::hash(data);
    let mut out = Vec::new();
    let local = |out: &mut Vec<u8>| {
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        out.extend_from_slice(&[20, 0, 0, 0, 0, 0, 0, 0, 0x21, 0]);
        out.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(&(name.len() as u16).to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(name.as_bytes());
    };
    local(&mut out);
    out.extend_from_slice(data);
    let cd = out.len();
    out.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
    out.extend_from_slice(&[20, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0x21, 0]);
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(&(name.len() as u16).to_le_bytes());
    out.extend_from_slice(&[0; 12]);
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(name.as_bytes());
    let cd_len = out.len() - cd;
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0, 0, 0, 0, 1, 0, 1, 0]);
    out.extend_from_slice(&(cd_len as u32).to_le_bytes());
    out.extend_from_slice(&(cd as u32).to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

#[test]
fn nesting_is_bounded_and_never_safe() {
    // os.system in a pickle, in ZIPs nested ever deeper.
    let payload = b"\x80\x02cos\nsystem\nX\x04\x00\x00\x00trueq\x00\x85R.".to_vec();
    let mut data = zip_of("p.pkl", &payload);
    let mut verdicts = Vec::new();
    for depth in 1..=5 {
        let r = scan_source(
            &airlock_formats::MemSource::new(&data),
            "nested.zip",
            &Options::default(),
        );
        verdicts.push((depth, r.verdict));
        assert_ne!(r.verdict, Verdict::Safe, "depth {depth}");
        data = zip_of(&format!("level{depth}.zip"), &data);
    }
    // Found while the nesting is followed, an analysis limit beyond.
    assert_eq!(verdicts[0].1, Verdict::Dangerous);
    assert_eq!(verdicts[1].1, Verdict::Dangerous);
    assert_eq!(verdicts[4].1, Verdict::Error, "{verdicts:?}");
}
