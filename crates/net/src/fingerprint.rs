//! Read-only protocol exchanges that confirm what a listener is, over
//! loopback only (the listeners of this host): bounded in time, never a
//! write, never a job or code.
//!
//! - TCPStore (`torch/csrc/distributed/c10d/TCPStore.cpp`): `VALIDATE`
//!   (query type 0, the magic `0x3C85F7CE`), then `PING` (type 13, a
//!   nonce) which the store echoes: only a TCPStore answers with the nonce.
//!   Values are host-endian, as the store reads them (clients and store
//!   share a host here).
//! - HTTP services: one `GET` of a read-only endpoint each (Jupyter's
//!   `/api/kernels` answers without a token only when none is required).

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::time::Duration;

use crate::service::Kind;

/// Time allowed to connect, and for each read or write.
pub const TIMEOUT: Duration = Duration::from_millis(800);

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
    s.set_read_timeout(Some(TIMEOUT))?;
    s.set_write_timeout(Some(TIMEOUT))?;
    Ok(s)
}

/// `VALIDATE` then `PING`: whether a TCPStore answers at `addr`.
pub fn tcpstore(addr: SocketAddr) -> Evidence {
    let nonce = std::process::id() ^ 0x5EED_0000;
    let exchange = || -> std::io::Result<u32> {
        let mut s = connect(addr)?;
        let mut msg = vec![Query::Validate as u8];
        msg.extend(VALIDATION_MAGIC.to_ne_bytes());
        msg.push(Query::Ping as u8);
        msg.extend(nonce.to_ne_bytes());
        s.write_all(&msg)?;
        let mut back = [0u8; 4];
        s.read_exact(&mut back)?;
        Ok(u32::from_ne_bytes(back))
    };
    match exchange() {
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
    }
}

/// The read-only HTTP endpoint that shows a service, if it has one.
fn http_path(kind: Kind) -> Option<&'static str> {
    Some(match kind {
        Kind::Jupyter => "/api/kernels",
        Kind::RayDashboard => "/api/version",
        Kind::MlFlow => "/api/2.0/mlflow/experiments/search?max_results=1",
        Kind::TorchServeManagement => "/models",
        Kind::TorchServeInference => "/ping",
        Kind::OpenAiServer => "/v1/models",
        Kind::TensorBoard => "/data/environment",
        Kind::Triton => "/v2/health/live",
        _ => return None,
    })
}

/// One `GET` of the service's read-only endpoint at `addr`.
pub fn http(kind: Kind, addr: SocketAddr) -> Option<Evidence> {
    let path = http_path(kind)?;
    let url = format!("http://{addr}{path}");
    let agent = ureq::AgentBuilder::new()
        .timeout_connect(TIMEOUT)
        .timeout(TIMEOUT * 2)
        .redirects(0)
        .build();
    Some(match agent.get(&url).call() {
        Ok(r) => Evidence {
            confirmed: true,
            open: Some(true),
            detail: format!("GET {url}: HTTP {} without credentials", r.status()),
        },
        Err(ureq::Error::Status(code @ (401 | 403), _)) => Evidence {
            confirmed: true,
            open: Some(false),
            detail: format!("GET {url}: HTTP {code}, credentials required"),
        },
        Err(ureq::Error::Status(code, _)) => Evidence {
            confirmed: false,
            open: None,
            detail: format!("GET {url}: HTTP {code}"),
        },
        Err(e) => Evidence {
            confirmed: false,
            open: None,
            detail: format!("GET {url}: {e}"),
        },
    })
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
