//! The client's address behind trusted reverse proxies: what every per-address limit is keyed on.
//!
//! A request's TCP peer is the client unless that peer is a trusted proxy (`--trusted-proxy`);
//! then the proxy's `Forwarded` (RFC 7239) or, without it, `X-Forwarded-For` header is read from
//! the right, and the first address that is not itself a trusted proxy is the client. Headers
//! from untrusted peers are ignored, so a client cannot pick the address it is limited under.

use std::{
    net::{IpAddr, SocketAddr},
    str::FromStr,
    sync::Arc,
};

use axum::{
    extract::{ConnectInfo, Request},
    http::{HeaderMap, header},
};
use ipnet::IpNet;

/// The address a request is counted under, put in every request's extensions by
/// [`TrustedProxies::tag`] (HTTP routes and the Socket.IO handshake read it from there).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// One entry of `--trusted-proxy`: a network in CIDR notation or a single address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyNet(IpNet);

impl FromStr for ProxyNet {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        s.parse::<IpNet>()
            .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
            .map(Self)
            .map_err(|_| format!("{s:?} is neither an IP address nor a CIDR network"))
    }
}

/// The reverse proxies whose forwarding headers are believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Arc<[IpNet]>);

impl TrustedProxies {
    pub fn new(nets: &[ProxyNet]) -> Self {
        Self(nets.iter().map(|n| n.0).collect())
    }

    fn trusts(&self, addr: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&canonical(addr)))
    }

    /// The client's address for a request from `peer` with `headers`.
    pub fn client_addr(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = canonical(peer);
        if !self.trusts(peer) {
            return peer;
        }
        let hops = forwarded_for(headers).or_else(|| x_forwarded_for(headers)).unwrap_or_default();
        let mut client = peer;
        for hop in hops.into_iter().rev() {
            // An address that is not one (`unknown`, an obfuscated name, garbage): the trusted
            // proxy closest to it is all that is known.
            let Some(addr) = hop else { return client };
            client = canonical(addr);
            if !self.trusts(client) {
                return client;
            }
        }
        client
    }

    /// Adds [`ClientAddr`] to a request that came with axum's `ConnectInfo`; the outermost layer,
    /// so that Socket.IO handshakes carry it too.
    pub fn tag(&self, mut request: Request) -> Request {
        if let Some(ConnectInfo(peer)) = request.extensions().get::<ConnectInfo<SocketAddr>>().copied() {
            let addr = self.client_addr(peer.ip(), request.headers());
            request.extensions_mut().insert(ClientAddr(addr));
        }
        request
    }
}

/// IPv4-mapped IPv6 addresses (`::ffff:1.2.3.4`, what a dual-stack listener reports) as IPv4,
/// so one client has one key.
fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 => v4,
    }
}

/// The `for=` parameters of every `Forwarded` header, in order; `None` without the header.
fn forwarded_for(headers: &HeaderMap) -> Option<Vec<Option<IpAddr>>> {
    let mut values = headers.get_all(header::FORWARDED).iter().peekable();
    values.peek()?;
    let hops = values
        .flat_map(|v| v.to_str().unwrap_or("").split(','))
        .filter_map(|element| {
            element.split(';').find_map(|pair| {
                let (key, value) = pair.split_once('=')?;
                key.trim().eq_ignore_ascii_case("for").then(|| parse_node(value.trim().trim_matches('"')))
            })
        })
        .collect();
    Some(hops)
}

/// Every address of every `X-Forwarded-For` header, in order; `None` without the header.
fn x_forwarded_for(headers: &HeaderMap) -> Option<Vec<Option<IpAddr>>> {
    let mut values = headers.get_all("x-forwarded-for").iter().peekable();
    values.peek()?;
    Some(values.flat_map(|v| v.to_str().unwrap_or("").split(',')).map(|hop| parse_node(hop.trim())).collect())
}

/// `1.2.3.4`, `1.2.3.4:80`, `[::1]`, `[::1]:80` or `::1`.
fn parse_node(node: &str) -> Option<IpAddr> {
    if let Ok(addr) = node.parse::<IpAddr>() {
        return Some(addr);
    }
    if let Ok(with_port) = node.parse::<SocketAddr>() {
        return Some(with_port.ip());
    }
    node.strip_prefix('[')?.strip_suffix(']')?.parse().ok()
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn proxies(nets: &[&str]) -> TrustedProxies {
        TrustedProxies::new(&nets.iter().map(|n| n.parse().unwrap()).collect::<Vec<_>>())
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.append(*name, HeaderValue::from_str(value).unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn headers_from_an_untrusted_peer_are_ignored() {
        let p = proxies(&["10.0.0.0/8"]);
        let spoofed = headers(&[("x-forwarded-for", "1.1.1.1"), ("forwarded", "for=2.2.2.2")]);
        assert_eq!(p.client_addr(ip("203.0.113.9"), &spoofed), ip("203.0.113.9"));
        assert_eq!(TrustedProxies::default().client_addr(ip("10.0.0.1"), &spoofed), ip("10.0.0.1"));
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        let p = proxies(&["10.0.0.0/8", "192.168.1.1"]);
        // The client may write any left part; only what trusted proxies appended counts.
        let h = headers(&[("x-forwarded-for", "6.6.6.6, 198.51.100.7"), ("x-forwarded-for", "10.1.2.3")]);
        assert_eq!(p.client_addr(ip("192.168.1.1"), &h), ip("198.51.100.7"));
        assert_eq!(p.client_addr(ip("10.0.0.1"), &headers(&[])), ip("10.0.0.1"), "no header: the proxy");
        let all_trusted = headers(&[("x-forwarded-for", "10.9.9.9, 10.8.8.8")]);
        assert_eq!(p.client_addr(ip("10.0.0.1"), &all_trusted), ip("10.9.9.9"));
        let garbage = headers(&[("x-forwarded-for", "nonsense, 10.8.8.8")]);
        assert_eq!(p.client_addr(ip("10.0.0.1"), &garbage), ip("10.8.8.8"));
    }

    #[test]
    fn forwarded_wins_over_x_forwarded_for_and_takes_ports_and_brackets() {
        let p = proxies(&["127.0.0.1"]);
        let h = headers(&[
            ("forwarded", r#"for=192.0.2.60;proto=http, For="[2001:db8:cafe::17]:4711""#),
            ("x-forwarded-for", "1.1.1.1"),
        ]);
        assert_eq!(p.client_addr(ip("127.0.0.1"), &h), ip("2001:db8:cafe::17"));
        let hidden = headers(&[("forwarded", "for=_hidden")]);
        assert_eq!(p.client_addr(ip("127.0.0.1"), &hidden), ip("127.0.0.1"));
        let with_port = headers(&[("forwarded", "for=\"198.51.100.1:5000\"")]);
        assert_eq!(p.client_addr(ip("127.0.0.1"), &with_port), ip("198.51.100.1"));
    }

    #[test]
    fn ipv4_mapped_peers_count_as_ipv4() {
        let p = proxies(&["127.0.0.1/32"]);
        let h = headers(&[("x-forwarded-for", "::ffff:198.51.100.2")]);
        assert_eq!(p.client_addr(ip("::ffff:127.0.0.1"), &h), ip("198.51.100.2"));
    }

    #[test]
    fn proxy_entries_parse_as_networks_or_addresses() {
        assert!("10.0.0.0/8".parse::<ProxyNet>().is_ok());
        assert!("::1".parse::<ProxyNet>().is_ok());
        assert!(" 192.168.0.1 ".parse::<ProxyNet>().is_ok());
        assert!("10.0.0.0/33".parse::<ProxyNet>().is_err());
        assert!("nginx".parse::<ProxyNet>().is_err());
    }
}
