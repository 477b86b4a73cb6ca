//! `airlock scan`: files and folders, each given a verdict, in one report.

use std::io::IsTerminal;
use std::path::PathBuf;

use airlock_scan::report::{self, Summary};
use airlock_scan::walk::not_a_model_file;
use airlock_scan::{FileReport, Options, collect_targets, scan_path};
use clap::ValueEnum;
use rayon::prelude::*;

use crate::output::{self, EXIT_ERROR};

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum OutputFormat {
    /// One line per file (details with -v).
    Text,
    /// The JSON report, schema 1.
    Json,
    /// SARIF 2.1.0, for code scanning.
    Sarif,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(clap::Args)]
pub(crate) struct ScanArgs {
    /// Files and folders to scan.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Output format.
    #[arg(short, long, value_enum, default_value = "text")]
    format: OutputFormat,
    #[command(flatten)]
    report: output::ReportFile,
    /// Show every finding (text format).
    #[arg(short, long)]
    verbose: bool,
    /// Also report files in folders that are not model files.
    #[arg(long)]
    all: bool,
    /// When to use colours in the text format.
    #[arg(long, value_enum, default_value = "auto")]
    color: ColorChoice,
    /// Do not show a progress bar.
    #[arg(long)]
    no_progress: bool,
    /// Largest pickle or record analysed, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = airlock_scan::DEFAULT_MAX_PICKLE_BYTES)]
    max_pickle_bytes: u64,
    /// Number of files scanned in parallel (default: one per core).
    #[arg(short, long, value_name = "N")]
    jobs: Option<usize>,
    /// Also look for credentials and personal data in every string the
    /// files carry (`airlock secrets`): its findings follow the scan's, and
    /// a credential, private key or generic secret makes the exit status at
    /// least 1.
    #[arg(long)]
    secrets: bool,
}

pub(crate) fn scan(args: ScanArgs) -> u8 {
    if let Some(n) = args.jobs {
        if n == 0 {
            eprintln!("airlock: --jobs must be at least 1");
            return EXIT_ERROR;
        }
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(clamp_jobs(n))
            .build_global();
    }
    if let Err(f) = args.report.check(&args.paths) {
        return f.exit();
    }
    let (reports, skipped) = scan_all(&args);
    let secrets = args.secrets.then(|| airlock_privacy::audit(&args.paths));
    let mut text = render(&args, &reports, skipped);
    if let Some((results, problems)) = &secrets {
        text = with_secrets(args.format, text, results, problems);
    }
    if let Err(f) = args.report.write(&args.paths, &text) {
        return f.exit();
    }
    let code = Summary::of(&reports).exit_code();
    if code == 0 && reports.is_empty() {
        // Nothing to scan is not "every file safe".
        eprintln!("airlock: no model files found");
        return EXIT_ERROR;
    }
    let secret_found = secrets
        .iter()
        .flat_map(|(r, _)| r)
        .flat_map(|r| &r.findings)
        .any(|f| {
            matches!(
                f.rule,
                airlock_policy::Rule::Credential
                    | airlock_policy::Rule::PrivateKey
                    | airlock_policy::Rule::GenericSecret
            )
        });
    (code as u8).max(u8::from(secret_found))
}

/// The scan's report with the secrets audit's: after the text, under
/// `"secrets"` in the JSON, as a second run in the SARIF log.
fn with_secrets(
    format: OutputFormat,
    text: String,
    results: &[airlock_privacy::FileResult],
    problems: &[(String, String)],
) -> String {
    use airlock_privacy::report as secrets;
    let merged = |mut v: serde_json::Value, key: &str, add: serde_json::Value| {
        match (key, v.get_mut(key)) {
            ("runs", Some(serde_json::Value::Array(runs))) => {
                runs.extend(add["runs"].as_array().cloned().unwrap_or_default())
            }
            _ => v[key] = add,
        }
        serde_json::to_string_pretty(&v).expect("JSON") + "\n"
    };
    match format {
        OutputFormat::Text => format!(
            "{text}\nsecrets and personal data:\n{}",
            secrets::to_text(results)
        ),
        OutputFormat::Json => merged(
            serde_json::from_str(&text).expect("the scan's JSON"),
            "secrets",
            secrets::to_json(results, problems),
        ),
        OutputFormat::Sarif => merged(
            serde_json::from_str(&text).expect("the scan's SARIF"),
            "runs",
            secrets::to_sarif(results),
        ),
    }
}

/// Threads per CPU beyond which `--jobs` only costs memory and start-up.
const JOBS_PER_CPU: usize = 4;

/// `--jobs`, at most [`JOBS_PER_CPU`] threads per CPU (said on stderr when cut).
fn clamp_jobs(n: usize) -> usize {
    let cpus = std::thread::available_parallelism().map_or(1, |c| c.get());
    let max = cpus.saturating_mul(JOBS_PER_CPU);
    if n > max {
        eprintln!(
            "airlock: --jobs {n} is more than {JOBS_PER_CPU} per CPU: using {max} ({cpus} CPUs)"
        );
    }
    n.min(max)
}

/// Scan every file the paths name, in parallel; paths that could not be
/// read are reports too (verdict error). Returns the reports to show and
/// how many files found in folders were left out as no model files.
fn scan_all(args: &ScanArgs) -> (Vec<FileReport>, usize) {
    let targets = collect_targets(&args.paths);
    for (path, why) in &targets.problems {
        eprintln!(
            "airlock: {}: {why}",
            airlock_scan::report::escape_text(path, true)
        );
    }
    for (path, why) in &targets.skipped {
        eprintln!("airlock: skipping {path}: {why}");
    }
    let opts = Options {
        max_pickle_bytes: args.max_pickle_bytes,
        ..Options::default()
    };
    let bar = progress(!args.no_progress, targets.files.len());
    let mut reports: Vec<(bool, FileReport)> = targets
        .files
        .par_iter()
        .map(|t| {
            let r = scan_path(&t.path, &t.display, &opts).with_path_bytes(&t.path);
            if let Some(b) = &bar {
                b.inc(1);
            }
            (t.explicit, r)
        })
        .collect();
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let mut skipped = 0;
    reports.retain(|(explicit, r)| {
        let keep = *explicit || args.all || !not_a_model_file(r);
        if !keep {
            skipped += 1;
        }
        keep
    });
    let mut reports: Vec<FileReport> = reports.into_iter().map(|(_, r)| r).collect();
    reports.extend(
        targets
            .problems
            .iter()
            .map(|(path, why)| FileReport::unreadable(path, why)),
    );
    (reports, skipped)
}

fn progress(wanted: bool, files: usize) -> Option<indicatif::ProgressBar> {
    if !wanted || !std::io::stderr().is_terminal() || files <= 20 {
        return None;
    }
    let bar = indicatif::ProgressBar::new(files as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} scanning {pos}/{len} files [{bar:30}] {eta}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    Some(bar)
}

/// The report in the format asked for, ending with a newline.
fn render(args: &ScanArgs, reports: &[FileReport], skipped: usize) -> String {
    let color = output::color_for(args.color, args.report.to_file());
    let mut text = match args.format {
        OutputFormat::Text => {
            let mut t = report::to_text(reports, args.verbose, color);
            if skipped > 0 {
                t.push_str(&format!("{skipped} file(s) in the folders are not model files and were skipped (--all shows them)\n"));
            }
            t
        }
        OutputFormat::Json => {
            serde_json::to_string_pretty(&report::to_json(reports)).expect("JSON")
        }
        OutputFormat::Sarif => {
            serde_json::to_string_pretty(&report::to_sarif(reports)).expect("JSON")
        }
    };
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text
}
