//! `airlock convert` and `airlock inspect`.

use std::path::PathBuf;

use airlock_convert::{
    ConvertError, ConvertOptions, Converted, FolderOutcome, Target, convert_file, convert_folder,
    shards,
};
use airlock_policy::Verdict;
use airlock_scan::Options;
use airlock_tensors::write::Existing;
use clap::ValueEnum;

use crate::output::{self, EXIT_ERROR, Stdout};
use crate::sandbox_convert;

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum ConvertTarget {
    /// safetensors (tensors under dotted names, other values as JSON in __metadata__).
    Safetensors,
    /// A torch ZIP checkpoint that torch.load(weights_only=True) loads.
    Pt,
}

#[derive(clap::Args)]
pub(crate) struct ConvertArgs {
    /// A checkpoint file, a folder of them, or a distributed checkpoint's
    /// folder (torch.distributed.checkpoint: .metadata and .distcp files).
    input: PathBuf,
    /// Output file (for a file, or a distributed checkpoint's folder) or
    /// folder (for a folder); by default next to the input, named for the
    /// target format.
    #[arg(short, long, value_name = "PATH")]
    output: Option<PathBuf>,
    /// What to write.
    #[arg(long, value_enum, default_value = "safetensors")]
    to: ConvertTarget,
    /// Write a JSON report of every conversion, refusal and transformation.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// Replace outputs (and the --report file) that already exist; without
    /// it an existing file is never replaced.
    #[arg(long)]
    force: bool,
    /// Leave out non-tensor values that do not fit safetensors' metadata
    /// (1 MiB) instead of refusing the file.
    #[arg(long)]
    drop_large_metadata: bool,
    /// A folder converted into another folder: write only the converted
    /// checkpoints. Without it, the files of no model format that are not
    /// code (config.json, tokenizer files, generation_config.json, model
    /// cards) and the safetensors files that scan safe are copied too, so
    /// the output folder loads as the input did.
    #[arg(long)]
    only_models: bool,
    /// Show every transformation, and every file a folder conversion
    /// leaves alone or copies.
    #[arg(short, long)]
    verbose: bool,
    /// For a checkpoint the native converter refuses because it holds
    /// objects only code can build (custom classes): load it with the real
    /// torch.load(weights_only=False) inside `airlock run` (the input
    /// readable, a fresh output folder writable, no network), and keep the
    /// safetensors file only if it scans safe. Files the scan calls
    /// dangerous are still refused. Single files, to safetensors.
    #[arg(long, requires = "python")]
    sandbox: bool,
    /// With --sandbox: the Python to run, a virtualenv folder or an
    /// executable, with torch and safetensors installed.
    #[arg(long, value_name = "VENV|PYTHON")]
    python: Option<PathBuf>,
    /// With --sandbox: also make this path readable (the code that defines
    /// the checkpoint's classes); repeatable.
    #[arg(long, value_name = "PATH", requires = "sandbox")]
    sandbox_ro: Vec<PathBuf>,
    /// With --sandbox: pass this environment variable (NAME or
    /// NAME=VALUE, e.g. PYTHONPATH=/src); repeatable.
    #[arg(long, value_name = "NAME[=VALUE]", requires = "sandbox")]
    sandbox_env: Vec<String>,
    /// With --sandbox: the wall-clock limit, seconds.
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 3600,
        requires = "sandbox"
    )]
    sandbox_wall_time: u64,
    /// The command that starts this `airlock` again (see
    /// [`crate::Launcher`]).
    #[arg(skip)]
    pub(crate) launcher: crate::Launcher,
}

#[derive(clap::Args)]
pub(crate) struct InspectArgs {
    /// The file, or a distributed checkpoint's folder.
    file: PathBuf,
    /// Output format.
    #[arg(short, long, value_enum, default_value = "text")]
    format: InspectFormat,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum InspectFormat {
    /// Human-readable.
    Text,
    /// JSON.
    Json,
}

/// What a conversion run did, for the messages, the report and the exit
/// status.
#[derive(Default)]
struct Outcome {
    folder: FolderOutcome,
    /// Some file was refused because the scan called it dangerous.
    dangerous: bool,
}

pub(crate) fn convert(args: ConvertArgs) -> u8 {
    if let Some(path) = &args.report {
        if let Err(f) = output::check_new(path, &[&args.input], args.force) {
            return f.exit();
        }
    }
    let opts = options(&args);
    // A distributed checkpoint's folder is one checkpoint, converted into
    // one file.
    let dcp = args.input.is_dir()
        && airlock_convert::dcp::checkpoint_metadata(&args.input, &opts.scan.limits).is_some();
    let outcome = if dcp {
        convert_dcp(&args, &opts)
    } else if args.input.is_dir() {
        convert_dir(&args, &opts)
    } else {
        convert_one(&args, &opts)
    };
    let mut out = Stdout::new();
    print_outcome(
        &mut out,
        &outcome.folder,
        args.verbose,
        args.input.is_dir() && !dcp,
    );
    if let Some(path) = &args.report {
        let text = report_json(&outcome.folder);
        if let Err(f) = output::write_file(path, &[&args.input], text.as_bytes(), args.force) {
            return f.exit();
        }
    }
    if let Err(f) = out.finish() {
        return f.exit();
    }
    let o = &outcome.folder;
    if o.converted.is_empty() && o.failed.is_empty() {
        eprintln!(
            "airlock: no checkpoint to convert in {}",
            args.input.display()
        );
        return EXIT_ERROR;
    }
    if outcome.dangerous {
        1
    } else if !o.failed.is_empty() {
        EXIT_ERROR
    } else {
        0
    }
}

fn options(args: &ConvertArgs) -> ConvertOptions {
    let mut opts = ConvertOptions {
        to: target(args.to),
        existing: if args.force {
            Existing::Replace
        } else {
            Existing::Refuse
        },
        copy_other_files: !args.only_models,
        ..ConvertOptions::default()
    };
    if args.drop_large_metadata {
        opts.safetensors.overflow = airlock_tensors::write::MetadataOverflow::Drop;
    }
    opts
}

fn target(t: ConvertTarget) -> Target {
    match t {
        ConvertTarget::Safetensors => Target::Safetensors,
        ConvertTarget::Pt => Target::Pt,
    }
}

fn convert_dir(args: &ConvertArgs, opts: &ConvertOptions) -> Outcome {
    let out_dir = args.output.clone().unwrap_or_else(|| args.input.clone());
    let folder = match convert_folder(&args.input, &out_dir, opts) {
        Ok(o) => o,
        Err(e) => FolderOutcome {
            failed: vec![(args.input.display().to_string(), e.to_string())],
            ..FolderOutcome::default()
        },
    };
    let dangerous = folder
        .failed
        .iter()
        .any(|(_, why)| why.starts_with("refused: the scan says dangerous"));
    Outcome { folder, dangerous }
}

/// A distributed checkpoint's folder into one file: `-o` (a folder gets
/// the default name inside it), or `<folder>.<ext>` beside the folder.
fn convert_dcp(args: &ConvertArgs, opts: &ConvertOptions) -> Outcome {
    let name =
        airlock_convert::dcp::output_name(&airlock_convert::dcp::folder_name(&args.input), opts.to);
    let output = match &args.output {
        Some(o) if o.is_dir() => o.join(&name),
        Some(o) => o.clone(),
        None => {
            let parent = args
                .input
                .canonicalize()
                .ok()
                .and_then(|c| c.parent().map(PathBuf::from));
            parent.unwrap_or_default().join(&name)
        }
    };
    let mut outcome = Outcome::default();
    match airlock_convert::dcp::convert(&args.input, &output, opts) {
        Ok(c) => outcome.folder.converted.push(c),
        Err(e) => {
            outcome.dangerous =
                matches!(&e, ConvertError::Refused(r) if r.verdict == Verdict::Dangerous);
            let input = args.input.display().to_string();
            outcome.folder.failed.push((input, e.to_string()));
        }
    }
    outcome
}

fn convert_one(args: &ConvertArgs, opts: &ConvertOptions) -> Outcome {
    let output = output_path(args, opts.to);
    let mut outcome = Outcome::default();
    let input = args.input.display().to_string();
    let size = std::fs::metadata(&args.input).map_or(0, |m| m.len());
    let converted = output::with_progress(
        "converting",
        size,
        airlock_tensors::write::progress::tensor_bytes_written,
        || convert_file(&args.input, &output, opts),
    );
    match converted {
        Ok(c) => outcome.folder.converted.push(c),
        Err(ConvertError::Foreign(why)) if args.sandbox && opts.to == Target::Safetensors => {
            eprintln!(
                "airlock: {input}: {}; converting in the sandbox",
                why.message
            );
            match sandbox_convert::convert(&args.input, &output, &sandbox_options(args, opts)) {
                Ok(c) => outcome.folder.converted.push(c),
                Err(e) => outcome.folder.failed.push((input, e)),
            }
        }
        Err(e) => {
            outcome.dangerous =
                matches!(&e, ConvertError::Refused(r) if r.verdict == Verdict::Dangerous);
            outcome
                .folder
                .failed
                .push((input, refusal(&e, args.sandbox)));
        }
    }
    outcome
}

/// The message for a file not converted; a file of custom classes points
/// to `--sandbox` unless it was given.
fn refusal(e: &ConvertError, sandbox: bool) -> String {
    match e {
        ConvertError::Foreign(_) if !sandbox => format!(
            "{e} (if you trust the file, --sandbox --python VENV converts it with the real torch.load inside the sandbox)"
        ),
        _ => e.to_string(),
    }
}

/// The output file for a single input: `-o` (a folder gets the default
/// name inside it), or the default name next to the input.
fn output_path(args: &ConvertArgs, to: Target) -> PathBuf {
    let name = args
        .input
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let default_name = shards::output_name(&name, to);
    match &args.output {
        Some(o) if o.is_dir() => o.join(&default_name),
        Some(o) => o.clone(),
        None => args.input.with_file_name(&default_name),
    }
}

fn sandbox_options(args: &ConvertArgs, opts: &ConvertOptions) -> sandbox_convert::Options {
    sandbox_convert::Options {
        python: args.python.clone().unwrap_or_default(),
        ro: args.sandbox_ro.clone(),
        env: args.sandbox_env.clone(),
        wall_time: args.sandbox_wall_time,
        existing: opts.existing,
        launcher: args.launcher.clone(),
    }
}

/// Conversions on standard output; refusals, files left alone (with -v)
/// and, for a folder, a summary on standard error.
fn print_outcome(out: &mut Stdout, o: &FolderOutcome, verbose: bool, folder: bool) {
    for c in &o.converted {
        print_converted(out, c, verbose);
    }
    for i in &o.indexes {
        out.line(&format!("wrote {i}"));
    }
    for (path, why) in &o.failed {
        eprintln!("airlock: {path}: {why}");
    }
    for (path, why) in &o.skipped {
        let refusal = !why.starts_with("the file is already");
        if refusal || verbose {
            eprintln!("airlock: {path}: not converted: {why}");
        }
    }
    if verbose {
        for c in &o.copied {
            out.line(&format!("copied {c}"));
        }
    }
    let (n, failed, skipped) = (o.converted.len(), o.failed.len(), o.skipped.len());
    if folder {
        let mut parts = vec![format!("{n} converted")];
        if !o.copied.is_empty() {
            parts.push(format!("{} copied", o.copied.len()));
        }
        if failed > 0 {
            parts.push(format!("{failed} failed or refused"));
        }
        if skipped > 0 {
            parts.push(format!("{skipped} model file(s) left alone"));
        }
        if o.other_files > 0 {
            parts.push(format!("{} other file(s) left alone", o.other_files));
        }
        eprintln!("airlock: {}", parts.join(", "));
    }
}

fn print_converted(out: &mut Stdout, c: &Converted, verbose: bool) {
    out.line(&format!(
        "converted {} -> {} ({} tensors, {} bytes{})",
        c.input,
        c.output,
        c.tensors,
        c.bytes,
        match c.transformations.len() {
            0 => String::new(),
            n => format!(
                ", {n} transformation(s){}",
                if verbose { ":" } else { "; -v lists them" }
            ),
        }
    ));
    if verbose {
        for t in &c.transformations {
            out.line(&format!("    {}: {}", t.path, t.what));
        }
    }
}

fn report_json(o: &FolderOutcome) -> String {
    let entries = |v: &[(String, String)]| -> Vec<serde_json::Value> {
        v.iter()
            .map(|(p, w)| serde_json::json!({"input": p, "reason": w}))
            .collect()
    };
    let report = serde_json::json!({
        "schema": 1,
        "tool": {"name": "airlock", "version": env!("CARGO_PKG_VERSION")},
        "converted": o.converted,
        "failed": entries(&o.failed),
        "skipped": entries(&o.skipped),
        "other_files": o.other_files,
        "copied": o.copied,
        "indexes": o.indexes,
    });
    serde_json::to_string_pretty(&report).expect("serializable") + "\n"
}

/// `airlock inspect`: exit status as for `scan` (0 safe, 1 suspicious or
/// dangerous, 2 an error).
pub(crate) fn inspect(args: InspectArgs) -> u8 {
    let i = match airlock_convert::inspect::inspect(&args.file, &Options::default()) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("airlock: {e}");
            return EXIT_ERROR;
        }
    };
    let text = match args.format {
        InspectFormat::Text => airlock_convert::inspect::to_text(&i),
        InspectFormat::Json => serde_json::to_string_pretty(&i).expect("serializable") + "\n",
    };
    if let Err(f) = output::emit(&text) {
        return f.exit();
    }
    match i.verdict {
        v if v == Verdict::Safe.name() => 0,
        v if v == Verdict::Error.name() => EXIT_ERROR,
        _ => 1,
    }
}
