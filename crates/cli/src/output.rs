//! Where the command's results go: standard output, and files it writes.
//!
//! - Standard output: a write error is exit status 2 with a message (a full
//!   disk, a closed terminal); a reader that went away (`| head`) ends the
//!   command quietly with status 141, as the shell reports a process that
//!   `SIGPIPE` ended. Never a panic, never status 0 with the output lost.
//! - Files (reports, signatures): written whole or not at all through
//!   [`AtomicFile`], and never in place of an existing file unless the user
//!   said `--force`.
//! - Signals: `SIGINT`, `SIGTERM` and `SIGHUP` remove the temporary files
//!   of outputs not yet committed (only where the file system cannot make
//!   anonymous ones) before the command ends.

use std::io::Write;
use std::path::{Path, PathBuf};

use airlock_tensors::write::{AtomicFile, Existing, check_output, remove_pending};

/// Exit status: the command line was wrong, or something could not be
/// read, analysed or written.
pub(crate) const EXIT_ERROR: u8 = 2;

/// Exit status when the reader of standard output went away: 128 + SIGPIPE.
pub(crate) const EXIT_PIPE: u8 = 141;

/// Why output could not be delivered; [`Failed::exit`] reports it.
#[derive(Debug)]
pub(crate) enum Failed {
    /// The reader closed the pipe: nothing to say.
    Pipe,
    /// Another error, with what was being written.
    Error(String),
}

impl Failed {
    /// The message, for callers that report errors as text (a closed pipe
    /// has none to give).
    pub(crate) fn into_message(self) -> String {
        match self {
            Failed::Pipe => "standard output was closed".into(),
            Failed::Error(msg) => msg,
        }
    }

    /// Say why (unless the pipe closed) and give the exit status.
    pub(crate) fn exit(self) -> u8 {
        match self {
            Failed::Pipe => EXIT_PIPE,
            Failed::Error(msg) => {
                eprintln!("airlock: {msg}");
                EXIT_ERROR
            }
        }
    }
}

fn stdout_error(e: std::io::Error) -> Failed {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        Failed::Pipe
    } else {
        Failed::Error(format!("cannot write to standard output: {e}"))
    }
}

/// Write `text` to standard output and flush it.
pub(crate) fn emit(text: &str) -> Result<(), Failed> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes()).map_err(stdout_error)?;
    out.flush().map_err(stdout_error)
}

/// Standard output for results written as they come, remembering the first
/// failure (later writes are skipped).
pub(crate) struct Stdout {
    failed: Option<Failed>,
}

impl Stdout {
    pub(crate) fn new() -> Stdout {
        Stdout { failed: None }
    }

    /// Write a line (the newline is added).
    pub(crate) fn line(&mut self, text: &str) {
        if self.failed.is_none() {
            let mut s = String::with_capacity(text.len() + 1);
            s.push_str(text);
            s.push('\n');
            if let Err(f) = emit(&s) {
                self.failed = Some(f);
            }
        }
    }

    /// The first failure, if any.
    pub(crate) fn finish(self) -> Result<(), Failed> {
        self.failed.map_or(Ok(()), Err)
    }
}

fn existing(force: bool) -> Existing {
    if force {
        Existing::Replace
    } else {
        Existing::Refuse
    }
}

/// Refuse an output file that is one of `inputs`, a directory, or (unless
/// `force`) an existing file: checked before the work that produces it, as
/// [`AtomicFile`] checks again when it writes.
pub(crate) fn check_new<P: AsRef<Path>>(
    path: &Path,
    inputs: &[P],
    force: bool,
) -> Result<(), Failed> {
    check_output(path, inputs, existing(force)).map_err(|e| Failed::Error(e.to_string()))
}

/// Write `bytes` to the file `path`, whole or not at all, never over one of
/// `inputs`, and over an existing file only with `force`.
pub(crate) fn write_file<P: AsRef<Path>>(
    path: &Path,
    inputs: &[P],
    bytes: &[u8],
    force: bool,
) -> Result<(), Failed> {
    let fail =
        |e: &dyn std::fmt::Display| Failed::Error(format!("cannot write {}: {e}", path.display()));
    let mut f = AtomicFile::create_with(path, inputs, existing(force)).map_err(|e| fail(&e))?;
    f.write_all(bytes).map_err(|e| fail(&e))?;
    f.commit().map_err(|e| fail(&e))
}

/// On `SIGINT`, `SIGTERM` or `SIGHUP`, remove pending temporary output
/// files and end with 128 + the signal. Not for `airlock run`, which must
/// stay single-threaded until it forks.
pub(crate) fn clean_up_on_signals() {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) else {
        return;
    };
    std::thread::spawn(move || {
        if let Some(sig) = signals.forever().next() {
            remove_pending();
            std::process::exit(128 + sig);
        }
    });
}

/// `1 file`, `2 files`.
pub(crate) fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// A byte progress bar on standard error while `work` runs, when standard
/// error is a terminal and `total` is large enough to wait for: `done`
/// reads a counter that only grows (its value when the work starts counts
/// as zero).
pub(crate) fn with_progress<R>(
    what: &str,
    total: u64,
    done: fn() -> u64,
    work: impl FnOnce() -> R,
) -> R {
    use std::io::IsTerminal;
    if total < 256 << 20 || !std::io::stderr().is_terminal() {
        return work();
    }
    let base = done();
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} {msg} {bytes}/{total_bytes} [{bar:30}] {bytes_per_sec} {eta}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    let stop = std::sync::atomic::AtomicBool::new(false);
    let result = std::thread::scope(|scope| {
        let ticker = scope.spawn(|| {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                bar.set_position(done().saturating_sub(base).min(total));
                std::thread::park_timeout(std::time::Duration::from_millis(100));
            }
        });
        let r = work();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        // Woken at once: the command does not wait out a tick.
        ticker.thread().unpark();
        r
    });
    bar.finish_and_clear();
    result
}

/// Colours for a text report: `--color`, and with `auto` only on a
/// terminal (not into a file) and without `NO_COLOR`.
pub(crate) fn color_for(
    choice: crate::scan::ColorChoice,
    to_file: bool,
) -> airlock_policy::text::Color {
    use airlock_policy::text::Color;
    use std::io::IsTerminal;
    match choice {
        crate::scan::ColorChoice::Always => Color::Always,
        crate::scan::ColorChoice::Never => Color::Never,
        crate::scan::ColorChoice::Auto
            if !to_file
                && std::io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none() =>
        {
            Color::Always
        }
        crate::scan::ColorChoice::Auto => Color::Never,
    }
}

/// `--output FILE` and `--force`, for the commands that write a report.
#[derive(clap::Args, Debug, Default)]
pub(crate) struct ReportFile {
    /// Write the report to a file instead of standard output (an existing
    /// file is replaced only with --force).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Replace the --output file if it exists.
    #[arg(long, requires = "output")]
    pub force: bool,
}

impl ReportFile {
    /// Refuse, before any work, an output file that would replace one of
    /// `inputs` or an existing file without --force.
    pub fn check<P: AsRef<Path>>(&self, inputs: &[P]) -> Result<(), Failed> {
        match &self.output {
            Some(path) => check_new(path, inputs, self.force),
            None => Ok(()),
        }
    }

    /// Write `text` to the output file, or to standard output.
    pub fn write<P: AsRef<Path>>(&self, inputs: &[P], text: &str) -> Result<(), Failed> {
        match &self.output {
            Some(path) => write_file(path, inputs, text.as_bytes(), self.force),
            None => emit(text),
        }
    }

    /// Whether the report goes to a file.
    pub fn to_file(&self) -> bool {
        self.output.is_some()
    }
}
