//! Why a conversion did not happen.
//!
//! Each variant keeps what caused it: the scan report, the rebuild's or
//! the writer's error, the reader's error, the I/O error. The message
//! (`Display`) includes the cause's, so that a person reads one sentence;
//! `Error::source` hands the cause itself to a caller that wants its type.

use std::path::PathBuf;

use airlock_policy::Location;
use airlock_scan::FileReport;
use airlock_tensors::rebuild::RebuildError;
use airlock_tensors::write::WriteError;

/// A reader's error kept as the cause of a [`ConvertError::Container`].
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a file was not converted. No output file is left behind.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    /// The scanner calls the file dangerous, or could not analyse it.
    #[error("refused: the scan says {}{}", .0.verdict, main_reason(.0))]
    Refused(Box<FileReport>),
    /// A format or content Airlock does not convert.
    #[error("not converted: {0}")]
    Unsupported(String),
    /// The pickle holds something that cannot be rebuilt as data (a
    /// tensor kind, dtype or structure the rebuild does not handle).
    #[error("not converted: {0}")]
    Rebuild(#[source] RebuildError),
    /// The pickle imports or builds something outside what is proven to be
    /// data: only its code could build it.
    #[error("not converted: {}", .0.message)]
    Foreign(Box<Foreign>),
    /// The container is not as its loader needs it.
    #[error("not converted: {detail}")]
    Container {
        /// What is wrong, including the cause's message.
        detail: String,
        /// The reader's error, when one caused it.
        #[source]
        source: Option<Cause>,
    },
    /// Planning or writing the output failed.
    #[error("writing failed: {0}{hint}", hint = write_hint(.0))]
    Write(#[from] WriteError),
    /// Reading the input failed.
    #[error("{}{source}", path_prefix(path.as_deref()))]
    Io {
        /// The file or folder being read, when known.
        path: Option<PathBuf>,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

/// A pickle that imports or builds something outside what is proven to be
/// data.
#[derive(Debug)]
pub struct Foreign {
    /// What a person reads.
    pub message: String,
    /// The global, when the refusal names one.
    pub global: Option<String>,
    /// Where the scan found it.
    pub location: Option<Location>,
    /// The file's scan, whose findings name every global outside the
    /// allowlist (attached by the callers that scanned it).
    pub report: Option<Box<FileReport>>,
    /// The rebuild's error, when the rebuild refused it.
    pub rebuild: Option<RebuildError>,
}

impl ConvertError {
    /// A container problem with no underlying error.
    pub fn container(detail: impl Into<String>) -> ConvertError {
        ConvertError::Container {
            detail: detail.into(),
            source: None,
        }
    }

    /// A container problem caused by `source`, described as `what: source`.
    pub fn container_from(
        what: impl std::fmt::Display,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> ConvertError {
        ConvertError::Container {
            detail: format!("{what}: {source}"),
            source: Some(Box::new(source)),
        }
    }

    /// A container problem that is `source`, described by its message.
    pub fn container_of(source: impl std::error::Error + Send + Sync + 'static) -> ConvertError {
        ConvertError::Container {
            detail: source.to_string(),
            source: Some(Box::new(source)),
        }
    }

    /// Reading `path` failed.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> ConvertError {
        ConvertError::Io {
            path: Some(path.into()),
            source,
        }
    }

    /// The rebuild's error: an object outside the data allowlist is a
    /// [`ConvertError::Foreign`], anything else [`ConvertError::Rebuild`].
    pub fn from_rebuild(e: RebuildError) -> ConvertError {
        match e {
            RebuildError::NotData { .. } => ConvertError::Foreign(Box::new(Foreign {
                message: e.to_string(),
                global: None,
                location: None,
                report: None,
                rebuild: Some(e),
            })),
            _ => ConvertError::Rebuild(e),
        }
    }

    /// Attach the file's scan to a [`ConvertError::Foreign`] that has none.
    pub fn with_report(mut self, report: &FileReport) -> ConvertError {
        if let ConvertError::Foreign(f) = &mut self {
            if f.report.is_none() {
                f.report = Some(Box::new(report.clone()));
            }
        }
        self
    }

    /// The scan report this error carries, if any.
    pub fn report(&self) -> Option<&FileReport> {
        match self {
            ConvertError::Refused(r) => Some(r),
            ConvertError::Foreign(f) => f.report.as_deref(),
            _ => None,
        }
    }
}

/// What to do instead, when there is something.
fn write_hint(e: &WriteError) -> &'static str {
    match e {
        WriteError::UnsupportedDtype { format, .. } if *format == "safetensors" => {
            " (--to pt writes it)"
        }
        _ => "",
    }
}

fn path_prefix(path: Option<&std::path::Path>) -> String {
    path.map(|p| format!("{}: ", p.display()))
        .unwrap_or_default()
}

fn main_reason(r: &FileReport) -> String {
    r.main_finding()
        .map(|f| format!(" ({} {})", f.rule.id(), f.message))
        .unwrap_or_default()
}
