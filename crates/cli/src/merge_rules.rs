//! `airlock merge-rules`: a merge bot's path-based rules
//! (`.github/merge_rules.yaml`), linted, or applied to a pull request.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use airlock_ci::github::{GitHub, parse_target};
use airlock_ci::merge_rules::lint::{LintOptions, lint};
use airlock_ci::merge_rules::{
    EvalOptions, Evaluation, MergeRule, Mode, PullRequest, RulesError, evaluate, parse,
};
use airlock_ci::{CiReport, report};
use airlock_policy::{Finding, Rule, Verdict};
use clap::{Subcommand, ValueEnum};

use crate::ci::{CiFormat, exit_code, render};
use crate::output::{self, EXIT_ERROR, color_for};
use crate::scan::ColorChoice;

#[derive(clap::Args)]
pub(crate) struct MergeRulesArgs {
    #[command(subcommand)]
    command: MergeRulesCommand,
}

#[derive(Subcommand)]
enum MergeRulesCommand {
    /// Find mistakes in a rules file: catch-alls, rules that need no
    /// approval or whose approvers resolve to nobody, rules that never
    /// decide, patterns the bot reads differently from a glob.
    Lint(LintArgs),
    /// Say which rule lets a pull request merge, or the closest rule and
    /// what it is missing.
    Check(CheckArgs),
}

/// How patterns are read.
#[derive(Clone, Copy, ValueEnum)]
enum Compat {
    /// PyTorch's merge bot (`trymerge.py`): patterns match path prefixes,
    /// `?` is a regex quantifier.
    Pytorch,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Format {
    Text,
    Json,
}

#[derive(clap::Args)]
struct LintArgs {
    /// The rules file.
    #[arg(default_value = ".github/merge_rules.yaml")]
    rules: PathBuf,
    /// Read patterns as this merge bot does (default: whole-path globs).
    #[arg(long, value_enum)]
    compat: Option<Compat>,
    /// A JSON object of team members (`{"org/team": ["login", ...]}`):
    /// teams missing from it or empty are reported as resolving to nobody.
    #[arg(long)]
    teams: Option<PathBuf>,
    /// Output format.
    #[arg(short, long, value_enum, default_value = "text")]
    format: CiFormat,
    /// When to use colours in the text format.
    #[arg(long, value_enum, default_value = "auto")]
    color: ColorChoice,
}

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["pr", "github"])))]
struct CheckArgs {
    /// The pull request as JSON (`-` for standard input): changed_files,
    /// reviews, checks and teams (see `docs/GUIDE.md`).
    #[arg(long)]
    pr: Option<PathBuf>,
    /// Fetch the pull request `owner/repo#N` from GitHub's REST API,
    /// read-only, with the token in GH_TOKEN or GITHUB_TOKEN (team members
    /// need `read:org`; teams it cannot read resolve to nobody).
    #[arg(long, value_name = "OWNER/REPO#N")]
    github: Option<String>,
    /// The API base URL for --github (GitHub Enterprise Server:
    /// `https://HOST/api/v3`).
    #[arg(long, default_value = "https://api.github.com", value_name = "URL")]
    github_api: String,
    /// The rules file.
    #[arg(long, default_value = ".github/merge_rules.yaml")]
    rules: PathBuf,
    /// Read patterns as this merge bot does (default: whole-path globs).
    #[arg(long, value_enum)]
    compat: Option<Compat>,
    /// Let a rule with an empty `approved_by` pass without any approval,
    /// as the bot does (refused by default).
    #[arg(long)]
    allow_no_approval: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

pub(crate) fn run(args: MergeRulesArgs) -> u8 {
    match args.command {
        MergeRulesCommand::Lint(a) => run_lint(a),
        MergeRulesCommand::Check(a) => run_check(a),
    }
}

fn mode(c: Option<Compat>) -> Mode {
    match c {
        Some(Compat::Pytorch) => Mode::Pytorch,
        None => Mode::Strict,
    }
}

fn read_rules(path: &Path) -> Result<Vec<MergeRule>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse(&text).map_err(|e| format!("{}: {e}", path.display()))
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, String> {
    let text = if path == Path::new("-") {
        std::io::read_to_string(std::io::stdin()).map_err(|e| format!("standard input: {e}"))?
    } else {
        std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?
    };
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

fn fail(msg: &str) -> u8 {
    eprintln!("airlock: {msg}");
    EXIT_ERROR
}

fn run_lint(a: LintArgs) -> u8 {
    let source = match std::fs::read_to_string(&a.rules) {
        Ok(t) => t,
        Err(e) => return fail(&format!("{}: {e}", a.rules.display())),
    };
    let mut findings = match parse(&source) {
        Ok(rules) => {
            let teams: Option<BTreeMap<String, Vec<String>>> = match &a.teams {
                Some(p) => match read_json(p) {
                    Ok(t) => Some(t),
                    Err(e) => return fail(&e),
                },
                None => None,
            };
            let opts = LintOptions {
                mode: mode(a.compat),
                teams,
            };
            lint(&rules, &opts)
        }
        Err(e) => {
            let line = match &e {
                RulesError::Shape { line, .. } => u32::try_from(*line).unwrap_or(1),
                _ => 1,
            };
            vec![Finding::new(Rule::MergeRulesInvalid, e.to_string()).at(line, 1)]
        }
    };
    let ignores = report::suppressions(&source);
    let before = findings.len();
    findings.retain(|f| !report::suppressed(&ignores, f));
    let r = CiReport {
        path: a.rules.display().to_string(),
        kind: "merge-rules",
        verdict: Verdict::from_findings(&findings),
        suppressed: before - findings.len(),
        findings,
        source,
    };
    let reports = [r];
    // Rule-file findings are all shown: none is a mere note here.
    let text = render(&reports, a.format, true, color_for(a.color, false));
    if let Err(f) = output::emit(&text) {
        return f.exit();
    }
    exit_code(&reports)
}

fn run_check(a: CheckArgs) -> u8 {
    let rules = match read_rules(&a.rules) {
        Ok(r) => r,
        Err(e) => return fail(&e),
    };
    let pr = match (&a.pr, &a.github) {
        (Some(path), _) => read_json::<PullRequest>(path),
        (None, Some(target)) => fetch(target, &a.github_api, &rules),
        (None, None) => Err("give --pr or --github".into()),
    };
    let pr = match pr {
        Ok(p) => p,
        Err(e) => return fail(&e),
    };
    let opts = EvalOptions {
        mode: mode(a.compat),
        allow_no_approval: a.allow_no_approval,
    };
    let e = match evaluate(&rules, &pr, opts) {
        Ok(e) => e,
        Err(err) => return fail(&format!("{}: {err}", a.rules.display())),
    };
    let text = match a.format {
        Format::Json => format!("{}\n", serde_json::to_string_pretty(&e).unwrap_or_default()),
        Format::Text => check_text(&e),
    };
    if let Err(f) = output::emit(&text) {
        return f.exit();
    }
    if e.merged_by.is_some() { 0 } else { 1 }
}

/// The pull request `owner/repo#N` from GitHub, with the members of every
/// team the rules name.
fn fetch(target: &str, api: &str, rules: &[MergeRule]) -> Result<PullRequest, String> {
    let (repo, number) = parse_target(target).map_err(|e| e.to_string())?;
    let mut teams: Vec<String> = rules
        .iter()
        .flat_map(|r| r.approved_by.iter().filter(|a| a.contains('/')).cloned())
        .collect();
    teams.sort();
    teams.dedup();
    GitHub::new(api, GitHub::token_from_env())
        .pull_request(&repo, number, &teams)
        .map_err(|e| e.to_string())
}

fn check_text(e: &Evaluation) -> String {
    match (&e.merged_by, &e.closest) {
        (Some(rule), _) => format!("mergeable: rule {rule:?} passes\n"),
        (None, Some(c)) => format!(
            "not mergeable: no rule passes; closest: rule {:?} (line {}): {}\n",
            c.rule,
            c.line,
            c.missing.as_deref().unwrap_or("")
        ),
        (None, None) => "not mergeable: no rules\n".to_string(),
    }
}
