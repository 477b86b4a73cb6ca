//! Shell scripts of the repository that `run:` steps call: read as part of
//! the step, so what they publish, push, pull or cache is judged where it
//! is written (`bash scripts/release.sh`, `./ci/upload.sh`, `source x.sh`).
//!
//! A script counts when a command runs it by a repository path: the first
//! word of `bash|sh|dash|zsh|source|.` (options before it skipped), or a
//! command that is itself a relative path with a `/` (`./x`, `ci/x.sh`).
//! Paths are taken relative to the step's `working-directory` (then the
//! job's and the workflow's `defaults.run.working-directory`), or to the
//! calling script's folder and the repository root for scripts that call
//! scripts. Only regular files inside the checkout are read (links, devices
//! and pipes refused), bounded like workflows; a direct call (`./x`) counts
//! only for a file that is a shell script (`.sh`/`.bash`, or a shell `#!`
//! line). Scripts are parsed with the same reading of shell as `run:`.

use std::path::Path;

use crate::yaml::{Pos, Value};

use super::*;

/// Shells whose first operand is a script file.
const SHELLS: &[&str] = &["bash", "sh", "dash", "zsh", "source", "."];

/// The scripts a script text calls: for each call, its repository path
/// from each of the folders `bases` the script may run in (following `cd`
/// to literal paths; a base from which the path leaves the repository
/// gives none), and the 0-based line of the call.
pub(super) fn called(script: &str, bases: &[&str]) -> Vec<(Vec<String>, usize)> {
    // Per base: `None` once a `cd` leaves the repository or goes where an
    // expansion decides; relative paths are not followed from there.
    let mut dirs: Vec<Option<String>> = bases.iter().map(|b| Some(b.to_string())).collect();
    let mut out = Vec::new();
    for c in shell::commands(script) {
        if let [cd, to] = c.words.as_slice()
            && cd == "cd"
        {
            for d in &mut dirs {
                *d = d
                    .take()
                    .filter(|_| repository_path(to))
                    .and_then(|d| join(&d, to));
            }
            continue;
        }
        let Some(p) = script_operand(&c) else {
            continue;
        };
        let mut paths: Vec<String> = Vec::new();
        for d in dirs.iter().flatten() {
            if let Some(j) = join(d, &p).filter(|j| !j.is_empty() && !paths.contains(j)) {
                paths.push(j);
            }
        }
        if !paths.is_empty() {
            out.push((paths, c.line));
        }
    }
    out
}

/// The script a command runs, as written.
fn script_operand(c: &Command) -> Option<String> {
    let first = c.words.first()?.as_str();
    let base = first.rsplit('/').next().unwrap_or(first);
    let path = if SHELLS.contains(&base) && (first == base || first.starts_with('/')) {
        let mut it = c.words.iter().skip(1);
        let mut found = None;
        while let Some(w) = it.next() {
            match w.as_str() {
                // `bash -c STRING`: no script file.
                "-c" => return None,
                "-o" | "+o" | "-O" | "+O" | "--rcfile" | "--init-file" => {
                    it.next();
                }
                "--" => {
                    found = it.next();
                    break;
                }
                o if o.starts_with('-') || o.starts_with('+') => {}
                _ => {
                    found = Some(w);
                    break;
                }
            }
        }
        found?.clone()
    } else if first.contains('/') && !first.starts_with('/') {
        first.to_string()
    } else {
        return None;
    };
    repository_path(&path).then_some(path)
}

/// A relative path inside the repository, nothing left to expand.
fn repository_path(p: &str) -> bool {
    !p.is_empty()
        && !p.contains('$')
        && !p.contains('`')
        && Path::new(p).components().all(|c| {
            !matches!(
                c,
                std::path::Component::RootDir | std::path::Component::Prefix(_)
            )
        })
}

/// `rel` joined to `dir`, normalised (`""` for the root); `None` when it
/// leaves the repository.
pub(super) fn join(dir: &str, rel: &str) -> Option<String> {
    crate::join_repo_path([dir, rel])
}

/// The working directory of a step (repository path, `""` for the root),
/// or `None` when an expression decides it.
pub(super) fn working_directory(doc: &Node, job: Option<&Node>, step: &Node) -> Option<String> {
    fn defaults(n: &Node) -> Option<&Node> {
        n.get("defaults")?.get("run")?.get("working-directory")
    }
    let step_wd = step.get("working-directory");
    let job_wd = job.and_then(defaults);
    let wf_wd = defaults(doc);
    let wd = step_wd.or(job_wd).or(wf_wd);
    match wd.and_then(Node::as_str) {
        None => Some(String::new()),
        Some(w) if w.contains("${{") || w.contains('$') => None,
        Some(w) => join("", w),
    }
}

/// Whether a file's first bytes say it is a shell script.
pub(super) fn is_shell_script(path: &str, source: &str) -> bool {
    if path.ends_with(".sh") || path.ends_with(".bash") {
        return true;
    }
    let first = source.lines().next().unwrap_or("");
    let Some(interp) = first.strip_prefix("#!") else {
        return false;
    };
    let mut words = interp.split_whitespace();
    let prog = words.next().unwrap_or("");
    let prog = if prog.ends_with("/env") {
        words.find(|w| !w.starts_with('-')).unwrap_or("")
    } else {
        prog
    };
    let base = prog.rsplit('/').next().unwrap_or(prog);
    matches!(base, "sh" | "bash" | "dash" | "zsh" | "ksh")
}

/// Read a script of the repository: a regular file (not a link, device or
/// pipe), bounded, UTF-8. `None` when it is not one.
pub(super) fn read(root: &Path, rel: &str) -> Option<String> {
    crate::read_checkout_file(root, rel)
}

/// The located tree a script document gets: `{run: <the whole text>}`, so
/// the rules read a script as they read a `run:` step.
pub(super) fn synthetic_root(source: &str) -> Node {
    let start = Pos {
        offset: 0,
        line: 1,
        column: 1,
    };
    let end = Pos {
        offset: source.len(),
        line: u32::try_from(source.lines().count() + 1).unwrap_or(u32::MAX),
        column: 1,
    };
    let scalar = |s: &str| Node {
        value: Value::Scalar(s.to_string(), true),
        start,
        end,
    };
    Node {
        value: Value::Map(vec![(scalar("run"), scalar(source))]),
        start,
        end,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scripts_a_run_step_calls() {
        let run = "set -e\nbash -x scripts/release.sh --upload\n./ci/publish.sh\nsource .github/env.sh\nsh -c 'echo hi'\npython tools/x.py\n/usr/bin/make\nbash ../outside.sh\nbash $SCRIPT\ncd build && ./run_tests\nbash ../tools/up.sh\n";
        let got: Vec<(String, usize)> = called(run, &[""])
            .into_iter()
            .map(|(mut p, l)| (p.remove(0), l))
            .collect();
        let want = [
            ("scripts/release.sh", 1),
            ("ci/publish.sh", 2),
            (".github/env.sh", 3),
            ("build/run_tests", 9),
            ("tools/up.sh", 10),
        ];
        assert_eq!(got, want.map(|(p, l)| (p.to_string(), l)));
        assert_eq!(
            called("bash ../x.sh\n./ci/y.sh\n", &["ci", ""]),
            [
                (vec!["x.sh".to_string()], 0),
                (vec!["ci/ci/y.sh".to_string(), "ci/y.sh".to_string()], 1)
            ]
        );
    }

    #[test]
    fn paths_stay_in_the_repository() {
        assert_eq!(join("ci", "x.sh").as_deref(), Some("ci/x.sh"));
        assert_eq!(join("ci/sub", "../x.sh").as_deref(), Some("ci/x.sh"));
        assert_eq!(join("", "../x.sh"), None);
        assert_eq!(join("", "./a/./b.sh").as_deref(), Some("a/b.sh"));
    }

    #[test]
    fn only_regular_files_of_the_checkout_are_read() {
        let dir = std::env::temp_dir().join(format!("airlock-scripts-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("ci")).unwrap();
        std::fs::write(dir.join("ci/x.sh"), "twine upload dist/*\n").unwrap();
        std::os::unix::fs::symlink(dir.join("ci/x.sh"), dir.join("ci/link.sh")).unwrap();
        assert!(read(&dir, "ci/x.sh").is_some());
        assert!(read(&dir, "ci/link.sh").is_none());
        assert!(read(&dir, "ci").is_none());
        assert!(read(&dir, "ci/missing.sh").is_none());
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn shell_scripts_by_name_or_interpreter_line() {
        assert!(is_shell_script("x.sh", ""));
        assert!(is_shell_script("x", "#!/usr/bin/env bash\n"));
        assert!(is_shell_script("x", "#!/bin/sh -e\n"));
        assert!(!is_shell_script("x", "#!/usr/bin/env python3\n"));
        assert!(!is_shell_script("x", "\u{7f}ELF"));
    }
}
