//! `airlock net probe TARGET...`: the same fingerprints as `listeners`,
//! over the network, against only what the user names: hosts, `host:port`
//! and CIDR blocks of at most [`MAX_ADDRESSES`] addresses. Every
//! connection is bounded in time, at most `concurrency` run at once and at
//! most `rate` start per second. Read-only unless `prove` is set (one
//! TCPStore `SET` and `DELETE_KEY` of a marker key); it never submits a job
//! or code.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use airlock_policy::{Finding, Rule, Verdict};

use crate::fingerprint::{self, Evidence};
use crate::service::Kind;

/// Most addresses one probe reaches (all targets together).
pub const MAX_ADDRESSES: usize = 256;

/// The ports probed when a target names none, with the service each is the
/// default of.
pub const DEFAULT_PORTS: &[(u16, Kind)] = &[
    (29500, Kind::TcpStore),
    (29400, Kind::TcpStore),
    (6379, Kind::RayGcs),
    (8265, Kind::RayDashboard),
    (10001, Kind::RayClient),
    (8888, Kind::Jupyter),
    (6006, Kind::TensorBoard),
    (5000, Kind::MlFlow),
    (8080, Kind::TorchServeInference),
    (8081, Kind::TorchServeManagement),
    (8082, Kind::TorchServeMetrics),
    (8000, Kind::OpenAiServer),
    (30000, Kind::OpenAiServer),
    (11434, Kind::OpenAiServer),
    (7860, Kind::Gradio),
    (8501, Kind::Streamlit),
    (8786, Kind::DaskScheduler),
    (8787, Kind::DaskWorker),
];

/// How to probe.
#[derive(Debug, Clone)]
pub struct ProbeOptions {
    /// Connections at once.
    pub concurrency: usize,
    /// Connections started per second, at most.
    pub rate: u32,
    /// Prove write access to a TCPStore (one `SET` + `DELETE_KEY`).
    pub prove: bool,
}

impl Default for ProbeOptions {
    fn default() -> Self {
        ProbeOptions {
            concurrency: 32,
            rate: 1000,
            prove: false,
        }
    }
}

/// What a probe of one address and port found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Endpoint {
    /// Address and port.
    pub addr: SocketAddr,
    /// Whether a TCP connection was accepted.
    pub open: bool,
    /// The service the exchanges confirmed.
    pub service: Option<Kind>,
    /// What the exchanges showed.
    pub evidence: Vec<Evidence>,
    /// The finding, if any.
    #[serde(skip)]
    pub findings: Vec<Finding>,
    /// Its verdict.
    #[serde(skip)]
    pub verdict: Verdict,
}

/// Targets the user named, expanded: addresses and the ports of each.
pub fn expand(targets: &[String], ports: &[u16]) -> Result<Vec<SocketAddr>, String> {
    let mut out: BTreeSet<SocketAddr> = BTreeSet::new();
    let mut addresses: BTreeSet<IpAddr> = BTreeSet::new();
    for t in targets {
        let (ips, port) = target(t)?;
        addresses.extend(ips.iter().copied());
        if addresses.len() > MAX_ADDRESSES {
            return Err(format!(
                "more than {MAX_ADDRESSES} addresses: probe smaller blocks (a /24 at most)"
            ));
        }
        let ps: Vec<u16> = match port {
            Some(p) => vec![p],
            None => ports.to_vec(),
        };
        for ip in ips {
            out.extend(ps.iter().map(|&p| SocketAddr::new(ip, p)));
        }
    }
    Ok(out.into_iter().collect())
}

/// One target: `ADDR`, `ADDR:PORT`, `[V6]:PORT`, `HOST[:PORT]`, `CIDR`.
fn target(t: &str) -> Result<(Vec<IpAddr>, Option<u16>), String> {
    if let Some((net, bits)) = t.split_once('/') {
        let ip: IpAddr = net
            .parse()
            .map_err(|_| format!("{t}: not an address block"))?;
        let bits: u8 = bits
            .parse()
            .map_err(|_| format!("{t}: not a prefix length"))?;
        return Ok((block(ip, bits).map_err(|e| format!("{t}: {e}"))?, None));
    }
    if let Ok(ip) = t.parse::<IpAddr>() {
        return Ok((vec![ip], None));
    }
    if let Ok(sa) = t.parse::<SocketAddr>() {
        return Ok((vec![sa.ip()], Some(sa.port())));
    }
    let (host, port) = match t.rsplit_once(':') {
        Some((h, p)) => (
            h,
            Some(p.parse::<u16>().map_err(|_| format!("{t}: bad port"))?),
        ),
        None => (t, None),
    };
    let ips: BTreeSet<IpAddr> = (host, port.unwrap_or(0))
        .to_socket_addrs()
        .map_err(|e| format!("{t}: {e}"))?
        .map(|a| a.ip())
        .collect();
    Ok((ips.into_iter().collect(), port))
}

/// The addresses of a CIDR block (network and broadcast included: the
/// user named them), refused above [`MAX_ADDRESSES`].
fn block(ip: IpAddr, bits: u8) -> Result<Vec<IpAddr>, String> {
    let width = if ip.is_ipv4() { 32 } else { 128 };
    if bits > width {
        return Err(format!("prefix longer than {width} bits"));
    }
    let host_bits = u32::from(width - bits);
    if host_bits > 8 {
        return Err(format!(
            "2^{host_bits} addresses, more than {MAX_ADDRESSES}"
        ));
    }
    let n = 1u128 << host_bits;
    Ok(match ip {
        IpAddr::V4(v) => {
            let base = u32::from(v) & (u32::MAX.checked_shl(host_bits).unwrap_or(0));
            (0..n as u32)
                .map(|i| IpAddr::V4((base + i).into()))
                .collect()
        }
        IpAddr::V6(v) => {
            let base = u128::from(v) & (u128::MAX.checked_shl(host_bits).unwrap_or(0));
            (0..n).map(|i| IpAddr::V6((base + i).into())).collect()
        }
    })
}

/// Probe every endpoint, bounded by `opts`.
pub fn probe(endpoints: &[SocketAddr], opts: &ProbeOptions) -> Vec<Endpoint> {
    let next = Mutex::new(0usize);
    let pace = Pace::new(opts.rate);
    let results = Mutex::new(Vec::with_capacity(endpoints.len()));
    std::thread::scope(|scope| {
        for _ in 0..opts.concurrency.clamp(1, 256).min(endpoints.len().max(1)) {
            scope.spawn(|| {
                loop {
                    let i = {
                        let mut n = next.lock().expect("lock");
                        let i = *n;
                        *n += 1;
                        i
                    };
                    let Some(&addr) = endpoints.get(i) else { break };
                    pace.wait();
                    let e = one(addr, opts);
                    results.lock().expect("lock").push(e);
                }
            });
        }
    });
    let mut out = results.into_inner().expect("lock");
    out.sort_by_key(|e| e.addr);
    out
}

/// Starts spaced at most `rate` per second.
struct Pace {
    gap: Duration,
    next: Mutex<Instant>,
}

impl Pace {
    fn new(rate: u32) -> Pace {
        Pace {
            gap: Duration::from_secs(1) / rate.max(1),
            next: Mutex::new(Instant::now()),
        }
    }

    fn wait(&self) {
        let at = {
            let mut n = self.next.lock().expect("lock");
            let at = (*n).max(Instant::now());
            *n = at + self.gap;
            at
        };
        std::thread::sleep(at.saturating_duration_since(Instant::now()));
    }
}

/// Probe one endpoint: connect, then the exchanges its port calls for
/// (the TCPStore's for ports of no HTTP service).
fn one(addr: SocketAddr, opts: &ProbeOptions) -> Endpoint {
    let mut e = Endpoint {
        addr,
        open: false,
        service: None,
        evidence: Vec::new(),
        findings: Vec::new(),
        verdict: Verdict::Safe,
    };
    let default = DEFAULT_PORTS
        .iter()
        .find(|(p, _)| *p == addr.port())
        .map(|(_, k)| *k);
    // A port of no known service: the TCPStore's exchange first (a store
    // answers at once), then HTTP, stopping at the first server that does
    // not speak it: each wrong guess costs one timeout at most.
    if matches!(default, Some(Kind::TcpStore) | None) {
        store(&mut e, opts);
        if !e.open {
            return e;
        }
    }
    let http_kinds: Vec<Kind> = match default {
        _ if e.service.is_some() => Vec::new(),
        Some(Kind::TcpStore) => Vec::new(),
        Some(k) => vec![k],
        None => vec![
            Kind::Jupyter,
            Kind::RayDashboard,
            Kind::TorchServeManagement,
            Kind::OpenAiServer,
            Kind::MlFlow,
        ],
    };
    for k in http_kinds {
        let Some(ev) = fingerprint::http(k, addr) else {
            continue;
        };
        let (ok, http) = (ev.confirmed, ev.detail.contains(": HTTP "));
        if ev.detail.contains("Connection refused") || ev.detail.contains("Connect error") {
            return e;
        }
        e.open = true;
        e.evidence.push(ev);
        if ok {
            e.service = Some(k);
        }
        if ok || !http {
            break;
        }
    }
    judge(&mut e);
    e
}

/// The TCPStore exchanges on one connection: confirm, count keys, and
/// with `--prove` write and delete a marker key. A refused connection
/// leaves the endpoint closed.
fn store(e: &mut Endpoint, opts: &ProbeOptions) {
    let Ok(mut s) = fingerprint::connect(e.addr) else {
        return;
    };
    e.open = true;
    let key = format!("airlock-probe/{}-{}", std::process::id(), e.addr.port());
    let prove = opts.prove.then_some(key.as_str());
    let ev = fingerprint::store_exchange(&mut s, e.addr, true, prove);
    if ev[0].confirmed {
        e.service = Some(Kind::TcpStore);
    }
    e.evidence.extend(ev);
}

fn judge(e: &mut Endpoint) {
    let Some(k) = e.service else { return };
    let open = e.evidence.iter().rev().find_map(|v| v.open);
    let runs = match k {
        Kind::Jupyter => open == Some(true),
        k => k.runs_what_it_is_sent(),
    };
    let (rule, what) = if runs {
        (
            Rule::CodeExecutionExposed,
            "runs what it is sent, without authentication",
        )
    } else {
        (Rule::ServiceExposed, "answers without authentication")
    };
    let shown = e
        .evidence
        .iter()
        .filter(|v| v.confirmed)
        .map(|v| v.detail.as_str())
        .collect::<Vec<_>>()
        .join("; ");
    e.findings.push(Finding::new(
        rule,
        format!(
            "tcp {}: {} reachable from this host {what} ({shown})",
            e.addr,
            k.describe()
        ),
    ));
    e.verdict = Verdict::from_findings(&e.findings);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_expand_within_bounds() {
        let a = expand(&["127.0.0.1:29500".into(), "127.0.0.2".into()], &[1, 2]).unwrap();
        assert_eq!(a.len(), 3);
        assert_eq!(
            expand(&["127.0.0.0/24".into()], &[29500]).unwrap().len(),
            256
        );
        assert!(
            expand(&["127.0.0.0/23".into()], &[29500])
                .unwrap_err()
                .contains("more than 256")
        );
        assert!(expand(&["127.0.0.0/24".into(), "127.0.1.1".into()], &[1]).is_err());
        assert_eq!(expand(&["::1/127".into()], &[1]).unwrap().len(), 2);
        assert_eq!(
            expand(&["[::1]:8888".into()], &[1]).unwrap()[0].port(),
            8888
        );
        assert!(expand(&["10.0.0.0/33".into()], &[1]).is_err());
    }

    #[test]
    fn a_closed_port_is_only_closed() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        drop(l);
        let r = probe(&[addr], &ProbeOptions::default());
        assert!(!r[0].open && r[0].findings.is_empty());
    }

    #[test]
    fn pacing_spaces_starts() {
        let p = Pace::new(50);
        let t = Instant::now();
        for _ in 0..6 {
            p.wait();
        }
        assert!(t.elapsed() >= Duration::from_millis(90));
    }
}
