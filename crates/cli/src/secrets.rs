//! `airlock secrets`: credentials and personal data in what a model folder
//! carries.

use std::path::PathBuf;

use airlock_policy::Rule;
use airlock_privacy::report;
use clap::ValueEnum;

use crate::output::{EXIT_ERROR, ReportFile};

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
    Sarif,
}

/// Which findings make the exit status 1.
#[derive(Clone, Copy, PartialEq, ValueEnum)]
enum FailOn {
    /// Credentials, private keys and generic secrets (PV0001 to PV0003).
    Secrets,
    /// Those, and personal data (PV0010).
    Personal,
    /// Every finding, revealing paths and host names too.
    Any,
    /// None: always 0 unless a file could not be read.
    Never,
}

#[derive(clap::Args)]
pub(crate) struct SecretsArgs {
    /// Files and folders (folders recursively; symbolic links inside them
    /// are not followed).
    #[arg(value_name = "PATH", required = true)]
    paths: Vec<PathBuf>,
    /// The report's format.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Which findings fail the run (exit status 1).
    #[arg(long, value_enum, default_value = "secrets")]
    fail_on: FailOn,
    #[command(flatten)]
    report: ReportFile,
}

/// Run `airlock secrets`.
pub(crate) fn run(args: SecretsArgs) -> u8 {
    if let Err(f) = args.report.check(&args.paths) {
        return f.exit();
    }
    let (results, problems) = airlock_privacy::audit(&args.paths);
    for (p, why) in &problems {
        eprintln!("airlock: secrets: {p}: {why}");
    }
    let text = match args.format {
        Format::Text => report::to_text(&results),
        Format::Json => pretty(&report::to_json(&results, &problems)),
        Format::Sarif => pretty(&report::to_sarif(&results)),
    };
    if let Err(f) = args.report.write(&args.paths, &text) {
        return f.exit();
    }
    let failing = results
        .iter()
        .flat_map(|r| &r.findings)
        .any(|f| fails(args.fail_on, f.rule));
    let errors = !problems.is_empty() || results.iter().any(|r| r.error.is_some());
    match (failing, errors) {
        (true, _) => 1,
        (false, true) => EXIT_ERROR,
        (false, false) => 0,
    }
}

fn fails(level: FailOn, rule: Rule) -> bool {
    match level {
        FailOn::Never => false,
        FailOn::Any => true,
        FailOn::Personal => rule != Rule::RevealingPath,
        FailOn::Secrets => matches!(
            rule,
            Rule::Credential | Rule::PrivateKey | Rule::GenericSecret
        ),
    }
}

fn pretty(v: &serde_json::Value) -> String {
    serde_json::to_string_pretty(v).expect("serialises") + "\n"
}
