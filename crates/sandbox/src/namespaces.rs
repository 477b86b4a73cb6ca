//! The sandbox's processes. The supervisor forks a child that enters a new
//! user namespace (mapping itself, and only itself, to root inside) and
//! new mount, PID, network, IPC and UTS
//! namespaces, then forks the PID namespace's init. The init builds the
//! root filesystem, applies the limits, Landlock and seccomp, starts the
//! command, reaps every process and reports how the command ended.
//!
//! Messages to the supervisor go through a pipe: `E<text>` when the
//! sandbox could not be set up, `X<code>` or `S<signal>` when the command
//! ended, `D<layer>` for each layer this kernel could not enforce.

use std::convert::Infallible;
use std::os::fd::OwnedFd;

use nix::sched::{CloneFlags, unshare};
use nix::sys::signal::Signal;
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Gid, Uid, fork};

use crate::confine::{self, Features};
use crate::rootfs::{self, Plan};
use crate::{Config, cstring};

/// One message, NUL-terminated, in one write.
fn send(fd: &OwnedFd, msg: &str) {
    let mut bytes: Vec<u8> = msg.bytes().filter(|&b| b != 0).take(4000).collect();
    bytes.push(0);
    let _ = nix::unistd::write(fd, &bytes);
}

/// The supervisor's child: namespaces, then the init. Never returns.
pub(crate) fn child(config: &Config, plan: &Plan, features: &Features, report: OwnedFd) -> ! {
    let code = match enter(config, plan, features, &report) {
        Ok(never) => match never {},
        Err(msg) => {
            send(&report, &format!("E{msg}"));
            125
        }
    };
    leave(code)
}

/// End a process of the sandbox (a fork of the supervisor) without running
/// the exit handlers the supervisor registered: they belong to it (the
/// allocator's would tidy a heap this process is about to drop anyway,
/// which costs more than everything else at exit), and nothing of the
/// child's is buffered (its messages go out in single writes).
fn leave(code: i32) -> ! {
    // SAFETY: `_exit` has no preconditions; it ends the process at once.
    unsafe { libc::_exit(code) }
}

/// Every descriptor the caller passed down beyond standard input, output
/// and error is closed when the command starts (marked close-on-exec, so
/// the report pipe, itself close-on-exec, keeps working until then). An
/// inherited descriptor is a door out of the sandbox the namespaces do not
/// close: a connected socket (an SSH agent's, a container daemon's) works
/// from any network namespace, and a directory opened outside reaches files
/// the mount namespace hides.
fn close_inherited_fds() -> Result<(), String> {
    let dir = std::fs::read_dir("/proc/self/fd")
        .map_err(|e| format!("cannot list open descriptors in /proc/self/fd: {e}"))?;
    let fds: Vec<i32> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|&fd| fd > 2)
        .collect();
    for fd in fds {
        // The listing's own descriptor, closed since, fails with EBADF.
        match nix::fcntl::fcntl(
            fd,
            nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
        ) {
            Ok(_) | Err(nix::errno::Errno::EBADF) => {}
            Err(e) => return Err(format!("cannot close descriptor {fd} for the command: {e}")),
        }
    }
    Ok(())
}

fn write_file(path: &str, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("cannot write {path}: {e}"))
}

fn enter(
    config: &Config,
    plan: &Plan,
    features: &Features,
    report: &OwnedFd,
) -> Result<Infallible, String> {
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(|e| format!("prctl: {e}"))?;
    close_inherited_fds()?;
    let uid = Uid::current().as_raw();
    let gid = Gid::current().as_raw();
    let nproc = if uid == 0 {
        // RLIMIT_NPROC does not bind root: a pids cgroup does.
        crate::confine::join_pids_cgroup(plan.supervisor)?;
        None
    } else {
        confine::process_budget(config, uid)
    };
    unshare(CloneFlags::CLONE_NEWUSER).map_err(|e| {
        format!("cannot create a user namespace ({e}): this kernel or its settings (user.max_user_namespaces, an AppArmor or SELinux policy) do not allow unprivileged user namespaces")
    })?;
    // The caller's own ids only: root inside is the caller outside, with
    // no more rights on the host than the caller has (and supplementary
    // groups cannot be changed inside).
    write_file("/proc/self/setgroups", "deny")?;
    write_file("/proc/self/uid_map", &format!("0 {uid} 1"))?;
    write_file("/proc/self/gid_map", &format!("0 {gid} 1"))?;
    unshare(
        CloneFlags::CLONE_NEWNS
            | CloneFlags::CLONE_NEWPID
            | CloneFlags::CLONE_NEWNET
            | CloneFlags::CLONE_NEWIPC
            | CloneFlags::CLONE_NEWUTS,
    )
    .map_err(|e| format!("cannot create the mount, PID, network, IPC and UTS namespaces: {e}"))?;
    // SAFETY: this process has one thread (forked from a single-threaded
    // supervisor); the init below only makes system calls and allocates.
    match unsafe { fork() }.map_err(|e| format!("fork: {e}"))? {
        ForkResult::Child => {
            let code = match init(config, plan, features, nproc, report) {
                Ok(code) => code,
                Err(msg) => {
                    send(report, &format!("E{msg}"));
                    125
                }
            };
            leave(code)
        }
        ForkResult::Parent { child } => {
            let code = match waitpid(child, None) {
                Ok(WaitStatus::Exited(_, c)) => c,
                _ => 125,
            };
            leave(code)
        }
    }
}

/// The init is a copy of the `airlock` process, so its memory holds the
/// caller's arguments and environment (tokens, keys), and it holds the
/// report pipe: none of it may reach the command, whose PID namespace the
/// init is PID 1 of.
///
/// - The argument and environment strings are overwritten in place
///   (through `/proc/self/mem`, which a process may always write): the
///   world-readable `/proc/1/cmdline` reads that memory, and no access
///   check guards it.
/// - The init is made non-dumpable: `/proc/1/environ`, `mem`, `fd`,
///   `maps`, `cwd`, `root` and `exe` then need `CAP_SYS_PTRACE` in the
///   user namespace the `airlock` binary was started in, which nothing
///   inside has (the command regains its own dumpability at `execve`).
///
/// The overwritten strings are the ones the kernel placed on the initial
/// stack: the init, single-threaded, reads neither its arguments nor its
/// environment afterwards (the command's environment was computed before
/// the fork).
fn hide_the_callers_process() -> Result<(), String> {
    use std::os::unix::fs::FileExt;
    let stat = std::fs::read_to_string("/proc/self/stat")
        .map_err(|e| format!("cannot read /proc/self/stat: {e}"))?;
    let [arg_start, arg_end, env_start, env_end] = memory_layout(&stat).ok_or_else(|| {
        "cannot find the argument and environment area in /proc/self/stat".to_string()
    })?;
    let mem = std::fs::OpenOptions::new()
        .write(true)
        .open("/proc/self/mem")
        .map_err(|e| format!("cannot open /proc/self/mem: {e}"))?;
    for (start, end) in [(arg_start, arg_end), (env_start, env_end)] {
        let len = usize::try_from(end.saturating_sub(start)).unwrap_or(0);
        let mut blank = vec![0u8; len];
        if start == arg_start {
            let name = b"airlock-sandbox-init";
            let n = name.len().min(len.saturating_sub(1));
            blank[..n].copy_from_slice(&name[..n]);
        }
        mem.write_all_at(&blank, start)
            .map_err(|e| format!("cannot overwrite the caller's arguments and environment: {e}"))?;
    }
    nix::sys::prctl::set_dumpable(false).map_err(|e| format!("prctl(PR_SET_DUMPABLE): {e}"))
}

/// `arg_start`, `arg_end`, `env_start` and `env_end` from a
/// `/proc/PID/stat` line: fields 48 to 51 of proc(5), counted after the
/// command name (which may hold spaces and parentheses, so the last `)`
/// ends it).
fn memory_layout(stat: &str) -> Option<[u64; 4]> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // The first field after the name is field 3 (state).
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    let layout = [field(48)?, field(49)?, field(50)?, field(51)?];
    (layout[0] <= layout[1] && layout[2] <= layout[3]).then_some(layout)
}

/// PID 1 of the sandbox.
fn init(
    config: &Config,
    plan: &Plan,
    features: &Features,
    nproc: Option<u64>,
    report: &OwnedFd,
) -> Result<i32, String> {
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(|e| format!("prctl: {e}"))?;
    hide_the_callers_process()?;
    nix::unistd::sethostname("airlock").map_err(|e| format!("sethostname: {e}"))?;
    rootfs::build(plan)?;
    confine::limits(config, nproc)?;
    let landlock = confine::landlock(plan, features)?;
    let seccomp = confine::seccomp(features)?;
    for missing in [landlock, seccomp].into_iter().flatten() {
        if !config.allow_degraded {
            return Err(format!(
                "{missing} could not be enforced on this kernel (run with --allow-degraded to go on without it)"
            ));
        }
        send(report, &format!("D{missing}"));
    }
    let argv = config
        .command
        .iter()
        .map(|a| cstring(a))
        .collect::<Result<Vec<_>, _>>()?;
    let envp = plan
        .env
        .iter()
        .map(|(k, v)| {
            std::ffi::CString::new(format!("{k}={v}")).map_err(|_| format!("{k}: a NUL byte"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    // SAFETY: the init has one thread.
    let command = match unsafe { fork() }.map_err(|e| format!("fork: {e}"))? {
        ForkResult::Child => {
            // The `airlock` executable turns transparent huge pages off for
            // itself (its allocator's arenas would otherwise be zeroed 2 MiB
            // at a time); the setting survives `execve`, and the command
            // gets the system's default back.
            let _ = nix::sys::prctl::set_thp_disable(false);
            let path = plan
                .env
                .iter()
                .find(|(k, _)| k == "PATH")
                .map(|(_, v)| v.as_str())
                .unwrap_or("/usr/bin:/bin");
            let err = exec(&argv, &envp, path);
            let name = config.command[0].to_string_lossy();
            send(report, &format!("E{name}: {err}"));
            leave(if err == nix::errno::Errno::ENOENT {
                127
            } else {
                126
            });
        }
        ForkResult::Parent { child } => child,
    };
    // Reap every process; report the command's end.
    loop {
        match waitpid(None, None) {
            Ok(WaitStatus::Exited(pid, c)) if pid == command => {
                send(report, &format!("X{c}"));
                return Ok(c);
            }
            Ok(WaitStatus::Signaled(pid, s, _)) if pid == command => {
                send(report, &format!("S{}", s as i32));
                return Ok(128 + s as i32);
            }
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(format!("wait: {e}")),
        }
    }
}

/// `execvpe` over `path`; returns only on failure.
fn exec(argv: &[std::ffi::CString], envp: &[std::ffi::CString], path: &str) -> nix::errno::Errno {
    let name = argv[0].to_bytes();
    if name.contains(&b'/') {
        return nix::unistd::execve(&argv[0], argv, envp)
            .err()
            .unwrap_or(nix::errno::Errno::EINVAL);
    }
    let mut last = nix::errno::Errno::ENOENT;
    for dir in path.split(':').filter(|d| !d.is_empty()) {
        let mut full = dir.as_bytes().to_vec();
        full.push(b'/');
        full.extend_from_slice(name);
        let Ok(c) = std::ffi::CString::new(full) else {
            continue;
        };
        match nix::unistd::execve(&c, argv, envp) {
            Err(nix::errno::Errno::ENOENT) | Err(nix::errno::Errno::ENOTDIR) => {}
            Err(e) => last = e,
            Ok(never) => match never {},
        }
    }
    last
}

#[cfg(test)]
mod tests {
    use super::memory_layout;

    #[test]
    fn the_memory_layout_is_read_after_the_last_parenthesis() {
        // A real line's shape, with a command name made to mislead.
        let mut fields: Vec<String> = (3..=52).map(|n| n.to_string()).collect();
        fields[0] = "S".into();
        let line = format!("1234 (a) b (c) {}\n", fields.join(" "));
        assert_eq!(memory_layout(&line), Some([48, 49, 50, 51]));
        assert_eq!(memory_layout("1 (x) S 2 3"), None);
        let own = std::fs::read_to_string("/proc/self/stat").unwrap();
        let [a, b, c, d] = memory_layout(&own).unwrap();
        assert!(a < b && b <= c && c < d, "{own}");
    }
}
