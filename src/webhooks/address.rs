//! Where webhooks may send (API.md, "Webhooks"): `http` or `https` URLs whose host resolves
//! to public addresses only, unless `WEBHOOK_ALLOW_PRIVATE=true`. Otherwise anyone with a
//! client could make the service call its own network (databases, cloud metadata at
//! 169.254.169.254, admin ports on loopback).
//!
//! The name is checked when the webhook is created ([`check_url`]) and again at every
//! delivery: the delivery client resolves names through [`GuardedResolver`], which refuses
//! the connection when any resolved address is not public, so the address checked is the
//! address connected to (a name that resolved to a public address at creation and to
//! 127.0.0.1 later, "DNS rebinding", is refused then). URLs with an IP address as host are
//! checked by [`check_literal`] before each request, since no resolver sees them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use url::{Host, Url};

/// The longest a name may take to resolve when a webhook is created.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// True for an address a webhook may reach without `WEBHOOK_ALLOW_PRIVATE`: not loopback,
/// private, link-local, unspecified, shared (carrier NAT), multicast, broadcast, or
/// reserved for documentation or benchmarks, in IPv4 or IPv6 (IPv4-mapped included).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                // fc00::/7 unique local, fe80::/10 link-local, fec0::/10 site-local (old)
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || (first & 0xffc0) == 0xfec0
                // ::/96 IPv4-compatible (deprecated), 64:ff9b::/96 NAT64: an IPv4 inside
                || v6.segments()[..6] == [0; 6]
                || (v6.segments()[..6] == [0x64, 0xff9b, 0, 0, 0, 0]
                    && !is_public_v4(embedded_v4(v6)))
                // 2001:db8::/32 documentation
                || (first == 0x2001 && v6.segments()[1] == 0x0db8))
        }
    }
}

fn embedded_v4(v6: Ipv6Addr) -> Ipv4Addr {
    let o = v6.octets();
    Ipv4Addr::new(o[12], o[13], o[14], o[15])
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (b == 18 || b == 19))
        || a >= 240)
}

/// Why a URL is refused, in words for the API's 400 (field `url`) or a delivery's error.
pub type Refusal = String;

/// The URL parsed, when it is an absolute `http` or `https` URL with a host.
pub fn parse_url(raw: &str) -> Result<Url, Refusal> {
    let url = Url::parse(raw.trim()).map_err(|_| "url must be an absolute http or https URL")?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("url must use http or https".into());
    }
    if url.host().is_none() {
        return Err("url must have a host".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("url must not contain credentials; authenticate with the signature".into());
    }
    Ok(url)
}

/// For a URL whose host is an IP address: refused when that address is not public.
pub fn check_literal(url: &Url, allow_private: bool) -> Result<(), Refusal> {
    let ip = match url.host() {
        Some(Host::Ipv4(v4)) => IpAddr::V4(v4),
        Some(Host::Ipv6(v6)) => IpAddr::V6(v6),
        _ => return Ok(()),
    };
    if allow_private || is_public(ip) {
        Ok(())
    } else {
        Err(private_refusal(ip))
    }
}

fn private_refusal(ip: IpAddr) -> Refusal {
    format!(
        "url resolves to {ip}, a loopback, private or reserved address; webhooks only reach public addresses (unless WEBHOOK_ALLOW_PRIVATE=true)"
    )
}

/// The check made when a webhook is created: the URL's form, then its host resolved now
/// (refused when it does not resolve, or when any of its addresses is not public).
pub async fn check_url(raw: &str, allow_private: bool) -> Result<Url, Refusal> {
    let url = parse_url(raw)?;
    if allow_private {
        return Ok(url);
    }
    check_literal(&url, false)?;
    if let Some(Host::Domain(name)) = url.host() {
        let addrs = resolve(name).await?;
        if let Some(bad) = addrs.iter().find(|a| !is_public(a.ip())) {
            return Err(private_refusal(bad.ip()));
        }
    }
    Ok(url)
}

async fn resolve(name: &str) -> Result<Vec<SocketAddr>, Refusal> {
    let looked_up = tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((name, 0)))
        .await
        .map_err(|_| format!("url host {name} did not resolve in time"))?
        .map_err(|_| format!("url host {name} does not resolve"))?;
    let addrs: Vec<SocketAddr> = looked_up.collect();
    if addrs.is_empty() {
        return Err(format!("url host {name} does not resolve"));
    }
    Ok(addrs)
}

/// The delivery client's resolver: the system's, refusing names with any address that is
/// not public (unless private addresses are allowed), at connection time.
#[derive(Clone, Debug)]
pub struct GuardedResolver {
    pub allow_private: bool,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_private = self.allow_private;
        let name = name.as_str().to_string();
        Box::pin(async move {
            let addrs = resolve(&name).await?;
            if !allow_private && let Some(bad) = addrs.iter().find(|a| !is_public(a.ip())) {
                return Err(private_refusal(bad.ip()).into());
            }
            let addrs: reqwest::dns::Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_reserved_addresses_are_not_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in [
            "93.184.216.34",
            "1.1.1.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn only_http_urls_with_a_host_and_no_credentials() {
        assert!(parse_url("https://hooks.example.com/in").is_ok());
        assert!(parse_url("http://hooks.example.com:8080/in?x=1").is_ok());
        for bad in [
            "ftp://x.example/",
            "hooks.example.com",
            "",
            "https://u:p@x.example/",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn loopback_is_refused_unless_allowed() {
        for url in [
            "http://127.0.0.1:9/x",
            "http://[::1]/x",
            "http://localhost:9/x",
        ] {
            let err = check_url(url, false).await.unwrap_err();
            assert!(err.contains("WEBHOOK_ALLOW_PRIVATE"), "{url}: {err}");
            assert!(check_url(url, true).await.is_ok(), "{url}");
        }
    }
}
