//! Parity of the `.npy` reader with the real numpy.
//!
//! `scripts/gen_numpy_fixtures.py` wrote the files in `tests/fixtures/numpy`
//! with numpy and by hand, and recorded in `manifest.json` what numpy does
//! with each: its own header reading, `np.load(allow_pickle=False)` and, for
//! headers without objects, `np.load(allow_pickle=True)`. In
//! `dtype_strings.json` it recorded `numpy.dtype(s)` for a few hundred
//! descriptor strings and `descr_to_dtype` for descriptor literals.
//!
//! The rule everywhere: where numpy fails we fail, where we succeed we agree
//! with numpy exactly, and where numpy succeeds and we do not, the refusal
//! is a deliberate one (an `Unsupported` descriptor or a shape outside
//! int64), listed here.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use airlock_formats::FileSource;
use airlock_formats::dtype::{DtypeError, NumpyDtype, dtype_from_descr, dtype_from_str};
use airlock_formats::npy::{MAX_HEADER_SIZE, NpyError, NpyHeader, read_npy_header};
use airlock_formats::pyliteral::literal_eval;
use serde_json::Value;

/// Files numpy reads and this reader deliberately does not interpret.
const DELIBERATE: &[&str] = &[
    "descr_commastring.npy",
    "descr_datetime_divisor.npy",
    "descr_inherit_tuple.npy",
    "descr_stringdtype.npy",
    "shape_2_63.npy",
];

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/numpy")
}

fn load_json(name: &str) -> Value {
    let path = fixtures().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn str_list(v: &Value) -> Option<Vec<String>> {
    v.as_array().map(|a| {
        a.iter()
            .map(|x| x.as_str().unwrap_or_default().to_string())
            .collect()
    })
}

fn u64_list(v: &Value) -> Option<Vec<u64>> {
    v.as_array()
        .map(|a| a.iter().map(|x| x.as_u64().unwrap_or(u64::MAX)).collect())
}

/// Differences between our dtype and numpy's description of it.
fn dtype_mismatches(ours: &NumpyDtype, numpy: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let mut check = |what: &str, a: String, b: String| {
        if a != b {
            out.push(format!("{what}: ours {a}, numpy {b}"));
        }
    };
    check(
        "itemsize",
        ours.itemsize.to_string(),
        numpy["itemsize"].to_string(),
    );
    check(
        "hasobject",
        ours.has_object.to_string(),
        numpy["hasobject"].to_string(),
    );
    check(
        "kind",
        ours.kind_char().to_string(),
        numpy["kind"].as_str().unwrap_or("?").to_string(),
    );
    check(
        "str",
        ours.typestr(),
        numpy["str"].as_str().unwrap_or("?").to_string(),
    );
    let names = ours.is_structured().then(|| {
        ours.fields
            .iter()
            .map(|f| f.name.clone())
            .collect::<Vec<_>>()
    });
    check(
        "names",
        format!("{names:?}"),
        format!("{:?}", str_list(&numpy["names"])),
    );
    let offsets = ours
        .is_structured()
        .then(|| ours.fields.iter().map(|f| f.offset).collect::<Vec<_>>());
    check(
        "offsets",
        format!("{offsets:?}"),
        format!("{:?}", u64_list(&numpy["offsets"])),
    );
    let sub = ours.subarray.as_ref().map(|s| s.shape.clone());
    check(
        "subarray shape",
        format!("{sub:?}"),
        format!("{:?}", u64_list(&numpy["subarray_shape"])),
    );
    if let Some(descr) = numpy["descr"].as_str() {
        check("descr", ours.to_string(), descr.to_string());
    }
    out
}

/// Whether our error is the one numpy raised, judged by numpy's message.
fn same_failure(numpy_error: &str, message: &str, ours: &NpyError) -> bool {
    let m = |s: &str| message.starts_with(s);
    match ours {
        NpyError::Empty | NpyError::BadMagic { .. } => {
            m("the magic string is not correct") || m("EOF: reading magic string")
        }
        NpyError::Truncated { what, .. } => m(&format!("EOF: reading {what},")),
        NpyError::Version { .. } => m("we only support format version"),
        NpyError::Encoding { .. } => numpy_error == "UnicodeDecodeError",
        NpyError::Literal { .. } => m("Cannot parse header") || numpy_error == "TokenError",
        NpyError::NotADict { .. } => m("Header is not a dictionary"),
        // numpy sorts the keys for its message, which fails on mixed types.
        NpyError::Keys { .. } => {
            m("Header does not contain the correct keys") || m("'<' not supported")
        }
        NpyError::Shape { .. } => m("shape is not valid"),
        NpyError::FortranOrder { .. } => m("fortran_order is not a valid bool"),
        NpyError::Descr { .. } => {
            m("descr is not a valid dtype descriptor") || m("name already used")
        }
        _ => false,
    }
}

struct Outcome {
    files: usize,
    agreed_ok: usize,
    agreed_err: usize,
    deliberate: BTreeSet<String>,
    failures: Vec<String>,
}

fn check_header(entry: &Value, h: &NpyHeader, file_len: u64, failures: &mut Vec<String>) {
    let name = entry["file"].as_str().unwrap_or("?");
    let numpy = &entry["header"];
    let mut fail = |what: String| failures.push(format!("{name}: {what}"));
    let shape: Vec<String> = h.shape.iter().map(i64::to_string).collect();
    if Some(&shape) != str_list(&numpy["shape"]).as_ref() {
        fail(format!("shape {shape:?}, numpy {}", numpy["shape"]));
    }
    if numpy["shape_has_bool"].as_bool() != Some(h.shape_has_bool) {
        fail("bools in the shape".into());
    }
    if numpy["fortran_order"].as_bool() != Some(h.fortran_order) {
        fail(format!(
            "fortran_order {}, numpy {}",
            h.fortran_order, numpy["fortran_order"]
        ));
    }
    for m in dtype_mismatches(&h.dtype, &numpy["dtype"]) {
        fail(format!("dtype {m}"));
    }
    if entry["header_chars"].as_u64() != Some(h.header_chars as u64) {
        fail(format!(
            "header of {} characters, numpy {}",
            h.header_chars, entry["header_chars"]
        ));
    }
    if h.exceeds_max_header_size != (h.header_chars > MAX_HEADER_SIZE) {
        fail("max_header_size flag".into());
    }
    if entry["py2_filter"].as_bool() != Some(h.needed_py2_filter) {
        fail(format!(
            "needed_py2_filter {}, numpy {}",
            h.needed_py2_filter, entry["py2_filter"]
        ));
    }
    // What np.load does after the header.
    let payload = h.payload(file_len);
    let trusted_ok = !h.dtype.has_object && payload.is_ok();
    if let Some(trusted) = entry["load_trusted"].as_object() {
        if trusted["ok"].as_bool() != Some(trusted_ok) {
            fail(format!(
                "np.load(allow_pickle=True) {}, we predict {payload:?}",
                Value::Object(trusted.clone())
            ));
        }
    }
    let untrusted_ok = trusted_ok && !h.exceeds_max_header_size;
    if entry["load"]["ok"].as_bool() != Some(untrusted_ok) {
        fail(format!(
            "np.load(allow_pickle=False) {}, we predict loadable={untrusted_ok} ({payload:?})",
            entry["load"]
        ));
    }
}

fn run_manifest() -> Outcome {
    let manifest = load_json("manifest.json");
    let entries = manifest["files"].as_array().expect("files");
    let mut out = Outcome {
        files: entries.len(),
        agreed_ok: 0,
        agreed_err: 0,
        deliberate: BTreeSet::new(),
        failures: Vec::new(),
    };
    for entry in entries {
        let name = entry["file"].as_str().expect("file");
        let path = fixtures().join(name);
        let src = FileSource::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let ours = read_npy_header(&src);
        let numpy = &entry["header"];
        let numpy_error = numpy["error"].as_str().unwrap_or("");
        let numpy_message = numpy["message"].as_str().unwrap_or("");
        match (numpy["ok"].as_bool() == Some(true), ours) {
            (true, Ok(h)) => {
                check_header(
                    entry,
                    &h,
                    std::fs::metadata(&path).map_or(0, |m| m.len()),
                    &mut out.failures,
                );
                out.agreed_ok += 1;
            }
            (false, Err(e)) => {
                if !same_failure(numpy_error, numpy_message, &e) {
                    out.failures.push(format!(
                        "{name}: numpy fails with {numpy_error}: {numpy_message}; we fail differently: {e}"
                    ));
                }
                out.agreed_err += 1;
            }
            (false, Ok(h)) => out.failures.push(format!(
                "{name}: numpy refuses the header ({numpy_error}: {numpy_message}), we read {h:?}"
            )),
            (true, Err(e)) => {
                let deliberate = matches!(
                    e,
                    NpyError::ShapeOutOfRange { .. }
                        | NpyError::Descr {
                            source: DtypeError::Unsupported(_),
                            ..
                        }
                );
                if !deliberate {
                    out.failures
                        .push(format!("{name}: numpy reads the header, we fail: {e}"));
                }
                out.deliberate.insert(name.to_string());
            }
        }
    }
    out
}

#[test]
fn every_fixture_matches_numpy() {
    let out = run_manifest();
    eprintln!(
        "{} fixtures: {} read as numpy reads them, {} refused where numpy refuses, {} deliberately not interpreted: {:?}",
        out.files,
        out.agreed_ok,
        out.agreed_err,
        out.deliberate.len(),
        out.deliberate
    );
    assert!(
        out.failures.is_empty(),
        "{} disagreements:\n{}",
        out.failures.len(),
        out.failures.join("\n")
    );
    let expected: BTreeSet<String> = DELIBERATE.iter().map(|s| s.to_string()).collect();
    assert_eq!(out.deliberate, expected);
    assert!(
        out.agreed_ok >= 80 && out.agreed_err >= 30,
        "too few fixtures exercised"
    );
}

/// One dtype table: how many descriptors numpy accepts, how many we accept,
/// and every disagreement.
struct Table {
    total: usize,
    numpy_accepts: usize,
    we_accept: usize,
    deliberate: Vec<String>,
    failures: Vec<String>,
}

fn compare_table(
    rows: &[Value],
    key: &str,
    parse: impl Fn(&str) -> Result<NumpyDtype, DtypeError>,
) -> Table {
    let mut t = Table {
        total: rows.len(),
        numpy_accepts: 0,
        we_accept: 0,
        deliberate: Vec::new(),
        failures: Vec::new(),
    };
    for row in rows {
        let src = row[key].as_str().expect("descriptor");
        let numpy = &row["numpy"];
        let numpy_ok = numpy["ok"].as_bool() == Some(true);
        t.numpy_accepts += usize::from(numpy_ok);
        match (numpy_ok, parse(src)) {
            (true, Ok(ours)) => {
                t.we_accept += 1;
                for m in dtype_mismatches(&ours, numpy) {
                    t.failures.push(format!("{src:?}: {m}"));
                }
            }
            (false, Ok(ours)) => t.failures.push(format!(
                "{src:?}: numpy refuses it ({}: {}), we build {ours}",
                numpy["error"], numpy["message"]
            )),
            (true, Err(DtypeError::Unsupported(_))) => t.deliberate.push(format!("{src:?}")),
            (true, Err(e)) => t.failures.push(format!(
                "{src:?}: numpy builds {}, we refuse it as if numpy did: {e}",
                numpy["str"]
            )),
            (false, Err(_)) => {}
        }
    }
    t
}

fn report(name: &str, t: &Table) {
    eprintln!(
        "{name}: {} descriptors, numpy accepts {}, we accept {} (all agreeing), {} accepted by numpy and deliberately not interpreted: {}",
        t.total,
        t.numpy_accepts,
        t.we_accept,
        t.deliberate.len(),
        t.deliberate.join(" ")
    );
    assert!(
        t.failures.is_empty(),
        "{name}: {} disagreements:\n{}",
        t.failures.len(),
        t.failures.join("\n")
    );
}

#[test]
fn dtype_strings_match_numpy() {
    let table = load_json("dtype_strings.json");
    let strings = compare_table(
        table["strings"].as_array().expect("strings"),
        "descr",
        dtype_from_str,
    );
    report("dtype strings", &strings);
    assert!(strings.total >= 150 && strings.we_accept >= 150);
    // Everything numpy itself writes into a header is read.
    let written = compare_table(
        table["written"].as_array().expect("written"),
        "descr",
        dtype_from_str,
    );
    report("strings numpy writes", &written);
    assert_eq!(written.we_accept, written.total);
    assert!(written.total >= 25, "{} strings written", written.total);
}

#[test]
fn descriptor_literals_match_numpy() {
    let table = load_json("dtype_strings.json");
    let parse = |src: &str| {
        let lit = literal_eval(src).map_err(|e| DtypeError::Invalid(e.to_string()))?;
        dtype_from_descr(&lit)
    };
    let literals = compare_table(
        table["literals"].as_array().expect("literals"),
        "source",
        parse,
    );
    report("descriptor literals", &literals);
    assert!(literals.we_accept >= 35);
}

#[test]
fn fixtures_stay_small() {
    let total: u64 = std::fs::read_dir(fixtures())
        .expect("fixtures")
        .map(|e| e.expect("entry").metadata().expect("metadata").len())
        .sum();
    assert!(total < 200_000, "{total} bytes of numpy fixtures");
}
