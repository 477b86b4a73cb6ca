//! Malformed, truncated and hostile inputs: an `error` (or `dangerous`)
//! verdict with a message, never `safe`, never a panic, bounded work.

use airlock_policy::{Rule, Verdict};
use airlock_scan::{Options, scan_bytes};

fn fixture(dir: &str, name: &str) -> Vec<u8> {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures")
        .join(dir)
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn verdict(data: &[u8]) -> (Verdict, Vec<Rule>) {
    let r = scan_bytes(data, "input", &Options::default());
    (r.verdict, r.findings.iter().map(|f| f.rule).collect())
}

#[test]
fn empty_and_tiny_files() {
    for data in [
        &b""[..],
        b"\x00",
        b"PK",
        b"PK\x03\x04",
        b"\x80",
        b"\x80\x02",
        b"\x93NUMPY",
    ] {
        let (v, _) = verdict(data);
        assert_eq!(v, Verdict::Error, "{data:?}");
    }
}

#[test]
fn every_truncation_of_a_checkpoint_is_an_error() {
    let data = fixture("torch", "sd_mlp.pt");
    assert_eq!(verdict(&data).0, Verdict::Safe);
    // Cut the checkpoint everywhere (in steps) and flip bytes: never safe
    // unless the result is still the same valid file, never a panic.
    let step = (data.len() / 200).max(1);
    for cut in (0..data.len()).step_by(step) {
        let (v, rules) = verdict(&data[..cut]);
        assert_ne!(v, Verdict::Safe, "truncated at {cut}: {rules:?}");
    }
}

#[test]
fn corrupted_checkpoints_never_panic() {
    let data = fixture("torch", "sd_mlp.pt");
    let step = (data.len() / 300).max(1);
    for at in (0..data.len()).step_by(step) {
        let mut d = data.clone();
        d[at] ^= 0xff;
        let _ = verdict(&d);
    }
}

#[test]
fn truncated_legacy_and_pickle_files() {
    for (dir, name) in [
        ("torch", "legacy_state_dict.pt"),
        ("malicious", "os-system.pkl"),
    ] {
        let data = fixture(dir, name);
        for cut in 1..data.len().min(400) {
            let (v, rules) = verdict(&data[..cut]);
            assert_ne!(v, Verdict::Safe, "{name} truncated at {cut}: {rules:?}");
        }
    }
}

#[test]
fn huge_claims_are_errors_without_allocation() {
    // BINBYTES8 claiming 2^60 bytes.
    let mut p = b"\x80\x04\x8e".to_vec();
    p.extend_from_slice(&(1u64 << 60).to_le_bytes());
    p.push(b'.');
    assert_eq!(verdict(&p).0, Verdict::Error);
    // A safetensors header claiming 2^63 bytes.
    let mut s = (1u64 << 63).to_le_bytes().to_vec();
    s.extend_from_slice(b"{}");
    assert_eq!(verdict(&s).0, Verdict::Error);
    // A ZIP whose only entry claims 4 GiB uncompressed from 10 bytes.
    let mut z = fixture("torch", "sd_mlp.pt");
    let eocd = z.windows(4).rposition(|w| w == b"PK\x05\x06").unwrap();
    let cdir = u32::from_le_bytes(z[eocd + 16..eocd + 20].try_into().unwrap()) as usize;
    z[cdir + 10] = 8; // deflate
    z[cdir + 24..cdir + 28].copy_from_slice(&u32::MAX.to_le_bytes());
    let _ = verdict(&z);
}

#[test]
fn deep_nesting_is_bounded() {
    let mut p = vec![b'('; 200_000];
    p.push(b'.');
    let (v, _) = verdict(&p);
    assert_eq!(v, Verdict::Error);
    let mut p = vec![b']'; 300_000];
    p.extend(std::iter::repeat_n(b'a', 299_999));
    p.push(b'.');
    let (v, rules) = verdict(&p);
    assert_eq!(v, Verdict::Safe, "{rules:?}");
}

#[test]
fn garbage_and_text_are_unknown() {
    let (v, rules) = verdict(b"# A README\n\nSome text that is not a model.\n");
    assert_eq!(v, Verdict::Error);
    assert_eq!(rules, vec![Rule::UnknownFormat]);
    let (v, _) = verdict(&[0x42u8; 4096]);
    assert_eq!(v, Verdict::Error);
}

/// A valid safetensors file whose bytes are also a pickle: the header
/// length's low byte is `X` (BINUNICODE), which swallows part of the JSON; a
/// second `X` inside a JSON string, followed by four spaces, claims
/// 0x20202020 bytes and jumps into the tensor data, where the payload sits.
/// A valid safetensors file whose bytes are also a pickle stream: a first
/// pickle that does nothing (the header length and JSON as one `UNICODE`
/// argument, then `POP NONE STOP`) and, in the tensor's data, a second
/// pickle that calls `os.system`. `pickle.load` returns `None`; a loader
/// that reads pickles in a loop runs the second. Not safe.
#[test]
fn safetensors_with_a_follow_on_pickle_is_not_safe() {
    let json = br#"{"t":{"dtype":"U8","shape":[25],"data_offsets":[0,25]}}"#;
    let mut header = json.to_vec();
    // b'V' + seven NULs as the little-endian header length: 0x56 = 86.
    header.resize(86, b' ');
    let mut file = b"V\0\0\0\0\0\0\0".to_vec();
    file.extend_from_slice(&header);
    // The 25 data bytes: the first pickle's end, then the second pickle.
    file.extend_from_slice(b"\n0N.cos\nsystem\n(Vtrue\ntR.");
    assert_eq!(file.len(), 8 + 86 + 25);
    let (v, rules) = verdict(&file);
    assert_eq!(v, Verdict::Dangerous, "{rules:?}");
    assert!(rules.contains(&Rule::PolyglotPickle), "{rules:?}");
}

/// `safetensors.load_file` reads the tensor; `torch.load` and `pickle.load`
/// run the payload. The file is sparse (539 MB, a few KB on disk).
#[test]
fn safetensors_that_is_also_a_pickle_is_not_safe() {
    let l: u64 = 100;
    let n: u64 = 256 * l + 0x58;
    let big: u64 = 0x2020_2020;
    let resume = 5 + l + 5 + big;
    let evil = b"cposix\nsystem\n(S'echo polyglot'\ntR.";
    let total = resume + evil.len() as u64 + 16;
    let k = total - 8 - n;
    let j = (l - 3) as usize;
    let pre = br#"{"__metadata__":{"p":""#;
    let mut body = pre.to_vec();
    body.resize(j, b'a');
    body.extend_from_slice(b"X    ");
    body.extend_from_slice(
        format!(r#""}},"t":{{"dtype":"U8","shape":[{k}],"data_offsets":[0,{k}]}}}}"#).as_bytes(),
    );
    body.resize(n as usize, b' ');
    let dir = std::env::temp_dir().join(format!("airlock-polyglot-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("model.safetensors");
    {
        use std::io::{Seek, SeekFrom, Write};
        let mut f = std::fs::File::create(&path).unwrap();
        f.write_all(&n.to_le_bytes()).unwrap();
        f.write_all(&body).unwrap();
        f.seek(SeekFrom::Start(resume)).unwrap();
        f.write_all(evil).unwrap();
        f.set_len(total).unwrap();
    }
    let r = airlock_scan::scan_path(&path, "model.safetensors", &Options::default());
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(r.format, airlock_formats::Format::Safetensors);
    assert_ne!(r.verdict, Verdict::Safe, "{:?}", r.findings);
    assert!(
        r.findings.iter().any(|f| f.rule == Rule::AnalysisLimit),
        "{:?}",
        r.findings
    );
    // Bounded: growing windows up to 64 MiB, not the half gigabyte.
    assert!(r.bytes_read <= 96 << 20, "read {} bytes", r.bytes_read);
}

/// Tar parity: `tarfile` accepts checksums written as `0o…`, so the file
/// is a tar archive for torch, not the raw pickle its first bytes suggest.
#[test]
fn tar_headers_are_read_as_python_reads_them() {
    let data = fixture("malicious", "tar-checksum-0o.pt");
    let r = scan_bytes(&data, "t.pt", &Options::default());
    assert_eq!(r.format, airlock_formats::Format::TorchLegacyTar);
    assert_eq!(r.verdict, Verdict::Dangerous);
}

/// Decompression bombs (200 MB of zeros in a few hundred bytes of bzip2, xz
/// or lzma): an `error` naming the limit, without allocating the output.
#[test]
fn decompression_bombs_are_errors() {
    for name in ["bomb.bz2", "bomb.xz", "bomb.lzma"] {
        let r = scan_bytes(&fixture("compress", name), name, &Options::default());
        assert_eq!(r.verdict, Verdict::Error, "{name}: {:?}", r.findings);
        assert!(
            r.findings
                .iter()
                .any(|f| f.rule == Rule::AnalysisLimit && f.message.contains("bomb")),
            "{name}: {:?}",
            r.findings
        );
    }
}

#[test]
fn a_pickle_after_the_stream_limit_is_never_silent() {
    // A plain pickle, then more one-opcode pickles than the engine reads, then
    // a payload: the analysis stops, and says so (loaders that read in a loop
    // would reach the payload).
    for n in [63usize, 64, 200, 5000] {
        let mut data = b"\x80\x02}q\x00.".to_vec();
        for _ in 0..n {
            data.extend(b"N.");
        }
        data.extend(b"cposix\nsystem\n(S'echo hidden'\ntR.");
        let (v, rules) = verdict(&data);
        assert_ne!(v, Verdict::Safe, "{n}");
        assert!(rules.contains(&Rule::HiddenPickle), "{n}: {rules:?}");
        assert!(
            v == Verdict::Dangerous || rules.contains(&Rule::AnalysisLimit),
            "{n}: {v} {rules:?}"
        );
    }
}
