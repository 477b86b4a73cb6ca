//! Property tests: the engine never panics, stays inside its input and its
//! limits, and agrees with the plain decoder, on arbitrary and on
//! structured-random pickles.

use airlock_pickle::{EngineConfig, EngineLimit, ErrorKind, Limits, Opcode, Value, ops};
use proptest::prelude::*;

fn small_limits() -> EngineConfig {
    EngineConfig {
        limits: Limits {
            max_ops: 20_000,
            max_stack: 2_000,
            max_marks: 2_000,
            max_memo: 2_000,
            max_container: 5_000,
            max_objects: 20_000,
            max_bytes: 8 << 20,
            max_pickles: 4,
        },
        ..EngineConfig::default()
    }
}

fn check_invariants(data: &[u8]) {
    let a = small_limits().analyze(data);
    assert!(a.end <= data.len());
    assert!(!a.pickles.is_empty());
    let mut prev_end = 0;
    for p in &a.pickles {
        assert!(p.start >= prev_end && p.end >= p.start && p.end <= data.len());
        prev_end = p.end;
        for (i, e) in p.events.iter().enumerate() {
            assert!(
                e.offset >= p.start && e.offset <= p.end,
                "event outside its pickle"
            );
            if matches!(e.kind, airlock_pickle::EventKind::Error(_)) {
                assert_eq!(i, p.events.len() - 1, "error must be the last event");
            }
        }
        assert_eq!(p.root.is_some(), p.error().is_none());
        if let Some(root) = p.root {
            let s = a.graph.repr(root, 100);
            assert!(s.chars().count() <= 110);
        }
    }
    // Only the last pickle may fail.
    for p in &a.pickles[..a.pickles.len() - 1] {
        assert!(p.error().is_none());
    }
    // A pickle that completed consumed exactly the opcodes the decoder reads.
    if let Some(p) = a.pickles.first().filter(|p| p.error().is_none()) {
        let n = ops(data).take_while(|o| o.is_ok()).count() as u64;
        assert_eq!(n, p.ops);
    }
}

/// One opcode with a plausible argument: random sequences of these reach the
/// machine's deeper states far more often than random bytes.
fn token() -> impl Strategy<Value = Vec<u8>> {
    let simple = prop::sample::select(
        Opcode::ALL
            .iter()
            .filter(|o| o.arg_format() == airlock_pickle::ArgFormat::None)
            .map(|o| o.byte())
            .collect::<Vec<_>>(),
    )
    .prop_map(|b| vec![b]);
    prop_oneof![
        4 => simple,
        1 => any::<u8>().prop_map(|v| vec![b'K', v]),
        1 => any::<u8>().prop_map(|v| vec![b'q', v % 8]),
        1 => any::<u8>().prop_map(|v| vec![b'h', v % 8]),
        1 => any::<u8>().prop_map(|v| vec![b'r', v % 8, 0, 0, if v > 250 { 0xff } else { 0 }]),
        1 => any::<u8>().prop_map(|v| vec![b'j', v % 8, 0, 0, 0]),
        1 => any::<[u8; 2]>().prop_map(|v| vec![b'M', v[0], v[1]]),
        1 => any::<[u8; 4]>().prop_map(|v| vec![b'J', v[0], v[1], v[2], v[3]]),
        1 => "[a-z]{0,6}".prop_map(|s| {
            let mut v = vec![0x8c, s.len() as u8];
            v.extend_from_slice(s.as_bytes());
            v
        }),
        1 => ("[a-z_]{1,6}", "[a-z_.]{1,6}").prop_map(|(m, n)| format!("c{m}\n{n}\n").into_bytes()),
        1 => "-?[0-9]{1,25}".prop_map(|s| format!("I{s}\n").into_bytes()),
        1 => "[0-9a-z._]{0,6}".prop_map(|s| format!("F{s}\n").into_bytes()),
        1 => "[ -~]{0,6}".prop_map(|s| format!("S'{s}'\n").into_bytes()),
        1 => any::<u8>().prop_map(|v| vec![0x80, v % 7]),
        1 => any::<u8>().prop_map(|v| vec![0x82, v % 4]),
        1 => prop::collection::vec(any::<u8>(), 0..4).prop_map(|b| {
            let mut v = vec![0x8a, b.len() as u8];
            v.extend(b);
            v
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..512)) {
        check_invariants(&data);
    }

    #[test]
    fn fast_path_agrees_with_general_path(tokens in prop::collection::vec(token(), 0..80), stop in any::<bool>()) {
        let mut data: Vec<u8> = tokens.concat();
        if stop {
            data.push(b'.');
        }
        let fast = small_limits().analyze(&data);
        let general = EngineConfig { general_path_only: true, ..small_limits() }.analyze(&data);
        prop_assert_eq!(format!("{:?}", fast.pickles), format!("{:?}", general.pickles));
        for (f, g) in fast.pickles.iter().zip(&general.pickles) {
            if let (Some(f), Some(g)) = (f.root, g.root) {
                prop_assert_eq!(fast.graph.repr(f, 400), general.graph.repr(g, 400));
            }
        }
    }

    #[test]
    fn opcode_sequences_never_panic(tokens in prop::collection::vec(token(), 0..80), stop in any::<bool>()) {
        let mut data: Vec<u8> = tokens.concat();
        if stop {
            data.push(b'.');
        }
        check_invariants(&data);
    }
}

#[test]
fn hundred_thousand_nested_marks() {
    // CPython handles this; so does the engine, without recursion.
    let mut data = vec![b'('; 100_000];
    data.extend_from_slice(b"cos\nsystem\n(S'id'\ntR.");
    let a = airlock_pickle::analyze(&data);
    assert!(a.error().is_none(), "{:?}", a.error());
    // With a lower mark limit it is a clean error, not a crash.
    let limited = EngineConfig {
        limits: Limits {
            max_marks: 1000,
            ..Limits::default()
        },
        ..EngineConfig::default()
    };
    let a = limited.analyze(&data);
    assert!(matches!(
        a.error().map(|e| &e.kind),
        Some(ErrorKind::LimitExceeded {
            limit: EngineLimit::Marks,
            ..
        })
    ));
}

#[test]
fn deeply_nested_lists_do_not_recurse() {
    // ]( ]( ]( ... a list in a list 200k deep, built with APPEND.
    let depth = 200_000;
    let mut data = Vec::with_capacity(depth * 2 + 4);
    data.push(b']');
    for _ in 0..depth {
        data.extend_from_slice(b"]");
    }
    data.extend(std::iter::repeat_n(b'a', depth));
    data.push(b'.');
    let a = airlock_pickle::analyze(&data);
    assert!(a.error().is_none(), "{:?}", a.error());
    let root = a.pickles[0].root.unwrap();
    assert!(a.graph.repr(root, 50).starts_with("[[[["));
}

#[test]
fn deeply_nested_tuple_keys_are_bounded() {
    // A 10k-deep tuple used as a dict key: hashing it is bounded, not a stack overflow.
    let mut data = vec![b'}', b'N'];
    data.extend(std::iter::repeat_n(0x85u8, 10_000));
    data.extend_from_slice(b"Ns.");
    let a = airlock_pickle::analyze(&data);
    assert!(a.error().is_some());
}

#[test]
fn memo_index_far_away_costs_one_entry() {
    // LONG_BINPUT 0xffffffff: CPython would grow its memo array to 2^33 slots.
    let a = airlock_pickle::analyze(b"Nr\xff\xff\xff\xffj\xff\xff\xff\xff.");
    assert!(a.error().is_none());
    assert_eq!(a.pickles[0].root, Some(Value::NONE));
}

#[test]
fn repeated_deep_key_comparisons_hit_the_work_budget() {
    // Two equal 20k-item tuples; the second is inserted as a dict key 50k
    // times through the memo, and each insert compares it with the first
    // item by item (CPython does the same, 10^9 comparisons). The engine's
    // work budget, proportional to the input, stops this with a limit error
    // instead of running in quadratic time.
    let n = 20_000;
    let mut data = vec![b'}', b'(', b'('];
    data.extend(std::iter::repeat_n(b'N', n));
    data.extend_from_slice(b"tN(");
    data.extend(std::iter::repeat_n(b'N', n));
    data.extend_from_slice(b"tq\x01N");
    for _ in 0..50_000 {
        data.extend_from_slice(b"h\x01N");
    }
    data.extend_from_slice(b"u.");
    let a = airlock_pickle::analyze(&data);
    assert!(
        matches!(
            a.error().map(|e| &e.kind),
            Some(ErrorKind::LimitExceeded { .. })
        ),
        "{:?}",
        a.error()
    );
    // The same key object inserted again is found by identity: no budget used.
    let mut same = vec![b'}', b'(', b'('];
    same.extend(std::iter::repeat_n(b'N', n));
    same.extend_from_slice(b"tq\x01N");
    for _ in 0..50_000 {
        same.extend_from_slice(b"h\x01N");
    }
    same.extend_from_slice(b"u.");
    let a = airlock_pickle::analyze(&same);
    assert!(a.error().is_none(), "{:?}", a.error());
}
