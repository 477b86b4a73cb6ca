//! `airlock hash`: checksum lists (`sha256sum`-compatible) and model
//! signing manifests.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use airlock_sign::manifest::{self, HashOptions, Method};
use airlock_sign::walk::{GIT_PATHS, WalkOptions, walk};
use airlock_sign::{Algorithm, HashError, sums};
use rayon::prelude::*;
use serde_json::json;

use crate::output::{EXIT_ERROR, Stdout};

/// Everything matched (or was hashed).
const EXIT_OK: u8 = 0;
/// Some file did not match its listed digest, or could not be read.
const EXIT_MISMATCH: u8 = 1;

#[derive(clap::Args)]
pub(crate) struct HashArgs {
    /// Files and folders to hash (folders recursively, in manifest order);
    /// with --check, checksum lists to check (`-` for standard input).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Hash function.
    #[arg(short, long, default_value = "sha256", value_parser = parse_algorithm)]
    algorithm: Algorithm,
    /// Read checksum lists and check the files they name.
    #[arg(short, long, conflicts_with = "manifest")]
    check: bool,
    /// With --check: do not print OK lines.
    #[arg(long, requires = "check")]
    quiet: bool,
    /// With --check: print nothing; the exit status says it all.
    #[arg(long, requires = "check")]
    status: bool,
    /// Print the model signing manifest of each path as JSON (resources and
    /// root digest, as a signature covers them) instead of a checksum list.
    #[arg(long)]
    manifest: bool,
    /// With --manifest: cut files into shards of this many bytes (the
    /// format's `shards` method; 1 GB is its default).
    #[arg(long, value_name = "BYTES", requires = "manifest", num_args = 0..=1,
          default_missing_value = "1000000000")]
    shard_size: Option<u64>,
    #[command(flatten)]
    walk: WalkArgs,
}

/// Which files of a model folder: shared by `hash` and `sign`.
#[derive(clap::Args)]
pub(crate) struct WalkArgs {
    /// Leave out this path (relative to the model folder) and everything
    /// under it; repeatable (a signature records it).
    #[arg(long, value_name = "PATH")]
    pub ignore: Vec<String>,
    /// Include .git, .gitattributes, .github and .gitignore (left out by
    /// default, as model signing does).
    #[arg(long)]
    pub no_ignore_git_paths: bool,
    /// Follow symbolic links instead of refusing them.
    #[arg(long)]
    pub allow_symlinks: bool,
}

impl WalkArgs {
    /// The paths to leave out: the given ones (checked to lie inside the
    /// model) and, unless asked not to, the git paths.
    pub fn ignores(&self) -> Result<Vec<String>, String> {
        let mut out = self
            .ignore
            .iter()
            .map(|p| {
                airlock_sign::walk::normalise(p).ok_or_else(|| {
                    format!("--ignore {p:?}: give a path inside the model folder, relative to it")
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if !self.no_ignore_git_paths {
            out.extend(GIT_PATHS.iter().map(|s| s.to_string()));
        }
        Ok(out)
    }
}

pub(crate) fn parse_algorithm(s: &str) -> Result<Algorithm, String> {
    s.parse()
}

pub(crate) fn run(args: HashArgs) -> u8 {
    if args.check {
        return check(&args);
    }
    let walk_options = match args.walk.ignores() {
        Ok(ignore) => WalkOptions {
            allow_symlinks: args.walk.allow_symlinks,
            ignore,
        },
        Err(e) => {
            eprintln!("airlock hash: {e}");
            return EXIT_ERROR;
        }
    };
    if args.manifest {
        let method = match args.shard_size {
            None => Method::Files,
            Some(shard_size) => Method::Shards { shard_size },
        };
        let options = HashOptions {
            algorithm: args.algorithm,
            method,
            walk: walk_options,
        };
        let mut status = EXIT_OK;
        let mut out = Stdout::new();
        for path in &args.paths {
            let total = walk(path, &options.walk)
                .map(|entries| entries.iter().map(|e| e.size).sum())
                .unwrap_or(0);
            let hashed =
                crate::output::with_progress("hashing", total, manifest::bytes_hashed, || {
                    manifest::hash_model(path, &options)
                });
            match hashed {
                Ok(m) => out.line(&manifest_json(&m, &options)),
                Err(e) => {
                    eprintln!("airlock hash: {e}");
                    status = EXIT_ERROR;
                }
            }
        }
        return finish(out, status);
    }
    let mut status = EXIT_OK;
    let mut out = Stdout::new();
    for path in &args.paths {
        let entries = match walk(path, &walk_options) {
            Ok(e) => e,
            Err(e) => {
                eprintln!("airlock hash: {e}");
                status = EXIT_ERROR;
                continue;
            }
        };
        let total = entries.iter().map(|e| e.size).sum();
        let digests: Vec<Result<Vec<u8>, HashError>> =
            crate::output::with_progress("hashing", total, manifest::bytes_hashed, || {
                entries
                    .par_iter()
                    .map(|e| manifest::hash_range(&e.path, e.size, 0, e.size, args.algorithm))
                    .collect()
            });
        for (entry, digest) in entries.iter().zip(digests) {
            match digest {
                Ok(d) => {
                    let name = display_name(path, &entry.name);
                    out.line(&sums::format_line(&d, &name));
                }
                Err(e) => {
                    eprintln!("airlock hash: {e}");
                    status = EXIT_ERROR;
                }
            }
        }
    }
    finish(out, status)
}

/// The exit status once the output is written: a write failure (or a
/// closed pipe) overrides it.
fn finish(out: Stdout, status: u8) -> u8 {
    match out.finish() {
        Ok(()) => status,
        Err(f) => f.exit(),
    }
}

/// A listed file's name as `sha256sum` would print it: the argument for a
/// file, the argument joined with the relative path for a folder's files.
fn display_name(arg: &Path, rel: &str) -> String {
    let arg = arg.to_string_lossy();
    if rel == "." {
        arg.into_owned()
    } else if arg.ends_with('/') {
        format!("{arg}{rel}")
    } else {
        format!("{arg}/{rel}")
    }
}

fn manifest_json(m: &manifest::Manifest, options: &HashOptions) -> String {
    let mut serialization = json!({
        "method": match options.method { Method::Files => "files", Method::Shards { .. } => "shards" },
        "hash_type": options.algorithm.name(),
        "allow_symlinks": options.walk.allow_symlinks,
        "ignore_paths": options.walk.ignore,
    });
    if let Method::Shards { shard_size } = options.method {
        serialization["shard_size"] = json!(shard_size);
    }
    let doc = json!({
        "model": m.model_name,
        "root_digest": { "sha256": hex::encode(m.root_digest()) },
        "serialization": serialization,
        "resources": m.resources.iter().map(|r| json!({
            "name": r.name,
            "algorithm": r.algorithm,
            "digest": hex::encode(&r.digest),
        })).collect::<Vec<_>>(),
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}

fn check(args: &HashArgs) -> u8 {
    let listed = read_lists(args);
    let results = hash_listed(&listed.lines, args.algorithm);
    let mut out = Stdout::new();
    let (failed, missing) = report(&mut out, args, &listed.lines, &results);
    if !args.status {
        warn_counts(listed.malformed, missing, failed);
    }
    let status = if listed.unreadable_lists {
        EXIT_ERROR
    } else if failed > 0 || missing > 0 {
        EXIT_MISMATCH
    } else {
        EXIT_OK
    };
    finish(out, status)
}

/// What the checksum lists of `hash --check` hold.
#[derive(Default)]
struct Listed {
    /// The well-formed lines, in order.
    lines: Vec<sums::Line>,
    /// How many lines were not checksum lines.
    malformed: usize,
    /// Whether some list could not be read or had no checksum lines.
    unreadable_lists: bool,
}

/// Read every checksum list, reporting the lists and lines that are not.
fn read_lists(args: &HashArgs) -> Listed {
    let mut listed = Listed::default();
    for list in &args.paths {
        let Some(reader) = open_list(list) else {
            listed.unreadable_lists = true;
            continue;
        };
        let before = listed.lines.len();
        read_list(args, list, reader, &mut listed);
        if listed.lines.len() == before && !listed.unreadable_lists {
            eprintln!(
                "airlock hash: {}: no properly formatted {} checksum lines found",
                list.display(),
                args.algorithm
            );
            listed.unreadable_lists = true;
        }
    }
    listed
}

/// A checksum list (`-` is standard input), or `None` once the error is
/// printed.
fn open_list(list: &Path) -> Option<Box<dyn BufRead>> {
    if list.as_os_str() == "-" {
        return Some(Box::new(std::io::stdin().lock()));
    }
    match std::fs::File::open(list) {
        Ok(f) => Some(Box::new(std::io::BufReader::new(f))),
        Err(e) => {
            eprintln!("airlock hash: {}: {e}", list.display());
            None
        }
    }
}

/// The lines of one list.
fn read_list(args: &HashArgs, list: &Path, reader: Box<dyn BufRead>, listed: &mut Listed) {
    for (i, line) in reader.split(b'\n').enumerate() {
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                eprintln!("airlock hash: {}: {e}", list.display());
                listed.unreadable_lists = true;
                break;
            }
        };
        let parsed = std::str::from_utf8(&line)
            .ok()
            .and_then(|l| sums::parse_line(l, args.algorithm));
        match parsed {
            Some(l) => listed.lines.push(l),
            None if line.iter().all(u8::is_ascii_whitespace) => {}
            None => {
                listed.malformed += 1;
                if !args.status {
                    eprintln!(
                        "airlock hash: {}: line {} is not a {} checksum line",
                        list.display(),
                        i + 1,
                        args.algorithm
                    );
                }
            }
        }
    }
}

/// Whether each listed file matches its digest (`Err`: it could not be
/// read).
fn hash_listed(lines: &[sums::Line], algorithm: Algorithm) -> Vec<Result<bool, String>> {
    lines
        .par_iter()
        .map(|l| {
            let path = Path::new(&l.name);
            let size = std::fs::metadata(path)
                .map_err(|e| format!("{}: {e}", l.name))?
                .len();
            manifest::hash_range(path, size, 0, size, algorithm)
                .map(|d| d == l.digest)
                .map_err(|e| e.to_string())
        })
        .collect()
}

/// Print one line per listed file, as `sha256sum --check` does; returns
/// how many failed and how many could not be read.
fn report(
    out: &mut Stdout,
    args: &HashArgs,
    lines: &[sums::Line],
    results: &[Result<bool, String>],
) -> (usize, usize) {
    let (mut failed, mut missing) = (0usize, 0usize);
    for (l, r) in lines.iter().zip(results) {
        let shown = shown_name(&l.name);
        match r {
            Ok(true) => {
                if !args.quiet && !args.status {
                    out.line(&format!("{shown}: OK"));
                }
            }
            Ok(false) => {
                failed += 1;
                if !args.status {
                    out.line(&format!("{shown}: FAILED"));
                }
            }
            Err(e) => {
                missing += 1;
                if !args.status {
                    out.line(&format!("{shown}: FAILED open or read"));
                    eprintln!("airlock hash: {e}");
                }
            }
        }
    }
    (failed, missing)
}

/// A file name as `sha256sum --check` prints it: with a backslash in
/// front and escapes when it holds a backslash or a line break.
fn shown_name(name: &str) -> String {
    if name.contains(['\\', '\n', '\r']) {
        format!(
            "\\{}",
            name.replace('\\', "\\\\")
                .replace('\n', "\\n")
                .replace('\r', "\\r")
        )
    } else {
        name.to_string()
    }
}

/// The closing warnings of `sha256sum --check`.
fn warn_counts(malformed: usize, missing: usize, failed: usize) {
    let plural = |n: usize, one: &str, many: &str| {
        if n == 1 {
            one.to_string()
        } else {
            format!("{n} {many}")
        }
    };
    if malformed > 0 {
        eprintln!(
            "airlock hash: WARNING: {} improperly formatted",
            plural(malformed, "1 line is", "lines are")
        );
    }
    if missing > 0 {
        eprintln!(
            "airlock hash: WARNING: {} could not be read",
            plural(missing, "1 listed file", "listed files")
        );
    }
    if failed > 0 {
        eprintln!(
            "airlock hash: WARNING: {} did NOT match",
            plural(failed, "1 computed checksum", "computed checksums")
        );
    }
}
