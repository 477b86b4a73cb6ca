//! `airlock`: take model files from strangers without running strangers' code.
//!
//! The command line as a library: [`run`] parses arguments and runs a
//! command, returning the exit status. The `airlock` binary calls it, and
//! so does the Python package's `airlock` command.

mod hash;
mod provenance;
mod run;
mod sandbox_convert;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use airlock_policy::{Rule, Verdict};
use airlock_scan::report::{self, Color, Summary};
use airlock_scan::{FileReport, Options, collect_targets, scan_path};
use clap::{Parser, Subcommand, ValueEnum};
use rayon::prelude::*;

/// Exit status: every file safe.
const EXIT_SAFE: u8 = 0;
/// Exit status: the command line was wrong, or a file could not be analysed.
const EXIT_ERROR: u8 = 2;

#[derive(Parser)]
#[command(
    name = "airlock",
    version,
    about = "Take model files from strangers without running strangers' code.",
    long_about = "Airlock reads model files the way their loaders read them and executes nothing. \
        `airlock scan` says whether a file is data only (safe), needs trust (suspicious), carries \
        dangerous code (dangerous), or could not be analysed (error).",
    after_help = "Exit status: 0 every file safe; 1 some file suspicious or dangerous; \
        2 otherwise some file could not be analysed, or the command line is wrong."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Scan files and folders (recursively) and give each a verdict.
    #[command(
        after_help = "Verdicts: safe (every path the loader takes is data only), suspicious \
        (imports or calls code outside the data allowlist), dangerous (a dangerous capability or an \
        attack structure), error (could not be analysed completely; never safe).\n\n\
        Exit status: 0 every file safe; 1 some file suspicious or dangerous; 2 otherwise some file \
        is an error, or the command line is wrong.\n\n\
        In folders, files whose content is no model format (text, images, ...) are skipped unless \
        --all is given, except when their extension names a model format (.pt, .onnx, .npy, ...): \
        those are reported as errors. Files named on the command line are always reported."
    )]
    Scan(ScanArgs),
    /// Convert checkpoints to safetensors, or to checkpoints that
    /// torch.load(weights_only=True) loads, without running them.
    #[command(
        long_about = "Convert checkpoints to safetensors, or to checkpoints that \
        torch.load(weights_only=True) loads, natively and without running anything from the file: \
        the pickle is rebuilt as data (tensors, plain values, and NumPy arrays and scalars, \
        argparse namespaces, omegaconf configs, paths, collections types and whole nn.Module \
        pickles replaced by plain data), never unpickled. Every input is scanned first: files the \
        scanner calls dangerous, or cannot analyse, are refused with the scan report.",
        after_help = "A folder is converted recursively into the output folder (default: the \
        same folder), Hugging Face sharded checkpoints included: pytorch_model-0000X-of-0000Y.bin \
        become model-0000X-of-0000Y.safetensors and pytorch_model.bin.index.json becomes \
        model.safetensors.index.json. Outputs are written atomically and never over an input.\n\n\
        Exit status: 0 every file converted; 1 some file refused because the scan found it \
        dangerous; 2 otherwise some file could not be converted, or the command line is wrong."
    )]
    Convert(ConvertArgs),
    /// Show what a model file holds (tensors, values, object tree, code),
    /// without loading it.
    Inspect(InspectArgs),
    /// Show the detection rules and their documentation.
    Rules(RulesArgs),
    /// Checksums of files and model folders: sha256sum-compatible lists
    /// (and --check), or model signing manifests.
    #[command(
        long_about = "Checksums of files and model folders. By default prints a list in the format of \
        sha256sum (b2sum with -a blake2b): one line per file, folders walked recursively with the \
        OpenSSF model signing rules (.git, .gitattributes, .github and .gitignore left out, symbolic \
        links refused unless --allow-symlinks, files in component-wise path order), files hashed \
        in parallel. --check reads such lists (sha256sum's and BSD --tag lines too) and checks the \
        files they name. --manifest prints what a model signature covers: each file's (or, with \
        --shard-size, each shard's) digest and the root digest.",
        after_help = "Exit status: 0 every file hashed (or, with --check, matched); 1 with --check, \
        some file did not match or could not be read; 2 a file or folder could not be hashed, a \
        list had no checksum line, or the command line is wrong."
    )]
    Hash(hash::HashArgs),
    /// Sign a model folder: an OpenSSF model signing signature (Sigstore
    /// bundle) with an ECDSA key, or a key and its certificate chain.
    #[command(
        long_about = "Sign a model folder (or file) in the OpenSSF model signing format that the \
        Python model_signing tool reads: every file (or, with --shard-size, every shard) hashed in \
        parallel, an in-toto statement of the digests and root digest, signed (DSSE) with an ECDSA \
        P-256, P-384 or P-521 key, in a Sigstore bundle that names the key (its hint) or carries \
        the certificate chain (--cert, --chain).",
        after_help = "Exit status: 0 signed; 2 the key, certificate or model could not be read, or \
        the command line is wrong."
    )]
    Sign(provenance::SignArgs),
    /// Verify a model folder against its signature (key or certificate
    /// chain), naming every changed, missing or extra file.
    #[command(
        long_about = "Verify a model folder (or file) against an OpenSSF model signing signature: the \
        signature over the exact signed bytes with the given public key (--key) or through the \
        bundle's certificate chain to the given trusted certificates (--cert-chain; the signing \
        certificate must allow code signing), then the model hashed again with the parameters the \
        signature records and compared, every changed, missing or extra file or shard named. \
        Signatures of the older v0.1 predicate and model_signing 0.2's encoding are accepted. \
        Keyless Sigstore signatures are refused with an explanation (they need online trust roots \
        and transparency log checks). --scan also scans every signed model file.",
        after_help = "Exit status: 0 verified (and, with --scan, every model file safe); 1 not \
        verified: the signature is invalid, made with another key, untrusted or malformed, the \
        model differs, or a model file is not safe; 2 a key or certificate file could not be read, \
        or the command line is wrong."
    )]
    Verify(provenance::VerifyArgs),
    /// Run a command in a sandbox: no network, a minimal read-only view of
    /// the system, only the paths given, resource limits.
    #[command(
        long_about = "Run a command in a sandbox, for model code that must execute (custom classes, \
        TorchScript, a model's own Python). New user, mount, PID, network, IPC and UTS namespaces; \
        a root filesystem of the system directories and the command's Python installation \
        read-only, the --ro and --rw paths, a private /tmp and a fresh /proc, nothing else of the \
        host; no network at all; Landlock rules matching the mounts and denying TCP; a \
        deny-by-default seccomp filter; no_new_privs; rlimits; a wall-clock timeout. Run as root, \
        the command runs as the host's nobody (65534).",
        after_help = "Exit status: the command's; 128 + N when signal N ended it (a limit: the \
        summary says which); 125 the sandbox could not be set up (a missing kernel feature is named); \
        126 the command could not be executed; 127 it was not found."
    )]
    Run(run::RunArgs),
}

#[derive(Clone, Copy, ValueEnum)]
enum ConvertTarget {
    /// safetensors (tensors under dotted names, other values as JSON in __metadata__).
    Safetensors,
    /// A torch ZIP checkpoint that torch.load(weights_only=True) loads.
    Pt,
}

#[derive(clap::Args)]
struct ConvertArgs {
    /// A checkpoint file or a folder of them.
    input: PathBuf,
    /// Output file (for a file) or folder (for a folder); by default next
    /// to the input, named for the target format.
    #[arg(short, long, value_name = "PATH")]
    output: Option<PathBuf>,
    /// What to write.
    #[arg(long, value_enum, default_value = "safetensors")]
    to: ConvertTarget,
    /// Write a JSON report of every conversion and transformation.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// Leave out non-tensor values that do not fit safetensors' metadata
    /// (1 MiB) instead of refusing the file.
    #[arg(long)]
    drop_large_metadata: bool,
    /// Show every transformation.
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
}

#[derive(clap::Args)]
struct InspectArgs {
    /// The file.
    file: PathBuf,
    /// Output format.
    #[arg(short, long, value_enum, default_value = "text")]
    format: InspectFormat,
}

#[derive(Clone, Copy, ValueEnum)]
enum InspectFormat {
    /// Human-readable.
    Text,
    /// JSON.
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum OutputFormat {
    /// One line per file (details with -v).
    Text,
    /// The JSON report, schema 1.
    Json,
    /// SARIF 2.1.0, for code scanning.
    Sarif,
}

#[derive(Clone, Copy, ValueEnum)]
enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(clap::Args)]
struct ScanArgs {
    /// Files and folders to scan.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Output format.
    #[arg(short, long, value_enum, default_value = "text")]
    format: OutputFormat,
    /// Write the report to a file instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
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
}

#[derive(clap::Args)]
struct RulesArgs {
    /// Show this rule only (id or name).
    rule: Option<String>,
    /// Print the documentation of every rule as Markdown.
    #[arg(long)]
    markdown: bool,
}

/// Parse `args` (the program name first) and run the command; returns the
/// exit status (0 safe, 1 suspicious or dangerous, 2 error; see `--help`).
pub fn run<I, T>(args: I) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                EXIT_ERROR
            } else {
                EXIT_SAFE
            };
        }
    };
    match cli.command {
        Command::Scan(args) => scan(args),
        Command::Convert(args) => convert(args),
        Command::Inspect(args) => inspect(args),
        Command::Rules(args) => rules(args),
        Command::Hash(args) => hash::run(args),
        Command::Sign(args) => provenance::sign(args),
        Command::Verify(args) => provenance::verify(args),
        Command::Run(args) => run::run(args),
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

fn scan(args: ScanArgs) -> u8 {
    if let Some(n) = args.jobs {
        if n == 0 {
            eprintln!("airlock: --jobs must be at least 1");
            return EXIT_ERROR;
        }
        let n = clamp_jobs(n);
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global();
    }
    let targets = collect_targets(&args.paths);
    for (path, why) in &targets.problems {
        eprintln!("airlock: {path}: {why}");
    }
    for (path, why) in &targets.skipped {
        eprintln!("airlock: skipping {path}: {why}");
    }
    let opts = Options {
        max_pickle_bytes: args.max_pickle_bytes,
        ..Options::default()
    };
    let show_progress =
        !args.no_progress && std::io::stderr().is_terminal() && targets.files.len() > 20;
    let bar = if show_progress {
        let bar = indicatif::ProgressBar::new(targets.files.len() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} scanning {pos}/{len} files [{bar:30}] {eta}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        Some(bar)
    } else {
        None
    };
    let mut reports: Vec<(bool, FileReport)> = targets
        .files
        .par_iter()
        .map(|t| {
            let r = scan_path(&t.path, &t.display, &opts);
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
        let keep = *explicit
            || args.all
            || !(r.verdict == Verdict::Error
                && r.findings.iter().all(|f| f.rule == Rule::UnknownFormat)
                && !airlock_scan::walk::model_like_name(&r.path));
        if !keep {
            skipped += 1;
        }
        keep
    });
    let reports: Vec<FileReport> = reports.into_iter().map(|(_, r)| r).collect();

    let to_file = args.output.is_some();
    let color = match args.color {
        ColorChoice::Always => Color::Always,
        ColorChoice::Never => Color::Never,
        ColorChoice::Auto
            if !to_file
                && std::io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none() =>
        {
            Color::Always
        }
        ColorChoice::Auto => Color::Never,
    };
    let mut text = match args.format {
        OutputFormat::Text => {
            let mut t = report::to_text(&reports, args.verbose, color);
            if skipped > 0 {
                t.push_str(&format!("{skipped} file(s) in the folders are not model files and were skipped (--all shows them)\n"));
            }
            t
        }
        OutputFormat::Json => {
            serde_json::to_string_pretty(&report::to_json(&reports)).expect("JSON")
        }
        OutputFormat::Sarif => {
            serde_json::to_string_pretty(&report::to_sarif(&reports)).expect("JSON")
        }
    };
    if !text.ends_with('\n') {
        text.push('\n');
    }
    let written = match &args.output {
        Some(path) => {
            std::fs::write(path, text.as_bytes()).map_err(|e| format!("{}: {e}", path.display()))
        }
        None => std::io::stdout()
            .write_all(text.as_bytes())
            .map_err(|e| e.to_string()),
    };
    if let Err(e) = written {
        eprintln!("airlock: cannot write the report: {e}");
        return EXIT_ERROR;
    }
    let code = Summary::of(&reports).exit_code();
    if code == 0 && !targets.problems.is_empty() {
        return EXIT_ERROR;
    }
    if code == 0 && reports.is_empty() {
        // Nothing to scan is not "every file safe".
        eprintln!("airlock: no model files found");
        return EXIT_ERROR;
    }
    if code == 0 { EXIT_SAFE } else { code as u8 }
}

fn rules(args: RulesArgs) -> u8 {
    if args.markdown {
        print!("{}", rules_markdown());
        return EXIT_SAFE;
    }
    match &args.rule {
        Some(key) => match Rule::lookup(key) {
            Some(r) => {
                println!(
                    "{} {} (severity {}, {:?})\n",
                    r.id(),
                    r.name(),
                    r.severity(),
                    r.impact()
                );
                print!("{}", r.doc());
                EXIT_SAFE
            }
            None => {
                eprintln!("airlock: no rule {key:?}; `airlock rules` lists them");
                EXIT_ERROR
            }
        },
        None => {
            for r in Rule::ALL {
                println!(
                    "{}  {:<26} {:<8}  {}",
                    r.id(),
                    r.name(),
                    r.severity().name(),
                    r.summary()
                );
            }
            EXIT_SAFE
        }
    }
}

/// `docs/rules.md`, generated from the rules' documentation.
fn rules_markdown() -> String {
    let mut s = String::from(
        "# Airlock rules\n\nGenerated by `airlock rules --markdown` from the rules' documentation; \
         do not edit.\n\n| id | name | severity | effect on the verdict |\n| --- | --- | --- | --- |\n",
    );
    for r in Rule::ALL {
        s.push_str(&format!(
            "| [{}](#{}) | {} | {} | {} |\n",
            r.id(),
            r.id().to_lowercase(),
            r.name(),
            r.severity(),
            impact_word(r.impact())
        ));
    }
    for r in Rule::ALL {
        s.push_str(&format!(
            "\n## {}\n\n`{}`, severity {}, {}.\n\n",
            r.id(),
            r.name(),
            r.severity(),
            impact_word(r.impact())
        ));
        let doc = r.doc().replace("\n## ", "\n### ");
        s.push_str(doc.trim_end());
        s.push('\n');
    }
    s
}

fn impact_word(i: airlock_policy::Impact) -> &'static str {
    match i {
        airlock_policy::Impact::Note => "none (note)",
        airlock_policy::Impact::Suspicious => "suspicious",
        airlock_policy::Impact::Error => "error",
        airlock_policy::Impact::Dangerous => "dangerous",
    }
}

fn convert(args: ConvertArgs) -> u8 {
    use airlock_convert::{
        ConvertError, ConvertOptions, Target, convert_file, convert_folder, shards,
    };
    let to = match args.to {
        ConvertTarget::Safetensors => Target::Safetensors,
        ConvertTarget::Pt => Target::Pt,
    };
    let mut opts = ConvertOptions {
        to,
        ..ConvertOptions::default()
    };
    if args.drop_large_metadata {
        opts.safetensors.overflow = airlock_tensors::write::MetadataOverflow::Drop;
    }
    let mut converted = Vec::new();
    let mut failed: Vec<(String, String)> = Vec::new();
    let mut refused = false;
    let mut indexes = Vec::new();
    if args.input.is_dir() {
        let out_dir = args.output.clone().unwrap_or_else(|| args.input.clone());
        match convert_folder(&args.input, &out_dir, &opts) {
            Ok(o) => {
                converted = o.converted;
                failed = o.failed;
                indexes = o.indexes;
            }
            Err(e) => failed.push((args.input.display().to_string(), e.to_string())),
        }
        refused = failed
            .iter()
            .any(|(_, why)| why.starts_with("refused: the scan says dangerous"));
    } else {
        let name = args
            .input
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let default_name = shards::output_name(&name, to);
        let output = match &args.output {
            Some(o) if o.is_dir() => o.join(&default_name),
            Some(o) => o.clone(),
            None => args.input.with_file_name(&default_name),
        };
        match convert_file(&args.input, &output, &opts) {
            Ok(c) => converted.push(c),
            Err(ConvertError::Foreign(why))
                if args.sandbox && matches!(to, Target::Safetensors) =>
            {
                eprintln!(
                    "airlock: {}: {why}; converting in the sandbox",
                    args.input.display()
                );
                let sopts = sandbox_convert::Options {
                    python: args.python.clone().unwrap_or_default(),
                    ro: args.sandbox_ro.clone(),
                    env: args.sandbox_env.clone(),
                    wall_time: args.sandbox_wall_time,
                };
                match sandbox_convert::convert(&args.input, &output, &sopts) {
                    Ok(c) => converted.push(c),
                    Err(e) => failed.push((args.input.display().to_string(), e)),
                }
            }
            Err(e) => {
                refused = matches!(&e, ConvertError::Refused(r) if r.verdict == Verdict::Dangerous);
                failed.push((args.input.display().to_string(), e.to_string()));
            }
        }
    }
    for c in &converted {
        println!(
            "converted {} -> {} ({} tensors, {} bytes{})",
            c.input,
            c.output,
            c.tensors,
            c.bytes,
            match c.transformations.len() {
                0 => String::new(),
                n => format!(
                    ", {n} transformation(s){}",
                    if args.verbose { ":" } else { "; -v lists them" }
                ),
            }
        );
        if args.verbose {
            for t in &c.transformations {
                println!("    {}: {}", t.path, t.what);
            }
        }
    }
    for i in &indexes {
        println!("wrote {i}");
    }
    for (path, why) in &failed {
        eprintln!("airlock: {path}: {why}");
    }
    if let Some(path) = &args.report {
        let report = serde_json::json!({
            "schema": 1,
            "tool": {"name": "airlock", "version": env!("CARGO_PKG_VERSION")},
            "converted": converted,
            "failed": failed.iter().map(|(p, w)| serde_json::json!({"input": p, "reason": w})).collect::<Vec<_>>(),
            "indexes": indexes,
        });
        let text = serde_json::to_string_pretty(&report).expect("serializable") + "\n";
        if let Err(e) = std::fs::write(path, text) {
            eprintln!("airlock: cannot write {}: {e}", path.display());
            return EXIT_ERROR;
        }
    }
    if converted.is_empty() && failed.is_empty() {
        eprintln!(
            "airlock: no checkpoint to convert in {}",
            args.input.display()
        );
        return EXIT_ERROR;
    }
    if refused {
        1
    } else if !failed.is_empty() {
        EXIT_ERROR
    } else {
        EXIT_SAFE
    }
}

fn inspect(args: InspectArgs) -> u8 {
    match airlock_convert::inspect::inspect(&args.file, &Options::default()) {
        Ok(i) => {
            match args.format {
                InspectFormat::Text => print!("{}", airlock_convert::inspect::to_text(&i)),
                InspectFormat::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&i).expect("serializable")
                ),
            }
            EXIT_SAFE
        }
        Err(e) => {
            eprintln!("airlock: {e}");
            EXIT_ERROR
        }
    }
}
