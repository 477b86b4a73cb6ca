//! The danger catalogue covers at least the union of the peer scanners'
//! denylists: every global any of them flags is graded.

use airlock_policy::catalogue::catalogue;

#[test]
fn every_peer_denylist_entry_is_graded() {
    let list = include_str!("data/peer_denylists.tsv");
    let mut missing = Vec::new();
    let mut n = 0;
    for line in list
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let mut cols = line.split('\t');
        let (source, module, name) = (
            cols.next().unwrap(),
            cols.next().unwrap(),
            cols.next().unwrap(),
        );
        n += 1;
        // A whole-module entry: any name in it must be graded.
        let name = if name == "*" { "anything" } else { name };
        if catalogue().lookup(module, name, true).is_none() {
            missing.push(format!("{source}: {module}.{name}"));
        }
    }
    assert!(n > 500, "only {n} entries");
    assert!(missing.is_empty(), "not graded:\n{}", missing.join("\n"));
}
