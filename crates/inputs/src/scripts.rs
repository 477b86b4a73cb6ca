//! Validation and filtering by script: characters outside the scripts a
//! profile allows, words that mix scripts no writing system combines
//! (UTS #39 mixed-script detection), and punycode labels that decode to
//! such words.

use std::sync::LazyLock;

use airlock_policy::Rule;
use regex::Regex;
use unicode_script::{Script, UnicodeScript};
use unicode_security::MixedScript;

use crate::hit::{Hit, quote};

/// A script name as the configuration gives it: the full name
/// (`Cyrillic`) or the ISO 15924 code (`Cyrl`), any case.
pub fn parse_script(name: &str) -> Option<Script> {
    let lower = name.to_ascii_lowercase();
    Script::from_full_name(&lower.replace(' ', "_"))
        .or_else(|| Script::from_short_name(&lower))
        .or_else(|| {
            // The tables spell full names in title case.
            let title: String = name
                .split(['_', ' '])
                .map(|w| {
                    let mut c = w.chars();
                    c.next()
                        .map(|f| {
                            f.to_uppercase()
                                .chain(c.flat_map(char::to_lowercase))
                                .collect()
                        })
                        .unwrap_or_default()
                })
                .collect::<Vec<String>>()
                .join("_");
            Script::from_full_name(&title)
        })
        .or_else(|| {
            let mut c = lower.chars();
            let title: String = c
                .next()
                .map(|f| f.to_uppercase().chain(c).collect())
                .unwrap_or_default();
            Script::from_short_name(&title)
        })
}

/// Runs of characters whose script is not in `allowed`.
pub fn disallowed(text: &str, allowed: &[Script]) -> Vec<Hit> {
    let mut hits = Vec::new();
    let mut run: Option<(usize, usize, Script)> = None;
    for (o, c) in text.char_indices() {
        let s = c.script();
        let bad = !matches!(s, Script::Common | Script::Inherited) && !allowed.contains(&s);
        match (&mut run, bad) {
            (Some((_, end, _)), true) => *end = o + c.len_utf8(),
            (None, true) => run = Some((o, o + c.len_utf8(), s)),
            (Some(_), false) => flush(text, run.take(), &mut hits),
            (None, false) => {}
        }
        if hits.len() >= 64 {
            return hits;
        }
    }
    flush(text, run, &mut hits);
    hits
}

fn flush(text: &str, run: Option<(usize, usize, Script)>, hits: &mut Vec<Hit>) {
    if let Some((a, b, s)) = run {
        hits.push(Hit::new(
            Rule::DisallowedScript,
            a..b,
            format!(
                "{} characters, a script this field does not allow: {}",
                s.full_name(),
                quote(&text[a..b])
            ),
        ));
    }
}

/// Words (runs of letters, marks and digits) that are not single-script.
pub fn mixed(text: &str) -> Vec<Hit> {
    let mut hits = Vec::new();
    if text.is_ascii() {
        return hits;
    }
    // Only tokens with an ASCII letter and a non-ASCII character can hide
    // a homoglyph among Latin letters.
    for token in text.split(|c: char| c.is_whitespace() || c.is_ascii_punctuation()) {
        if token.is_ascii() || !token.bytes().any(|b| b.is_ascii_alphabetic()) {
            continue;
        }
        let base = token.as_ptr() as usize - text.as_ptr() as usize;
        words(token, base, &mut hits);
        if hits.len() >= 64 {
            break;
        }
    }
    hits
}

/// The mixed words of `token`, which starts at byte `base` of the text.
fn words(token: &str, base: usize, hits: &mut Vec<Hit>) {
    let mut start = None;
    for (o, c) in token
        .char_indices()
        .chain(std::iter::once((token.len(), ' ')))
    {
        let word_char = c.is_alphanumeric()
            || unicode_general_category::get_general_category(c)
                .abbreviation()
                .starts_with('M');
        match (start, word_char) {
            (None, true) => start = Some(o),
            (Some(a), false) => {
                start = None;
                let w = &token[a..o];
                if !w.is_ascii() && !w.is_single_script() && latin_mix(w) {
                    hits.push(
                        Hit::new(
                            Rule::MixedScript,
                            base + a..base + o,
                            format!(
                                "a word mixing scripts: {} reads as {}",
                                quote(w),
                                quote(&skeleton(w))
                            ),
                        )
                        .score(0.6)
                        .decoded(skeleton(w)),
                    );
                }
            }
            _ => {}
        }
    }
}

/// Whether a mixed word has Latin letters and letters confusable with
/// Latin ones: the homoglyph attack. (`μm` or `Ωcm` mix scripts too, but
/// no look-alike hides there.)
fn latin_mix(w: &str) -> bool {
    let latin = w.chars().any(|c| c.script() == Script::Latin);
    let confusable = w.chars().any(|c| {
        c.script() != Script::Latin
            && c.is_alphabetic()
            && unicode_security::is_potential_mixed_script_confusable_char(c)
    });
    latin && confusable
}

fn skeleton(w: &str) -> String {
    unicode_security::skeleton(w).collect()
}

static PUNYCODE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)(?-u:\b)xn--[a-z0-9-]{1,59}").expect("punycode compiles"));

/// Punycode labels that decode to mixed-script words.
pub fn punycode(text: &str) -> Vec<Hit> {
    let mut hits = Vec::new();
    if !text.contains("xn--") && !text.contains("XN--") {
        return hits;
    }
    for m in PUNYCODE.find_iter(text).take(64) {
        let Some(label) = idna::punycode::decode_to_string(&m.as_str()[4..].to_ascii_lowercase())
        else {
            continue;
        };
        if !label.is_single_script()
            || (label
                .chars()
                .any(|c| c.script() == Script::Cyrillic || c.script() == Script::Greek)
                && skeleton(&label).is_ascii())
        {
            hits.push(
                Hit::new(
                    Rule::MixedScript,
                    m.range(),
                    format!(
                        "the punycode label {} is {} and reads as {}",
                        quote(m.as_str()),
                        quote(&label),
                        quote(&skeleton(&label))
                    ),
                )
                .score(0.7)
                .decoded(label),
            );
        }
    }
    hits
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse() {
        assert_eq!(parse_script("Latin"), Some(Script::Latin));
        assert_eq!(parse_script("cyrillic"), Some(Script::Cyrillic));
        assert_eq!(parse_script("Cyrl"), Some(Script::Cyrillic));
        assert_eq!(parse_script("Han"), Some(Script::Han));
        assert_eq!(parse_script("Old_Italic"), Some(Script::Old_Italic));
        assert_eq!(parse_script("Klingon"), None);
    }

    #[test]
    fn disallowed_runs() {
        let h = disallowed("hello мир 123 😀 world", &[Script::Latin]);
        assert_eq!(h.len(), 1);
        assert_eq!(h[0].span, 6..12);
        assert!(disallowed("naïve café", &[Script::Latin]).is_empty());
    }

    #[test]
    fn homoglyph_words_not_real_mixes() {
        let h = mixed("log in at pаypal now"); // Cyrillic а
        assert_eq!(h.len(), 1);
        assert_eq!(h[0].decoded.as_deref(), Some("paypal"));
        for t in [
            "東京タワーへ行きます",
            "한국어 漢字",
            "10 μm wide",
            "Привет, мир",
            "naïve café",
        ] {
            assert!(mixed(t).is_empty(), "{t}");
        }
        let h = punycode("visit xn--80ak6aa92e.com");
        assert_eq!(h.len(), 1, "{h:?}");
        assert!(punycode("xn--mnchen-3ya.de").is_empty()); // münchen
    }
}
