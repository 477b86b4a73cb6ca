//! Fuzz the input checks of `airlock input check`: any text gives findings
//! whose spans lie on character boundaries inside it, and a sanitised text
//! from which every bidirectional control and terminal escape is gone when
//! the profile sanitises them (the default), never a panic. The same text
//! read as a structured field (a JSON Schema) and as a numeric array: only
//! IN0003 and IN0004 findings, inside it.
#![no_main]

use airlock_inputs::config::CodePolicy;
use airlock_inputs::{Action, Profile};
use airlock_inputs::structured::{self, ArraySpec};
use airlock_policy::Rule;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn schema() -> &'static jsonschema::Validator {
    static V: OnceLock<jsonschema::Validator> = OnceLock::new();
    V.get_or_init(|| {
        let s = serde_json::json!({"type": "object", "required": ["q"],
            "properties": {"q": {"type": "string", "maxLength": 8, "pattern": "^[a-z]*$"},
                           "n": {"type": "array", "items": {"type": "integer"}, "maxItems": 4}},
            "additionalProperties": false});
        jsonschema::validator_for(&s).expect("a valid schema")
    })
}

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
    let array = ArraySpec {
        dtype: Some("int8".into()),
        shape: Some(vec![-1, 2]),
        min: Some(-3.0),
        max: Some(100.0),
        allow_nonfinite: false,
    };
    for h in structured::check(&text, Some(schema()), Some(&array)) {
        assert!(matches!(h.rule, Rule::SchemaViolation | Rule::ArrayViolation));
        assert!(h.span.end <= text.len() && text.is_char_boundary(h.span.start));
    }
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
