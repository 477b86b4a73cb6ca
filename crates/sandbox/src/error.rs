//! Why the sandbox could not be set up: one variant per step that can
//! fail, keeping the system's error (`Errno` or `io::Error`, as
//! `Error::source`) and the path or resource involved. The message
//! (`Display`) includes the cause's, so that a person reads one sentence.
//!
//! The supervisor's own steps (before the clone) come back to the caller
//! as they are. The sandbox's init is another process: it formats its
//! error where it writes it to the report pipe, and the supervisor hands
//! that text on as [`SetupError::InSandbox`] (only bytes cross the pipe).

use std::ffi::OsString;
use std::io;
use std::path::PathBuf;

use nix::errno::Errno;

/// A step of setting up the sandbox that failed.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The configuration names no command.
    #[error("no command given")]
    NoCommand,
    /// The calling process has more than one thread: the sandbox forks,
    /// which is only sound in a single-threaded process.
    #[error(
        "the sandbox must be started from a process with a single thread, and this one has {count} \
         (the sandbox forks, and a fork of a process with other threads may find a lock they held \
         taken forever); run `airlock run` as a process of its own"
    )]
    Threads {
        /// Threads counted in `/proc/self/status`.
        count: u64,
    },
    /// The thread count could not be read (refused rather than assumed).
    #[error("cannot count this process's threads in /proc/self/status: {0}")]
    ThreadCount(#[source] io::Error),
    /// The report pipe could not be made.
    #[error("cannot create the sandbox's report pipe: {0}")]
    Pipe(#[source] Errno),
    /// This run's pids cgroup could not be created.
    #[error("cannot create the pids cgroup {}: {source}", path.display())]
    CgroupCreate {
        /// The cgroup's folder.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// The process limit could not be written to the pids cgroup.
    #[error("cannot limit processes in {}: {source}", path.display())]
    CgroupLimit {
        /// The cgroup's folder.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// The sandbox's init could not join the pids cgroup.
    #[error("cannot join {}: {source}", path.display())]
    CgroupJoin {
        /// The cgroup's folder.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// A system directory that is a symbolic link could not be read.
    #[error("cannot read the link {}: {source}", path.display())]
    ReadLink {
        /// The link.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// A path to share (`--ro`, `--rw`) cannot be found or read.
    #[error("cannot share {}: {source}", path.display())]
    Share {
        /// The path as given.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// `/` was given to share.
    #[error("the whole host filesystem cannot be shared")]
    ShareRoot,
    /// The empty host folder the root is mounted on could not be made.
    #[error("cannot create the sandbox's mount point {}: {source}", path.display())]
    MountPoint {
        /// The last folder tried.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// The `clone` into new namespaces failed.
    #[error(
        "cannot create the sandbox's namespaces ({0}): this kernel or its settings \
         (user.max_user_namespaces, an AppArmor or SELinux policy) do not allow unprivileged user \
         namespaces"
    )]
    Clone(#[source] io::Error),
    /// What the sandbox's init reported through the pipe: the text of one
    /// of the variants below, formatted in the init.
    #[error("{0}")]
    InSandbox(String),
    /// `prctl(PR_SET_PDEATHSIG)` failed.
    #[error("cannot have the sandbox killed with its supervisor (prctl): {0}")]
    ParentDeathSignal(#[source] Errno),
    /// The supervisor ended before the sandbox started.
    #[error("the supervisor ended before the sandbox started")]
    SupervisorEnded,
    /// A uid or gid map (or `setgroups`) could not be written.
    #[error("cannot write {}: {source}", path.display())]
    IdMap {
        /// `/proc/self/uid_map`, `gid_map` or `setgroups`.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// Without `close_range`, the open descriptors could not be listed.
    #[error("cannot list open descriptors in /proc/self/fd: {0}")]
    ListDescriptors(#[source] io::Error),
    /// A descriptor the caller left open could not be marked
    /// close-on-exec.
    #[error("cannot close descriptor {fd} for the command: {source}")]
    CloseDescriptor {
        /// The descriptor.
        fd: i32,
        /// The error.
        source: Errno,
    },
    /// The caller's arguments and environment could not be hidden from the
    /// command.
    #[error("cannot hide the caller's process: {what}: {source}")]
    HideCaller {
        /// The step: reading `/proc/self/stat`, writing `/proc/self/mem`,
        /// `PR_SET_DUMPABLE`.
        what: &'static str,
        /// The error.
        source: io::Error,
    },
    /// `sethostname` failed.
    #[error("sethostname: {0}")]
    Hostname(#[source] Errno),
    /// The loopback interface of `--net loopback` could not be brought up.
    #[error("cannot bring up the sandbox's loopback interface ({step}): {source}")]
    Loopback {
        /// The step that failed.
        step: &'static str,
        /// Why.
        #[source]
        source: Errno,
    },
    /// The mounts could not be made private.
    #[error("cannot make mounts private: {0}")]
    PrivateMounts(#[source] Errno),
    /// A folder of the new root could not be made.
    #[error("mkdir {}: {source}", path.display())]
    Mkdir {
        /// The folder.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// A file of the new root could not be written.
    #[error("cannot create {}: {source}", path.display())]
    CreateFile {
        /// The file.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// A symbolic link of the new root could not be made.
    #[error("symlink {}: {source}", path.display())]
    Symlink {
        /// The link.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// A tmpfs could not be mounted.
    #[error("cannot mount a tmpfs on {}: {source}", path.display())]
    Tmpfs {
        /// Where.
        path: PathBuf,
        /// The error.
        source: Errno,
    },
    /// The private devpts instance could not be mounted.
    #[error("cannot mount /dev/pts: {0}")]
    Devpts(#[source] Errno),
    /// `/proc` could not be mounted.
    #[error("cannot mount /proc: {0}")]
    Proc(#[source] Errno),
    /// A shared path could not be bound into the root.
    #[error("cannot bind {} to {}: {source}", src.display(), dst.display())]
    Bind {
        /// On the host.
        src: PathBuf,
        /// In the new root.
        dst: PathBuf,
        /// The error.
        source: Errno,
    },
    /// A bind could not be made read-only (or `nosuid`).
    #[error("cannot remount {}: {source}", path.display())]
    Remount {
        /// In the new root.
        path: PathBuf,
        /// The error.
        source: Errno,
    },
    /// A device could not be bound into the new `/dev`.
    #[error("cannot bind the device {} to {}: {source}", src.display(), dst.display())]
    BindDevice {
        /// On the host.
        src: PathBuf,
        /// In the new root.
        dst: PathBuf,
        /// The error.
        source: Errno,
    },
    /// A change of directory failed.
    #[error("chdir {}: {source}", path.display())]
    Chdir {
        /// The folder.
        path: PathBuf,
        /// The error.
        source: Errno,
    },
    /// `pivot_root` failed.
    #[error("pivot_root: {0}")]
    PivotRoot(#[source] Errno),
    /// The host's root could not be detached.
    #[error("cannot detach the host's root: {0}")]
    DetachHostRoot(#[source] Errno),
    /// The new root could not be made read-only.
    #[error("cannot make the root read-only: {0}")]
    ReadOnlyRoot(#[source] Errno),
    /// A resource limit could not be set.
    #[error("cannot limit {resource}: {source}")]
    Rlimit {
        /// The resource, in words.
        resource: &'static str,
        /// The error.
        source: Errno,
    },
    /// The Landlock ruleset could not be made or applied.
    #[error("Landlock: {0}")]
    Landlock(#[source] landlock::RulesetError),
    /// `PR_SET_NO_NEW_PRIVS` failed.
    #[error("no_new_privs: {0}")]
    NoNewPrivs(#[source] Errno),
    /// The seccomp program has more instructions than the kernel takes.
    #[error("the seccomp filter is too long ({len} instructions)")]
    SeccompTooLong {
        /// Its instructions.
        len: usize,
    },
    /// The seccomp filter could not be installed.
    #[error("seccomp: {0}")]
    Seccomp(#[source] io::Error),
    /// A layer this kernel cannot enforce, without `allow_degraded`.
    #[error(
        "{layer} could not be enforced on this kernel (run with --allow-degraded to go on without it)"
    )]
    Degraded {
        /// The layer.
        layer: String,
    },
    /// An argument of the command holds a NUL byte.
    #[error("{arg:?} contains a NUL byte")]
    NulInArgument {
        /// The argument.
        arg: OsString,
    },
    /// An environment variable holds a NUL byte.
    #[error("{name}: a NUL byte")]
    NulInEnvironment {
        /// The variable's name.
        name: String,
    },
    /// The process that executes the command could not be made.
    #[error("{command}: cannot start: {source}")]
    Start {
        /// The command.
        command: String,
        /// The error.
        source: Errno,
    },
    /// The command could not be executed (not found, not executable).
    #[error("{command}: {source}")]
    Exec {
        /// The command.
        command: String,
        /// `execve`'s error (for the last candidate path that mattered).
        source: Errno,
    },
    /// Waiting for the sandbox's processes failed.
    #[error("wait: {0}")]
    Wait(#[source] Errno),
}
