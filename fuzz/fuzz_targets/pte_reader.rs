//! Fuzz the ExecuTorch readers: any bytes read as the runtime reads a
//! program (`.pte`: extended header, flatbuffer verified over the whole
//! schema, segments and references checked) and as it reads tensor data
//! (`.ptd`: header, verified flatbuffer, each entry's segment and layout),
//! and the judgement of what each reads, never a panic or a hang. Each
//! identifier is forced on inputs that lack it, so mutations reach the
//! flatbuffers.
#![no_main]

use airlock_formats::MemSource;
use airlock_formats::ptd::Ptd;
use airlock_formats::pte::Pte;
use libfuzzer_sys::fuzz_target;

fn with_identifier(data: &[u8], id: &[u8; 4]) -> Vec<u8> {
    let mut bytes = data.to_vec();
    if bytes.len() >= 8 {
        bytes[4..8].copy_from_slice(id);
    }
    bytes
}

fuzz_target!(|data: &[u8]| {
    for input in [data, &with_identifier(data, b"ET12")[..]] {
        if let Ok(pte) = Pte::read(&MemSource::new(input), 1 << 20) {
            assert!(pte.program_size <= input.len() as u64);
            let _ = airlock_scan::pte::judge(&pte);
        }
    }
    for input in [data, &with_identifier(data, b"FT01")[..]] {
        if let Ok(ptd) = Ptd::read(&MemSource::new(input), 1 << 20) {
            for e in &ptd.entries {
                if let (None, Some((at, n))) = (&e.problem, e.bytes) {
                    assert!(at + n <= input.len() as u64);
                }
            }
            let _ = airlock_scan::ptd::judge(&ptd);
        }
    }
});
