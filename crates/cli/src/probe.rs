//! `airlock probe`: a seeded prompt-injection suite sent to a model
//! endpoint, scored, and compared with a baseline.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use airlock_probe::report::{self, Report};
use airlock_probe::run::{self, Record, RunOptions, load_transcript, write_header};
use airlock_probe::suite::{self, Suite, SuiteOptions, default_tool};
use airlock_probe::{CommandTarget, Family, Mutation, OpenAi, Target, html, reference, tokens};
use clap::{Subcommand, ValueEnum};
use serde_json::Value;

use crate::output::{self, EXIT_ERROR, ReportFile};

/// Files the probe reads (prompts, tools, reports) are refused above this.
const MAX_INPUT: u64 = 16 << 20;

#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct ProbeArgs {
    #[command(subcommand)]
    command: Option<ProbeCommand>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Subcommand)]
enum ProbeCommand {
    /// Serve the reference target: a deliberately naive model (a test
    /// double) that every family and detector can be checked against.
    Reference(ReferenceArgs),
}

#[derive(clap::Args)]
struct ReferenceArgs {
    /// Serve an OpenAI-compatible endpoint here (port 0: any free port,
    /// printed).
    #[arg(
        long,
        value_name = "ADDR:PORT",
        default_value = "127.0.0.1:0",
        conflicts_with = "stdio"
    )]
    listen: std::net::SocketAddr,
    /// Answer JSON lines on standard input and output instead.
    #[arg(long)]
    stdio: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
    Sarif,
}

#[derive(clap::Args)]
struct RunArgs {
    /// An OpenAI-compatible endpoint (`http://host:port`, `.../v1`, or the
    /// full chat completions URL).
    #[arg(long, value_name = "URL", required_unless_present_any = ["command", "dry_run", "list"], conflicts_with = "command")]
    target: Option<String>,
    /// The model name sent with each request (--target).
    #[arg(long, value_name = "NAME", default_value = "default")]
    model: String,
    /// A command speaking JSON lines: reads {"id", "messages", "tools"},
    /// writes {"content"} (run through /bin/sh -c).
    #[arg(long, value_name = "CMD")]
    command: Option<String>,
    /// Send the API key in this environment variable as a bearer token.
    #[arg(long, value_name = "VAR")]
    api_key_env: Option<String>,
    /// The application's system prompt (the canary is appended to it).
    #[arg(long, value_name = "FILE")]
    system_prompt: Option<PathBuf>,
    /// Tool definitions (an OpenAI `tools` JSON array) for indirect tool
    /// attacks; the first tool is the one called.
    #[arg(long, value_name = "FILE")]
    tools: Option<PathBuf>,
    /// The target's tokenizer_config.json: role spoofing uses its chat
    /// template's special tokens.
    #[arg(long, value_name = "FILE")]
    tokenizer_config: Option<PathBuf>,
    /// The suite's seed: the same seed and options send the same attacks.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Attacks per family.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    samples: u32,
    /// Families to run (comma-separated; --list shows them).
    #[arg(long, value_delimiter = ',', value_name = "NAMES")]
    families: Vec<String>,
    /// Mutations attacks cycle through (comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "NAMES")]
    mutations: Vec<String>,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=256))]
    concurrency: u32,
    /// At most this many requests per second.
    #[arg(long, value_name = "PER_SECOND")]
    rate: Option<f64>,
    /// Further tries of a request that failed transiently (connection,
    /// timeout, HTTP 408, 429, 5xx).
    #[arg(long, default_value_t = 3)]
    retries: u32,
    /// Give up on a request after this many seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    timeout: u64,
    /// Append every answer to this JSON Lines transcript.
    #[arg(long, value_name = "FILE")]
    transcript: Option<PathBuf>,
    /// Resume from --transcript: attacks it holds answers for are not sent.
    #[arg(long, requires = "transcript")]
    resume: bool,
    /// A previous run's JSON report: regressions decide the exit status.
    #[arg(long, value_name = "REPORT")]
    baseline: Option<PathBuf>,
    /// A family regresses when its success rate exceeds the baseline's by
    /// more than this many percentage points.
    #[arg(long, value_name = "POINTS", default_value_t = 5.0)]
    max_regression: f64,
    /// Run the suite a second time through `airlock input proxy` (started
    /// here, in front of --target) and report both.
    #[arg(long, requires = "target")]
    through_proxy: bool,
    /// The proxy's configuration (as for `airlock input proxy --config`).
    #[arg(long, value_name = "FILE", requires = "through_proxy")]
    proxy_config: Option<PathBuf>,
    /// The report's format.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    #[command(flatten)]
    report: ReportFile,
    /// Also write the report as a self-contained HTML page.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// Print the suite (JSON lines: the system prompt, then each attack)
    /// and send nothing.
    #[arg(long)]
    dry_run: bool,
    /// List the families and mutations.
    #[arg(long)]
    list: bool,
    /// No progress bar.
    #[arg(long)]
    no_progress: bool,
}

/// Run `airlock probe`.
pub(crate) fn run(args: ProbeArgs) -> u8 {
    match args.command {
        Some(ProbeCommand::Reference(r)) => serve_reference(r),
        None => match probe(&args.run) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("airlock: probe: {e}");
                EXIT_ERROR
            }
        },
    }
}

fn serve_reference(args: ReferenceArgs) -> u8 {
    if args.stdio {
        let stdin = std::io::stdin().lock();
        return match reference::stdio(stdin, std::io::stdout().lock()) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("airlock: probe reference: {e}");
                EXIT_ERROR
            }
        };
    }
    match std::net::TcpListener::bind(args.listen) {
        Ok(l) => {
            let addr = l.local_addr().map(|a| a.to_string()).unwrap_or_default();
            println!("http://{addr}");
            let _ = std::io::stdout().flush();
            eprintln!(
                "airlock probe reference: a naive test double (not a model), serving http://{addr}"
            );
            reference::serve(l);
            0
        }
        Err(e) => {
            eprintln!("airlock: probe reference: {}: {e}", args.listen);
            EXIT_ERROR
        }
    }
}

fn probe(args: &RunArgs) -> Result<u8, String> {
    if args.list {
        output::emit(&listing()).map_err(|f| f.into_message())?;
        return Ok(0);
    }
    let tools = tools(args)?;
    let suite = suite::build(&suite_options(args, tools.as_ref())?);
    if args.dry_run {
        output::emit(&dry_run(&suite)).map_err(|f| f.into_message())?;
        return Ok(0);
    }
    args.report
        .check::<&Path>(&[])
        .map_err(|f| f.into_message())?;
    if let Some(p) = &args.html {
        output::check_new::<&Path>(p, &[], args.report.force).map_err(|f| f.into_message())?;
    }
    let baseline = args.baseline.as_deref().map(read_report).transpose()?;
    let tools = tools.unwrap_or_else(|| default_tool(&suite.tool_name));
    let target = make_target(args, args.target.as_deref(), &tools)?;
    let records = execute(args, &suite, target.as_ref(), args.transcript.as_deref())?;
    let mut rep = report::build(&suite, &target.describe(), &records);
    if args.through_proxy {
        rep.through_proxy = Some(Box::new(through_proxy(args, &suite, &tools)?));
    }
    if let Some(b) = &baseline {
        if b.fingerprint != rep.fingerprint {
            eprintln!(
                "airlock: probe: note: the baseline ran another suite (seed or options differ): rates are compared per family"
            );
        }
        report::compare(&mut rep, b, args.max_regression / 100.0);
    }
    let findings = report::findings(&rep, &suite, &records);
    write_reports(args, &rep, &findings)?;
    let failed = if baseline.is_some() {
        rep.families.iter().any(|f| f.regressed)
    } else {
        rep.overall.successes > 0
    };
    Ok(u8::from(failed))
}

fn suite_options(args: &RunArgs, tools: Option<&Value>) -> Result<SuiteOptions, String> {
    let mut o = SuiteOptions {
        seed: args.seed,
        samples: args.samples as usize,
        ..SuiteOptions::default()
    };
    if !args.families.is_empty() {
        o.families = names(&args.families, Family::lookup, "family")?;
    }
    if !args.mutations.is_empty() {
        o.mutations = names(&args.mutations, Mutation::lookup, "mutation")?;
    }
    if let Some(p) = &args.system_prompt {
        o.system_prompt = Some(read_text(p)?);
    }
    if let Some(p) = &args.tokenizer_config {
        let t = tokens::from_tokenizer_config(&read_text(p)?)
            .map_err(|e| format!("{}: {e}", p.display()))?;
        o.tokens = vec![t];
    }
    if let Some(name) = tools.and_then(|t| t[0]["function"]["name"].as_str()) {
        o.tool_name = name.to_string();
    }
    Ok(o)
}

fn names<T>(list: &[String], lookup: fn(&str) -> Option<T>, what: &str) -> Result<Vec<T>, String> {
    list.iter()
        .map(|n| {
            lookup(n.trim())
                .ok_or_else(|| format!("no {what} {n:?}; `airlock probe --list` shows them"))
        })
        .collect()
}

fn read_text(path: &Path) -> Result<String, String> {
    let f = airlock_formats::source::open_regular(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let mut s = String::new();
    std::io::Read::read_to_string(&mut std::io::Read::take(f, MAX_INPUT + 1), &mut s)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if s.len() as u64 > MAX_INPUT {
        return Err(format!(
            "{}: larger than {} MiB",
            path.display(),
            MAX_INPUT >> 20
        ));
    }
    Ok(s)
}

fn tools(args: &RunArgs) -> Result<Option<Value>, String> {
    let Some(p) = &args.tools else {
        return Ok(None);
    };
    let v: Value =
        serde_json::from_str(&read_text(p)?).map_err(|e| format!("{}: {e}", p.display()))?;
    match v.as_array() {
        Some(a) if !a.is_empty() && a[0]["function"]["name"].is_string() => Ok(Some(v)),
        _ => Err(format!(
            "{}: expected an OpenAI tools array ([{{\"type\": \"function\", \"function\": {{\"name\": ...}}}}])",
            p.display()
        )),
    }
}

fn read_report(path: &Path) -> Result<Report, String> {
    serde_json::from_str(&read_text(path)?).map_err(|e| {
        format!(
            "{}: not a JSON report of airlock probe: {e}",
            path.display()
        )
    })
}

/// The target: the --command, or the endpoint at `url` offering `tools` to
/// the indirect tool attacks.
fn make_target(
    args: &RunArgs,
    url: Option<&str>,
    tools: &Value,
) -> Result<Box<dyn Target>, String> {
    let timeout = Duration::from_secs(args.timeout.max(1));
    if let Some(cmd) = &args.command {
        return Ok(Box::new(CommandTarget::start(cmd, timeout)?));
    }
    let url = url.ok_or("give --target URL or --command CMD")?;
    let key = match &args.api_key_env {
        Some(var) => Some(
            std::env::var(var).map_err(|_| format!("the environment variable {var} is not set"))?,
        ),
        None => None,
    };
    Ok(Box::new(OpenAi::new(
        url,
        &args.model,
        key,
        timeout,
        tools.clone(),
    )?))
}

fn run_options(args: &RunArgs) -> RunOptions {
    RunOptions {
        concurrency: args.concurrency as usize,
        rate: args.rate,
        retries: args.retries,
        ..RunOptions::default()
    }
}

/// Run the suite against `target`, with the transcript and progress.
fn execute(
    args: &RunArgs,
    suite: &Suite,
    target: &dyn Target,
    transcript: Option<&Path>,
) -> Result<Vec<Record>, String> {
    let done = match transcript {
        Some(p) if args.resume && p.exists() => {
            load_transcript(p, suite).map_err(|e| e.to_string())?
        }
        _ => HashMap::new(),
    };
    let mut out = match transcript {
        Some(p) => Some(open_transcript(p, suite, &target.describe(), args.resume)?),
        None => None,
    };
    let todo = suite.attacks.len() - done.len();
    let bar = progress(!args.no_progress, todo as u64);
    let mut write_error = None;
    let result = run::run(suite, target, &run_options(args), &done, |rec| {
        if let Some(bar) = &bar {
            bar.inc(1);
        }
        if let Some(f) = out.as_mut() {
            let line = serde_json::to_string(rec).expect("a record serialises");
            if let Err(e) = writeln!(f, "{line}").and_then(|()| f.flush()) {
                write_error.get_or_insert(e);
            }
        }
    });
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    if let Some(e) = write_error {
        return Err(format!("writing the transcript: {e}"));
    }
    result.map_err(|e| e.to_string())
}

/// The transcript, continued (`--resume` of an existing one) or new: an
/// existing file is never replaced.
fn open_transcript(
    path: &Path,
    suite: &Suite,
    target: &str,
    resume: bool,
) -> Result<std::fs::File, String> {
    let append = resume && path.exists();
    let mut options = std::fs::OpenOptions::new();
    if append {
        options.append(true);
    } else {
        options.write(true).create_new(true);
    }
    let mut f = options.open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => format!(
            "{} exists: --resume continues it; to start again, remove it or name another transcript",
            path.display()
        ),
        _ => format!("{}: {e}", path.display()),
    })?;
    if !append {
        write_header(&mut f, suite, target).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(f)
}

fn progress(wanted: bool, total: u64) -> Option<indicatif::ProgressBar> {
    if !wanted || !std::io::stderr().is_terminal() || total == 0 {
        return None;
    }
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} attacks  {per_sec}  eta {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    Some(bar)
}

/// The suite once more, through `airlock input proxy` started here in
/// front of the target.
fn through_proxy(args: &RunArgs, suite: &Suite, tools: &Value) -> Result<Report, String> {
    use airlock_inputs::Config;
    use airlock_inputs::proxy::{ProxyOptions, Upstream};
    let upstream_url = args
        .target
        .as_deref()
        .ok_or("--through-proxy needs --target")?;
    let config = match &args.proxy_config {
        Some(p) => Config::load(p).map_err(|e| e.to_string())?,
        None => Config::default(),
    };
    let opts = ProxyOptions {
        listen: ([127, 0, 0, 1], 0).into(),
        upstream: Upstream::parse(upstream_url)?,
        roles: config.proxy_roles(),
        routes: config.proxy_routes(),
        output: None,
        max_body: 16 << 20,
        timeout: Duration::from_secs(args.timeout.max(1)),
        log: Box::new(std::io::sink()),
    };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let failed = airlock_inputs::proxy::run(opts, |addr| {
            let _ = tx.send(Ok(addr));
        });
        if let Err(e) = failed {
            let _ = tx.send(Err(e.to_string()));
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(10))
        .map_err(|_| "the proxy did not start".to_string())??;
    let url = format!("http://{addr}{}", path_of(upstream_url));
    let target = make_target(args, Some(&url), tools)?;
    let transcript = args
        .transcript
        .as_ref()
        .map(|p| p.with_extension("proxy.jsonl"));
    let records = execute(args, suite, target.as_ref(), transcript.as_deref())?;
    Ok(report::build(
        suite,
        &format!("airlock input proxy in front of {upstream_url}"),
        &records,
    ))
}

/// The path part of a URL (`http://h:1/v1` → `/v1`).
fn path_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.find('/').map_or("", |i| &rest[i..])
}

fn write_reports(
    args: &RunArgs,
    rep: &Report,
    findings: &[airlock_policy::Finding],
) -> Result<(), String> {
    let text = match args.format {
        Format::Text => report::to_text(rep),
        Format::Json => pretty(&report::to_json(rep, findings)),
        Format::Sarif => {
            let loc = args
                .system_prompt
                .as_ref()
                .map_or_else(|| rep.target.clone(), |p| p.display().to_string());
            pretty(&report::to_sarif(findings, &loc))
        }
    };
    if let Some(p) = &args.html {
        output::write_file::<&Path>(p, &[], html::to_html(rep).as_bytes(), args.report.force)
            .map_err(|f| f.into_message())?;
    }
    args.report
        .write::<&Path>(&[], &text)
        .map_err(|f| f.into_message())
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).expect("serialises") + "\n"
}

fn listing() -> String {
    let mut s = String::from("Families (--families):\n");
    for f in Family::ALL {
        s.push_str(&format!("  {:<20} {}\n", f.name(), f.about()));
    }
    s.push_str("\nMutations (--mutations; role-spoof, language and multi-turn are sent plain):\n");
    for m in Mutation::ALL {
        s.push_str(&format!("  {}\n", m.name()));
    }
    s
}

fn dry_run(suite: &Suite) -> String {
    let head = serde_json::json!({"seed": suite.seed, "fingerprint": suite.fingerprint, "canary": suite.canary, "system_prompt": suite.system_prompt});
    let mut s = head.to_string() + "\n";
    for a in &suite.attacks {
        s.push_str(&serde_json::to_string(a).expect("serialises"));
        s.push('\n');
    }
    s
}
