//! Fuzz the torch-parity ZIP reader: open, look records up, extract them,
//! list anomalies. Inputs are often valid archives mutated by libFuzzer.
#![no_main]

use airlock_formats::MemSource;
use airlock_formats::zip::TorchZip;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let src = MemSource::new(data);
    if let Ok(zip) = TorchZip::open(&src) {
        let _ = zip.all_records();
        let _ = zip.locate_record("data.pkl");
        for i in 0..zip.entries.len().min(64) {
            let _ = zip.extract(&src, i, 1 << 20);
            let _ = zip.data_offset(&src, i);
        }
        let _ = airlock_formats::zip_anomalies(&zip, &src, &[]);
    }
});
