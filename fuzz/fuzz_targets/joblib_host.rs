//! Fuzz the pickle engine with joblib's loader extension: inline array
//! reads after BUILD, frames, nested object-array pickles.
#![no_main]

use airlock_formats::joblib::JoblibHost;
use airlock_pickle::{EngineConfig, Limits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let config = EngineConfig {
        limits: Limits {
            max_ops: 100_000,
            ..Limits::default()
        },
        max_pickles: Some(1),
        ..EngineConfig::default()
    };
    let mut host = JoblibHost::new(config.clone());
    let a = config.analyze_with(data, 0, &mut host);
    assert!(a.end <= data.len());
    for arr in &host.arrays {
        assert!(arr.start + arr.len <= data.len());
    }
});
