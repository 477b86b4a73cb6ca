//! Why a conversion did not happen.

use airlock_scan::FileReport;

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
    Rebuild(String),
    /// The pickle holds an object of a class (or a call) outside what the
    /// rebuild knows to be data: only its code could build it.
    #[error("not converted: {0}")]
    Foreign(String),
    /// The container is not as its loader needs it.
    #[error("not converted: {0}")]
    Container(String),
    /// Writing the output failed.
    #[error("writing failed: {0}")]
    Write(String),
    /// Reading the input failed.
    #[error("{0}")]
    Io(String),
}

fn main_reason(r: &FileReport) -> String {
    r.main_finding()
        .map(|f| format!(" ({} {})", f.rule.id(), f.message))
        .unwrap_or_default()
}
