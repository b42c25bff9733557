//! The `server.auth` section: who may call the API ([`crate::auth`]).

use serde::{Deserialize, Serialize};

use fs_core::{Error, Result};

use crate::auth::{Auth, Principal, Role, TokenDigest};

/// The shortest token accepted: a guessable token is no better than none.
pub const MIN_TOKEN_LEN: usize = 16;

/// The `server.auth` section.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// The principals, each with a bearer token and a role. Default none: then only clients on
    /// this machine (loopback) are served, unless `protected_mode` is off.
    pub tokens: Vec<TokenConfig>,
    /// With no token configured, refuse every client that is not on this machine (default true;
    /// Redis's protected mode). Off: anyone who reaches the port may do anything.
    pub protected_mode: bool,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            tokens: Vec::new(),
            protected_mode: true,
        }
    }
}

/// One principal of `server.auth.tokens`: a name, a role, and exactly one source of its token.
/// Serialized (`GET /api/v1/config`) with `token` and `token_sha256` masked as `***`.
#[derive(Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// Shown in logs and refusals (never the token).
    pub name: String,
    /// `read`, `write` or `admin`.
    pub role: Role,
    /// The SHA-256 of the token, 64 hex digits (`printf %s TOKEN | sha256sum`): the config holds
    /// no secret.
    #[serde(default)]
    pub token_sha256: Option<String>,
    /// A file holding the token (one line), read at start and at each reload.
    #[serde(default)]
    pub token_file: Option<String>,
    /// An environment variable holding the token.
    #[serde(default)]
    pub token_env: Option<String>,
    /// The token itself: accepted, with a warning at start (the config file then holds a secret).
    #[serde(default)]
    pub token: Option<String>,
}

impl Serialize for TokenConfig {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("name", &self.name)?;
        m.serialize_entry("role", &self.role)?;
        if self.token_sha256.is_some() {
            m.serialize_entry("token_sha256", "***")?;
        }
        if let Some(f) = &self.token_file {
            m.serialize_entry("token_file", f)?;
        }
        if let Some(v) = &self.token_env {
            m.serialize_entry("token_env", v)?;
        }
        if self.token.is_some() {
            m.serialize_entry("token", "***")?;
        }
        m.end()
    }
}

impl std::fmt::Debug for TokenConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenConfig")
            .field("name", &self.name)
            .field("role", &self.role)
            .field("source", &self.source_kind())
            .finish()
    }
}

impl TokenConfig {
    fn source_kind(&self) -> &'static str {
        match (
            &self.token_sha256,
            &self.token_file,
            &self.token_env,
            &self.token,
        ) {
            (Some(_), ..) => "token_sha256",
            (_, Some(_), ..) => "token_file",
            (_, _, Some(_), _) => "token_env",
            (.., Some(_)) => "token",
            _ => "none",
        }
    }

    /// Checks what can be checked without reading files or the environment: exactly one
    /// source, a well-formed digest, a plain token long enough.
    fn check(&self, at: &str) -> Result<()> {
        let given = [
            self.token_sha256.is_some(),
            self.token_file.is_some(),
            self.token_env.is_some(),
            self.token.is_some(),
        ]
        .iter()
        .filter(|g| **g)
        .count();
        if given != 1 {
            return Err(invalid(format!(
                "{at}: give exactly one of token_sha256, token_file, token_env, token ({given} given)"
            )));
        }
        if let Some(hex) = &self.token_sha256
            && TokenDigest::from_hex(hex.trim()).is_none()
        {
            return Err(invalid(format!("{at}: token_sha256 must be 64 hex digits")));
        }
        if let Some(t) = &self.token {
            check_token(t, at)?;
        }
        Ok(())
    }

    /// The digest of this principal's token, from whichever source the config names (token
    /// files and variables are read now).
    fn digest(&self, at: &str) -> Result<TokenDigest> {
        self.check(at)?;
        if let Some(hex) = &self.token_sha256 {
            return TokenDigest::from_hex(hex.trim())
                .ok_or_else(|| invalid(format!("{at}: token_sha256 must be 64 hex digits")));
        }
        let token = if let Some(path) = &self.token_file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| invalid(format!("{at}: cannot read token_file {path}: {e}")))?;
            text.trim_end_matches(['\n', '\r']).to_string()
        } else if let Some(var) = &self.token_env {
            std::env::var(var).map_err(|_| {
                invalid(format!(
                    "{at}: the environment variable {var} (token_env) is not set"
                ))
            })?
        } else {
            self.token.clone().unwrap_or_default()
        };
        check_token(&token, at)?;
        Ok(TokenDigest::of(token.as_bytes()))
    }
}

fn check_token(token: &str, at: &str) -> Result<()> {
    if token.len() < MIN_TOKEN_LEN || token.chars().any(char::is_whitespace) {
        return Err(invalid(format!(
            "{at}: a token must be at least {MIN_TOKEN_LEN} characters without spaces"
        )));
    }
    Ok(())
}

fn invalid(message: String) -> Error {
    Error::invalid_argument(format!("invalid config: {message}"))
}

impl AuthConfig {
    /// Checks the section without reading token files or variables (they may not exist where
    /// a config is only read, and are read at start and at each reload): names present and
    /// unique, one source each, well-formed digests, plain tokens long enough.
    ///
    /// # Errors
    /// `InvalidArgument` naming the entry.
    pub fn check(&self) -> Result<()> {
        for (i, t) in self.tokens.iter().enumerate() {
            let at = format!("server.auth.tokens[{i}] ({})", t.name);
            if t.name.trim().is_empty() {
                return Err(invalid(format!(
                    "server.auth.tokens[{i}]: a principal needs a name"
                )));
            }
            if self.tokens[..i].iter().any(|o| o.name == t.name) {
                return Err(invalid(format!("{at}: two principals have this name")));
            }
            t.check(&at)?;
        }
        Ok(())
    }

    /// The principals with their token digests, checked: names unique and non-empty, every
    /// token from exactly one source, at least [`MIN_TOKEN_LEN`] long, no two the same. Token
    /// files and variables are read now.
    ///
    /// # Errors
    /// `InvalidArgument` naming the entry (by position and name, never its token).
    pub fn build(&self) -> Result<Auth> {
        self.check()?;
        let mut principals: Vec<(TokenDigest, Principal)> = Vec::new();
        for (i, t) in self.tokens.iter().enumerate() {
            let at = format!("server.auth.tokens[{i}] ({})", t.name);
            let digest = t.digest(&at)?;
            if let Some((_, other)) = principals.iter().find(|(d, _)| *d == digest) {
                return Err(invalid(format!(
                    "{at}: the same token as {}; each principal needs its own",
                    other.name
                )));
            }
            principals.push((
                digest,
                Principal {
                    name: t.name.clone(),
                    role: t.role,
                },
            ));
        }
        Ok(Auth::new(principals, self.protected_mode))
    }

    /// Principals whose token is written in the config itself (warned about at start).
    pub fn plain_tokens(&self) -> Vec<&str> {
        self.tokens
            .iter()
            .filter(|t| t.token.is_some())
            .map(|t| t.name.as_str())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn auth(yaml: &str) -> Result<Auth> {
        Config::parse(&format!("server:\n  auth:\n{yaml}"))?
            .server
            .auth
            .build()
    }

    #[test]
    fn every_token_source_works_and_bad_entries_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tok");
        std::fs::write(&file, "file-token-0123456789\n").unwrap();
        let a = auth(&format!(
            "    tokens:\n      - {{name: h, role: read, token_sha256: '{}'}}\n      - {{name: f, role: write, token_file: '{}'}}\n      - {{name: p, role: admin, token: plain-token-0123456789}}\n",
            TokenDigest::of(b"hashed-token-0123456789").hex(),
            file.display()
        ))
        .unwrap();
        assert_eq!(a.principal(b"hashed-token-0123456789").unwrap().name, "h");
        assert_eq!(
            a.principal(b"file-token-0123456789").unwrap().role,
            Role::Write
        );
        assert_eq!(
            a.principal(b"plain-token-0123456789").unwrap().role,
            Role::Admin
        );
        assert!(a.principal(b"plain-token-012345678").is_none());

        for (entry, says) in [
            ("{name: a, role: read}", "exactly one of"),
            (
                "{name: a, role: read, token: x, token_env: Y}",
                "exactly one of",
            ),
            ("{name: a, role: read, token: short}", "at least 16"),
            ("{name: a, role: read, token_sha256: abc}", "64 hex digits"),
            (
                "{name: a, role: read, token_env: PFS_TEST_UNSET_VARIABLE_X}",
                "is not set",
            ),
            (
                "{name: a, role: read, token_file: /nonexistent/tok}",
                "cannot read token_file",
            ),
            (
                "{name: a, role: root, token: plain-token-0123456789}",
                "root",
            ),
            (
                "{name: '', role: read, token: plain-token-0123456789}",
                "needs a name",
            ),
        ] {
            let e = auth(&format!("    tokens: [{entry}]\n"))
                .unwrap_err()
                .to_string();
            assert!(e.contains(says), "{entry}: {e}");
            assert!(!e.contains("plain-token-0123456789"), "{e}");
        }
        let e = auth("    tokens: [{name: a, role: read, token: plain-token-0123456789}, {name: a, role: read, token: other-token-0123456789}]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("two principals"), "{e}");
        let e = auth("    tokens: [{name: a, role: read, token: plain-token-0123456789}, {name: b, role: read, token: plain-token-0123456789}]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("same token as a"), "{e}");
    }

    #[test]
    fn debug_never_shows_a_token() {
        let c = Config::parse(
            "server:\n  auth:\n    tokens: [{name: a, role: read, token: plain-token-0123456789}]\n",
        )
        .unwrap();
        let shown = format!("{:?}", c.server.auth);
        assert!(!shown.contains("plain-token"), "{shown}");
        assert!(shown.contains("source: \"token\""), "{shown}");
    }
}
