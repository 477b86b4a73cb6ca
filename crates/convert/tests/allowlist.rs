//! Nothing outside the allowlist gets through: a pickle that imports or
//! calls a global outside the data allowlist is refused by convert,
//! inspect and the load plan behind `airlock.load`, even when the call's
//! result never reaches the loaded object. Each case is built from raw
//! opcodes with a gadget class no catalogue knows (`airlock_gadget.Gadget`), next to
//! a control without the gadget that converts.

use std::path::{Path, PathBuf};

use airlock_convert::inspect::inspect;
use airlock_convert::{ConvertError, ConvertOptions, convert_file, plan_load};
use airlock_policy::{Rule, Verdict};
use airlock_scan::{Options, scan_path};

/// `airlock_gadget.Gadget()`: pushes the call's result.
const CALL: &[u8] = b"cairlock_gadget\nGadget\n)R";

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("airlock-allowlist-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A protocol-2 pickle: `body` must leave the result on the stack.
fn pickle(body: &[u8]) -> Vec<u8> {
    let mut p = b"\x80\x02".to_vec();
    p.extend_from_slice(body);
    p.push(b'.');
    p
}

/// `{'a': 1}` with `extra` run after the dict is built (and before STOP).
fn dict_then(extra: &[u8]) -> Vec<u8> {
    let mut b = b"}X\x01\x00\x00\x00aK\x01s".to_vec();
    b.extend_from_slice(extra);
    pickle(&b)
}

/// Ways to run the gadget and throw its result away, each with its control
/// (the same structure without the call).
fn cases() -> Vec<(&'static str, Vec<u8>, Vec<u8>)> {
    let with = |f: &dyn Fn(&[u8]) -> Vec<u8>| (f(CALL), f(b"N"));
    let mut out = Vec::new();
    // POP: called, then dropped from the stack.
    let (bad, good) = with(&|v| dict_then(&[v, b"0"].concat()));
    out.push(("pop", bad, good));
    // SETITEM overwrite: the entry holding the result is replaced.
    let (bad, good) = with(&|v| {
        dict_then(
            &[
                b"X\x01\x00\x00\x00a".as_slice(),
                v,
                b"sX\x01\x00\x00\x00aK\x02s",
            ]
            .concat(),
        )
    });
    out.push(("setitem overwrite", bad, good));
    // BUILD on an attribute the rebuild drops: a pickled module (rebuilt
    // as its state dict) with one more attribute.
    let (bad, good) = with(&|v| {
        pickle(
            &[
                b"cmymodels\nNet\n)\x81}(X\x0b\x00\x00\x00_parameters}X\x08\x00\x00\x00_buffers}"
                    .as_slice(),
                b"X\x08\x00\x00\x00_modules}X\x05\x00\x00\x00extra",
                v,
                b"ub",
            ]
            .concat(),
        )
    });
    out.push(("build on a dropped attribute", bad, good));
    // A memo entry never read: stored, then popped.
    let (bad, good) = with(&|v| dict_then(&[v, b"q\x090"].concat()));
    out.push(("memo entry never read", bad, good));
    // The same global also made by __new__ alone (an instance the rebuild
    // reads as data) and called: the call runs its code.
    let (bad, good) = with(&|v| {
        let instance = b"}X\x01\x00\x00\x00acairlock_gadget\nGadget\n)\x81}bs";
        pickle(&[instance.as_slice(), v, b"0"].concat())
    });
    out.push(("an instance of a called class", bad, good));
    // The same global also stored as a value (read as its name).
    let (bad, good) = with(&|v| {
        let reference = b"}X\x01\x00\x00\x00acairlock_gadget\nGadget\ns";
        pickle(&[reference.as_slice(), v, b"0"].concat())
    });
    out.push(("a reference to a called global", bad, good));
    out
}

#[test]
fn hidden_calls_are_refused_everywhere() {
    let dir = scratch("hidden");
    for (name, bad, good) in cases() {
        let control = dir.join("control.pkl");
        std::fs::write(&control, &good).unwrap();
        let out = dir.join("control.safetensors");
        let _ = std::fs::remove_file(&out);
        convert_file(&control, &out, &ConvertOptions::default())
            .unwrap_or_else(|e| panic!("{name}: the control does not convert: {e}"));

        let file = dir.join("gadget.pkl");
        std::fs::write(&file, &bad).unwrap();
        let report = scan_path(&file, name, &Options::default());
        assert_eq!(report.verdict, Verdict::Suspicious, "{name}: {report:?}");
        assert!(
            report
                .findings
                .iter()
                .any(|f| f.rule == Rule::NonAllowlistedGlobal),
            "{name}"
        );
        let out = dir.join("gadget.safetensors");
        match convert_file(&file, &out, &ConvertOptions::default()) {
            Err(ConvertError::Foreign(why)) => {
                let msg = &why.message;
                assert!(msg.contains("airlock_gadget.Gadget"), "{name}: {msg}");
                assert!(msg.contains("byte"), "{name}: no location in {msg}");
                assert_eq!(
                    why.global.as_deref(),
                    Some("airlock_gadget.Gadget"),
                    "{name}"
                );
                // The scan report travels with the refusal.
                let report = why.report.as_ref().expect("the scan report");
                assert!(
                    report
                        .findings
                        .iter()
                        .any(|f| f.subject.as_deref() == Some("airlock_gadget.Gadget")),
                    "{name}"
                );
            }
            other => panic!("{name}: converted or refused otherwise: {other:?}"),
        }
        assert!(!out.exists(), "{name}: an output was written");
        match plan_load(&file, &ConvertOptions::default()) {
            Err(ConvertError::Foreign(why)) => {
                assert!(why.message.contains("airlock_gadget.Gadget"))
            }
            other => panic!("{name}: the load plan was made: {:?}", other.map(|_| ())),
        }
        let i = inspect(&file, &Options::default()).unwrap();
        assert!(i.tensors.is_empty() && i.metadata.is_empty(), "{name}");
        assert!(
            i.not_rebuilt
                .as_deref()
                .is_some_and(|w| w.contains("airlock_gadget.Gadget")),
            "{name}: {:?}",
            i.not_rebuilt
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The legacy `torch.save` format runs five pickles; the fifth (the
/// storage keys) carries the gadget while the object itself is clean.
#[test]
fn a_gadget_in_another_pickle_of_the_stream_is_refused() {
    let dir = scratch("legacy");
    let legacy = |keys: &[u8]| {
        let mut f = pickle(b"\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19");
        f.extend(pickle(b"M\xe9\x03"));
        f.extend(pickle(
            b"}(X\x10\x00\x00\x00protocol_versionM\xe9\x03X\x0d\x00\x00\x00little_endian\x88X\n\x00\x00\x00type_sizes}(X\x05\x00\x00\x00shortK\x02X\x03\x00\x00\x00intK\x04X\x04\x00\x00\x00longK\x04uu",
        ));
        f.extend(pickle(b"}X\x01\x00\x00\x00aK\x01s"));
        f.extend(pickle(keys));
        f
    };
    let control = dir.join("control.pt");
    std::fs::write(&control, legacy(b"]")).unwrap();
    let report = scan_path(&control, "control", &Options::default());
    assert_eq!(report.verdict, Verdict::Safe, "{report:?}");
    convert_file(
        &control,
        &dir.join("control.safetensors"),
        &ConvertOptions::default(),
    )
    .unwrap();
    let file = dir.join("gadget.pt");
    std::fs::write(&file, legacy(&[b"]".as_slice(), CALL, b"0"].concat())).unwrap();
    let report = scan_path(&file, "gadget", &Options::default());
    assert_eq!(report.verdict, Verdict::Suspicious, "{report:?}");
    let e = convert_file(
        &file,
        &dir.join("gadget.safetensors"),
        &ConvertOptions::default(),
    )
    .unwrap_err();
    assert!(
        matches!(&e, ConvertError::Foreign(w) if w.message.contains("airlock_gadget.Gadget")),
        "{e}"
    );
    assert!(!Path::new(&dir.join("gadget.safetensors")).exists());
    std::fs::remove_dir_all(&dir).unwrap();
}
