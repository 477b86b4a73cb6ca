//! A pickle that calls a function, not a class, runs a program step (rule
//! AL0052): `print`, `operator.add`, `time.sleep`, a helper of a package
//! shipped beside the file. Objects rebuilt the way serializers write them
//! stay what they were: classes with lowercase names, the functions reduce
//! functions name, private helpers, `NEWOBJ`. Built from raw opcodes;
//! nothing is loaded.

use airlock_policy::{Rule, Verdict};
use airlock_scan::{Options, scan_bytes};

/// An argument of a protocol-0 call.
enum Arg<'a> {
    Str(&'a str),
    Int(i64),
    Global(&'a str),
}

fn global(path: &str) -> Vec<u8> {
    let (m, n) = path.rsplit_once('.').unwrap();
    format!("c{m}\n{n}\n").into_bytes()
}

/// `callable(*args)` with `GLOBAL`, `MARK ... TUPLE`, `REDUCE`.
fn call(callable: &str, args: &[Arg<'_>]) -> Vec<u8> {
    let mut p = global(callable);
    p.push(b'(');
    for a in args {
        match a {
            Arg::Str(s) => p.extend(format!("V{s}\n").into_bytes()),
            Arg::Int(i) => p.extend(format!("I{i}\n").into_bytes()),
            Arg::Global(g) => p.extend(global(g)),
        }
    }
    p.extend(b"tR.");
    p
}

fn scan(data: &[u8]) -> airlock_scan::FileReport {
    scan_bytes(data, "program.pkl", &Options::default())
}

#[test]
fn a_function_called_is_a_program_step() {
    for (callable, args) in [
        ("builtins.print", vec![Arg::Str("scan passed")]),
        ("builtins.input", vec![Arg::Str("?")]),
        ("operator.add", vec![Arg::Int(1), Arg::Int(2)]),
        ("time.sleep", vec![Arg::Int(100)]),
        ("logging.disable", vec![Arg::Int(50)]),
        ("warnings.simplefilter", vec![Arg::Str("ignore")]),
        ("torch.manual_seed", vec![Arg::Int(0)]),
        // A helper module nobody catalogued, shipped beside the model.
        ("corpus._marker.drop_canary", vec![Arg::Str("x")]),
        ("exploit.helpers.run", vec![Arg::Str("id")]),
    ] {
        let r = scan(&call(callable, &args));
        assert_eq!(r.verdict, Verdict::Dangerous, "{callable}: {r:?}");
        let f = r
            .findings
            .iter()
            .find(|f| f.rule == Rule::ProgramCall)
            .unwrap_or_else(|| panic!("{callable}: no AL0052 in {r:?}"));
        assert!(f.message.contains(callable), "{}", f.message);
    }
}

#[test]
fn what_the_catalogue_grades_keeps_its_rule() {
    let r = scan(&call("os.system", &[Arg::Str("id")]));
    assert!(r.findings.iter().any(|f| f.rule == Rule::DangerousGlobal));
    assert!(r.findings.iter().all(|f| f.rule != Rule::ProgramCall));
}

#[test]
fn objects_rebuilt_as_serializers_write_them_are_no_program() {
    for (callable, args) in [
        // Classes with lowercase names (the derived table).
        (
            "datetime.date",
            vec![Arg::Int(2020), Arg::Int(1), Arg::Int(1)],
        ),
        ("functools.partial", vec![Arg::Global("builtins.max")]),
        ("collections.deque", vec![]),
        ("__builtin__.set", vec![]),
        // A function a reduce function of the standard library names.
        ("logging.getLogger", vec![Arg::Str("x")]),
        // A private helper, as pandas and NumPy write them.
        ("pandas._libs.internals._unpickle_block", vec![Arg::Int(1)]),
        // A class.
        ("__main__.Evil", vec![]),
        // TorchScript's list helpers, written by its C++ pickler.
        ("torch.jit._pickle.build_intlist", vec![]),
    ] {
        let r = scan(&call(callable, &args));
        assert!(
            r.findings.iter().all(|f| f.rule != Rule::ProgramCall),
            "{callable}: {r:?}"
        );
        assert_ne!(r.verdict, Verdict::Dangerous, "{callable}: {r:?}");
    }
}

#[test]
fn newobj_builds_a_class_whatever_its_name() {
    // Protocol 2: `copyreg.__newobj__`-style NEWOBJ of a lowercase name with
    // an argument: pickle refuses anything but a class there.
    let mut data = vec![0x80, 2];
    data.extend(global("mypkg.tzthing"));
    data.extend(b"K\x01\x85\x81.");
    let r = scan(&data);
    assert!(
        r.findings.iter().all(|f| f.rule != Rule::ProgramCall),
        "{r:?}"
    );
    assert_eq!(r.verdict, Verdict::Suspicious, "{r:?}");
}
