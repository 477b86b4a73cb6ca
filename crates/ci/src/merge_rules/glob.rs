//! The merge rules' glob language, two ways.
//!
//! **PyTorch-compatible** (`Mode::Pytorch`): `patterns_to_regex` of
//! pytorch's `.github/scripts/gitutils.py`, reproduced because the bot's
//! reading is what decides merges: every pattern of a rule is translated
//! (`**` → `.*`, `*` → `[^/]*`, `.` → `\.`, `+` → `\+`, every other
//! character copied into the regex as it is, so `?`, `^`, `$` and `|` stay
//! regex syntax), the translations are OR-ed into one group and matched
//! with Python's `re.match`: anchored at the start only. `docs/source/onnx`
//! therefore matches `docs/source/onnx_deep/x.rst`, and `*` matches every
//! path.
//!
//! **Strict** (`Mode::Strict`, the default): a pattern matches the whole
//! path, `*` any characters but `/`, `**` any characters, `?` one character
//! but `/`; everything else literally.
//!
//! In both, a pattern holding `{ } ( ) [ ] \` is refused, as the bot's
//! assertion refuses it.

use regex::Regex;

/// How patterns are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Whole-path globs.
    #[default]
    Strict,
    /// The merge bot's own translation (prefix match, raw regex
    /// characters).
    Pytorch,
}

/// Why a rule's patterns cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GlobError {
    /// A character the bot's translation refuses.
    #[error(
        "pattern {pattern:?} holds {ch:?}, which the merge bot refuses (one of {{ }} ( ) [ ] \\)"
    )]
    Refused {
        /// The pattern.
        pattern: String,
        /// The character.
        ch: char,
    },
    /// The translation is not a valid regular expression (the bot would
    /// crash on it).
    #[error(
        "patterns {patterns:?} make an invalid regular expression in the merge bot's translation: {detail}"
    )]
    Invalid {
        /// The rule's patterns.
        patterns: Vec<String>,
        /// What the regex engine says.
        detail: String,
    },
}

/// One rule's patterns, compiled.
#[derive(Debug, Clone)]
pub struct Patterns {
    regex: Regex,
}

impl Patterns {
    /// Compile a rule's patterns under `mode`.
    pub fn new(patterns: &[String], mode: Mode) -> Result<Patterns, GlobError> {
        let mut parts = Vec::with_capacity(patterns.len());
        for p in patterns {
            if let Some(ch) = p.chars().find(|c| "{}()[]\\".contains(*c)) {
                return Err(GlobError::Refused {
                    pattern: p.clone(),
                    ch,
                });
            }
            if mode == Mode::Pytorch && p.starts_with('?') {
                // `(?` opens an extension group, `|?` repeats nothing:
                // Python's `re` refuses both (or reads `(?x)` as a flag).
                return Err(GlobError::Invalid {
                    patterns: patterns.to_vec(),
                    detail: format!("{p:?} starts with `?`, which the bot's regex cannot take"),
                });
            }
            parts.push(translate(p, mode));
        }
        let source = match mode {
            Mode::Pytorch => format!("^({})", parts.join("|")),
            Mode::Strict => format!("^(?:{})$", parts.join("|")),
        };
        let regex = Regex::new(&source).map_err(|e| GlobError::Invalid {
            patterns: patterns.to_vec(),
            detail: e
                .to_string()
                .lines()
                .last()
                .unwrap_or_default()
                .trim()
                .to_string(),
        })?;
        Ok(Patterns { regex })
    }

    /// Whether `path` (a repository-relative path with `/`) matches.
    pub fn matches(&self, path: &str) -> bool {
        self.regex.is_match(path)
    }
}

/// One pattern's regex: `**` any characters, `*` any but `/`; the rest as
/// the mode reads it (the bot: `.` and `+` escaped, everything else copied
/// as it is; strict: `?` one character but `/`, everything else literal).
fn translate(p: &str, mode: Mode) -> String {
    let mut out = String::new();
    let mut chars = p.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, mode) {
            ('*', _) if chars.peek() == Some(&'*') => {
                chars.next();
                out.push_str(".*");
            }
            ('*', _) => out.push_str("[^/]*"),
            ('.' | '+', Mode::Pytorch) => {
                out.push('\\');
                out.push(c);
            }
            (c, Mode::Pytorch) => out.push(c),
            ('?', Mode::Strict) => out.push_str("[^/]"),
            (c, Mode::Strict) => out.push_str(&regex::escape(c.encode_utf8(&mut [0; 4]))),
        }
    }
    out
}

/// A path the pattern matches in the bot's reading and not as a
/// whole-path glob, for the patterns where that changes who owns what:
/// regex characters the bot leaves live (`?`, `^`, `$`, `|`), a trailing
/// single `*` (the bot then matches into every folder it names the start
/// of), and a last segment that names a folder or submodule (`third_party/onnx`
/// also covers `third_party/onnx-tensorrt/`). A file name with an extension
/// also matches longer names (`x.py` covers `x.pyi`), which this leaves
/// out as noise.
pub fn compat_only_witness(pattern: &str) -> Option<String> {
    let literal = pattern.replace("**", "x").replace('*', "x");
    let last = pattern.rsplit('/').next().unwrap_or(pattern);
    let candidates = if pattern.contains(['?', '^', '$', '|']) {
        vec![
            literal.replace('?', ""),
            format!("{}x", literal.replace('?', "")),
        ]
    } else if pattern.ends_with('*') && !pattern.ends_with("**") && pattern != "*" {
        vec![format!("{literal}/y")]
    } else if !last.contains(['.', '*']) {
        vec![format!("{pattern}_extra/x"), format!("{pattern}-extra/x")]
    } else {
        return None;
    };
    let strict = Patterns::new(&[pattern.to_string()], Mode::Strict).ok()?;
    let compat = Patterns::new(&[pattern.to_string()], Mode::Pytorch).ok()?;
    candidates
        .into_iter()
        .find(|c| compat.matches(c) && !strict.matches(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(mode: Mode, pattern: &str, path: &str) -> bool {
        Patterns::new(&[pattern.to_string()], mode)
            .unwrap()
            .matches(path)
    }

    /// The table of `shared` facts on the bot's translation, row by row.
    #[test]
    fn the_bot_reading_matches_prefixes() {
        let p = Mode::Pytorch;
        assert!(m(p, "*", "torch/nn/modules/linear.py"));
        assert!(m(p, "benchmarks/sparse", "benchmarks/sparse_extra/run.py"));
        assert!(m(p, "third_party/onnx", "third_party/onnx-tensorrt"));
        assert!(m(p, "docs/source/onnx*", "docs/source/onnx_deep/dir/x.rst"));
        assert!(m(p, "torch/*docs.py", "torch/_tensor_docs.pyi"));
        assert!(!m(p, "torch/*docs.py", "torch/x/y_docs.py"));
        assert!(!m(p, "test/*_masked*", "test/sub/test_masked.py"));
        assert!(!m(p, ".github/**", ".github"));
        assert!(m(p, "**rocm**", "aten/src/ATen/rocm/x.cpp"));
        // `?` is the regex quantifier, not one character.
        assert!(m(p, "torch/foo?.py", "torch/fo.py"));
        assert!(m(p, "torch/foo?.py", "torch/foo.py"));
        assert!(!m(p, "torch/foo?.py", "torch/fooX.py"));
    }

    #[test]
    fn the_strict_reading_matches_whole_paths() {
        let s = Mode::Strict;
        assert!(!m(s, "*", "torch/nn/modules/linear.py"));
        assert!(m(s, "*", "README.md"));
        assert!(!m(s, "benchmarks/sparse", "benchmarks/sparse_extra/run.py"));
        assert!(m(s, "docs/**", "docs/source/a/b.rst"));
        assert!(m(s, "torch/foo?.py", "torch/fooX.py"));
        assert!(!m(s, "torch/foo?.py", "torch/fo.py"));
        assert!(m(s, "a+b.txt", "a+b.txt"));
    }

    #[test]
    fn refused_and_invalid_patterns_are_errors() {
        assert!(matches!(
            Patterns::new(&["src/[ab].py".into()], Mode::Strict),
            Err(GlobError::Refused { ch: '[', .. })
        ));
        assert!(matches!(
            Patterns::new(&["?x".into()], Mode::Pytorch),
            Err(GlobError::Invalid { .. })
        ));
        assert!(matches!(
            Patterns::new(&["a".into(), "b|?".into()], Mode::Pytorch),
            Err(GlobError::Invalid { .. })
        ));
    }

    #[test]
    fn witnesses_show_where_the_readings_differ() {
        assert_eq!(
            compat_only_witness("benchmarks/sparse").as_deref(),
            Some("benchmarks/sparse_extra/x")
        );
        assert_eq!(
            compat_only_witness("docs/source/onnx*").as_deref(),
            Some("docs/source/onnxx/y")
        );
        assert_eq!(
            compat_only_witness("torch/foo?.py").as_deref(),
            Some("torch/foo.py")
        );
        assert_eq!(compat_only_witness("docs/**"), None);
        assert_eq!(compat_only_witness("test/test_mps.py"), None);
        // A catch-all is reported as one (CI0051), not here.
        assert_eq!(compat_only_witness("*"), None);
    }
}
