//! Archives that are not checkpoints: a ZIP without torch's layout, a tar
//! without `storages`. The loaders people point at them read members, and
//! some unpickle them: `pandas.read_pickle` opens `.zip` and `.tar.gz`
//! files and unpickles what is inside, NeMo's `restore_from` untars a
//! `.nemo` and `torch.load`s its `model_weights.ckpt`, Stable-Baselines3
//! and TorchServe load the model files of their ZIPs. So every regular
//! member is scanned as a file (through the same readers: a torch
//! checkpoint inside a tar is read as torch reads it), and its findings
//! are reported under `ARCHIVE-MEMBER/...`. Members of no model format
//! (configurations, text) are left out.
//!
//! ZIP members are read as Python's `zipfile` reads them (the loaders
//! above are Python), tar members as `tarfile` lists them. Bounded: at
//! most [`MAX_MEMBERS`] members, each within `--max-pickle-bytes` once
//! inflated, [`MAX_INFLATED`] times that in total, and archives nested at
//! most [`MAX_NESTING`] deep.

use airlock_formats::archive::{Archive, Body, Container};
use airlock_formats::{Format, MemSource, Source, SubSource};
use airlock_policy::{Finding, Rule};

use crate::outcome::Outcome;
use crate::{FileReport, Options};

/// Members scanned in one archive.
pub const MAX_MEMBERS: usize = 4096;

/// Archives and compression layers followed inside each other.
pub const MAX_NESTING: usize = 3;

/// Total bytes inflated from one archive's ZIP members, in multiples of
/// `--max-pickle-bytes`.
pub const MAX_INFLATED: u64 = 4;

/// What scanning an archive's members found.
#[derive(Debug, Default)]
pub(crate) struct Members {
    /// Members of a model format (their findings were reported).
    pub models: usize,
    /// Every member's name, for the loaders' own checks.
    pub names: Vec<String>,
}

/// Scan every regular member of a ZIP (read as `zipfile` reads it) or tar
/// (listed as `tarfile` lists it).
pub(crate) fn scan_members(
    src: &dyn Source,
    container: Container,
    opts: &Options,
    depth: usize,
    out: &mut Outcome,
) -> (Option<Archive>, Members) {
    match Archive::open(src, container) {
        Some(archive) => {
            let members = scan_archive(src, &archive, opts, depth, out);
            (Some(archive), members)
        }
        None => (None, Members::default()),
    }
}

/// Scan every regular member of an opened archive.
pub(crate) fn scan_archive(
    src: &dyn Source,
    archive: &Archive,
    opts: &Options,
    depth: usize,
    out: &mut Outcome,
) -> Members {
    let mut members = Members::default();
    let zip = archive.is_zip();
    let mut inflated = 0u64;
    for (name, index) in archive.members().iter().take(MAX_MEMBERS).cloned() {
        members.names.push(name.clone());
        if zip && name.ends_with(".npy") {
            // np.load's view of the archive scans these (numpy::scan_npz).
            members.models += 1;
            continue;
        }
        if !nesting_allowed(depth, &name, out) {
            continue;
        }
        let budget = opts.max_pickle_bytes * MAX_INFLATED;
        if inflated >= budget {
            over_budget(&name, opts, out);
            continue;
        }
        let body = match archive.body(src, index, opts.max_pickle_bytes.min(budget - inflated)) {
            Ok(body) => body,
            Err(why) => {
                unreadable(&name, &why, out);
                continue;
            }
        };
        let report = match &body {
            Body::InPlace { offset, len } => {
                crate::scan_source_at(&SubSource::new(src, *offset, *len), &name, opts, depth + 1)
            }
            Body::Inflated(data) => {
                inflated += data.len() as u64;
                crate::scan_source_at(&MemSource::new(data), &name, opts, depth + 1)
            }
        };
        if report.format == Format::Unknown && report.compression.is_none() {
            continue;
        }
        members.models += 1;
        fold(report, &name, out);
    }
    too_many(archive.len(), out);
    members
}

/// A member's findings and reads, located under its name.
pub(crate) fn fold(inner: FileReport, name: &str, out: &mut Outcome) {
    let under = |m: Option<String>| match m {
        Some(m) => format!("{name}/{m}"),
        None => name.to_string(),
    };
    for mut f in inner.findings {
        f.location.member = Some(under(f.location.member.take()));
        out.findings.push(f);
    }
    for mut p in inner.pickles {
        p.member = Some(under(p.member.take()));
        out.pickles.push(p);
    }
    for mut s in inner.storages {
        s.member = under(Some(std::mem::take(&mut s.member)));
        out.storages.push(s);
    }
}

/// An archive whose members include model files is what a loader reads
/// them from, not an unknown format: the `unknown-format` finding of the
/// container readers goes, the members' findings decide.
pub(crate) fn known_archive(members: &Members, out: &mut Outcome) {
    if members.models == 0 {
        let reported = out.findings.iter().any(|f| {
            matches!(
                f.rule,
                Rule::UnknownFormat | Rule::ZipStructure | Rule::ReadError
            )
        });
        if !reported {
            out.findings.push(Finding::new(
                Rule::UnknownFormat,
                format!(
                    "an archive of {} member(s), none of them a model file",
                    members.names.len()
                ),
            ));
        }
        return;
    }
    out.findings
        .retain(|f| f.rule != Rule::UnknownFormat || f.location.member.is_some());
    out.weights_only = None;
    out.weights_only_reason = None;
}

fn nesting_allowed(depth: usize, name: &str, out: &mut Outcome) -> bool {
    if depth + 1 < MAX_NESTING {
        return true;
    }
    out.findings.push(
        Finding::new(
            Rule::AnalysisLimit,
            format!(
                "archives and compression nested more than {MAX_NESTING} levels deep: not analysed"
            ),
        )
        .member(Some(name)),
    );
    false
}

fn unreadable(name: &str, why: &str, out: &mut Outcome) {
    out.findings.push(
        Finding::new(
            Rule::ReadError,
            format!("the member cannot be read as the archive's reader reads it: {why}"),
        )
        .member(Some(name)),
    );
}

fn over_budget(name: &str, opts: &Options, out: &mut Outcome) {
    out.findings.push(
        Finding::new(
            Rule::AnalysisLimit,
            format!(
                "not analysed: the archive's members inflate to more than {} bytes in total ({MAX_INFLATED} times --max-pickle-bytes)",
                opts.max_pickle_bytes * MAX_INFLATED
            ),
        )
        .member(Some(name)),
    );
}

fn too_many(n: usize, out: &mut Outcome) {
    if n > MAX_MEMBERS {
        out.findings.push(Finding::new(
            Rule::AnalysisLimit,
            format!("{n} members: only the first {MAX_MEMBERS} were scanned"),
        ));
    }
}
