//! # airlock-scan
//!
//! Scans model files without executing anything: sniff the format by
//! content, read the container the way its loader reads it, run every pickle
//! through the symbolic engine, review the events against the allowlist and
//! the danger catalogue, predict `torch.load(weights_only=True)`, and render
//! the findings as text, JSON or SARIF.
//!
//! ```no_run
//! let report = airlock_scan::scan_path(std::path::Path::new("model.pt"), "model.pt", &Default::default());
//! println!("{}: {}", report.path, report.verdict);
//! ```

#![forbid(unsafe_code)]

mod archive;
mod compressed;
mod container;
mod dcp;
mod families;
mod joblib;
mod nested;
mod numpy;
mod outcome;
mod pickles;
mod pt2;
pub mod pt2_program;
pub mod ptd;
pub mod pte;
pub mod report;
mod staged;
pub mod torchscript;
mod torchzip;
pub mod walk;

use std::path::Path;

use airlock_formats::archive::Container;
use airlock_formats::{FileSource, Format, MemSource, Source};
use airlock_policy::{Finding, Rule, Verdict};

pub use walk::{ScanTarget, collect_targets};

/// The default largest pickle analysed (`--max-pickle-bytes`): a pickle is
/// analysed in memory, and this keeps a scan of any file, decompressed or
/// not, within about twice as much.
pub const DEFAULT_MAX_PICKLE_BYTES: u64 = 128 << 20;

/// Scan options.
#[derive(Debug, Clone)]
pub struct Options {
    /// Largest pickle (or pickle-bearing record) analysed, in bytes.
    pub max_pickle_bytes: u64,
    /// Limits of the pickle engine.
    pub limits: airlock_pickle::Limits,
    /// Record every complete pickle analysed in [`FileReport::pickles`]
    /// (its member, offset and SHA-256) and every storage record checked
    /// against its pickle in [`FileReport::storages`], for a reader that
    /// must rebuild only what was analysed (`convert`, `inspect`,
    /// `airlock.load`).
    pub record_pickles: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_pickle_bytes: DEFAULT_MAX_PICKLE_BYTES,
            limits: airlock_pickle::Limits::default(),
            record_pickles: false,
        }
    }
}

/// One pickle a scan analysed: where it is and what its bytes were.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PickleRead {
    /// The archive member (or stream part) it was read from.
    pub member: Option<String>,
    /// Offset of its first opcode in that member.
    pub start: u64,
    /// Its length, through `STOP`.
    pub len: u64,
    /// SHA-256 of those bytes.
    pub sha256: [u8; 32],
}

impl PickleRead {
    /// The record of `pickle`, analysed from `data` (the whole member).
    pub fn of(member: Option<&str>, data: &[u8], pickle: &airlock_pickle::Pickle) -> PickleRead {
        use sha2::Digest;
        let bytes = data.get(pickle.start..pickle.end).unwrap_or_default();
        PickleRead {
            member: member.map(str::to_string),
            start: pickle.start as u64,
            len: bytes.len() as u64,
            sha256: sha2::Sha256::digest(bytes).into(),
        }
    }
}

impl PickleRead {
    /// The record of a whole member that a rebuild reads in place of a
    /// pickle (a `.pt2` archive's payload config, which says where each
    /// tensor's bytes are).
    pub fn whole(member: Option<&str>, data: &[u8]) -> PickleRead {
        use sha2::Digest;
        PickleRead {
            member: member.map(str::to_string),
            start: 0,
            len: data.len() as u64,
            sha256: sha2::Sha256::digest(data).into(),
        }
    }
}

/// One storage record a scan checked against its pickle: the member and
/// where torch takes its bytes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StorageRead {
    /// The archive member.
    pub member: String,
    /// Where its bytes are.
    pub bytes: airlock_formats::checkpoint::RecordBytes,
}

/// The scan of one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileReport {
    /// The path as given, or as found under a given folder.
    pub path: String,
    /// The path's exact bytes when they are not UTF-8 (`path` then has
    /// U+FFFD in place of the invalid bytes); set by the caller that knows
    /// the path ([`FileReport::with_path_bytes`]).
    pub path_bytes: Option<Vec<u8>>,
    /// The format, by content.
    pub format: Format,
    /// The compression around the content (`gzip`, `zlib`, ...), if any.
    pub compression: Option<&'static str>,
    /// The verdict.
    pub verdict: Verdict,
    /// Whether `torch.load(path, weights_only=True)` would load the file
    /// (`None` for formats `torch.load` does not run a pickle from).
    pub weights_only: Option<bool>,
    /// torch's reason when it would refuse.
    pub weights_only_reason: Option<String>,
    /// Everything found, most severe first.
    pub findings: Vec<Finding>,
    /// Size of the file.
    pub size: u64,
    /// Bytes read to scan it.
    pub bytes_read: u64,
    /// The complete pickles analysed (with [`Options::record_pickles`]).
    pub pickles: Vec<PickleRead>,
    /// The storage records checked (with [`Options::record_pickles`]).
    pub storages: Vec<StorageRead>,
}

impl FileReport {
    /// The finding that best explains the verdict.
    pub fn main_finding(&self) -> Option<&Finding> {
        self.findings
            .iter()
            .filter(|f| f.rule != Rule::WeightsOnlyRefusal || self.findings.len() == 1)
            .max_by_key(|f| (f.rule.impact(), f.severity))
    }

    /// Record `path`'s exact bytes when they are not UTF-8.
    pub fn with_path_bytes(mut self, path: &Path) -> FileReport {
        use std::os::unix::ffi::OsStrExt;
        let bytes = path.as_os_str().as_bytes();
        if std::str::from_utf8(bytes).is_err() {
            self.path_bytes = Some(bytes.to_vec());
        }
        self
    }

    /// The report on a file or folder that could not be read at all.
    pub fn unreadable(display: &str, why: impl std::fmt::Display) -> FileReport {
        let findings = vec![Finding::new(Rule::ReadError, format!("cannot read: {why}"))];
        FileReport {
            path: display.to_string(),
            path_bytes: None,
            format: Format::Unknown,
            compression: None,
            verdict: Verdict::from_findings(&findings),
            weights_only: None,
            weights_only_reason: None,
            findings,
            size: 0,
            bytes_read: 0,
            pickles: Vec::new(),
            storages: Vec::new(),
        }
    }
}

/// Files up to this size are read into memory once; larger ones are read
/// piecewise, only where their structure says.
const READ_WHOLE: u64 = 8 << 20;

/// Scan a file on disk. A file of a distributed checkpoint's folder (its
/// `.metadata`, a `.distcp` shard it names) is scanned as the checkpoint's
/// loader reads it.
pub fn scan_path(path: &Path, display: &str, opts: &Options) -> FileReport {
    if let Some(report) = dcp::scan_in_folder(path, display, opts) {
        return report;
    }
    let opened = FileSource::open(path).and_then(|src| {
        if src.len() <= READ_WHOLE {
            src.read_upto(0, src.len() as usize).map(Ok)
        } else {
            Ok(Err(src))
        }
    });
    match opened {
        Ok(Ok(bytes)) => {
            let mut report = scan_bytes(&bytes, display, opts);
            report.bytes_read = bytes.len() as u64;
            report
        }
        Ok(Err(src)) => scan_source(&src, display, opts),
        Err(e) => FileReport::unreadable(display, e),
    }
}

/// Scan bytes in memory.
pub fn scan_bytes(data: &[u8], display: &str, opts: &Options) -> FileReport {
    scan_source(&MemSource::new(data), display, opts)
}

/// Scan any source.
pub fn scan_source(src: &dyn Source, display: &str, opts: &Options) -> FileReport {
    scan_source_at(src, display, opts, 0)
}

/// Scan a source found `depth` compression layers deep.
pub(crate) fn scan_source_at(
    src: &dyn Source,
    display: &str,
    opts: &Options,
    depth: usize,
) -> FileReport {
    let mut out = outcome::Outcome::default();
    let format = match airlock_formats::sniff(src) {
        Ok(f) => f,
        Err(e) => {
            out.findings.push(Finding::new(
                Rule::ReadError,
                format!("cannot read the file: {e}"),
            ));
            Format::Unknown
        }
    };
    if out.findings.is_empty() {
        let result = match format {
            Format::TorchZip | Format::TorchScript => {
                // np.load takes any ZIP for an .npz: its arrays may run code.
                torchzip::scan_zip(src, format, opts, &mut out)
                    .and_then(|()| numpy::scan_npz(src, opts, true, &mut out))
            }
            Format::TorchExport => pt2::scan_export(src, opts, &mut out)
                .and_then(|()| numpy::scan_npz(src, opts, true, &mut out)),
            Format::Zip => torchzip::scan_zip(src, format, opts, &mut out)
                .and_then(|()| numpy::scan_npz(src, opts, true, &mut out))
                .map(|()| archive_members(src, Container::Zip, opts, depth, &mut out)),
            Format::Npz => numpy::scan_npz(src, opts, false, &mut out),
            Format::Npy => {
                numpy::scan_npy(src, None, opts, &mut out);
                Ok(())
            }
            Format::TorchLegacy => container::scan_legacy(src, opts, &mut out),
            Format::TorchLegacyTar => container::scan_legacy_tar(src, opts, &mut out)
                .and_then(|()| container::check_pickle_reading(src, opts, &mut out)),
            Format::Pickle | Format::Joblib => container::scan_pickle_file(src, opts, &mut out),
            Format::Safetensors => {
                container::scan_safetensors(src, &mut out);
                container::check_pickle_reading(src, opts, &mut out)
            }
            Format::Tar => {
                // Listed once, as tarfile lists it, for every check.
                let listing =
                    airlock_formats::tar::list(src, airlock_formats::sniff::MAX_TAR_MEMBERS);
                container::scan_tar(src, &listing, opts, &mut out);
                if let Ok(l) = listing {
                    let archive = airlock_formats::archive::Archive::from_tar(l);
                    let members = archive::scan_archive(src, &archive, opts, depth, &mut out);
                    reviewed_archive(src, &archive, &members, opts, depth, &mut out);
                }
                container::check_pickle_reading(src, opts, &mut out)
            }
            Format::Compressed => compressed::scan_compressed(src, display, opts, depth, &mut out),
            Format::DcpMetadata => dcp::scan_metadata(src, opts, &mut out),
            Format::DcpShard => dcp::scan_shard_alone(src, opts, &mut out),
            Format::ExecuTorch => {
                pte::scan_pte(src, opts, true, &mut out);
                // torch.load and pickle.load read any non-ZIP file as a pickle.
                container::check_pickle_reading(src, opts, &mut out)
            }
            Format::ExecuTorchData => {
                ptd::scan_ptd(src, opts, &mut out);
                container::check_pickle_reading(src, opts, &mut out)
            }
            // Recognised from an archive's members, never sniffed.
            Format::Nemo
            | Format::TorchServe
            | Format::StableBaselines
            | Format::TorchPackage
            | Format::Unknown => {
                container::scan_unknown(src, opts, &mut out);
                Ok(())
            }
        };
        if let Err(e) = result {
            out.findings.push(Finding::new(
                Rule::ReadError,
                format!("reading failed: {e}"),
            ));
        }
        // The ExecuTorch runtime decides by bytes 4..8 alone: a file of
        // another format with its identifier there is read as a program too.
        if format != Format::ExecuTorch
            && src
                .read_upto(0, 8)
                .is_ok_and(|h| airlock_formats::pte::has_identifier(&h))
        {
            pte::scan_pte(src, opts, false, &mut out);
        }
    }
    finish(src, display, format, out)
}

/// The report on `src`: the findings of `out`, deduplicated and most
/// severe first, and the verdict they add up to.
pub(crate) fn finish(
    src: &dyn Source,
    display: &str,
    format: Format,
    out: outcome::Outcome,
) -> FileReport {
    let mut findings = out.findings;
    dedupe(&mut findings);
    findings.sort_by(|a, b| {
        (b.rule.impact(), b.severity)
            .cmp(&(a.rule.impact(), a.severity))
            .then_with(|| a.location.cmp(&b.location))
            .then_with(|| a.rule.cmp(&b.rule))
    });
    let verdict = Verdict::from_findings(&findings);
    FileReport {
        path: display.to_string(),
        path_bytes: None,
        format: out.format.unwrap_or(format),
        compression: out.compression,
        verdict,
        weights_only: out.weights_only,
        weights_only_reason: out.weights_only_reason,
        findings,
        size: src.len(),
        bytes_read: src.bytes_read(),
        pickles: out.pickles,
        storages: out.storages,
    }
}

/// An archive that is no checkpoint: its members, and what the loader of
/// its family runs.
fn archive_members(
    src: &dyn Source,
    container: Container,
    opts: &Options,
    depth: usize,
    out: &mut outcome::Outcome,
) {
    let (opened, members) = archive::scan_members(src, container, opts, depth, out);
    match opened {
        Some(a) => reviewed_archive(src, &a, &members, opts, depth, out),
        None => archive::known_archive(&members, out),
    }
}

/// What the loaders of an archive's family run besides its members.
fn reviewed_archive(
    src: &dyn Source,
    archive: &airlock_formats::archive::Archive,
    members: &archive::Members,
    opts: &Options,
    depth: usize,
    out: &mut outcome::Outcome,
) {
    archive::known_archive(members, out);
    families::review(src, archive, opts, depth, out);
}

fn dedupe(findings: &mut Vec<Finding>) {
    let mut seen = std::collections::HashSet::new();
    findings.retain(|f| seen.insert((f.rule, f.message.clone(), f.location.clone())));
}
