//! What a listening socket is, from the process that holds it (its
//! command line and launch environment) and its port: the services of
//! distributed training and of ML serving that PyTorch's policy and its
//! advisories name. A port alone names a service only as a guess, said so
//! in the evidence.

use crate::process::Process;

/// A service Airlock knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// The c10d TCPStore of a torchrun / `init_process_group` job.
    TcpStore,
    /// Another listener of a distributed job's process (Gloo, NCCL
    /// bootstrap, `torch.distributed.rpc`'s TensorPipe).
    DistributedPeer,
    /// Ray's GCS server.
    RayGcs,
    /// Ray's dashboard, with the jobs API.
    RayDashboard,
    /// Ray's client server (`ray://`).
    RayClient,
    /// Another Ray process's listener (raylet, object manager, workers).
    RayInternal,
    /// A Jupyter server (JupyterLab, Notebook).
    Jupyter,
    /// TensorBoard.
    TensorBoard,
    /// An MLflow tracking server.
    MlFlow,
    /// TorchServe's inference API.
    TorchServeInference,
    /// TorchServe's management API.
    TorchServeManagement,
    /// TorchServe's metrics API.
    TorchServeMetrics,
    /// NVIDIA Triton Inference Server.
    Triton,
    /// An OpenAI-compatible model server (vLLM, SGLang, TGI, llama.cpp,
    /// Ollama).
    OpenAiServer,
    /// A Gradio app.
    Gradio,
    /// A Streamlit app.
    Streamlit,
    /// A Dask scheduler.
    DaskScheduler,
    /// A Dask worker or its dashboard.
    DaskWorker,
}

impl Kind {
    /// What it is, for people.
    pub fn describe(self) -> &'static str {
        match self {
            Kind::TcpStore => "torch.distributed TCPStore (c10d rendezvous)",
            Kind::DistributedPeer => {
                "listener of a torch.distributed job (Gloo, NCCL bootstrap or RPC)"
            }
            Kind::RayGcs => "Ray GCS server",
            Kind::RayDashboard => "Ray dashboard and jobs API",
            Kind::RayClient => "Ray client server",
            Kind::RayInternal => "Ray internal listener",
            Kind::Jupyter => "Jupyter server",
            Kind::TensorBoard => "TensorBoard",
            Kind::MlFlow => "MLflow tracking server",
            Kind::TorchServeInference => "TorchServe inference API",
            Kind::TorchServeManagement => "TorchServe management API",
            Kind::TorchServeMetrics => "TorchServe metrics API",
            Kind::Triton => "Triton Inference Server",
            Kind::OpenAiServer => "OpenAI-compatible model server",
            Kind::Gradio => "Gradio app",
            Kind::Streamlit => "Streamlit app",
            Kind::DaskScheduler => "Dask scheduler",
            Kind::DaskWorker => "Dask worker",
        }
    }

    /// Whether whoever reaches it, unauthenticated, runs code as the
    /// service's user (the policy's and the advisories' reading).
    pub fn runs_what_it_is_sent(self) -> bool {
        matches!(
            self,
            Kind::TcpStore
                | Kind::RayGcs
                | Kind::RayDashboard
                | Kind::RayClient
                | Kind::Jupyter
                | Kind::TorchServeManagement
                | Kind::DaskScheduler
                | Kind::DaskWorker
        )
    }
}

/// What a socket was identified as, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Identified {
    /// The service.
    pub kind: Kind,
    /// Why Airlock thinks so.
    pub evidence: String,
    /// Whether only the port says so (no process to read).
    pub by_port_only: bool,
}

/// The service behind a socket on `port` held by `p` (when readable).
pub fn identify(p: Option<&Process>, port: u16) -> Option<Identified> {
    match p {
        Some(p) => by_process(p, port),
        None => by_port(port),
    }
}

fn found(kind: Kind, evidence: String) -> Option<Identified> {
    Some(Identified {
        kind,
        evidence,
        by_port_only: false,
    })
}

fn by_process(p: &Process, port: u16) -> Option<Identified> {
    let cmd = p.command();
    let has = |s: &str| cmd.contains(s);
    if let Some(i) = distributed(p, port) {
        return Some(i);
    }
    if p.comm == "gcs_server" || has("/gcs_server") {
        return found(Kind::RayGcs, "process gcs_server".into());
    }
    if has("ray/dashboard/dashboard.py") || has("ray.dashboard") {
        return found(Kind::RayDashboard, "process runs ray/dashboard".into());
    }
    if has("ray.util.client.server") {
        return found(
            Kind::RayClient,
            "process runs ray.util.client.server".into(),
        );
    }
    if p.comm == "raylet" || has("/raylet") || p.comm.starts_with("ray::") {
        return found(Kind::RayInternal, format!("process {}", p.comm));
    }
    if has("jupyter") || has("jupyter_server") || has("notebook.app") {
        return found(Kind::Jupyter, format!("command line `{}`", short(&cmd)));
    }
    if has("tensorboard") {
        return found(Kind::TensorBoard, "command line names tensorboard".into());
    }
    if has("mlflow") {
        return found(Kind::MlFlow, "command line names mlflow".into());
    }
    if has("org.pytorch.serve") || has("torchserve") {
        return torchserve(port);
    }
    if p.comm == "tritonserver" || has("tritonserver") {
        return found(Kind::Triton, "process tritonserver".into());
    }
    if let Some(s) = openai_server(p, &cmd) {
        return found(
            Kind::OpenAiServer,
            format!("{s} (command line `{}`)", short(&cmd)),
        );
    }
    if has("dask-scheduler") || has("dask scheduler") || has("distributed.cli.dask_scheduler") {
        return found(
            Kind::DaskScheduler,
            "command line runs the Dask scheduler".into(),
        );
    }
    if has("dask-worker") || has("dask worker") || has("distributed.cli.dask_worker") {
        return found(Kind::DaskWorker, "command line runs a Dask worker".into());
    }
    if has("streamlit") {
        return found(Kind::Streamlit, "command line names streamlit".into());
    }
    if has("gradio") || (port == 7860 && is_python(p)) {
        return found(
            Kind::Gradio,
            "command line names gradio, or a Python process on 7860".into(),
        );
    }
    None
}

/// The TCPStore and the other listeners of a distributed job.
fn distributed(p: &Process, port: u16) -> Option<Identified> {
    let cmd = p.command();
    let launcher = [
        "torchrun",
        "torch.distributed.run",
        "torch.distributed.launch",
    ]
    .into_iter()
    .find(|l| cmd.contains(l));
    let named_port = arg_port(&p.cmdline);
    let env_port = p.env("MASTER_PORT").and_then(|v| v.parse::<u16>().ok());
    let store = |why: String| found(Kind::TcpStore, why);
    if env_port == Some(port) {
        return store(format!("MASTER_PORT={port} in the process's environment"));
    }
    if named_port == Some(port) {
        return store(format!(
            "the command line names port {port} as the master or rendezvous port"
        ));
    }
    if let Some(l) = launcher {
        if port == 29500 && named_port.is_none() {
            return store(format!("{l}'s default master port 29500"));
        }
        return found(
            Kind::DistributedPeer,
            format!("a listener of a {l} process"),
        );
    }
    if env_port.is_some() || p.env("MASTER_ADDR").is_some() {
        return found(
            Kind::DistributedPeer,
            "a listener of a process launched as a torch.distributed rank (MASTER_ADDR / MASTER_PORT set)".into(),
        );
    }
    None
}

/// `--master_port P`, `--master-port=P`, `--rdzv-endpoint HOST:P` (and
/// the underscore spellings).
fn arg_port(args: &[String]) -> Option<u16> {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let (key, inline) = match a.split_once('=') {
            Some((k, v)) => (k, Some(v.to_string())),
            None => (a.as_str(), None),
        };
        let key = key.replace('_', "-");
        if key != "--master-port" && key != "--rdzv-endpoint" {
            continue;
        }
        let v = inline.or_else(|| it.next().cloned())?;
        let port = v.rsplit(':').next()?;
        return port.parse().ok();
    }
    None
}

fn torchserve(port: u16) -> Option<Identified> {
    let (kind, role) = match port {
        8081 => (Kind::TorchServeManagement, "management"),
        8082 => (Kind::TorchServeMetrics, "metrics"),
        8080 => (Kind::TorchServeInference, "inference"),
        // A port set in config.properties: the management API unless
        // shown otherwise (fail towards the dangerous reading).
        _ => (
            Kind::TorchServeManagement,
            "management (a port of config.properties)",
        ),
    };
    found(kind, format!("TorchServe's {role} port"))
}

fn is_python(p: &Process) -> bool {
    p.comm.starts_with("python") || p.cmdline.first().is_some_and(|a| a.contains("python"))
}

fn openai_server(p: &Process, cmd: &str) -> Option<&'static str> {
    let servers = [
        ("vllm", "vLLM"),
        ("sglang", "SGLang"),
        ("text-generation-launcher", "TGI"),
        ("text-generation-router", "TGI"),
        ("text-generation-server", "TGI"),
        ("llama-server", "llama.cpp server"),
        ("llama_cpp.server", "llama-cpp-python server"),
    ];
    if p.comm == "ollama" || cmd.starts_with("ollama") || cmd.contains("/ollama serve") {
        return Some("Ollama");
    }
    servers
        .iter()
        .find(|(k, _)| cmd.contains(k))
        .map(|(_, n)| *n)
}

fn short(s: &str) -> String {
    if s.chars().count() <= 120 {
        s.to_string()
    } else {
        s.chars().take(117).collect::<String>() + "..."
    }
}

/// A guess from the port alone (the process could not be read).
fn by_port(port: u16) -> Option<Identified> {
    let kind = match port {
        29500 => Kind::TcpStore,
        8265 => Kind::RayDashboard,
        10001 => Kind::RayClient,
        8888 => Kind::Jupyter,
        6006 => Kind::TensorBoard,
        8081 => Kind::TorchServeManagement,
        11434 => Kind::OpenAiServer,
        8786 => Kind::DaskScheduler,
        _ => return None,
    };
    Some(Identified {
        kind,
        evidence: format!("port {port} is its default (the process could not be read)"),
        by_port_only: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proc(comm: &str, cmd: &str, env: &[(&str, &str)]) -> Process {
        Process {
            pid: 1,
            comm: comm.into(),
            cmdline: cmd.split(' ').map(String::from).collect(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Process::default()
        }
    }

    #[test]
    fn the_store_of_a_distributed_job() {
        let rank = proc(
            "python",
            "python train.py",
            &[("MASTER_ADDR", "127.0.0.1"), ("MASTER_PORT", "29512")],
        );
        assert_eq!(identify(Some(&rank), 29512).unwrap().kind, Kind::TcpStore);
        assert_eq!(
            identify(Some(&rank), 41000).unwrap().kind,
            Kind::DistributedPeer
        );
        let tr = proc(
            "torchrun",
            "/usr/bin/python3 /venv/bin/torchrun --nproc-per-node 2 train.py",
            &[],
        );
        assert_eq!(identify(Some(&tr), 29500).unwrap().kind, Kind::TcpStore);
        let rdzv = proc(
            "torchrun",
            "torchrun --rdzv_endpoint=node0:29400 train.py",
            &[],
        );
        assert_eq!(identify(Some(&rdzv), 29400).unwrap().kind, Kind::TcpStore);
        assert_eq!(
            identify(Some(&rdzv), 29500).unwrap().kind,
            Kind::DistributedPeer
        );
        assert_eq!(
            arg_port(&["--master-port".into(), "1234".into()]),
            Some(1234)
        );
    }

    #[test]
    fn serving_and_tools() {
        let k = |comm: &str, cmd: &str, port| {
            identify(Some(&proc(comm, cmd, &[])), port).map(|i| i.kind)
        };
        assert_eq!(
            k("java", "java -cp x org.pytorch.serve.ModelServer", 8081),
            Some(Kind::TorchServeManagement)
        );
        assert_eq!(
            k("java", "java -cp x org.pytorch.serve.ModelServer", 8080),
            Some(Kind::TorchServeInference)
        );
        assert_eq!(
            k(
                "python3",
                "python3 -m vllm.entrypoints.openai.api_server",
                8000
            ),
            Some(Kind::OpenAiServer)
        );
        assert_eq!(
            k("ollama", "/usr/bin/ollama serve", 11434),
            Some(Kind::OpenAiServer)
        );
        assert_eq!(
            k(
                "jupyter-lab",
                "/venv/bin/python /venv/bin/jupyter-lab --ip=0.0.0.0",
                8888
            ),
            Some(Kind::Jupyter)
        );
        assert_eq!(
            k(
                "gcs_server",
                "/ray/core/src/ray/gcs/gcs_server --gcs_server_port=6379",
                6379
            ),
            Some(Kind::RayGcs)
        );
        assert_eq!(k("sshd", "sshd: /usr/sbin/sshd -D", 22), None);
        assert_eq!(identify(None, 29500).map(|i| i.by_port_only), Some(true));
        assert_eq!(identify(None, 22), None);
    }
}
