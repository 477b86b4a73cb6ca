//! Fuzz the ExecuTorch `.pte` reader: any bytes read as the runtime reads a
//! program (extended header, flatbuffer verified over the whole schema,
//! segments and references checked), and the judgement of what it reads,
//! never a panic or a hang. The identifier is forced on inputs that lack
//! it, so mutations reach the flatbuffer.
#![no_main]

use airlock_formats::MemSource;
use airlock_formats::pte::Pte;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut bytes = data.to_vec();
    for input in [data, {
        if bytes.len() >= 8 {
            bytes[4..8].copy_from_slice(b"ET12");
        }
        &bytes[..]
    }] {
        if let Ok(pte) = Pte::read(&MemSource::new(input), 1 << 20) {
            assert!(pte.program_size <= input.len() as u64);
            let _ = airlock_scan::pte::judge(&pte);
        }
    }
});
