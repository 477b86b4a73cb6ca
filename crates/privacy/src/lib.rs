//! Sensitive data in what a model carries (`airlock secrets`) and what a
//! model gives away of its training data (`airlock privacy audit`).
//!
//! PyTorch's security policy asks for special measures around sensitive
//! data. This crate finds credentials and personal data in every string a
//! model file or folder carries, without running anything and without
//! reading tensor payloads:
//!
//! files and folders → [`walk`] (regular files, `.git` metadata, no
//! symbolic links) → [`extract`] (one reader per format, as the consumer
//! reads it: pickle string constants with the dict key they are stored
//! under, a torch ZIP's pickles and text members but never its `data/`,
//! safetensors `__metadata__`, JSON and notebooks walked member by member,
//! YAML and other text line by line) → [`detect`] (provider formats with
//! their checksums, structure, entropy under a telling name) → [`report`]
//! (redacted, located findings PV0001 to PV0020 in text, JSON and SARIF).
//!
//! The memorisation audit must run the model, so Python does it
//! (`airlock.privacy` in the Python package, inside `airlock run`); its
//! document is judged here against limits ([`audit`]: PV0030 to PV0032)
//! and rendered as text, JSON, SARIF and HTML ([`audit_html`]), for the
//! command and for the package's reports alike.

#![forbid(unsafe_code)]

pub mod audit;
pub mod audit_html;
pub mod detect;
pub mod extract;
pub mod redact;
pub mod report;
pub mod walk;

use std::path::{Path, PathBuf};

use airlock_policy::Rule;
use serde::Serialize;

pub use detect::{Detection, detect};

/// Where a string was found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Location {
    /// The file, as given or found in a folder.
    pub file: String,
    /// The member of an archive (`model/data.pkl`), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member: Option<String>,
    /// Where inside the member or file: a JSON pointer, a pickle's dict
    /// key, a safetensors metadata key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Byte offset of the match in the member or file, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    /// Line (from 1) in a text file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
}

/// One finding.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// The rule.
    #[serde(serialize_with = "rule_id")]
    pub rule: Rule,
    /// What it is (`github-token`, `email`, ...).
    pub kind: &'static str,
    /// How it was confirmed (`checksum`, `structure`, `pattern`, `entropy`).
    pub evidence: &'static str,
    /// The match with most of it hidden.
    pub redacted: String,
    /// Where.
    pub location: Location,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

fn rule_id<S: serde::Serializer>(r: &Rule, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(r.id())
}

/// What one file gave.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FileResult {
    /// The file.
    pub path: String,
    /// How it was read (`pickle`, `pytorch-zip`, `safetensors`, `json`,
    /// `text`, ...), or why not (`skipped: binary`).
    pub read_as: String,
    /// Bytes of strings examined.
    pub bytes: u64,
    /// The findings (at most 1,000).
    pub findings: Vec<Finding>,
    /// Findings past the first 1,000, counted only.
    #[serde(skip_serializing_if = "is_zero")]
    pub more_findings: usize,
    /// Why the file could not be read completely.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Audit one file.
pub fn audit_file(path: &Path, display: &str) -> FileResult {
    let mut result = FileResult {
        path: display.to_string(),
        ..FileResult::default()
    };
    let mut more = 0usize;
    let mut sink = |loc: Location, text: &str, key: Option<&str>, vocabulary: bool| {
        result.bytes += text.len() as u64;
        let mut lines = LineCounter::default();
        for d in detect(text, key) {
            if vocabulary && !matches!(d.rule, Rule::Credential | Rule::PrivateKey) {
                continue;
            }
            if result.findings.len() >= MAX_FINDINGS {
                more += 1;
                continue;
            }
            let line = loc.line.map(|first| first + lines.before(text, d.start));
            result.findings.push(finding(&loc, line, text, key, &d));
        }
    };
    let read = extract::strings(path, display, &mut sink);
    result.more_findings = more;
    match read {
        Ok(how) => result.read_as = how.to_string(),
        Err(e) => {
            result.read_as = "error".into();
            result.error = Some(e.to_string());
        }
    }
    result
}

/// Findings reported per file; the rest are counted.
const MAX_FINDINGS: usize = 1000;

/// Line numbers of ascending offsets in one text, counted once.
#[derive(Default)]
struct LineCounter {
    offset: usize,
    lines: u32,
}

impl LineCounter {
    /// Line breaks before `offset` (offsets come in ascending order).
    fn before(&mut self, text: &str, offset: usize) -> u32 {
        let from = self.offset.min(offset);
        self.lines += text.as_bytes()[from..offset]
            .iter()
            .filter(|&&b| b == b'\n')
            .count() as u32;
        self.offset = offset;
        self.lines
    }
}

fn finding(
    loc: &Location,
    line: Option<u32>,
    text: &str,
    key: Option<&str>,
    d: &Detection,
) -> Finding {
    let mut location = loc.clone();
    let base = loc.offset.unwrap_or(0);
    location.offset = loc.offset.map(|_| base + d.start as u64);
    location.line = line;
    if location.key.is_none() {
        location.key = key.map(str::to_string);
    }
    Finding {
        rule: d.rule,
        kind: d.kind,
        evidence: d.evidence,
        redacted: redact::redact(&text[d.start..d.end], d.kind),
        location,
    }
}

/// Audit files and folders (folders recursively), in parallel.
pub fn audit(paths: &[PathBuf]) -> (Vec<FileResult>, Vec<(String, String)>) {
    use rayon::prelude::*;
    let files = walk::files(paths);
    let results = files
        .found
        .par_iter()
        .map(|(p, display)| audit_file(p, display))
        .collect();
    (results, files.problems)
}
