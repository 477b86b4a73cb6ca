//! `getattr(G, 'name')` on an imported global names the global `G.name`,
//! as one protocol-4 `STACK_GLOBAL` does, and is graded as that global: a
//! `ZoneInfo` pickles as `getattr(zoneinfo.ZoneInfo, '_unpickle')(key, 1)`,
//! `os.system` reached through `posixpath.os` stays dangerous. `getattr` of
//! anything else stays the universal attribute fetch it is. Subscribing a
//! `typing` form (`typing.List[int]`, which typing's reduce writes as
//! `operator.getitem`) is a type annotation. Built from raw opcodes;
//! nothing is loaded.

use airlock_policy::{Rule, Verdict};
use airlock_scan::{Options, scan_bytes};

fn scan(data: &[u8]) -> airlock_scan::FileReport {
    scan_bytes(data, "getattr.pkl", &Options::default())
}

fn subject(r: &airlock_scan::FileReport, rule: Rule, name: &str) -> bool {
    r.findings
        .iter()
        .any(|f| f.rule == rule && f.subject.as_deref() == Some(name))
}

#[test]
fn a_named_attribute_of_a_global_is_that_global() {
    let zone = b"cbuiltins\ngetattr\n(czoneinfo\nZoneInfo\nV_unpickle\ntR(VUTC\nI1\ntR.";
    let r = scan(zone);
    assert_eq!(r.verdict, Verdict::Suspicious, "{r:?}");
    assert!(
        subject(
            &r,
            Rule::NonAllowlistedGlobal,
            "zoneinfo.ZoneInfo._unpickle"
        ),
        "{r:?}"
    );
    assert!(
        !subject(&r, Rule::DangerousGlobal, "builtins.getattr"),
        "{r:?}"
    );

    let system = b"cbuiltins\ngetattr\n(cposixpath\nos\nVsystem\ntR(Vid\ntR.";
    let r = scan(system);
    assert_eq!(r.verdict, Verdict::Dangerous, "{r:?}");
    let f = r
        .findings
        .iter()
        .find(|f| f.subject.as_deref() == Some("posixpath.os.system"))
        .unwrap_or_else(|| panic!("{r:?}"));
    assert_eq!(f.rule, Rule::DangerousGlobal);
    assert!(f.called, "{f:?}");
}

#[test]
fn getattr_of_anything_else_is_the_universal_fetch() {
    // A name that is no identifier, and an object the pickle built.
    for data in [
        &b"cbuiltins\ngetattr\n(czoneinfo\nZoneInfo\nVa.b\ntR."[..],
        &b"cbuiltins\ngetattr\n(]Vappend\ntR."[..],
    ] {
        let r = scan(data);
        assert_eq!(r.verdict, Verdict::Dangerous, "{r:?}");
        assert!(
            subject(&r, Rule::DangerousGlobal, "builtins.getattr"),
            "{r:?}"
        );
    }
}

#[test]
fn subscribing_a_typing_form_is_a_type_annotation() {
    let list_int = b"c_operator\ngetitem\n(ctyping\nList\ncbuiltins\nint\ntR.";
    let r = scan(list_int);
    assert_eq!(r.verdict, Verdict::Suspicious, "{r:?}");
    assert!(
        !subject(&r, Rule::DangerousGlobal, "_operator.getitem"),
        "{r:?}"
    );
    // The same call on a namespace stays a fetch from it.
    let modules = b"c_operator\ngetitem\n(csys\nmodules\nVos\ntR.";
    assert_eq!(scan(modules).verdict, Verdict::Dangerous);
}
