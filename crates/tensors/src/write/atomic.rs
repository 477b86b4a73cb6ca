//! Output that appears whole or not at all, and never in place of a file
//! the user had unless asked.
//!
//! [`AtomicFile`] writes into an anonymous file in the target's directory
//! (`O_TMPFILE`: it has no name, so a process killed at any point, even by
//! `SIGKILL`, leaves nothing behind), and [`AtomicFile::commit`] flushes
//! and fsyncs it, then gives it the target's name with `linkat`, which
//! fails if the name exists: an existing file is never replaced unless the
//! writer was created with [`Existing::Replace`] (then the file is linked
//! under a hidden temporary name and renamed over the target). The
//! directory is fsynced last.
//!
//! Where the file system has no `O_TMPFILE`, the file is a hidden
//! `.NAME.PID.N.airlock-tmp` next to the target, removed on drop, by
//! [`remove_pending`] (which the `airlock` command calls when a signal
//! ends it), and, when a later run writes in the same directory, if the
//! process that made it is gone.
//!
//! Writing a rescued checkpoint over the file it was read from would
//! destroy the evidence, and with a streaming reader, the data being read:
//! [`AtomicFile::create`] refuses a target that is one of the inputs, by
//! canonical path and, on Unix, by device and inode (which catches hard
//! links and symlinks alike), even with [`Existing::Replace`].

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use super::WriteError;

/// Distinguishes temporary files of one process.
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Named temporary files not yet committed or removed (for
/// [`remove_pending`]).
static PENDING: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Directories already searched for stale temporary files.
static SWEPT: Mutex<Option<HashSet<PathBuf>>> = Mutex::new(None);

const TEMP_SUFFIX: &str = ".airlock-tmp";

/// What to do when the target already exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Existing {
    /// Refuse, naming it (the default).
    #[default]
    Refuse,
    /// Replace it (`--force`).
    Replace,
}

/// Where the bytes are until the commit.
#[derive(Debug)]
enum Temp {
    /// An `O_TMPFILE` file: no name until it is linked as the target.
    Anonymous,
    /// A hidden file next to the target.
    Named(PathBuf),
    /// Nothing left to clean (committed).
    Gone,
}

/// A file being written in place of `target`.
pub struct AtomicFile {
    target: PathBuf,
    dir: PathBuf,
    existing: Existing,
    temp: Temp,
    file: Option<BufWriter<File>>,
}

impl AtomicFile {
    /// Start writing `target`, refusing when it exists (see
    /// [`AtomicFile::create_with`]), is one of `inputs` (paths that do not
    /// exist are no input to protect) or is a directory.
    pub fn create<P: AsRef<Path>>(target: &Path, inputs: &[P]) -> Result<AtomicFile, WriteError> {
        AtomicFile::create_with(target, inputs, Existing::Refuse)
    }

    /// Start writing `target`; `existing` says whether a file already
    /// there may be replaced. The check is made now (so that no work is
    /// done for an output that cannot be written) and again, atomically,
    /// at the commit.
    pub fn create_with<P: AsRef<Path>>(
        target: &Path,
        inputs: &[P],
        existing: Existing,
    ) -> Result<AtomicFile, WriteError> {
        check_output(target, inputs, existing)?;
        let dir = parent_dir(target);
        let (file, temp) = match open_anonymous(&dir) {
            Ok(f) => (f, Temp::Anonymous),
            Err(e) if anonymous_unsupported(&e) => {
                sweep_stale(&dir);
                let (f, path) = open_named(&dir, target)?;
                (f, Temp::Named(path))
            }
            Err(source) => {
                return Err(WriteError::File {
                    what: "creating the output file in",
                    path: dir,
                    source,
                });
            }
        };
        Ok(AtomicFile {
            target: target.to_path_buf(),
            dir,
            existing,
            temp,
            file: Some(BufWriter::with_capacity(1 << 20, file)),
        })
    }

    /// The path the file will have once committed.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// The temporary file's path, when it has one (file systems without
    /// `O_TMPFILE`).
    pub fn temp_path(&self) -> Option<&Path> {
        match &self.temp {
            Temp::Named(p) => Some(p),
            _ => None,
        }
    }

    /// Flush, fsync, give the file the target's name (refusing an
    /// existing one unless created with [`Existing::Replace`]), fsync the
    /// directory.
    pub fn commit(mut self) -> Result<(), WriteError> {
        let Some(writer) = self.file.take() else {
            return Err(self.error(
                "committing an already closed file",
                io::Error::other("closed"),
            ));
        };
        let file = writer
            .into_inner()
            .map_err(|e| self.error("flushing the output to", e.into_error()))?;
        file.sync_all()
            .map_err(|e| self.error("syncing the output to", e))?;
        match std::mem::replace(&mut self.temp, Temp::Gone) {
            Temp::Anonymous => self.link_anonymous(&file)?,
            Temp::Named(path) => {
                let placed = self.place_named(&path);
                if placed.is_err() {
                    let _ = std::fs::remove_file(&path);
                }
                forget_pending(&path);
                placed?
            }
            Temp::Gone => {}
        }
        drop(file);
        sync_dir(&self.dir)
    }

    /// The file itself, with everything written so far flushed to it (for
    /// writers that copy into it directly).
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

    fn error(&self, what: &'static str, source: io::Error) -> WriteError {
        WriteError::File {
            what,
            path: self.target.clone(),
            source,
        }
    }

    /// Name the anonymous file: straight to the target (failing if it
    /// exists), or, to replace, under a temporary name renamed over it.
    fn link_anonymous(&self, file: &File) -> Result<(), WriteError> {
        use std::os::fd::AsRawFd;
        let proc_path = PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()));
        let link = |to: &Path| {
            nix::unistd::linkat(
                None,
                proc_path.as_path(),
                None,
                to,
                nix::fcntl::AtFlags::AT_SYMLINK_FOLLOW,
            )
            .map_err(io::Error::from)
        };
        match link(&self.target) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                if self.existing == Existing::Refuse {
                    return Err(exists(&self.target));
                }
                let temp = temp_name(&self.dir, &self.target);
                link(&temp).map_err(|e| self.error("naming the output", e))?;
                std::fs::rename(&temp, &self.target).map_err(|e| {
                    let _ = std::fs::remove_file(&temp);
                    self.error("replacing", e)
                })
            }
            Err(e) => Err(self.error("naming the output", e)),
        }
    }

    /// Move a named temporary file to the target: without replacing
    /// (`renameat2(RENAME_NOREPLACE)`), or with a plain rename.
    fn place_named(&self, temp: &Path) -> Result<(), WriteError> {
        if self.existing == Existing::Replace {
            return std::fs::rename(temp, &self.target)
                .map_err(|e| self.error("renaming the temporary file to", e));
        }
        match nix::fcntl::renameat2(
            None,
            temp,
            None,
            &self.target,
            nix::fcntl::RenameFlags::RENAME_NOREPLACE,
        ) {
            Ok(()) => Ok(()),
            Err(nix::errno::Errno::EEXIST) => Err(exists(&self.target)),
            Err(e) => Err(self.error("renaming the temporary file to", e.into())),
        }
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
        // Not committed: an anonymous file vanishes with its descriptor; a
        // named one is removed. Errors here have nowhere to go.
        drop(self.file.take());
        if let Temp::Named(path) = &self.temp {
            let _ = std::fs::remove_file(path);
            forget_pending(path);
        }
    }
}

/// Remove every named temporary file this process has not committed: for
/// a signal handler, before the process exits.
pub fn remove_pending() {
    let pending = match PENDING.lock() {
        Ok(mut p) => std::mem::take(&mut *p),
        Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
    };
    for path in pending {
        let _ = std::fs::remove_file(path);
    }
}

fn forget_pending(path: &Path) {
    if let Ok(mut p) = PENDING.lock() {
        p.retain(|q| q != path);
    }
}

/// The error for a target that exists and may not be replaced.
fn exists(target: &Path) -> WriteError {
    WriteError::Exists {
        path: target.to_path_buf(),
    }
}

/// Whether `target` may be written: not one of `inputs`, not a directory,
/// and not an existing file unless `existing` allows replacing it. For
/// callers that check before doing the work (the writer checks again).
pub fn check_output<P: AsRef<Path>>(
    target: &Path,
    inputs: &[P],
    existing: Existing,
) -> Result<(), WriteError> {
    check_not_an_input(target, inputs)?;
    check_target(target, existing)
}

/// Refuse an existing target (unless it may be replaced) and one that is
/// a directory.
fn check_target(target: &Path, existing: Existing) -> Result<(), WriteError> {
    let Ok(meta) = std::fs::symlink_metadata(target) else {
        return Ok(());
    };
    if meta.is_dir() {
        return Err(WriteError::File {
            what: "the output is a directory:",
            path: target.to_path_buf(),
            source: io::Error::from(io::ErrorKind::IsADirectory),
        });
    }
    if existing == Existing::Refuse {
        return Err(exists(target));
    }
    Ok(())
}

#[cfg(target_os = "linux")]
fn open_anonymous(dir: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .write(true)
        .mode(0o666)
        .custom_flags(nix::fcntl::OFlag::O_TMPFILE.bits())
        .open(dir)
}

#[cfg(not(target_os = "linux"))]
fn open_anonymous(_dir: &Path) -> io::Result<File> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

/// Errors with which a file system without `O_TMPFILE` answers it.
fn anonymous_unsupported(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::Unsupported | io::ErrorKind::IsADirectory
    ) || matches!(
        e.raw_os_error(),
        Some(code) if code == nix::errno::Errno::EOPNOTSUPP as i32
            || code == nix::errno::Errno::EINVAL as i32
            || code == nix::errno::Errno::EISDIR as i32
    )
}

/// A hidden name next to `target` for this process: `.NAME.PID.N.airlock-tmp`.
fn temp_name(dir: &Path, target: &Path) -> PathBuf {
    let base = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "output".into());
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    dir.join(format!(".{base}.{}.{n}{TEMP_SUFFIX}", std::process::id()))
}

/// Create a new hidden temporary file next to `target`, registered for
/// [`remove_pending`].
fn open_named(dir: &Path, target: &Path) -> Result<(File, PathBuf), WriteError> {
    let mut last = None;
    for _ in 0..64 {
        let temp = temp_name(dir, target);
        // `create_new`: never reuse (or follow a symlink planted at) an
        // existing path.
        match OpenOptions::new().write(true).create_new(true).open(&temp) {
            Ok(f) => {
                if let Ok(mut p) = PENDING.lock() {
                    p.push(temp.clone());
                }
                return Ok((f, temp));
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
            Err(source) => {
                return Err(WriteError::File {
                    what: "creating a temporary file in",
                    path: dir.to_path_buf(),
                    source,
                });
            }
        }
    }
    Err(WriteError::File {
        what: "creating a temporary file in",
        path: dir.to_path_buf(),
        source: last.unwrap_or_else(|| io::Error::from(io::ErrorKind::AlreadyExists)),
    })
}

/// Remove, once per directory and process, the temporary files of
/// processes that no longer exist (killed before they could clean up).
fn sweep_stale(dir: &Path) {
    {
        let mut swept = SWEPT.lock().unwrap_or_else(|p| p.into_inner());
        if !swept
            .get_or_insert_with(HashSet::new)
            .insert(dir.to_path_buf())
        {
            return;
        }
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(temp_owner) else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// The process id in a temporary file's name `.NAME.PID.N.airlock-tmp`.
fn temp_owner(name: &str) -> Option<u32> {
    let stem = name.strip_prefix('.')?.strip_suffix(TEMP_SUFFIX)?;
    let mut parts = stem.rsplitn(3, '.');
    parts.next()?.parse::<u64>().ok()?;
    let pid = parts.next()?.parse().ok()?;
    parts.next().filter(|base| !base.is_empty())?;
    Some(pid)
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
    fn an_existing_file_is_replaced_only_when_asked() {
        let dir = scratch("commit");
        let target = dir.join("out.bin");
        std::fs::write(&target, b"old").unwrap();
        // Refused up front ...
        let e = AtomicFile::create(&target, &[] as &[&Path]).err().unwrap();
        assert!(matches!(e, WriteError::Exists { .. }), "{e}");
        assert!(e.to_string().contains("--force"), "{e}");
        // ... and at the commit, when the file appeared meanwhile.
        let other = dir.join("later.bin");
        let mut f = AtomicFile::create(&other, &[] as &[&Path]).unwrap();
        f.write_all(b"mine").unwrap();
        std::fs::write(&other, b"theirs").unwrap();
        assert!(matches!(f.commit(), Err(WriteError::Exists { .. })));
        assert_eq!(std::fs::read(&other).unwrap(), b"theirs");
        // Replacing: untouched until the commit, then whole.
        let mut f = AtomicFile::create_with(&target, &[] as &[&Path], Existing::Replace).unwrap();
        f.write_all(b"new contents").unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"old");
        f.commit().unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"new contents");
        assert!(leftovers(&dir).is_empty(), "{:?}", leftovers(&dir));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_new_file_appears_whole_with_the_usual_mode() {
        let dir = scratch("new");
        let target = dir.join("out.bin");
        let mut f = AtomicFile::create(&target, &[] as &[&Path]).unwrap();
        f.write_all(b"contents").unwrap();
        assert!(!target.exists());
        // On Linux nothing has a name before the commit.
        #[cfg(target_os = "linux")]
        assert!(f.temp_path().is_none() && leftovers(&dir).is_empty());
        f.commit().unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"contents");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let reference = dir.join("reference");
            std::fs::write(&reference, b"").unwrap();
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&target), mode(&reference));
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn dropping_without_commit_leaves_nothing() {
        let dir = scratch("drop");
        let target = dir.join("out.bin");
        {
            let mut f = AtomicFile::create(&target, &[] as &[&Path]).unwrap();
            f.write_all(b"partial").unwrap();
        }
        assert!(!target.exists());
        assert!(leftovers(&dir).is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn named_temporaries_of_dead_processes_are_swept() {
        let dir = scratch("stale");
        // pid_max is at most 2^22: no process has this id.
        let dead = dir.join(".m.safetensors.4999999.0.airlock-tmp");
        let alive = dir.join(format!(
            ".m.safetensors.{}.7.airlock-tmp",
            std::process::id()
        ));
        let unrelated = dir.join(".m.safetensors.x.0.airlock-tmp");
        for p in [&dead, &alive, &unrelated] {
            std::fs::write(p, b"partial").unwrap();
        }
        sweep_stale(&dir);
        assert!(!dead.exists() && alive.exists() && unrelated.exists());
        assert_eq!(temp_owner(".a.b.12.3.airlock-tmp"), Some(12));
        assert_eq!(temp_owner("..12.3.airlock-tmp"), None);
        assert_eq!(temp_owner(".a.12.3.airlock-tmpx"), None);
        // A named temporary is removed by remove_pending.
        let (_f, temp) = open_named(&dir, &dir.join("n.bin")).unwrap();
        assert!(temp.exists());
        remove_pending();
        assert!(!temp.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_input_is_never_the_output() {
        let dir = scratch("same");
        let input = dir.join("in.pt");
        std::fs::write(&input, b"data").unwrap();
        let e = AtomicFile::create(&input, &[&input]).err().unwrap();
        assert!(matches!(e, WriteError::SameFile { .. }), "{e}");
        let e = AtomicFile::create_with(&input, &[&input], Existing::Replace)
            .err()
            .unwrap();
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
