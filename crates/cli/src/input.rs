//! `airlock input`: untrusted text checked before a model sees it.

use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};

use airlock_formats::source::open_regular;
use airlock_inputs::report::{self, Checked};
use airlock_inputs::{Config, Profile};
use clap::{Subcommand, ValueEnum};
use rayon::prelude::*;

use crate::output::{self, EXIT_ERROR, color_for};
use crate::scan::ColorChoice;

/// Files larger than this are refused rather than read whole.
const MAX_FILE: u64 = 64 << 20;

#[derive(clap::Args)]
pub(crate) struct InputArgs {
    #[command(subcommand)]
    command: InputCommand,
}

#[derive(Subcommand)]
enum InputCommand {
    /// Check prompts, documents and tool results: validation, filtering,
    /// encoding and injection heuristics, with spans and a sanitised text.
    #[command(
        long_about = "Check untrusted text before a model sees it: size limits (bytes, characters, \
        tokens of the model's tokenizer.json), allowed scripts, invisible and smuggling characters \
        (Unicode tags, variation selectors, zero-width and bidi controls), terminal escapes, active \
        HTML, Markdown images and links to other hosts, homoglyph words, code in code-free fields, \
        base64/hex/URL/ROT13/leetspeak payloads decoded and checked again, and wording that overrides \
        instructions, spoofs chat-template roles or asks for the system prompt. Each finding has a \
        rule (IN00xx), a score, a span and the profile's action: block, sanitise or report. Inputs: \
        TEXT arguments, --file (a whole file), --jsonl (each record's strings, or the --field \
        pointers), or standard input.",
        after_help = "Configuration (--config FILE, TOML):\n\
        \x20 [profiles.default]\n\
        \x20 max-bytes = 65536\n\
        \x20 max-tokens = 4096\n\
        \x20 tokenizer = \"tokenizer.json\"        # relative to the configuration file\n\
        \x20 scripts = [\"Latin\", \"Cyrillic\"]     # Common and Inherited always pass\n\
        \x20 allowed-hosts = [\"docs.example.com\"] # images and links may point here\n\
        \x20 threshold = 0.5                     # heuristic findings below are only reported\n\
        \x20 normalize = \"nfkc\"                  # of the sanitised text\n\
        \x20 code = \"forbid\"                     # shell, SQL and template fragments are findings\n\
        \x20 schema = \"args.schema.json\"        # the input is JSON matching this JSON Schema (IN0003)\n\
        \x20 array = { dtype = \"float32\", shape = [1, 3, -1, -1], min = 0.0, max = 1.0 }  # IN0004\n\
        \x20 [profiles.default.actions]\n\
        \x20 mixed-script = \"block\"              # a rule's name or id: block, sanitise, report, off\n\n\
        Exit status: 0 no input blocked; 1 an input is blocked (with --strict: any finding acted \
        on); 2 an input could not be read, or the command line or configuration is wrong."
    )]
    Check(CheckArgs),
    /// An OpenAI-compatible proxy that checks what a request carries from
    /// outside before the model server sees it.
    #[command(
        long_about = "An OpenAI-compatible HTTP proxy in front of a model server (vLLM, llama.cpp, Ollama, \
        TGI, a hosted API). Chat completions, Responses API, completions and embeddings requests are read; \
        every user message, tool result and document text is checked with its role's profile ([proxy.roles] \
        in --config; by default user, tool and function texts with the default profile). A blocked request \
        is answered with an OpenAI-style error (HTTP 400, code input_blocked, the findings under `airlock`); \
        sanitised texts are put back; then the request goes upstream and the answer streams back untouched \
        (server-sent events too). --check-output also checks non-streaming answers (the output profile: \
        Markdown exfiltration links, active HTML, terminal escapes). Tool calls are checked against the tools \
        the request declares (arguments JSON matching the tool's parameters schema, a declared name): in \
        non-streaming answers (HTTP 502, code output_blocked) and in the history a request sends (HTTP 400). \
        Every request is logged as a JSON line.",
        after_help = "Configuration (--config FILE): the profiles of `input check`, and\n\
        \x20 [proxy.routes.\"/v1/embeddings\"]  # a path prefix: roles whose profile differs there\n\
        \x20 user = \"documents\"\n\
        \x20 [proxy.roles]\n\
        \x20 user = \"default\"\n\
        \x20 tool = \"documents\"        # tool results and retrieved documents\n\
        \x20 system = \"off\"            # the application's own texts (the default)\n\
        \x20 [proxy]\n\
        \x20 output = \"answers\"        # the profile for --check-output\n\n\
        The proxy runs until interrupted (SIGINT or SIGTERM). Exit status: 0 stopped; 2 the address \
        could not be bound or the configuration is wrong."
    )]
    Proxy(ProxyArgs),
}

#[derive(clap::Args)]
struct ProxyArgs {
    /// The model server's base URL (http:// or https://).
    #[arg(long, value_name = "URL")]
    upstream: String,
    /// The address to listen on (port 0: any free port, printed).
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:8787")]
    listen: std::net::SocketAddr,
    /// The configuration file.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Check non-streaming answers too.
    #[arg(long)]
    check_output: bool,
    /// Refuse request bodies larger than this (bytes).
    #[arg(long, value_name = "BYTES", default_value_t = 16 << 20)]
    max_body: usize,
    /// Give up on the model server after this many seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 600)]
    timeout: u64,
    /// Append the decisions (JSON lines) to this file instead of
    /// standard error.
    #[arg(long, value_name = "FILE")]
    log: Option<PathBuf>,
}

#[derive(clap::Args)]
struct CheckArgs {
    /// Texts to check (each one input).
    #[arg(value_name = "TEXT")]
    texts: Vec<String>,
    /// A file to check as one input (`-`: standard input).
    #[arg(long = "file", value_name = "FILE")]
    files: Vec<PathBuf>,
    /// A JSON Lines file: each record's strings are inputs.
    #[arg(long = "jsonl", value_name = "FILE")]
    jsonl: Vec<PathBuf>,
    /// With --jsonl: check only the strings at these JSON pointers
    /// (`/prompt`, `/messages/0/content`).
    #[arg(long = "field", value_name = "POINTER", requires = "jsonl")]
    fields: Vec<String>,
    /// The configuration file.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The profile to check with.
    #[arg(long, default_value = "default")]
    profile: String,
    /// Output format.
    #[arg(short, long, value_enum, default_value = "text")]
    format: InputFormat,
    /// Print the sanitised text instead of a report (one input only).
    #[arg(long, conflicts_with = "format")]
    sanitized: bool,
    /// Exit 1 when any finding is acted on, sanitised ones too.
    #[arg(long)]
    strict: bool,
    #[command(flatten)]
    report: output::ReportFile,
    /// Colour the text report.
    #[arg(long, value_enum, default_value = "auto")]
    color: ColorChoice,
}

#[derive(Clone, Copy, ValueEnum)]
enum InputFormat {
    /// A line per input, then its findings.
    Text,
    /// The JSON report, schema 1.
    Json,
    /// SARIF 2.1.0.
    Sarif,
}

pub(crate) fn run(args: InputArgs) -> u8 {
    match args.command {
        InputCommand::Check(a) => check(a),
        InputCommand::Proxy(a) => proxy(a),
    }
}

fn proxy(args: ProxyArgs) -> u8 {
    use airlock_inputs::proxy::{ProxyOptions, Upstream, run};
    let fail = |e: String| {
        eprintln!("airlock: input proxy: {e}");
        EXIT_ERROR
    };
    let upstream = match Upstream::parse(&args.upstream) {
        Ok(u) => u,
        Err(e) => return fail(e),
    };
    let config = match &args.config {
        Some(p) => match Config::load(p) {
            Ok(c) => c,
            Err(e) => return fail(e.to_string()),
        },
        None => Config::default(),
    };
    let log: Box<dyn std::io::Write + Send> = match &args.log {
        Some(p) => match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
        {
            Ok(f) => Box::new(f),
            Err(e) => return fail(format!("cannot open the log {}: {e}", p.display())),
        },
        None => Box::new(std::io::stderr()),
    };
    let opts = ProxyOptions {
        listen: args.listen,
        upstream,
        roles: config.proxy_roles(),
        routes: config.proxy_routes(),
        output: args.check_output.then(|| config.output_profile()),
        max_body: args.max_body,
        timeout: std::time::Duration::from_secs(args.timeout.max(1)),
        log,
    };
    let target = args.upstream.clone();
    let ready = move |addr: std::net::SocketAddr| {
        eprintln!("airlock input proxy: listening on http://{addr}, forwarding to {target}");
    };
    match run(opts, ready) {
        Ok(()) => 0,
        Err(e) => fail(format!("{}: {e}", args.listen)),
    }
}

fn fail(e: impl std::fmt::Display) -> u8 {
    eprintln!("airlock: input check: {e}");
    EXIT_ERROR
}

fn check(args: CheckArgs) -> u8 {
    let mut paths: Vec<&PathBuf> = args.files.iter().chain(&args.jsonl).collect();
    paths.retain(|p| p.as_os_str() != "-");
    if let Err(f) = args.report.check(&paths) {
        return f.exit();
    }
    let config = match &args.config {
        Some(p) => Config::load(p),
        None => Ok(Config::default()),
    };
    let profile = match config
        .as_ref()
        .map_err(ToString::to_string)
        .and_then(|c| c.profile(&args.profile).map_err(|e| e.to_string()))
    {
        Ok(p) => p.clone(),
        Err(e) => return fail(e),
    };
    let inputs = match gather(&args) {
        Ok(i) => i,
        Err(e) => return fail(e),
    };
    if args.sanitized && inputs.len() != 1 {
        return fail(format!(
            "--sanitized prints one input's text; {} inputs were given",
            inputs.len()
        ));
    }
    let checked = check_all(inputs, &profile);
    let text = render(&args, &checked);
    if let Err(f) = args.report.write(&paths, &text) {
        return f.exit();
    }
    exit_status(&checked, args.strict)
}

fn exit_status(checked: &[Checked], strict: bool) -> u8 {
    u8::from(report::any_blocked(checked) || (strict && report::any_acted(checked)))
}

fn render(args: &CheckArgs, checked: &[Checked]) -> String {
    if args.sanitized {
        let c = &checked[0];
        if !c.outcome.valid {
            eprintln!(
                "airlock: input check: {} is blocked: {}",
                c.name,
                blocking(c)
            );
            return String::new();
        }
        return c.outcome.sanitized.clone();
    }
    let color = color_for(args.color, args.report.to_file());
    let mut text = match args.format {
        InputFormat::Text => report::to_text(checked, color),
        InputFormat::Json => serde_json::to_string_pretty(&report::to_json(checked)).expect("JSON"),
        InputFormat::Sarif => {
            serde_json::to_string_pretty(&report::to_sarif(checked)).expect("JSON")
        }
    };
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text
}

fn blocking(c: &Checked) -> String {
    c.outcome
        .hits
        .iter()
        .filter(|h| h.action == airlock_inputs::Action::Block)
        .map(|h| format!("{} {}", h.rule.id(), h.rule.name()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// An input before it is checked.
struct Pending {
    name: String,
    file: Option<(String, Option<u32>)>,
    text: String,
}

fn check_all(inputs: Vec<Pending>, profile: &Profile) -> Vec<Checked> {
    inputs
        .into_par_iter()
        .map(|p| {
            let outcome = airlock_inputs::check(&p.text, profile);
            Checked {
                name: p.name,
                file: p.file,
                text: p.text,
                outcome,
            }
        })
        .collect()
}

fn gather(args: &CheckArgs) -> Result<Vec<Pending>, String> {
    let mut out: Vec<Pending> = args
        .texts
        .iter()
        .enumerate()
        .map(|(i, t)| Pending {
            name: format!("argument {}", i + 1),
            file: None,
            text: t.clone(),
        })
        .collect();
    for f in &args.files {
        let text = read_text(f)?;
        let name = if f.as_os_str() == "-" {
            "stdin".to_string()
        } else {
            f.display().to_string()
        };
        out.push(Pending {
            file: (f.as_os_str() != "-").then(|| (name.clone(), None)),
            name,
            text,
        });
    }
    for f in &args.jsonl {
        jsonl(f, &args.fields, &mut out)?;
    }
    if args.texts.is_empty() && args.files.is_empty() && args.jsonl.is_empty() {
        out.push(Pending {
            name: "stdin".into(),
            file: None,
            text: read_text(Path::new("-"))?,
        });
    }
    Ok(out)
}

/// A whole file (or standard input) as UTF-8 text, at most [`MAX_FILE`]
/// bytes.
fn read_text(path: &Path) -> Result<String, String> {
    let shown = if path.as_os_str() == "-" {
        "standard input".to_string()
    } else {
        path.display().to_string()
    };
    let mut bytes = Vec::new();
    let read = if path.as_os_str() == "-" {
        std::io::stdin()
            .lock()
            .take(MAX_FILE + 1)
            .read_to_end(&mut bytes)
    } else {
        open_regular(path).and_then(|f| f.take(MAX_FILE + 1).read_to_end(&mut bytes))
    };
    read.map_err(|e| format!("cannot read {shown}: {e}"))?;
    if bytes.len() as u64 > MAX_FILE {
        return Err(format!(
            "{shown} is larger than {} MiB, the limit for one input: split it (--jsonl checks one record at a time)",
            MAX_FILE >> 20
        ));
    }
    utf8(bytes, &shown)
}

fn utf8(bytes: Vec<u8>, shown: &str) -> Result<String, String> {
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "{shown} is not UTF-8 text (invalid byte at offset {}): decode it first; text that is not UTF-8 is not checked",
            e.utf8_error().valid_up_to()
        )
    })
}

/// Each record of a JSON Lines file: the strings at `fields`, or every
/// string in it.
fn jsonl(path: &Path, fields: &[String], out: &mut Vec<Pending>) -> Result<(), String> {
    let shown = path.display().to_string();
    let file = open_regular(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
    let mut reader = std::io::BufReader::new(file.take(MAX_FILE * 16));
    let mut line = Vec::new();
    for n in 1u32.. {
        line.clear();
        let read = (&mut reader)
            .take(MAX_FILE)
            .read_until(b'\n', &mut line)
            .map_err(|e| format!("cannot read {shown}: {e}"))?;
        if read == 0 {
            break;
        }
        let text = utf8(std::mem::take(&mut line), &format!("{shown} line {n}"))?;
        if text.trim().is_empty() {
            continue;
        }
        let record: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format!("{shown} line {n}: not JSON: {e}"))?;
        for (pointer, s) in strings(&record, fields) {
            out.push(Pending {
                name: format!("{shown}:{n} {pointer}"),
                file: Some((shown.clone(), Some(n))),
                text: s,
            });
        }
    }
    Ok(())
}

/// The strings of `v` at `fields` (JSON pointers), or all of them, with
/// their pointers.
fn strings(v: &serde_json::Value, fields: &[String]) -> Vec<(String, String)> {
    if !fields.is_empty() {
        return fields
            .iter()
            .filter_map(|f| {
                v.pointer(f)
                    .and_then(|x| x.as_str())
                    .map(|s| (f.clone(), s.to_string()))
            })
            .collect();
    }
    let mut out = Vec::new();
    walk(v, String::new(), &mut out);
    out
}

fn walk(v: &serde_json::Value, at: String, out: &mut Vec<(String, String)>) {
    match v {
        serde_json::Value::String(s) => {
            out.push((if at.is_empty() { "/".into() } else { at }, s.clone()))
        }
        serde_json::Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                walk(x, format!("{at}/{i}"), out)
            }
        }
        serde_json::Value::Object(o) => {
            for (k, x) in o {
                walk(
                    x,
                    format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                    out,
                )
            }
        }
        _ => {}
    }
}
