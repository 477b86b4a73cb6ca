//! `airlock net listeners`: every waiting socket of this host, the process
//! and service behind it, who can reach it, and the verdict.
//!
//! Verdicts: `code-execution-exposed` (reachable beyond loopback, and the
//! service runs what it is sent without authentication: NT0001),
//! `exposed` (reachable beyond loopback: an ML service NT0002, anything
//! else NT0003), `local` (loopback only; a known ML service is NT0004).

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use airlock_policy::{Finding, Rule, Verdict};

use crate::addr::{self, Class, Interface};
use crate::fingerprint::{self, Evidence};
use crate::proc_net::{self, Proto, Socket, TableError};
use crate::process::{self, Process};
use crate::service::{self, Identified, Kind};

/// How to survey.
#[derive(Debug, Clone)]
pub struct Options {
    /// The proc filesystem (`/proc`).
    pub proc: PathBuf,
    /// Confirm services by a read-only exchange over loopback.
    pub fingerprint: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            proc: PathBuf::from("/proc"),
            fingerprint: true,
        }
    }
}

/// Who can reach a listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Exposure {
    /// This host only.
    Local,
    /// Other hosts.
    Exposed,
    /// Other hosts, and it runs what they send.
    CodeExecutionExposed,
}

impl Exposure {
    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Exposure::Local => "local",
            Exposure::Exposed => "exposed",
            Exposure::CodeExecutionExposed => "code-execution-exposed",
        }
    }
}

/// One waiting socket, judged.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Listener {
    /// TCP or UDP.
    pub proto: Proto,
    /// The bound address.
    pub ip: IpAddr,
    /// The bound port.
    pub port: u16,
    /// The bound address's class.
    pub bound: Class,
    /// The widest class that reaches it.
    pub reach: Class,
    /// For a wildcard, the interface addresses it answers on.
    pub interfaces: Vec<Interface>,
    /// The socket's owner uid.
    pub uid: u32,
    /// The process holding it, when readable.
    pub process: Option<Process>,
    /// The service, when identified.
    pub service: Option<Identified>,
    /// What the loopback exchanges showed.
    pub evidence: Vec<Evidence>,
    /// Who can reach it, and what they can do.
    pub exposure: Exposure,
    /// The findings (one at most; in JSON as the report writes them).
    #[serde(skip)]
    pub findings: Vec<Finding>,
    /// The verdict the findings add up to.
    #[serde(skip)]
    pub verdict: Verdict,
}

impl Listener {
    /// `tcp 0.0.0.0:29500`.
    pub fn endpoint(&self) -> String {
        format!(
            "{} {}",
            self.proto.name(),
            SocketAddr::new(self.ip, self.port)
        )
    }
}

/// The survey of a host.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Survey {
    /// Every waiting socket.
    pub listeners: Vec<Listener>,
    /// This host's interface addresses.
    pub interfaces: Vec<Interface>,
    /// Processes whose descriptors could not be read (another user's).
    pub unreadable_processes: usize,
    /// Sockets left without an exchange (over [`MAX_EXCHANGES`]).
    pub exchanges_skipped: usize,
}

/// Why a survey could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SurveyError {
    /// The socket tables.
    #[error(transparent)]
    Table(#[from] TableError),
    /// The interfaces.
    #[error("the host's interfaces: {0}")]
    Interfaces(std::io::Error),
}

/// Survey this host.
pub fn survey(opts: &Options) -> Result<Survey, SurveyError> {
    let sockets = proc_net::read_all(&opts.proc)?;
    let interfaces = addr::interfaces().map_err(SurveyError::Interfaces)?;
    let inodes: HashSet<u64> = sockets.iter().map(|s| s.inode).collect();
    let (owners, unreadable_processes) = process::owners(&opts.proc, &inodes);
    let plan = exchange_plan(&sockets, &owners, opts.fingerprint);
    let exchanges_skipped = plan.skipped;
    let mut listeners = judge_all(&sockets, &owners, &interfaces, &plan.probe);
    listeners.sort_by(|a, b| {
        (b.exposure, a.proto, a.port, a.ip).cmp(&(a.exposure, b.proto, b.port, b.ip))
    });
    Ok(Survey {
        listeners,
        interfaces,
        unreadable_processes,
        exchanges_skipped,
    })
}

/// Most loopback exchanges one survey makes (each can wait for a timeout).
pub const MAX_EXCHANGES: usize = 64;

/// Threads judging sockets at once (the exchanges wait on the network).
const THREADS: usize = 16;

/// Which sockets get an exchange: TCP sockets of identified services
/// first, then those of Python processes nothing identified (a TCPStore a
/// script made), at most [`MAX_EXCHANGES`].
struct ExchangePlan {
    probe: Vec<bool>,
    skipped: usize,
}

fn exchange_plan(
    sockets: &[Socket],
    owners: &std::collections::HashMap<u64, Process>,
    enabled: bool,
) -> ExchangePlan {
    let mut probe = vec![false; sockets.len()];
    if !enabled {
        return ExchangePlan { probe, skipped: 0 };
    }
    let rank = |s: &Socket| -> Option<u8> {
        if s.proto != Proto::Tcp || fingerprint::loopback_for(s.ip).is_none() {
            return None;
        }
        let p = owners.get(&s.inode);
        if service::identify(p, s.port).is_some() {
            return Some(0);
        }
        p.filter(|p| p.comm.starts_with("python") || p.command().contains("python"))
            .map(|_| 1)
    };
    let mut wanted: Vec<(u8, usize)> = sockets
        .iter()
        .enumerate()
        .filter_map(|(i, s)| rank(s).map(|r| (r, i)))
        .collect();
    wanted.sort();
    let skipped = wanted.len().saturating_sub(MAX_EXCHANGES);
    for (_, i) in wanted.into_iter().take(MAX_EXCHANGES) {
        probe[i] = true;
    }
    ExchangePlan { probe, skipped }
}

/// [`judge`] every socket, on up to [`THREADS`] threads taking the next
/// socket as they finish one (the exchanges, which may wait, spread over
/// all of them).
fn judge_all(
    sockets: &[Socket],
    owners: &std::collections::HashMap<u64, Process>,
    ifaces: &[Interface],
    probe: &[bool],
) -> Vec<Listener> {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    let done: Mutex<Vec<(usize, Listener)>> = Mutex::new(Vec::with_capacity(sockets.len()));
    std::thread::scope(|scope| {
        for _ in 0..THREADS.min(sockets.len().max(1)) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(s) = sockets.get(i) else { break };
                    let l = judge(s, owners.get(&s.inode).cloned(), ifaces, probe[i]);
                    done.lock().expect("lock").push((i, l));
                }
            });
        }
    });
    let mut done = done.into_inner().expect("lock");
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, l)| l).collect()
}

/// Identify, confirm and judge one socket.
pub fn judge(s: &Socket, process: Option<Process>, ifaces: &[Interface], probe: bool) -> Listener {
    let mut service = service::identify(process.as_ref(), s.port);
    let mut evidence = Vec::new();
    if probe && s.proto == Proto::Tcp {
        if let Some(e) = confirm(s, process.as_ref(), &mut service) {
            evidence.push(e);
        }
    }
    let reach = addr::reach(s.ip, ifaces);
    let exposure = exposure(reach, service.as_ref(), process.as_ref(), &evidence);
    let findings: Vec<Finding> = finding(s, exposure, service.as_ref(), &evidence)
        .into_iter()
        .collect();
    Listener {
        proto: s.proto,
        ip: s.ip,
        port: s.port,
        bound: addr::classify(s.ip),
        reach,
        interfaces: if s.ip.is_unspecified() {
            addr::reached(s.ip, ifaces).into_iter().cloned().collect()
        } else {
            Vec::new()
        },
        uid: s.uid,
        verdict: Verdict::from_findings(&findings),
        process,
        service,
        evidence,
        exposure,
        findings,
    }
}

/// The loopback exchange for a socket: a TCPStore check for the listeners
/// of distributed jobs and of Python processes nothing else identified, an
/// HTTP `GET` for HTTP services. Updates `service` with what it shows.
fn confirm(s: &Socket, p: Option<&Process>, service: &mut Option<Identified>) -> Option<Evidence> {
    let addr = SocketAddr::new(fingerprint::loopback_for(s.ip)?, s.port);
    let python = p.is_some_and(|p| p.comm.starts_with("python") || p.command().contains("python"));
    let kind = service.as_ref().map(|i| i.kind);
    let store_candidate =
        matches!(kind, Some(Kind::TcpStore | Kind::DistributedPeer)) || (kind.is_none() && python);
    if store_candidate {
        let e = fingerprint::tcpstore(addr);
        if e.confirmed {
            *service = Some(Identified {
                kind: Kind::TcpStore,
                evidence: e.detail.clone(),
                by_port_only: false,
            });
        }
        return Some(e);
    }
    let e = fingerprint::http(kind?, addr)?;
    if let Some(i) = service.as_mut()
        && e.confirmed
    {
        i.by_port_only = false;
    }
    Some(e)
}

/// Who can reach the socket and what they can do.
fn exposure(
    reach: Class,
    service: Option<&Identified>,
    p: Option<&Process>,
    evidence: &[Evidence],
) -> Exposure {
    if reach == Class::Loopback {
        return Exposure::Local;
    }
    let Some(i) = service else {
        return Exposure::Exposed;
    };
    let open = evidence.iter().find_map(|e| e.open);
    let runs = match i.kind {
        // Jupyter asks for a token unless told not to: the exchange (or an
        // empty token on the command line) decides.
        Kind::Jupyter => open.unwrap_or_else(|| p.is_some_and(jupyter_without_token)),
        Kind::Triton => p.is_some_and(|p| p.command().contains("model-control-mode=explicit")),
        k => k.runs_what_it_is_sent(),
    };
    if runs {
        Exposure::CodeExecutionExposed
    } else {
        Exposure::Exposed
    }
}

/// `--ServerApp.token=''` (or NotebookApp's, IdentityProvider's) with no
/// password: a Jupyter server that takes anyone's code.
fn jupyter_without_token(p: &Process) -> bool {
    p.cmdline.iter().any(|a| {
        a.split_once('=').is_some_and(|(k, v)| {
            k.ends_with(".token") && matches!(v.trim_matches(['\'', '"']), "")
        })
    })
}

/// The finding for a judged socket, if it has one.
fn finding(
    s: &Socket,
    exposure: Exposure,
    service: Option<&Identified>,
    evidence: &[Evidence],
) -> Option<Finding> {
    let at = format!("{} {}", s.proto.name(), SocketAddr::new(s.ip, s.port));
    let what = |i: &Identified| {
        let mut w = format!("{} ({})", i.kind.describe(), i.evidence);
        if let Some(e) = evidence
            .iter()
            .find(|e| e.confirmed && e.detail != i.evidence)
        {
            w.push_str(&format!("; {}", e.detail));
        }
        w
    };
    let (rule, msg) = match (exposure, service) {
        (Exposure::CodeExecutionExposed, Some(i)) => (
            Rule::CodeExecutionExposed,
            format!(
                "{at}: {} is reachable beyond loopback and runs what it is sent, without authentication",
                what(i)
            ),
        ),
        (Exposure::Exposed, Some(i)) => (
            Rule::ServiceExposed,
            format!("{at}: {} is reachable beyond loopback", what(i)),
        ),
        (Exposure::Exposed, None) => (
            Rule::ListenerExposed,
            format!("{at}: reachable beyond loopback, not identified"),
        ),
        (Exposure::Local, Some(i)) => (
            Rule::ServiceLocal,
            format!("{at}: {} (loopback only)", what(i)),
        ),
        (_, None) => return None,
    };
    Some(Finding::new(rule, msg))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sock(ip: &str, port: u16) -> Socket {
        Socket {
            proto: Proto::Tcp,
            ip: ip.parse().unwrap(),
            port,
            inode: 1,
            uid: 0,
        }
    }

    fn ifaces() -> Vec<Interface> {
        vec![
            Interface {
                name: "lo".into(),
                ip: "127.0.0.1".parse().unwrap(),
                class: Class::Loopback,
            },
            Interface {
                name: "eth0".into(),
                ip: "10.0.0.5".parse().unwrap(),
                class: Class::Private,
            },
        ]
    }

    fn rank() -> Process {
        Process {
            pid: 7,
            comm: "python".into(),
            cmdline: vec!["python".into(), "train.py".into()],
            env: vec![("MASTER_PORT".into(), "29511".into())],
            ..Process::default()
        }
    }

    #[test]
    fn a_store_on_the_wildcard_is_code_execution_exposed() {
        let l = judge(&sock("0.0.0.0", 29511), Some(rank()), &ifaces(), false);
        assert_eq!(l.exposure, Exposure::CodeExecutionExposed);
        assert_eq!(l.findings[0].rule, Rule::CodeExecutionExposed);
        assert_eq!(l.verdict, Verdict::Dangerous);
        assert_eq!(l.interfaces.len(), 2);
    }

    #[test]
    fn loopback_only_is_local() {
        let l = judge(&sock("127.0.0.1", 29511), Some(rank()), &ifaces(), false);
        assert_eq!(l.exposure, Exposure::Local);
        assert_eq!(l.findings[0].rule, Rule::ServiceLocal);
        // A host with loopback alone: the wildcard reaches no further.
        let l = judge(&sock("0.0.0.0", 29511), Some(rank()), &ifaces()[..1], false);
        assert_eq!(l.exposure, Exposure::Local);
    }

    #[test]
    fn jupyter_needs_a_token_unless_told_otherwise() {
        let mut p = Process {
            comm: "jupyter-lab".into(),
            cmdline: vec!["jupyter-lab".into(), "--ip=0.0.0.0".into()],
            ..Process::default()
        };
        let l = judge(&sock("0.0.0.0", 8888), Some(p.clone()), &ifaces(), false);
        assert_eq!(l.exposure, Exposure::Exposed);
        p.cmdline.push("--ServerApp.token=".into());
        let l = judge(&sock("0.0.0.0", 8888), Some(p), &ifaces(), false);
        assert_eq!(l.exposure, Exposure::CodeExecutionExposed);
    }

    #[test]
    fn unknown_listeners_are_exposed_notes() {
        let l = judge(&sock("0.0.0.0", 22), None, &ifaces(), false);
        assert_eq!(l.exposure, Exposure::Exposed);
        assert_eq!(l.findings[0].rule, Rule::ListenerExposed);
        assert_eq!(l.verdict, Verdict::Safe);
        let l = judge(&sock("127.0.0.1", 22), None, &ifaces(), false);
        assert!(l.findings.is_empty());
    }
}
