//! The client's address, for per-client limits (admin logins today).
//!
//! The address is the connecting peer's (axum's `ConnectInfo` when the server was started by
//! [`crate::serve`]), else on AWS Lambda the API Gateway's `requestContext.http.sourceIp`.
//! Forwarding headers are believed only from `server.trusted_proxies`: while the hop at hand is
//! a trusted proxy, the client is the hop it names — the last entry of `Forwarded` (RFC 7239
//! `for=`), or of `X-Forwarded-For` when there is no `Forwarded` header — walking right to left.
//! An entry that is not an address (`unknown`, an obfuscated `_name`, garbage) stops the walk at
//! the proxy that sent it. With no trusted proxy (the default) the headers are never read, so a
//! client cannot choose its own bucket.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{Extensions, HeaderMap};
use axum::middleware::Next;
use axum::response::Response;
use miroir_core::config::TrustedProxies;

use crate::state::AppState;

/// The client's IP address (see the module docs); `None` when unknown (a router called without
/// a server in front). IPv4-mapped IPv6 addresses are given as IPv4.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientIp(pub Option<IpAddr>);

impl ClientIp {
    /// The client of a request with these extensions and headers, believing the forwarding
    /// headers only from `trusted` proxies.
    pub fn resolve(extensions: &Extensions, headers: &HeaderMap, trusted: &TrustedProxies) -> Self {
        let Some(mut client) = peer(extensions) else {
            return Self(None);
        };
        if trusted.is_empty() || !trusted.contains(client) {
            return Self(Some(client));
        }
        for hop in forwarded_hops(headers).iter().rev() {
            match hop {
                Some(address) => client = address.to_canonical(),
                None => break,
            }
            if !trusted.contains(client) {
                break;
            }
        }
        Self(Some(client))
    }

    /// The key a per-client limit counts under: an IPv4 address as is, an IPv6 address as its
    /// /64 network (`2001:db8:1:2::/64`: one subscriber's usual allocation, so a client cannot
    /// escape a limit by rotating addresses within it). `None` when the address is unknown.
    pub fn limit_key(&self) -> Option<String> {
        self.0.map(|address| match address {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => {
                let bits = u128::from(v6) & (u128::MAX << 64);
                format!("{}/64", Ipv6Addr::from(bits))
            }
        })
    }
}

/// The connecting peer: the TCP peer, else API Gateway's `sourceIp`.
fn peer(extensions: &Extensions) -> Option<IpAddr> {
    let tcp = extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(address)| address.ip());
    let gateway = || match extensions.get::<lambda_http::request::RequestContext>()? {
        lambda_http::request::RequestContext::ApiGatewayV2(context) => {
            context.http.source_ip.as_deref()?.parse::<IpAddr>().ok()
        }
        _ => None,
    };
    tcp.or_else(gateway).map(|ip| ip.to_canonical())
}

/// The hops the forwarding headers name, client first: from every `Forwarded` header's `for=`
/// parameters if there is one, else from `X-Forwarded-For`. `None` for an entry that is not an
/// address.
fn forwarded_hops(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let forwarded: Vec<&str> = headers
        .get_all("forwarded")
        .iter()
        .map(|value| value.to_str().unwrap_or(""))
        .collect();
    if !forwarded.is_empty() {
        return forwarded
            .iter()
            .flat_map(|value| value.split(','))
            .map(|element| {
                element
                    .split(';')
                    .filter_map(|pair| pair.trim().split_once('='))
                    .find(|(name, _)| name.trim().eq_ignore_ascii_case("for"))
                    .and_then(|(_, value)| parse_node(value))
            })
            .collect();
    }
    headers
        .get_all("x-forwarded-for")
        .iter()
        .map(|value| value.to_str().unwrap_or(""))
        .flat_map(|value| value.split(','))
        .map(parse_node)
        .collect()
}

/// An address as a forwarding header writes it: `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1`,
/// `[2001:db8::1]:4711`, optionally in double quotes.
fn parse_node(text: &str) -> Option<IpAddr> {
    let text = text.trim().trim_matches('"');
    if let Ok(address) = text.parse::<IpAddr>() {
        return Some(address);
    }
    if let Ok(address) = text.parse::<SocketAddr>() {
        return Some(address.ip());
    }
    let bracketed = text.strip_prefix('[')?;
    bracketed.split_once(']')?.0.parse::<IpAddr>().ok()
}

/// Middleware: resolves the client once per request and stores it as a request extension, where
/// the [`ClientIp`] extractor finds it.
pub(crate) async fn record(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let client = ClientIp::resolve(
        request.extensions(),
        request.headers(),
        &state.config.server.trusted_proxies,
    );
    request.extensions_mut().insert(client);
    next.run(request).await
}

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    /// The client recorded by the shared layers; without them (a router called directly), the
    /// peer with no proxy trusted.
    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<ClientIp>()
            .copied()
            .unwrap_or_else(|| {
                Self::resolve(
                    &parts.extensions,
                    &parts.headers,
                    &TrustedProxies::default(),
                )
            }))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use axum::http::{HeaderName, HeaderValue};

    use super::*;

    fn from_peer(peer: &str, headers: &[(&str, &str)], trusted: &[&str]) -> Option<IpAddr> {
        let mut extensions = Extensions::new();
        extensions.insert(ConnectInfo(peer.parse::<SocketAddr>().unwrap()));
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        let trusted = TrustedProxies::new(trusted.iter().map(|net| net.parse().unwrap()).collect());
        ClientIp::resolve(&extensions, &map, &trusted).0
    }

    fn ip(text: &str) -> Option<IpAddr> {
        Some(text.parse().unwrap())
    }

    #[test]
    fn without_trusted_proxies_the_headers_are_never_read() {
        let spoofed = [("x-forwarded-for", "1.1.1.1"), ("forwarded", "for=2.2.2.2")];
        assert_eq!(from_peer("10.0.0.5:4000", &spoofed, &[]), ip("10.0.0.5"));
        // A peer outside the trusted networks is the client, whatever it sends.
        assert_eq!(
            from_peer("203.0.113.9:4000", &spoofed, &["10.0.0.0/8"]),
            ip("203.0.113.9")
        );
        assert_eq!(
            from_peer("[::ffff:10.0.0.1]:9", &[], &[]),
            ip("10.0.0.1"),
            "IPv4-mapped peers are IPv4"
        );
    }

    #[test]
    fn trusted_hops_are_walked_right_to_left() {
        let trusted = ["10.0.0.0/8"];
        let chain = [("x-forwarded-for", "6.6.6.6, 198.51.100.7, 10.0.0.3")];
        assert_eq!(
            from_peer("10.0.0.2:80", &chain, &trusted),
            ip("198.51.100.7"),
            "the first untrusted hop from the right is the client; what it claims is ignored"
        );
        let split = [
            ("x-forwarded-for", "198.51.100.7"),
            ("x-forwarded-for", "10.0.0.3:8080"),
        ];
        assert_eq!(
            from_peer("10.0.0.2:80", &split, &trusted),
            ip("198.51.100.7")
        );
        let all_trusted = [("x-forwarded-for", "10.9.9.9")];
        assert_eq!(
            from_peer("10.0.0.2:80", &all_trusted, &trusted),
            ip("10.9.9.9")
        );
        assert_eq!(from_peer("10.0.0.2:80", &[], &trusted), ip("10.0.0.2"));
        let garbage = [("x-forwarded-for", "198.51.100.7, not-an-ip")];
        assert_eq!(
            from_peer("10.0.0.2:80", &garbage, &trusted),
            ip("10.0.0.2"),
            "an unreadable hop stops the walk at the proxy that wrote it"
        );
    }

    #[test]
    fn forwarded_wins_over_x_forwarded_for() {
        let trusted = ["10.0.0.0/8", "fd00::/8"];
        let headers = [
            ("x-forwarded-for", "1.1.1.1"),
            (
                "forwarded",
                r#"for=192.0.2.60;proto=http;by=203.0.113.43, For="[2001:db8:cafe::17]:4711""#,
            ),
        ];
        assert_eq!(
            from_peer("[fd00::1]:80", &headers, &trusted),
            ip("2001:db8:cafe::17")
        );
        let hidden = [("forwarded", "for=192.0.2.60, for=_hidden")];
        assert_eq!(from_peer("10.1.1.1:80", &hidden, &trusted), ip("10.1.1.1"));
    }

    #[test]
    fn ipv6_clients_are_limited_by_their_64() {
        let key = |text: &str| ClientIp(ip(text)).limit_key().unwrap();
        assert_eq!(key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(key("2001:db8:1:2:ffff:1:2:3"), key("2001:db8:1:2::9"));
        assert_ne!(key("2001:db8:1:3::1"), key("2001:db8:1:2::1"));
        assert_eq!(key("192.0.2.1"), "192.0.2.1");
        assert_eq!(ClientIp(None).limit_key(), None);
    }

    #[test]
    fn the_gateway_source_ip_is_the_peer_on_lambda() {
        let mut extensions = Extensions::new();
        assert_eq!(peer(&extensions), None);
        let mut context =
            lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequestContext::default();
        context.http.source_ip = Some("198.51.100.4".to_owned());
        extensions.insert(lambda_http::request::RequestContext::ApiGatewayV2(context));
        assert_eq!(peer(&extensions), ip("198.51.100.4"));
    }
}
