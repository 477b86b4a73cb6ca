//! `airlock net listeners` against real services started by the test: a
//! torch.distributed TCPStore (torch from AIRLOCK_VENV) is found, tied to
//! its process, confirmed by the VALIDATE/PING exchange over loopback, and
//! judged by the interfaces its wildcard bind answers on. Loopback only;
//! every wait bounded.

mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::airlock;

/// The venv with torch (AIRLOCK_VENV). Without it the test is skipped,
/// unless AIRLOCK_NET_REQUIRED is set (the full suite sets it).
fn torch_python() -> Option<PathBuf> {
    let required = std::env::var_os("AIRLOCK_NET_REQUIRED").is_some();
    let py = std::env::var_os("AIRLOCK_VENV").map(|v| PathBuf::from(v).join("bin/python"));
    let ok = py.as_ref().is_some_and(|py| {
        Command::new(py)
            .args(["-c", "import torch.distributed"])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    assert!(
        ok || !required,
        "AIRLOCK_NET_REQUIRED: AIRLOCK_VENV names no venv with torch"
    );
    if !ok {
        eprintln!("skipping: AIRLOCK_VENV names no venv with torch");
    }
    ok.then(|| py.unwrap())
}

/// A child killed when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A real TCPStore master on a free port, in its own Python process: the
/// child and the port.
fn tcpstore(py: &PathBuf) -> (Killed, u16) {
    let script = "import sys, time\n\
        from torch.distributed import TCPStore\n\
        s = TCPStore('127.0.0.1', 0, world_size=1, is_master=True, wait_for_workers=False)\n\
        s.set('rank0', 'ready')\n\
        print(s.port, flush=True)\n\
        time.sleep(120)\n";
    let mut child = Command::new(py)
        .args(["-c", script])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let child = Killed(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(out).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the TCPStore started within 60 s");
    (child, line.trim().parse().expect("a port"))
}

fn listeners_json(extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["net", "listeners", "--format", "json", "--all"];
    args.extend_from_slice(extra);
    let o = airlock(&args);
    assert!(
        matches!(o.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn a_real_tcpstore_is_found_confirmed_and_judged() {
    let Some(py) = torch_python() else { return };
    let (child, port) = tcpstore(&py);
    let pid = child.0.id();
    let started = Instant::now();
    let v = listeners_json(&[]);
    assert!(started.elapsed() < Duration::from_secs(30));
    let mine: Vec<&serde_json::Value> = v["listeners"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["port"] == port && l["proto"] == "tcp")
        .collect();
    assert!(!mine.is_empty(), "port {port} not listed: {v:#}");
    for l in &mine {
        // torch binds the store to the wildcard whatever host it is given.
        assert_eq!(l["bound"], "wildcard", "{l:#}");
        assert_eq!(l["process"]["pid"], pid, "{l:#}");
        assert_eq!(l["service"]["kind"], "tcp-store", "{l:#}");
        assert!(
            l["evidence"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["confirmed"] == true && e["detail"].as_str().unwrap().contains("nonce")),
            "{l:#}"
        );
        // Reachable beyond loopback exactly when the host has another
        // interface: then anyone there drives the store.
        let beyond = l["interfaces"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["class"] != "loopback");
        let (exposure, rule) = if beyond {
            ("code-execution-exposed", "NT0001")
        } else {
            ("local", "NT0004")
        };
        assert_eq!(l["exposure"], exposure, "{l:#}");
        assert_eq!(l["findings"][0]["rule"], rule, "{l:#}");
    }
    // Without the exchange the process still says nothing: a bare script
    // that made a store is a Python listener, not identified.
    let v = listeners_json(&["--no-exchange"]);
    let l = v["listeners"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["port"] == port)
        .unwrap();
    assert!(l["service"].is_null(), "{l:#}");
    assert!(l["evidence"].as_array().unwrap().is_empty());
    drop(child);
}

#[test]
fn sarif_and_text() {
    let Some(py) = torch_python() else { return };
    let (child, port) = tcpstore(&py);
    let o = airlock(&["net", "listeners", "--format", "sarif"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let rules = v["runs"][0]["tool"]["driver"]["rules"].as_array().unwrap();
    assert!(
        rules
            .iter()
            .all(|r| r["id"].as_str().unwrap().starts_with("NT"))
    );
    let uri = format!("/{port}");
    assert!(v["runs"][0]["results"].as_array().unwrap().iter().any(|r| {
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
            .as_str()
            .unwrap()
            .ends_with(&uri)
    }));
    let o = airlock(&["net", "listeners", "--color", "never"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains(&format!(":{port}")), "{text}");
    assert!(text.contains("TCPStore"), "{text}");
    assert!(text.contains("listening socket(s)"));
    drop(child);
}

fn probe_json(args: &[&str]) -> (serde_json::Value, Option<i32>) {
    let mut all = vec!["net", "probe", "--format", "json"];
    all.extend_from_slice(args);
    let o = airlock(&all);
    let v = serde_json::from_slice(&o.stdout).unwrap_or(serde_json::Value::Null);
    (v, o.status.code())
}

fn details(e: &serde_json::Value) -> Vec<String> {
    e["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["detail"].as_str().unwrap().to_string())
        .collect()
}

/// `net probe`: a real TCPStore answers VALIDATE, PING and GETNUMKEYS over
/// the network (loopback here); `--prove` writes a marker key and deletes
/// it, leaving the store as it was.
#[test]
fn probe_a_real_tcpstore_and_prove_write_access() {
    let Some(py) = torch_python() else { return };
    let (child, port) = tcpstore(&py);
    let target = format!("127.0.0.1:{port}");
    let keys = |v: &serde_json::Value| -> String {
        details(&v["endpoints"][0])
            .into_iter()
            .find(|d| d.contains("GETNUMKEYS"))
            .expect("a key count")
    };
    let (before, code) = probe_json(&[&target]);
    assert_eq!(code, Some(1), "{before:#}");
    let e = &before["endpoints"][0];
    assert_eq!(e["service"], "tcp-store", "{e:#}");
    assert_eq!(e["findings"][0]["rule"], "NT0001");
    assert!(
        !details(e).iter().any(|d| d.contains("SET")),
        "read-only by default"
    );
    let (proved, _) = probe_json(&[&target, "--prove"]);
    assert!(
        details(&proved["endpoints"][0])
            .iter()
            .any(|d| d.contains("SET then DELETE_KEY") && d.contains("written and deleted")),
        "{proved:#}"
    );
    let (after, _) = probe_json(&[&target]);
    assert_eq!(keys(&before), keys(&after), "the marker key is gone");
    drop(child);
}

#[test]
fn probe_targets_are_bounded_and_closed_ports_quiet() {
    let o = airlock(&["net", "probe", "127.0.0.0/23"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("more than 256"));
    // A port nothing listens on: closed, no finding, exit 0.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    let started = Instant::now();
    let (v, code) = probe_json(&[&format!("127.0.0.1:{port}"), "--all"]);
    assert_eq!(code, Some(0), "{v:#}");
    assert_eq!(v["endpoints"][0]["open"], false);
    assert_eq!(v["summary"]["open"], 0);
    assert!(started.elapsed() < Duration::from_secs(10));
}

/// Whether `airlock run` works here (AIRLOCK_SANDBOX_REQUIRED makes its
/// absence a failure).
fn sandbox_available() -> bool {
    let o = airlock(&["run", "--", "/bin/true"]);
    let required = std::env::var_os("AIRLOCK_SANDBOX_REQUIRED").is_some();
    assert!(
        o.status.success() || !required,
        "the sandbox does not run here: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o.status.success()
}

/// A two-process gloo `torchrun --standalone` job, written to `dir/job.py`:
/// every rank joins an `all_reduce`, rank 0 writes the master port to
/// `dir/port` and prints the sum, and every rank waits (60 s at most) for
/// `dir/release` before it leaves. The launch arguments after the Python
/// interpreter.
fn torchrun_job(dir: &std::path::Path) -> Vec<std::ffi::OsString> {
    std::fs::create_dir_all(dir).unwrap();
    let job = dir.join("job.py");
    std::fs::write(
        &job,
        "import os, sys, time\n\
         import torch, torch.distributed as dist\n\
         dist.init_process_group('gloo')\n\
         r = dist.get_rank()\n\
         t = torch.tensor([r + 1.0])\n\
         dist.all_reduce(t)\n\
         out = sys.argv[1]\n\
         if r == 0:\n\
         \x20   open(os.path.join(out, 'port.tmp'), 'w').write(os.environ['MASTER_PORT'])\n\
         \x20   os.rename(os.path.join(out, 'port.tmp'), os.path.join(out, 'port'))\n\
         for _ in range(1200):\n\
         \x20   if os.path.exists(os.path.join(out, 'release')):\n\
         \x20       break\n\
         \x20   time.sleep(0.05)\n\
         if r == 0:\n\
         \x20   print('sum', t.item(), flush=True)\n\
         dist.destroy_process_group()\n",
    )
    .unwrap();
    let mut args: Vec<std::ffi::OsString> = [
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        "2",
    ]
    .iter()
    .map(Into::into)
    .collect();
    args.push(job.into());
    args.push(dir.into());
    args
}

/// The master port the job in `dir` wrote, waiting for it (240 s at most).
fn job_port(dir: &std::path::Path) -> u16 {
    let started = Instant::now();
    while !dir.join("port").exists() {
        assert!(
            started.elapsed() < Duration::from_secs(240),
            "the job started"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::fs::read_to_string(dir.join("port"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// `airlock run --net loopback`: a real two-process `torchrun --standalone`
/// job (gloo, all_reduce) runs inside, and its TCPStore, bound to the
/// wildcard of the sandbox's own network namespace, refuses a connection
/// from outside while the job holds it.
#[test]
fn torchrun_inside_net_loopback_is_unreachable_from_outside() {
    let Some(py) = torch_python() else { return };
    if !sandbox_available() {
        eprintln!("skipping: the sandbox does not run here");
        return;
    }
    let dir = std::env::temp_dir().join(format!("airlock-net-loopback-{}", std::process::id()));
    let job = torchrun_job(&dir);
    let d = dir.to_str().unwrap().to_string();
    let child = Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args([
            "run",
            "--net",
            "loopback",
            "--rw",
            &d,
            "--wall-time",
            "300",
            "--",
        ])
        .arg(&py)
        .args(&job)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let port = job_port(&dir);
    // The job is inside its rendezvous now; from here, nothing answers.
    for host in ["127.0.0.1", "::1"] {
        let addr = std::net::SocketAddr::new(host.parse().unwrap(), port);
        let r = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2));
        assert!(r.is_err(), "{addr} reached from outside the sandbox");
    }
    std::fs::write(dir.join("release"), "").unwrap();
    let o = child.wait_with_output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success() && out.contains("sum 3.0"),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// `net lint`: each rule on the launch files that break it, none on their
/// fixed versions.
#[test]
fn lint_launch_configurations() {
    let o = airlock(&[
        "net",
        "lint",
        "tests/fixtures/net/lint/bad",
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let mut found: Vec<String> = Vec::new();
    for f in v["files"].as_array().unwrap() {
        let path = f["path"]
            .as_str()
            .unwrap()
            .rsplit("lint/bad/")
            .next()
            .unwrap()
            .to_string();
        for x in f["findings"].as_array().unwrap() {
            found.push(format!(
                "{} {}:{}",
                x["rule"].as_str().unwrap(),
                path,
                x["line"]
            ));
        }
    }
    found.sort();
    assert_eq!(
        found,
        [
            "NT0010 .env:2",
            "NT0010 slurm/train.sbatch:8",
            "NT0011 rpc_trainer.py:8",
            "NT0012 k8s/pytorchjob.yaml:13",
            "NT0013 compose.yaml:6",
            "NT0013 compose.yaml:7",
            "NT0013 k8s/ray-dashboard.yaml:11",
            "NT0013 k8s/ray-dashboard.yaml:14",
            "NT0014 k8s/pytorchjob.yaml:1",
        ]
    );
    let o = airlock(&["net", "lint", "tests/fixtures/net/lint/good"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let o = airlock(&[
        "net",
        "lint",
        "tests/fixtures/net/lint/bad",
        "--format",
        "sarif",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["runs"][0]["results"].as_array().unwrap().len(), 9);
    let o = airlock(&["net", "lint", "tests/fixtures/net/lint/missing"]);
    assert_eq!(o.status.code(), Some(2));
}

/// Network namespaces made for one test, deleted when dropped.
struct Namespaces(Vec<String>);

impl Drop for Namespaces {
    fn drop(&mut self) {
        for n in &self.0 {
            let _ = Command::new("ip").args(["netns", "del", n]).status();
        }
    }
}

fn ip(args: &[&str]) {
    let o = Command::new("ip").args(args).output().unwrap();
    assert!(
        o.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Root, `ip` and `nft` here (AIRLOCK_FIREWALL_REQUIRED makes their absence
/// a failure).
fn firewall_tools() -> bool {
    let ok = |c: &str, a: &str| {
        Command::new(c)
            .arg(a)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let have = root && ok("ip", "-V") && ok("nft", "--version");
    assert!(
        have || std::env::var_os("AIRLOCK_FIREWALL_REQUIRED").is_none(),
        "AIRLOCK_FIREWALL_REQUIRED: needs root, ip and nft"
    );
    have
}

/// `net firewall`: its ruleset, loaded by nft into a server namespace the
/// test makes, admits the listed peer's connection to the store port and
/// drops another namespace's; without it both connect.
#[test]
fn the_firewall_admits_a_listed_peer_and_drops_another() {
    if !firewall_tools() {
        eprintln!("skipping: needs root, ip and nft");
        return;
    }
    let tag = std::process::id() % 100_000;
    let (s, p, o) = (
        format!("alS{tag}"),
        format!("alP{tag}"),
        format!("alO{tag}"),
    );
    let _ns = Namespaces(vec![s.clone(), p.clone(), o.clone()]);
    for n in [&s, &p, &o] {
        ip(&["netns", "add", n]);
        ip(&["-n", n, "link", "set", "lo", "up"]);
    }
    // Two links from the server: one to the peer, one to the other host.
    for (peer, net, a, b) in [(&p, "10.77.1", "sp", "ps"), (&o, "10.77.2", "so", "os")] {
        let (va, vb) = (format!("{a}{tag}"), format!("{b}{tag}"));
        ip(&["link", "add", &va, "type", "veth", "peer", "name", &vb]);
        ip(&["link", "set", &va, "netns", &s]);
        ip(&["link", "set", &vb, "netns", peer]);
        ip(&["-n", &s, "addr", "add", &format!("{net}.1/24"), "dev", &va]);
        ip(&[
            "-n",
            peer,
            "addr",
            "add",
            &format!("{net}.2/24"),
            "dev",
            &vb,
        ]);
        ip(&["-n", &s, "link", "set", &va, "up"]);
        ip(&["-n", peer, "link", "set", &vb, "up"]);
    }
    let mut child = Command::new("ip")
        .args(["netns", "exec", &s, "python3", "-c"])
        .arg("import socket, time\ns = socket.socket()\ns.bind(('0.0.0.0', 29500))\ns.listen(8)\nprint('ready', flush=True)\nwhile True:\n    c, _ = s.accept()\n    c.close()\n")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let listener = Killed(child);
    let mut line = String::new();
    BufReader::new(out).read_line(&mut line).unwrap();
    assert!(line.starts_with("ready"), "the listener started: {line:?}");
    let connects = |from: &str, addr: &str| -> bool {
        let code = format!(
            "import socket, sys\ntry:\n    socket.create_connection(('{addr}', 29500), timeout=2)\nexcept OSError:\n    sys.exit(1)\n"
        );
        Command::new("ip")
            .args(["netns", "exec", from, "python3", "-c", &code])
            .status()
            .unwrap()
            .success()
    };
    assert!(
        connects(&p, "10.77.1.1") && connects(&o, "10.77.2.1"),
        "both connect without the ruleset"
    );
    let rules = airlock(&[
        "net",
        "firewall",
        "--peers",
        "10.77.1.2",
        "--ports",
        "29500",
    ]);
    assert!(rules.status.success());
    let mut nft = Command::new("ip")
        .args(["netns", "exec", &s, "nft", "-f", "-"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    nft.stdin.take().unwrap().write_all(&rules.stdout).unwrap();
    assert!(nft.wait().unwrap().success(), "nft loads the ruleset");
    let started = Instant::now();
    assert!(connects(&p, "10.77.1.1"), "the listed peer is admitted");
    assert!(!connects(&o, "10.77.2.1"), "another host is dropped");
    assert!(started.elapsed() < Duration::from_secs(10));
    drop(listener);
}

/// The Jupyter venv (AIRLOCK_JUPYTER_VENV, made by scripts/lib/jupyter_venv.sh);
/// its absence fails the test under AIRLOCK_NET_REQUIRED.
fn jupyter() -> Option<PathBuf> {
    let bin =
        std::env::var_os("AIRLOCK_JUPYTER_VENV").map(|v| PathBuf::from(v).join("bin/jupyter"));
    let ok = bin.as_ref().is_some_and(|b| b.is_file());
    assert!(
        ok || std::env::var_os("AIRLOCK_NET_REQUIRED").is_none(),
        "AIRLOCK_NET_REQUIRED: AIRLOCK_JUPYTER_VENV names no venv with jupyter_server"
    );
    if !ok {
        eprintln!("skipping: AIRLOCK_JUPYTER_VENV names no venv with jupyter_server");
    }
    ok.then(|| bin.unwrap())
}

/// A real Jupyter server on a free loopback port, with `token` (empty: no
/// token), answering within 60 s.
fn jupyter_server(bin: &PathBuf, token: &str, root: &std::path::Path) -> (Killed, u16) {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let child = Command::new(bin)
        .args([
            "server",
            "--no-browser",
            "--allow-root",
            "--ServerApp.ip=127.0.0.1",
        ])
        .arg(format!("--ServerApp.port={port}"))
        .arg(format!("--IdentityProvider.token={token}"))
        .arg(format!("--ServerApp.root_dir={}", root.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let child = Killed(child);
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the Jupyter server started"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    (child, port)
}

/// A real Jupyter server without a token runs anyone's code (NT0001 when
/// probed); with a token it asks for it (NT0002); `listeners` ties each to
/// its process and reads the same over loopback.
#[test]
fn a_real_jupyter_server_with_and_without_a_token() {
    let Some(bin) = jupyter() else { return };
    let root = std::env::temp_dir().join(format!("airlock-jupyter-{}", std::process::id()));
    std::fs::create_dir_all(&root).unwrap();
    let (open, open_port) = jupyter_server(&bin, "", &root);
    let (closed, closed_port) = jupyter_server(&bin, "airlock-test-token", &root);
    let (v, code) = probe_json(&[
        &format!("127.0.0.1:{open_port}"),
        &format!("127.0.0.1:{closed_port}"),
    ]);
    assert_eq!(code, Some(1), "{v:#}");
    let by_port = |p: u16| {
        v["endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["addr"] == format!("127.0.0.1:{p}"))
            .unwrap()
            .clone()
    };
    let (o, c) = (by_port(open_port), by_port(closed_port));
    assert_eq!(o["service"], "jupyter", "{o:#}");
    assert_eq!(o["findings"][0]["rule"], "NT0001", "{o:#}");
    assert!(
        details(&o)
            .iter()
            .any(|d| d.contains("/api/kernels: HTTP 200"))
    );
    assert_eq!(c["service"], "jupyter", "{c:#}");
    assert_eq!(c["findings"][0]["rule"], "NT0002", "{c:#}");
    assert!(details(&c).iter().any(|d| d.contains("HTTP 403")));
    let l = listeners_json(&[]);
    for (port, open) in [(open_port, true), (closed_port, false)] {
        let x = l["listeners"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["port"] == port)
            .unwrap();
        assert_eq!(x["service"]["kind"], "jupyter", "{x:#}");
        assert_eq!(x["exposure"], "local", "bound to loopback: {x:#}");
        assert_eq!(x["evidence"][0]["open"], open, "{x:#}");
    }
    drop((open, closed));
    std::fs::remove_dir_all(&root).ok();
}

/// The MLflow venv (AIRLOCK_MLFLOW_VENV, made by scripts/lib/mlflow_venv.sh).
fn mlflow() -> Option<PathBuf> {
    let bin = std::env::var_os("AIRLOCK_MLFLOW_VENV").map(|v| PathBuf::from(v).join("bin/mlflow"));
    let ok = bin.as_ref().is_some_and(|b| b.is_file());
    assert!(
        ok || std::env::var_os("AIRLOCK_NET_REQUIRED").is_none(),
        "AIRLOCK_NET_REQUIRED: AIRLOCK_MLFLOW_VENV names no venv with mlflow"
    );
    if !ok {
        eprintln!("skipping: AIRLOCK_MLFLOW_VENV names no venv with mlflow");
    }
    ok.then(|| bin.unwrap())
}

/// A process group started by the test, all of it killed when dropped: the
/// `mlflow server` command runs its server (uvicorn) as a child of its own,
/// which killing the command alone leaves running.
struct KilledGroup(Child);

impl Drop for KilledGroup {
    fn drop(&mut self) {
        let pgid = self.0.id().to_string();
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{pgid}")])
            .status();
        let _ = self.0.wait();
    }
}

/// A real MLflow tracking server on loopback: `probe` finds its REST API
/// answering without credentials (NT0002: it stores runs, models and
/// artifacts for anyone who can reach it), `listeners` ties it to its
/// process and calls it local.
#[test]
fn a_real_mlflow_server_is_found_and_judged() {
    let Some(bin) = mlflow() else { return };
    let root = std::env::temp_dir().join(format!("airlock-mlflow-{}", std::process::id()));
    std::fs::create_dir_all(&root).unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let server = KilledGroup(
        Command::new(&bin)
            .process_group(0)
            .args(["server", "--host", "127.0.0.1", "--workers", "1"])
            .args(["--port", &port.to_string()])
            .arg("--backend-store-uri")
            .arg(format!("sqlite:///{}", root.join("mlflow.db").display()))
            .arg("--artifacts-destination")
            .arg(root.join("artifacts"))
            .current_dir(&root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let addr = format!("127.0.0.1:{port}");
    let started = Instant::now();
    let (v, code) = loop {
        let (v, code) = probe_json(&[&addr]);
        if v["endpoints"][0]["service"] == "ml-flow" {
            break (v, code);
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "MLflow answered: {v:#}"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    let e = &v["endpoints"][0];
    assert_eq!(code, Some(1), "{v:#}");
    assert_eq!(e["findings"][0]["rule"], "NT0002", "{e:#}");
    assert!(
        details(e)
            .iter()
            .any(|d| d.contains("experiments/search?max_results=1: HTTP 200 without credentials")),
        "{e:#}"
    );
    let l = listeners_json(&[]);
    let x = l["listeners"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["port"] == port)
        .unwrap_or_else(|| panic!("{l:#}"));
    assert_eq!(x["service"]["kind"], "ml-flow", "{x:#}");
    assert_eq!(x["exposure"], "local", "bound to loopback: {x:#}");
    drop(server);
    std::fs::remove_dir_all(&root).ok();
}

/// A real two-process `torchrun` job (gloo) in a network namespace the test
/// makes, surveyed from inside it: its TCPStore (the agent's, bound to the
/// wildcard) and the workers' Gloo listeners are found, tied to the job's
/// processes and classified; with loopback alone in the namespace, they are
/// local.
#[test]
fn a_real_torchrun_job_is_detected_and_classified() {
    let Some(py) = torch_python() else { return };
    if !firewall_tools() {
        eprintln!("skipping: needs root and ip to make a network namespace");
        return;
    }
    let ns = format!("alT{}", std::process::id() % 100_000);
    let _ns = Namespaces(vec![ns.clone()]);
    ip(&["netns", "add", &ns]);
    ip(&["-n", &ns, "link", "set", "lo", "up"]);
    let dir = std::env::temp_dir().join(format!("airlock-net-torchrun-{}", std::process::id()));
    let child = Killed(
        Command::new("ip")
            .args(["netns", "exec", &ns])
            .arg(&py)
            .args(torchrun_job(&dir))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let port = job_port(&dir);
    let o = Command::new("ip")
        .args(["netns", "exec", &ns, env!("CARGO_BIN_EXE_airlock")])
        .args(["net", "listeners", "--format", "json", "--all"])
        .output()
        .unwrap();
    std::fs::write(dir.join("release"), "").unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let listeners = v["listeners"].as_array().unwrap();
    let store: Vec<&serde_json::Value> = listeners
        .iter()
        .filter(|l| l["port"] == port && l["proto"] == "tcp")
        .collect();
    assert!(!store.is_empty(), "the store on {port}: {v:#}");
    for l in &store {
        assert_eq!(l["bound"], "wildcard", "{l:#}");
        assert_eq!(l["service"]["kind"], "tcp-store", "{l:#}");
        assert_eq!(
            l["exposure"], "local",
            "loopback alone in the namespace: {l:#}"
        );
        assert!(
            l["process"]["cmdline"]
                .to_string()
                .contains("torch.distributed.run"),
            "{l:#}"
        );
    }
    let peers: Vec<&serde_json::Value> = listeners
        .iter()
        .filter(|l| l["service"]["kind"] == "distributed-peer")
        .collect();
    assert!(!peers.is_empty(), "the workers' Gloo listeners: {v:#}");
    for l in &peers {
        assert!(
            l["process"]["cmdline"].to_string().contains("job.py"),
            "{l:#}"
        );
    }
    // Everything listening in the namespace is the job's.
    for l in listeners.iter().filter(|l| l["proto"] == "tcp") {
        assert!(!l["service"].is_null(), "an unidentified listener: {l:#}");
    }
    drop(child);
    std::fs::remove_dir_all(&dir).ok();
}
