//! Fuzz the input checks of `airlock input check`: any text gives findings
//! whose spans lie on character boundaries inside it, and a sanitised text
//! from which every bidirectional control and terminal escape is gone when
//! the profile sanitises them (the default), never a panic.
#![no_main]

use airlock_inputs::config::CodePolicy;
use airlock_inputs::{Action, Profile};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let profile = Profile {
        code: CodePolicy::Forbid,
        ..Profile::default()
    };
    let o = airlock_inputs::check(&text, &profile);
    for h in &o.hits {
        assert!(h.span.start <= h.span.end && h.span.end <= text.len());
        assert!(text.is_char_boundary(h.span.start) && text.is_char_boundary(h.span.end));
        assert!((0.0..=1.0).contains(&h.score));
    }
    assert_eq!(o.valid, !o.hits.iter().any(|h| h.action == Action::Block));
    if o.valid {
        for c in o.sanitized.chars() {
            assert!(
                !matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{1B}' | '\u{9B}'),
                "U+{:04X} survived sanitising",
                c as u32
            );
        }
    }
});
