//! The system call filter: deny by default. Allowed are the calls a Python
//! interpreter, NumPy and torch make (files, memory, threads, signals,
//! pipes and local sockets, time, process creation and exec inside the
//! sandbox), checked by running real torch workloads inside. Everything
//! else fails with `EPERM`, notably: `ptrace`, `process_vm_readv`/`writev`,
//! `mount`/`umount2`/`pivot_root`/`move_mount`/`fsopen`, `unshare`/`setns`,
//! `kexec_*`, `init_module`/`finit_module`/`delete_module`, `bpf`,
//! `perf_event_open`, `keyctl`/`add_key`/`request_key`, `reboot`, `swapon`,
//! `acct`, `quotactl`, `userfaultfd`, `io_uring_*`, `open_by_handle_at`,
//! `name_to_handle_at`, `clock_settime`, `settimeofday`, `sethostname`,
//! `chroot`, `iopl`/`ioperm`, `personality`, `syslog`, `lookup_dcookie`,
//! `fanotify_init`, `mbind`-free NUMA moves (`migrate_pages`,
//! `move_pages`). `clone`/`clone3` may not create namespaces (checked on
//! `clone`'s flags; `clone3`, whose flags are out of a filter's reach,
//! fails with `ENOSYS` so that libc falls back to `clone`).
//!
//! The classic BPF program is generated here rather than by a filter
//! compiler such as `seccompiler`, for speed: a compiler of per-call rules
//! emits one comparison chain of about 1,100 instructions, which the
//! kernel walks for every system call number when the filter is installed
//! (to fill its cache of always-allowed calls), about a millisecond of
//! every sandbox's start-up. Here the numbers become sorted ranges found
//! by a binary search: about 230 instructions, at most ten on any path,
//! every path a plain comparison of the call number (so the kernel caches
//! every allowed call but `clone` and never runs the filter for them). The
//! tests run the program through an interpreter of the instructions it
//! uses, for every call number.

/// The allowed system calls (those this architecture has).
const ALLOWED: &[i64] = &[
    libc::SYS_read,
    libc::SYS_write,
    libc::SYS_readv,
    libc::SYS_writev,
    libc::SYS_pread64,
    libc::SYS_pwrite64,
    libc::SYS_preadv,
    libc::SYS_pwritev,
    libc::SYS_preadv2,
    libc::SYS_pwritev2,
    libc::SYS_openat,
    libc::SYS_openat2,
    libc::SYS_close,
    libc::SYS_close_range,
    libc::SYS_lseek,
    libc::SYS_fstat,
    libc::SYS_newfstatat,
    libc::SYS_statx,
    libc::SYS_statfs,
    libc::SYS_fstatfs,
    libc::SYS_faccessat,
    libc::SYS_faccessat2,
    libc::SYS_readlinkat,
    libc::SYS_getdents64,
    libc::SYS_getcwd,
    libc::SYS_chdir,
    libc::SYS_fchdir,
    libc::SYS_mkdirat,
    libc::SYS_unlinkat,
    libc::SYS_renameat,
    libc::SYS_renameat2,
    libc::SYS_linkat,
    libc::SYS_symlinkat,
    libc::SYS_fchmod,
    libc::SYS_fchmodat,
    libc::SYS_fchownat,
    libc::SYS_fchown,
    libc::SYS_utimensat,
    libc::SYS_ftruncate,
    libc::SYS_fallocate,
    libc::SYS_fsync,
    libc::SYS_fdatasync,
    libc::SYS_sync_file_range,
    libc::SYS_fadvise64,
    libc::SYS_readahead,
    libc::SYS_copy_file_range,
    libc::SYS_sendfile,
    libc::SYS_splice,
    libc::SYS_tee,
    libc::SYS_flock,
    libc::SYS_fcntl,
    libc::SYS_ioctl,
    libc::SYS_dup,
    libc::SYS_dup3,
    libc::SYS_pipe2,
    libc::SYS_umask,
    libc::SYS_getxattr,
    libc::SYS_lgetxattr,
    libc::SYS_fgetxattr,
    libc::SYS_listxattr,
    libc::SYS_llistxattr,
    libc::SYS_flistxattr,
    libc::SYS_inotify_init1,
    libc::SYS_inotify_add_watch,
    libc::SYS_inotify_rm_watch,
    libc::SYS_memfd_create,
    libc::SYS_mmap,
    libc::SYS_munmap,
    libc::SYS_mremap,
    libc::SYS_mprotect,
    libc::SYS_madvise,
    libc::SYS_msync,
    libc::SYS_mlock,
    libc::SYS_munlock,
    libc::SYS_mincore,
    libc::SYS_brk,
    libc::SYS_mbind,
    libc::SYS_get_mempolicy,
    libc::SYS_set_mempolicy,
    libc::SYS_membarrier,
    libc::SYS_futex,
    libc::SYS_futex_waitv,
    libc::SYS_set_robust_list,
    libc::SYS_get_robust_list,
    libc::SYS_set_tid_address,
    libc::SYS_rseq,
    libc::SYS_sched_yield,
    libc::SYS_sched_getaffinity,
    libc::SYS_sched_setaffinity,
    libc::SYS_sched_getparam,
    libc::SYS_sched_getscheduler,
    libc::SYS_sched_get_priority_min,
    libc::SYS_sched_get_priority_max,
    libc::SYS_sched_setscheduler,
    libc::SYS_sched_setparam,
    libc::SYS_getpriority,
    libc::SYS_setpriority,
    libc::SYS_rt_sigaction,
    libc::SYS_rt_sigprocmask,
    libc::SYS_rt_sigreturn,
    libc::SYS_rt_sigsuspend,
    libc::SYS_rt_sigpending,
    libc::SYS_rt_sigtimedwait,
    libc::SYS_rt_sigqueueinfo,
    libc::SYS_rt_tgsigqueueinfo,
    libc::SYS_sigaltstack,
    libc::SYS_kill,
    libc::SYS_tgkill,
    libc::SYS_tkill,
    libc::SYS_pidfd_open,
    libc::SYS_pidfd_send_signal,
    libc::SYS_signalfd4,
    libc::SYS_eventfd2,
    libc::SYS_timerfd_create,
    libc::SYS_timerfd_settime,
    libc::SYS_timerfd_gettime,
    libc::SYS_epoll_create1,
    libc::SYS_epoll_ctl,
    libc::SYS_epoll_pwait,
    libc::SYS_epoll_pwait2,
    libc::SYS_ppoll,
    libc::SYS_pselect6,
    libc::SYS_clock_gettime,
    libc::SYS_clock_getres,
    libc::SYS_clock_nanosleep,
    libc::SYS_nanosleep,
    libc::SYS_gettimeofday,
    libc::SYS_getitimer,
    libc::SYS_setitimer,
    libc::SYS_timer_create,
    libc::SYS_timer_settime,
    libc::SYS_timer_gettime,
    libc::SYS_timer_getoverrun,
    libc::SYS_timer_delete,
    libc::SYS_getrandom,
    libc::SYS_uname,
    libc::SYS_sysinfo,
    libc::SYS_getrusage,
    libc::SYS_times,
    libc::SYS_prlimit64,
    libc::SYS_getpid,
    libc::SYS_getppid,
    libc::SYS_gettid,
    libc::SYS_getpgid,
    libc::SYS_setpgid,
    libc::SYS_getsid,
    libc::SYS_setsid,
    libc::SYS_getuid,
    libc::SYS_geteuid,
    libc::SYS_getgid,
    libc::SYS_getegid,
    libc::SYS_getresuid,
    libc::SYS_getresgid,
    libc::SYS_getgroups,
    libc::SYS_capget,
    libc::SYS_prctl,
    // Further filters can only restrict more.
    libc::SYS_seccomp,
    libc::SYS_execve,
    libc::SYS_execveat,
    libc::SYS_exit,
    libc::SYS_exit_group,
    libc::SYS_wait4,
    libc::SYS_waitid,
    libc::SYS_socket,
    libc::SYS_socketpair,
    libc::SYS_connect,
    libc::SYS_bind,
    libc::SYS_listen,
    libc::SYS_accept,
    libc::SYS_accept4,
    libc::SYS_getsockname,
    libc::SYS_getpeername,
    libc::SYS_getsockopt,
    libc::SYS_setsockopt,
    libc::SYS_sendto,
    libc::SYS_recvfrom,
    libc::SYS_sendmsg,
    libc::SYS_recvmsg,
    libc::SYS_sendmmsg,
    libc::SYS_recvmmsg,
    libc::SYS_shutdown,
    libc::SYS_shmget,
    libc::SYS_shmat,
    libc::SYS_shmdt,
    libc::SYS_shmctl,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_arch_prctl,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_open,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_stat,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_lstat,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_access,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_readlink,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_getdents,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_mkdir,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_rmdir,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_unlink,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_rename,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_link,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_symlink,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_chmod,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_dup2,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_pipe,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_poll,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_select,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_epoll_create,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_epoll_wait,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_eventfd,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_alarm,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_getpgrp,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_vfork,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_fork,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_time,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_getrlimit,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_setrlimit,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_creat,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_chown,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_lchown,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_utimes,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_futimesat,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_inotify_init,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_signalfd,
];

/// Namespace-creating `clone` flags, refused. All of them are in the low
/// 32 bits, which are all the kernel reads of `clone`'s flags.
const NAMESPACE_FLAGS: u32 = (libc::CLONE_NEWNS
    | libc::CLONE_NEWUSER
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWCGROUP
    | libc::CLONE_NEWTIME) as u32;

/// The audit architecture the filter admits; calls made under any other
/// (32-bit calls of a 64-bit process) kill the process.
#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xC000_003E;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xC000_00B7;
#[cfg(target_arch = "riscv64")]
const AUDIT_ARCH: u32 = 0xC000_00F3;

// Classic BPF as seccomp reads it (linux/filter.h, linux/seccomp.h).
const LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
const JMP_JA: u16 = 0x05; // BPF_JMP | BPF_JA
const JMP_JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const JMP_JGE_K: u16 = 0x35; // BPF_JMP | BPF_JGE | BPF_K
const ALU_AND_K: u16 = 0x54; // BPF_ALU | BPF_AND | BPF_K
const RET_K: u16 = 0x06; // BPF_RET | BPF_K
const RET_KILL_PROCESS: u32 = 0x8000_0000;
const RET_ERRNO: u32 = 0x0005_0000;
const RET_ALLOW: u32 = 0x7fff_0000;
// Offsets in `struct seccomp_data`: nr, arch, then args[0] (little endian:
// its low half first).
const NR: u32 = 0;
const ARCH: u32 = 4;
const ARG0_LOW: u32 = 16;

/// A seccomp filter program.
pub type Program = Vec<libc::sock_filter>;

/// What the filter does with one system call number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Allow,
    /// `EPERM`.
    Deny,
    /// `clone`: allowed without namespace flags.
    CloneWithoutNamespaces,
    /// `clone3`: `ENOSYS`, so that libc falls back to `clone`.
    NotImplemented,
}

fn stmt(code: u16, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

/// The verdict of every call number as ranges: `(first number, verdict)`,
/// sorted, each range running to the next one's first number, the last to
/// `u32::MAX`.
fn ranges() -> Vec<(u32, Verdict)> {
    let verdict = |nr: u32| {
        let nr = i64::from(nr);
        if nr == libc::SYS_clone {
            Verdict::CloneWithoutNamespaces
        } else if nr == libc::SYS_clone3 {
            Verdict::NotImplemented
        } else if ALLOWED.contains(&nr) {
            Verdict::Allow
        } else {
            Verdict::Deny
        }
    };
    let last = ALLOWED
        .iter()
        .chain([&libc::SYS_clone, &libc::SYS_clone3])
        .max()
        .map_or(0, |&nr| nr as u32);
    let mut out: Vec<(u32, Verdict)> = Vec::new();
    // Every number past `last` is denied: the range from `last + 1` on.
    for nr in 0..=last + 1 {
        let v = verdict(nr);
        if out.last().map(|&(_, prev)| prev) != Some(v) {
            out.push((nr, v));
        }
    }
    out
}

/// The instructions that end a search on one range.
fn leaf(verdict: Verdict) -> Program {
    match verdict {
        Verdict::Allow => vec![stmt(RET_K, RET_ALLOW)],
        Verdict::Deny => vec![stmt(RET_K, RET_ERRNO | libc::EPERM as u32)],
        Verdict::NotImplemented => vec![stmt(RET_K, RET_ERRNO | libc::ENOSYS as u32)],
        Verdict::CloneWithoutNamespaces => vec![
            stmt(LD_W_ABS, ARG0_LOW),
            stmt(ALU_AND_K, NAMESPACE_FLAGS),
            jump(JMP_JEQ_K, 0, 0, 1),
            stmt(RET_K, RET_ALLOW),
            stmt(RET_K, RET_ERRNO | libc::EPERM as u32),
        ],
    }
}

/// A binary search over `ranges` for the number in the accumulator, which
/// is known to lie within them.
fn search(ranges: &[(u32, Verdict)]) -> Program {
    if let [(_, verdict)] = ranges {
        return leaf(*verdict);
    }
    let (below, above) = ranges.split_at(ranges.len() / 2);
    let (above, below) = (search(above), search(below));
    let mut out = Vec::with_capacity(above.len() + below.len() + 2);
    // At or above the middle range's start: go on into `above` (next);
    // otherwise jump over it into `below`.
    match u8::try_from(above.len()) {
        Ok(skip) => out.push(jump(JMP_JGE_K, ranges[ranges.len() / 2].0, 0, skip)),
        Err(_) => {
            out.push(jump(JMP_JGE_K, ranges[ranges.len() / 2].0, 1, 0));
            out.push(stmt(JMP_JA, above.len() as u32));
        }
    }
    out.extend(above);
    out.extend(below);
    out
}

/// The filter for this machine's architecture.
pub fn filter() -> Program {
    let mut out = vec![
        stmt(LD_W_ABS, ARCH),
        jump(JMP_JEQ_K, AUDIT_ARCH, 1, 0),
        stmt(RET_K, RET_KILL_PROCESS),
        stmt(LD_W_ABS, NR),
    ];
    out.extend(search(&ranges()));
    out
}

/// Install `program` on the calling thread (after `no_new_privs`).
pub fn install(program: &Program) -> Result<(), crate::SetupError> {
    let too_long = |_| crate::SetupError::SeccompTooLong { len: program.len() };
    let fprog = libc::sock_fprog {
        len: u16::try_from(program.len()).map_err(too_long)?,
        filter: program.as_ptr().cast_mut(),
    };
    // SAFETY: `fprog` points to `program`, alive for the call; the kernel
    // copies the instructions before returning.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0,
            &fprog as *const libc::sock_fprog,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(crate::SetupError::Seccomp(std::io::Error::last_os_error()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the kernel would return for `(nr, arch, args[0])`, running the
    /// instructions this module emits; panics on any other instruction, a
    /// jump out of the program or a path that ends without a return.
    fn run(program: &Program, nr: u32, arch: u32, arg0: u64) -> u32 {
        let data = |offset: u32| match offset {
            NR => nr,
            ARCH => arch,
            ARG0_LOW => arg0 as u32,
            other => panic!("load of offset {other}"),
        };
        let (mut pc, mut acc, mut steps) = (0usize, 0u32, 0);
        loop {
            steps += 1;
            assert!(steps <= 16, "a path of more than 16 instructions");
            let i = program[pc];
            pc += 1;
            match i.code {
                LD_W_ABS => acc = data(i.k),
                ALU_AND_K => acc &= i.k,
                RET_K => return i.k,
                JMP_JA => pc += i.k as usize,
                JMP_JEQ_K => pc += usize::from(if acc == i.k { i.jt } else { i.jf }),
                JMP_JGE_K => pc += usize::from(if acc >= i.k { i.jt } else { i.jf }),
                other => panic!("instruction {other:#x}"),
            }
            assert!(pc < program.len(), "a jump out of the program");
        }
    }

    fn expected(nr: u32, arg0: u64) -> u32 {
        let eperm = RET_ERRNO | libc::EPERM as u32;
        if ALLOWED.iter().any(|&a| a as u32 == nr) {
            RET_ALLOW
        } else if nr == libc::SYS_clone as u32 {
            if arg0 as u32 & NAMESPACE_FLAGS == 0 {
                RET_ALLOW
            } else {
                eperm
            }
        } else if nr == libc::SYS_clone3 as u32 {
            RET_ERRNO | libc::ENOSYS as u32
        } else {
            eperm
        }
    }

    #[test]
    fn every_call_number_gets_the_verdict_of_the_lists() {
        let program = filter();
        assert!(program.len() < 400, "{} instructions", program.len());
        let numbers = (0..1024u32)
            .chain((0x4000_0000..0x4000_0400).step_by(7)) // x32 numbers
            .chain([u32::MAX - 1, u32::MAX]);
        for nr in numbers {
            for arg0 in [0, libc::SIGCHLD as u64, 0xffff_ffff_0000_0000] {
                assert_eq!(
                    run(&program, nr, AUDIT_ARCH, arg0),
                    expected(nr, arg0),
                    "{nr}"
                );
            }
            assert_eq!(run(&program, nr, 0x4000_0003, 0), RET_KILL_PROCESS);
        }
        let thread = (libc::CLONE_VM | libc::CLONE_THREAD | libc::CLONE_SETTLS) as u64;
        let clone = libc::SYS_clone as u32;
        assert_eq!(run(&program, clone, AUDIT_ARCH, thread), RET_ALLOW);
        for flag in [
            libc::CLONE_NEWUSER,
            libc::CLONE_NEWNS,
            libc::CLONE_NEWNET,
            libc::CLONE_NEWTIME,
        ] {
            let flags = thread | flag as u64;
            assert_eq!(
                run(&program, clone, AUDIT_ARCH, flags),
                RET_ERRNO | libc::EPERM as u32
            );
        }
    }

    #[test]
    fn long_branches_jump_over_with_ja() {
        // More ranges than one conditional jump can skip.
        let ranges: Vec<(u32, Verdict)> = (0..600u32)
            .map(|n| {
                (
                    n,
                    if n % 2 == 0 {
                        Verdict::Allow
                    } else {
                        Verdict::Deny
                    },
                )
            })
            .collect();
        let mut program = vec![stmt(LD_W_ABS, NR)];
        program.extend(search(&ranges));
        assert!(program.iter().any(|i| i.code == JMP_JA));
        for nr in 0..700u32 {
            let want = if nr % 2 == 0 && nr < 600 {
                RET_ALLOW
            } else {
                RET_ERRNO | libc::EPERM as u32
            };
            assert_eq!(run(&program, nr, AUDIT_ARCH, 0), want, "{nr}");
        }
    }

    #[test]
    fn the_dangerous_calls_are_not_allowed() {
        for denied in [
            libc::SYS_ptrace,
            libc::SYS_mount,
            libc::SYS_umount2,
            libc::SYS_pivot_root,
            libc::SYS_unshare,
            libc::SYS_setns,
            libc::SYS_kexec_load,
            libc::SYS_init_module,
            libc::SYS_finit_module,
            libc::SYS_delete_module,
            libc::SYS_bpf,
            libc::SYS_keyctl,
            libc::SYS_add_key,
            libc::SYS_perf_event_open,
            libc::SYS_process_vm_readv,
            libc::SYS_process_vm_writev,
            libc::SYS_userfaultfd,
            libc::SYS_io_uring_setup,
            libc::SYS_open_by_handle_at,
            libc::SYS_clone3,
            libc::SYS_chroot,
            libc::SYS_reboot,
        ] {
            assert!(!ALLOWED.contains(&denied), "{denied}");
        }
    }
}
