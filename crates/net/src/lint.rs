//! `airlock net lint PATH`: launch configurations that expose a
//! distributed job's store or an ML service beyond the job's own hosts,
//! read from the files that start them: shell and SLURM scripts, env files,
//! Dockerfiles, Python sources, Kubernetes manifests and compose files.
//!
//! - NT0010: torchrun / `torch.distributed.run` / `torch.distributed.launch`
//!   with `--rdzv-endpoint` / `--master-addr` (any spelling) on `0.0.0.0`,
//!   `::` or a public address; `MASTER_ADDR` set to one (env files,
//!   `export`, Dockerfile `ENV`, manifests' `env:`); `init_process_group(...,
//!   init_method="tcp://0.0.0.0:...")`.
//! - NT0011: `torch.distributed.rpc` started (`init_rpc`): its agent runs
//!   the pickled calls peers send.
//! - NT0012: pods of a job on the host's network (`hostNetwork: true`).
//! - NT0013: a Kubernetes Service of type `LoadBalancer` or `NodePort`, or a
//!   compose `ports:` entry on every interface, for a port of the store or
//!   of an ML service (29500, 29400, 6379, 8265, 10001, 8888, 8080-8082,
//!   5000, 6006, 8786, 11434).
//! - NT0014: manifests of distributed jobs (PyTorchJob, RayCluster, RayJob,
//!   MPIJob, ...) in a tree with no NetworkPolicy.
//!
//! Files are read as text (regular files, not links; at most
//! [`MAX_FILE_BYTES`] each and [`MAX_FILES`] in all); nothing is run.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use airlock_policy::{Finding, Rule, Verdict};
use yaml_rust2::{Yaml, YamlLoader};

use crate::addr::{self, Class};

/// Largest file read.
pub const MAX_FILE_BYTES: u64 = 1 << 20;
/// Most files read.
pub const MAX_FILES: usize = 50_000;

/// Ports of stores and ML services.
pub const ML_PORTS: &[u16] = &[
    29500, 29400, 6379, 8265, 10001, 8888, 8080, 8081, 8082, 5000, 6006, 8786, 11434,
];

/// Kinds of Kubernetes objects that run distributed training or ML
/// clusters.
const JOB_KINDS: &[&str] = &[
    "PyTorchJob",
    "TFJob",
    "MPIJob",
    "XGBoostJob",
    "PaddleJob",
    "JAXJob",
    "TrainJob",
    "RayCluster",
    "RayJob",
    "RayService",
];

/// The lint of one file.
#[derive(Debug, Clone)]
pub struct FileLint {
    /// The path as shown.
    pub path: String,
    /// Its findings, located by line.
    pub findings: Vec<Finding>,
    /// The verdict they add up to.
    pub verdict: Verdict,
}

/// Lint every launch file under `path` (a file or a folder).
pub fn lint(path: &Path) -> std::io::Result<Vec<FileLint>> {
    let files = collect(path)?;
    let mut out = Vec::new();
    let mut jobs: Vec<usize> = Vec::new();
    let mut policy = false;
    for f in &files {
        let Some(text) = read(f) else { continue };
        let shown = f.display().to_string();
        let (findings, kinds) = lint_text(&shown, &text);
        policy |= kinds.iter().any(|k| k == "NetworkPolicy");
        if kinds.iter().any(|k| JOB_KINDS.contains(&k.as_str())) {
            jobs.push(out.len());
        }
        out.push(FileLint {
            path: shown,
            verdict: Verdict::from_findings(&findings),
            findings,
        });
    }
    if !policy {
        for i in jobs {
            let f = Finding::new(
                Rule::NoNetworkPolicy,
                "a distributed job's manifest, and no NetworkPolicy in the tree: every pod of the cluster reaches its store and workers".to_string(),
            )
            .at(1, 1);
            out[i].findings.push(f);
            out[i].verdict = Verdict::from_findings(&out[i].findings);
        }
    }
    out.retain(|f| !f.findings.is_empty());
    Ok(out)
}

/// The files under `path`, sorted; `.git` and `node_modules` skipped.
fn collect(path: &Path) -> std::io::Result<Vec<PathBuf>> {
    let meta = std::fs::symlink_metadata(path)?;
    if meta.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut out = Vec::new();
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(&dir)?.flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let p = e.path();
            let Ok(ft) = e.file_type() else { continue };
            let name = e.file_name();
            if ft.is_dir() && name != ".git" && name != "node_modules" {
                stack.push(p);
            } else if ft.is_file() && relevant(&p) {
                out.push(p);
                if out.len() >= MAX_FILES {
                    return Ok(out);
                }
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Whether a file is one that launches or configures a job.
fn relevant(p: &Path) -> bool {
    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
    matches!(
        ext,
        "sh" | "bash" | "sbatch" | "slurm" | "py" | "yml" | "yaml" | "env"
    ) || name.starts_with(".env")
        || name.starts_with("Dockerfile")
        || name == "Makefile"
}

fn read(p: &Path) -> Option<String> {
    let m = std::fs::symlink_metadata(p).ok()?;
    if !m.is_file() || m.len() > MAX_FILE_BYTES {
        return None;
    }
    std::fs::read_to_string(p).ok()
}

/// The findings of one file's text, and the Kubernetes kinds it declares.
pub fn lint_text(path: &str, text: &str) -> (Vec<Finding>, Vec<String>) {
    let mut findings = Vec::new();
    for (at, line) in logical_lines(text) {
        findings.extend(line_findings(&line).into_iter().map(|f| f.at(at, 1)));
    }
    let mut kinds = Vec::new();
    if path.ends_with(".yml") || path.ends_with(".yaml") {
        if let Ok(docs) = YamlLoader::load_from_str(text) {
            for d in &docs {
                if let Some(k) = d["kind"].as_str() {
                    kinds.push(k.to_string());
                }
                findings.extend(manifest_findings(d, text));
                findings.extend(compose_findings(d, text));
            }
        }
    }
    findings.sort_by_key(|f| (f.location.line, f.rule));
    findings.dedup_by(|a, b| a.rule == b.rule && a.location.line == b.location.line);
    (findings, kinds)
}

/// Lines with their shell continuations (`\\` at the end) joined, each
/// with the 1-based line it starts on.
fn logical_lines(text: &str) -> Vec<(u32, String)> {
    let mut out: Vec<(u32, String)> = Vec::new();
    let mut open = false;
    for (n, line) in text.lines().enumerate() {
        let at = u32::try_from(n + 1).unwrap_or(u32::MAX);
        let (body, cont) = match line.trim_end().strip_suffix('\\') {
            Some(b) => (b, true),
            None => (line, false),
        };
        match out.last_mut() {
            Some((_, l)) if open => {
                l.push(' ');
                l.push_str(body.trim());
            }
            _ => out.push((at, body.to_string())),
        }
        open = cont;
    }
    out
}

/// An address is exposed: wildcard or public.
fn exposed(host: &str) -> Option<Class> {
    let h = host.trim().trim_matches(['"', '\'', '[', ']']);
    let ip: IpAddr = h.parse().ok()?;
    let c = addr::classify(ip);
    matches!(c, Class::Wildcard | Class::Public).then_some(c)
}

/// The host of `HOST:PORT`, `[V6]:PORT` or `HOST`.
fn host_of(v: &str) -> &str {
    let v = v.trim().trim_matches(['"', '\'']);
    if let Some(r) = v.strip_prefix('[') {
        return r.split(']').next().unwrap_or(r);
    }
    match v.rsplit_once(':') {
        Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) && !h.contains(':') => h,
        _ => v,
    }
}

/// Findings of one line of any launch file.
fn line_findings(line: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    let l = line.trim();
    if l.starts_with('#') && !l.starts_with("#SBATCH") {
        return out;
    }
    let launcher = [
        "torchrun",
        "torch.distributed.run",
        "torch.distributed.launch",
    ]
    .iter()
    .any(|k| l.contains(k));
    if launcher {
        for (flag, value) in options(l) {
            let f = flag.replace('_', "-");
            if (f == "--rdzv-endpoint" || f == "--master-addr")
                && let Some(c) = exposed(host_of(&value))
            {
                out.push(Finding::new(
                    Rule::ExposedRendezvous,
                    format!("`{flag} {value}`: the job's store on a {} address; its peers, and anyone who reaches it, drive the job (a private address and a firewall keep it to the job)", c.name()),
                ));
            }
        }
    }
    if let Some(v) = assignment(l, "MASTER_ADDR")
        && let Some(c) = exposed(&v)
    {
        out.push(Finding::new(
            Rule::ExposedRendezvous,
            format!(
                "MASTER_ADDR={v}: a {} address for the store of a distributed job",
                c.name()
            ),
        ));
    }
    if l.contains("init_process_group") || l.contains("init_method") {
        if let Some(i) = l.find("tcp://") {
            let rest = &l[i + 6..];
            let hostport: String = rest
                .chars()
                .take_while(|c| !matches!(c, '"' | '\'' | ' ' | ',' | ')'))
                .collect();
            if let Some(c) = exposed(host_of(&hostport)) {
                out.push(Finding::new(
                    Rule::ExposedRendezvous,
                    format!(
                        "init_method tcp://{hostport}: the store on a {} address",
                        c.name()
                    ),
                ));
            }
        }
    }
    if (l.contains("init_rpc(") && (l.contains("rpc.") || l.contains("import")))
        || l.contains("torch.distributed.rpc import init_rpc")
    {
        out.push(Finding::new(
            Rule::RpcAgent,
            "torch.distributed.rpc is started: its agent unpickles and runs the calls peers send; every peer must be trusted and the network closed to others".to_string(),
        ));
    }
    out
}

/// `--flag value` and `--flag=value` pairs of a command line.
fn options(l: &str) -> Vec<(String, String)> {
    let words: Vec<&str> = l.split_whitespace().collect();
    let mut out = Vec::new();
    for (i, w) in words.iter().enumerate() {
        if !w.starts_with("--") {
            continue;
        }
        match w.split_once('=') {
            Some((k, v)) => out.push((k.to_string(), v.to_string())),
            None => {
                if let Some(v) = words.get(i + 1).filter(|v| !v.starts_with('-')) {
                    out.push((w.to_string(), v.trim_end_matches('\\').to_string()));
                }
            }
        }
    }
    out
}

/// The value of `NAME=...` (`export NAME=`, `ENV NAME=`, `ENV NAME value`,
/// `NAME: value` in YAML env maps, `- name: NAME` + `value:` is handled by
/// the manifest reader).
fn assignment(l: &str, name: &str) -> Option<String> {
    let l = l
        .trim_start_matches("export ")
        .trim_start_matches("ENV ")
        .trim();
    let rest = l.strip_prefix(name)?;
    let v = rest
        .strip_prefix('=')
        .or_else(|| rest.strip_prefix(':'))
        .or_else(|| rest.strip_prefix(' '))?;
    Some(v.trim().trim_matches(['"', '\'']).to_string())
}

/// The 1-based line of the first occurrence of `needle` in `text` (1 when
/// absent).
fn line_of(text: &str, needle: &str) -> u32 {
    text.lines()
        .position(|l| l.contains(needle))
        .map_or(1, |n| u32::try_from(n + 1).unwrap_or(u32::MAX))
}

/// Kubernetes: host networking, exposing Services, `MASTER_ADDR` values.
fn manifest_findings(d: &Yaml, text: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    let Some(kind) = d["kind"].as_str() else {
        return out;
    };
    let mut host_network = false;
    walk(d, &mut |k, v| {
        if k == "hostNetwork" && v.as_bool() == Some(true) {
            host_network = true;
        }
    });
    if host_network {
        out.push(
            Finding::new(
                Rule::HostNetworkPod,
                format!("{kind} pods on the host's network (`hostNetwork: true`): the store and every worker port listen on the node's interfaces"),
            )
            .at(line_of(text, "hostNetwork"), 1),
        );
    }
    if kind == "Service" {
        let ty = d["spec"]["type"].as_str().unwrap_or("ClusterIP");
        if ty == "LoadBalancer" || ty == "NodePort" {
            for p in d["spec"]["ports"].as_vec().into_iter().flatten() {
                let port = p["port"]
                    .as_i64()
                    .or_else(|| p["targetPort"].as_i64())
                    .unwrap_or(0);
                if let Ok(port) = u16::try_from(port)
                    && ML_PORTS.contains(&port)
                {
                    out.push(
                        Finding::new(
                            Rule::MlPortPublished,
                            format!("Service of type {ty} publishes port {port} (a store's or ML service's) outside the cluster"),
                        )
                        .at(line_of(text, &format!("{port}")), 1),
                    );
                }
            }
        }
    }
    out
}

/// Compose: `ports:` entries on every interface for ML ports.
fn compose_findings(d: &Yaml, text: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    let Some(services) = d["services"].as_hash() else {
        return out;
    };
    for (name, svc) in services {
        let name = name.as_str().unwrap_or("?");
        for p in svc["ports"].as_vec().into_iter().flatten() {
            let (host_ip, target) = match p {
                Yaml::String(s) => compose_port(s),
                Yaml::Integer(i) => (None, u16::try_from(*i).ok()),
                Yaml::Hash(_) => (
                    p["host_ip"].as_str().map(str::to_string),
                    p["target"].as_i64().and_then(|t| u16::try_from(t).ok()),
                ),
                _ => (None, None),
            };
            let Some(target) = target.filter(|t| ML_PORTS.contains(t)) else {
                continue;
            };
            let open = host_ip.as_deref().is_none_or(|h| exposed(h).is_some());
            if open {
                out.push(
                    Finding::new(
                        Rule::MlPortPublished,
                        format!("service `{name}` publishes port {target} on every interface of the host (give `127.0.0.1:` or a private address)"),
                    )
                    .at(line_of(text, &format!("{target}")), 1),
                );
            }
        }
    }
    out
}

/// `[HOST:]PUBLISHED:TARGET[/proto]` or `TARGET`: the host address and the
/// container port.
fn compose_port(s: &str) -> (Option<String>, Option<u16>) {
    let s = s.split('/').next().unwrap_or(s);
    let parts: Vec<&str> = s.rsplitn(3, ':').collect();
    let target = parts
        .first()
        .and_then(|t| t.split('-').next()?.parse().ok());
    let host = (parts.len() == 3).then(|| parts[2].trim_matches(['[', ']']).to_string());
    (host, target)
}

/// Every key-value pair under `y`.
fn walk(y: &Yaml, f: &mut dyn FnMut(&str, &Yaml)) {
    match y {
        Yaml::Hash(h) => {
            for (k, v) in h {
                if let Some(k) = k.as_str() {
                    f(k, v);
                }
                walk(v, f);
            }
        }
        Yaml::Array(a) => a.iter().for_each(|v| walk(v, f)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(path: &str, text: &str) -> Vec<Rule> {
        lint_text(path, text).0.iter().map(|f| f.rule).collect()
    }

    #[test]
    fn launch_lines() {
        assert_eq!(
            rules(
                "run.sh",
                "torchrun --nnodes 2 --rdzv_endpoint=0.0.0.0:29400 train.py\n"
            ),
            [Rule::ExposedRendezvous]
        );
        assert_eq!(
            rules(
                "run.sh",
                "python -m torch.distributed.run --master-addr 203.0.113.7 train.py\n"
            ),
            [Rule::ExposedRendezvous]
        );
        assert!(rules("run.sh", "torchrun --rdzv-endpoint $HEAD:29400 train.py\n").is_empty());
        assert!(
            rules(
                "run.sh",
                "torchrun --rdzv-endpoint 10.0.0.4:29400 train.py\n"
            )
            .is_empty()
        );
        assert_eq!(
            rules(".env", "MASTER_ADDR=0.0.0.0\n"),
            [Rule::ExposedRendezvous]
        );
        assert_eq!(
            rules("Dockerfile", "ENV MASTER_ADDR 0.0.0.0\n"),
            [Rule::ExposedRendezvous]
        );
        assert!(rules(".env", "MASTER_ADDR=127.0.0.1\n").is_empty());
        assert_eq!(
            rules(
                "t.py",
                "dist.init_process_group('gloo', init_method='tcp://0.0.0.0:23456', rank=r)\n"
            ),
            [Rule::ExposedRendezvous]
        );
        assert_eq!(
            rules("t.py", "    rpc.init_rpc('worker', rank=0, world_size=2)\n"),
            [Rule::RpcAgent]
        );
        assert!(rules("t.py", "# torchrun --rdzv_endpoint=0.0.0.0:29400\n").is_empty());
    }

    #[test]
    fn continued_commands_are_one() {
        let src = "#!/bin/bash\nsrun torchrun \\\n    --nnodes 4 \\\n    --rdzv_endpoint=0.0.0.0:29500 \\\n    train.py\n";
        let (f, _) = lint_text("train.sbatch", src);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].location.line, Some(2));
    }

    #[test]
    fn compose_ports() {
        assert_eq!(compose_port("29500:29500"), (None, Some(29500)));
        assert_eq!(
            compose_port("127.0.0.1:8888:8888"),
            (Some("127.0.0.1".into()), Some(8888))
        );
        assert_eq!(compose_port("8265"), (None, Some(8265)));
        let src = "services:\n  head:\n    ports:\n      - \"8265:8265\"\n      - \"127.0.0.1:6379:6379\"\n      - 9000:9000\n";
        assert_eq!(rules("compose.yaml", src), [Rule::MlPortPublished]);
        assert_eq!(lint_text("compose.yaml", src).0[0].location.line, Some(4));
    }
}
