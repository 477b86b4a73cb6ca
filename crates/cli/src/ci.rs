//! `airlock ci`: a repository's GitHub Actions workflows audited against
//! PyTorch's CI/CD security principles.

use std::path::PathBuf;

use airlock_ci::github::GitHub;
use airlock_ci::report::{self, Color};
use airlock_ci::{CiReport, Config, Counts};
use airlock_scan::report::Summary;
use clap::ValueEnum;

use crate::output::{self, EXIT_ERROR, color_for};
use crate::scan::ColorChoice;

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum CiFormat {
    /// Each finding with its source line and a caret.
    Text,
    /// The JSON report, schema 1.
    Json,
    /// SARIF 2.1.0, for code scanning.
    Sarif,
    /// GitHub workflow commands: annotations on the pull request.
    Github,
}

/// Reports in `format`, ending with a newline.
pub(crate) fn render(
    reports: &[CiReport],
    format: CiFormat,
    verbose: bool,
    color: Color,
) -> String {
    let mut text = match format {
        CiFormat::Text => report::to_text(reports, verbose, color),
        CiFormat::Json => {
            serde_json::to_string_pretty(&report::to_json(reports, verbose)).expect("JSON")
        }
        CiFormat::Sarif => {
            serde_json::to_string_pretty(&report::to_sarif(reports, verbose)).expect("JSON")
        }
        CiFormat::Github => report::to_github(reports, verbose),
    };
    if !text.ends_with('\n') && !text.is_empty() {
        text.push('\n');
    }
    text
}

/// The repository's settings, read online, as one report.
fn online_report(
    repo: Option<&str>,
    api: &str,
    release_environments: &[String],
) -> Result<CiReport, String> {
    let from_env = std::env::var("GITHUB_REPOSITORY").ok();
    let repo = repo
        .map(str::to_string)
        .or(from_env)
        .ok_or("name the repository with --repo OWNER/REPO (or set GITHUB_REPOSITORY)")?;
    let gh = GitHub::new(api, GitHub::token_from_env());
    let findings =
        airlock_ci::online::audit(&gh, &repo, release_environments).map_err(|e| e.to_string())?;
    Ok(CiReport {
        path: format!("{repo} (repository settings)"),
        kind: "settings",
        verdict: airlock_policy::Verdict::from_findings(&findings),
        findings,
        suppressed: 0,
        source: String::new(),
    })
}

#[derive(clap::Args)]
pub(crate) struct CiArgs {
    /// A repository checkout (its .github/workflows), a workflows folder,
    /// or one workflow file.
    #[arg(default_value = ".")]
    path: PathBuf,
    /// Output format.
    #[arg(short, long, value_enum, default_value = "text")]
    format: CiFormat,
    /// The configuration file (default: .github/airlock.toml of the
    /// repository, when it exists).
    #[arg(short, long, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(flatten)]
    report: output::ReportFile,
    /// Also show the notes that say why each job counts as a release job
    /// (CI0002).
    #[arg(short, long)]
    verbose: bool,
    /// When to use colours in the text format.
    #[arg(long, value_enum, default_value = "auto")]
    color: ColorChoice,
    /// Also read the repository's settings from GitHub's REST API,
    /// read-only, with the token in GH_TOKEN or GITHUB_TOKEN: fork pull
    /// request approval, reviews required on the default branch, release
    /// environments, repository secrets, self-hosted runners (CI0060 and
    /// up; what the token may not read is reported as unchecked).
    #[arg(long)]
    online: bool,
    /// The repository for --online (default: GITHUB_REPOSITORY).
    #[arg(long, value_name = "OWNER/REPO", requires = "online")]
    repo: Option<String>,
    /// The API base URL for --online (GitHub Enterprise Server:
    /// `https://HOST/api/v3`).
    #[arg(long, default_value = "https://api.github.com", value_name = "URL")]
    github_api: String,
}

pub(crate) fn ci(args: CiArgs) -> u8 {
    if let Err(f) = args.report.check(&[&args.path]) {
        return f.exit();
    }
    let targets = match airlock_ci::discover(&args.path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("airlock: {e}");
            return EXIT_ERROR;
        }
    };
    if targets.workflows.is_empty() {
        eprintln!(
            "airlock: no workflow files found in {} (looked for .github/workflows/*.yml|yaml)",
            args.path.display()
        );
        return EXIT_ERROR;
    }
    let config = match &args.config {
        Some(p) => std::fs::read_to_string(p)
            .map_err(|e| format!("{}: {e}", p.display()))
            .and_then(|t| Config::parse(&t).map_err(|e| format!("{}: {e}", p.display()))),
        None => airlock_ci::default_config(&targets),
    };
    let config = match config {
        Ok(c) => c,
        Err(e) => {
            eprintln!("airlock: configuration: {e}");
            return EXIT_ERROR;
        }
    };
    let mut reports = airlock_ci::audit(&targets, &config);
    if args.online {
        let release = &config.environments.release;
        match online_report(args.repo.as_deref(), &args.github_api, release) {
            Ok(r) => reports.push(r),
            Err(e) => {
                eprintln!("airlock: --online: {e}");
                return EXIT_ERROR;
            }
        }
    }
    let color = color_for(args.color, args.report.to_file());
    let text = render(&reports, args.format, args.verbose, color);
    if let Err(f) = args.report.write(&[&args.path], &text) {
        return f.exit();
    }
    exit_code(&reports)
}

/// The exit status for reports, as for `scan`.
pub(crate) fn exit_code(reports: &[CiReport]) -> u8 {
    let c = Counts::of(reports);
    Summary {
        files: c.files,
        safe: c.safe,
        suspicious: c.suspicious,
        dangerous: c.dangerous,
        error: c.error,
    }
    .exit_code() as u8
}
