//! `airlock net`: the ML services of this host and who can reach them.

use std::path::PathBuf;

use airlock_net::{Options, report};
use clap::{Subcommand, ValueEnum};

use crate::output::{self, EXIT_ERROR, color_for};
use crate::scan::ColorChoice;

#[derive(clap::Args)]
pub(crate) struct NetArgs {
    #[command(subcommand)]
    command: NetCommand,
}

#[derive(Subcommand)]
enum NetCommand {
    /// Every listening socket of this host, the process and ML service
    /// behind it, who can reach it, and whether they can run code.
    #[command(
        long_about = "Every listening TCP socket and bound UDP socket of this host (/proc/net/tcp, tcp6, \
        udp, udp6) with its process (pid, user, command line; every process as root, your own \
        otherwise), the bound address's class (loopback, private, public, wildcard and the interfaces \
        a wildcard answers on), and the ML service behind it: TCPStore, torch.distributed peers, Ray, \
        Jupyter, TensorBoard, MLflow, TorchServe, Triton, OpenAI-compatible servers, Gradio, \
        Streamlit, Dask. Services are identified by their process and confirmed over loopback by a \
        read-only exchange (TCPStore VALIDATE and PING, one HTTP GET); --no-exchange skips it.",
        after_help = "Verdicts: code-execution-exposed (reachable beyond loopback, and runs what it is \
        sent without authentication: NT0001), exposed (an ML service NT0002; an unidentified listener \
        NT0003, a note), local (loopback only).\n\n\
        Exit status, as for scan: 0 nothing exposed that matters; 1 an ML service is exposed; 2 the \
        sockets could not be read or the command line is wrong."
    )]
    Listeners(ListenersArgs),
    /// Probe the hosts you name for exposed ML services, over the network.
    #[command(
        long_about = "Probe hosts (ADDR, ADDR:PORT, [V6]:PORT, HOST[:PORT]) or CIDR blocks of at most 256 \
        addresses, only what you name, for the services of `net listeners`: the same fingerprints over \
        the network, each connection bounded in time, with bounded concurrency and a rate limit. \
        Read-only by default: TCPStore VALIDATE, PING and GETNUMKEYS; one HTTP GET of a read-only \
        endpoint (Jupyter /api/kernels without a token, Ray /api/version, TorchServe /models, MLflow \
        experiment search, /v1/models). --prove shows unauthenticated write access where the protocol \
        allows it harmlessly: a TCPStore SET of a marker key, then DELETE_KEY of it. It never submits \
        jobs or code.",
        after_help = "Ports without --ports: 29500, 29400 (TCPStore), 6379, 8265, 10001 (Ray), 8888 \
        (Jupyter), 6006 (TensorBoard), 5000 (MLflow), 8080-8082 (TorchServe), 8000, 30000, 11434 \
        (OpenAI-compatible servers), 7860 (Gradio), 8501 (Streamlit), 8786, 8787 (Dask).\n\n\
        Exit status: 0 nothing exposed; 1 a service answered without authentication; 2 a target \
        could not be read or the command line is wrong."
    )]
    Probe(ProbeArgs),
    /// Find launch configurations that expose a job's store or an ML
    /// service: scripts, env files, Dockerfiles, Python, Kubernetes and
    /// compose files.
    #[command(
        long_about = "Read the files that launch distributed jobs and ML services under PATH (shell and \
        SLURM scripts, .env files, Dockerfiles, Makefiles, Python sources, Kubernetes manifests, compose \
        files) and report what exposes them: torchrun / torch.distributed.run with --rdzv-endpoint or \
        --master-addr on 0.0.0.0 or a public address, MASTER_ADDR set to one, init_process_group with \
        tcp://0.0.0.0 (NT0010); torch.distributed.rpc started (NT0011); pods on the host's network \
        (NT0012); Services of type LoadBalancer/NodePort and compose ports on every interface for a \
        store's or ML service's port (NT0013); distributed jobs without a NetworkPolicy (NT0014). \
        Nothing is run.",
        after_help = "Exit status, as for scan: 0 no finding; 1 findings; 2 PATH could not be read."
    )]
    Lint(LintArgs),
    /// Print an nftables ruleset that admits the job's store, Gloo, NCCL
    /// and RPC ports only from its peers.
    #[command(
        long_about = "Print an nftables ruleset (table inet airlock) that admits the store and rendezvous \
        ports (--ports, default 29500,29400) and the kernel's ephemeral port range, where Gloo, NCCL's \
        bootstrap and RPC listen (--data-ports, default read from \
        /proc/sys/net/ipv4/ip_local_port_range), only from the peers given; other sources are dropped \
        on those ports. Replies to this host's own connections, loopback and every other port keep the \
        host's policy. Loading it again replaces it.",
        after_help = "Load: airlock net firewall --peers 10.0.0.2,10.0.0.3 | sudo nft -f -\n\
        Remove: sudo nft delete table inet airlock"
    )]
    Firewall(FirewallArgs),
}

#[derive(clap::Args)]
struct FirewallArgs {
    /// The job's hosts: addresses or address blocks (comma-separated).
    #[arg(
        long,
        required = true,
        value_delimiter = ',',
        value_name = "ADDR[/LEN],..."
    )]
    peers: Vec<String>,
    /// Store and rendezvous ports (comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "PORT,...")]
    ports: Vec<u16>,
    /// The port range of Gloo, NCCL and RPC listeners (LOW-HIGH).
    #[arg(long, value_name = "LOW-HIGH", conflicts_with = "no_data_ports")]
    data_ports: Option<String>,
    /// Leave the ephemeral ports alone (store ports only).
    #[arg(long)]
    no_data_ports: bool,
    #[command(flatten)]
    report: output::ReportFile,
}

#[derive(clap::Args)]
struct LintArgs {
    /// A file or folder.
    path: PathBuf,
    /// Output format.
    #[arg(short, long, value_enum, default_value = "text")]
    format: NetFormat,
    #[command(flatten)]
    report: output::ReportFile,
    /// Colour the text report.
    #[arg(long, value_enum, default_value = "auto")]
    color: ColorChoice,
}

#[derive(clap::Args)]
struct ProbeArgs {
    /// Hosts, HOST:PORT, or CIDR blocks (at most 256 addresses in all).
    #[arg(required = true, value_name = "TARGET")]
    targets: Vec<String>,
    /// Ports for targets that name none (comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "PORT,...")]
    ports: Vec<u16>,
    /// Prove write access to a TCPStore: SET a marker key, then delete it.
    #[arg(long)]
    prove: bool,
    /// Connections at once.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u16).range(1..=256))]
    concurrency: u16,
    /// Connections started per second, at most.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=10000))]
    rate: u32,
    /// Output format.
    #[arg(short, long, value_enum, default_value = "text")]
    format: NetFormat,
    /// Show closed ports too.
    #[arg(long)]
    all: bool,
    #[command(flatten)]
    report: output::ReportFile,
    /// Colour the text report.
    #[arg(long, value_enum, default_value = "auto")]
    color: ColorChoice,
}

#[derive(Clone, Copy, ValueEnum)]
enum NetFormat {
    /// A block per listener.
    Text,
    /// The JSON report, schema 1.
    Json,
    /// SARIF 2.1.0.
    Sarif,
}

#[derive(clap::Args)]
struct ListenersArgs {
    /// Output format.
    #[arg(short, long, value_enum, default_value = "text")]
    format: NetFormat,
    /// Show every socket, loopback-only ones without a known service too.
    #[arg(long)]
    all: bool,
    /// Do not confirm services by an exchange over loopback.
    #[arg(long)]
    no_exchange: bool,
    /// Read the socket tables and processes under this folder instead of
    /// /proc (another mount of a host's proc filesystem).
    #[arg(long, value_name = "DIR", default_value = "/proc", hide = true)]
    proc: PathBuf,
    #[command(flatten)]
    report: output::ReportFile,
    /// Colour the text report.
    #[arg(long, value_enum, default_value = "auto")]
    color: ColorChoice,
}

pub(crate) fn run(args: NetArgs) -> u8 {
    match args.command {
        NetCommand::Listeners(a) => listeners(a),
        NetCommand::Probe(a) => probe(a),
        NetCommand::Lint(a) => lint(a),
        NetCommand::Firewall(a) => firewall(a),
    }
}

fn firewall(args: FirewallArgs) -> u8 {
    use airlock_net::firewall::{DEFAULT_PORTS, ephemeral_range, parse_peer, ruleset};
    let fail = |e: String| {
        eprintln!("airlock: net firewall: {e}");
        EXIT_ERROR
    };
    let peers = match args
        .peers
        .iter()
        .map(|p| parse_peer(p))
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(p) => p,
        Err(e) => return fail(e),
    };
    let data = if args.no_data_ports {
        None
    } else if let Some(r) = &args.data_ports {
        let range = r
            .split_once('-')
            .and_then(|(a, b)| Some((a.parse::<u16>().ok()?, b.parse::<u16>().ok()?)))
            .filter(|(a, b)| a <= b);
        match range {
            Some(r) => Some(r),
            None => return fail(format!("--data-ports {r:?}: give LOW-HIGH")),
        }
    } else {
        Some(ephemeral_range())
    };
    let ports = if args.ports.is_empty() {
        DEFAULT_PORTS.to_vec()
    } else {
        args.ports.clone()
    };
    let inputs: [&PathBuf; 0] = [];
    if let Err(f) = args.report.check(&inputs) {
        return f.exit();
    }
    match args.report.write(&inputs, &ruleset(&peers, &ports, data)) {
        Ok(()) => 0,
        Err(f) => f.exit(),
    }
}

fn lint(args: LintArgs) -> u8 {
    if let Err(f) = args.report.check(&[&args.path]) {
        return f.exit();
    }
    let files = match airlock_net::lint::lint(&args.path) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("airlock: net lint: {}: {e}", args.path.display());
            return EXIT_ERROR;
        }
    };
    let color = color_for(args.color, args.report.to_file());
    let mut text = match args.format {
        NetFormat::Text => report::lint_text(&files, color),
        NetFormat::Json => serde_json::to_string_pretty(&report::lint_json(&files)).expect("JSON"),
        NetFormat::Sarif => {
            serde_json::to_string_pretty(&report::lint_sarif(&files)).expect("JSON")
        }
    };
    if !text.ends_with('\n') {
        text.push('\n');
    }
    if let Err(f) = args.report.write(&[&args.path], &text) {
        return f.exit();
    }
    u8::from(files.iter().any(|f| {
        f.findings
            .iter()
            .any(|x| x.rule.impact() >= airlock_policy::Impact::Suspicious)
    }))
}

fn probe(args: ProbeArgs) -> u8 {
    use airlock_net::probe::{self, DEFAULT_PORTS, ProbeOptions};
    let inputs: [&PathBuf; 0] = [];
    if let Err(f) = args.report.check(&inputs) {
        return f.exit();
    }
    let ports: Vec<u16> = if args.ports.is_empty() {
        DEFAULT_PORTS.iter().map(|(p, _)| *p).collect()
    } else {
        args.ports.clone()
    };
    let endpoints = match probe::expand(&args.targets, &ports) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("airlock: net probe: {e}");
            return EXIT_ERROR;
        }
    };
    let opts = ProbeOptions {
        concurrency: usize::from(args.concurrency),
        rate: args.rate,
        prove: args.prove,
    };
    let results = probe::probe(&endpoints, &opts);
    let color = color_for(args.color, args.report.to_file());
    let mut text = match args.format {
        NetFormat::Text => report::probe_text(&results, args.all, color),
        NetFormat::Json => {
            serde_json::to_string_pretty(&report::probe_json(&results, args.all)).expect("JSON")
        }
        NetFormat::Sarif => {
            serde_json::to_string_pretty(&report::probe_sarif(&results)).expect("JSON")
        }
    };
    if !text.ends_with('\n') {
        text.push('\n');
    }
    if let Err(f) = args.report.write(&inputs, &text) {
        return f.exit();
    }
    u8::from(results.iter().any(|e| !e.findings.is_empty()))
}

fn listeners(args: ListenersArgs) -> u8 {
    let inputs: [&PathBuf; 0] = [];
    if let Err(f) = args.report.check(&inputs) {
        return f.exit();
    }
    let opts = Options {
        proc: args.proc.clone(),
        fingerprint: !args.no_exchange,
    };
    let survey = match airlock_net::survey(&opts) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("airlock: net listeners: {e}");
            return EXIT_ERROR;
        }
    };
    let color = color_for(args.color, args.report.to_file());
    let mut text = match args.format {
        NetFormat::Text => report::to_text(&survey, args.all, color),
        NetFormat::Json => {
            serde_json::to_string_pretty(&report::to_json(&survey, args.all)).expect("JSON")
        }
        NetFormat::Sarif => serde_json::to_string_pretty(&report::to_sarif(&survey)).expect("JSON"),
    };
    if !text.ends_with('\n') {
        text.push('\n');
    }
    if let Err(f) = args.report.write(&inputs, &text) {
        return f.exit();
    }
    let (dangerous, suspicious) = report::counts(&survey);
    u8::from(dangerous + suspicious > 0)
}
