//! Output that appears whole or not at all.
//!
//! [`AtomicFile`] writes to a temporary file next to the target (same
//! directory, so the final rename stays on one file system), and
//! [`AtomicFile::commit`] flushes it, fsyncs it, renames it over the target
//! and fsyncs the directory. Dropped without a commit (an error, a panic
//! upstream), it deletes the temporary file: a failed conversion never
//! leaves a partial file, and never replaces a good one.
//!
//! Writing a rescued checkpoint over the file it was read from would
//! destroy the evidence, and with a streaming reader, the data being read:
//! [`AtomicFile::create`] refuses a target that is one of the inputs, by
//! canonical path and, on Unix, by device and inode (which catches hard
//! links and symlinks alike).

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::WriteError;

/// Distinguishes temporary files of one process.
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A file being written in place of `target`.
pub struct AtomicFile {
    target: PathBuf,
    temp: PathBuf,
    file: Option<BufWriter<File>>,
}

impl AtomicFile {
    /// Start writing `target`, refusing when it is one of `inputs` (paths
    /// that do not exist are no input to protect) or a directory.
    pub fn create<P: AsRef<Path>>(target: &Path, inputs: &[P]) -> Result<AtomicFile, WriteError> {
        check_not_an_input(target, inputs)?;
        if target.is_dir() {
            return Err(WriteError::File {
                what: "the output is a directory:",
                path: target.to_path_buf(),
                source: io::Error::from(io::ErrorKind::IsADirectory),
            });
        }
        let dir = parent_dir(target);
        let base = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "output".into());
        let mut last = None;
        for _ in 0..64 {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let temp = dir.join(format!(".{base}.{}.{n}.airlock-tmp", std::process::id()));
            // `create_new`: never reuse (or follow a symlink planted at) an
            // existing path.
            match OpenOptions::new().write(true).create_new(true).open(&temp) {
                Ok(f) => {
                    return Ok(AtomicFile {
                        target: target.to_path_buf(),
                        temp,
                        file: Some(BufWriter::with_capacity(1 << 20, f)),
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
                Err(e) => {
                    return Err(WriteError::File {
                        what: "creating a temporary file in",
                        path: dir,
                        source: e,
                    });
                }
            }
        }
        Err(WriteError::File {
            what: "creating a temporary file in",
            path: dir,
            source: last.unwrap_or_else(|| io::Error::from(io::ErrorKind::AlreadyExists)),
        })
    }

    /// The path the file will have once committed.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// The temporary file's path.
    pub fn temp_path(&self) -> &Path {
        &self.temp
    }

    /// Flush, fsync, rename over the target, fsync the directory.
    pub fn commit(mut self) -> Result<(), WriteError> {
        let Some(writer) = self.file.take() else {
            return Err(WriteError::File {
                what: "committing an already closed file",
                path: self.temp.clone(),
                source: io::Error::other("closed"),
            });
        };
        let file = writer.into_inner().map_err(|e| WriteError::File {
            what: "flushing",
            path: self.temp.clone(),
            source: e.into_error(),
        })?;
        file.sync_all().map_err(|source| WriteError::File {
            what: "syncing",
            path: self.temp.clone(),
            source,
        })?;
        drop(file);
        std::fs::rename(&self.temp, &self.target).map_err(|source| WriteError::File {
            what: "renaming the temporary file to",
            path: self.target.clone(),
            source,
        })?;
        // The rename is done: the temporary path is gone, nothing to clean.
        self.temp = PathBuf::new();
        sync_dir(&parent_dir(&self.target))
    }

    /// The temporary file itself, with everything written so far flushed
    /// to it (for writers that copy into it directly).
    pub fn as_file(&mut self) -> io::Result<&File> {
        let w = self.writer()?;
        w.flush()?;
        Ok(w.get_ref())
    }

    fn writer(&mut self) -> io::Result<&mut BufWriter<File>> {
        self.file
            .as_mut()
            .ok_or_else(|| io::Error::other("the file is closed"))
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.writer()?.write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.writer()?.write_all(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.writer()?.flush()
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        // Not committed: the partial file goes. Errors here have nowhere
        // to go; the name is unique and hidden.
        drop(self.file.take());
        if !self.temp.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

/// The directory `path` is in (`.` for a bare file name).
fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// fsync a directory, so that a rename in it survives a crash.
#[cfg(unix)]
fn sync_dir(dir: &Path) -> Result<(), WriteError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|source| WriteError::File {
            what: "the output is in place, but syncing its directory failed:",
            path: dir.to_path_buf(),
            source,
        })
}

/// Elsewhere directories cannot be opened for syncing; the rename is what
/// the platform offers.
#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> Result<(), WriteError> {
    Ok(())
}

/// Refuse `target` when it is the same file as one of `inputs`.
pub fn check_not_an_input<P: AsRef<Path>>(target: &Path, inputs: &[P]) -> Result<(), WriteError> {
    let target_id = identity(target);
    for input in inputs {
        let input = input.as_ref();
        let Some(input_id) = identity(input) else {
            continue;
        };
        if target_id.as_ref() == Some(&input_id) {
            return Err(WriteError::SameFile {
                output: target.to_path_buf(),
                input: input.to_path_buf(),
            });
        }
    }
    Ok(())
}

/// What makes two paths the same file.
#[derive(Debug, PartialEq, Eq)]
enum FileId {
    /// Device and inode (Unix).
    #[cfg(unix)]
    Inode(u64, u64),
    /// Canonical path: for files that do not exist yet, the canonical
    /// directory joined with the name.
    Path(PathBuf),
}

fn identity(path: &Path) -> Option<FileId> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        // Follows symlinks: a link to an input is that input.
        if let Ok(m) = std::fs::metadata(path) {
            return Some(FileId::Inode(m.dev(), m.ino()));
        }
    }
    if let Ok(c) = path.canonicalize() {
        return Some(FileId::Path(c));
    }
    let name = path.file_name()?;
    let dir = parent_dir(path).canonicalize().ok()?;
    Some(FileId::Path(dir.join(name)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("airlock-atomic-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn leftovers(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".airlock-tmp"))
            .collect()
    }

    #[test]
    fn commit_replaces_the_target_whole() {
        let dir = scratch("commit");
        let target = dir.join("out.bin");
        std::fs::write(&target, b"old").unwrap();
        let mut f = AtomicFile::create(&target, &[] as &[&Path]).unwrap();
        f.write_all(b"new contents").unwrap();
        // Until the commit the target is untouched.
        assert_eq!(std::fs::read(&target).unwrap(), b"old");
        f.commit().unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"new contents");
        assert!(leftovers(&dir).is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn dropping_without_commit_leaves_nothing() {
        let dir = scratch("drop");
        let target = dir.join("out.bin");
        {
            let mut f = AtomicFile::create(&target, &[] as &[&Path]).unwrap();
            f.write_all(b"partial").unwrap();
            assert!(f.temp_path().exists());
        }
        assert!(!target.exists());
        assert!(leftovers(&dir).is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_input_is_never_the_output() {
        let dir = scratch("same");
        let input = dir.join("in.pt");
        std::fs::write(&input, b"data").unwrap();
        let e = AtomicFile::create(&input, &[&input]).err().unwrap();
        assert!(matches!(e, WriteError::SameFile { .. }), "{e}");
        // The same file under another spelling.
        let other = dir.join(".").join("in.pt");
        assert!(AtomicFile::create(&other, &[&input]).is_err());
        #[cfg(unix)]
        {
            let link = dir.join("link.pt");
            std::os::unix::fs::symlink(&input, &link).unwrap();
            assert!(AtomicFile::create(&link, &[&input]).is_err());
            let hard = dir.join("hard.pt");
            std::fs::hard_link(&input, &hard).unwrap();
            assert!(AtomicFile::create(&hard, &[&input]).is_err());
        }
        // Another file, and a missing input, are fine.
        let out = dir.join("out.safetensors");
        let missing = dir.join("missing");
        AtomicFile::create(&out, &[&input, &missing]).unwrap();
        assert_eq!(std::fs::read(&input).unwrap(), b"data");
        assert!(matches!(
            AtomicFile::create(&dir, &[] as &[&Path]),
            Err(WriteError::File { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
