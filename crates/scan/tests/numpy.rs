//! NumPy files end to end: every `.npy` fixture written or hand-built by
//! `scripts/gen_numpy_fixtures.py` gets the verdict what real `np.load`
//! did with it implies (`manifest.json`): `safe` when it loads with
//! `allow_pickle=False`, or when only its header length needs
//! `allow_pickle=True` (a note says so); never `safe` otherwise (object
//! arrays are `suspicious` or worse, broken files `error`). Descriptors
//! Airlock deliberately does not interpret (the generator marks them "not
//! interpreted") are `error`, never a guess.

use airlock_policy::{Rule, Verdict};
use airlock_scan::{Options, scan_path};
use serde_json::Value as Json;

fn dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/numpy")
}

#[test]
fn verdicts_follow_what_numpy_load_does() {
    let manifest: Json =
        serde_json::from_slice(&std::fs::read(dir().join("manifest.json")).unwrap()).unwrap();
    let mut failures = Vec::new();
    let (mut safe, mut not_safe) = (0, 0);
    for f in manifest["files"].as_array().unwrap() {
        let name = f["file"].as_str().unwrap();
        if !name.ends_with(".npy") {
            continue;
        }
        let r = scan_path(&dir().join(name), name, &Options::default());
        let loads = f["load"]["ok"].as_bool() == Some(true);
        let trusted = f["load_trusted"]["ok"].as_bool() == Some(true);
        let object = f["header"]["dtype"]["hasobject"].as_bool() == Some(true)
            || f["header"]["dtype"]["kind"] == "O";
        let refused = f["description"]
            .as_str()
            .unwrap_or("")
            .contains("not interpreted");
        let ok = if refused {
            not_safe += 1;
            r.verdict == Verdict::Error
        } else if object {
            not_safe += 1;
            r.verdict != Verdict::Safe
                && r.findings.iter().any(|f| f.rule == Rule::NumpyObjectArray)
        } else if loads || trusted {
            safe += 1;
            r.verdict == Verdict::Safe
                && (loads || r.findings.iter().any(|f| f.rule == Rule::NpyLargeHeader))
        } else {
            not_safe += 1;
            r.verdict == Verdict::Error
        };
        if !ok {
            failures.push(format!(
                "{name}: np.load ok={loads} object={object}, verdict {} {:?}",
                r.verdict,
                r.findings.iter().map(|f| &f.message).collect::<Vec<_>>()
            ));
        }
    }
    assert!(
        safe >= 50 && not_safe >= 20,
        "{safe} loadable, {not_safe} not"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn npz_archives_are_read_as_numpy_reads_them() {
    let savez = scan_path(
        &dir().join("../pyzip/savez.npz"),
        "savez.npz",
        &Options::default(),
    );
    assert_eq!(savez.format.name(), "npz");
    assert_eq!(savez.verdict, Verdict::Safe, "{:?}", savez.findings);
    let compressed = scan_path(
        &dir().join("../pyzip/savez_compressed.npz"),
        "c.npz",
        &Options::default(),
    );
    assert_eq!(
        compressed.verdict,
        Verdict::Safe,
        "{:?}",
        compressed.findings
    );
}

/// A version 1.0 `.npy`: magic, version, length, the header padded as numpy
/// pads it, then `body`.
fn npy(header: &str, body: &[u8]) -> Vec<u8> {
    let mut text = header.as_bytes().to_vec();
    let pad = (64 - (10 + text.len() + 1) % 64) % 64;
    text.extend(std::iter::repeat_n(b' ', pad));
    text.push(b'\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((text.len() as u16).to_le_bytes());
    out.extend(text);
    out.extend(body);
    out
}

/// A ZIP of one stored member, as `np.savez` writes it (CRC-32 by zlib's
/// polynomial).
fn npz(name: &str, data: &[u8]) -> Vec<u8> {
    let crc = {
        let mut c = !0u32;
        for &b in data {
            c ^= u32::from(b);
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    (c >> 1) ^ 0xEDB8_8320
                } else {
                    c >> 1
                };
            }
        }
        !c
    };
    let (n, len) = (name.len() as u16, data.len() as u32);
    let mut out = Vec::new();
    out.extend(0x0403_4b50u32.to_le_bytes());
    for v in [20u16, 0, 0, 0, 0x21] {
        out.extend(v.to_le_bytes());
    }
    out.extend(crc.to_le_bytes());
    out.extend(len.to_le_bytes());
    out.extend(len.to_le_bytes());
    out.extend(n.to_le_bytes());
    out.extend(0u16.to_le_bytes());
    out.extend(name.as_bytes());
    out.extend(data);
    let cd = out.len() as u32;
    out.extend(0x0201_4b50u32.to_le_bytes());
    for v in [20u16, 20, 0, 0, 0, 0x21] {
        out.extend(v.to_le_bytes());
    }
    out.extend(crc.to_le_bytes());
    out.extend(len.to_le_bytes());
    out.extend(len.to_le_bytes());
    for v in [n, 0, 0, 0, 0] {
        out.extend(v.to_le_bytes());
    }
    out.extend(0u32.to_le_bytes());
    out.extend(0u32.to_le_bytes());
    out.extend(name.as_bytes());
    let cd_len = out.len() as u32 - cd;
    out.extend(0x0605_4b50u32.to_le_bytes());
    for v in [0u16, 0, 1, 1] {
        out.extend(v.to_le_bytes());
    }
    out.extend(cd_len.to_le_bytes());
    out.extend(cd.to_le_bytes());
    out.extend(0u16.to_le_bytes());
    out
}

const PROGRAM: &[u8] = b"\x80\x02cposix\nsystem\n(X\x0b\x00\x00\x00echo hiddentR.";

fn staged(r: &airlock_scan::FileReport) -> bool {
    r.findings.iter().any(|f| f.rule == Rule::StagedPickle)
}

#[test]
fn a_pickle_program_in_numeric_array_data_is_staged() {
    let header = format!(
        "{{'descr': '|u1', 'fortran_order': False, 'shape': ({},), }}",
        PROGRAM.len()
    );
    let r = airlock_scan::scan_bytes(&npy(&header, PROGRAM), "a.npy", &Options::default());
    assert_eq!(r.verdict, Verdict::Dangerous, "{:?}", r.findings);
    assert!(staged(&r), "{:?}", r.findings);
    let f = r
        .findings
        .iter()
        .find(|f| f.rule == Rule::StagedPickle)
        .unwrap();
    assert!(
        f.message.contains("np.load never unpickles it"),
        "{}",
        f.message
    );
    // Numbers are numbers: the same array of floats, of zeros.
    let floats: Vec<u8> = (0..256u32)
        .flat_map(|i| (i as f32 * 0.37).to_le_bytes())
        .collect();
    let r = airlock_scan::scan_bytes(
        &npy(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (256,), }",
            &floats,
        ),
        "f.npy",
        &Options::default(),
    );
    assert_eq!(r.verdict, Verdict::Safe, "{:?}", r.findings);
    let r = airlock_scan::scan_bytes(
        &npy(
            "{'descr': '<f8', 'fortran_order': False, 'shape': (64,), }",
            &[0u8; 512],
        ),
        "z.npy",
        &Options::default(),
    );
    assert_eq!(r.verdict, Verdict::Safe, "{:?}", r.findings);
}

#[test]
fn a_pickle_program_behind_a_refused_header_is_staged() {
    // The header lacks its closing brace: np.load refuses it ("Cannot parse
    // header"), a reader that skips the declared length unpickles the rest.
    let bad = npy(
        "{'descr': '|O', 'fortran_order': False, 'shape': (1,)",
        PROGRAM,
    );
    let r = airlock_scan::scan_bytes(&bad, "bad.npy", &Options::default());
    assert!(
        r.findings.iter().any(|f| f.rule == Rule::NpyLayout),
        "{:?}",
        r.findings
    );
    assert!(staged(&r), "{:?}", r.findings);
    assert_eq!(r.verdict, Verdict::Dangerous, "{:?}", r.findings);
    // The same as an .npz member.
    let r = airlock_scan::scan_bytes(&npz("bad.npy", &bad), "bad.npz", &Options::default());
    assert!(staged(&r), "{:?}", r.findings);
    assert_eq!(r.verdict, Verdict::Dangerous, "{:?}", r.findings);
    // A refused header with plain bytes behind it stays an error.
    let r = airlock_scan::scan_bytes(
        &npy(
            "{'descr': '|O', 'fortran_order': False, 'shape': (1,)",
            b"\x00\x01\x02",
        ),
        "e.npy",
        &Options::default(),
    );
    assert_eq!(r.verdict, Verdict::Error, "{:?}", r.findings);
}
