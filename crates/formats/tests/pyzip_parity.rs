//! `PyZip` against what CPython's `zipfile` did with every archive in
//! `tests/fixtures/pyzip` (written, and read, by
//! `scripts/gen_pyzip_fixtures.py`): the same open error, namelist and
//! infolist, and for every name the same bytes from
//! `ZipFile.open(name).read()` or the same exception and message.

use std::path::{Path, PathBuf};

use airlock_formats::compress::{DecompressLimits, PyError};
use airlock_formats::pyzip::PyZip;
use airlock_formats::{AnomalyKind, MemSource};
use serde_json::Value as Json;
use sha2::{Digest, Sha256};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/pyzip")
}

fn manifest() -> Vec<Json> {
    let text = std::fs::read_to_string(dir().join("manifest.json")).unwrap();
    serde_json::from_str::<Json>(&text)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn sha256(b: &[u8]) -> String {
    Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

fn same_exception(want: &Json, got: Option<&PyError>, shown: &str) -> Result<(), String> {
    let Some(got) = got else {
        return Err(format!(
            "error {shown} has no Python counterpart, Python raises {want}"
        ));
    };
    let exc = want["exception"].as_str().unwrap();
    let msg = want["message"].as_str().unwrap();
    if got.exception != exc {
        return Err(format!("raises {got}, Python raises {exc}: {msg}"));
    }
    // zlib's own messages name the failed check, miniz_oxide's do not.
    if exc != "zlib.error" && got.message != msg {
        return Err(format!("message {:?}, Python's {msg:?}", got.message));
    }
    Ok(())
}

fn check(e: &Json) -> Result<(), String> {
    let data = std::fs::read(dir().join(e["file"].as_str().unwrap())).unwrap();
    let src = MemSource::new(&data);
    let zip = match PyZip::open(&src) {
        Ok(z) => z,
        Err(err) => {
            if e["open"]["ok"] == Json::Bool(true) {
                return Err(format!("open fails ({err}), Python opens it"));
            }
            return same_exception(&e["open"], err.python(), &err.to_string());
        }
    };
    if e["open"]["ok"] != Json::Bool(true) {
        return Err(format!("opens, Python raises {}", e["open"]));
    }
    let names: Vec<&str> = e["namelist"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    if zip.namelist() != names {
        return Err(format!("namelist {:?}, Python's {names:?}", zip.namelist()));
    }
    for (i, info) in e["infolist"].as_array().unwrap().iter().enumerate() {
        let ent = &zip.entries()[i];
        let got = (
            ent.name.as_str(),
            ent.orig_name.as_str(),
            ent.flags as u64,
            ent.method as u64,
            ent.crc32 as u64,
            ent.compress_size,
            ent.file_size,
            ent.header_offset as i64,
        );
        let want = (
            info["filename"].as_str().unwrap(),
            info["orig_filename"].as_str().unwrap(),
            info["flag_bits"].as_u64().unwrap(),
            info["compress_type"].as_u64().unwrap(),
            info["CRC"].as_u64().unwrap(),
            info["compress_size"].as_u64().unwrap(),
            info["file_size"].as_u64().unwrap(),
            info["header_offset"].as_i64().unwrap(),
        );
        if got != want {
            return Err(format!("entry {i}: {got:?}, Python's {want:?}"));
        }
    }
    for (name, want) in e["reads"].as_object().unwrap() {
        let index = zip
            .lookup(name)
            .ok_or_else(|| format!("{name:?} not found by lookup"))?;
        let res = zip.read(&src, index, &DecompressLimits::default());
        let r = match (&res, want["ok"] == Json::Bool(true)) {
            (Ok(d), true) => {
                if d.len() as u64 == want["len"].as_u64().unwrap()
                    && sha256(d) == want["sha256"].as_str().unwrap()
                {
                    Ok(())
                } else {
                    Err(format!(
                        "{} other bytes than Python's {}",
                        d.len(),
                        want["len"]
                    ))
                }
            }
            (Ok(d), false) => Err(format!("reads {} bytes, Python raises {want}", d.len())),
            (Err(err), true) => Err(format!("fails ({err}), Python reads {} bytes", want["len"])),
            (Err(err), false) => same_exception(want, err.python(), &err.to_string()),
        };
        r.map_err(|why| format!("read {name:?}: {why}"))?;
    }
    Ok(())
}

#[test]
fn every_archive_reads_as_zipfile_reads_it() {
    let entries = manifest();
    assert!(entries.len() >= 40, "too few fixtures");
    let failures: Vec<String> = entries
        .iter()
        .filter_map(|e| check(e).err().map(|why| format!("{}: {why}", e["file"])))
        .collect();
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn anomaly_kinds(file: &str) -> Vec<AnomalyKind> {
    let data = std::fs::read(dir().join(file)).unwrap();
    let src = MemSource::new(&data);
    let zip = PyZip::open(&src).unwrap();
    zip.anomalies(&src, &DecompressLimits::default())
        .into_iter()
        .map(|a| a.kind)
        .collect()
}

#[test]
fn anomalies_name_each_trick() {
    use AnomalyKind::*;
    let cases: &[(&str, &[AnomalyKind])] = &[
        ("duplicate.zip", &[ZipDuplicateName]),
        ("nul_name.zip", &[ZipNameTruncated]),
        (
            "name_mismatch.zip",
            &[ZipLocalNameMismatch, ZipUnreadableMember],
        ),
        (
            "utf8_local_flag.zip",
            &[ZipLocalNameMismatch, ZipHeaderMismatch],
        ),
        ("encrypted.zip", &[ZipEncryptionFlags, ZipUnreadableMember]),
        ("encrypted_local_only.zip", &[ZipHeaderMismatch]),
        ("patch_flag.zip", &[ZipEncryptionFlags]),
        ("strong_encryption.zip", &[ZipEncryptionFlags]),
        (
            "unsupported_method.zip",
            &[ZipUnsupportedMethod, ZipUnreadableMember],
        ),
        ("bad_crc.zip", &[ZipCrcMismatch]),
        ("prepended.zip", &[ZipPrependedData]),
        ("overlap.zip", &[ZipOverlappingEntries]),
        ("trailing_data.zip", &[ZipTrailingData]),
        (
            "negative_concat.zip",
            &[ZipHeaderMismatch, ZipUnreadableMember],
        ),
        ("zip64_locator_offset.zip", &[ZipHeaderMismatch]),
        ("comment_hides_entries.zip", &[ZipHeaderMismatch]),
        ("member_past_end.zip", &[ZipUnreadableMember]),
    ];
    for (file, want) in cases {
        let got = anomaly_kinds(file);
        for k in *want {
            assert!(got.contains(k), "{file}: {k:?} missing from {got:?}");
        }
    }
    for clean in [
        "stored.zip",
        "deflate.zip",
        "bzip2.zip",
        "lzma.zip",
        "savez.npz",
        "savez_compressed.npz",
        "zip64_member.zip",
        "data_descriptor.zip",
        "comment.zip",
        "utf8_name.zip",
    ] {
        assert!(
            anomaly_kinds(clean).is_empty(),
            "{clean}: {:?}",
            anomaly_kinds(clean)
        );
    }
}

#[test]
fn duplicate_detail_says_which_entry_python_reads() {
    let data = std::fs::read(dir().join("duplicate.zip")).unwrap();
    let src = MemSource::new(&data);
    let zip = PyZip::open(&src).unwrap();
    assert_eq!(zip.lookup("a.npy"), Some(2));
    let a = zip.anomalies(&src, &DecompressLimits::default());
    let dup = a
        .iter()
        .find(|a| a.kind == AnomalyKind::ZipDuplicateName)
        .unwrap();
    assert!(dup.detail.contains("entry 2"), "{}", dup.detail);
}

#[test]
fn every_truncation_and_bit_flip_is_handled_without_panic() {
    let data = std::fs::read(dir().join("savez_compressed.npz")).unwrap();
    let limits = DecompressLimits {
        max_output: 1 << 20,
        ..DecompressLimits::default()
    };
    for cut in 0..data.len() {
        let src = MemSource::new(&data[..cut]);
        if let Ok(zip) = PyZip::open(&src) {
            for i in 0..zip.entries().len() {
                let _ = zip.read(&src, i, &limits);
            }
            let _ = zip.anomalies(&src, &limits);
        }
    }
    for at in 0..data.len() {
        let mut d = data.clone();
        d[at] ^= 0x5a;
        let src = MemSource::new(&d);
        if let Ok(zip) = PyZip::open(&src) {
            for i in 0..zip.entries().len() {
                let _ = zip.read(&src, i, &limits);
            }
        }
    }
}
