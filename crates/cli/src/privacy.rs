//! `airlock privacy audit|report`: how much of its training data a model
//! gives away. The audit runs a spec of the caller's (a Python file that
//! loads the model and its data, see `python -m airlock.privacy --help`)
//! with the Python package's `airlock.privacy`, in the sandbox by default
//! (no network; only the spec's folder, the Python and `--ro` paths
//! readable); its document is judged and rendered here
//! (`airlock_privacy::audit`).

use std::path::{Path, PathBuf};

use airlock_privacy::{audit, audit_html};
use clap::ValueEnum;
use serde_json::Value as Json;

use crate::output::{EXIT_ERROR, ReportFile};

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
    Sarif,
    Html,
}

#[derive(clap::Args)]
pub(crate) struct PrivacyArgs {
    #[command(subcommand)]
    command: PrivacyCommand,
}

#[derive(clap::Subcommand)]
enum PrivacyCommand {
    /// Run the memorisation audit a spec describes (membership inference,
    /// canary exposure, extraction) and judge it.
    Audit(AuditArgs),
    /// Judge and render an audit document again (`--format json` output,
    /// or the document the audit wrote), under other limits.
    Report(ReportArgs),
}

#[derive(clap::Args, Clone, Copy)]
struct LimitArgs {
    /// Highest ROC AUC of a membership attack.
    #[arg(long, default_value_t = 0.6)]
    max_auc: f64,
    /// Highest share of members found at 1% false positives.
    #[arg(long, default_value_t = 0.05)]
    max_tpr_at_1: f64,
    /// Highest canary exposure, bits (1,000 candidates measure up to about
    /// 10).
    #[arg(long, default_value_t = 8.0)]
    max_exposure: f64,
    /// Highest share of training texts extracted verbatim.
    #[arg(long, default_value_t = 0.0)]
    max_extraction: f64,
}

impl LimitArgs {
    fn limits(self) -> audit::Limits {
        audit::Limits {
            max_auc: self.max_auc,
            max_tpr_at_1: self.max_tpr_at_1,
            max_exposure: self.max_exposure,
            max_extraction: self.max_extraction,
        }
    }
}

/// The limits and the report, for both subcommands.
#[derive(clap::Args)]
struct RenderArgs {
    #[command(flatten)]
    limits: LimitArgs,
    /// The report's format.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    #[command(flatten)]
    report: ReportFile,
}

#[derive(clap::Args)]
struct AuditArgs {
    /// The spec: a Python file defining model(), members(), nonmembers(),
    /// train(examples), texts(), ... (python -m airlock.privacy --help).
    spec: PathBuf,
    /// The Python to run it with (a virtualenv folder or an executable)
    /// with torch, the model's libraries and airlock-scan installed.
    #[arg(long, value_name = "VENV|PYTHON", default_value = "python3")]
    python: PathBuf,
    /// Also make this path readable in the sandbox (data, weights, code the
    /// spec loads); repeatable.
    #[arg(long, value_name = "PATH")]
    ro: Vec<PathBuf>,
    /// Run the spec without the sandbox (still without asking for network).
    #[arg(long)]
    no_sandbox: bool,
    /// Wall-clock limit of the audit, seconds.
    #[arg(long, value_name = "SECS", default_value_t = 3600)]
    wall_time: u64,
    #[command(flatten)]
    out: RenderArgs,
    #[arg(skip)]
    pub launcher: crate::Launcher,
}

#[derive(clap::Args)]
struct ReportArgs {
    /// An audit document, or a `--format json` report holding one.
    document: PathBuf,
    #[command(flatten)]
    out: RenderArgs,
}

/// Run `airlock privacy`.
pub(crate) fn run(args: PrivacyArgs, launcher: crate::Launcher) -> u8 {
    match args.command {
        PrivacyCommand::Audit(mut a) => {
            a.launcher = launcher;
            run_audit(&a)
        }
        PrivacyCommand::Report(r) => match read_document(&r.document) {
            Ok(doc) => render(&doc, &r.out, &r.document),
            Err(e) => {
                eprintln!("airlock privacy report: {e}");
                EXIT_ERROR
            }
        },
    }
}

fn run_audit(a: &AuditArgs) -> u8 {
    if let Err(f) = a.out.report.check(&[&a.spec]) {
        return f.exit();
    }
    let work = std::env::temp_dir().join(format!("airlock-privacy-{}", std::process::id()));
    let result = std::fs::create_dir_all(&work)
        .map_err(|e| format!("cannot create {}: {e}", work.display()))
        .and_then(|()| run_spec(a, &work))
        .and_then(|()| read_document(&work.join("audit.json")));
    let _ = std::fs::remove_dir_all(&work);
    match result {
        Ok(doc) => render(&doc, &a.out, &a.spec),
        Err(e) => {
            eprintln!("airlock privacy audit: {e}");
            EXIT_ERROR
        }
    }
}

/// `python -m airlock.privacy SPEC --out WORK/audit.json`, sandboxed unless
/// asked otherwise.
fn run_spec(a: &AuditArgs, work: &Path) -> Result<(), String> {
    let spec = std::fs::canonicalize(&a.spec).map_err(|e| format!("{}: {e}", a.spec.display()))?;
    let python = crate::sandbox_convert::python(&a.python);
    let out = work.join("audit.json");
    let mut cmd = if a.no_sandbox {
        std::process::Command::new(&python)
    } else {
        let mut c = a.launcher.command()?;
        c.arg("run").arg("--rw").arg(work);
        for p in std::iter::once(spec.parent().unwrap_or(Path::new("/")).to_path_buf())
            .chain(python_paths(&python))
            .chain(a.ro.iter().cloned())
        {
            c.arg("--ro").arg(p);
        }
        c.arg("--wall-time").arg(a.wall_time.to_string());
        c.arg("--").arg(&python);
        c
    };
    cmd.args(["-m", "airlock.privacy"])
        .arg(&spec)
        .arg("--out")
        .arg(&out);
    let status = cmd
        .status()
        .map_err(|e| format!("cannot start {}: {e}", python.display()))?;
    if !status.success() {
        return Err(format!(
            "the audit of {} failed (exit {}); its error is above",
            a.spec.display(),
            status
                .code()
                .map_or("by a signal".into(), |c| c.to_string())
        ));
    }
    Ok(())
}

/// What a Python needs readable: its virtualenv and the installation the
/// virtualenv was made from (`home` in `pyvenv.cfg`).
fn python_paths(python: &Path) -> Vec<PathBuf> {
    let Some(venv) = python.parent().and_then(Path::parent) else {
        return Vec::new();
    };
    let Ok(cfg) = std::fs::read_to_string(venv.join("pyvenv.cfg")) else {
        return Vec::new();
    };
    let mut out = vec![venv.to_path_buf()];
    for line in cfg.lines() {
        if let Some((k, v)) = line.split_once('=') {
            if k.trim() == "home" {
                out.extend(Path::new(v.trim()).parent().map(Path::to_path_buf));
            }
        }
    }
    out
}

fn read_document(path: &Path) -> Result<Json, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let v: Json =
        serde_json::from_slice(&bytes).map_err(|e| format!("{}: not JSON: {e}", path.display()))?;
    let doc = v.get("audit").cloned().unwrap_or(v);
    if doc["schema"].as_str() != Some("airlock-privacy-audit/1") {
        return Err(format!(
            "{}: not an airlock privacy audit document",
            path.display()
        ));
    }
    Ok(doc)
}

fn render(doc: &Json, out: &RenderArgs, input: &Path) -> u8 {
    let (limits, format, report) = (out.limits.limits(), out.format, &out.report);
    let findings = audit::judge(doc, &limits);
    let pretty = |v: &Json| serde_json::to_string_pretty(v).expect("serialises") + "\n";
    let text = match format {
        Format::Text => audit::to_text(doc, &findings),
        Format::Json => pretty(&audit::to_json(doc, &limits, &findings)),
        Format::Sarif => pretty(&audit::to_sarif(&findings, &input.display().to_string())),
        Format::Html => audit_html::to_html(doc, &limits, &findings),
    };
    if let Err(f) = report.write(&[input], &text) {
        return f.exit();
    }
    u8::from(!findings.is_empty())
}
