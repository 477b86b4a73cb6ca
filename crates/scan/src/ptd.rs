//! An ExecuTorch tensor data file (`.ptd`) judged as the runtime reads it,
//! through [`Ptd`] (the runtime's steps are in `airlock_formats::ptd`).
//!
//! A `.ptd` is bytes under names: no code, no pickle, no operator. A file
//! the runtime reads whole, every entry of it included, is data: a note
//! saying what it holds (AL0050). A file it refuses, or an entry it fails
//! on when a program asks for it, is an error (AL0051), never `safe`.

use std::collections::BTreeMap;

use airlock_formats::ptd::{Entry, Ptd, scalar_name};
use airlock_formats::{Format, Source};
use airlock_policy::{Finding, Rule};

use crate::Options;
use crate::outcome::Outcome;

/// Most entries named in a finding.
const MAX_LISTED: usize = 10;

/// Scan a file sniffed as tensor data.
pub(crate) fn scan_ptd(src: &dyn Source, opts: &Options, out: &mut Outcome) {
    out.format = Some(Format::ExecuTorchData);
    match Ptd::read(src, opts.max_pickle_bytes) {
        Ok(ptd) => out.findings.extend(judge(&ptd)),
        Err(e) => out
            .findings
            .push(Finding::new(Rule::ExecuTorchDataLayout, e.to_string())),
    }
}

/// The findings on a tensor data file.
pub fn judge(ptd: &Ptd) -> Vec<Finding> {
    let broken: Vec<&Entry> = ptd.entries.iter().filter(|e| e.problem.is_some()).collect();
    if !broken.is_empty() {
        return vec![Finding::new(Rule::ExecuTorchDataLayout, problems(&broken))];
    }
    vec![Finding::new(Rule::ExecuTorchData, summary(ptd))]
}

fn problems(broken: &[&Entry]) -> String {
    let mut listed: Vec<String> = broken
        .iter()
        .take(MAX_LISTED)
        .map(|e| format!("{:?}: {}", e.name(), e.problem.as_deref().unwrap_or("")))
        .collect();
    if broken.len() > MAX_LISTED {
        listed.push(format!("and {} more", broken.len() - MAX_LISTED));
    }
    format!(
        "{} entr{} the runtime fails on when a program asks for it: {}",
        broken.len(),
        if broken.len() == 1 { "y" } else { "ies" },
        listed.join("; ")
    )
}

fn summary(ptd: &Ptd) -> String {
    let mut dtypes: BTreeMap<i8, usize> = BTreeMap::new();
    let (mut blobs, mut bytes) = (0usize, 0u64);
    for e in &ptd.entries {
        bytes = bytes.saturating_add(e.bytes.map_or(0, |(_, n)| n));
        match &e.layout {
            Some(l) => *dtypes.entry(l.scalar_type).or_default() += 1,
            None => blobs += 1,
        }
    }
    let tensors: usize = dtypes.values().sum();
    let kinds: Vec<String> = dtypes
        .iter()
        .map(|(t, n)| format!("{n} {}", scalar_name(*t)))
        .collect();
    let mut s = format!(
        "ExecuTorch tensor data (version {}): {tensors} named tensor(s)",
        ptd.version
    );
    if !kinds.is_empty() {
        s.push_str(&format!(" ({})", kinds.join(", ")));
    }
    if blobs > 0 {
        s.push_str(&format!(
            ", {blobs} blob(s) without a tensor layout (a backend's data)"
        ));
    }
    s.push_str(&format!(", {bytes} bytes; no code"));
    s
}
