//! Fuzz the whole scan of a file: sniffing, every container reader (the
//! torch-parity ZIP reader, tar, safetensors header, legacy stream), the
//! pickle engine, the review and the weights-only prediction. Any input must
//! give a report, never a panic.
#![no_main]

use airlock_scan::{Options, scan_bytes};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut opts = Options {
        max_pickle_bytes: 1 << 20,
        ..Options::default()
    };
    opts.limits.max_ops = 100_000;
    opts.limits.max_objects = 100_000;
    opts.limits.max_bytes = 64 << 20;
    let report = scan_bytes(data, "fuzz", &opts);
    if report.verdict == airlock_policy::Verdict::Safe {
        assert!(
            report
                .findings
                .iter()
                .all(|f| f.rule.impact() == airlock_policy::Impact::Note)
        );
    }
    let _ = airlock_scan::report::to_json(std::slice::from_ref(&report));
});
