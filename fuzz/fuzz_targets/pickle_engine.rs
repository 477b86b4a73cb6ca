//! Fuzz the pickle decoder and symbolic machine: any input must be analysed
//! without panicking, within the configured limits.
#![no_main]

use airlock_pickle::{EngineConfig, Limits, Value, ops};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let config = EngineConfig {
        limits: Limits {
            max_ops: 100_000,
            max_stack: 10_000,
            max_marks: 10_000,
            max_memo: 10_000,
            max_container: 100_000,
            max_objects: 100_000,
            max_bytes: 64 << 20,
            max_pickles: 8,
        },
        ..EngineConfig::default()
    };
    let analysis = config.analyze(data);
    assert!(analysis.end <= data.len());
    for p in &analysis.pickles {
        assert!(p.end <= data.len());
        for e in &p.events {
            assert!(e.offset <= data.len());
        }
        if let Some(root) = p.root {
            let _ = analysis.graph.repr(root, 200);
        }
    }
    for (id, _) in analysis.graph.iter() {
        let _ = analysis.graph.repr(Value::object(id), 64);
    }
    for op in ops(data) {
        if op.is_err() {
            break;
        }
    }
});
