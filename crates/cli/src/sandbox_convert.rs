//! `airlock convert --sandbox`: checkpoints the native converter refuses
//! because they hold objects only code can build (custom classes) are
//! loaded by the real `torch.load(weights_only=False)` inside `airlock run`
//! (the input readable, a fresh output folder writable, no network), and
//! the safetensors file it writes is scanned before it is kept.

use std::path::{Path, PathBuf};

use airlock_policy::Verdict;

/// The script run inside the sandbox.
pub(crate) const SCRIPT: &str = include_str!("sandbox_convert.py");

/// How to run the conversion.
pub(crate) struct Options {
    /// A virtualenv folder or a Python executable, with torch and
    /// safetensors.
    pub python: PathBuf,
    /// More read-only paths (the code defining the classes).
    pub ro: Vec<PathBuf>,
    /// Environment to pass (`PYTHONPATH=...`).
    pub env: Vec<String>,
    /// Wall-clock limit, seconds.
    pub wall_time: u64,
    /// Whether an existing output may be replaced.
    pub existing: airlock_tensors::write::Existing,
    /// How to start `airlock run`.
    pub launcher: crate::Launcher,
}

/// The interpreter of a virtualenv folder, or the executable given.
pub(crate) fn python(p: &Path) -> PathBuf {
    if p.is_dir() {
        p.join("bin").join("python")
    } else {
        p.to_path_buf()
    }
}

/// Convert `input` to the safetensors file `output` in the sandbox.
pub(crate) fn convert(
    input: &Path,
    output: &Path,
    opts: &Options,
) -> Result<airlock_convert::Converted, String> {
    let scanned = airlock_scan::scan_path(
        input,
        &input.display().to_string(),
        &airlock_scan::Options::default(),
    );
    let tensors = convert_inner(input, output, opts)?;
    let bytes = std::fs::metadata(output).map(|m| m.len()).unwrap_or(0);
    Ok(airlock_convert::Converted {
        input: input.display().to_string(),
        output: output.display().to_string(),
        format: scanned.format.name(),
        verdict: scanned.verdict.name(),
        tensors,
        bytes,
        transformations: vec![airlock_tensors::model::Transformation {
            path: "<root>".into(),
            what: "loaded by torch.load(weights_only=False) inside the sandbox; tensors kept under their dotted paths, other values left out".into(),
        }],
        tensor_bytes: 0,
    })
}

fn convert_inner(input: &Path, output: &Path, opts: &Options) -> Result<usize, String> {
    let input = std::fs::canonicalize(input).map_err(|e| format!("{}: {e}", input.display()))?;
    let parent = output
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    sweep_stale_work_dirs(parent);
    let work = parent.join(format!("{WORK_PREFIX}{}", std::process::id()));
    std::fs::create_dir(&work).map_err(|e| format!("cannot create {}: {e}", work.display()))?;
    let work = std::fs::canonicalize(&work).map_err(|e| e.to_string())?;
    let result = run(&input, &work, output, opts);
    let _ = std::fs::remove_dir_all(&work);
    result
}

/// The sandbox's writable folder next to the output: this prefix and the
/// pid of the airlock process that made it.
const WORK_PREFIX: &str = ".airlock-sandbox-";

/// Remove the work folders of airlock processes that no longer exist (a
/// conversion killed before it could clean up).
fn sweep_stale_work_dirs(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(WORK_PREFIX))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        let alive = Path::new(&format!("/proc/{pid}")).exists();
        if !alive && entry.file_type().is_ok_and(|t| t.is_dir()) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fn run(input: &Path, work: &Path, output: &Path, opts: &Options) -> Result<usize, String> {
    let out_file = work.join("model.safetensors");
    // A fresh process: the sandbox forks, which wants a single thread.
    let mut cmd = opts.launcher.command()?;
    cmd.arg("run").arg("--ro").arg(input).arg("--rw").arg(work);
    for p in &opts.ro {
        cmd.arg("--ro").arg(p);
    }
    for e in &opts.env {
        cmd.arg("--env").arg(e);
    }
    cmd.arg("--wall-time").arg(opts.wall_time.to_string());
    cmd.arg("--")
        .arg(python(&opts.python))
        .arg("-c")
        .arg(SCRIPT)
        .arg(input)
        .arg(&out_file);
    let o = cmd
        .output()
        .map_err(|e| format!("cannot start the sandbox: {e}"))?;
    if !o.status.success() {
        let err = String::from_utf8_lossy(&o.stderr);
        let last: Vec<&str> = err
            .lines()
            .rev()
            .take(6)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        return Err(format!(
            "the sandboxed torch.load failed (exit {}):\n    {}",
            o.status
                .code()
                .map_or("by a signal".into(), |c| c.to_string()),
            last.join("\n    ")
        ));
    }
    let stdout = String::from_utf8_lossy(&o.stdout);
    let tensors = stdout
        .lines()
        .rev()
        .find_map(|l| {
            l.strip_suffix(" tensors")
                .and_then(|n| n.trim().parse().ok())
        })
        .unwrap_or(0);
    let report = airlock_scan::scan_path(
        &out_file,
        &out_file.display().to_string(),
        &airlock_scan::Options::default(),
    );
    if report.verdict != Verdict::Safe
        || report.format != airlock_formats::sniff::Format::Safetensors
    {
        return Err(format!(
            "the sandbox's output is not a safe safetensors file ({}), so it is not kept",
            report.verdict
        ));
    }
    keep(&out_file, output, opts.existing)?;
    Ok(tensors)
}

/// Copy the sandbox's output to `output` as every native output is
/// written: whole or not at all, with the usual file mode, and over an
/// existing file only when allowed.
fn keep(
    made: &Path,
    output: &Path,
    existing: airlock_tensors::write::Existing,
) -> Result<(), String> {
    let fail = |e: &dyn std::fmt::Display| format!("cannot write {}: {e}", output.display());
    let mut out = airlock_tensors::write::AtomicFile::create_with(output, &[made], existing)
        .map_err(|e| fail(&e))?;
    let mut from = std::fs::File::open(made).map_err(|e| fail(&e))?;
    let mut to = out.as_file().map_err(|e| fail(&e))?;
    std::io::copy(&mut from, &mut to).map_err(|e| fail(&e))?;
    out.commit().map_err(|e| fail(&e))
}
