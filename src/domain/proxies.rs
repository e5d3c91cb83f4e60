//! `TRUSTED_PROXIES`: the reverse proxies (addresses and CIDR ranges) whose forwarding
//! headers are believed. Behind a proxy every visitor arrives from the proxy's address, so
//! per-visitor limits would lump them all together; but anyone can send `X-Forwarded-For`,
//! so the header counts only when the TCP peer is a trusted proxy, and then the visitor is
//! the right-most address in the chain that is not itself a trusted proxy (everything to
//! its left was written by the visitor and may be made up).

use std::net::IpAddr;

use ipnet::IpNet;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Comma-separated addresses (`10.0.0.7`, `::1`) and ranges (`10.0.0.0/8`).
    pub fn parse(raw: &str) -> Result<Self, String> {
        let mut nets = Vec::new();
        for item in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let net = match item.parse::<IpNet>() {
                Ok(net) => net,
                Err(_) => match item.parse::<IpAddr>() {
                    Ok(ip) => IpNet::from(ip),
                    Err(_) => {
                        return Err(format!(
                            "TRUSTED_PROXIES: {item:?} is not an address or CIDR range (such as 10.0.0.0/8)"
                        ));
                    }
                },
            };
            nets.push(net.trunc());
        }
        Ok(Self(nets))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn trusts(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|n| n.contains(&ip))
    }

    /// The visitor's address for a request from `peer` carrying these `X-Forwarded-For`
    /// values (each a comma-separated list, in header order) or, without them, these
    /// `Forwarded` values. Without a trusted peer the headers are ignored.
    pub fn visitor<'a>(
        &self,
        peer: IpAddr,
        forwarded_for: impl Iterator<Item = &'a str>,
        forwarded: impl Iterator<Item = &'a str>,
    ) -> IpAddr {
        let peer = canonical(peer);
        if !self.trusts(peer) {
            return peer;
        }
        let mut chain: Vec<&str> = forwarded_for.flat_map(|v| v.split(',')).collect();
        if chain.is_empty() {
            chain = forwarded
                .flat_map(|v| v.split(','))
                .filter_map(forwarded_for_param)
                .collect();
        }
        // Walk from the nearest hop outwards; the first untrusted address is the visitor.
        let mut nearest = peer;
        for hop in chain.iter().rev() {
            let Some(ip) = parse_hop(hop) else {
                // A hop that is no address (`unknown`, garbage) ends what can be believed:
                // the last trusted proxy is the best known address.
                return nearest;
            };
            nearest = ip;
            if !self.trusts(ip) {
                return ip;
            }
        }
        nearest
    }
}

/// IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`) are their IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The `for=` value of one `Forwarded` element (`for=192.0.2.60;proto=http`).
fn forwarded_for_param(element: &str) -> Option<&str> {
    element.split(';').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        k.trim().eq_ignore_ascii_case("for").then_some(v.trim())
    })
}

/// One hop: `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1`, `[2001:db8::1]:4711`, quoted or not.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim().trim_matches('"');
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    if let Ok(sa) = hop.parse::<std::net::SocketAddr>() {
        return Some(canonical(sa.ip()));
    }
    let inner = hop.strip_prefix('[')?.split(']').next()?;
    inner.parse::<IpAddr>().ok().map(canonical)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_addresses_and_ranges_and_refuses_garbage() {
        let p = TrustedProxies::parse(" 10.0.0.0/8, 127.0.0.1 ,::1,").unwrap();
        assert!(p.trusts(ip("10.1.2.3")));
        assert!(p.trusts(ip("127.0.0.1")));
        assert!(p.trusts(ip("::ffff:127.0.0.1")));
        assert!(p.trusts(ip("::1")));
        assert!(!p.trusts(ip("11.0.0.1")));
        assert!(TrustedProxies::parse("").unwrap().is_empty());
        let err = TrustedProxies::parse("10.0.0.0/8, proxy.internal").unwrap_err();
        assert!(err.contains("proxy.internal"), "{err}");
        assert!(TrustedProxies::parse("10.0.0.0/33").is_err());
    }

    #[test]
    fn the_visitor_is_the_right_most_untrusted_hop_from_a_trusted_peer_only() {
        let p = TrustedProxies::parse("10.0.0.0/8").unwrap();
        let none = std::iter::empty();
        // Untrusted peer: headers ignored.
        assert_eq!(
            p.visitor(ip("203.0.113.9"), ["1.2.3.4"].into_iter(), none.clone()),
            ip("203.0.113.9")
        );
        // Trusted peer: the right-most untrusted hop; the spoofed left part is ignored.
        assert_eq!(
            p.visitor(
                ip("10.0.0.2"),
                ["6.6.6.6, 198.51.100.7", "10.0.0.5"].into_iter(),
                none.clone()
            ),
            ip("198.51.100.7")
        );
        // Every hop trusted: the left-most.
        assert_eq!(
            p.visitor(ip("10.0.0.2"), ["10.0.0.9"].into_iter(), none.clone()),
            ip("10.0.0.9")
        );
        // No header: the peer.
        assert_eq!(
            p.visitor(ip("10.0.0.2"), none.clone(), none.clone()),
            ip("10.0.0.2")
        );
        // Garbage stops the walk at the last trusted hop.
        assert_eq!(
            p.visitor(
                ip("10.0.0.2"),
                ["1.2.3.4, unknown"].into_iter(),
                none.clone()
            ),
            ip("10.0.0.2")
        );
        // Ports and brackets.
        assert_eq!(
            p.visitor(
                ip("10.0.0.2"),
                ["198.51.100.7:4711"].into_iter(),
                none.clone()
            ),
            ip("198.51.100.7")
        );
        // `Forwarded` when there is no X-Forwarded-For.
        assert_eq!(
            p.visitor(
                ip("10.0.0.2"),
                none.clone(),
                [r#"for=6.6.6.6, For="[2001:db8:cafe::17]:4711";proto=https"#].into_iter()
            ),
            ip("2001:db8:cafe::17")
        );
        // Without any trusted proxy, the peer always.
        assert_eq!(
            TrustedProxies::default().visitor(ip("10.0.0.2"), ["1.2.3.4"].into_iter(), none),
            ip("10.0.0.2")
        );
    }
}
