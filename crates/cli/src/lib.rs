//! `airlock`: take model files from strangers without running strangers' code.
//!
//! The command line as a library: [`run`] parses arguments and runs a
//! command, returning the exit status. The `airlock` binary calls it, and
//! so does the Python package's `airlock` command.

mod ci;
mod convert;
mod hash;
mod input;
mod merge_rules;
mod net;
mod output;
mod privacy;
mod probe;
mod provenance;
mod run;
mod sandbox_convert;
mod scan;
mod secrets;

use airlock_policy::Rule;
use clap::{Parser, Subcommand};

use output::EXIT_ERROR;

/// Exit status: every file safe.
const EXIT_SAFE: u8 = 0;

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
    Scan(scan::ScanArgs),
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
        model.safetensors.index.json. Outputs appear whole or not at all (an interrupted run \
        leaves nothing), never over an input, and never over an existing file unless --force is \
        given; two inputs of one output are both refused.\n\n\
        Exit status: 0 every file converted; 1 some file refused because the scan found it \
        dangerous; 2 otherwise some file could not be converted, or the command line is wrong."
    )]
    Convert(convert::ConvertArgs),
    /// Show what a model file holds (tensors, values, object tree, code),
    /// without loading it.
    #[command(
        after_help = "Exit status, as for scan: 0 the file is safe; 1 suspicious or dangerous; 2 it \
        could not be analysed (malformed, over a limit, a directory or special file), or the \
        command line is wrong."
    )]
    Inspect(convert::InspectArgs),
    /// Audit a repository's GitHub Actions workflows against PyTorch's
    /// CI/CD security principles (release jobs, runners, caches, secrets).
    #[command(
        long_about = "Audit a repository's GitHub Actions CI/CD and release pipelines against \
        PyTorch's CI/CD security principles: release and upload jobs only on ephemeral runners, \
        cold-start release builds without caches, no pull request code or artifacts next to \
        secrets, uploads only from deployment environments, no publishing credentials in \
        repository secrets where trusted publishing exists, no binaries on release pages, images \
        pinned by digest, no secrets or pull requests on persistent self-hosted runners. Reads \
        PATH/.github/workflows/*.yml|yaml (or the workflows folder or file given) and the local \
        composite actions and reusable workflows they use; every finding names the file, line \
        and column. Generic workflow audits (template injection, permissions, unpinned actions) \
        are left to zizmor, which runs alongside.",
        after_help = "Configuration (.github/airlock.toml, or --config FILE):\n\
        \x20 [runners]\n\
        \x20 ephemeral = [\"linux.ephemeral.*\"]   # labels of one-job runners (* = any characters)\n\
        \x20 github-hosted = [\"ubuntu-24.04-16core\"]   # larger GitHub-hosted runners\n\
        \x20 [environments]\n\
        \x20 release = [\"pypi\"]   # deployment environments restricted to protected branches\n\
        \x20 [publishing]\n\
        \x20 trusted-publishing = [\"pypi\", \"crates.io\", \"npm\"]   # registries with OIDC\n\n\
        Suppress a finding with a comment `# airlock: ignore[CI0004]` on its line or the line \
        above. `airlock rules CI0004` explains a rule.\n\n\
        Exit status, as for scan: 0 no finding (notes aside); 1 some finding; 2 otherwise some \
        file could not be parsed, or nothing to audit, or the command line is wrong."
    )]
    Ci(ci::CiArgs),
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
        deny-by-default seccomp filter; no_new_privs; rlimits; a wall-clock timeout. The command is \
        root of its own user namespace, which is the caller's own user outside and nothing more \
        (run by root, it is root over the files it is given, with no capability on the host). \
        Nothing of the airlock process (its environment, arguments, descriptors) is readable \
        inside.",
        after_help = "Exit status: the command's; 128 + N when signal N ended it (a limit: the \
        summary says which); 125 the sandbox could not be set up (a missing kernel feature is named); \
        126 the command could not be executed; 127 it was not found."
    )]
    Run(run::RunArgs),
    /// A merge bot's path-based rules (`.github/merge_rules.yaml`): lint
    /// them, or check which rule lets a pull request merge.
    #[command(
        name = "merge-rules",
        long_about = "A merge bot's path-based review rules (`.github/merge_rules.yaml`, the format of \
        PyTorch's merge bot): rules in file order, the first whose patterns cover every changed file, \
        with an approval from one of its approvers (each reviewer's last review that is not a comment) \
        and its mandatory checks green (matched by substring, flaky failures tolerated up to ten unless \
        ignore_flaky_failures is false), lets the pull request merge. `lint` finds mistakes in the rules; \
        `check` applies them to a pull request given as JSON. Patterns are whole-path globs by \
        default; --compat pytorch reads them as the bot does (path prefixes, `?` a regex quantifier). \
        Where the bot fails open, this fails closed: approvers that resolve to nobody are a \
        configuration error, and a rule with an empty approved_by passes only with \
        --allow-no-approval.",
        after_help = "Exit status: lint: 0 no finding, 1 findings, 2 the file cannot be used or read. \
        check: 0 mergeable, 1 not mergeable, 2 the rules or the pull request could not be read."
    )]
    MergeRules(merge_rules::MergeRulesArgs),
    /// ML services on the network: this host's listeners, who can reach
    /// them, and whether they run what they are sent.
    Net(net::NetArgs),
    /// Untrusted inputs: check prompts, documents and tool results before
    /// a model sees them.
    Input(input::InputArgs),
    /// Fuzz a model endpoint for prompt injection: a seeded suite of attack
    /// families and mutations, scored by deterministic detectors.
    #[command(
        long_about = "Fuzz a model endpoint for prompt injection before exposing it. A seeded suite \
        (--seed) of attack families (instruction override, role spoofing with chat-template tokens, \
        system-prompt extraction, payload splitting, refusal suppression, other languages, injections \
        in documents and tool results, Markdown-image exfiltration, multi-turn escalation) times \
        mutations (base64, hex, ROT13, leetspeak, Morse, Unicode tags, invisible characters, \
        homoglyphs) is sent to an OpenAI-compatible endpoint (--target) or a JSON-lines command \
        (--command), with a canary planted in the system prompt. Each answer is scored by \
        deterministic detectors: the canary in any encoding (PB0001), the marker an attack dictated \
        (PB0002), a link to the attacker's host (PB0003). The report gives each family's success \
        rate with a 95% interval and its worst examples; --baseline compares with an earlier run \
        (PB0004); --through-proxy runs the suite again through `airlock input proxy`; --html writes a \
        page with charts; --transcript and --resume make long runs resumable.",
        after_help = "Exit status: 0 no attack succeeded (with --baseline: no family regressed); 1 some \
        attack succeeded (with --baseline: a family regressed); 2 the target failed, a file could not \
        be read, or the command line is wrong.\n\n`airlock probe reference` serves a deliberately \
        naive model (a test double) to check a setup end to end."
    )]
    Probe(Box<probe::ProbeArgs>),
    /// Credentials and personal data in model files and folders: pickle
    /// strings, safetensors metadata, configs, tokenizers, cards,
    /// notebooks, logs, `.git` metadata.
    #[command(
        long_about = "Find credentials and personal data in every string a model file or folder carries, \
        without running anything and without reading tensor payloads: pickle string constants (with the \
        dict key they are stored under: hyper-parameters, argparse namespaces, training arguments), the \
        pickles and text members of torch ZIPs, TorchScript and other archives (never their data/ records), \
        safetensors __metadata__, JSON configs and notebooks member by member, YAML, model cards, logs, \
        and .git metadata (config, logs). Credentials by their provider's format (Hugging Face, OpenAI, \
        Anthropic, AWS, Google, Azure, Weights & Biases, GitHub with its checksum, GitLab, Slack, Stripe, \
        JWTs, database URLs with passwords: PV0001), private keys (PV0002), high-entropy values under \
        names like token or password (PV0003), personal data (e-mail addresses, phone numbers, IBANs with \
        their check digits, card numbers with their Luhn digit: PV0010), paths and host names that name \
        users and internal machines (PV0020). In tokenizer vocabularies only credentials are looked for. \
        Every finding is redacted and located (member, key or JSON pointer, line or byte offset).",
        after_help = "Exit status: 0 no finding at the --fail-on level; 1 some finding at that level \
        (default: credentials, private keys and generic secrets); 2 otherwise some file could not be read, \
        or the command line is wrong."
    )]
    Secrets(secrets::SecretsArgs),
    /// Measure how much of its training data a model gives away, before it
    /// is published: membership inference, canary exposure, extraction.
    #[command(
        long_about = "Measure how much of its training data a model gives away, before it is published. \
        `airlock privacy audit SPEC.py` runs a spec of yours (a Python file defining model(), members(), \
        nonmembers(), train(examples), texts(), sequence_loss(model, texts), ...; see \
        `python -m airlock.privacy --help`) with the Python package's airlock.privacy, inside the sandbox \
        (no network; the spec's folder, the Python and --ro paths readable): membership inference (the \
        loss-threshold attack, and with train() the reference-calibrated likelihood-ratio attack: ROC AUC, \
        true positives at 1% and 0.1% false positives: PV0030), canary exposure (random secrets inserted at \
        chosen repetition counts, a model trained by train(), rank exposure in bits: PV0031) and extraction \
        (greedy decoding from training texts' and canaries' prefixes: PV0032), judged against the limits. \
        `airlock privacy report DOC.json` judges a saved document again.",
        after_help = "Exit status: 0 every measurement under its limit; 1 some limit exceeded; 2 the audit \
        could not run, or the command line is wrong."
    )]
    Privacy(privacy::PrivacyArgs),
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
///
/// `convert --sandbox` starts `airlock run` as a process of its own with
/// [`Launcher::CurrentExe`]: a program that embeds the command line in
/// another executable calls [`run_embedded`] instead.
pub fn run<I, T>(args: I) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    parse_and_run(args, false, Launcher::CurrentExe)
}

/// [`run`] for a program whose executable is not `airlock` (the Python
/// package's `airlock` command runs in the Python interpreter):
/// `launcher` says how to start the same command line again.
pub fn run_embedded<I, T>(args: I, launcher: Launcher) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    parse_and_run(args, false, launcher)
}

/// How `airlock convert --sandbox` starts `airlock run` in a process of
/// its own (the sandbox forks, which is only sound in a process with a
/// single thread, and the conversion's process may have more).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Launcher {
    /// The running executable: the `airlock` binary.
    #[default]
    CurrentExe,
    /// A program and its first arguments, which the `airlock` arguments
    /// (`run ...`) follow: for the Python package, its interpreter and a
    /// script that calls this command line.
    Command(Vec<std::ffi::OsString>),
}

impl Launcher {
    /// The command to which `run` and its arguments are added.
    pub(crate) fn command(&self) -> Result<std::process::Command, String> {
        match self {
            Launcher::CurrentExe => std::env::current_exe()
                .map(std::process::Command::new)
                .map_err(|e| format!("cannot find the airlock executable: {e}")),
            Launcher::Command(argv) => {
                let (program, args) = argv
                    .split_first()
                    .ok_or("the command that starts airlock again is empty")?;
                let mut cmd = std::process::Command::new(program);
                cmd.args(args);
                Ok(cmd)
            }
        }
    }
}

/// [`run`] for the `airlock` executable: commands that write files also
/// remove their temporary files when `SIGINT`, `SIGTERM` or `SIGHUP` ends
/// them (a library caller, such as Python, keeps its own signal handling).
pub fn run_main<I, T>(args: I) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    parse_and_run(args, true, Launcher::CurrentExe)
}

fn parse_and_run<I, T>(args: I, handle_signals: bool, launcher: Launcher) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let mut cli = match Cli::try_parse_from(args) {
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
    if let Command::Convert(args) = &mut cli.command {
        args.launcher = launcher.clone();
    }
    // `airlock run` forks, which wants a single thread: no signal thread.
    if handle_signals && !matches!(cli.command, Command::Run(_)) {
        output::clean_up_on_signals();
    }
    match cli.command {
        Command::Scan(args) => scan::scan(args),
        Command::Convert(args) => convert::convert(args),
        Command::Inspect(args) => convert::inspect(args),
        Command::Ci(args) => ci::ci(args),
        Command::Rules(args) => rules(args),
        Command::Hash(args) => hash::run(args),
        Command::Sign(args) => provenance::sign(args),
        Command::Verify(args) => provenance::verify(args),
        Command::Run(args) => run::run(args),
        Command::MergeRules(args) => merge_rules::run(args),
        Command::Net(args) => net::run(args),
        Command::Input(args) => input::run(args),
        Command::Probe(args) => probe::run(*args),
        Command::Secrets(args) => secrets::run(args),
        Command::Privacy(args) => privacy::run(args, launcher),
    }
}

fn rules(args: RulesArgs) -> u8 {
    let text = match &args.rule {
        _ if args.markdown => rules_markdown(),
        Some(key) => match Rule::lookup(key) {
            Some(r) => format!(
                "{} {} (severity {}, {:?}, precision {})\n\n{}",
                r.id(),
                r.name(),
                r.severity(),
                r.impact(),
                r.precision(),
                r.doc()
            ),
            None => {
                eprintln!("airlock: no rule {key:?}; `airlock rules` lists them");
                return EXIT_ERROR;
            }
        },
        None => Rule::ALL
            .iter()
            .map(|r| {
                format!(
                    "{}  {:<26} {:<8}  {}\n",
                    r.id(),
                    r.name(),
                    r.severity().name(),
                    r.summary()
                )
            })
            .collect(),
    };
    match output::emit(&text) {
        Ok(()) => EXIT_SAFE,
        Err(f) => f.exit(),
    }
}

/// `docs/rules.md`, generated from the rules' documentation.
fn rules_markdown() -> String {
    let mut s = String::from(
        "# Airlock rules\n\nGenerated by `airlock rules --markdown` from the rules' documentation; \
         do not edit. Precision is how often a finding is right (SARIF's `precision`, which \
         code scanning shows).\n\n| id | name | severity | effect on the verdict | precision |\n| --- | --- | --- | --- | --- |\n",
    );
    for r in Rule::ALL {
        s.push_str(&format!(
            "| [{}](#{}) | {} | {} | {} | {} |\n",
            r.id(),
            r.id().to_lowercase(),
            r.name(),
            r.severity(),
            impact_word(r.impact()),
            r.precision()
        ));
    }
    for r in Rule::ALL {
        s.push_str(&format!(
            "\n## {}\n\n`{}`, severity {}, {}, precision {}.\n\n",
            r.id(),
            r.name(),
            r.severity(),
            impact_word(r.impact()),
            r.precision()
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

#[cfg(test)]
mod tests {
    use super::Launcher;

    #[test]
    fn a_launcher_is_a_program_and_its_first_arguments() {
        let cmd = Launcher::Command(vec!["python3".into(), "-I".into(), "-c".into()])
            .command()
            .unwrap();
        assert_eq!(cmd.get_program(), "python3");
        assert_eq!(cmd.get_args().collect::<Vec<_>>(), ["-I", "-c"]);
        assert!(Launcher::Command(Vec::new()).command().is_err());
        let exe = Launcher::CurrentExe.command().unwrap();
        assert_eq!(
            std::path::Path::new(exe.get_program()),
            std::env::current_exe().unwrap()
        );
    }
}
