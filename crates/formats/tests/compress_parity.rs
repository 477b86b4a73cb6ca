//! `compress::decompress` against what Python's own readers did with every
//! file in `tests/fixtures/compress` (written, and read by CPython, by
//! `scripts/gen_pyzip_fixtures.py`): the same bytes when Python reads the
//! file, the same exception when it raises (after the same data, when the
//! exception concerns bytes after complete members).

use std::path::{Path, PathBuf};

use airlock_formats::compress::{
    Compression, DecompressError, DecompressLimits, PyError, decompress, joblib_compressor,
    sniff_compression,
};
use serde_json::Value as Json;
use sha2::{Digest, Sha256};

/// Files Python reads that this crate declines as unsupported: lzma-rs has
/// no SHA-256 for xz checks.
const KNOWN_GAPS: &[&str] = &["check_sha256.xz"];

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/compress")
}

fn manifest() -> Vec<Json> {
    let text = std::fs::read_to_string(dir().join("manifest.json")).unwrap();
    serde_json::from_str::<Json>(&text)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn kind(name: &str) -> Compression {
    match name {
        "zlib" => Compression::Zlib,
        "gzip" => Compression::Gzip,
        "bzip2" => Compression::Bzip2,
        "xz" => Compression::Xz,
        "lzma" => Compression::LzmaAlone,
        "lz4" => Compression::Lz4,
        "joblib-zfile" => Compression::JoblibZfile,
        other => panic!("unknown kind {other}"),
    }
}

fn sha256(b: &[u8]) -> String {
    Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

/// Messages that come from zlib, liblzma or LZ4F internals (or name a file
/// object) are compared by exception class only.
fn same_exception(want: &Json, got: &PyError) -> Result<(), String> {
    let exc = want["exception"].as_str().unwrap();
    let msg = want["message"].as_str().unwrap();
    if got.exception != exc {
        return Err(format!("raises {got}, Python raises {exc}: {msg}"));
    }
    let approximate = matches!(exc, "zlib.error" | "RuntimeError" | "AssertionError")
        && !msg.contains("incomplete or truncated stream");
    if !approximate && got.message != msg {
        return Err(format!("message {:?}, Python's {msg:?}", got.message));
    }
    Ok(())
}

#[test]
fn every_fixture_reads_as_python_reads_it() {
    let entries = manifest();
    assert!(entries.len() >= 50, "too few fixtures");
    let mut failures = Vec::new();
    for e in &entries {
        let file = e["file"].as_str().unwrap();
        let data = std::fs::read(dir().join(file)).unwrap();
        let k = kind(e["kind"].as_str().unwrap());
        let py = &e["python"];
        let res = decompress(k, &data, &DecompressLimits::default());
        let outcome: Result<(), String> = if KNOWN_GAPS.contains(&file) {
            // Python reads these; the reader must say it cannot, not guess.
            match &res {
                Err(DecompressError::Unsupported { .. }) => Ok(()),
                other => Err(format!("expected an Unsupported error, got {other:?}")),
            }
        } else if e["expect_limit"] == Json::Bool(true) {
            match &res {
                Err(err) if err.is_limit() => Ok(()),
                other => Err(format!("expected a limit error, got {other:?}")),
            }
        } else if py["ok"] == Json::Bool(true) {
            match &res {
                Ok(d)
                    if d.python_error.is_none()
                        && d.data.len() as u64 == py["len"].as_u64().unwrap()
                        && sha256(&d.data) == py["sha256"].as_str().unwrap() =>
                {
                    Ok(())
                }
                Ok(d) => Err(format!(
                    "{} bytes (python_error {:?}), Python reads {} bytes",
                    d.data.len(),
                    d.python_error,
                    py["len"]
                )),
                Err(err) => Err(format!("error {err}, Python reads {} bytes", py["len"])),
            }
        } else {
            match &res {
                Ok(d) => match &d.python_error {
                    Some(p) => same_exception(py, p),
                    None => Err(format!("reads {} bytes, Python raises {py}", d.data.len())),
                },
                Err(err) => match err.python() {
                    Some(p) => same_exception(py, p),
                    None => Err(format!(
                        "error {err} without a Python counterpart, Python raises {py}"
                    )),
                },
            }
        };
        if let Err(why) = outcome {
            failures.push(format!("{file}: {why}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn python_writers_output_sniffs_as_its_format() {
    for e in manifest() {
        let file = e["file"].as_str().unwrap();
        if !file.starts_with("plain.") && !file.starts_with("joblib_") {
            continue;
        }
        let data = std::fs::read(dir().join(file)).unwrap();
        let k = kind(e["kind"].as_str().unwrap());
        assert_eq!(sniff_compression(&data), Some(k), "{file}");
        assert_eq!(joblib_compressor(&data), Some(k), "{file}");
    }
}

#[test]
fn multi_member_and_trailing_layouts_are_described() {
    let read = |f: &str, k| {
        decompress(
            k,
            &std::fs::read(dir().join(f)).unwrap(),
            &DecompressLimits::default(),
        )
        .unwrap()
    };
    let d = read("members.gz", Compression::Gzip);
    assert_eq!(d.members, 2);
    assert!(
        d.notes.iter().any(|n| n.contains("BinaryGzipFile")),
        "{:?}",
        d.notes
    );
    let d = read("padded.gz", Compression::Gzip);
    assert_eq!(d.trailing, None);
    assert!(
        d.notes.iter().any(|n| n.contains("padding")),
        "{:?}",
        d.notes
    );
    let d = read("trailing.bz2", Compression::Bzip2);
    assert_eq!(d.trailing.map(|t| t.1), Some(16));
    assert!(d.python_error.is_none());
    let d = read("trailing.zlib", Compression::Zlib);
    assert_eq!(d.trailing.map(|t| t.1), Some(16));
    assert!(
        d.notes.iter().any(|n| n.contains("MemoryError")),
        "{:?}",
        d.notes
    );
    let d = read("streams.xz", Compression::Xz);
    assert_eq!(d.members, 2);
    let d = read("xz_then_lzma.xz", Compression::Xz);
    assert_eq!(d.members, 2);
}

#[test]
fn the_bomb_is_refused_without_holding_its_output() {
    let data = std::fs::read(dir().join("bomb.bz2")).unwrap();
    assert!(data.len() < 1000);
    let limits = DecompressLimits {
        max_output: 1 << 20,
        max_ratio: u64::MAX,
        ratio_floor: 0,
    };
    let err = decompress(Compression::Bzip2, &data, &limits).unwrap_err();
    assert!(err.is_limit(), "{err}");
    assert!(
        err.to_string().contains("DecompressLimits::max_output"),
        "{err}"
    );
    // Under the defaults it is the ratio that trips, at 16 MiB.
    let err = decompress(Compression::Bzip2, &data, &DecompressLimits::default()).unwrap_err();
    assert!(err.to_string().contains("max_ratio"), "{err}");
}
