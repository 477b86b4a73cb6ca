//! A call that changes an imported global in place (`operator.setitem` on
//! `copyreg.dispatch_table`, `setattr` on a module) changes the process for
//! everything loaded after: a global mutation, like `BUILD` on a global.
//! Built from raw opcodes; nothing is loaded.

use airlock_policy::{Rule, Verdict};
use airlock_scan::{Options, scan_bytes};

/// Protocol 2: `callable(target, a, b)` with four `GLOBAL`s.
fn call3(callable: &str, target: &str, a: &str, b: &str) -> Vec<u8> {
    let global = |path: &str| {
        let (m, n) = path.rsplit_once('.').unwrap();
        format!("c{m}\n{n}\n").into_bytes()
    };
    let mut p = vec![0x80, 2];
    p.extend(global(callable));
    p.push(b'(');
    for g in [target, a, b] {
        p.extend(global(g));
    }
    p.extend(b"tR.");
    p
}

#[test]
fn a_call_that_mutates_an_imported_global_is_dangerous() {
    for (callable, target) in [
        ("operator.setitem", "copyreg.dispatch_table"),
        ("_operator.setitem", "copyreg.dispatch_table"),
        ("builtins.setattr", "collections.OrderedDict"),
    ] {
        let data = call3(callable, target, "decimal.Decimal", "builtins.str");
        let r = scan_bytes(&data, "mutation.pkl", &Options::default());
        assert_eq!(r.verdict, Verdict::Dangerous, "{callable}: {r:?}");
        let f = r
            .findings
            .iter()
            .find(|f| f.rule == Rule::GlobalMutation)
            .unwrap_or_else(|| panic!("{callable}: no global mutation in {r:?}"));
        assert!(f.message.contains(target), "{}", f.message);
    }
    // The same call on a value the pickle built is no mutation of a global.
    let mut data = vec![0x80, 2];
    data.extend(b"coperator\nsetitem\n(}X\x01\x00\x00\x00kX\x01\x00\x00\x00vtR.");
    let r = scan_bytes(&data, "dict.pkl", &Options::default());
    assert!(
        r.findings.iter().all(|f| f.rule != Rule::GlobalMutation),
        "{r:?}"
    );
}
