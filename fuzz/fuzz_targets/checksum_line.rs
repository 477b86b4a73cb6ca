//! Fuzz the checksum-list line reader (`airlock hash --check`): any input
//! gives a line or nothing, never a panic, and a line read back from what
//! the writer makes of it is the same line.
#![no_main]

use airlock_sign::Algorithm;
use airlock_sign::sums::{format_line, parse_line};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for algorithm in [Algorithm::Sha256, Algorithm::Blake2b, Algorithm::Blake3] {
        if let Some(line) = parse_line(text, algorithm) {
            assert_eq!(line.digest.len(), algorithm.digest_len());
            let again = format_line(&line.digest, &line.name);
            assert_eq!(parse_line(&again, algorithm), Some(line));
        }
    }
});
