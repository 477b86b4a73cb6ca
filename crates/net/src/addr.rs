//! Who can reach a bound address: its class (loopback, private, public,
//! wildcard) and, for the wildcard, the interfaces of this host it answers
//! on.

use std::net::IpAddr;

/// The class of a bound address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Class {
    /// `127.0.0.0/8`, `::1`: this host only.
    Loopback,
    /// Link-local (`169.254.0.0/16`, `fe80::/10`): the local link.
    LinkLocal,
    /// RFC 1918, shared address space (`100.64.0.0/10`), unique local
    /// (`fc00::/7`): a private network.
    Private,
    /// Anything else: possibly the internet.
    Public,
    /// `0.0.0.0`, `::`: every interface of the host.
    Wildcard,
}

impl Class {
    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Class::Loopback => "loopback",
            Class::LinkLocal => "link-local",
            Class::Private => "private",
            Class::Public => "public",
            Class::Wildcard => "wildcard",
        }
    }
}

/// The class of `ip` (IPv4-mapped IPv6 addresses as their IPv4 address).
pub fn classify(ip: IpAddr) -> Class {
    match ip.to_canonical() {
        IpAddr::V4(v) => {
            let o = v.octets();
            if v.is_unspecified() {
                Class::Wildcard
            } else if v.is_loopback() {
                Class::Loopback
            } else if v.is_link_local() {
                Class::LinkLocal
            } else if v.is_private() || (o[0] == 100 && (64..128).contains(&o[1])) {
                Class::Private
            } else {
                Class::Public
            }
        }
        IpAddr::V6(v) => {
            let seg0 = v.segments()[0];
            if v.is_unspecified() {
                Class::Wildcard
            } else if v.is_loopback() {
                Class::Loopback
            } else if seg0 & 0xffc0 == 0xfe80 {
                Class::LinkLocal
            } else if seg0 & 0xfe00 == 0xfc00 {
                Class::Private
            } else {
                Class::Public
            }
        }
    }
}

/// An address of one of this host's interfaces.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Interface {
    /// Its name (`eth0`).
    pub name: String,
    /// The address.
    pub ip: IpAddr,
    /// The address's class.
    pub class: Class,
}

/// This host's interface addresses (in this network namespace).
pub fn interfaces() -> std::io::Result<Vec<Interface>> {
    let mut out: Vec<Interface> = if_addrs::get_if_addrs()?
        .into_iter()
        .map(|i| Interface {
            class: classify(i.ip()),
            ip: i.ip(),
            name: i.name,
        })
        .collect();
    out.sort_by(|a, b| (a.class, &a.name, a.ip).cmp(&(b.class, &b.name, b.ip)));
    Ok(out)
}

/// The interface addresses a socket bound to `ip` answers on: all of the
/// family for a wildcard (both families for `::`, which Linux binds dual
/// stack unless the socket is IPv6-only), else the address itself when an
/// interface holds it.
pub fn reached(ip: IpAddr, ifaces: &[Interface]) -> Vec<&Interface> {
    match ip {
        IpAddr::V4(v) if v.is_unspecified() => ifaces.iter().filter(|i| i.ip.is_ipv4()).collect(),
        IpAddr::V6(v) if v.is_unspecified() => ifaces.iter().collect(),
        _ => ifaces
            .iter()
            .filter(|i| i.ip == ip.to_canonical())
            .collect(),
    }
}

/// The widest class a socket bound to `ip` is reachable from: for the
/// wildcard, the widest of the interfaces it answers on (loopback when the
/// host has no other); for an address, its class.
pub fn reach(ip: IpAddr, ifaces: &[Interface]) -> Class {
    match classify(ip) {
        Class::Wildcard => reached(ip, ifaces)
            .iter()
            .map(|i| i.class)
            .max()
            .unwrap_or(Class::Loopback),
        c => c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn classes() {
        assert_eq!(classify(ip("0.0.0.0")), Class::Wildcard);
        assert_eq!(classify(ip("::")), Class::Wildcard);
        assert_eq!(classify(ip("127.0.0.53")), Class::Loopback);
        assert_eq!(classify(ip("::ffff:127.0.0.1")), Class::Loopback);
        assert_eq!(classify(ip("10.1.2.3")), Class::Private);
        assert_eq!(classify(ip("172.20.0.1")), Class::Private);
        assert_eq!(classify(ip("100.100.1.1")), Class::Private);
        assert_eq!(classify(ip("fd00::1")), Class::Private);
        assert_eq!(classify(ip("fe80::1")), Class::LinkLocal);
        assert_eq!(classify(ip("8.8.8.8")), Class::Public);
        assert_eq!(classify(ip("2001:db8::1")), Class::Public);
    }

    #[test]
    fn a_wildcard_reaches_as_far_as_the_widest_interface() {
        let ifs = vec![
            Interface {
                name: "lo".into(),
                ip: ip("127.0.0.1"),
                class: Class::Loopback,
            },
            Interface {
                name: "eth0".into(),
                ip: ip("10.0.0.5"),
                class: Class::Private,
            },
            Interface {
                name: "eth1".into(),
                ip: ip("2001:db8::5"),
                class: Class::Public,
            },
        ];
        assert_eq!(reach(ip("0.0.0.0"), &ifs), Class::Private);
        assert_eq!(reach(ip("::"), &ifs), Class::Public);
        assert_eq!(reach(ip("0.0.0.0"), &ifs[..1]), Class::Loopback);
        assert_eq!(reach(ip("127.0.0.1"), &ifs), Class::Loopback);
        assert_eq!(reached(ip("10.0.0.5"), &ifs).len(), 1);
    }
}
