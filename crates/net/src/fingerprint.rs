//! Protocol exchanges that confirm what a listener is: over loopback for
//! the listeners of this host, over the network for `airlock net probe`.
//! Bounded in time; read-only unless a probe is asked to prove write
//! access; never a job or code.
//!
//! A TCPStore (torch 2.15, libuv backend) stops answering for seconds
//! after some fifty connections in quick succession: each exchange uses one
//! connection, and a probe of many addresses of one host can see the later
//! ones time out.
//!
//! - TCPStore (`torch/csrc/distributed/c10d/TCPStore.cpp`): `VALIDATE`
//!   (query type 0, the magic `0x3C85F7CE`), then `PING` (type 13, a
//!   nonce) which the store echoes: only a TCPStore answers with the nonce.
//!   Values are host-endian, as the store reads them (clients and store
//!   share a host here).
//! - HTTP services: one `GET` of a read-only endpoint each (Jupyter's
//!   `/api/kernels` answers without a token only when none is required),
//!   the answer checked for the service's own JSON key.
//! - `airlock net probe` uses the same exchanges over the network, plus
//!   `GETNUMKEYS` (read-only) and, with `--prove` only, one `SET` and
//!   `DELETE_KEY` of a marker key.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::time::Duration;

use crate::service::Kind;

/// Time allowed to connect.
pub const TIMEOUT: Duration = Duration::from_millis(800);

/// Time allowed for each read or write once connected (a busy store can
/// take a second to answer).
pub const IO_TIMEOUT: Duration = Duration::from_millis(2500);

/// `VALIDATE`'s magic number (`c10d::detail::validationMagicNumber`).
pub const VALIDATION_MAGIC: u32 = 0x3C85_F7CE;

/// TCPStore query types (`TCPStoreBackend.hpp`, `enum class QueryType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Query {
    /// Protocol check: the magic number, no answer.
    Validate = 0,
    /// Set a key.
    Set = 1,
    /// Number of keys: answers an `int64`.
    GetNumKeys = 7,
    /// Delete a key: answers an `int64` (1 if it existed).
    DeleteKey = 8,
    /// Echo a nonce.
    Ping = 13,
}

/// What an exchange showed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Evidence {
    /// The service confirmed, if the exchange confirmed one.
    pub confirmed: bool,
    /// Whether it answered without credentials where it could ask for them
    /// (HTTP services); `None` when the exchange cannot tell.
    pub open: Option<bool>,
    /// What was sent and what came back, for people.
    pub detail: String,
}

/// The loopback address to reach a socket bound to `ip` from this host,
/// if one reaches it.
pub fn loopback_for(ip: IpAddr) -> Option<IpAddr> {
    match ip {
        IpAddr::V4(v) if v.is_unspecified() || v.is_loopback() => {
            Some(IpAddr::V4(Ipv4Addr::LOCALHOST))
        }
        IpAddr::V6(v) if v.is_unspecified() || v.is_loopback() => {
            Some(IpAddr::V6(Ipv6Addr::LOCALHOST))
        }
        _ => None,
    }
}

/// A TCP connection with every operation bounded by [`TIMEOUT`].
pub fn connect(addr: SocketAddr) -> std::io::Result<TcpStream> {
    let s = TcpStream::connect_timeout(&addr, TIMEOUT)?;
    s.set_read_timeout(Some(IO_TIMEOUT))?;
    s.set_write_timeout(Some(IO_TIMEOUT))?;
    Ok(s)
}

/// Time a listener of this host gets to answer over loopback (a store
/// answers in microseconds; a listener that does not speak the protocol
/// should not hold a survey up).
pub const LOOPBACK_IO_TIMEOUT: Duration = Duration::from_millis(500);

/// `VALIDATE` then `PING` over loopback: whether a TCPStore of this host
/// answers at `addr`.
pub fn tcpstore(addr: SocketAddr) -> Evidence {
    let conn = connect(addr).and_then(|s| {
        s.set_read_timeout(Some(LOOPBACK_IO_TIMEOUT))?;
        Ok(s)
    });
    match conn {
        Ok(mut s) => store_exchange(&mut s, addr, false, None).remove(0),
        Err(e) => Evidence {
            confirmed: false,
            open: None,
            detail: format!("TCPStore VALIDATE + PING over {addr}: {e}"),
        },
    }
}

/// The TCPStore exchanges on one connection (a store stalls for seconds
/// after some fifty connections in a row, so a probe uses one): `VALIDATE`
/// and `PING`; if the nonce comes back and `count`, `GETNUMKEYS`; if
/// `prove` names a key, `SET` it and `DELETE_KEY` it (the store answers
/// the delete with 1 only if the key was there, which proves the write;
/// the key is gone after). The first evidence says whether it is a store.
pub fn store_exchange(
    s: &mut TcpStream,
    addr: SocketAddr,
    count: bool,
    prove: Option<&str>,
) -> Vec<Evidence> {
    let nonce = std::process::id() ^ 0x5EED_0000;
    let mut msg = vec![Query::Validate as u8];
    msg.extend(VALIDATION_MAGIC.to_ne_bytes());
    msg.push(Query::Ping as u8);
    msg.extend(nonce.to_ne_bytes());
    let first = match s.write_all(&msg).and_then(|()| read_u32(s)) {
        Ok(n) if n == nonce => Evidence {
            confirmed: true,
            open: Some(true),
            detail: format!("TCPStore VALIDATE + PING over {addr}: the nonce came back"),
        },
        Ok(n) => Evidence {
            confirmed: false,
            open: None,
            detail: format!("PING over {addr} answered {n:#x}, not the nonce: not a TCPStore"),
        },
        Err(e) => Evidence {
            confirmed: false,
            open: None,
            detail: format!("TCPStore VALIDATE + PING over {addr}: {e}"),
        },
    };
    let store = first.confirmed;
    let mut out = vec![first];
    if store && count {
        out.push(
            match request_i64(s, &store_request(Query::GetNumKeys, &[])) {
                Ok(n) => fact(format!("GETNUMKEYS over {addr}: {n} keys readable")),
                Err(e) => no(format!("GETNUMKEYS over {addr}: {e}")),
            },
        );
    }
    if let (true, Some(key)) = (store, prove) {
        let mut m = store_request(Query::Set, &[key.as_bytes(), b"airlock write probe"]);
        m.extend(store_request(Query::DeleteKey, &[key.as_bytes()]));
        let what = format!("SET then DELETE_KEY of {key:?} over {addr}");
        out.push(match request_i64(s, &m) {
            Ok(1) => fact(format!("{what}: written and deleted without credentials")),
            Ok(n) => no(format!("{what}: the store deleted {n} keys")),
            Err(e) => no(format!("{what}: {e}")),
        });
    }
    out
}

fn fact(detail: String) -> Evidence {
    Evidence {
        confirmed: true,
        open: Some(true),
        detail,
    }
}

fn no(detail: String) -> Evidence {
    Evidence {
        confirmed: false,
        open: None,
        detail,
    }
}

fn read_u32(s: &mut TcpStream) -> std::io::Result<u32> {
    let mut b = [0u8; 4];
    s.read_exact(&mut b)?;
    Ok(u32::from_ne_bytes(b))
}

/// Send `msg`, read the `int64` answer.
fn request_i64(s: &mut TcpStream, msg: &[u8]) -> std::io::Result<i64> {
    s.write_all(msg)?;
    let mut b = [0u8; 8];
    s.read_exact(&mut b)?;
    Ok(i64::from_ne_bytes(b))
}

/// The read-only HTTP endpoint that shows a service, and what its answer
/// must hold to be that service (a JSON key, or any answer).
fn http_path(kind: Kind) -> Option<(&'static str, Option<&'static str>)> {
    Some(match kind {
        Kind::Jupyter => ("/api/kernels", None),
        Kind::RayDashboard => ("/api/version", Some("ray_version")),
        Kind::MlFlow => ("/api/2.0/mlflow/experiments/search?max_results=1", None),
        Kind::TorchServeManagement => ("/models", Some("models")),
        Kind::TorchServeInference => ("/ping", Some("status")),
        Kind::OpenAiServer => ("/v1/models", Some("data")),
        Kind::TensorBoard => ("/data/environment", Some("data_location")),
        Kind::Triton => ("/v2/health/live", None),
        _ => return None,
    })
}

/// Largest HTTP answer read.
const MAX_BODY: u64 = 64 << 10;

/// One `GET` of the service's read-only endpoint at `addr`.
pub fn http(kind: Kind, addr: SocketAddr) -> Option<Evidence> {
    let (path, key) = http_path(kind)?;
    let url = format!("http://{addr}{path}");
    let agent = ureq::AgentBuilder::new()
        .timeout_connect(TIMEOUT)
        .timeout(IO_TIMEOUT)
        .redirects(0)
        .build();
    let no = |detail: String| Evidence {
        confirmed: false,
        open: None,
        detail,
    };
    Some(match agent.get(&url).call() {
        Ok(r) => {
            let status = r.status();
            let mut body = String::new();
            let _ = r.into_reader().take(MAX_BODY).read_to_string(&mut body);
            let holds = key.is_none_or(|k| {
                serde_json::from_str::<serde_json::Value>(&body).is_ok_and(|v| v.get(k).is_some())
            });
            if holds {
                Evidence {
                    confirmed: true,
                    open: Some(true),
                    detail: format!("GET {url}: HTTP {status} without credentials"),
                }
            } else {
                no(format!(
                    "GET {url}: HTTP {status}, but not {}'s answer",
                    kind.describe()
                ))
            }
        }
        Err(ureq::Error::Status(code @ (401 | 403), _)) => Evidence {
            confirmed: true,
            open: Some(false),
            detail: format!("GET {url}: HTTP {code}, credentials required"),
        },
        Err(ureq::Error::Status(code, _)) => no(format!("GET {url}: HTTP {code}")),
        Err(e) => no(format!("GET {url}: {e}")),
    })
}

/// A TCPStore request: the query type, then each argument as the store
/// reads strings (`uint64` length, then the bytes).
fn store_request(q: Query, args: &[&[u8]]) -> Vec<u8> {
    let mut m = vec![q as u8];
    for a in args {
        m.extend((a.len() as u64).to_ne_bytes());
        m.extend_from_slice(a);
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listener_that_is_no_store_is_not_confirmed() {
        // An echo-less server: reads the query and closes.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let t = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut b = [0u8; 10];
            let _ = s.read(&mut b);
            s.write_all(b"HTTP/1.0 400 Bad Request\r\n\r\n").unwrap();
        });
        let e = tcpstore(addr);
        assert!(!e.confirmed, "{e:?}");
        t.join().unwrap();
    }

    #[test]
    fn loopback_only() {
        assert_eq!(
            loopback_for("0.0.0.0".parse().unwrap()),
            Some("127.0.0.1".parse().unwrap())
        );
        assert_eq!(
            loopback_for("::".parse().unwrap()),
            Some("::1".parse().unwrap())
        );
        assert_eq!(loopback_for("10.0.0.1".parse().unwrap()), None);
    }
}
