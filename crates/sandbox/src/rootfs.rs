//! The sandbox's root filesystem: planned in the supervisor (paths
//! resolved on the host), built by the sandbox's init inside its own mount
//! namespace.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags, mount, umount2};

use crate::{SandboxConfig, SetupError};

/// System directories bound read-only (or recreated as the symbolic links
/// they are on merged-`/usr` systems).
const SYSTEM: [&str; 7] = [
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
];
/// Files of `/etc` the dynamic loader and common runtimes read.
const ETC: [&str; 5] = [
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/alternatives",
    "/etc/localtime",
];
/// Devices bound from the host.
const DEVICES: [&str; 5] = ["null", "zero", "full", "random", "urandom"];

/// One bind mount.
#[derive(Debug, Clone)]
pub struct Bind {
    /// On the host.
    pub src: PathBuf,
    /// Inside (the same path unless said otherwise).
    pub dst: PathBuf,
    /// Writable.
    pub rw: bool,
}

/// What the root will hold.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The empty host directory the new root is mounted on.
    pub root: PathBuf,
    /// Symbolic links to recreate (`/bin -> usr/bin`).
    pub links: Links,
    /// Bind mounts.
    pub binds: Vec<Bind>,
    /// Working directory inside.
    pub cwd: PathBuf,
    /// The environment.
    pub env: Vec<(String, String)>,
    /// Paths the command may write (for Landlock): `--rw` paths.
    pub writable: Vec<PathBuf>,
    /// The supervisor's pid.
    pub supervisor: u32,
}

impl Plan {
    /// Resolve everything on the host.
    pub fn new(config: &SandboxConfig) -> Result<Plan, SetupError> {
        let (links, mut binds) = system()?;
        // The command's own installation, when it lives outside the system
        // directories (a virtualenv, a Python under /opt, ...).
        for exe in resolve_both(&config.command[0]) {
            for dir in installation(&exe) {
                if !covered(&dir, &binds) {
                    binds.push(Bind {
                        src: dir.clone(),
                        dst: dir,
                        rw: false,
                    });
                }
            }
        }
        let writable = shares(config, &mut binds)?;
        // The same working directory as the caller's (an empty folder when
        // nothing there was shared), so that relative paths to what was
        // shared mean the same inside.
        let cwd = match &config.cwd {
            Some(c) => c.clone(),
            None => std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/tmp")),
        };
        let env = environment(config);
        let root = make_mount_point()?;
        Ok(Plan {
            root,
            links,
            binds,
            cwd,
            env,
            writable,
            supervisor: std::process::id(),
        })
    }

    /// Remove the host directory the root was mounted on.
    pub fn cleanup(&self) {
        let _ = fs::remove_dir(&self.root);
    }
}

/// Symbolic links to recreate: the link and its target.
type Links = Vec<(PathBuf, PathBuf)>;

/// The system directories: the symbolic links to recreate, and the binds.
fn system() -> Result<(Links, Vec<Bind>), SetupError> {
    let mut links = Vec::new();
    let mut binds = Vec::new();
    for dir in SYSTEM {
        let p = Path::new(dir);
        match fs::symlink_metadata(p) {
            Ok(m) if m.file_type().is_symlink() => {
                let target = fs::read_link(p).map_err(|source| SetupError::ReadLink {
                    path: p.to_path_buf(),
                    source,
                })?;
                links.push((p.to_path_buf(), target));
            }
            Ok(m) if m.is_dir() => binds.push(Bind {
                src: p.to_path_buf(),
                dst: p.to_path_buf(),
                rw: false,
            }),
            _ => {}
        }
    }
    for f in ETC {
        if Path::new(f).exists() {
            binds.push(Bind {
                src: f.into(),
                dst: f.into(),
                rw: false,
            });
        }
    }
    Ok((links, binds))
}

/// The `--ro` and `--rw` paths as binds (resolved on the host); returns the
/// writable ones.
fn shares(config: &SandboxConfig, binds: &mut Vec<Bind>) -> Result<Vec<PathBuf>, SetupError> {
    let mut writable = Vec::new();
    for (paths, rw) in [(&config.ro, false), (&config.rw, true)] {
        for p in paths {
            let real = fs::canonicalize(p).map_err(|source| SetupError::Share {
                path: p.clone(),
                source,
            })?;
            if real == Path::new("/") {
                return Err(SetupError::ShareRoot);
            }
            if rw {
                writable.push(real.clone());
            }
            binds.push(Bind {
                src: real.clone(),
                dst: real,
                rw,
            });
        }
    }
    Ok(writable)
}

/// The command's environment: a `PATH` (with the command's own folder
/// first when it is outside the system's), `HOME`, `TMPDIR`, `LANG`, then
/// the `--env` variables.
fn environment(config: &SandboxConfig) -> Vec<(String, String)> {
    let mut env = vec![
        (
            "PATH".to_string(),
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
        ),
        ("HOME".into(), "/tmp".into()),
        ("TMPDIR".into(), "/tmp".into()),
        ("LANG".into(), "C.UTF-8".into()),
    ];
    if let Some(exe) = resolve(&config.command[0]) {
        if let Some(bin) = exe.parent() {
            if !SYSTEM.iter().any(|s| bin.starts_with(s)) {
                let path = format!("{}:{}", bin.display(), env[0].1);
                env[0].1 = path;
            }
        }
    }
    for e in &config.env {
        let (name, value) = match e.split_once('=') {
            Some((n, v)) => (n.to_string(), v.to_string()),
            None => match std::env::var(e) {
                Ok(v) => (e.clone(), v),
                Err(_) => continue,
            },
        };
        env.retain(|(n, _)| *n != name);
        env.push((name, value));
    }
    env
}

/// The empty host directory the sandbox's root is mounted on (in the
/// sandbox's own mount namespace: the host sees only the empty directory).
/// In `/dev/shm` where it can be made, whose memory file system makes and
/// removes it in microseconds; else in the temporary directory, where a
/// disk file system may take milliseconds (discards, journal).
fn make_mount_point() -> Result<PathBuf, SetupError> {
    let name = format!(
        "airlock-run-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0)
    );
    let mut last = None;
    for base in [PathBuf::from("/dev/shm"), std::env::temp_dir()] {
        let root = base.join(&name);
        match fs::create_dir(&root) {
            Ok(()) => {
                let _ = fs::set_permissions(&root, fs::Permissions::from_mode(0o700));
                return Ok(root);
            }
            Err(source) => last = Some(SetupError::MountPoint { path: root, source }),
        }
    }
    Err(last.expect("two bases were tried"))
}

fn covered(dir: &Path, binds: &[Bind]) -> bool {
    binds.iter().any(|b| dir.starts_with(&b.dst))
}

/// The command as found (absolute, links kept: a virtualenv's `python` is
/// a link out of it) and with its links resolved.
fn resolve_both(cmd: &std::ffi::OsStr) -> Vec<PathBuf> {
    let p = Path::new(cmd);
    // A command that does not exist has no installation to share: the
    // sandbox starts, and its execve says "not found" (127).
    let literal = if cmd.to_string_lossy().contains('/') {
        std::path::absolute(p).ok().filter(|a| a.exists())
    } else {
        std::env::var_os("PATH").and_then(|path| {
            std::env::split_paths(&path)
                .map(|d| d.join(p))
                .find(|c| c.is_file())
        })
    };
    let mut out: Vec<PathBuf> = literal.into_iter().collect();
    if let Some(real) = resolve(cmd) {
        if !out.contains(&real) {
            out.push(real);
        }
    }
    out
}

/// The command's path on the host (through `PATH` when it has no `/`).
pub fn resolve(cmd: &std::ffi::OsStr) -> Option<PathBuf> {
    let p = Path::new(cmd);
    if p.components().count() > 1 || cmd.to_string_lossy().contains('/') {
        return fs::canonicalize(p).ok();
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(p))
        .find(|c| c.is_file())
        .and_then(|c| fs::canonicalize(c).ok())
}

/// Directories a program needs besides the system ones: a virtualenv
/// (found by its `pyvenv.cfg`) and the Python it was made from, or the
/// program's own directory.
fn installation(exe: &Path) -> Vec<PathBuf> {
    let system = |p: &Path| SYSTEM.iter().any(|s| p.starts_with(s)) && !p.starts_with("/usr/local");
    let mut out = Vec::new();
    if system(exe) {
        return out;
    }
    for dir in exe.ancestors().skip(1).take(4) {
        let cfg = dir.join("pyvenv.cfg");
        if let Ok(text) = fs::read_to_string(&cfg) {
            out.push(dir.to_path_buf());
            for line in text.lines() {
                if let Some(home) = line
                    .strip_prefix("home")
                    .map(|r| r.trim_start_matches([' ', '=']).trim())
                {
                    if let Some(prefix) = Path::new(home).parent() {
                        if !system(prefix) && prefix != Path::new("/") {
                            out.push(prefix.to_path_buf());
                        }
                    }
                }
            }
            return out;
        }
    }
    // The virtualenv's interpreter is a link into the base installation.
    if let Some(parent) = exe.parent().and_then(Path::parent) {
        if parent != Path::new("/") {
            out.push(parent.to_path_buf());
        }
    }
    out
}

fn mkdir(path: &Path) -> Result<(), SetupError> {
    fs::create_dir_all(path).map_err(|source| SetupError::Mkdir {
        path: path.to_path_buf(),
        source,
    })
}

fn create(path: &Path, text: &str) -> Result<(), SetupError> {
    fs::write(path, text).map_err(|source| SetupError::CreateFile {
        path: path.to_path_buf(),
        source,
    })
}

fn symlink(target: impl AsRef<Path>, link: &Path) -> Result<(), SetupError> {
    std::os::unix::fs::symlink(target, link).map_err(|source| SetupError::Symlink {
        path: link.to_path_buf(),
        source,
    })
}

fn chdir(path: &Path) -> Result<(), SetupError> {
    nix::unistd::chdir(path).map_err(|source| SetupError::Chdir {
        path: path.to_path_buf(),
        source,
    })
}

/// The flags a read-only remount must keep (a user namespace may not
/// clear the host mount's `nosuid`, `nodev`, `noexec`).
fn locked_flags(path: &Path) -> MsFlags {
    use nix::sys::statvfs::{FsFlags, statvfs};
    let mut f = MsFlags::empty();
    if let Ok(s) = statvfs(path) {
        let flags = s.flags();
        if flags.contains(FsFlags::ST_NOSUID) {
            f |= MsFlags::MS_NOSUID;
        }
        if flags.contains(FsFlags::ST_NODEV) {
            f |= MsFlags::MS_NODEV;
        }
        if flags.contains(FsFlags::ST_NOEXEC) {
            f |= MsFlags::MS_NOEXEC;
        }
        if flags.contains(FsFlags::ST_NOATIME) {
            f |= MsFlags::MS_NOATIME;
        }
        if flags.contains(FsFlags::ST_RELATIME) {
            f |= MsFlags::MS_RELATIME;
        }
    }
    f
}

fn bind(src: &Path, dst: &Path, rw: bool) -> Result<(), SetupError> {
    let is_dir = fs::metadata(src)
        .map_err(|source| SetupError::Share {
            path: src.to_path_buf(),
            source,
        })?
        .is_dir();
    if is_dir {
        mkdir(dst)?;
    } else {
        if let Some(parent) = dst.parent() {
            mkdir(parent)?;
        }
        create(dst, "")?;
    }
    let flags = MsFlags::MS_BIND | MsFlags::MS_REC;
    mount(Some(src), dst, None::<&str>, flags, None::<&str>).map_err(|source| {
        SetupError::Bind {
            src: src.to_path_buf(),
            dst: dst.to_path_buf(),
            source,
        }
    })?;
    let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_NOSUID | locked_flags(dst);
    let flags = if rw {
        flags
    } else {
        flags | MsFlags::MS_RDONLY
    };
    mount(None::<&str>, dst, None::<&str>, flags, None::<&str>).map_err(|source| {
        SetupError::Remount {
            path: dst.to_path_buf(),
            source,
        }
    })
}

/// Bind one of the host's character devices onto an empty file. Unlike
/// [`bind`], no remount follows: it could only add `nosuid` and `nodev` to
/// the host's flags, which mean nothing for a device node the command is
/// meant to open (and `nodev` would make it unusable).
fn bind_device(src: &Path, dst: &Path) -> Result<(), SetupError> {
    create(dst, "")?;
    mount(Some(src), dst, None::<&str>, MsFlags::MS_BIND, None::<&str>).map_err(|source| {
        SetupError::BindDevice {
            src: src.to_path_buf(),
            dst: dst.to_path_buf(),
            source,
        }
    })
}

fn tmpfs(dst: &Path, options: &str) -> Result<(), SetupError> {
    mkdir(dst)?;
    mount(
        Some("tmpfs"),
        dst,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some(options),
    )
    .map_err(|source| SetupError::Tmpfs {
        path: dst.to_path_buf(),
        source,
    })
}

/// Build the root and switch to it (in the sandbox's mount namespace).
pub fn build(plan: &Plan) -> Result<(), SetupError> {
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(SetupError::PrivateMounts)?;
    let root = &plan.root;
    tmpfs(root, "mode=0755,size=16m")?;
    let inside = |p: &Path| root.join(p.strip_prefix("/").unwrap_or(p));
    for (link, target) in &plan.links {
        symlink(target, &inside(link))?;
    }
    populate_etc(&inside(Path::new("/etc")))?;
    populate_dev(&inside(Path::new("/dev")))?;
    tmpfs(&inside(Path::new("/tmp")), "mode=1777,size=50%")?;
    let proc_dir = inside(Path::new("/proc"));
    mkdir(&proc_dir)?;
    mount(
        Some("proc"),
        &proc_dir,
        Some("proc"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        None::<&str>,
    )
    .map_err(SetupError::Proc)?;
    // Binds last, so that paths under /tmp or /dev given with --ro or --rw
    // are not hidden by the private mounts.
    for b in &plan.binds {
        bind(&b.src, &inside(&b.dst), b.rw)?;
    }
    // The working directory, if it is not there yet (a folder of the
    // read-only root, or of a share).
    let _ = fs::create_dir_all(inside(&plan.cwd));
    switch_root(root, &plan.cwd)
}

/// The few files of `/etc` the root makes up.
fn populate_etc(etc: &Path) -> Result<(), SetupError> {
    mkdir(etc)?;
    for (name, text) in [
        (
            "passwd",
            "root:x:0:0:root:/tmp:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
        ),
        ("group", "root:x:0:\nnogroup:x:65534:\n"),
        // The sandbox's host name is its own loopback (a `torchrun
        // --standalone` job rendezvous at the host name).
        (
            "hosts",
            "127.0.0.1 localhost airlock\n::1 localhost airlock\n",
        ),
        ("hostname", "airlock\n"),
    ] {
        create(&etc.join(name), text)?;
    }
    Ok(())
}

/// The devices, the standard streams' links, `/dev/shm` and a private
/// devpts instance (terminals of the sandbox's own).
fn populate_dev(dev: &Path) -> Result<(), SetupError> {
    mkdir(dev)?;
    for d in DEVICES {
        bind_device(&Path::new("/dev").join(d), &dev.join(d))?;
    }
    for (name, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        symlink(target, &dev.join(name))?;
    }
    tmpfs(&dev.join("shm"), "mode=1777,size=50%")?;
    let pts = dev.join("pts");
    mkdir(&pts)?;
    mount(
        Some("devpts"),
        &pts,
        Some("devpts"),
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some("newinstance,ptmxmode=0666,mode=0620"),
    )
    .map_err(SetupError::Devpts)?;
    symlink("pts/ptmx", &dev.join("ptmx"))
}

/// Make `root` the root: `pivot_root`, the host's tree detached, the root
/// read-only, then into `cwd` (`/tmp` when it cannot be entered).
fn switch_root(root: &Path, cwd: &Path) -> Result<(), SetupError> {
    chdir(root)?;
    // pivot_root(".", "."): the old root ends up stacked under the new one
    // and is detached at once.
    nix::unistd::pivot_root(".", ".").map_err(SetupError::PivotRoot)?;
    umount2(".", MntFlags::MNT_DETACH).map_err(SetupError::DetachHostRoot)?;
    chdir(Path::new("/"))?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_BIND
            | MsFlags::MS_REMOUNT
            | MsFlags::MS_RDONLY
            | MsFlags::MS_NOSUID
            | MsFlags::MS_NODEV,
        None::<&str>,
    )
    .map_err(SetupError::ReadOnlyRoot)?;
    if nix::unistd::chdir(cwd).is_err() {
        chdir(Path::new("/tmp"))?;
    }
    Ok(())
}
