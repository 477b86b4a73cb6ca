//! Findings, and the verdict they add up to.

use std::fmt;

use crate::rules::{Impact, Rule, Severity};

/// Where a finding is.
#[derive(Debug, Clone, PartialEq, Eq, Default, PartialOrd, Ord, Hash)]
pub struct Location {
    /// The archive member (`archive/data.pkl`), if the file is an archive.
    pub member: Option<String>,
    /// Byte offset within the member, or within the file.
    pub offset: Option<u64>,
    /// Line in a text file (a workflow), 1-based.
    pub line: Option<u32>,
    /// Column in that line, 1-based, in characters.
    pub column: Option<u32>,
}

impl Location {
    /// The location in parentheses after a message: ` (archive/data.pkl,
    /// byte 12)`, ` (byte 12)`, ` (archive/data.pkl)`, or nothing.
    pub fn suffix(&self) -> String {
        match (&self.member, self.offset) {
            (Some(m), Some(o)) => format!(" ({m}, byte {o})"),
            (Some(m), None) => format!(" ({m})"),
            (None, Some(o)) => format!(" (byte {o})"),
            (None, None) => String::new(),
        }
    }
}

/// One thing a rule found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The rule.
    pub rule: Rule,
    /// Its severity (the rule's default unless graded otherwise).
    pub severity: Severity,
    /// What was found, for a person.
    pub message: String,
    /// Where.
    pub location: Location,
    /// What the finding is about, when it is one thing: a global's dotted
    /// name, for example.
    pub subject: Option<String>,
    /// For a global: whether the pickle calls it in a way that runs its
    /// code (`REDUCE`, `OBJ`, `INST`, `NEWOBJ` with arguments, the base
    /// class of a `copyreg._reconstructor` call). `false` when it is only
    /// imported, or only created by `__new__` without arguments and filled
    /// by `BUILD`: what the rebuild can take as data.
    pub called: bool,
}

impl Finding {
    /// A finding with the rule's default severity.
    pub fn new(rule: Rule, message: impl Into<String>) -> Finding {
        Finding {
            rule,
            severity: rule.severity(),
            message: message.into(),
            location: Location::default(),
            subject: None,
            called: false,
        }
    }

    /// Set the subject.
    pub fn subject(mut self, s: impl Into<String>) -> Finding {
        self.subject = Some(s.into());
        self
    }

    /// Set the severity.
    pub fn severity(mut self, s: Severity) -> Finding {
        self.severity = s;
        self
    }

    /// Set the member.
    pub fn member(mut self, m: Option<&str>) -> Finding {
        self.location.member = m.map(str::to_string);
        self
    }

    /// Set the offset.
    pub fn offset(mut self, o: Option<u64>) -> Finding {
        self.location.offset = o;
        self
    }

    /// Set the line and column (1-based) in a text file.
    pub fn at(mut self, line: u32, column: u32) -> Finding {
        self.location.line = Some(line);
        self.location.column = Some(column);
        self
    }
}

/// The verdict on a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Verdict {
    /// Every path the loader would take is data only.
    Safe,
    /// Imports or calls something outside the data allowlist, none of it
    /// known to be dangerous: code you must trust.
    Suspicious,
    /// Could not be analysed completely: never treated as safe.
    Error,
    /// Imports or calls a dangerous capability, or has a structure only
    /// attacks use.
    Dangerous,
}

impl Verdict {
    /// Lower-case name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Safe => "safe",
            Verdict::Suspicious => "suspicious",
            Verdict::Error => "error",
            Verdict::Dangerous => "dangerous",
        }
    }

    /// The verdict the findings add up to: dangerous beats error, error
    /// beats suspicious, and a file is safe only when nothing but notes were
    /// found.
    pub fn from_findings<'a>(findings: impl IntoIterator<Item = &'a Finding>) -> Verdict {
        let mut worst = Impact::Note;
        for f in findings {
            worst = worst.max(f.rule.impact());
        }
        match worst {
            Impact::Note => Verdict::Safe,
            Impact::Suspicious => Verdict::Suspicious,
            Impact::Error => Verdict::Error,
            Impact::Dangerous => Verdict::Dangerous,
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdict_precedence() {
        let f = |r| Finding::new(r, "x");
        assert_eq!(Verdict::from_findings(&[]), Verdict::Safe);
        assert_eq!(
            Verdict::from_findings(&[f(Rule::TrailingData)]),
            Verdict::Safe
        );
        assert_eq!(
            Verdict::from_findings(&[f(Rule::NonAllowlistedGlobal)]),
            Verdict::Suspicious
        );
        assert_eq!(
            Verdict::from_findings(&[f(Rule::NonAllowlistedGlobal), f(Rule::PickleError)]),
            Verdict::Error
        );
        assert_eq!(
            Verdict::from_findings(&[f(Rule::PickleError), f(Rule::DangerousGlobal)]),
            Verdict::Dangerous
        );
    }
}
