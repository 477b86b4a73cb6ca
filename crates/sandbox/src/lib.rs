//! Run a command in a sandbox: the `airlock run` runner.
//!
//! Layers, each on its own enough to stop the attacks the others stop:
//!
//! 1. **Namespaces** ([`namespaces`]): a new user namespace (the command is
//!    root inside, the invoking user outside, never more), and new mount,
//!    PID, network, IPC and UTS namespaces. The network namespace holds only
//!    a loopback interface: down by default (no network at all), up with
//!    [`Network::Loopback`] ([`netns`]), so that the processes of a
//!    single-node job reach each other and nothing outside reaches them.
//! 2. **A minimal root** ([`rootfs`]): a fresh tmpfs holding read-only binds
//!    of the system directories (`/usr`, `/bin`, `/lib*`, a few files of
//!    `/etc`), of the command's Python installation and of the `--ro` paths,
//!    read-write binds of the `--rw` paths, a private `/tmp`, a fresh
//!    `/proc` and a `/dev` of `null`, `zero`, `full`, `random`, `urandom`,
//!    `shm` and a private `pts` instance;
//!    then `pivot_root` and the host's tree detached. No home, no
//!    `/etc/shadow`, no sockets of the host.
//! 3. **Landlock** ([`confine`]): the same paths as rules of the kernel's
//!    own access control (read-only, read-write), and no TCP bind or
//!    connect (ABI 4+; with [`Network::Loopback`] TCP is left to the
//!    network namespace, which holds nothing but the sandbox's loopback);
//!    abstract UNIX sockets and signals scoped to the sandbox (ABI 6+).
//! 4. **seccomp** ([`seccomp`]): a deny-by-default system call filter.
//! 5. **Limits**: `no_new_privs`, rlimits (address space, CPU time, file
//!    size, open files, processes), a wall-clock timeout enforced by the
//!    supervising parent, which kills the PID namespace's init (and with it
//!    every process inside).
//!
//! `unsafe` is confined to this crate: `fork` and `clone` (the supervisor
//! is single threaded when it clones; see [`run`]), the raw system calls
//! `nix` does not wrap, and `_exit`.

pub mod confine;
mod error;
pub mod namespaces;
pub mod netns;
pub mod rootfs;
pub mod seccomp;

use std::ffi::{CString, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::Pid;

pub use error::SetupError;

/// What to run, and with what.
#[derive(Debug, Clone, Default)]
pub struct SandboxConfig {
    /// The command and its arguments.
    pub command: Vec<OsString>,
    /// Paths visible read-only.
    pub ro: Vec<PathBuf>,
    /// Paths visible read-write.
    pub rw: Vec<PathBuf>,
    /// Environment: `NAME` (copied from the caller's) or `NAME=VALUE`.
    pub env: Vec<String>,
    /// Address space limit, bytes.
    pub mem: Option<u64>,
    /// CPU time limit, seconds.
    pub cpu_time: Option<u64>,
    /// Wall-clock limit.
    pub wall_time: Option<Duration>,
    /// Processes (and threads) the sandbox's user may have.
    pub pids: Option<u64>,
    /// Largest file the command may write, bytes.
    pub file_size: Option<u64>,
    /// Open files.
    pub open_files: Option<u64>,
    /// Working directory inside (default: the caller's, holding only what
    /// was shared; `/tmp` when it cannot be made).
    pub cwd: Option<PathBuf>,
    /// Run even when a kernel feature is missing (saying which).
    pub allow_degraded: bool,
    /// The network inside.
    pub net: Network,
}

/// The network a sandbox has: its own network namespace either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Network {
    /// No interface up: no network at all.
    #[default]
    None,
    /// Its own loopback interface up (`127.0.0.1`, `::1`): the sandbox's
    /// processes reach each other (a `torchrun --standalone` job, gloo);
    /// nothing outside reaches them, and they reach nothing outside.
    Loopback,
}

/// Why the sandbox could not run the command.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// A kernel feature is missing (without `allow_degraded`).
    #[error("{0} (run with --allow-degraded to go on without it)")]
    Missing(String),
    /// Setting up failed.
    #[error(transparent)]
    Setup(#[from] SetupError),
    /// The sandbox was set up, but the command could not be executed:
    /// `code` is 127 when it was not found, 126 otherwise (as shells,
    /// `env` and container runtimes say it).
    #[error("{message}")]
    NotStarted {
        /// 126 or 127.
        code: u8,
        /// What `execve` said, with the command.
        message: String,
    },
}

/// A limit that ended the command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SandboxLimit {
    /// The wall-clock timeout.
    WallTime,
    /// The CPU time limit.
    CpuTime,
    /// The file size limit.
    FileSize,
}

/// How the command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Its exit code, or `None` when a signal ended it.
    pub code: Option<i32>,
    /// The signal that ended it.
    pub signal: Option<i32>,
    /// The limit that ended it, when one did.
    pub limit: Option<SandboxLimit>,
    /// Layers missing on this kernel (only with `allow_degraded`).
    pub degraded: Vec<String>,
    /// Wall time.
    pub elapsed: Duration,
}

impl Outcome {
    /// The exit status to pass on: the command's code, or 128 + the signal.
    pub fn exit_code(&self) -> i32 {
        match (self.code, self.signal) {
            (Some(c), _) => c,
            (None, Some(s)) => 128 + s,
            (None, None) => 125,
        }
    }
}

/// Run `config.command` in the sandbox and wait for it. The command's
/// standard input, output and error are the caller's.
///
/// The calling process must have a single thread (the `airlock` command
/// calls it before starting any): the child forks and sets up the sandbox
/// before `execve`, which after a fork is only sound in a single-threaded
/// parent. This is checked ([`SetupError::Threads`]): no thread can appear
/// between the check and the fork, since only the calling thread could
/// start one.
pub fn run(config: &SandboxConfig) -> Result<Outcome, SandboxError> {
    if config.command.is_empty() {
        return Err(SetupError::NoCommand.into());
    }
    single_threaded()?;
    let features = confine::probe();
    let mut degraded = Vec::new();
    for missing in features.missing() {
        if config.allow_degraded {
            degraded.push(missing);
        } else {
            return Err(SandboxError::Missing(missing));
        }
    }
    let (err_read, err_write) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(SetupError::Pipe)?;
    let start = Instant::now();
    let (child, plan) = start_sandbox(config, &features, &err_write, &err_read)?;
    drop(err_write);
    let (status, timed_out) = wait_with_timeout(child, config.wall_time);
    let elapsed = start.elapsed();
    let mut message = Vec::new();
    let _ = read_all(&err_read, &mut message);
    plan.cleanup();
    confine::remove_pids_cgroup();
    let (code, signal) = reports(&message, status, config.allow_degraded, &mut degraded)?;
    Ok(outcome(config, code, signal, timed_out, degraded, elapsed))
}

/// Refuse unless the calling process has exactly one thread (fail closed
/// when `/proc/self/status` cannot be read).
fn single_threaded() -> Result<(), SetupError> {
    let status = std::fs::read_to_string("/proc/self/status").map_err(SetupError::ThreadCount)?;
    let count = thread_count(&status).ok_or_else(|| {
        SetupError::ThreadCount(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "no Threads: line",
        ))
    })?;
    if count == 1 {
        Ok(())
    } else {
        Err(SetupError::Threads { count })
    }
}

/// The `Threads:` field of a `/proc/PID/status` text.
fn thread_count(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
}

/// The pids cgroup, the root's plan and the sandbox's init; on failure,
/// whatever was made is removed. The plan's mount point is removed by the
/// caller once the init has ended (the init mounts on it).
fn start_sandbox(
    config: &SandboxConfig,
    features: &confine::Features,
    err_write: &std::os::fd::OwnedFd,
    err_read: &std::os::fd::OwnedFd,
) -> Result<(Pid, rootfs::Plan), SetupError> {
    // The ids the sandbox maps are the effective ones: root is decided by
    // the same one (RLIMIT_NPROC binds others; a pids cgroup binds root).
    let uid = nix::unistd::Uid::effective().as_raw();
    if uid == 0 {
        confine::create_pids_cgroup(config.pids)?;
    }
    let plan = rootfs::Plan::new(config).inspect_err(|_| confine::remove_pids_cgroup())?;
    let sandbox = namespaces::Sandbox {
        config,
        plan: &plan,
        features,
        nproc: (uid != 0)
            .then(|| confine::process_budget(config, uid))
            .flatten(),
        host_root: uid == 0,
    };
    let child = namespaces::spawn(&sandbox, err_write, err_read).inspect_err(|_| {
        plan.cleanup();
        confine::remove_pids_cgroup();
    })?;
    Ok((child, plan))
}

/// Wait for the init; `wall_time` after the start, kill it. Returns how
/// it ended and whether the timeout did it. The timer is called off, and
/// its thread joined, as soon as the init has ended (so that it never
/// signals a pid the system has given to another process, and the
/// process is single-threaded again when this returns).
fn wait_with_timeout(child: Pid, wall_time: Option<Duration>) -> (WaitStatus, bool) {
    use std::sync::atomic::{AtomicBool, Ordering};
    let timed_out = std::sync::Arc::new(AtomicBool::new(false));
    let (done, ended) = std::sync::mpsc::channel::<()>();
    let timer = wall_time.map(|limit| {
        let flag = timed_out.clone();
        std::thread::spawn(move || {
            if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = ended.recv_timeout(limit) {
                flag.store(true, Ordering::SeqCst);
                let _ = nix::sys::signal::kill(child, Signal::SIGKILL);
            }
        })
    });
    let status = wait(child);
    drop(done);
    if let Some(timer) = timer {
        let _ = timer.join();
    }
    (status, timed_out.load(Ordering::SeqCst))
}

/// The code or signal the sandbox reported (else the init's own status),
/// and the layers it could not enforce; its setup error, if any.
fn reports(
    message: &[u8],
    status: WaitStatus,
    allow_degraded: bool,
    degraded: &mut Vec<String>,
) -> Result<(Option<i32>, Option<i32>), SandboxError> {
    // The sandbox's reports: E<error>, N<126|127> <error> (the command
    // could not be executed), D<layer missing>, X<code>, S<signal>, each
    // NUL-terminated and written whole (see `split_messages`).
    let text = String::from_utf8_lossy(message);
    let mut code = None;
    let mut signal = None;
    for (tag, body) in split_messages(&text) {
        match tag {
            'E' => return Err(SetupError::InSandbox(body.to_string()).into()),
            'N' => {
                let (code, message) = body.split_once(' ').unwrap_or(("126", body));
                return Err(SandboxError::NotStarted {
                    code: code.parse().unwrap_or(126),
                    message: message.to_string(),
                });
            }
            'D' if !allow_degraded => {
                return Err(SandboxError::Missing(format!(
                    "{body} could not be enforced"
                )));
            }
            'D' => degraded.push(body.to_string()),
            'X' => code = body.parse().ok(),
            'S' => signal = body.parse().ok(),
            _ => {}
        }
    }
    if code.is_none() && signal.is_none() {
        match status {
            WaitStatus::Signaled(_, s, _) => signal = Some(s as i32),
            WaitStatus::Exited(_, c) => code = Some(c),
            _ => {}
        }
    }
    Ok((code, signal))
}

/// How the command ended, and the limit that ended it.
fn outcome(
    config: &SandboxConfig,
    mut code: Option<i32>,
    mut signal: Option<i32>,
    timed_out: bool,
    degraded: Vec<String>,
    elapsed: Duration,
) -> Outcome {
    let limit = if timed_out {
        Some(SandboxLimit::WallTime)
    } else if signal == Some(Signal::SIGXCPU as i32)
        || (signal == Some(9) && config.cpu_time.is_some_and(|c| elapsed.as_secs() >= c))
    {
        Some(SandboxLimit::CpuTime)
    } else if signal == Some(Signal::SIGXFSZ as i32) {
        Some(SandboxLimit::FileSize)
    } else {
        None
    };
    if limit == Some(SandboxLimit::WallTime) {
        code = None;
        signal = Some(9);
    }
    Outcome {
        code,
        signal,
        limit,
        degraded,
        elapsed,
    }
}

/// Split the report pipe's bytes into tagged messages: each is a tag
/// letter and its text, ended by a NUL, written with one `write` of under
/// `PIPE_BUF` bytes (so messages of the sandbox's processes never
/// interleave).
fn split_messages(text: &str) -> impl Iterator<Item = (char, &str)> {
    text.split('\0').filter_map(|m| {
        let mut chars = m.chars();
        let tag = chars.next()?;
        Some((tag, chars.as_str()))
    })
}

fn wait(child: Pid) -> WaitStatus {
    loop {
        match waitpid(child, None) {
            Ok(s @ (WaitStatus::Exited(..) | WaitStatus::Signaled(..))) => return s,
            Ok(_) => continue,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return WaitStatus::Exited(child, 125),
        }
    }
}

fn read_all(fd: &std::os::fd::OwnedFd, out: &mut Vec<u8>) -> nix::Result<()> {
    let mut buf = [0u8; 4096];
    loop {
        match nix::unistd::read(std::os::fd::AsRawFd::as_raw_fd(fd), &mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e),
        }
    }
}

pub(crate) fn cstring(s: &std::ffi::OsStr) -> Result<CString, SetupError> {
    CString::new(s.as_bytes()).map_err(|_| SetupError::NulInArgument { arg: s.to_owned() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_thread_count_is_read_from_the_status() {
        assert_eq!(
            thread_count("Name:\tx\nThreads:\t12\nSigQ:\t0/1\n"),
            Some(12)
        );
        assert_eq!(thread_count("Name:\tx\n"), None);
        let own = std::fs::read_to_string("/proc/self/status").unwrap();
        assert!(thread_count(&own).is_some_and(|n| n >= 1), "{own}");
    }

    /// A process with a second thread is refused before anything is made
    /// (the single-threaded case is what every test running the `airlock`
    /// binary exercises: `crates/cli/tests/sandbox.rs`).
    #[test]
    fn a_process_with_other_threads_is_refused() {
        let (stop, wait) = std::sync::mpsc::channel::<()>();
        let other = std::thread::spawn(move || {
            let _ = wait.recv();
        });
        let config = SandboxConfig {
            command: vec!["/bin/true".into()],
            ..SandboxConfig::default()
        };
        let result = run(&config);
        drop(stop);
        other.join().unwrap();
        match result {
            Err(e @ SandboxError::Setup(SetupError::Threads { count })) => {
                assert!(count >= 2);
                assert!(e.to_string().contains("single thread"), "{e}");
            }
            other => panic!("not refused: {other:?}"),
        }
    }
}
