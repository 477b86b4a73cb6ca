//! `airlock run`: a command in the sandbox.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use airlock_sandbox::{SandboxConfig, SandboxLimit, run as sandboxed};

/// The sandbox could not be set up (as `env`, `timeout` and container
/// runtimes use it).
const EXIT_SANDBOX: u8 = 125;

#[derive(clap::Args)]
pub(crate) struct RunArgs {
    /// Make this path visible read-only (repeatable).
    #[arg(long, value_name = "PATH")]
    ro: Vec<PathBuf>,
    /// Make this path visible and writable (repeatable).
    #[arg(long, value_name = "PATH")]
    rw: Vec<PathBuf>,
    /// Pass this environment variable (NAME, from the caller's environment,
    /// or NAME=VALUE); repeatable. Nothing else is passed but PATH, HOME,
    /// TMPDIR and LANG.
    #[arg(long, value_name = "NAME[=VALUE]")]
    env: Vec<String>,
    /// Address space limit (bytes, or with K, M, G).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    mem: Option<u64>,
    /// CPU time limit, seconds.
    #[arg(long, value_name = "SECS")]
    cpu_time: Option<u64>,
    /// Wall-clock limit, seconds (fractions allowed).
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    wall_time: Option<Duration>,
    /// More processes and threads than the sandbox's user already has
    /// (default 512).
    #[arg(long, value_name = "N", default_value_t = 512)]
    pids: u64,
    /// Largest file the command may write (bytes, or with K, M, G).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    file_size: Option<u64>,
    /// Network: `none` (a network namespace with no interface up) or
    /// `loopback` (its own loopback interface up: the command's processes
    /// reach each other, as a `torchrun --standalone` job needs, and
    /// nothing outside reaches them or is reached).
    #[arg(long, value_name = "MODE", default_value = "none", value_parser = ["none", "loopback"])]
    net: String,
    /// Working directory inside (default: the current one; only what was
    /// shared is in it).
    #[arg(long, value_name = "DIR")]
    cwd: Option<PathBuf>,
    /// Run even if this kernel lacks a layer (Landlock, seccomp), saying
    /// which.
    #[arg(long)]
    allow_degraded: bool,
    /// The command and its arguments (after --).
    #[arg(required = true, last = true, value_name = "CMD")]
    command: Vec<OsString>,
}

fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, mult) = match s.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let m = match c.to_ascii_uppercase() {
                'K' => 1u64 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                'T' => 1 << 40,
                _ => return Err(format!("{s:?}: use bytes, or K, M, G, T")),
            };
            (&s[..i], m)
        }
        _ => (s, 1),
    };
    let n: f64 = num.parse().map_err(|_| format!("{s:?} is not a size"))?;
    if n.is_nan() || n <= 0.0 {
        return Err(format!("{s:?} must be positive"));
    }
    Ok((n * mult as f64) as u64)
}

fn parse_secs(s: &str) -> Result<Duration, String> {
    let n: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if n.is_nan() || n <= 0.0 || n >= 1e9 {
        return Err(format!("{s:?} must be positive"));
    }
    Ok(Duration::from_secs_f64(n))
}

pub(crate) fn run(args: RunArgs) -> u8 {
    let config = SandboxConfig {
        command: args.command,
        ro: args.ro,
        rw: args.rw,
        env: args.env,
        mem: args.mem,
        cpu_time: args.cpu_time,
        wall_time: args.wall_time,
        pids: Some(args.pids),
        file_size: args.file_size,
        open_files: None,
        cwd: args.cwd,
        allow_degraded: args.allow_degraded,
        net: if args.net == "loopback" {
            airlock_sandbox::Network::Loopback
        } else {
            airlock_sandbox::Network::None
        },
    };
    match sandboxed(&config) {
        Err(airlock_sandbox::SandboxError::NotStarted { code, message }) => {
            eprintln!("airlock run: {message}");
            code
        }
        Err(e) => {
            eprintln!("airlock run: {e}");
            EXIT_SANDBOX
        }
        Ok(outcome) => {
            for d in &outcome.degraded {
                eprintln!("airlock run: warning: running without {d}");
            }
            match outcome.limit {
                Some(SandboxLimit::WallTime) => eprintln!(
                    "airlock run: killed: the wall-clock limit of {:.1} s was reached",
                    config.wall_time.unwrap_or_default().as_secs_f64()
                ),
                Some(SandboxLimit::CpuTime) => eprintln!(
                    "airlock run: killed: the CPU time limit of {} s was reached",
                    config.cpu_time.unwrap_or_default()
                ),
                Some(SandboxLimit::FileSize) => {
                    eprintln!("airlock run: killed: a file grew past the file size limit")
                }
                None => {
                    if let Some(s) = outcome.signal {
                        eprintln!("airlock run: the command was killed by signal {s}");
                    }
                    if let (Some(mem), false) = (config.mem, outcome.exit_code() == 0) {
                        eprintln!("{}", memory_hint(mem));
                    }
                }
            }
            (outcome.exit_code() & 0xff) as u8
        }
    }
}

/// What to say when a command limited by `--mem` fails. The kernel does
/// not report an address-space limit: an allocation just fails inside the
/// command, which then raises, aborts or crashes in its own way.
fn memory_hint(mem: u64) -> String {
    format!(
        "airlock run: the command failed with its address space limited to {} (--mem): if it \
         reports a failed allocation (MemoryError, \"Cannot allocate memory\", \"failed to map \
         segment\", std::bad_alloc), the memory limit ended it; a larger --mem lets it run",
        human_size(mem)
    )
}

fn human_size(n: u64) -> String {
    for (unit, shift) in [("G", 30), ("M", 20), ("K", 10)] {
        if n >= 1 << shift && n % (1 << shift) == 0 {
            return format!("{}{unit}", n >> shift);
        }
    }
    format!("{n} bytes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_memory_hint_names_the_limit() {
        assert!(memory_hint(100 << 20).contains("limited to 100M (--mem)"));
        assert_eq!(human_size(3 << 29), "1536M");
        assert_eq!(human_size(1000), "1000 bytes");
    }

    #[test]
    fn sizes_and_seconds() {
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("1.5G"), Ok(3 << 29));
        assert_eq!(parse_size("4096"), Ok(4096));
        for bad in ["", "0", "-1M", "12X", "nan", "M"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_secs("0.5"), Ok(Duration::from_millis(500)));
        for bad in ["0", "-3", "nan", "x", "1e12"] {
            assert!(parse_secs(bad).is_err(), "{bad}");
        }
    }
}
