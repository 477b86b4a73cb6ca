//! The files an audit reads: the files given, and every regular file under
//! the folders given. Symbolic links are not followed (a link out of the
//! folder would audit someone else's files); in `.git`, only the text
//! files that can carry credentials and names (`config`, `FETCH_HEAD`,
//! `packed-refs`, `logs/`), not the compressed object store.

use std::path::{Path, PathBuf};

/// What a walk found.
#[derive(Debug, Default)]
pub struct Files {
    /// Files to read, with the name to report.
    pub found: Vec<(PathBuf, String)>,
    /// Paths that could not be read, with the reason.
    pub problems: Vec<(String, String)>,
}

/// Folders deeper than this are not entered (a loop of bind mounts, a
/// hostile archive extracted).
const MAX_DEPTH: usize = 64;

/// Walk `paths`.
pub fn files(paths: &[PathBuf]) -> Files {
    let mut f = Files::default();
    for p in paths {
        let display = p.display().to_string();
        match std::fs::symlink_metadata(p) {
            Err(e) => f.problems.push((display, e.to_string())),
            Ok(m) if m.is_dir() => dir(p, 0, false, &mut f),
            Ok(m) if m.is_file() => f.found.push((p.clone(), display)),
            Ok(m) if m.file_type().is_symlink() => match std::fs::metadata(p) {
                // A link named on the command line is the user's choice.
                Ok(t) if t.is_file() => f.found.push((p.clone(), display)),
                Ok(t) if t.is_dir() => dir(p, 0, false, &mut f),
                _ => f.problems.push((display, "a broken symbolic link".into())),
            },
            Ok(_) => f
                .problems
                .push((display, "not a regular file or folder".into())),
        }
    }
    f
}

fn dir(path: &Path, depth: usize, in_git: bool, f: &mut Files) {
    if depth > MAX_DEPTH {
        f.problems.push((
            path.display().to_string(),
            format!("deeper than {MAX_DEPTH} folders"),
        ));
        return;
    }
    let mut entries: Vec<_> = match std::fs::read_dir(path) {
        Ok(rd) => rd.filter_map(Result::ok).collect(),
        Err(e) => {
            f.problems.push((path.display().to_string(), e.to_string()));
            return;
        }
    };
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        let Ok(t) = e.file_type() else { continue };
        if t.is_dir() {
            if in_git && name != "logs" && !p.components().any(|c| c.as_os_str() == "logs") {
                continue;
            }
            dir(&p, depth + 1, in_git || name == ".git", f);
        } else if t.is_file() && (!in_git || git_text(&p, &name)) {
            f.found.push((p.clone(), p.display().to_string()));
        }
    }
}

/// The text files of a `.git` folder worth reading.
fn git_text(path: &Path, name: &str) -> bool {
    matches!(
        name,
        "config" | "FETCH_HEAD" | "packed-refs" | "ORIG_HEAD" | "description"
    ) || path.components().any(|c| c.as_os_str() == "logs")
}
