//! Which files of a model folder a manifest covers, in which order: the
//! model signing format's rules (`model_signing/_serialization`).
//!
//! - Every regular file under the folder is covered, named by its POSIX
//!   path relative to the folder; folders themselves are not. A model that
//!   is a single file is covered under the name `.` (its path relative to
//!   itself, as `pathlib` computes it).
//! - A path is ignored when it equals an ignored path or lies under it,
//!   compared component by component. The defaults are `.git`,
//!   `.gitattributes`, `.github` and `.gitignore` at the top; the signature
//!   file, when it lies inside the folder, is ignored too (by the caller).
//!   Ignored folders are not entered.
//! - Symbolic links are an error unless allowed; allowed links are followed
//!   (a folder reached twice through links is an error rather than a loop).
//!   Sockets, pipes and devices are always an error.
//! - Resources are ordered by `PurePosixPath` order: component by
//!   component, so `a/b` comes before `a-b` and `a.c` (plain string order
//!   would put it last, and the root digest would differ).

use std::cmp::Ordering;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::HashError;

/// The ignore paths `model_signing` adds by default (`--ignore-git-paths`).
pub const GIT_PATHS: [&str; 4] = [".git", ".gitattributes", ".github", ".gitignore"];

/// How to walk.
#[derive(Debug, Clone, Default)]
pub struct WalkOptions {
    /// Follow symbolic links instead of refusing them.
    pub allow_symlinks: bool,
    /// Paths relative to the model folder to leave out (with everything
    /// under them), `/`-separated.
    pub ignore: Vec<String>,
}

/// A file the manifest covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its POSIX path relative to the model (`.` for a single-file model).
    pub name: String,
    /// Where it is.
    pub path: PathBuf,
    /// Its size when walked.
    pub size: u64,
}

/// Compare two relative POSIX paths as `pathlib.PurePosixPath` does:
/// component by component.
pub fn posix_cmp(a: &str, b: &str) -> Ordering {
    a.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .cmp(b.split('/').filter(|c| !c.is_empty() && *c != "."))
}

/// Normalise a relative path the way `pathlib` does (no empty or `.`
/// components); `None` when it climbs out (`..`) or is absolute.
pub fn normalise(rel: &str) -> Option<String> {
    if rel.starts_with('/') {
        return None;
    }
    let parts: Vec<&str> = rel
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    if parts.contains(&"..") {
        return None;
    }
    Some(if parts.is_empty() {
        ".".into()
    } else {
        parts.join("/")
    })
}

/// Whether `name` is `ignored` or under it.
pub fn is_under(name: &str, ignored: &str) -> bool {
    if ignored == "." {
        return true;
    }
    name == ignored
        || (name.len() > ignored.len()
            && name.starts_with(ignored)
            && name.as_bytes()[ignored.len()] == b'/')
}

/// The files `model` covers, in manifest order.
pub fn walk(model: &Path, options: &WalkOptions) -> Result<Vec<Entry>, HashError> {
    let ignore: Vec<String> = options.ignore.iter().filter_map(|p| normalise(p)).collect();
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| HashError::Io { path, source }
    };
    let link = fs::symlink_metadata(model).map_err(io(model))?;
    if link.file_type().is_symlink() && !options.allow_symlinks {
        return Err(HashError::Symlink {
            path: model.to_path_buf(),
        });
    }
    let meta = fs::metadata(model).map_err(io(model))?;
    let mut out = Vec::new();
    if meta.is_file() {
        out.push(Entry {
            name: ".".into(),
            path: model.to_path_buf(),
            size: meta.len(),
        });
        return Ok(out);
    }
    if !meta.is_dir() {
        return Err(HashError::Special {
            path: model.to_path_buf(),
        });
    }
    let mut active = vec![(meta.dev(), meta.ino())];
    descend(model, "", options, &ignore, &mut active, &mut out)?;
    out.sort_by(|a, b| posix_cmp(&a.name, &b.name));
    Ok(out)
}

fn descend(
    dir: &Path,
    prefix: &str,
    options: &WalkOptions,
    ignore: &[String],
    active: &mut Vec<(u64, u64)>,
    out: &mut Vec<Entry>,
) -> Result<(), HashError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| HashError::Io { path, source }
    };
    for entry in fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        let path = entry.path();
        let Some(file_name) = entry.file_name().to_str().map(str::to_owned) else {
            return Err(HashError::NotUtf8 { path });
        };
        let name = if prefix.is_empty() {
            file_name
        } else {
            format!("{prefix}/{file_name}")
        };
        if ignore.iter().any(|i| is_under(&name, i)) {
            continue;
        }
        let mut ft = entry.file_type().map_err(io(&path))?;
        let mut meta = None;
        if ft.is_symlink() {
            if !options.allow_symlinks {
                return Err(HashError::Symlink { path });
            }
            let m = fs::metadata(&path).map_err(io(&path))?;
            ft = m.file_type();
            meta = Some(m);
        }
        if ft.is_dir() {
            let m = match meta {
                Some(m) => m,
                None => fs::metadata(&path).map_err(io(&path))?,
            };
            let id = (m.dev(), m.ino());
            if active.contains(&id) {
                return Err(HashError::Loop { path });
            }
            active.push(id);
            descend(&path, &name, options, ignore, active, out)?;
            active.pop();
        } else if ft.is_file() {
            let size = match meta {
                Some(m) => m.len(),
                None => entry.metadata().map_err(io(&path))?.len(),
            };
            out.push(Entry { name, path, size });
        } else {
            return Err(HashError::Special { path });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(entries: &[Entry]) -> Vec<&str> {
        entries.iter().map(|e| e.name.as_str()).collect()
    }

    #[test]
    fn posix_order_is_component_wise() {
        let mut v = vec!["a.c", "a-b", "a/b", "a/b/c", "B", "a"];
        v.sort_by(|a, b| posix_cmp(a, b));
        assert_eq!(v, ["B", "a", "a/b", "a/b/c", "a-b", "a.c"]);
    }

    #[test]
    fn ignore_matches_whole_components() {
        assert!(is_under(".git", ".git"));
        assert!(is_under(".git/config", ".git"));
        assert!(!is_under(".github", ".git"));
        assert!(!is_under(".gitx/y", ".git"));
        assert!(is_under("anything", "."));
        assert_eq!(normalise("./a//b/"), Some("a/b".into()));
        assert_eq!(normalise("../a"), None);
        assert_eq!(normalise("/a"), None);
    }

    #[test]
    fn walks_in_manifest_order_with_ignores() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        for f in [
            "a-b",
            "a.c",
            "a/b",
            ".git/HEAD",
            ".github/x",
            ".gitignore",
            "keep/.gitignore",
            "e",
        ] {
            let p = root.join(f);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(&p, f).unwrap();
        }
        fs::create_dir(root.join("empty_dir")).unwrap();
        let opts = WalkOptions {
            ignore: GIT_PATHS
                .iter()
                .map(|s| s.to_string())
                .chain(["e".into()])
                .collect(),
            ..Default::default()
        };
        let got = walk(root, &opts).unwrap();
        assert_eq!(names(&got), ["a/b", "a-b", "a.c", "keep/.gitignore"]);
        assert_eq!(got[0].size, 3);
        let all = walk(root, &WalkOptions::default()).unwrap();
        assert_eq!(all.len(), 8);
    }

    #[test]
    fn symlinks_are_refused_unless_allowed_and_loops_stop() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("m");
        fs::create_dir_all(root.join("sub")).unwrap();
        fs::write(root.join("sub/w.bin"), b"123").unwrap();
        std::os::unix::fs::symlink("sub/w.bin", root.join("link.bin")).unwrap();
        let e = walk(&root, &WalkOptions::default()).unwrap_err();
        assert!(matches!(e, HashError::Symlink { .. }), "{e}");
        let allow = WalkOptions {
            allow_symlinks: true,
            ..Default::default()
        };
        let got = walk(&root, &allow).unwrap();
        assert_eq!(names(&got), ["link.bin", "sub/w.bin"]);
        assert_eq!(got[0].size, 3);
        std::os::unix::fs::symlink("..", root.join("sub/up")).unwrap();
        let e = walk(&root, &allow).unwrap_err();
        assert!(matches!(e, HashError::Loop { .. }), "{e}");
    }

    #[test]
    fn a_single_file_is_named_dot_and_special_files_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("model.bin");
        fs::write(&f, b"x").unwrap();
        assert_eq!(names(&walk(&f, &WalkOptions::default()).unwrap()), ["."]);
        let sock = d.path().join("s.sock");
        let _l = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        let e = walk(d.path(), &WalkOptions::default()).unwrap_err();
        assert!(matches!(e, HashError::Special { .. }), "{e}");
        let e = walk(&d.path().join("missing"), &WalkOptions::default()).unwrap_err();
        assert!(matches!(e, HashError::Io { .. }), "{e}");
    }
}
