//! Differential tests against CPython.
//!
//! `scripts/gen_pickle_corpus.py` has CPython pickle many values in every
//! protocol and record what `pickletools.genops` reads, what the C
//! unpickler's `find_class` is asked for, and the values; plus CPython's
//! verdict on hand-written edge-case pickles. This test checks the engine
//! agrees on every one. It reads the committed corpus, or the file named by
//! `AIRLOCK_PICKLE_CORPUS` (CI regenerates it with the machine's Python).

use std::collections::HashMap;

use airlock_pickle::{
    Arg, EngineConfig, EventKind, Graph, ObjId, Object, Op, Opcode, Value, ValueKind, ops,
};
use serde_json::{Value as Json, json};

fn corpus() -> Json {
    let path = std::env::var("AIRLOCK_PICKLE_CORPUS").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/corpus.json").to_string()
    });
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    serde_json::from_str(&text).expect("corpus JSON")
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn latin1_to_utf8(b: &[u8]) -> Vec<u8> {
    b.iter()
        .map(|&c| c as char)
        .collect::<String>()
        .into_bytes()
}

fn canon_arg(op: &Op<'_>) -> Json {
    match &op.arg {
        Arg::None => Json::Null,
        Arg::Int(i) => json!({ "int": i.to_string() }),
        Arg::Bool(b) => json!({ "bool": b }),
        Arg::Float(f) => json!({ "float": hex(&f.to_be_bytes()) }),
        Arg::Bytes(b) if op.opcode == Opcode::BYTEARRAY8 => json!({ "bytearray": hex(b) }),
        Arg::Bytes(b) => json!({ "bytes": hex(b) }),
        Arg::Str(s) => json!({ "str": hex(s) }),
        Arg::LegacyStr(s) => json!({ "str": hex(&latin1_to_utf8(s)) }),
        Arg::Names { module, name } => json!({ "str": hex(format!("{module} {name}").as_bytes()) }),
        Arg::PersId(s) => json!({ "str": hex(s.as_bytes()) }),
        Arg::MemoIndex(i) | Arg::ExtCode(i) => json!({ "int": i.to_string() }),
        Arg::Proto(p) => json!({ "int": p.to_string() }),
        Arg::FrameLen(n) => json!({ "int": n.to_string() }),
    }
}

/// The canonical form `canon_value` of the generator produces.
fn canon_value(g: &Graph<'_>, v: Value, refs: &mut HashMap<ObjId, usize>) -> Json {
    match v.kind() {
        ValueKind::None => json!({ "none": true }),
        ValueKind::Bool(b) => json!({ "bool": b }),
        ValueKind::Int(i) => json!({ "int": i.to_string() }),
        ValueKind::Ref(id) => {
            let obj = g.get(id);
            if matches!(
                obj,
                Object::List(_) | Object::Dict(_) | Object::Set(_) | Object::ByteArray(_)
            ) {
                if let Some(n) = refs.get(&id) {
                    return json!({ "ref": n });
                }
                let n = refs.len();
                refs.insert(id, n);
            }
            let mut seq = |items: &[Value]| -> Vec<Json> {
                items.iter().map(|v| canon_value(g, *v, refs)).collect()
            };
            match obj {
                Object::Float(f) => json!({ "float": hex(&f.to_be_bytes()) }),
                Object::Int(b) => json!({ "int": b.to_string() }),
                Object::Str(s) => json!({ "str": hex(s) }),
                Object::Bytes(b) => json!({ "bytes": hex(b) }),
                Object::ByteArray(b) => json!({ "bytearray": hex(b) }),
                Object::Tuple(t) => json!({ "tuple": seq(g.items(*t)) }),
                Object::List(l) => json!({ "list": seq(l) }),
                Object::Set(s) => json!({ "set": seq(s.entries()) }),
                Object::FrozenSet(s) => json!({ "frozenset": seq(s.entries()) }),
                Object::Dict(d) => {
                    let pairs: Vec<Json> = d
                        .entries()
                        .iter()
                        .map(|(k, v)| json!([canon_value(g, *k, refs), canon_value(g, *v, refs)]))
                        .collect();
                    json!({ "dict": pairs })
                }
                other => json!({ "nonliteral": other.type_name() }),
            }
        }
    }
}

#[test]
fn opcodes_imports_and_values_match_cpython() {
    let corpus = corpus();
    let cases = corpus["cases"].as_array().unwrap();
    assert!(cases.len() > 200, "corpus too small");
    let mut checked_values = 0;
    let mut checked_imports = 0;
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let data = unhex(case["pickle"].as_str().unwrap());

        let decoded: Vec<Json> = ops(&data)
            .map(|op| {
                let op = op.unwrap_or_else(|e| panic!("{name}: decode error {e}"));
                json!([op.opcode.name(), canon_arg(&op), op.offset])
            })
            .collect();
        assert_eq!(
            Json::Array(decoded),
            case["ops"],
            "{name}: opcode sequence differs from pickletools"
        );

        let analysis = EngineConfig::default().analyze(&data);
        assert_eq!(analysis.pickles.len(), 1, "{name}");
        let pickle = &analysis.pickles[0];
        assert!(pickle.error().is_none(), "{name}: {:?}", pickle.error());
        assert_eq!(analysis.trailing_bytes(), 0, "{name}");

        let imports: Vec<Json> = pickle
            .events
            .iter()
            .filter_map(|e| match e.kind {
                EventKind::Import(id) => match analysis.graph.get(id) {
                    Object::Global(g) => {
                        let (m, n) = g
                            .written
                            .clone()
                            .unwrap_or((g.module.clone(), g.name.clone()));
                        Some(json!([m, n]))
                    }
                    _ => None,
                },
                _ => None,
            })
            .collect();
        assert_eq!(
            Json::Array(imports.clone()),
            case["imports"],
            "{name}: find_class calls differ"
        );
        checked_imports += imports.len();

        if let Some(expected) = case.get("value") {
            let got = canon_value(&analysis.graph, pickle.root.unwrap(), &mut HashMap::new());
            assert_eq!(&got, expected, "{name}: value differs");
            checked_values += 1;
        }
    }
    assert!(
        checked_values > 120,
        "only {checked_values} values compared"
    );
    assert!(
        checked_imports > 50,
        "only {checked_imports} imports compared"
    );
}

#[test]
fn edge_cases_match_the_c_unpickler() {
    let corpus = corpus();
    let quirks = corpus["quirks"].as_array().unwrap();
    // pickle.loads: one pickle, no persistent_load, ASCII strings.
    let config = EngineConfig {
        persistent_load: false,
        max_pickles: Some(1),
        ..EngineConfig::default()
    };
    for q in quirks {
        let name = q["name"].as_str().unwrap();
        let data = unhex(q["pickle"].as_str().unwrap());
        let analysis = config.analyze(&data);
        let pickle = &analysis.pickles[0];
        match (q.get("error"), q.get("value")) {
            (Some(err), _) => assert!(
                pickle.error().is_some(),
                "{name}: CPython raises {err} but the engine finished with {:?}",
                pickle.root.map(|r| analysis.graph.repr(r, 80))
            ),
            (None, Some(expected)) => {
                assert!(
                    pickle.error().is_none(),
                    "{name}: engine error {:?}",
                    pickle.error()
                );
                let got = canon_value(&analysis.graph, pickle.root.unwrap(), &mut HashMap::new());
                assert_eq!(&got, expected, "{name}");
            }
            (None, None) => {
                assert!(
                    pickle.error().is_none(),
                    "{name}: engine error {:?}",
                    pickle.error()
                );
            }
        }
    }
}

#[test]
fn compat_tables_match_cpython() {
    let corpus = corpus();
    let names: Vec<Json> = airlock_pickle::compat::NAME_MAPPING
        .iter()
        .map(|((m, n), (m2, n2))| json!([[m, n], [m2, n2]]))
        .collect();
    assert_eq!(Json::Array(names), corpus["compat"]["name_mapping"]);
    let imports: Vec<Json> = airlock_pickle::compat::IMPORT_MAPPING
        .iter()
        .map(|(a, b)| json!([a, b]))
        .collect();
    assert_eq!(Json::Array(imports), corpus["compat"]["import_mapping"]);
}

/// The name a stub class gets in the generator: the names `find_class` was
/// given, before any `fix_imports` mapping.
fn written_name(g: &Graph<'_>, v: Value) -> String {
    match g.global(v) {
        Some(global) => match &global.written {
            Some((m, n)) => format!("{m}.{n}"),
            None => global.qualified(),
        },
        None => "<instance>".to_string(),
    }
}

/// The engine's events in the generator's log format.
fn event_log(analysis: &airlock_pickle::Analysis<'_>) -> Vec<Json> {
    use airlock_pickle::Origin;
    let g = &analysis.graph;
    let mut log = Vec::new();
    for e in analysis.events() {
        match &e.kind {
            EventKind::Import(id) => {
                let global = g.global(Value::object(*id)).unwrap();
                let (m, n) = global
                    .written
                    .clone()
                    .unwrap_or((global.module.clone(), global.name.clone()));
                log.push(json!(["import", m, n]));
            }
            EventKind::Call(id) => {
                let Some(Origin::Call {
                    callable,
                    args,
                    kwargs,
                    ..
                }) = g.opaque(Value::object(*id)).map(|o| &o.origin)
                else {
                    panic!("call without origin")
                };
                let n = g.tuple(*args).map_or(0, |t| t.len())
                    + kwargs
                        .and_then(|k| match g.object(k) {
                            Some(Object::Dict(d)) => Some(d.len()),
                            _ => None,
                        })
                        .unwrap_or(0);
                log.push(json!(["call", written_name(g, *callable), n]));
            }
            EventKind::Mutate(m) => {
                let (target, method, count) = (&m.target, &m.method, &m.count);
                let name = match g.opaque(*target).map(|o| &o.origin) {
                    Some(Origin::Call { callable, .. }) => written_name(g, *callable),
                    _ => written_name(g, *target),
                };
                match *method {
                    "extend" => log.push(json!(["extend", name, count])),
                    "__setitem__" => log.extend((0..*count).map(|_| json!(["setitem", name]))),
                    other => log.push(json!([other, name, count])),
                }
            }
            EventKind::Build(b) if !g.is_literal(b.target) => {
                let name = match g.opaque(b.target).map(|o| &o.origin) {
                    Some(Origin::Call { callable, .. }) => written_name(g, *callable),
                    _ => written_name(g, b.target),
                };
                log.push(json!(["setstate", name]));
            }
            _ => {}
        }
    }
    log
}

#[test]
fn adversarial_pickles_resolve_like_cpython() {
    let corpus = corpus();
    let cases = corpus["adversarial"].as_array().unwrap();
    assert!(cases.len() >= 20);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let data = unhex(case["pickle"].as_str().unwrap());
        let analysis = EngineConfig::default().analyze(&data);
        let ours = event_log(&analysis);
        let theirs = case["log"].as_array().unwrap();
        let resolved: Vec<Json> = analysis
            .events()
            .filter_map(|e| match e.kind {
                EventKind::Import(id) => analysis
                    .graph
                    .global(Value::object(id))
                    .map(|g| json!([g.module, g.name])),
                _ => None,
            })
            .collect();
        let expected_resolved = case["imports_resolved"].as_array().unwrap();
        assert!(
            resolved.len() >= expected_resolved.len()
                && resolved[..expected_resolved.len()] == expected_resolved[..],
            "{name}: imported globals (after fix_imports) {resolved:?}, CPython {expected_resolved:?}"
        );
        if case["error"].is_null() {
            // CPython loaded every pickle: the engine must see exactly the same.
            assert_eq!(
                &ours, theirs,
                "{name}: events differ from CPython's find_class/calls"
            );
            assert!(analysis.error().is_none(), "{name}: {:?}", analysis.error());
            assert_eq!(
                analysis.pickles.len() as u64,
                case["pickles"].as_u64().unwrap(),
                "{name}"
            );
        } else {
            // CPython stopped with an exception: everything it did before
            // must be among the engine's events, in the same order.
            assert!(
                ours.len() >= theirs.len() && ours[..theirs.len()] == theirs[..],
                "{name}: CPython's events {theirs:?} are not a prefix of the engine's {ours:?}"
            );
        }
    }
}

/// Every pickle in the corpus, wherever it sits in the JSON.
fn all_pickles(v: &Json, out: &mut Vec<Vec<u8>>) {
    match v {
        Json::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v.as_str()) {
                    ("pickle", Some(hex)) => out.push(unhex(hex)),
                    _ => all_pickles(v, out),
                }
            }
        }
        Json::Array(items) => items.iter().for_each(|v| all_pickles(v, out)),
        _ => {}
    }
}

#[test]
fn fast_path_agrees_with_general_path_on_the_corpus() {
    let mut pickles = Vec::new();
    all_pickles(&corpus(), &mut pickles);
    assert!(pickles.len() > 300, "only {} pickles", pickles.len());
    let general = EngineConfig {
        general_path_only: true,
        ..EngineConfig::default()
    };
    for data in &pickles {
        let a = EngineConfig::default().analyze(data);
        let b = general.analyze(data);
        assert_eq!(format!("{:?}", a.pickles), format!("{:?}", b.pickles));
        for (x, y) in a.pickles.iter().zip(&b.pickles) {
            if let (Some(x), Some(y)) = (x.root, y.root) {
                assert_eq!(a.graph.repr(x, 10_000), b.graph.repr(y, 10_000));
            }
        }
    }
}
