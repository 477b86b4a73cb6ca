//! The last layers, applied by the sandbox's init before it starts the
//! command: resource limits, `no_new_privs`, Landlock and seccomp.

use std::path::PathBuf;

use landlock::{
    ABI, Access, AccessFs, AccessNet, Ruleset, RulesetAttr, RulesetCreatedAttr, RulesetStatus,
    Scope, path_beneath_rules,
};
use nix::sys::resource::{Resource, setrlimit};

use crate::rootfs::Plan;
use crate::{SandboxConfig, SetupError};

/// What this kernel offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Features {
    /// Landlock's ABI version (0: none).
    pub landlock_abi: i32,
    /// Whether seccomp filters are available.
    pub seccomp: bool,
}

impl Features {
    /// What is missing, in words.
    pub fn missing(&self) -> Vec<String> {
        let mut out = Vec::new();
        match self.landlock_abi {
            i32::MIN..=0 => out.push(
                "Landlock is not available on this kernel (no filesystem rules as a second layer)"
                    .into(),
            ),
            1..=3 => out.push(format!(
                "Landlock ABI {} lacks TCP rules (ABI 4)",
                self.landlock_abi
            )),
            _ => {}
        }
        if !self.seccomp {
            out.push("seccomp filters are not available on this kernel".into());
        }
        out
    }
}

/// Probe the kernel.
pub fn probe() -> Features {
    const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1;
    // SAFETY: landlock_create_ruleset with a null attribute, size 0 and the
    // VERSION flag only returns the ABI version (or -1); it touches no
    // memory.
    let abi = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    // SAFETY: PR_GET_SECCOMP takes no pointer arguments.
    let seccomp = unsafe { libc::prctl(libc::PR_GET_SECCOMP, 0, 0, 0, 0) } >= 0;
    Features {
        landlock_abi: if abi < 0 { 0 } else { abi as i32 },
        seccomp,
    }
}

/// How many processes `uid` has now (RLIMIT_NPROC counts them all).
fn processes_of(uid: u32) -> u64 {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    dir.filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter(|e| {
            std::fs::read_to_string(e.path().join("status")).is_ok_and(|s| {
                s.lines()
                    .find(|l| l.starts_with("Uid:"))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|u| u.parse::<u32>().ok())
                    == Some(uid)
            })
        })
        .count() as u64
}

/// The process limit to set: `pids` more than the sandbox's user already
/// has (counted before the namespaces hide the host's processes).
pub fn process_budget(config: &SandboxConfig, host_uid: u32) -> Option<u64> {
    config.pids.map(|n| processes_of(host_uid) + n)
}

/// The pids cgroup (v1) of this run (named for the supervisor's pid).
fn pids_cgroup(supervisor: u32) -> PathBuf {
    PathBuf::from(format!("/sys/fs/cgroup/pids/airlock-{supervisor}"))
}

/// Create this run's pids cgroup with `pids.max` (root only: RLIMIT_NPROC
/// does not bind root). Skipped when the pids controller is not mounted.
pub fn create_pids_cgroup(pids: Option<u64>) -> Result<(), SetupError> {
    let Some(n) = pids else { return Ok(()) };
    if !std::path::Path::new("/sys/fs/cgroup/pids/cgroup.procs").exists() {
        return Ok(());
    }
    let path = pids_cgroup(std::process::id());
    if let Err(source) = std::fs::create_dir_all(&path) {
        return Err(SetupError::CgroupCreate { path, source });
    }
    std::fs::write(path.join("pids.max"), n.to_string())
        .map_err(|source| SetupError::CgroupLimit { path, source })
}

/// Move the calling process into this run's pids cgroup (its children
/// follow).
///
/// The caller has a single thread, so moving that thread moves the whole
/// process; it is moved by writing `0` (the calling thread) to `tasks`.
/// Writing a process to `cgroup.procs` (or any pid to `tasks`) makes the
/// kernel take the cgroup threadgroup lock for writing, which waits for
/// an RCU grace period: 5 to 14 ms on the project's machines, the largest
/// part of the sandbox's start-up. Moving the caller's own thread needs
/// no such lock (0.4 ms).
pub fn join_pids_cgroup(supervisor: u32) -> Result<(), SetupError> {
    let path = pids_cgroup(supervisor);
    if !path.exists() {
        return Ok(());
    }
    std::fs::write(path.join("tasks"), "0")
        .or_else(|_| std::fs::write(path.join("cgroup.procs"), std::process::id().to_string()))
        .map_err(|source| SetupError::CgroupJoin { path, source })
}

/// Remove this run's pids cgroup, killing what is left in it (after a
/// timeout kill, the sandbox's processes end asynchronously).
pub fn remove_pids_cgroup() {
    let dir = pids_cgroup(std::process::id());
    // Empty once the init has been reaped (its PID namespace's processes
    // end before it does): removed at once.
    if std::fs::remove_dir(&dir).is_ok() || !dir.exists() {
        return;
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
        let pids: Vec<i32> = procs
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect();
        if pids.is_empty() || std::time::Instant::now() > deadline {
            break;
        }
        for pid in pids {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let _ = std::fs::remove_dir(&dir);
}

/// Resource limits.
pub fn limits(config: &SandboxConfig, nproc: Option<u64>) -> Result<(), SetupError> {
    let set = |r: Resource, soft: u64, hard: u64, resource: &'static str| {
        setrlimit(r, soft, hard).map_err(|source| SetupError::Rlimit { resource, source })
    };
    set(Resource::RLIMIT_CORE, 0, 0, "core dumps")?;
    if let Some(m) = config.mem {
        set(Resource::RLIMIT_AS, m, m, "memory")?;
    }
    if let Some(c) = config.cpu_time {
        // SIGXCPU at the limit, SIGKILL a second later.
        set(Resource::RLIMIT_CPU, c, c + 1, "CPU time")?;
    }
    if let Some(f) = config.file_size {
        set(Resource::RLIMIT_FSIZE, f, f, "file size")?;
    }
    if let Some(n) = config.open_files {
        set(Resource::RLIMIT_NOFILE, n, n, "open files")?;
    }
    if let Some(n) = nproc {
        set(Resource::RLIMIT_NPROC, n, n, "processes")?;
    }
    Ok(())
}

/// Landlock rules matching the mounts: read (and execute) everywhere the
/// root shows, write only in `/tmp`, `/dev/shm`, the devices and the
/// `--rw` paths; no TCP (unless `tcp`: `--net loopback`); abstract UNIX sockets and signals scoped to the
/// sandbox. Returns what the kernel could not enforce.
pub fn landlock(plan: &Plan, features: &Features, tcp: bool) -> Result<Option<String>, SetupError> {
    if features.landlock_abi <= 0 {
        return Ok(Some("Landlock".into()));
    }
    let abi = ABI::V6;
    let mut writable: Vec<PathBuf> = vec!["/tmp".into(), "/dev/shm".into(), "/dev/pts".into()];
    writable.extend(plan.writable.iter().cloned());
    let devices: Vec<PathBuf> = ["null", "zero", "full", "random", "urandom"]
        .iter()
        .map(|d| PathBuf::from("/dev").join(d))
        .collect();
    let e = SetupError::Landlock;
    // With `tcp` (`--net loopback`), TCP is not handled here: the network
    // namespace, holding only the sandbox's loopback, is the boundary.
    let ruleset = Ruleset::default()
        .handle_access(AccessFs::from_all(abi))
        .map_err(e)?;
    let ruleset = if tcp {
        ruleset
    } else {
        ruleset.handle_access(AccessNet::from_all(abi)).map_err(e)?
    };
    let status = ruleset
        .scope(Scope::from_all(abi))
        .map_err(e)?
        .create()
        .map_err(e)?
        .add_rules(path_beneath_rules(["/"], AccessFs::from_read(abi)))
        .map_err(e)?
        // The same right again at each read-only mount: Landlock walks up
        // from a file until a rule grants the access, so a rule close to
        // the files (a virtualenv deep under /root) saves most of the walk
        // on every one of the thousands of lookups an `import torch` makes.
        .add_rules(path_beneath_rules(
            plan.binds.iter().filter(|b| !b.rw).map(|b| b.dst.clone()),
            AccessFs::from_read(abi),
        ))
        .map_err(e)?
        .add_rules(path_beneath_rules(&writable, AccessFs::from_all(abi)))
        .map_err(e)?
        .add_rules(path_beneath_rules(
            &devices,
            AccessFs::ReadFile | AccessFs::WriteFile | AccessFs::Truncate,
        ))
        .map_err(e)?
        .restrict_self()
        .map_err(e)?;
    Ok(match status.ruleset {
        RulesetStatus::FullyEnforced => None,
        RulesetStatus::PartiallyEnforced => Some(format!(
            "Landlock partly (kernel ABI {} < {})",
            features.landlock_abi, abi as i32
        )),
        RulesetStatus::NotEnforced => Some("Landlock".into()),
    })
}

/// `no_new_privs`, then the seccomp filter.
pub fn seccomp(features: &Features) -> Result<Option<String>, SetupError> {
    nix::sys::prctl::set_no_new_privs().map_err(SetupError::NoNewPrivs)?;
    if !features.seccomp {
        return Ok(Some("seccomp".into()));
    }
    crate::seccomp::install(&crate::seccomp::filter())?;
    Ok(None)
}
