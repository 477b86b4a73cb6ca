//! The scanner on ExecuTorch programs (`tests/fixtures/pte`, written by
//! `scripts/gen_pte_fixtures.py` with executorch's own exporter, and run by
//! its C++ runtime):
//!
//! - the programs ExecuTorch wrote, portable kernels or XNNPACK delegates,
//!   are `safe`, with one note per method naming its operators and
//!   backends;
//! - the byte-edited variants (`variants/`) get the verdict their manifest
//!   expects: an operator of another namespace or a backend ExecuTorch does
//!   not ship `suspicious`, a file operator or an AOTInductor backend
//!   (which loads a shared library) `dangerous`, a cut or an out-of-range
//!   segment `error`.

use std::path::{Path, PathBuf};

use airlock_formats::Format;
use airlock_policy::{Rule, Verdict};
use airlock_scan::{Options, scan_bytes, scan_path};
use serde_json::Value as Json;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/pte")
}

fn manifest(path: &Path) -> Vec<Json> {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn messages(r: &airlock_scan::FileReport) -> Vec<String> {
    r.findings
        .iter()
        .map(|f| format!("{} {}", f.rule.id(), f.message))
        .collect()
}

#[test]
fn programs_executorch_wrote_are_safe() {
    for e in manifest(&fixtures().join("manifest.json")) {
        let file = e["file"].as_str().unwrap();
        let r = scan_path(&fixtures().join(file), file, &Options::default());
        assert_eq!(r.format, Format::ExecuTorch, "{file}");
        assert_eq!(r.verdict, Verdict::Safe, "{file}: {:?}", messages(&r));
        let plans = e["program"]["plans"].as_array().unwrap();
        let notes: Vec<_> = r
            .findings
            .iter()
            .filter(|f| f.rule == Rule::ExecuTorchProgram)
            .collect();
        assert_eq!(notes.len(), plans.len(), "{file}: {:?}", messages(&r));
        assert_eq!(notes.len(), r.findings.len(), "{file}: {:?}", messages(&r));
        for (note, plan) in notes.iter().zip(plans) {
            // Methods in the program's order, each with its operators and
            // backends as ExecuTorch's reader lists them.
            let name = plan["name"].as_str().unwrap();
            assert!(
                note.message.contains(&format!("{name:?}")),
                "{file}: {}",
                note.message
            );
            for op in plan["operators"].as_array().unwrap() {
                assert!(
                    note.message.contains(op[0].as_str().unwrap()),
                    "{file}: {}",
                    note.message
                );
            }
            for d in plan["delegates"].as_array().unwrap() {
                let id = d["id"].as_str().unwrap();
                assert!(
                    note.message
                        .contains(&format!("delegate {id} (XNNPACK, CPU)")),
                    "{file}: {}",
                    note.message
                );
            }
        }
    }
}

#[test]
fn variants_get_their_expected_verdicts() {
    let dir = fixtures().join("variants");
    let entries = manifest(&dir.join("manifest.json"));
    assert_eq!(entries.len(), 7);
    for e in entries {
        let file = e["file"].as_str().unwrap();
        let r = scan_path(&dir.join(file), file, &Options::default());
        let want = match e["expected"].as_str().unwrap() {
            "suspicious" => Verdict::Suspicious,
            "dangerous" => Verdict::Dangerous,
            "error" => Verdict::Error,
            other => panic!("{other}"),
        };
        assert_eq!(r.verdict, want, "{file}: {:?}", messages(&r));
        let main = r.main_finding().unwrap();
        let rule = match want {
            Verdict::Suspicious => Rule::ExecuTorchCustomCode,
            Verdict::Dangerous => Rule::ExecuTorchCapability,
            _ => Rule::ExecuTorchLayout,
        };
        assert_eq!(main.rule, rule, "{file}: {:?}", messages(&r));
        match file {
            "evil_namespace.pte" => assert!(main.message.contains("evil::relu.out")),
            "from_file.pte" => assert!(main.message.contains("aten::from_file.out")),
            "unknown_backend.pte" => assert!(main.message.contains("\"EvilGpuBackend\"")),
            "aoti_backend.pte" => assert!(main.message.contains("CudaBackend (CUDA, AOTInductor)")),
            "truncated.pte" | "segment_cut.pte" => assert!(main.message.contains("truncated")),
            "segment_oob.pte" => assert!(main.message.contains("past the end of the file")),
            other => panic!("a variant this test does not know: {other}"),
        }
    }
}

/// A pickle whose bytes 4..8 are `ET12`: the runtime would take it for a
/// program (and refuse it), `torch.load` and `pickle.load` run it.
#[test]
fn a_pickle_with_the_identifier_is_still_read_as_a_pickle() {
    let data = b"S'abET12'\n0cposix\nsystem\n(S'id'\ntR.";
    assert_eq!(&data[4..8], b"ET12");
    let r = scan_bytes(data, "polyglot.pte", &Options::default());
    assert_eq!(r.format, Format::ExecuTorch);
    assert_eq!(r.verdict, Verdict::Dangerous, "{:?}", messages(&r));
    assert!(
        r.findings.iter().any(|f| f.rule == Rule::ExecuTorchLayout),
        "{:?}",
        messages(&r)
    );
}

/// A program with a pickle appended: the runtime ignores what follows its
/// segments, and a pickle reading of the file starts at byte 0, where the
/// flatbuffer's root offset is no pickle: safe, read as the runtime reads it.
#[test]
fn bytes_after_the_segments_are_not_read() {
    let mut data = std::fs::read(fixtures().join("mlp.pte")).unwrap();
    data.extend_from_slice(b"cposix\nsystem\n(S'id'\ntR.");
    let r = scan_bytes(&data, "mlp.pte", &Options::default());
    assert_eq!(r.verdict, Verdict::Safe, "{:?}", messages(&r));
}

/// Every cut of a real program is an error, never safe.
#[test]
fn every_cut_is_an_error() {
    for name in ["mlp.pte", "xnnpack.pte", "methods.pte"] {
        let data = std::fs::read(fixtures().join(name)).unwrap();
        for cut in (0..data.len()).step_by(7) {
            let r = scan_bytes(&data[..cut], name, &Options::default());
            assert_ne!(r.verdict, Verdict::Safe, "{name} cut at {cut}");
        }
    }
}

/// Programs whose weights live in a tensor data file, and those files
/// (`external/`): the programs `safe` (their empty constant segment is not
/// read), the `.ptd` files `safe` with a note saying what they hold, the
/// copies the runtime refused `error`.
#[test]
fn tensor_data_files_and_their_programs() {
    let dir = fixtures().join("external");
    for e in manifest(&dir.join("manifest.json")) {
        for key in ["pte", "ptd"] {
            let file = e[key].as_str().unwrap();
            let r = scan_path(&dir.join(file), file, &Options::default());
            assert_eq!(r.verdict, Verdict::Safe, "{file}: {:?}", messages(&r));
        }
        let file = e["ptd"].as_str().unwrap();
        let r = scan_path(&dir.join(file), file, &Options::default());
        assert_eq!(r.format, Format::ExecuTorchData);
        let note = r
            .findings
            .iter()
            .find(|f| f.rule == Rule::ExecuTorchData)
            .unwrap_or_else(|| panic!("{file}: {:?}", messages(&r)));
        let named = e["data"]["named_data"].as_array().unwrap();
        let tensors = named
            .iter()
            .filter(|n| !n["tensor_layout"].is_null())
            .count();
        assert!(
            note.message.contains(&format!("{tensors} named tensor(s)")),
            "{}",
            note.message
        );
        if tensors < named.len() {
            let blobs = named.len() - tensors;
            assert!(
                note.message.contains(&format!("{blobs} blob(s)")),
                "{}",
                note.message
            );
        }
    }
    for v in manifest(&dir.join("variants/manifest.json")) {
        let file = v["file"].as_str().unwrap();
        let r = scan_path(&dir.join("variants").join(file), file, &Options::default());
        assert_eq!(r.verdict, Verdict::Error, "{file}: {:?}", messages(&r));
        assert!(
            r.findings
                .iter()
                .any(|f| f.rule == Rule::ExecuTorchDataLayout),
            "{file}: {:?}",
            messages(&r)
        );
    }
}
