//! `airlock ci`: a repository's CI/CD and release pipelines checked against
//! PyTorch's CI/CD security principles (GitHub Actions workflows), and the
//! path-based merge rules of its merge bot (`merge_rules.yaml`).
//!
//! - [`discover`] finds the workflows under a path and [`load`] reads them,
//!   with the local composite actions and reusable workflows they use;
//! - each file is parsed twice: by `github-actions-models` (what it means)
//!   and by [`yaml`] (where each node is written);
//! - [`audit`] runs the rules (`CI0001`..) and gives one [`CiReport`] per
//!   file, findings located by line and column, inline suppressions
//!   (`# airlock: ignore[CI0004]`) applied;
//! - [`report`] renders text with source snippets, JSON, SARIF 2.1.0 and
//!   GitHub workflow commands;
//! - [`merge_rules`] reads a merge bot's path-based rules, lints them and
//!   applies them to pull requests; [`github`] fetches pull requests and
//!   team members read-only, and [`online`] audits the repository's settings.
#![forbid(unsafe_code)]

mod audit;
pub mod compose;
pub mod config;
pub mod dockerfile;
pub mod github;
pub mod merge_rules;
pub mod online;
pub mod report;
pub mod shell;
pub mod yaml;

use std::path::{Component, Path, PathBuf};

use airlock_policy::{Finding, Rule, Verdict};
use github_actions_models::{action::Action, workflow::Workflow};

pub use config::Config;

/// Largest file read, in bytes.
pub const MAX_FILE_BYTES: u64 = 8 << 20;

/// What kind of file a report is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// A workflow (`.github/workflows/*.yml`).
    Workflow,
    /// A local action (`action.yml`).
    Action,
    /// A shell script of the repository a `run:` step calls.
    Script,
}

impl FileKind {
    /// Lower-case name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            FileKind::Workflow => "workflow",
            FileKind::Action => "action",
            FileKind::Script => "script",
        }
    }
}

/// The audit of one file.
#[derive(Debug, Clone)]
pub struct CiReport {
    /// The path as shown (relative to the working directory when given so).
    pub path: String,
    /// What the file is: `workflow`, `action`, `script` ([`FileKind::name`]),
    /// `dockerfile`, `compose`, `merge-rules`, or `settings` (a
    /// repository's, read online).
    pub kind: &'static str,
    /// The verdict the findings add up to.
    pub verdict: Verdict,
    /// The findings, in source order.
    pub findings: Vec<Finding>,
    /// Findings an inline `# airlock: ignore[...]` comment suppressed.
    pub suppressed: usize,
    /// The file's text (for snippets).
    pub source: String,
}

/// A file read for the audit.
#[derive(Debug)]
pub(crate) struct Doc {
    pub path: String,
    pub kind: FileKind,
    pub source: String,
    pub root: Option<yaml::Node>,
    pub parsed: Parsed,
}

#[derive(Debug)]
pub(crate) enum Parsed {
    Workflow(Box<Workflow>),
    Action(Box<Action>),
    /// A shell script: its located tree is `{run: <text>}`.
    Script,
    Failed,
}

/// The files an audit starts from.
#[derive(Debug, Clone, Default)]
pub struct Targets {
    /// The repository root (where `./` in `uses:` points), when known.
    pub root: Option<PathBuf>,
    /// Workflow files: the path to read and the path to show.
    pub workflows: Vec<(PathBuf, String)>,
}

fn display(p: &Path) -> String {
    let s = p.to_string_lossy();
    s.strip_prefix("./").unwrap_or(&s).to_string()
}

fn is_yaml(p: &Path) -> bool {
    matches!(p.extension().and_then(|e| e.to_str()), Some("yml" | "yaml"))
}

fn yaml_files(dir: &Path) -> Result<Vec<(PathBuf, String)>, String> {
    let rd = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", display(dir)))?;
    let mut out: Vec<(PathBuf, String)> = rd
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| is_yaml(p) && p.is_file())
        .map(|p| {
            let d = display(&p);
            (p, d)
        })
        .collect();
    out.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(out)
}

/// The workflows under `path`: a workflow file itself; a folder's
/// `.github/workflows/*.yml|yaml`; a `.github/workflows` folder; or else
/// the YAML files directly in the folder.
pub fn discover(path: &Path) -> Result<Targets, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", display(path)))?;
    if meta.is_file() {
        let root = path
            .parent()
            .filter(|p| p.file_name().is_some_and(|n| n == "workflows"))
            .and_then(Path::parent)
            .filter(|p| p.file_name().is_some_and(|n| n == ".github"))
            .and_then(Path::parent)
            .map(|p| {
                if p.as_os_str().is_empty() {
                    PathBuf::from(".")
                } else {
                    p.to_path_buf()
                }
            });
        return Ok(Targets {
            root,
            workflows: vec![(path.to_path_buf(), display(path))],
        });
    }
    let wf = path.join(".github").join("workflows");
    if wf.is_dir() {
        return Ok(Targets {
            root: Some(path.to_path_buf()),
            workflows: yaml_files(&wf)?,
        });
    }
    if path.ends_with(".github/workflows") {
        return Ok(Targets {
            root: path.parent().and_then(Path::parent).map(Path::to_path_buf),
            workflows: yaml_files(path)?,
        });
    }
    Ok(Targets {
        root: None,
        workflows: yaml_files(path)?,
    })
}

/// The configuration for `targets`: `.github/airlock.toml` of the
/// repository root when it exists, else the defaults.
pub fn default_config(targets: &Targets) -> Result<Config, String> {
    let Some(root) = &targets.root else {
        return Ok(Config::default());
    };
    let p = root.join(".github").join("airlock.toml");
    match std::fs::read_to_string(&p) {
        Ok(text) => Config::parse(&text).map_err(|e| format!("{}: {e}", display(&p))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
        Err(e) => Err(format!("{}: {e}", display(&p))),
    }
}

/// Read a file (bounded), parse it as `kind`. Problems are CI0001
/// findings, returned with the document.
pub(crate) fn read_doc(fs: &Path, path: String, kind: FileKind) -> (Doc, Option<Finding>) {
    let mut doc = Doc {
        path,
        kind,
        source: String::new(),
        root: None,
        parsed: Parsed::Failed,
    };
    let fail = |msg: String, line: u32, col: u32| {
        Some(Finding::new(Rule::CiParseError, msg).at(line, col))
    };
    match std::fs::metadata(fs) {
        Ok(m) if !m.is_file() => return (doc, fail("not a regular file".into(), 1, 1)),
        Ok(m) if m.len() > MAX_FILE_BYTES => {
            return (
                doc,
                fail(
                    format!("{} bytes: larger than {MAX_FILE_BYTES}", m.len()),
                    1,
                    1,
                ),
            );
        }
        Err(e) => return (doc, fail(format!("cannot read: {e}"), 1, 1)),
        _ => {}
    }
    let bytes = match std::fs::read(fs) {
        Ok(b) => b,
        Err(e) => return (doc, fail(format!("cannot read: {e}"), 1, 1)),
    };
    let source = match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(_) => return (doc, fail("not UTF-8 text".into(), 1, 1)),
    };
    doc.source = source;
    match yaml::parse(&doc.source) {
        Ok(Some(root)) => doc.root = Some(root),
        Ok(None) => return (doc, fail("empty file".into(), 1, 1)),
        Err(e) => {
            let msg = format!("malformed YAML: {}", e.message);
            return (doc, fail(msg, e.line, e.column));
        }
    }
    let parsed = std::panic::catch_unwind(|| typed(&doc.source, kind));
    match parsed {
        Ok(Ok(p)) => {
            doc.parsed = p;
            (doc, None)
        }
        Ok(Err(e)) => {
            let (line, col) = e
                .location()
                .map_or((1, 1), |l| (l.line() as u32, l.column() as u32));
            let what = match kind {
                FileKind::Workflow => "not a valid GitHub Actions workflow",
                FileKind::Action | FileKind::Script => "not a valid GitHub Actions action",
            };
            (doc, fail(format!("{what}: {e}"), line.max(1), col.max(1)))
        }
        Err(_) => (
            doc,
            fail("the workflow model failed on this file".into(), 1, 1),
        ),
    }
}

/// The typed model of a workflow or action. GitHub reads a scalar as a
/// string where its schema wants one (`concurrency: {group: 1}` is the
/// group "1"); the model wants a YAML string there, so a file it refuses is
/// read once more with those scalars as strings (concurrency groups, at the
/// top and in jobs), and the first error is kept if that fails too.
fn typed(source: &str, kind: FileKind) -> Result<Parsed, yaml_serde::Error> {
    let first = match kind {
        FileKind::Script => return Ok(Parsed::Script),
        FileKind::Workflow => {
            yaml_serde::from_str::<Workflow>(source).map(|w| Parsed::Workflow(Box::new(w)))
        }
        FileKind::Action => {
            yaml_serde::from_str::<Action>(source).map(|a| Parsed::Action(Box::new(a)))
        }
    };
    let Err(e) = first else { return first };
    let Ok(mut v) = yaml_serde::from_str::<yaml_serde::Value>(source) else {
        return Err(e);
    };
    if kind != FileKind::Workflow || !string_groups(&mut v) {
        return Err(e);
    }
    yaml_serde::from_value::<Workflow>(v)
        .map(|w| Parsed::Workflow(Box::new(w)))
        .map_err(|_| e)
}

/// Concurrency groups written as numbers or booleans, made strings:
/// whether any was.
fn string_groups(v: &mut yaml_serde::Value) -> bool {
    use yaml_serde::Value;
    fn fix(c: Option<&mut Value>) -> bool {
        let group = match c {
            Some(Value::Mapping(m)) => m.get_mut("group"),
            Some(other) => Some(other),
            None => None,
        };
        match group {
            Some(g @ (Value::Number(_) | Value::Bool(_))) => {
                let s = match &*g {
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    _ => unreachable!("matched above"),
                };
                *g = Value::String(s);
                true
            }
            _ => false,
        }
    }
    let mut changed = fix(v.get_mut("concurrency"));
    if let Some(Value::Mapping(jobs)) = v.get_mut("jobs") {
        for job in jobs.values_mut() {
            changed |= fix(job.get_mut("concurrency"));
        }
    }
    changed
}

/// Whether `p` is a regular file of the checkout within the size bound
/// (not a link, which could lead out of the checkout, not a device or a
/// pipe).
pub(crate) fn is_checkout_file(p: &Path) -> bool {
    std::fs::symlink_metadata(p).is_ok_and(|m| m.is_file() && m.len() <= MAX_FILE_BYTES)
}

/// The text of the checkout file `root/rel` ([`is_checkout_file`], UTF-8),
/// or `None`.
pub(crate) fn read_checkout_file(root: &Path, rel: &str) -> Option<String> {
    let fs = root.join(rel);
    if !is_checkout_file(&fs) {
        return None;
    }
    std::fs::read_to_string(&fs).ok()
}

/// The repository path of `parts` joined (`a/b`, `../c`), normalised
/// (`""` for the root); `None` when it leaves the repository.
pub(crate) fn join_repo_path<'a>(parts: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let mut out: Vec<&str> = Vec::new();
    for part in parts {
        for p in part.split('/') {
            match p {
                "" | "." => {}
                ".." => {
                    out.pop()?;
                }
                p => out.push(p),
            }
        }
    }
    Some(out.join("/"))
}

impl CiReport {
    /// The report of a file read beside the workflows (a Dockerfile, a
    /// compose file), with no inline suppressions.
    pub(crate) fn of_file(
        path: String,
        kind: &'static str,
        findings: Vec<Finding>,
        source: String,
    ) -> Self {
        CiReport {
            path,
            kind,
            verdict: Verdict::from_findings(&findings),
            findings,
            suppressed: 0,
            source,
        }
    }
}

/// A repository-relative path of a local `uses: ./x`, refused when it
/// leaves the repository.
pub(crate) fn local_path(uses: &str) -> Option<PathBuf> {
    let rel = Path::new(uses.trim().strip_prefix("./")?);
    if rel
        .components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
    {
        Some(rel.to_path_buf())
    } else {
        None
    }
}

/// Audit the workflows of `targets` with `config`: one report per file
/// read (workflows first, in path order, then the local actions and
/// reusable workflows they use).
pub fn audit(targets: &Targets, config: &Config) -> Vec<CiReport> {
    audit::run(targets, config)
}

/// Counts of report verdicts, for the exit status.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Files.
    pub files: usize,
    /// Files without findings that matter.
    pub safe: usize,
    /// Files with suspicious findings only.
    pub suspicious: usize,
    /// Files with dangerous findings.
    pub dangerous: usize,
    /// Files that could not be audited.
    pub error: usize,
    /// Findings shown.
    pub findings: usize,
    /// Findings suppressed inline.
    pub suppressed: usize,
}

impl Counts {
    /// Count `reports`.
    pub fn of(reports: &[CiReport]) -> Counts {
        let mut c = Counts {
            files: reports.len(),
            ..Counts::default()
        };
        for r in reports {
            match r.verdict {
                Verdict::Safe => c.safe += 1,
                Verdict::Suspicious => c.suspicious += 1,
                Verdict::Dangerous => c.dangerous += 1,
                Verdict::Error => c.error += 1,
            }
            c.findings += r.findings.len();
            c.suppressed += r.suppressed;
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_numeric_concurrency_group_is_a_string_as_github_reads_it() {
        let src = "on: push\nconcurrency:\n  group: 1\n  cancel-in-progress: true\njobs:\n  a:\n    runs-on: ubuntu-latest\n    concurrency: 2\n    steps:\n      - run: make\n";
        assert!(matches!(
            typed(src, FileKind::Workflow),
            Ok(Parsed::Workflow(_))
        ));
        // Other errors stay errors.
        let bad = "on: push\nconcurrency:\n  group: 1\njobs: 3\n";
        assert!(typed(bad, FileKind::Workflow).is_err());
    }
}
