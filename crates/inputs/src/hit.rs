//! What a check found in an input: a rule, a score, a byte span of the
//! input, and what the profile does about it.

use std::ops::Range;

use airlock_policy::{Rule, Severity};
use serde::{Deserialize, Serialize};

/// What a profile does with a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Only report it: the input passes unchanged.
    Report,
    /// Rewrite the span (remove it, or replace it with its harmless
    /// form) and let the input pass.
    #[serde(alias = "sanitize")]
    Sanitise,
    /// Refuse the input.
    Block,
}

impl Action {
    /// The action's name in reports and configuration.
    pub fn name(self) -> &'static str {
        match self {
            Action::Report => "report",
            Action::Sanitise => "sanitise",
            Action::Block => "block",
        }
    }
}

/// One finding in one input.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// The rule.
    pub rule: Rule,
    /// Its severity (the rule's default unless graded otherwise).
    pub severity: Severity,
    /// How sure the check is, from 0 to 1. Deterministic checks say 1;
    /// wording heuristics less.
    pub score: f32,
    /// What the profile does about it (set by the pipeline).
    pub action: Action,
    /// The bytes of the input it covers.
    pub span: Range<usize>,
    /// What was found, for a person.
    pub message: String,
    /// What the span hides or encodes, decoded (the ASCII behind tag
    /// characters, a base64 payload's text), when there is one.
    pub decoded: Option<String>,
    /// What sanitising puts in place of the span (`None`: remove it).
    pub replacement: Option<String>,
}

impl Hit {
    /// A finding of `rule` over `span`, sure (score 1), removed when
    /// sanitised.
    pub fn new(rule: Rule, span: Range<usize>, message: impl Into<String>) -> Hit {
        Hit {
            rule,
            severity: rule.severity(),
            score: 1.0,
            action: Action::Report,
            span,
            message: message.into(),
            decoded: None,
            replacement: None,
        }
    }

    /// Set the score.
    pub fn score(mut self, s: f32) -> Hit {
        self.score = s;
        self
    }

    /// Set the severity.
    pub fn severity(mut self, s: Severity) -> Hit {
        self.severity = s;
        self
    }

    /// Set the decoded text.
    pub fn decoded(mut self, d: impl Into<String>) -> Hit {
        self.decoded = Some(d.into());
        self
    }

    /// Set what sanitising puts in the span's place.
    pub fn replace_with(mut self, r: impl Into<String>) -> Hit {
        self.replacement = Some(r.into());
        self
    }
}

/// At most this many characters of an input are quoted in a message.
pub const QUOTE_CHARS: usize = 80;

/// `s` quoted for a message: control and invisible characters escaped,
/// clipped to [`QUOTE_CHARS`].
pub fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for (n, c) in s.chars().enumerate() {
        if n == QUOTE_CHARS {
            out.push_str("...");
            break;
        }
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() || crate::chars::is_invisible(c) => {
                out.push_str(&c.escape_unicode().to_string())
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
