//! Fuzz the safetensors header validation.
#![no_main]

use airlock_formats::MemSource;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = airlock_formats::safetensors::read_header(&MemSource::new(data));
    let _ = airlock_formats::tar::list(&MemSource::new(data), 1000);
});
