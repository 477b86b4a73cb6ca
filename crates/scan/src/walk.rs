//! Turning the paths given on the command line into files to scan: folders
//! are walked recursively in a stable order; symbolic links are followed
//! only to files inside the given roots, never to folders.

use std::path::{Path, PathBuf};

/// A file to scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanTarget {
    /// Where it is.
    pub path: PathBuf,
    /// How to show it: as given, or as found under a given folder.
    pub display: String,
    /// Given by name (always reported) rather than found in a folder.
    pub explicit: bool,
}

/// The files found, and the paths that could not be used.
#[derive(Debug, Default)]
pub struct Targets {
    /// Files to scan, in order.
    pub files: Vec<ScanTarget>,
    /// Paths that do not exist or cannot be read, with the reason.
    pub problems: Vec<(String, String)>,
    /// Symbolic links not followed, with the reason.
    pub skipped: Vec<(String, String)>,
}

/// Collect the files to scan from files and folders.
pub fn collect_targets(paths: &[PathBuf]) -> Targets {
    let mut t = Targets::default();
    let roots: Vec<PathBuf> = paths.iter().filter_map(|p| p.canonicalize().ok()).collect();
    for p in paths {
        let display = p.display().to_string();
        match std::fs::metadata(p) {
            Err(e) => t.problems.push((display, e.to_string())),
            Ok(m) if m.is_dir() => walk_dir(p, &roots, &mut t),
            Ok(m) if m.is_file() => t.files.push(ScanTarget {
                path: p.clone(),
                display,
                explicit: true,
            }),
            Ok(m) => t.problems.push((display, special(&m))),
        }
    }
    t
}

/// Why a file that is neither a regular file nor a folder is not scanned.
fn special(meta: &std::fs::Metadata) -> String {
    format!(
        "not a regular file ({}): not read",
        airlock_formats::describe_file_type(&meta.file_type())
    )
}

fn inside_roots(path: &Path, roots: &[PathBuf]) -> bool {
    path.canonicalize()
        .is_ok_and(|c| roots.iter().any(|r| c.starts_with(r)))
}

fn walk_dir(dir: &Path, roots: &[PathBuf], t: &mut Targets) {
    let first = t.files.len();
    walk_dir_unsorted(dir, roots, t);
    t.files[first..].sort_by(|a, b| a.path.cmp(&b.path));
}

fn walk_dir_unsorted(dir: &Path, roots: &[PathBuf], t: &mut Targets) {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let mut entries: Vec<PathBuf> = match std::fs::read_dir(&d) {
            Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect(),
            Err(e) => {
                t.problems.push((d.display().to_string(), e.to_string()));
                continue;
            }
        };
        entries.sort();
        let mut subdirs = Vec::new();
        for path in entries {
            let display = path.display().to_string();
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            if meta.file_type().is_symlink() {
                match std::fs::metadata(&path) {
                    Ok(m) if m.is_file() && inside_roots(&path, roots) => {
                        t.files.push(ScanTarget {
                            path,
                            display,
                            explicit: false,
                        })
                    }
                    Ok(m) if m.is_file() => t.skipped.push((
                        display,
                        "symbolic link to a file outside the scanned folders".into(),
                    )),
                    Ok(m) if m.is_dir() => t
                        .skipped
                        .push((display, "symbolic link to a folder (not followed)".into())),
                    Ok(_) => {}
                    Err(e) => t
                        .skipped
                        .push((display, format!("broken symbolic link: {e}"))),
                }
            } else if meta.is_dir() {
                subdirs.push(path);
            } else if meta.is_file() {
                t.files.push(ScanTarget {
                    path,
                    display,
                    explicit: false,
                });
            } else {
                t.problems.push((display, special(&meta)));
            }
        }
        stack.extend(subdirs);
    }
}

/// Whether a report is of a file found in a folder whose content is no
/// model format and whose name does not claim one (a README, a config):
/// such files are left out of folder reports unless asked for.
pub fn not_a_model_file(r: &crate::FileReport) -> bool {
    r.verdict == airlock_policy::Verdict::Error
        && r.findings
            .iter()
            .all(|f| f.rule == airlock_policy::Rule::UnknownFormat)
        && !model_like_name(&r.path)
}

/// File name extensions of model and array formats. A folder scan skips
/// files it cannot identify unless their name says they are one of these:
/// an unrecognised `model.onnx` is reported, a `README.md` is not.
const MODEL_EXTENSIONS: &[&str] = &[
    "pt",
    "pth",
    "bin",
    "ckpt",
    "pkl",
    "pickle",
    "joblib",
    "dill",
    "safetensors",
    "npy",
    "npz",
    "h5",
    "hdf5",
    "keras",
    "onnx",
    "gguf",
    "ggml",
    "pb",
    "tflite",
    "msgpack",
    "model",
    "mar",
    "nemo",
    "pte",
    "ptd",
    "tar",
    "zip",
    "gz",
    "bz2",
    "xz",
    "lzma",
    "z",
    "lz4",
];

/// Whether a path's extension (case-insensitive) is a model or array format's.
pub fn model_like_name(path: &str) -> bool {
    Path::new(path)
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| MODEL_EXTENSIONS.iter().any(|m| m.eq_ignore_ascii_case(e)))
}
