//! Who may call the API: bearer tokens naming principals, each with a role, and protected mode
//! when no principal is configured. Decided once per request, before routing, from the table in
//! [`routes`]. Decision 0028.
//!
//! - **Roles** nest: `read` (GET-like calls: reads, listings, stat, grep, digest, read-only
//!   handles), `write` (also every change to files), `admin` (also mounts, plugins, config).
//! - **No principal configured**: clients on this machine (loopback) may do anything, as with
//!   AGFS; others get 403 with how to configure auth, unless `server.auth.protected_mode` is off.
//! - **Principals configured**: every call but the public ones (`/`, `/api/v1/ready`,
//!   `/api/v1/version`) needs `Authorization: Bearer TOKEN`, loopback included. No or an unknown
//!   token: 401 with `WWW-Authenticate`; a role too low: 403 naming the role needed.
//! - **Audit**: every refusal and every admin call is logged at info under the target `audit`
//!   (peer, method, route path, status, principal name; never a token or a query).

pub mod routes;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use routes::{Need, need};

/// What a principal may do; each role includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads, listings, stat, grep, digest, read-only handles.
    Read,
    /// Also every change to files and directories.
    Write,
    /// Also mounts, plugins and the server's config.
    Admin,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Write => "write",
            Role::Admin => "admin",
        }
    }
}

/// A configured caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Its name in `server.auth.tokens`.
    pub name: String,
    /// What it may do.
    pub role: Role,
}

/// The SHA-256 of a token: what the server keeps and compares, never the token.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenDigest([u8; 32]);

impl std::fmt::Debug for TokenDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenDigest(..)")
    }
}

impl TokenDigest {
    /// The digest of `token`.
    pub fn of(token: &[u8]) -> Self {
        TokenDigest(Sha256::digest(token).into())
    }

    /// A digest written as 64 hex digits.
    pub fn from_hex(hex: &str) -> Option<Self> {
        let bytes = hex.as_bytes();
        if bytes.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, pair) in bytes.chunks(2).enumerate() {
            let digit = |c: u8| (c as char).to_digit(16);
            out[i] = (digit(pair[0])? * 16 + digit(pair[1])?) as u8;
        }
        Some(TokenDigest(out))
    }

    /// The digest as 64 lowercase hex digits.
    pub fn hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// The server's principals and mode, swapped whole by a reload.
#[derive(Debug, Clone)]
pub struct Auth {
    principals: HashMap<TokenDigest, Arc<Principal>>,
    protected_mode: bool,
    /// Set when the auth config could not be loaded: every call but the public ones is refused
    /// with this reason (fail closed).
    broken: Option<String>,
}

impl Auth {
    /// Principals by token digest, and whether protected mode is on.
    pub fn new(principals: Vec<(TokenDigest, Principal)>, protected_mode: bool) -> Self {
        Auth {
            principals: principals
                .into_iter()
                .map(|(d, p)| (d, Arc::new(p)))
                .collect(),
            protected_mode,
            broken: None,
        }
    }

    /// An `Auth` that refuses every non-public call with `why` (the config could not be loaded).
    pub fn refusing(why: String) -> Self {
        Auth {
            principals: HashMap::new(),
            protected_mode: true,
            broken: Some(why),
        }
    }

    /// The principal whose token is `token`.
    pub fn principal(&self, token: &[u8]) -> Option<&Arc<Principal>> {
        self.principals.get(&TokenDigest::of(token))
    }

    /// Whether any principal is configured (then every non-public call needs a token).
    pub fn enabled(&self) -> bool {
        !self.principals.is_empty()
    }

    /// One line for the start log: which mode is in force.
    pub fn describe(&self) -> String {
        if let Some(why) = &self.broken {
            return format!("auth: refusing every call ({why})");
        }
        if self.enabled() {
            let mut names: Vec<String> = self
                .principals
                .values()
                .map(|p| format!("{} ({})", p.name, p.role.as_str()))
                .collect();
            names.sort();
            format!(
                "auth: bearer tokens required; principals {}",
                names.join(", ")
            )
        } else if self.protected_mode {
            "auth: protected mode (no tokens configured: only clients on this machine are served)"
                .into()
        } else {
            "auth: OFF (no tokens and protected_mode: false): anyone who reaches the port may do anything".into()
        }
    }

    /// Decides a request: `Ok` with its principal (`None` when no principal is configured or
    /// the call is public), or the refusal to send.
    pub fn check(
        &self,
        method: &Method,
        path: &str,
        query: Option<&str>,
        headers: &HeaderMap,
        peer: IpAddr,
    ) -> Result<Option<Arc<Principal>>, Box<Response>> {
        // The common case of a local server without tokens: no table lookup.
        let open = self.broken.is_none() && !self.enabled();
        if open && (!self.protected_mode || is_local(peer)) {
            return Ok(None);
        }
        let needed = need(method, path, query).unwrap_or(Need::Role(Role::Read));
        let Some(role) = needed.role() else {
            return Ok(None);
        };
        let denied = |status: u16, who: &str| {
            tracing::info!(target: "audit", %peer, %method, path, status, principal = %who, "audit: refused");
        };
        if let Some(why) = &self.broken {
            denied(503, "-");
            return Err(Box::new(refusal(
                StatusCode::SERVICE_UNAVAILABLE,
                &format!("unavailable: the server's auth config could not be loaded: {why}"),
            )));
        }
        if open {
            denied(403, "-");
            return Err(Box::new(refusal(
                StatusCode::FORBIDDEN,
                &format!(
                    "forbidden: protected mode: this server has no tokens configured, so it serves only clients on its own machine, and {peer} is not one. Configure server.auth.tokens (see the README's Security section) and send 'Authorization: Bearer TOKEN', or set server.auth.protected_mode: false to serve anyone who can reach the port"
                ),
            )));
        }
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, rest) = v.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
            });
        let Some(token) = token else {
            denied(401, "-");
            return Err(Box::new(unauthorized(
                "unauthorized: this call needs 'Authorization: Bearer TOKEN'",
                None,
            )));
        };
        let Some(principal) = self.principal(token.as_bytes()) else {
            denied(401, "(unknown token)");
            return Err(Box::new(unauthorized(
                "unauthorized: the bearer token is not one this server knows",
                Some("invalid_token"),
            )));
        };
        if principal.role < role {
            denied(403, &principal.name);
            return Err(Box::new(refusal(
                StatusCode::FORBIDDEN,
                &format!(
                    "forbidden: {} has the role {}; {method} {path} needs {}",
                    principal.name,
                    principal.role.as_str(),
                    role.as_str()
                ),
            )));
        }
        if role == Role::Admin {
            tracing::info!(target: "audit", %peer, %method, path, principal = %principal.name, "audit: admin call");
        }
        Ok(Some(principal.clone()))
    }
}

/// A peer on this machine: loopback, or an IPv4 loopback written as IPv6.
fn is_local(peer: IpAddr) -> bool {
    match peer {
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        IpAddr::V4(v4) => v4.is_loopback(),
    }
}

fn refusal(status: StatusCode, message: &str) -> Response {
    (status, crate::error::error_body(message)).into_response()
}

fn unauthorized(message: &str, error: Option<&str>) -> Response {
    let mut resp = refusal(StatusCode::UNAUTHORIZED, message);
    let challenge = match error {
        Some(e) => format!("Bearer realm=\"pfs\", error=\"{e}\""),
        None => "Bearer realm=\"pfs\"".to_string(),
    };
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    resp
}

#[cfg(test)]
mod tests;
