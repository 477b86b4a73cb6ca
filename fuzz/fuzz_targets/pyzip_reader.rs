//! Fuzz the Python-zipfile-parity ZIP reader: open, list, look names up,
//! read members, list anomalies. Inputs are often valid archives (the
//! `.npz` and `.zip` fixtures) mutated by libFuzzer.
#![no_main]

use airlock_formats::MemSource;
use airlock_formats::compress::DecompressLimits;
use airlock_formats::pyzip::PyZip;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let src = MemSource::new(data);
    let limits = DecompressLimits {
        max_output: 1 << 20,
        max_ratio: 1000,
        ratio_floor: 64 << 10,
    };
    if let Ok(zip) = PyZip::open(&src) {
        let names: Vec<String> = zip.namelist().iter().map(|s| s.to_string()).collect();
        for name in names.iter().take(64) {
            let i = zip.lookup(name).expect("every listed name is found");
            if let Ok(d) = zip.read(&src, i, &limits) {
                assert!(d.len() as u64 <= limits.max_output);
            }
        }
        if zip.entries().len() <= 64 {
            let _ = zip.anomalies(&src, &limits);
        }
    }
});
