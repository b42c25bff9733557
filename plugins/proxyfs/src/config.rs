//! proxyfs's config: the remote's base URL (AGFS's form with or without `/api/v1`, credentials
//! in it taken out), the remote directory served as the mount root, and the timeout.

use std::fmt;
use std::time::Duration;

use fs_core::config::Key;
use fs_core::{Error, Result};
use serde_json::Value;

/// The timeout when the config names none.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

fs_core::config_keys! {
    pub(crate) KEYS;
    BASE_URL: &'static str = Key::required(
        "base_url",
        "the remote server: `http://host:port`, with or without `/api/v1` (AGFS's form) and trailing slash; a path prefix (a server behind a reverse proxy) is kept. `http` or `https`. `http://user:password@host:port` sends HTTP basic auth with every request (for a remote behind an authenticating proxy); the credentials never appear in messages, `/mounts` or the status file",
    )
    .live();
    REMOTE_PATH: &'static str = Key::optional(
        "remote_path",
        "/",
        "the remote directory served as the mount root (AGFS's sample config names this key but AGFS rejects it; pfs implements it)",
    );
    TIMEOUT: Duration = Key::optional(
        "timeout",
        DEFAULT_TIMEOUT,
        "the longest wait for the remote: to connect, for an answer to begin, and for the next bytes inside a body (a duration such as `500ms` or a number of seconds); more than 0",
    )
    .live();
    TLS_CA: &'static str = Key::unset(
        "tls_ca",
        "`https`: a PEM file of CA certificates to trust besides the system's store and the built-in web roots (a private CA); a file without a certificate is a 400 at mount",
    )
    .live();
    TLS_SKIP_VERIFY: bool = Key::optional(
        "tls_skip_verify",
        false,
        "`https`: accept any certificate and name (encrypted, not authenticated)",
    )
    .live();
}

/// How an `https` remote's certificate is checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsSettings {
    /// PEM text of extra CA certificates (read at validation, so a bad file fails the mount).
    pub ca_pem: Option<Vec<u8>>,
    /// Accept any certificate and name.
    pub skip_verify: bool,
}

/// The config, checked and resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The remote API root, e.g. `http://127.0.0.1:8080/api/v1`, without a trailing slash and
    /// without credentials (safe to show in messages).
    pub base: String,
    /// `user:password@` of `base_url`, sent as HTTP basic auth.
    pub credentials: Option<Credentials>,
    /// The normalized remote directory served as the mount root.
    pub root: String,
    /// The longest wait for the remote (connect, answer, silence inside a body); live streams may
    /// stay silent forever once open.
    pub timeout: Duration,
    /// See [`TlsSettings`].
    pub tls: TlsSettings,
    /// This proxy's random id, sent along so that a request that comes back to it is refused
    /// ([`fs_core::hops`]); fresh for every parse, so every mount has its own.
    pub id: std::sync::Arc<str>,
}

impl Settings {
    /// Parses and checks a mount's config (no network access).
    ///
    /// # Errors
    /// `InvalidArgument` for an unknown key, a missing or malformed `base_url`, a malformed
    /// `remote_path`, a zero or malformed `timeout`, or a `tls_ca` that holds no certificate.
    pub fn parse(config: &Value) -> Result<Self> {
        let root = fs_core::path::normalize(&REMOTE_PATH.get(config)?)
            .map_err(|e| Error::invalid_argument(format!("invalid remote_path: {e}")))?;
        let (base, credentials) = take_credentials(&normalize_base_url(&BASE_URL.get(config)?)?)?;
        let timeout = TIMEOUT.get(config)?;
        if timeout.is_zero() {
            return Err(Error::invalid_argument(
                "invalid timeout: must be more than 0",
            ));
        }
        Ok(Settings {
            base,
            credentials,
            root,
            timeout,
            tls: TlsSettings {
                ca_pem: TLS_CA.opt(config)?.as_deref().map(read_ca).transpose()?,
                skip_verify: TLS_SKIP_VERIFY.get(config)?,
            },
            id: fs_core::hops::new_id(),
        })
    }
}

/// Turns AGFS's `base_url` forms into the remote API root: `http://h:p`, `http://h:p/` and
/// `http://h:p/api/v1/` all become `http://h:p/api/v1`; a path prefix (a server behind a
/// reverse proxy) is kept.
///
/// # Errors
/// `InvalidArgument` for a URL that does not parse, has no host, carries a query or fragment,
/// or is neither `http` nor `https`.
pub fn normalize_base_url(raw: &str) -> Result<String> {
    let bad =
        |why: &str| Error::invalid_argument(format!("invalid base_url '{}': {why}", redacted(raw)));
    let mut url = reqwest::Url::parse(raw.trim()).map_err(|e| bad(&e.to_string()))?;
    match url.scheme() {
        "http" | "https" => {}
        other => return Err(bad(&format!("scheme '{other}' is not http or https"))),
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad("a query or fragment is not allowed"));
    }
    let mut path = url.path().trim_end_matches('/').to_string();
    if !path.ends_with("/api/v1") {
        path.push_str("/api/v1");
    }
    url.set_path(&path);
    Ok(url.as_str().trim_end_matches('/').to_string())
}

/// The PEM file `path`, which must hold at least one certificate.
fn read_ca(path: &str) -> Result<Vec<u8>> {
    let pem = std::fs::read(path).map_err(|e| {
        Error::invalid_argument(format!(
            "invalid value for 'tls_ca': cannot read {path}: {e}"
        ))
    })?;
    match reqwest::Certificate::from_pem_bundle(&pem) {
        Ok(certs) if !certs.is_empty() => Ok(pem),
        _ => Err(Error::invalid_argument(format!(
            "invalid value for 'tls_ca': {path} holds no PEM certificate"
        ))),
    }
}

/// Basic-auth credentials taken out of `base_url` (`http://user:password@host`); their `Debug`
/// hides the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user name, percent-decoded.
    pub user: String,
    /// The password, percent-decoded, if the URL has one.
    pub password: Option<String>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .finish()
    }
}

/// Splits a normalized base URL into the URL without `user:password@` and the credentials.
fn take_credentials(base: &str) -> Result<(String, Option<Credentials>)> {
    let mut url = reqwest::Url::parse(base)
        .map_err(|e| Error::invalid_argument(format!("invalid base_url: {e}")))?;
    if url.username().is_empty() && url.password().is_none() {
        return Ok((base.to_string(), None));
    }
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8()
            .map(|c| c.into_owned())
            .map_err(|_| Error::invalid_argument("invalid base_url: credentials are not UTF-8"))
    };
    let credentials = Credentials {
        user: decode(url.username())?,
        password: url.password().map(decode).transpose()?,
    };
    // Cannot fail for an http URL with a host (checked by `normalize_base_url`).
    let _ = url.set_username("");
    let _ = url.set_password(None);
    Ok((
        url.as_str().trim_end_matches('/').to_string(),
        Some(credentials),
    ))
}

/// `raw` fit for a message: a password replaced by `***`; any other value with an `@` that is not
/// a plain `user@` is not shown at all (it may be a password the URL parser did not recognize).
fn redacted(raw: &str) -> String {
    match reqwest::Url::parse(raw.trim()) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("***"));
            url.to_string()
        }
        Ok(url) if !url.username().is_empty() => raw.to_string(),
        _ if raw.contains('@') => "(not shown: it may hold credentials)".to_string(),
        _ => raw.to_string(),
    }
}
