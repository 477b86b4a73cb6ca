//! The sandbox's processes. The supervisor clones the sandbox's init
//! straight into a new user namespace (mapping the caller, and only the
//! caller, to root inside) and new mount, PID, network, IPC and UTS
//! namespaces. The init writes its uid and gid maps, builds the root
//! filesystem, applies the limits, Landlock and seccomp, starts the
//! command, reaps every process and reports how the command ended.
//!
//! Messages to the supervisor go through a pipe: `E<text>` when the
//! sandbox could not be set up, `X<code>` or `S<signal>` when the command
//! ended, `D<layer>` for each layer this kernel could not enforce.

use std::os::fd::{AsRawFd, OwnedFd};

use nix::sched::CloneFlags;
use nix::sys::signal::Signal;
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{Gid, Pid, Uid};

use crate::confine::{self, Features};
use crate::rootfs::{self, Plan};
use crate::{SandboxConfig, SetupError, cstring};

/// One message, NUL-terminated, in one write.
fn send(fd: &OwnedFd, msg: &str) {
    let mut bytes: Vec<u8> = msg.bytes().filter(|&b| b != 0).take(4000).collect();
    bytes.push(0);
    let _ = nix::unistd::write(fd, &bytes);
}

/// The namespaces the init is cloned into.
const NAMESPACES: CloneFlags = CloneFlags::CLONE_NEWUSER
    .union(CloneFlags::CLONE_NEWNS)
    .union(CloneFlags::CLONE_NEWPID)
    .union(CloneFlags::CLONE_NEWNET)
    .union(CloneFlags::CLONE_NEWIPC)
    .union(CloneFlags::CLONE_NEWUTS);

/// What the init needs besides its pipes.
pub(crate) struct Sandbox<'a> {
    pub config: &'a SandboxConfig,
    pub plan: &'a Plan,
    pub features: &'a Features,
    /// `RLIMIT_NPROC` for the command (unprivileged callers).
    pub nproc: Option<u64>,
    /// Whether the caller is root on the host (inside, everyone is).
    pub host_root: bool,
}

/// Start the sandbox's init; returns its pid (in the supervisor's PID
/// namespace). `report` is the report pipe's write end, `unused` its read
/// end (closed in the init).
///
/// One `clone` makes the init and all its namespaces (`unshare` would take
/// a process more: a new PID namespace holds only the children of the
/// process that asks for it). The init, first in its user namespace and
/// so with every capability there, writes its own maps
/// (user_namespaces(7)), as `unshare --map-root-user` does.
pub(crate) fn spawn(
    sandbox: &Sandbox,
    report: &OwnedFd,
    unused: &OwnedFd,
) -> Result<Pid, SetupError> {
    let flags = NAMESPACES.bits() as libc::c_long | libc::SIGCHLD as libc::c_long;
    // The caller's ids, read before the clone: inside, everyone is root.
    let ids = (Uid::effective().as_raw(), Gid::effective().as_raw());
    let supervisor = pidfd_of_self();
    // SAFETY: a `clone` without `CLONE_VM` and without a stack of its own
    // is a `fork` into new namespaces (`fork` takes no flags): the child
    // gets a copy of the caller's memory. The caller has a single thread
    // (see `crate::run`), so no lock is held in the copy; the child only
    // makes system calls and allocates until it replaces itself with the
    // command or exits, and never returns from this function.
    let rc = unsafe { libc::syscall(libc::SYS_clone, flags, 0, 0, 0, 0) };
    match rc {
        -1 => Err(SetupError::Clone(std::io::Error::last_os_error())),
        0 => {
            let _ = nix::unistd::close(unused.as_raw_fd());
            let code = match init(sandbox, ids, supervisor, report) {
                Ok(code) => code,
                // Only text crosses the pipe: the error is formatted here.
                Err(e) => {
                    send(report, &format!("E{e}"));
                    125
                }
            };
            leave(code)
        }
        pid => Ok(Pid::from_raw(pid as i32)),
    }
}

/// A pidfd of the calling process (`None` before Linux 5.3), for the init
/// to see whether the supervisor is still there once its parent-death
/// signal is set.
fn pidfd_of_self() -> Option<OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: pidfd_open takes a pid and flags, no pointers.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, std::process::id(), 0) };
    // SAFETY: a non-negative return is a new descriptor this process owns.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Whether the process behind `pidfd` has ended (it is readable then).
fn ended(pidfd: &OwnedFd) -> bool {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    let mut fds = [PollFd::new(
        std::os::fd::AsFd::as_fd(pidfd),
        PollFlags::POLLIN,
    )];
    poll(&mut fds, PollTimeout::ZERO).is_ok_and(|n| n > 0)
}

/// The caller's own ids only: root inside is the caller outside, with no
/// more rights on the host than the caller has (and supplementary groups
/// cannot be changed inside).
fn write_maps((uid, gid): (u32, u32)) -> Result<(), SetupError> {
    write_map("/proc/self/setgroups", "deny")?;
    write_map("/proc/self/uid_map", &format!("0 {uid} 1"))?;
    write_map("/proc/self/gid_map", &format!("0 {gid} 1"))
}

fn write_map(path: &str, text: &str) -> Result<(), SetupError> {
    std::fs::write(path, text).map_err(|source| SetupError::IdMap {
        path: path.into(),
        source,
    })
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
fn close_inherited_fds() -> Result<(), SetupError> {
    // SAFETY: close_range takes no pointers; with CLOSE_RANGE_CLOEXEC it
    // only marks descriptors.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if rc == 0 {
        return Ok(());
    }
    // Kernels before 5.11: one descriptor at a time.
    let dir = std::fs::read_dir("/proc/self/fd").map_err(SetupError::ListDescriptors)?;
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
            Err(source) => return Err(SetupError::CloseDescriptor { fd, source }),
        }
    }
    Ok(())
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
fn hide_the_callers_process() -> Result<(), SetupError> {
    use std::os::unix::fs::FileExt;
    let hide = |what| move |source| SetupError::HideCaller { what, source };
    let stat = read_stat().map_err(hide("cannot read /proc/self/stat"))?;
    let [arg_start, arg_end, env_start, env_end] = memory_layout(&stat).ok_or_else(|| {
        hide("cannot find the argument and environment area in /proc/self/stat")(
            std::io::ErrorKind::InvalidData.into(),
        )
    })?;
    let mem = std::fs::OpenOptions::new()
        .write(true)
        .open("/proc/self/mem")
        .map_err(hide("cannot open /proc/self/mem"))?;
    for (start, end) in [(arg_start, arg_end), (env_start, env_end)] {
        let len = usize::try_from(end.saturating_sub(start)).unwrap_or(0);
        let mut blank = vec![0u8; len];
        if start == arg_start {
            let name = b"airlock-sandbox-init";
            let n = name.len().min(len.saturating_sub(1));
            blank[..n].copy_from_slice(&name[..n]);
        }
        mem.write_all_at(&blank, start).map_err(hide(
            "cannot overwrite the caller's arguments and environment",
        ))?;
    }
    nix::sys::prctl::set_dumpable(false)
        .map_err(|e| hide("prctl(PR_SET_DUMPABLE)")(std::io::Error::from(e)))
}

/// `/proc/self/stat` in one read (a line of a few hundred bytes; reading
/// it in growing pieces takes a system call each).
fn read_stat() -> std::io::Result<String> {
    use std::io::Read;
    let mut buf = vec![0u8; 4096];
    let mut file = std::fs::File::open("/proc/self/stat")?;
    let mut len = 0;
    loop {
        match file.read(&mut buf[len..])? {
            0 => break,
            n => len += n,
        }
        if len == buf.len() {
            buf.resize(len * 2, 0);
        }
    }
    buf.truncate(len);
    String::from_utf8(buf).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
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

/// PID 1 of the sandbox: confine itself, start the command, reap every
/// process and report the command's end.
fn init(
    sandbox: &Sandbox,
    ids: (u32, u32),
    supervisor: Option<OwnedFd>,
    report: &OwnedFd,
) -> Result<i32, SetupError> {
    // Killed with the supervisor, unless it ended before this took effect.
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(SetupError::ParentDeathSignal)?;
    if supervisor.as_ref().is_some_and(ended) {
        return Err(SetupError::SupervisorEnded);
    }
    drop(supervisor);
    default_signals();
    confine_self(sandbox, ids, report)?;
    let (argv, envp) = command_strings(sandbox.config, sandbox.plan)?;
    let path = sandbox
        .plan
        .env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.as_str())
        .unwrap_or("/usr/bin:/bin");
    match start(&argv, &envp, path) {
        Ok(command) => reap(command, report),
        Err(why) => {
            let code = match why {
                StartError::Exec(nix::errno::Errno::ENOENT) => 127,
                _ => 126,
            };
            let command = sandbox.config.command[0].to_string_lossy().into_owned();
            send(report, &format!("N{code} {}", why.error(command)));
            Ok(code)
        }
    }
}

/// Every signal's action back to the default, and none blocked: the init
/// is a copy of its caller, whose handlers mean nothing here and whose
/// ignored signals would stay ignored in the command across `execve` (a
/// Rust program, and the Python interpreter under the Python package's
/// `airlock` command, ignore `SIGPIPE`; Python also ignores `SIGXFSZ`, which
/// the file size limit relies on).
fn default_signals() {
    use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, SigmaskHow, sigaction};
    let default = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
    for signal in Signal::iterator().filter(|s| !matches!(s, Signal::SIGKILL | Signal::SIGSTOP)) {
        // SAFETY: installing the default action runs no code of this
        // process's in a handler.
        let _ = unsafe { sigaction(signal, &default) };
    }
    let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
}

/// Every layer, in order: the id maps, the inherited descriptors, the pids
/// cgroup (root), the caller's process hidden, the root filesystem, the
/// limits, Landlock and seccomp (each layer missing is reported, or
/// refused without `allow_degraded`).
fn confine_self(sandbox: &Sandbox, ids: (u32, u32), report: &OwnedFd) -> Result<(), SetupError> {
    let Sandbox {
        config,
        plan,
        features,
        nproc,
        host_root,
    } = *sandbox;
    write_maps(ids)?;
    close_inherited_fds()?;
    if host_root {
        // RLIMIT_NPROC does not bind root: a pids cgroup does.
        confine::join_pids_cgroup(plan.supervisor)?;
    }
    hide_the_callers_process()?;
    nix::unistd::sethostname("airlock").map_err(SetupError::Hostname)?;
    if config.net == crate::Network::Loopback {
        crate::netns::loopback_up()?;
    }
    rootfs::build(plan)?;
    confine::limits(config, nproc)?;
    let tcp = config.net == crate::Network::Loopback;
    let landlock = confine::landlock(plan, features, tcp)?;
    let seccomp = confine::seccomp(features)?;
    for missing in [landlock, seccomp].into_iter().flatten() {
        if !config.allow_degraded {
            return Err(SetupError::Degraded { layer: missing });
        }
        send(report, &format!("D{missing}"));
    }
    Ok(())
}

type Strings = Vec<std::ffi::CString>;

/// The command's arguments and environment as C strings.
fn command_strings(config: &SandboxConfig, plan: &Plan) -> Result<(Strings, Strings), SetupError> {
    let argv = config
        .command
        .iter()
        .map(|a| cstring(a))
        .collect::<Result<Vec<_>, _>>()?;
    let envp = plan
        .env
        .iter()
        .map(|(k, v)| {
            std::ffi::CString::new(format!("{k}={v}"))
                .map_err(|_| SetupError::NulInEnvironment { name: k.clone() })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((argv, envp))
}

/// Reap every process until `command` ends; report how it ended.
fn reap(command: Pid, report: &OwnedFd) -> Result<i32, SetupError> {
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
            Err(e) => return Err(SetupError::Wait(e)),
        }
    }
}

/// Where `execvpe` would look for `argv[0]` along `path`.
fn candidates(name: &[u8], path: &str) -> Vec<std::ffi::CString> {
    if name.contains(&b'/') {
        return std::ffi::CString::new(name).into_iter().collect();
    }
    path.split(':')
        .filter(|d| !d.is_empty())
        .filter_map(|dir| {
            let mut full = dir.as_bytes().to_vec();
            full.push(b'/');
            full.extend_from_slice(name);
            std::ffi::CString::new(full).ok()
        })
        .collect()
}

/// Why the command did not start.
enum StartError {
    /// The process to execute it could not be made.
    Clone(nix::errno::Errno),
    /// No candidate could be executed: the error `execvpe` would give.
    Exec(nix::errno::Errno),
}

impl StartError {
    fn error(self, command: String) -> SetupError {
        match self {
            StartError::Clone(source) => SetupError::Start { command, source },
            StartError::Exec(source) => SetupError::Exec { command, source },
        }
    }
}

/// Start the command: `execvpe` over `path` in a child that shares the
/// init's memory until it calls `execve` (`CLONE_VM | CLONE_VFORK`, as
/// `posix_spawn` does), so that no copy of the init's address space is
/// made only to be thrown away. Returns the child, or why no candidate
/// could be executed.
fn start(
    argv: &[std::ffi::CString],
    envp: &[std::ffi::CString],
    path: &str,
) -> Result<nix::unistd::Pid, StartError> {
    use std::sync::atomic::{AtomicI32, Ordering};
    let files = candidates(argv[0].to_bytes(), path);
    let pointers = |v: &[std::ffi::CString]| -> Vec<*const libc::c_char> {
        v.iter()
            .map(|c| c.as_ptr())
            .chain(std::iter::once(std::ptr::null()))
            .collect()
    };
    let (argv_p, envp_p) = (pointers(argv), pointers(envp));
    // Written by the child when nothing could be executed; read by the
    // init once the child has ended (`CLONE_VFORK` suspends it until then).
    let failure = AtomicI32::new(0);
    let mut stack = vec![0u8; 64 * 1024];
    // The child runs on `stack`, in the init's memory: it calls nothing
    // that allocates or takes a lock, only `prctl`, `execve` and stores.
    let child = Box::new(|| -> isize {
        // The `airlock` executable turns transparent huge pages off for
        // itself (its allocator's arenas would otherwise be zeroed 2 MiB at
        // a time); the setting survives `execve`, and the command gets the
        // system's default back.
        // SAFETY: PR_SET_THP_DISABLE takes no pointers.
        unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 0, 0, 0, 0) };
        let mut last = libc::ENOENT;
        for file in &files {
            // SAFETY: every pointer is to a NUL-terminated string, alive in
            // the init for as long as the child runs, and both arrays end
            // with a null pointer.
            unsafe { libc::execve(file.as_ptr(), argv_p.as_ptr(), envp_p.as_ptr()) };
            let err = std::io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::EINVAL);
            if files.len() == 1 || !matches!(err, libc::ENOENT | libc::ENOTDIR) {
                last = err;
            }
        }
        failure.store(last, Ordering::SeqCst);
        127
    });
    let flags = nix::sched::CloneFlags::CLONE_VM | nix::sched::CloneFlags::CLONE_VFORK;
    // SAFETY: the init has one thread; the child shares its memory only
    // until `execve` or its end, which the init waits for (CLONE_VFORK),
    // and touches nothing but the values prepared above.
    let pid = unsafe { nix::sched::clone(child, &mut stack, flags, Some(libc::SIGCHLD)) }
        .map_err(StartError::Clone)?;
    match failure.load(Ordering::SeqCst) {
        0 => Ok(pid),
        err => {
            let _ = waitpid(pid, None);
            Err(StartError::Exec(nix::errno::Errno::from_raw(err)))
        }
    }
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
