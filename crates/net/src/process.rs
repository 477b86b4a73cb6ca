//! Which process holds a socket: the socket inodes behind `/proc/PID/fd`
//! links (`socket:[N]`), and what the process is (uid, user, command line,
//! the environment variables that say how a distributed job was launched).
//!
//! Another user's `fd` folder and `environ` can be read only by root: those
//! sockets stay without a process, and the report says how many. Bounded:
//! at most [`MAX_PROCESSES`] processes and [`MAX_FDS`] descriptors each are
//! looked at; reads are size-capped.

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::Path;

/// Most processes looked at.
pub const MAX_PROCESSES: usize = 100_000;
/// Most descriptors looked at per process.
pub const MAX_FDS: usize = 100_000;
/// Largest `cmdline` / `environ` read.
const MAX_TEXT: u64 = 256 << 10;

/// Environment variables kept (how a job was launched; never secrets).
const KEPT_ENV: &[&str] = &[
    "MASTER_ADDR",
    "MASTER_PORT",
    "RANK",
    "WORLD_SIZE",
    "LOCAL_RANK",
    "TORCHELASTIC_RUN_ID",
    "GLOO_SOCKET_IFNAME",
    "NCCL_SOCKET_IFNAME",
];

/// A process holding a socket.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct Process {
    /// Its pid.
    pub pid: u32,
    /// Its real uid.
    pub uid: Option<u32>,
    /// The user name of the uid (`/etc/passwd`).
    pub user: Option<String>,
    /// `comm` (the executable's name, 15 characters at most).
    pub comm: String,
    /// The command line, one argument per item.
    pub cmdline: Vec<String>,
    /// The launch variables among [`KEPT_ENV`] (readable for one's own
    /// processes, or as root).
    pub env: Vec<(String, String)>,
}

impl Process {
    /// A kept environment variable.
    pub fn env(&self, key: &str) -> Option<&str> {
        self.env
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The command line as one string (for matching and display).
    pub fn command(&self) -> String {
        if self.cmdline.is_empty() {
            format!("[{}]", self.comm)
        } else {
            self.cmdline.join(" ")
        }
    }
}

/// The owners of `inodes` found under `proc`: inode → process, and how
/// many processes' descriptors could not be read.
pub fn owners(proc: &Path, inodes: &HashSet<u64>) -> (HashMap<u64, Process>, usize) {
    let mut found = HashMap::new();
    let mut unreadable = 0;
    let users = passwd();
    let Ok(rd) = std::fs::read_dir(proc) else {
        return (found, 0);
    };
    for entry in rd.flatten().take(MAX_PROCESSES) {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let dir = entry.path();
        let Ok(fds) = std::fs::read_dir(dir.join("fd")) else {
            unreadable += 1;
            continue;
        };
        let mine: Vec<u64> = fds
            .flatten()
            .take(MAX_FDS)
            .filter_map(|fd| socket_inode(&std::fs::read_link(fd.path()).ok()?))
            .filter(|i| inodes.contains(i) && !found.contains_key(i))
            .collect();
        if mine.is_empty() {
            continue;
        }
        let p = describe(&dir, pid, &users);
        for i in mine {
            found.insert(i, p.clone());
        }
    }
    (found, unreadable)
}

/// `socket:[N]` → N.
fn socket_inode(link: &Path) -> Option<u64> {
    link.to_str()?
        .strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// What `/proc/PID` says about the process.
pub fn describe(dir: &Path, pid: u32, users: &HashMap<u32, String>) -> Process {
    let comm = read_text(&dir.join("comm"))
        .map(|s| s.trim_end().to_string())
        .unwrap_or_default();
    let cmdline = read_text(&dir.join("cmdline"))
        .map(|s| nul_split(&s))
        .unwrap_or_default();
    let uid = read_text(&dir.join("status")).and_then(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|r| r.split_whitespace().next()?.parse().ok())
    });
    let env = read_text(&dir.join("environ"))
        .map(|s| {
            nul_split(&s)
                .into_iter()
                .filter_map(|kv| {
                    let (k, v) = kv.split_once('=')?;
                    KEPT_ENV
                        .contains(&k)
                        .then(|| (k.to_string(), v.to_string()))
                })
                .collect()
        })
        .unwrap_or_default();
    Process {
        pid,
        user: uid.and_then(|u| users.get(&u).cloned()),
        uid,
        comm,
        cmdline,
        env,
    }
}

fn nul_split(s: &str) -> Vec<String> {
    s.split('\0')
        .filter(|a| !a.is_empty())
        .map(str::to_string)
        .collect()
}

fn read_text(p: &Path) -> Option<String> {
    let mut buf = Vec::new();
    std::fs::File::open(p)
        .ok()?
        .take(MAX_TEXT)
        .read_to_end(&mut buf)
        .ok()?;
    Some(String::from_utf8_lossy(&buf).into_owned())
}

/// uid → user name, from `/etc/passwd`.
fn passwd() -> HashMap<u32, String> {
    read_text(Path::new("/etc/passwd"))
        .map(|t| {
            t.lines()
                .filter_map(|l| {
                    let f: Vec<&str> = l.split(':').collect();
                    Some((f.get(2)?.parse().ok()?, f.first()?.to_string()))
                })
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_describes_itself() {
        let me = std::process::id();
        let p = describe(&Path::new("/proc").join(me.to_string()), me, &passwd());
        assert_eq!(p.pid, me);
        assert!(!p.cmdline.is_empty());
        assert!(p.uid.is_some());
    }

    #[test]
    fn socket_links() {
        assert_eq!(socket_inode(Path::new("socket:[4242]")), Some(4242));
        assert_eq!(socket_inode(Path::new("pipe:[4242]")), None);
        assert_eq!(socket_inode(Path::new("/dev/null")), None);
    }

    #[test]
    fn a_listening_socket_of_this_process_is_found() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let socks = crate::proc_net::read_all(Path::new("/proc")).unwrap();
        let s = socks
            .iter()
            .find(|s| s.port == port)
            .expect("in /proc/net/tcp");
        let (found, _) = owners(Path::new("/proc"), &HashSet::from([s.inode]));
        assert_eq!(found[&s.inode].pid, std::process::id());
    }
}
