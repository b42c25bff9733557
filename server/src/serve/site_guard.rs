//! Requests from web pages the operator did not allow. A page on any site can make the user's
//! browser send requests to `127.0.0.1:8080`: a `text/plain` POST needs no preflight, an `<img>`
//! GET none either (and a queuefs `dequeue` is a GET with an effect), and DNS rebinding gives the
//! page our answers too. Three rules, on headers only:
//!
//! - `Host` must name this machine (an IP literal, `localhost`, `*.localhost`) or a name in
//!   `server.allowed_hosts`: a rebinding page's requests carry its own domain name. No `Host`
//!   (HTTP/1.0 tools) passes; browsers always send one.
//! - A request that can change something (anything but GET, HEAD and OPTIONS) with an `Origin`
//!   must come from this server's own origin or one in `server.allowed_origins`.
//! - A request the browser marks `Sec-Fetch-Site: cross-site` or `same-site` (another site, or
//!   another port of this one) is refused, whatever its method, unless its origin is allowed.
//!
//! Clients that are not browsers send neither `Origin` nor `Sec-Fetch-Site` and are unaffected.

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

const SEC_FETCH_SITE: HeaderName = HeaderName::from_static("sec-fetch-site");

/// The headers the guard reads (the first of each), gathered in the one pass the connection layer
/// makes over a request's headers.
#[derive(Debug, Default, Clone, Copy)]
pub struct SiteHeaders<'a> {
    host: Option<&'a HeaderValue>,
    origin: Option<&'a HeaderValue>,
    fetch_site: Option<&'a HeaderValue>,
}

impl<'a> SiteHeaders<'a> {
    /// Notes one header of the request; only the guard's, and the first of each, are kept.
    pub fn note(&mut self, name: &HeaderName, value: &'a HeaderValue) {
        let slot = if name == header::HOST {
            &mut self.host
        } else if name == header::ORIGIN {
            &mut self.origin
        } else if name == SEC_FETCH_SITE {
            &mut self.fetch_site
        } else {
            return;
        };
        slot.get_or_insert(value);
    }

    /// The guard's headers of a whole header map.
    pub fn of(headers: &'a HeaderMap) -> Self {
        let mut h = SiteHeaders::default();
        for (name, value) in headers {
            h.note(name, value);
        }
        h
    }
}

/// The allowed names and origins (`server.allowed_hosts`, `server.allowed_origins`; `*` allows
/// any).
#[derive(Debug, Clone, Default)]
pub struct SiteGuard {
    hosts: Vec<String>,
    origins: Vec<String>,
}

impl SiteGuard {
    /// A guard allowing this machine's names plus `hosts` and this server's origin plus `origins`.
    pub fn new(hosts: &[String], origins: &[String]) -> Self {
        let lower = |v: &[String]| {
            v.iter()
                .map(|s| s.trim().trim_end_matches('/').to_ascii_lowercase())
                .collect()
        };
        SiteGuard {
            hosts: lower(hosts),
            origins: lower(origins),
        }
    }

    /// `None` when the request may go on, else the 403 to answer. `allowed_host` is the last
    /// `Host` this connection sent that passed: a request with the same one skips that check (a
    /// client sends the same `Host` on every request of a connection; parsing it as an address
    /// was a fifth of the guard's cost), and one that passes is kept there.
    pub fn check(
        &self,
        method: &Method,
        headers: &SiteHeaders<'_>,
        allowed_host: &std::cell::RefCell<Option<Vec<u8>>>,
    ) -> Option<Response> {
        let host = text(headers.host);
        let known = headers
            .host
            .is_some_and(|h| allowed_host.borrow().as_deref() == Some(h.as_bytes()));
        if let Some(host) = host
            && !known
        {
            if !self.host_allowed(host) {
                return Some(refused(format!(
                    "host '{host}' is not allowed: this server answers requests for this machine's addresses and names only (add the name to server.allowed_hosts)"
                )));
            }
            // A copy, not the value: that is a slice of the connection's read buffer.
            *allowed_host.borrow_mut() = Some(host.as_bytes().to_vec());
        }
        let origin = text(headers.origin);
        let origin_ok = |origin: &str| self.origin_allowed(origin, host);
        let mutating = !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
        if mutating
            && let Some(origin) = origin
            && !origin_ok(origin)
        {
            return Some(refused(format!(
                "cross-site request refused: a page from {origin} may not change this server (add the origin to server.allowed_origins to allow it)"
            )));
        }
        let site = text(headers.fetch_site);
        if matches!(site, Some("cross-site" | "same-site")) && !origin.is_some_and(origin_ok) {
            return Some(refused(format!(
                "cross-site request refused: the browser says it comes from another site{} (add the origin to server.allowed_origins to allow it)",
                origin.map_or(String::new(), |o| format!(" ({o})"))
            )));
        }
        None
    }

    /// Whether `host` names this machine or an allowed name; allocates nothing (every request
    /// passes here).
    fn host_allowed(&self, host: &str) -> bool {
        let name = host_name(host).trim_end_matches('.');
        // `*.localhost`, compared as bytes (a slice of a `str` could split a character).
        let local_suffix = name
            .len()
            .checked_sub(".localhost".len())
            .is_some_and(|at| name.as_bytes()[at..].eq_ignore_ascii_case(b".localhost"));
        name.parse::<std::net::IpAddr>().is_ok()
            || name.eq_ignore_ascii_case("localhost")
            || local_suffix
            || self
                .hosts
                .iter()
                .any(|h| h == "*" || h.eq_ignore_ascii_case(name))
    }

    fn origin_allowed(&self, origin: &str, host: Option<&str>) -> bool {
        let origin = origin.trim().trim_end_matches('/').to_ascii_lowercase();
        if self.origins.iter().any(|o| o == "*" || *o == origin) {
            return true;
        }
        // Same origin: the page was served by this server (plain HTTP), under the name the
        // request uses.
        let (Some(("http", authority)), Some(host)) = (origin.split_once("://"), host) else {
            return false;
        };
        with_port("http", authority) == with_port("http", &host.to_ascii_lowercase())
    }
}

/// The name and the port of an authority: `[::1]:8080` → (`::1`, `8080`), `localhost` →
/// (`localhost`, none).
fn split_port(authority: &str) -> (&str, Option<&str>) {
    if let Some(rest) = authority.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((ip, after)) => (ip, after.strip_prefix(':')),
            None => (rest, None),
        };
    }
    match authority.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') => (name, Some(port)),
        _ => (authority, None),
    }
}

/// The host part of a `Host` value.
fn host_name(host: &str) -> &str {
    split_port(host).0
}

/// `authority` with its scheme's default port made explicit, for comparing origins.
fn with_port(scheme: &str, authority: &str) -> String {
    let (name, port) = split_port(authority);
    let port = port.unwrap_or(if scheme == "https" { "443" } else { "80" });
    format!("{name}:{port}")
}

/// A header's value when it is visible ASCII.
fn text(value: Option<&HeaderValue>) -> Option<&str> {
    value.and_then(|v| v.to_str().ok())
}

fn refused(message: String) -> Response {
    (StatusCode::FORBIDDEN, crate::error::error_body(&message)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    fn allowed(g: &SiteGuard, m: Method, pairs: &[(&'static str, &str)]) -> bool {
        g.check(&m, &SiteHeaders::of(&headers(pairs)), &Default::default())
            .is_none()
    }

    #[test]
    fn a_connection_remembers_only_the_host_that_passed() {
        let g = SiteGuard::new(&[], &[]);
        let conn = std::cell::RefCell::default();
        let check = |host: &str| {
            g.check(
                &Method::GET,
                &SiteHeaders::of(&headers(&[("host", host)])),
                &conn,
            )
            .is_none()
        };
        assert!(check("127.0.0.1:8080"));
        assert!(
            check("127.0.0.1:8080"),
            "the same host again, from the cache"
        );
        assert!(!check("evil.example"), "another host is checked");
        assert!(!check("evil.example"), "a refused host is never remembered");
        assert!(check("localhost:8080"));
        assert_eq!(conn.borrow().as_deref(), Some(&b"localhost:8080"[..]));
    }

    #[test]
    fn hosts_this_machine_answers_to() {
        let g = SiteGuard::new(&["pfs.internal".into()], &[]);
        for host in [
            "127.0.0.1:8080",
            "localhost:8080",
            "LOCALHOST",
            "app.localhost:1",
            "[::1]:8080",
            "10.1.2.3:8080",
            "pfs.internal:8080",
            "PFS.Internal",
            "App.LocalHost",
            "localhost.",
        ] {
            assert!(allowed(&g, Method::GET, &[("host", host)]), "{host}");
        }
        for host in [
            "evil.example",
            "evil.example:8080",
            "localhost.evil.example",
            "127.0.0.1.nip.io",
            "xlocalhost",
            "pfs.internal.evil",
        ] {
            assert!(!allowed(&g, Method::GET, &[("host", host)]), "{host}");
        }
        assert!(allowed(&g, Method::GET, &[]), "no Host header (HTTP/1.0)");
        let any = SiteGuard::new(&["*".into()], &[]);
        assert!(allowed(&any, Method::GET, &[("host", "evil.example")]));
    }

    #[test]
    fn changes_need_this_servers_origin_or_an_allowed_one() {
        let g = SiteGuard::new(&[], &["http://localhost:3000".into()]);
        let host = ("host", "127.0.0.1:8080");
        assert!(
            allowed(&g, Method::POST, &[host]),
            "no Origin: not a browser"
        );
        assert!(allowed(
            &g,
            Method::PUT,
            &[host, ("origin", "http://127.0.0.1:8080")]
        ));
        assert!(allowed(
            &g,
            Method::PUT,
            &[host, ("origin", "http://localhost:3000")]
        ));
        for origin in [
            "http://evil.example",
            "null",
            "http://127.0.0.1:9999",
            "https://127.0.0.1:8080",
        ] {
            assert!(
                !allowed(&g, Method::POST, &[host, ("origin", origin)]),
                "{origin}"
            );
        }
        // Reads from another origin are the browser's to block (no CORS headers are sent).
        assert!(allowed(
            &g,
            Method::GET,
            &[host, ("origin", "http://evil.example")]
        ));
        let default_port = ("host", "localhost");
        assert!(allowed(
            &g,
            Method::DELETE,
            &[default_port, ("origin", "http://localhost:80")]
        ));
    }

    #[test]
    fn requests_the_browser_marks_cross_site_are_refused_whatever_the_method() {
        let g = SiteGuard::new(&[], &["http://localhost:3000".into()]);
        let host = ("host", "127.0.0.1:8080");
        for site in ["cross-site", "same-site"] {
            assert!(
                !allowed(&g, Method::GET, &[host, ("sec-fetch-site", site)]),
                "{site}"
            );
        }
        for site in ["same-origin", "none"] {
            assert!(
                allowed(&g, Method::GET, &[host, ("sec-fetch-site", site)]),
                "{site}"
            );
        }
        let from_allowed = [
            host,
            ("sec-fetch-site", "same-site"),
            ("origin", "http://localhost:3000"),
        ];
        assert!(allowed(&g, Method::POST, &from_allowed));
    }
}
