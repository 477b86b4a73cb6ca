//! `airlock run`: escape attempts that must all fail, limits that must
//! stop what they limit, and real use (torch inside, every malicious
//! checkpoint's payload confined to the sandbox's private /tmp).
//!
//! `scripts/test.sh` runs this file as root and again as uid 65534. On a
//! machine without unprivileged user namespaces every test is skipped with
//! a message, unless AIRLOCK_SANDBOX_REQUIRED is set (as in the test
//! suite), which makes them fail instead.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .canonicalize()
        .unwrap()
}

fn airlock(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args(args)
        .current_dir(std::env::temp_dir())
        .output()
        .expect("run airlock")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Whether the sandbox can run here; panics instead of skipping when the
/// test suite requires it.
fn available() -> bool {
    let o = airlock(&["run", "--", "/bin/true"]);
    if o.status.success() {
        return true;
    }
    let why = text(&o.stderr);
    assert!(
        std::env::var_os("AIRLOCK_SANDBOX_REQUIRED").is_none(),
        "the sandbox does not run here: {why}"
    );
    eprintln!("skipping: the sandbox does not run on this machine: {why}");
    false
}

/// System Python (on every machine this runs on: the test suite needs it).
const PY: &str = "/usr/bin/python3";

fn python(extra: &[&str], code: &str) -> Output {
    let mut args = vec!["run"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--", PY, "-c", code]);
    airlock(&args)
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "airlock-sandbox-test-{}-{name}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn status_and_output_pass_through() {
    if !available() {
        return;
    }
    let o = airlock(&[
        "run",
        "--",
        "/bin/sh",
        "-c",
        "echo out; echo err >&2; exit 7",
    ]);
    assert_eq!(o.status.code(), Some(7));
    assert_eq!(text(&o.stdout), "out\n");
    assert!(text(&o.stderr).contains("err"));
    // As shells and `env` say it: 127 not found, 126 not executable.
    let o = airlock(&["run", "--", "no-such-command-anywhere"]);
    assert_eq!(o.status.code(), Some(127), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("no-such-command-anywhere"));
    let o = airlock(&["run", "--", "/no/such/dir/cmd"]);
    assert_eq!(o.status.code(), Some(127), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("/no/such/dir/cmd: ENOENT"));
    let dir = scratch("not-executable");
    let file = dir.join("script.sh");
    std::fs::write(&file, "#!/bin/sh\necho hi\n").unwrap();
    let f = file.to_str().unwrap();
    let o = airlock(&["run", "--ro", dir.to_str().unwrap(), "--", f]);
    assert_eq!(o.status.code(), Some(126), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("EACCES"), "{}", text(&o.stderr));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn the_command_gets_the_callers_huge_page_setting() {
    if !available() {
        return;
    }
    // airlock turns transparent huge pages off for itself; the command
    // must not inherit that.
    let own = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = |s: &str| {
        s.lines()
            .find(|l| l.starts_with("THP_enabled"))
            .map(str::to_string)
    };
    let Some(want) = line(&own) else {
        eprintln!("skipping: this kernel does not report THP_enabled");
        return;
    };
    let o = airlock(&["run", "--", "/bin/cat", "/proc/self/status"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(line(&text(&o.stdout)), Some(want));
}

#[test]
fn no_network_at_all() {
    if !available() {
        return;
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    let o = python(
        &[],
        &format!(
            "import socket\n\
             try:\n    socket.create_connection(('127.0.0.1', {port}), timeout=3); print('CONNECTED')\n\
             except OSError as e: print('refused', e)\n\
             try:\n    print('RESOLVED', socket.gethostbyname('example.com'))\n\
             except OSError as e: print('no dns', e)\n\
             try:\n    s = socket.socket(); s.bind(('0.0.0.0', 0)); s.listen(); print('BOUND')\n\
             except OSError as e: print('no bind', e)\n"
        ),
    );
    let out = text(&o.stdout);
    assert!(
        out.contains("refused") && !out.contains("CONNECTED"),
        "{out}{}",
        text(&o.stderr)
    );
    assert!(out.contains("no dns") && !out.contains("RESOLVED"), "{out}");
    assert!(out.contains("no bind") && !out.contains("BOUND"), "{out}");
    // Nothing reached the listener outside.
    assert!(listener.accept().is_err());
}

#[test]
fn the_filesystem_is_only_what_was_given() {
    if !available() {
        return;
    }
    let outside = scratch("outside");
    std::fs::write(outside.join("secret.txt"), b"secret").unwrap();
    let ro = scratch("ro");
    std::fs::write(ro.join("input.txt"), b"input").unwrap();
    let rw = scratch("rw");
    // The sandbox's user must be able to write there.
    let _ = Command::new("chmod")
        .args(["0777", rw.to_str().unwrap()])
        .status();
    let code = format!(
        "import os\n\
         def attempt(what, f):\n    \
             try:\n        f(); print('ALLOWED', what)\n    \
             except OSError as e: print('denied', what, e.errno)\n\
         attempt('read outside', lambda: open({secret:?}).read())\n\
         attempt('read home', lambda: os.listdir('/root'))\n\
         attempt('read shadow', lambda: open('/etc/shadow').read())\n\
         attempt('write ro', lambda: open({ro_out:?}, 'w').write('x'))\n\
         attempt('write usr', lambda: open('/usr/airlock-test', 'w').write('x'))\n\
         attempt('write root', lambda: open('/airlock-test', 'w').write('x'))\n\
         print('input', open({ro_in:?}).read())\n\
         open({rw_out:?}, 'w').write('written inside')\n\
         open('/tmp/private', 'w').write('tmp')\n\
         print('procs', sorted(int(p) for p in os.listdir('/proc') if p.isdigit())[:3])\n",
        secret = outside.join("secret.txt"),
        ro_out = ro.join("out.txt"),
        ro_in = ro.join("input.txt"),
        rw_out = rw.join("out.txt"),
    );
    let o = python(
        &["--ro", ro.to_str().unwrap(), "--rw", rw.to_str().unwrap()],
        &code,
    );
    let out = text(&o.stdout);
    assert!(o.status.success(), "{out}{}", text(&o.stderr));
    assert!(!out.contains("ALLOWED"), "{out}");
    assert_eq!(out.matches("denied").count(), 6, "{out}");
    assert!(out.contains("input input"), "{out}");
    assert_eq!(
        std::fs::read(rw.join("out.txt")).unwrap(),
        b"written inside"
    );
    assert!(!ro.join("out.txt").exists());
    // The private /tmp is not the host's.
    assert!(
        !Path::new("/tmp/private").exists()
            || std::fs::read(Path::new("/tmp/private")).unwrap() != b"tmp"
    );
    // Only the sandbox's processes: its init (1) and the command.
    assert!(out.contains("procs [1, 2"), "{out}");
    for d in [outside, ro, rw] {
        let _ = std::fs::remove_dir_all(d);
    }
}

#[test]
fn descriptors_the_caller_leaves_open_do_not_reach_the_command() {
    if !available() {
        return;
    }
    // A directory opened outside (a way around the mount namespace) and a
    // pipe (as an inherited socket would be) on descriptors 7 and 8.
    let outside = scratch("inherited");
    std::fs::write(outside.join("secret.txt"), b"secret").unwrap();
    let script = format!(
        "exec 7<{dir:?}; exec 8> >(cat >/dev/null); exec {bin:?} run -- /bin/sh -c \
         'ls /proc/self/fd; cat /proc/self/fd/7/secret.txt; echo x >&8 && echo WROTE'",
        dir = outside,
        bin = env!("CARGO_BIN_EXE_airlock"),
    );
    let o = Command::new("bash")
        .args(["-c", &script])
        .current_dir(std::env::temp_dir())
        .output()
        .expect("run bash");
    let out = text(&o.stdout);
    let fds: Vec<&str> = out
        .lines()
        .take_while(|l| l.parse::<u32>().is_ok())
        .collect();
    // 0, 1, 2 and the listing's own descriptor.
    assert_eq!(fds.len(), 4, "{out}{}", text(&o.stderr));
    assert!(!fds.contains(&"7") && !fds.contains(&"8"), "{out}");
    assert!(!out.contains("secret") && !out.contains("WROTE"), "{out}");
    let _ = std::fs::remove_dir_all(outside);
}

#[test]
fn nothing_of_the_callers_process_is_readable_inside() {
    if !available() {
        return;
    }
    // A canary in airlock's environment and on its command line (in an
    // option the command does not get): neither may appear in any
    // process's environ or cmdline inside, and the init's descriptors
    // (the report pipe among them) may not be opened.
    let canary = format!("AIRLOCK_CANARY_{}", std::process::id());
    let script = "for f in /proc/[0-9]*/environ /proc/[0-9]*/cmdline; do \
                    cat \"$f\" 2>/dev/null | tr '\\0' '\\n'; done; \
                  for f in /proc/1/fd/*; do readlink \"$f\" >/dev/null 2>&1 && echo OPENED-INIT-\"\"FD; \
                    (echo X0 >\"$f\") 2>/dev/null && echo WROTE-INIT-\"\"FD; done; \
                  readlink /proc/1/exe >/dev/null 2>&1 && echo READ-INIT-\"\"EXE; \
                  cat /proc/1/environ >/dev/null 2>&1 && echo READ-INIT-\"\"ENVIRON; \
                  echo done";
    let shared = scratch(&canary);
    let o = Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args(["run", "--cwd", "/tmp", "--env", "SHOWN=visible", "--ro"])
        .arg(&shared)
        .args(["--", "/bin/sh", "-c", script])
        .env(&canary, "hf_SECRET_TOKEN_VALUE")
        .current_dir(std::env::temp_dir())
        .output()
        .expect("run airlock");
    let _ = std::fs::remove_dir_all(&shared);
    let out = text(&o.stdout);
    assert!(o.status.success(), "{out}{}", text(&o.stderr));
    assert!(out.ends_with("done\n"), "{out}");
    // What the command was given is there (so the listing worked) ...
    assert!(out.contains("SHOWN=visible"), "{out}");
    assert!(out.contains("/bin/sh"), "{out}");
    // ... and nothing else of the caller's.
    assert!(!out.contains(&canary), "{out}");
    assert!(!out.contains("hf_SECRET_TOKEN_VALUE"), "{out}");
    assert!(!out.contains("--ro"), "{out}");
    // (The markers are split in the script, so its own cmdline holds none.)
    for leak in [
        "OPENED-INIT-FD",
        "WROTE-INIT-FD",
        "READ-INIT-EXE",
        "READ-INIT-ENVIRON",
    ] {
        assert!(!out.contains(leak), "{leak}: {out}");
    }
}

#[test]
fn privileged_operations_are_refused() {
    if !available() {
        return;
    }
    let code = "import ctypes, os\n\
        libc = ctypes.CDLL(None, use_errno=True)\n\
        def call(what, f):\n    \
            r = f(); print(what, 'ALLOWED' if r == 0 else 'denied', ctypes.get_errno())\n\
        call('ptrace', lambda: libc.ptrace(16, 1, 0, 0))\n\
        call('mount', lambda: libc.mount(b'none', b'/tmp', b'tmpfs', 0, None))\n\
        call('unshare', lambda: libc.unshare(0x10000000))\n\
        call('init_module', lambda: libc.syscall(175, None, 0, b''))\n\
        call('finit_module', lambda: libc.syscall(313, 0, b'', 0))\n\
        call('kexec_load', lambda: libc.syscall(246, 0, 0, None, 0))\n\
        call('bpf', lambda: libc.syscall(321, 0, None, 0))\n\
        call('keyctl', lambda: libc.syscall(250, 0, 0, 0, 0, 0))\n\
        call('setns', lambda: libc.syscall(308, 0, 0))\n\
        call('chroot', lambda: libc.chroot(b'/tmp'))\n\
        call('clone with CLONE_NEWUSER', lambda: libc.syscall(56, 0x10000000 | 17, 0, 0, 0, 0))\n\
        call('clone3', lambda: libc.syscall(435, 0, 0))\n\
        pid = os.fork()\n\
        os._exit(0) if pid == 0 else print('fork', os.waitpid(pid, 0)[1])\n\
        import threading; t = threading.Thread(target=print, args=('thread',)); t.start(); t.join()\n";
    let o = python(&[], code);
    let out = text(&o.stdout);
    assert!(o.status.success(), "{out}{}", text(&o.stderr));
    assert_eq!(out.lines().count(), 14, "{out}");
    assert!(!out.contains("ALLOWED"), "{out}");
    // Refused with EPERM; clone3 with ENOSYS, so that libc falls back to
    // clone, whose flags the filter can read: fork and threads still work.
    for line in out.lines().take(11) {
        assert!(line.ends_with(" 1"), "{out}");
    }
    assert!(out.contains("clone3 denied 38\n"), "{out}");
    assert!(out.contains("fork 0\nthread\n"), "{out}");
}

#[test]
fn limits_stop_what_they_limit() {
    if !available() {
        return;
    }
    // A fork bomb: the process limit stops it, the wall limit ends it.
    let o = airlock(&[
        "run",
        "--pids",
        "64",
        "--wall-time",
        "20",
        "--",
        "/bin/sh",
        "-c",
        "n=0; while [ $n -lt 500 ]; do sleep 30 & n=$((n+1)); done 2>/dev/null; echo spawned $n",
    ]);
    let err = text(&o.stderr);
    assert!(
        !text(&o.stdout).contains("spawned 500"),
        "{}{err}",
        text(&o.stdout)
    );
    // Memory.
    let o = python(&["--mem", "256M"], "x = bytearray(1 << 30)");
    assert_ne!(o.status.code(), Some(0));
    assert!(
        text(&o.stderr).contains("MemoryError"),
        "{}",
        text(&o.stderr)
    );
    // The line that names the limit.
    assert!(
        text(&o.stderr).contains("limited to 256M (--mem)"),
        "{}",
        text(&o.stderr)
    );
    // Wall time.
    let t = std::time::Instant::now();
    let o = airlock(&["run", "--wall-time", "1", "--", "/bin/sleep", "30"]);
    assert_eq!(o.status.code(), Some(137));
    assert!(t.elapsed().as_secs() < 10);
    assert!(
        text(&o.stderr).contains("wall-clock limit"),
        "{}",
        text(&o.stderr)
    );
    // CPU time.
    let o = python(&["--cpu-time", "1"], "while True: pass");
    assert_ne!(o.status.code(), Some(0));
    assert!(
        text(&o.stderr).contains("CPU time limit"),
        "{}",
        text(&o.stderr)
    );
}

/// The venv with torch the test suite made (AIRLOCK_VENV), when this user
/// can use it.
fn torch_python() -> Option<PathBuf> {
    let venv = PathBuf::from(std::env::var_os("AIRLOCK_VENV")?);
    let py = venv.join("bin/python");
    let ok = Command::new(&py)
        .args(["-c", "import torch"])
        .output()
        .is_ok_and(|o| o.status.success());
    ok.then_some(py)
}

#[test]
fn torch_inside_and_every_malicious_payload_confined() {
    if !available() {
        return;
    }
    let Some(py) = torch_python() else {
        eprintln!("skipping: AIRLOCK_VENV names no venv with torch this user can use");
        return;
    };
    let repo = repo();
    let malicious = repo.join("tests/fixtures/malicious");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(malicious.join("manifest.json")).unwrap()).unwrap();
    let files: Vec<(String, String)> = manifest
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let path = malicious
                .join(e["file"].as_str().unwrap())
                .display()
                .to_string();
            (path, e["loader"].as_str().unwrap().to_string())
        })
        .collect();
    assert!(files.len() >= 100);
    let host_cwd = scratch("cwd");
    // Each file with its real loader (scripts/prove_malicious.py's LOADERS,
    // imported from the script), in its own process inside the sandbox,
    // working directory the private /tmp where payloads create their
    // markers.
    let code = format!(
        "import json, os, subprocess, sys, torch\n\
         sd = torch.load({benign:?}, weights_only=True)\n\
         print('benign', len(sd))\n\
         sys.path.insert(0, {scripts:?})\n\
         from prove_malicious import LOADERS\n\
         for path, loader in json.loads({files:?}):\n    \
             code = 'import sys\\npath = sys.argv[1]\\n' + LOADERS[loader]\n    \
             subprocess.run([sys.executable, '-c', code, path], cwd='/tmp',\n                \
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)\n\
         print('markers', json.dumps(sorted(m for m in os.listdir('/tmp') if m.startswith('airlock-marker-'))))\n",
        scripts = repo.join("scripts"),
        benign = repo.join("examples/models/state_dict.pt"),
        files = serde_json::to_string(&files).unwrap(),
    );
    let o = Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args(["run", "--ro", malicious.to_str().unwrap(), "--ro"])
        .arg(repo.join("examples/models"))
        .arg("--ro")
        .arg(repo.join("scripts"))
        .args(["--wall-time", "600", "--"])
        .arg(&py)
        .args(["-c", &code])
        .current_dir(&host_cwd)
        .output()
        .unwrap();
    let out = text(&o.stdout);
    assert!(o.status.success(), "{out}{}", text(&o.stderr));
    assert!(out.contains("benign 4"), "{out}");
    let markers: Vec<String> = out
        .lines()
        .find_map(|l| l.strip_prefix("markers "))
        .and_then(|n| serde_json::from_str(n).ok())
        .unwrap_or_default();
    // Every payload ran (inside), ...
    let missing: Vec<&str> = manifest
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["marker"].as_str().unwrap())
        .filter(|m| !markers.iter().any(|x| x == m))
        .collect();
    assert!(
        missing.is_empty(),
        "payloads that did not run inside: {missing:?}"
    );
    // ... and nothing appeared outside.
    let mut leaked: Vec<String> = Vec::new();
    for dir in [host_cwd.clone(), std::env::temp_dir(), repo.clone()] {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with("airlock-marker-") {
                leaked.push(dir.join(name).display().to_string());
            }
        }
    }
    assert!(leaked.is_empty(), "payloads reached the host: {leaked:?}");
    let _ = std::fs::remove_dir_all(host_cwd);
}

/// `airlock convert --sandbox`: a checkpoint of custom classes (refused by
/// the native converter) becomes the same safetensors file as the same
/// conversion run outside the sandbox.
#[test]
fn convert_in_the_sandbox_equals_the_unsandboxed_result() {
    if !available() {
        return;
    }
    let Some(py) = torch_python() else {
        eprintln!("skipping: AIRLOCK_VENV names no venv with torch this user can use");
        return;
    };
    let dir = scratch("convert");
    let src = dir.join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(
        src.join("custom_net.py"),
        "import torch\n\
         class Net(torch.nn.Module):\n    \
             def __init__(self):\n        \
                 super().__init__()\n        \
                 self.fc = torch.nn.Linear(8, 4)\n        \
                 self.register_buffer('scale', torch.tensor([0.5, 2.0]))\n\
         class Holder:\n    \
             def __init__(self, w=None, note='not a tensor'):\n        \
                 self.w = torch.arange(12, dtype=torch.bfloat16).reshape(3, 4) if w is None else w\n        \
                 self.note = note\n    \
             def __reduce__(self):\n        \
                 return (Holder, (self.w, self.note))\n",
    )
    .unwrap();
    let ckpt = dir.join("ckpt.pt");
    let made = Command::new(&py)
        .args(["-c", "import sys, torch, custom_net\ntorch.manual_seed(0)\ntorch.save({'model': custom_net.Net(), 'extra': [custom_net.Holder()], 'epoch': 3}, sys.argv[1])"])
        .arg(&ckpt)
        .env("PYTHONPATH", &src)
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", text(&made.stderr));
    let out = dir.join("out.safetensors");
    // Natively: refused (a class rebuilt by calling it: its code runs).
    let o = airlock(&[
        "convert",
        ckpt.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("custom_net"),
        "{}",
        text(&o.stderr)
    );
    // A work folder a killed conversion left (no process has this pid).
    let stale = dir.join(".airlock-sandbox-4999999");
    std::fs::create_dir_all(&stale).unwrap();
    std::fs::write(stale.join("model.safetensors"), b"partial").unwrap();
    // In the sandbox.
    let venv = py.parent().unwrap().parent().unwrap();
    let o = airlock(&[
        "convert",
        ckpt.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--sandbox",
        "--python",
        venv.to_str().unwrap(),
        "--sandbox-ro",
        src.to_str().unwrap(),
        "--sandbox-env",
        &format!("PYTHONPATH={}", src.display()),
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}{}",
        text(&o.stdout),
        text(&o.stderr)
    );
    assert!(
        text(&o.stdout).contains("(4 tensors"),
        "{}",
        text(&o.stdout)
    );
    // The same script, outside.
    let reference = dir.join("reference.safetensors");
    let r = Command::new(&py)
        .arg(repo().join("crates/cli/src/sandbox_convert.py"))
        .arg(&ckpt)
        .arg(&reference)
        .env("PYTHONPATH", &src)
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", text(&r.stderr));
    assert_eq!(
        std::fs::read(&out).unwrap(),
        std::fs::read(&reference).unwrap()
    );
    // With the mode every output has.
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&out), mode(&ckpt));
    // An existing output is kept without --force.
    let again = airlock(&[
        "convert",
        ckpt.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--sandbox",
        "--python",
        venv.to_str().unwrap(),
    ]);
    assert_eq!(again.status.code(), Some(2), "{}", text(&again.stderr));
    assert!(
        text(&again.stderr).contains("exists"),
        "{}",
        text(&again.stderr)
    );
    // Nothing left behind but the output.
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".airlock"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    let _ = std::fs::remove_dir_all(dir);
}
