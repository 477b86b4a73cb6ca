//! Fuzz `airlock secrets`'s readers and detectors: any bytes read as
//! pickles give strings without a panic; any text gives detections whose
//! spans lie on character boundaries inside it and do not overlap, and
//! redactions that are shorter than what they hide.
#![no_main]

use airlock_privacy::{Location, detect, extract, redact};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut n = 0usize;
    extract::pickle_strings(data, &Location::default(), &mut |_, s: &str, _, _| n += s.len(), 64);
    assert!(n <= data.len() * 4 + 16);
    let text = String::from_utf8_lossy(data);
    for key in [None, Some("api_key")] {
        let found = detect(&text, key);
        let mut last_end = 0;
        for d in &found {
            assert!(d.start < d.end && d.end <= text.len());
            assert!(text.is_char_boundary(d.start) && text.is_char_boundary(d.end));
            assert!(d.start >= last_end, "overlapping detections");
            last_end = d.end;
            let hidden = &text[d.start..d.end];
            let shown = redact::redact(hidden, d.kind);
            assert!(shown.contains('…'));
        }
    }
});
