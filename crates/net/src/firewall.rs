//! `airlock net firewall`: an nftables ruleset that admits a distributed
//! job's ports only from its peers. The store (and rendezvous) ports are
//! fixed; Gloo, NCCL's bootstrap and RPC (TensorPipe) listen on ephemeral
//! ports, so the kernel's ephemeral range is closed to everyone but the
//! peers as well. Connections this host opens keep working (their replies
//! are `established`), loopback is untouched, and other ports keep the
//! host's own policy (the chain's policy is `accept`).
//!
//! The ruleset replaces a previous one of the same table (`table inet
//! airlock` declared, deleted, declared again), so loading it twice is the
//! same as once: `airlock net firewall --peers ... | nft -f -`.

use std::fmt::Write;
use std::net::IpAddr;

/// The store and rendezvous ports admitted when none are given.
pub const DEFAULT_PORTS: &[u16] = &[29500, 29400];

/// The kernel's default ephemeral port range.
pub const DEFAULT_DATA_PORTS: (u16, u16) = (32768, 60999);

/// A peer: an address or an address block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    /// The address.
    pub ip: IpAddr,
    /// The prefix length (32 or 128 for one address).
    pub prefix: u8,
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let full = if self.ip.is_ipv4() { 32 } else { 128 };
        if self.prefix == full {
            write!(f, "{}", self.ip)
        } else {
            write!(f, "{}/{}", self.ip, self.prefix)
        }
    }
}

/// A peer as the user writes it: `10.0.0.2`, `10.0.0.0/24`, `fd00::5`.
/// Host names are refused: a ruleset holds addresses.
pub fn parse_peer(s: &str) -> Result<Peer, String> {
    let (a, p) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    let ip: IpAddr = a.trim().parse().map_err(|_| {
        format!("{s:?}: not an address or address block (host names are not resolved)")
    })?;
    let full = if ip.is_ipv4() { 32 } else { 128 };
    let prefix = match p {
        Some(p) => p
            .parse::<u8>()
            .ok()
            .filter(|&n| n <= full)
            .ok_or_else(|| format!("{s:?}: bad prefix length"))?,
        None => full,
    };
    Ok(Peer { ip, prefix })
}

/// The kernel's ephemeral range (`/proc/sys/net/ipv4/ip_local_port_range`),
/// or the default.
pub fn ephemeral_range() -> (u16, u16) {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|t| {
            let mut it = t.split_whitespace().map(|n| n.parse::<u16>().ok());
            Some((it.next()??, it.next()??))
        })
        .filter(|(lo, hi)| lo <= hi)
        .unwrap_or(DEFAULT_DATA_PORTS)
}

/// The ruleset.
pub fn ruleset(peers: &[Peer], ports: &[u16], data: Option<(u16, u16)>) -> String {
    let v4: Vec<String> = peers
        .iter()
        .filter(|p| p.ip.is_ipv4())
        .map(Peer::to_string)
        .collect();
    let v6: Vec<String> = peers
        .iter()
        .filter(|p| p.ip.is_ipv6())
        .map(Peer::to_string)
        .collect();
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# airlock net firewall: the job's ports only from its peers."
    );
    let _ = writeln!(
        s,
        "# Load with: nft -f FILE (as root); remove with: nft delete table inet airlock"
    );
    s.push_str("table inet airlock {}\ndelete table inet airlock\n\ntable inet airlock {\n");
    for (name, ty, elems) in [("peers4", "ipv4_addr", &v4), ("peers6", "ipv6_addr", &v6)] {
        let _ = writeln!(s, "\tset {name} {{\n\t\ttype {ty}\n\t\tflags interval");
        if !elems.is_empty() {
            let _ = writeln!(s, "\t\telements = {{ {} }}", elems.join(", "));
        }
        s.push_str("\t}\n\n");
    }
    s.push_str(
        "\tchain input {\n\t\ttype filter hook input priority filter - 10; policy accept;\n",
    );
    s.push_str("\t\tct state established,related accept\n\t\tiifname \"lo\" accept\n");
    let mut groups: Vec<(String, &str)> = Vec::new();
    if !ports.is_empty() {
        let list: Vec<String> = ports.iter().map(u16::to_string).collect();
        groups.push((format!("{{ {} }}", list.join(", ")), "store and rendezvous"));
    }
    if let Some((lo, hi)) = data {
        groups.push((
            format!("{lo}-{hi}"),
            "Gloo, NCCL bootstrap, RPC (ephemeral ports)",
        ));
    }
    for (ports, what) in &groups {
        let _ = writeln!(s, "\t\t# {what}");
        let _ = writeln!(s, "\t\ttcp dport {ports} ip saddr @peers4 accept");
        let _ = writeln!(s, "\t\ttcp dport {ports} ip6 saddr @peers6 accept");
        let _ = writeln!(s, "\t\ttcp dport {ports} drop");
    }
    s.push_str("\t}\n}\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers() {
        assert_eq!(parse_peer("10.0.0.2").unwrap().to_string(), "10.0.0.2");
        assert_eq!(
            parse_peer("10.0.0.0/24").unwrap().to_string(),
            "10.0.0.0/24"
        );
        assert_eq!(parse_peer("fd00::5").unwrap().prefix, 128);
        assert!(parse_peer("node1").unwrap_err().contains("host names"));
        assert!(parse_peer("10.0.0.0/33").is_err());
    }

    #[test]
    fn the_ruleset_admits_peers_then_drops() {
        let r = ruleset(
            &[
                parse_peer("10.0.0.2").unwrap(),
                parse_peer("fd00::/64").unwrap(),
            ],
            &[29500],
            Some((32768, 60999)),
        );
        assert!(r.contains("elements = { 10.0.0.2 }"));
        assert!(r.contains("elements = { fd00::/64 }"));
        let accept = r
            .find("tcp dport { 29500 } ip saddr @peers4 accept")
            .unwrap();
        let drop = r.find("tcp dport { 29500 } drop").unwrap();
        assert!(accept < drop);
        assert!(r.contains("tcp dport 32768-60999 drop"));
        assert!(r.starts_with("# airlock"));
        // No IPv6 peers: an empty set, still declared (the rule names it).
        let r = ruleset(&[parse_peer("10.0.0.2").unwrap()], &[29500], None);
        assert!(r.contains("set peers6 {\n\t\ttype ipv6_addr\n\t\tflags interval\n\t}"));
        assert!(!r.contains("32768"));
    }
}
