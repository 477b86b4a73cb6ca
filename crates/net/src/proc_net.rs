//! The kernel's socket tables (`/proc/net/tcp`, `tcp6`, `udp`, `udp6`):
//! every listening TCP socket and every bound, unconnected UDP socket, with
//! the socket inode that ties it to a process and the owner's uid.
//!
//! Format (`net/ipv4/tcp_ipv4.c`, `get_tcp4_sock`; `udp.c`): one line per
//! socket after a header; `local_address` is `ADDR:PORT` in hex, the port
//! in network order as a number, the address as the kernel's in-memory
//! words printed with `%08X` (each 32-bit word in host byte order: on
//! little-endian hosts the bytes of each word come reversed); `st` is the
//! TCP state (`0A` listen; `07` close for an unconnected UDP socket).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

/// Most lines read from one table: more is an error, not a silent cut.
pub const MAX_SOCKETS: usize = 1_000_000;

/// Largest table read, in bytes.
const MAX_TABLE_BYTES: u64 = 256 << 20;

/// TCP or UDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    /// A listening TCP socket.
    Tcp,
    /// A bound, unconnected UDP socket.
    Udp,
}

impl Proto {
    /// `tcp` or `udp`.
    pub fn name(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

/// A socket that waits for peers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Socket {
    /// TCP or UDP.
    pub proto: Proto,
    /// The bound address (`0.0.0.0` / `::` for the wildcard).
    pub ip: IpAddr,
    /// The bound port.
    pub port: u16,
    /// The socket's inode (`socket:[N]` in `/proc/PID/fd`).
    pub inode: u64,
    /// The uid that owns it.
    pub uid: u32,
}

/// A table that could not be read as the kernel writes it.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The table's path.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A line is not one the kernel writes.
    #[error("{path} line {line}: {what}")]
    Malformed {
        /// The table's path.
        path: String,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        what: String,
    },
    /// More sockets than [`MAX_SOCKETS`] or a table larger than it can be.
    #[error("{path}: more than {MAX_SOCKETS} sockets")]
    TooLarge {
        /// The table's path.
        path: String,
    },
}

/// The waiting sockets of the tables under `proc` (usually `/proc`): a
/// table that does not exist (no IPv6 in the kernel) is empty.
pub fn read_all(proc: &Path) -> Result<Vec<Socket>, TableError> {
    let mut out = Vec::new();
    for (file, proto, v6) in [
        ("tcp", Proto::Tcp, false),
        ("tcp6", Proto::Tcp, true),
        ("udp", Proto::Udp, false),
        ("udp6", Proto::Udp, true),
    ] {
        let path = proc.join("net").join(file);
        let shown = path.display().to_string();
        let text = match read_bounded(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => {
                return Err(TableError::Read {
                    path: shown,
                    source,
                });
            }
        };
        out.extend(
            parse(&text, proto, v6).map_err(|(line, what)| TableError::Malformed {
                path: shown.clone(),
                line,
                what,
            })?,
        );
        if out.len() > MAX_SOCKETS {
            return Err(TableError::TooLarge { path: shown });
        }
    }
    Ok(out)
}

fn read_bounded(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut s = String::new();
    std::fs::File::open(path)?
        .take(MAX_TABLE_BYTES)
        .read_to_string(&mut s)?;
    Ok(s)
}

/// The waiting sockets of one table's text: (1-based line, what is wrong)
/// for a line the kernel would not write.
pub fn parse(text: &str, proto: Proto, v6: bool) -> Result<Vec<Socket>, (usize, String)> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        if out.len() >= MAX_SOCKETS {
            return Err((n + 1, format!("more than {MAX_SOCKETS} sockets")));
        }
        if let Some(s) = parse_line(line, proto, v6).map_err(|w| (n + 1, w))? {
            out.push(s);
        }
    }
    Ok(out)
}

/// One line: the socket if it waits for peers.
fn parse_line(line: &str, proto: Proto, v6: bool) -> Result<Option<Socket>, String> {
    let f: Vec<&str> = line.split_whitespace().collect();
    if f.len() < 10 {
        return Err(format!("{} fields, expected at least 10", f.len()));
    }
    let state = u8::from_str_radix(f[3], 16).map_err(|_| format!("state {:?}", f[3]))?;
    let (remote, _) = endpoint(f[2], v6)?;
    let waiting = match proto {
        Proto::Tcp => state == 0x0A,
        Proto::Udp => state == 0x07 && remote.is_unspecified(),
    };
    if !waiting {
        return Ok(None);
    }
    let (ip, port) = endpoint(f[1], v6)?;
    let uid = f[7].parse().map_err(|_| format!("uid {:?}", f[7]))?;
    let inode = f[9].parse().map_err(|_| format!("inode {:?}", f[9]))?;
    Ok(Some(Socket {
        proto,
        ip,
        port,
        inode,
        uid,
    }))
}

/// `ADDR:PORT` as the kernel prints it.
fn endpoint(s: &str, v6: bool) -> Result<(IpAddr, u16), String> {
    let (a, p) = s.split_once(':').ok_or_else(|| format!("address {s:?}"))?;
    let port = u16::from_str_radix(p, 16).map_err(|_| format!("port {p:?}"))?;
    let words = hex_words(a, if v6 { 4 } else { 1 }).ok_or_else(|| format!("address {a:?}"))?;
    // Each word was printed from memory as a host-order u32: its bytes in
    // memory are the address bytes.
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_ne_bytes()).collect();
    let ip = if v6 {
        let b: [u8; 16] = bytes.try_into().expect("16 bytes");
        IpAddr::V6(Ipv6Addr::from(b))
    } else {
        let b: [u8; 4] = bytes.try_into().expect("4 bytes");
        IpAddr::V4(Ipv4Addr::from(b))
    };
    Ok((ip, port))
}

fn hex_words(s: &str, n: usize) -> Option<Vec<u32>> {
    if s.len() != 8 * n || !s.is_ascii() {
        return None;
    }
    (0..n)
        .map(|i| u32::from_str_radix(&s[8 * i..8 * i + 8], 16).ok())
        .collect()
}

#[cfg(all(test, target_endian = "little"))]
mod tests {
    use super::*;

    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:7530 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 4242 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 17 1 0000000000000000 100 0 0 10 0
   2: 0100007F:A1B2 0100007F:7530 01 00000000:00000000 00:00000000 00000000  1000        0 99 1 0000000000000000 20 4 30 10 -1
";

    #[test]
    fn listening_tcp_sockets_only() {
        let s = parse(TCP, Proto::Tcp, false).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].ip, IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        assert_eq!((s[0].port, s[0].uid, s[0].inode), (29999 + 1, 1000, 4242));
        assert_eq!(s[1].ip, IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert_eq!(s[1].port, 8080);
    }

    #[test]
    fn ipv6_words_in_host_order() {
        let t = "sl local rem st tx rx tr tm retr uid timeout inode\n 0: 00000000000000000000000001000000:22B8 00000000000000000000000000000000:0000 0A 0:0 0:0 0 0 0 5 1\n 1: 000080FE00000000FF0E3202FE5C8F06:0035 00000000000000000000000000000000:0000 07 0:0 0:0 0 0 0 6 1\n";
        let s = parse(t, Proto::Tcp, true).unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].ip, IpAddr::V6(Ipv6Addr::LOCALHOST));
        assert_eq!(s[0].port, 8888);
        let u = parse(t, Proto::Udp, true).unwrap();
        assert_eq!(u.len(), 1);
        assert_eq!(u[0].ip, "fe80::232:eff:68f:5cfe".parse::<IpAddr>().unwrap());
        assert_eq!(u[0].port, 53);
    }

    /// Tables read from a host running two TCPStores (ports 29511 and
    /// 29512, bound by torch to `::`, with their connected clients) and a
    /// UDP socket on each loopback address.
    #[test]
    fn real_tables() {
        let fx = |n: &str| {
            std::fs::read_to_string(format!(
                "{}/../../tests/fixtures/net/proc-net-{n}.txt",
                env!("CARGO_MANIFEST_DIR")
            ))
            .unwrap()
        };
        let tcp6 = parse(&fx("tcp6"), Proto::Tcp, true).unwrap();
        let ports: Vec<u16> = tcp6.iter().map(|s| s.port).collect();
        assert_eq!(ports, [29512, 29511]);
        assert!(
            tcp6.iter()
                .all(|s| s.ip == IpAddr::V6(Ipv6Addr::UNSPECIFIED))
        );
        let udp = parse(&fx("udp"), Proto::Udp, false).unwrap();
        assert_eq!(udp.len(), 1);
        assert_eq!(udp[0].ip, IpAddr::V4(Ipv4Addr::LOCALHOST));
        let udp6 = parse(&fx("udp6"), Proto::Udp, true).unwrap();
        assert_eq!(udp6[0].ip, IpAddr::V6(Ipv6Addr::LOCALHOST));
    }

    #[test]
    fn malformed_lines_are_errors() {
        let t = "header\n 0: 0000000:7530 00000000:0000 0A a b c 0 0 1 1\n";
        assert!(
            parse(t, Proto::Tcp, false)
                .unwrap_err()
                .1
                .contains("address")
        );
        let t = "header\n 0: 00000000:7530\n";
        assert_eq!(parse(t, Proto::Tcp, false).unwrap_err().0, 2);
    }
}
