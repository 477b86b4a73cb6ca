//! What a hostile file name, an existing output, an interruption, a
//! special file or a closed pipe does to the `airlock` command: no file a
//! user had is replaced or lost, nothing is left behind, reports cannot be
//! forged, and every failure is an exit status with a message, never a
//! panic or a hang.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value as Json;

fn repo() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn cmd<S: AsRef<OsStr>>(args: &[S]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_airlock"));
    c.args(args).current_dir(repo()).env("NO_COLOR", "1");
    c
}

fn airlock<S: AsRef<OsStr>>(args: &[S]) -> Output {
    cmd(args).output().expect("run airlock")
}

/// `airlock` with arguments of any string or path type:
/// `run(&[&"convert", &input, &"-o", &output])`.
fn run(args: &[&dyn AsRef<OsStr>]) -> Output {
    let args: Vec<&OsStr> = args.iter().map(|a| a.as_ref()).collect();
    airlock(&args)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("airlock-faults-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn copy(from: &str, to: &Path) {
    std::fs::copy(repo().join(from), to).unwrap();
}

/// The hidden temporary files a run could have left.
fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("airlock-tmp") || n.starts_with(".airlock"))
        .collect()
}

#[test]
fn folder_convert_never_replaces_and_refuses_collisions() {
    let dir = scratch("collide");
    copy("examples/models/state_dict.pt", &dir.join("m.pt"));
    copy("examples/arrays/embeddings.npy", &dir.join("m.npy"));
    copy("examples/models/state_dict.pt", &dir.join("n.pt"));
    std::fs::write(dir.join("n.safetensors"), b"the user's own file").unwrap();
    copy("examples/models/torchscript.pt", &dir.join("script.pt"));
    let report = dir.join("report.json");
    let o = run(&[&"convert", &dir, &"--report", &report]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    // Both inputs of one output are named, and neither is written.
    let m_pt = dir.join("m.pt").display().to_string();
    let m_npy = dir.join("m.npy").display().to_string();
    assert!(
        err.contains(&format!(
            "{m_pt}: not converted: {m_npy} would also be written"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "{m_npy}: not converted: {m_pt} would also be written"
        )),
        "{err}"
    );
    assert!(!dir.join("m.safetensors").exists());
    // The existing file is kept, and said so.
    assert_eq!(
        std::fs::read(dir.join("n.safetensors")).unwrap(),
        b"the user's own file"
    );
    assert!(
        err.contains("n.safetensors exists; refusing to replace it (--force"),
        "{err}"
    );
    // TorchScript is named as left alone, and the summary counts it all.
    assert!(
        err.contains("script.pt: not converted: a TorchScript archive"),
        "{err}"
    );
    assert!(
        err.contains("0 converted, 3 failed or refused, 1 model file(s) left alone"),
        "{err}"
    );
    let r: Json = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(r["failed"].as_array().unwrap().len(), 3, "{r}");
    assert_eq!(r["skipped"].as_array().unwrap().len(), 1, "{r}");
    // The report file is not replaced either; --force replaces both.
    let n_pt = dir.join("n.pt");
    let again = run(&[&"convert", &n_pt, &"--report", &report]);
    assert_eq!(again.status.code(), Some(2));
    assert!(
        text(&again.stderr).contains("report.json exists"),
        "{}",
        text(&again.stderr)
    );
    let forced = run(&[&"convert", &n_pt, &"--force"]);
    assert_eq!(forced.status.code(), Some(0), "{}", text(&forced.stderr));
    let written = std::fs::read(dir.join("n.safetensors")).unwrap();
    assert_ne!(written, b"the user's own file");
    assert!(leftovers(&dir).is_empty(), "{:?}", leftovers(&dir));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn single_outputs_are_never_replaced_without_force() {
    let dir = scratch("single");
    let input = dir.join("checkpoint.pt");
    copy("examples/models/state_dict.pt", &input);
    let out = dir.join("checkpoint.safetensors");
    std::fs::write(&out, b"keep me").unwrap();
    let o = run(&[&"convert", &input]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert_eq!(std::fs::read(&out).unwrap(), b"keep me");
    let other = dir.join("other.safetensors");
    std::fs::write(&other, b"keep me too").unwrap();
    let o = run(&[&"convert", &input, &"-o", &other]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(std::fs::read(&other).unwrap(), b"keep me too");
    // scan --output and sign -o.
    let report = dir.join("scan.json");
    std::fs::write(&report, b"old report").unwrap();
    let o = run(&[&"scan", &input, &"-o", &report]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("--force"), "{}", text(&o.stderr));
    assert_eq!(std::fs::read(&report).unwrap(), b"old report");
    let o = run(&[&"scan", &input, &"-o", &report, &"--force"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(std::fs::read_to_string(&report).unwrap().contains("safe"));
    // Not even --force writes a report over a file it scans.
    let before = std::fs::read(&input).unwrap();
    let o = run(&[&"scan", &input, &"-o", &input, &"--force"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("same file as the input"),
        "{}",
        text(&o.stderr)
    );
    assert_eq!(std::fs::read(&input).unwrap(), before);
    let sig = dir.join("model.sig");
    std::fs::write(&sig, b"old signature").unwrap();
    let key = repo().join("tests/fixtures/signing/keys/p256.pem");
    let o = run(&[&"sign", &input, &"--key", &key, &"-o", &sig]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("model.sig exists"),
        "{}",
        text(&o.stderr)
    );
    assert_eq!(std::fs::read(&sig).unwrap(), b"old signature");
    let o = run(&[&"sign", &input, &"--key", &key, &"-o", &sig, &"--force"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_ne!(std::fs::read(&sig).unwrap(), b"old signature");
    // One model file is one, not "1 files".
    let public = repo().join("tests/fixtures/signing/keys/p256.pub.pem");
    let o = run(&[
        &"verify", &input, &"--sig", &sig, &"--key", &public, &"--scan",
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}{}",
        text(&o.stdout),
        text(&o.stderr)
    );
    assert!(
        text(&o.stdout).contains("scanned 1 model file: all safe"),
        "{}",
        text(&o.stdout)
    );
    assert!(leftovers(&dir).is_empty(), "{:?}", leftovers(&dir));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A NumPy array of `n` float32 zeros, sparse on disk, with the header
/// numpy writes.
fn big_npy(path: &Path, n: u64) {
    let dict = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({n},), }}");
    let mut header = dict.into_bytes();
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(b' ');
    }
    header.push(b'\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(&header);
    let len = bytes.len() as u64 + 4 * n;
    std::fs::write(path, &bytes).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(len)
        .unwrap();
}

#[test]
fn an_interrupted_convert_leaves_nothing() {
    let dir = scratch("interrupt");
    let input = dir.join("big.npy");
    big_npy(&input, 256 << 20);
    let mut interrupted = 0;
    for signal in ["KILL", "TERM", "INT", "HUP"] {
        let output = dir.join(format!("out-{signal}.safetensors"));
        let mut child = cmd(&[
            OsStr::new("convert"),
            input.as_os_str(),
            OsStr::new("-o"),
            output.as_os_str(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
        // Wait until the output is being written (its space is in use),
        // then interrupt.
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) && child.try_wait().unwrap().is_none() {
            if disk_usage(&dir) > 8 << 20 {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        if child.try_wait().unwrap().is_none() {
            interrupted += 1;
            let _ = Command::new("kill")
                .args([format!("-{signal}"), child.id().to_string()])
                .status();
        }
        let status = child.wait().unwrap();
        if !status.success() {
            assert!(!output.exists(), "{signal}: a partial output exists");
        }
        assert!(
            leftovers(&dir).is_empty(),
            "{signal}: {:?}",
            leftovers(&dir)
        );
    }
    // The conversion is slow enough to be caught in the act at least once.
    assert!(interrupted > 0, "every conversion ended before its signal");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Bytes of disk the files in `dir` use (the sparse input uses little).
fn disk_usage(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let own: u64 = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.blocks() * 512)
        .sum();
    // An O_TMPFILE file has no entry: count the file system's use instead.
    own.max(fs_used(dir))
}

fn fs_used(dir: &Path) -> u64 {
    static BASE: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let used = || {
        let out = Command::new("df")
            .args(["-B1", "--output=used"])
            .arg(dir)
            .output()
            .unwrap();
        text(&out.stdout)
            .lines()
            .nth(1)
            .and_then(|l| l.trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    let base = *BASE.get_or_init(used);
    used().saturating_sub(base)
}

#[test]
fn file_names_cannot_forge_the_report() {
    let dir = scratch("names");
    let forged = dir.join("e.pkl\nsafe       forged.pt");
    copy("examples/pickles/memo_trick.pkl", &forged);
    let ansi = dir.join("\x1b[32mgreen\x1b[0m.pkl");
    copy("examples/pickles/memo_trick.pkl", &ansi);
    let bad_a = dir.join(OsStr::from_bytes(b"a\xff.pkl"));
    let bad_b = dir.join(OsStr::from_bytes(b"a\xfe.pkl"));
    copy("examples/pickles/memo_trick.pkl", &bad_a);
    copy("examples/pickles/memo_trick.pkl", &bad_b);
    let o = run(&[&"scan", &dir]);
    let out = text(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{out}");
    for line in out.lines() {
        assert!(!line.starts_with("safe       forged"), "{out}");
    }
    assert!(out.contains("e.pkl\\nsafe       forged.pt"), "{out}");
    assert!(!out.contains('\x1b'), "{out}");
    assert!(out.contains("\\x1b[32mgreen"), "{out}");
    // -v too (findings name no file, but their messages are escaped).
    let v = run(&[&"scan", &"-v", &dir]);
    assert!(!text(&v.stdout).contains('\x1b'));
    // JSON keeps the exact bytes of names that are not UTF-8.
    let o = run(&[&"scan", &"--format", &"json", &dir]);
    let r: Json = serde_json::from_str(&text(&o.stdout)).unwrap();
    let mut raw: Vec<String> = r["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["path_bytes"].as_str().map(String::from))
        .collect();
    raw.sort();
    let hex = |p: &Path| -> String {
        p.as_os_str()
            .as_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    let mut want = vec![hex(&bad_a), hex(&bad_b)];
    want.sort();
    assert_eq!(raw, want);
    // SARIF percent-encodes them, distinctly.
    let o = run(&[&"scan", &"--format", &"sarif", &dir]);
    let s = text(&o.stdout);
    assert!(s.contains("a%FF.pkl") && s.contains("e.pkl%0Asafe"), "{s}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Run and wait at most `secs`, killing a hung process (a failure).
fn bounded<S: AsRef<OsStr>>(args: &[S], secs: u64) -> Output {
    let mut child = cmd(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(secs) {
            let _ = child.kill();
            panic!("airlock hung");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn special_files_are_refused_everywhere() {
    let dir = scratch("special");
    let fifo = dir.join("pipe.pt");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    for verb in ["scan", "inspect", "convert"] {
        let o = bounded(&[OsStr::new(verb), fifo.as_os_str()], 20);
        assert_eq!(o.status.code(), Some(2), "{verb}");
        assert!(
            text(&o.stderr).contains("named pipe") || text(&o.stdout).contains("named pipe"),
            "{verb}: {}{}",
            text(&o.stdout),
            text(&o.stderr)
        );
    }
    for verb in ["inspect", "convert"] {
        let o = bounded(&[verb, "/dev/zero"], 20);
        assert_eq!(o.status.code(), Some(2), "{verb}");
        assert!(
            text(&o.stderr).contains("a device"),
            "{verb}: {}",
            text(&o.stderr)
        );
    }
    // In a folder, the pipe is a report of its own.
    copy("examples/models/state_dict.pt", &dir.join("ok.pt"));
    let o = bounded(
        &[
            OsStr::new("scan"),
            OsStr::new("-f"),
            OsStr::new("json"),
            dir.as_os_str(),
        ],
        20,
    );
    let r: Json = serde_json::from_str(&text(&o.stdout)).unwrap();
    assert_eq!(r["summary"]["error"], 1, "{r}");
    assert_eq!(r["summary"]["safe"], 1, "{r}");
    assert_eq!(o.status.code(), Some(2));
    // So is a path that does not exist.
    let o = airlock(&[
        "scan",
        "-f",
        "json",
        "examples/models/state_dict.pt",
        "no/such/dir",
    ]);
    let r: Json = serde_json::from_str(&text(&o.stdout)).unwrap();
    assert_eq!(r["summary"]["files"], 2, "{r}");
    assert_eq!(r["summary"]["error"], 1, "{r}");
    assert_eq!(o.status.code(), Some(2));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Run with standard output a pipe whose reader is already gone.
fn into_closed_pipe(args: &[&str]) -> Output {
    // The write end of a pipe whose only reader has exited.
    let mut reader = Command::new("true").stdin(Stdio::piped()).spawn().unwrap();
    let writer = reader.stdin.take().unwrap();
    reader.wait().unwrap();
    cmd(args)
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .unwrap()
}

#[test]
fn write_errors_and_closed_pipes() {
    for args in [
        &["hash", "--manifest", "tests/fixtures/signing/model"][..],
        &["hash", "tests/fixtures/signing/model"],
        &[
            "inspect",
            "--format",
            "json",
            "examples/models/state_dict.pt",
        ],
        &["scan", "examples"],
        &["rules"],
    ] {
        let o = into_closed_pipe(args);
        let err = text(&o.stderr);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert_eq!(o.status.code(), Some(141), "{args:?}: {err}");
        assert!(err.is_empty(), "{args:?}: {err}");
    }
    // A full disk is an error with a message.
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let o = cmd(&["hash", "tests/fixtures/signing/model"])
        .stdout(full)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("cannot write to standard output"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn inspect_exits_as_scan_does() {
    for (file, code) in [
        ("examples/models/state_dict.pt", 0),
        ("examples/models/whole_model.pt", 1),
        ("examples/pickles/memo_trick.pkl", 1),
        ("examples/models/truncated.pt", 2),
        ("examples", 2),
    ] {
        let o = airlock(&["inspect", file]);
        assert_eq!(o.status.code(), Some(code), "{file}: {}", text(&o.stderr));
    }
    let o = airlock(&["inspect", "examples"]);
    assert!(
        text(&o.stderr).contains("a directory"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn hash_check_names_a_missing_file() {
    let dir = scratch("check");
    let list = dir.join("SUMS");
    std::fs::write(
        &list,
        format!("{}  {}\n", "0".repeat(64), dir.join("gone.bin").display()),
    )
    .unwrap();
    let o = run(&[&"hash", &"-c", &list]);
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    assert!(err.contains("gone.bin: No such file"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `airlock` as a user without the right to read what it was given: as
/// root (who may read everything) through `setpriv` as uid 65534.
fn unprivileged<S: AsRef<OsStr>>(args: &[S]) -> Option<Output> {
    if !nix_is_root() {
        return Some(airlock(args));
    }
    let mut c = Command::new("setpriv");
    c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg("--inh-caps=-all")
        .arg(env!("CARGO_BIN_EXE_airlock"))
        .args(args)
        .current_dir("/")
        .env("NO_COLOR", "1");
    match c.output() {
        Ok(o) if !text(&o.stderr).contains("setpriv:") => Some(o),
        _ => {
            eprintln!("skipping: setpriv cannot run a command as uid 65534 here");
            None
        }
    }
}

fn nix_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("Uid:"))?;
            line.split_whitespace().nth(2).map(|euid| euid == "0")
        })
        .unwrap_or(false)
}

#[test]
fn an_unreadable_subfolder_is_an_error_entry() {
    use std::os::unix::fs::PermissionsExt;
    let dir = scratch("unreadable");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    copy("examples/models/state_dict.pt", &dir.join("ok.pt"));
    let locked = dir.join("locked");
    std::fs::create_dir(&locked).unwrap();
    copy("examples/models/state_dict.pt", &locked.join("hidden.pt"));
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
    let Some(o) = unprivileged(&[
        OsStr::new("scan"),
        OsStr::new("-f"),
        OsStr::new("json"),
        dir.as_os_str(),
    ]) else {
        return;
    };
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    let report: Json = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["summary"]["error"], 1, "{report}");
    assert_eq!(report["summary"]["safe"], 1, "{report}");
    let files = report["files"].as_array().unwrap();
    let entry = files
        .iter()
        .find(|f| f["path"] == locked.to_str().unwrap())
        .unwrap_or_else(|| panic!("no entry for the locked folder: {report}"));
    assert_eq!(entry["verdict"], "error");
    assert!(
        entry["findings"][0]["message"]
            .as_str()
            .unwrap()
            .contains("Permission denied")
    );
    assert!(
        !files
            .iter()
            .any(|f| f["path"].as_str().unwrap().ends_with("hidden.pt"))
    );
    // And in the text report, as a line of its own.
    let o = unprivileged(&[OsStr::new("scan"), dir.as_os_str()]).unwrap();
    let out = text(&o.stdout);
    assert!(
        out.lines()
            .any(|l| l.starts_with("error") && l.contains("locked")),
        "{out}"
    );
    assert!(
        out.contains("1 safe, 0 suspicious, 0 dangerous, 1 error"),
        "{out}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
