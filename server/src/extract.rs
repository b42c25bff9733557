//! Request parsing that answers in the API's JSON error shape: query parameters (named in every
//! error), and request bodies ([`RequestBody`]) read whole, as JSON or as streams, under the body
//! limit.

use axum::body::Body;
use axum::extract::{FromRequest, FromRequestParts, Request};
use std::borrow::Cow;
use std::ops::Range;

use axum::http::header;
use axum::http::request::Parts;
use axum::http::uri::PathAndQuery;
use bytes::Bytes;
use fs_core::{ByteStream, Error, ErrorKind, Result};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::state::AppState;

/// The query string's parameters. The query stays as it arrived (a shared slice of the request's
/// URI); it is split into pairs once, and a value is decoded when asked for — most need no
/// decoding and are handed out borrowed. This runs on every request.
#[derive(Debug, Default)]
pub struct Params {
    query: Option<PathAndQuery>,
    /// Each pair's key and value as byte ranges of the query string.
    pairs: Vec<(Range<usize>, Range<usize>)>,
}

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        Ok(Params::new(parts.uri.path_and_query().cloned()))
    }
}

/// The request's `Range` header, when it is text: the one header a read looks at (cloning the
/// whole header map for it cost more than the read).
#[derive(Debug, Default)]
pub struct RangeHeader(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for RangeHeader {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let range = parts.headers.get(header::RANGE);
        Ok(RangeHeader(
            range.and_then(|v| v.to_str().ok()).map(str::to_string),
        ))
    }
}

/// The `{...}` segments of a route (`/handles/{id}/...`), decoded; one that is not UTF-8 is a
/// JSON 400 like every other bad parameter (axum's own rejection is plain text).
#[derive(Debug)]
pub struct PathParam<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for PathParam<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(segment)) => Ok(PathParam(segment)),
            Err(e) => {
                Err(Error::invalid_argument(format!("invalid URL: {}", e.body_text())).into())
            }
        }
    }
}

impl Params {
    fn new(query: Option<PathAndQuery>) -> Params {
        let mut pairs = Vec::new();
        if let Some(q) = query.as_ref().and_then(PathAndQuery::query) {
            let mut start = 0;
            for pair in q.split('&') {
                let end = start + pair.len();
                if !pair.is_empty() {
                    let eq = pair.find('=').map_or(end, |i| start + i);
                    pairs.push((start..eq, (eq + 1).min(end)..end));
                }
                start = end + 1;
            }
        }
        Params { query, pairs }
    }

    /// The parameters of `query` (the part of a URI after `?`).
    pub fn parse(query: &str) -> Params {
        Params::new(format!("/?{query}").parse().ok())
    }

    /// The value of `name` (the first one, when repeated), percent- and `+`-decoded as an
    /// `application/x-www-form-urlencoded` query (bytes that are not UTF-8 become U+FFFD, as in
    /// every form decoder).
    pub fn get(&self, name: &str) -> Option<Cow<'_, str>> {
        let query = self.query.as_ref()?.query()?;
        self.pairs.iter().find_map(|(key, value)| {
            let key = &query[key.clone()];
            // A key with nothing to decode (nearly all) is compared as it is.
            let matches = if key.bytes().any(|b| b == b'%' || b == b'+') {
                form_decode(key) == name
            } else {
                key == name
            };
            matches.then(|| form_decode(&query[value.clone()]))
        })
    }

    /// The normalized `path` parameter.
    ///
    /// # Errors
    /// `InvalidArgument` when it is missing (or empty) or malformed.
    pub fn path(&self) -> Result<Cow<'_, str>> {
        match self.get("path") {
            Some(Cow::Borrowed(p)) if !p.is_empty() => fs_core::path::normalized(p),
            Some(Cow::Owned(p)) if !p.is_empty() => fs_core::path::normalize(&p).map(Cow::Owned),
            _ => Err(Error::invalid_argument("path parameter is required")),
        }
    }

    /// The normalized `path` parameter, `/` when absent.
    pub fn path_or_root(&self) -> Result<String> {
        fs_core::path::normalize(self.get("path").as_deref().unwrap_or("/"))
    }

    /// A non-negative integer parameter.
    ///
    /// # Errors
    /// `InvalidArgument` naming the parameter when it is not a non-negative integer.
    pub fn u64(&self, name: &str) -> Result<Option<u64>> {
        self.get(name)
            .map(|v| {
                v.trim().parse::<u64>().map_err(|_| {
                    Error::invalid_argument(format!(
                        "invalid {name} parameter: '{v}' is not a non-negative integer"
                    ))
                })
            })
            .transpose()
    }

    /// The `size` parameter of reads: absent or negative means "to the end"; any size up to
    /// 2^64-1 is a valid bound.
    ///
    /// # Errors
    /// `InvalidArgument` when it is not an integer.
    pub fn read_size(&self) -> Result<Option<u64>> {
        match self.get("size") {
            None => Ok(None),
            Some(v) => match v.trim().parse::<i128>() {
                Ok(n) if n < 0 => Ok(None),
                Ok(n) => Ok(Some(u64::try_from(n).unwrap_or(u64::MAX))),
                Err(_) => Err(Error::invalid_argument(format!(
                    "invalid size parameter: '{v}' is not an integer"
                ))),
            },
        }
    }

    /// A boolean flag parameter (`true`/`1`/`yes`).
    pub fn flag(&self, name: &str) -> bool {
        matches!(self.get(name), Some(v) if v.eq_ignore_ascii_case("true") || v == "1" || v.eq_ignore_ascii_case("yes"))
    }
}

/// One key or value of a form-encoded query, decoded: `+` is a space, `%XX` a byte. Borrowed when
/// there is nothing to decode (the common case), which is what makes [`Params::get`] cheap.
fn form_decode(text: &str) -> Cow<'_, str> {
    if !text.bytes().any(|b| b == b'%' || b == b'+') {
        return Cow::Borrowed(text);
    }
    let spaced = text.replace('+', " ");
    Cow::Owned(
        percent_encoding::percent_decode_str(&spaced)
            .decode_utf8_lossy()
            .into_owned(),
    )
}

/// Parses a permission mode given as an octal string (`755`, `0755`, `0o755`).
///
/// # Errors
/// `InvalidArgument` naming `field`.
pub fn parse_octal_mode(v: &str, field: &str) -> Result<u32> {
    let t = v.trim();
    let digits = t
        .strip_prefix("0o")
        .or_else(|| t.strip_prefix("0O"))
        .unwrap_or(t);
    match u32::from_str_radix(digits, 8) {
        Ok(m) if m <= 0o7777 => Ok(m),
        _ => Err(Error::invalid_argument(format!(
            "invalid {field} parameter: '{v}' is not an octal mode like 755"
        ))),
    }
}

/// A request body, with what its headers declare about it, under the server's body limit
/// (`server.max_request_body_bytes`). Routes take this instead of the whole header map.
#[derive(Debug)]
pub struct RequestBody {
    body: Body,
    /// The `Content-Length`, when it is a number.
    declared: Option<u64>,
    /// Whether the `Content-Type` says JSON.
    json: bool,
    limit: u64,
}

impl FromRequest<AppState> for RequestBody {
    type Rejection = std::convert::Infallible;

    async fn from_request(req: Request, st: &AppState) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        let text = |name| parts.headers.get(name).and_then(|v| v.to_str().ok());
        Ok(RequestBody {
            declared: text(header::CONTENT_LENGTH).and_then(|v| v.parse().ok()),
            json: text(header::CONTENT_TYPE).is_some_and(|ct| ct.contains("application/json")),
            body,
            limit: st.max_body,
        })
    }
}

impl RequestBody {
    /// Whether the `Content-Type` says JSON.
    pub fn is_json(&self) -> bool {
        self.json
    }

    /// The largest body accepted.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// The body as a chunk stream that fails with `PayloadTooLarge` once more than the limit has
    /// arrived, so streaming plugins need not count.
    ///
    /// # Errors
    /// `PayloadTooLarge` at once when the declared `Content-Length` is over the limit.
    pub fn stream(self) -> Result<ByteStream> {
        if self.declared.is_some_and(|n| n > self.limit) {
            return Err(too_large(self.limit));
        }
        Ok(body_stream(self.body, self.limit))
    }

    /// The whole body.
    ///
    /// # Errors
    /// `PayloadTooLarge` (the AGFS message); `InvalidArgument` when the body cannot be read.
    pub async fn bytes(self) -> Result<Bytes> {
        let limit = self.limit;
        fs_core::collect_stream(self.stream()?, limit).await
    }

    /// The body parsed as JSON into `T`.
    ///
    /// # Errors
    /// `PayloadTooLarge`; `InvalidArgument` `invalid request body: ...` for empty or malformed JSON.
    pub async fn json<T: DeserializeOwned>(self) -> Result<T> {
        let bytes = self.bytes().await?;
        serde_json::from_slice(&bytes)
            .map_err(|e| Error::invalid_argument(format!("invalid request body: {e}")))
    }
}

/// A body that could not be read: 408 when the client stopped sending (the connection layer's
/// body timeout), 400 for anything else (a malformed chunked encoding, a reset).
fn body_error(e: axum::Error) -> Error {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(s) = source {
        if s.is::<crate::serve::BodyTimedOut>() {
            return Error::new(
                ErrorKind::RequestTimeout,
                "request timed out: the client sent no byte of its body for server.body_timeout",
            );
        }
        source = s.source();
    }
    Error::invalid_argument(format!("failed to read request body: {e}"))
}

fn too_large(limit: u64) -> Error {
    Error::new(
        ErrorKind::PayloadTooLarge,
        format!("request body exceeds maximum size of {limit} bytes"),
    )
}

fn body_stream(body: Body, limit: u64) -> ByteStream {
    let mut seen: u64 = 0;
    Box::pin(body.into_data_stream().map(move |chunk| {
        let chunk = chunk.map_err(body_error)?;
        seen += chunk.len() as u64;
        if seen > limit {
            Err(too_large(limit))
        } else {
            Ok(chunk)
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_pairs_decode_percent_and_plus() {
        let p = Params::parse("path=/memfs/a%20b+c%23%26%3F&offset=3&path=/second&flag&x=%FF");
        assert_eq!(p.get("path").as_deref(), Some("/memfs/a b c#&?"));
        assert_eq!(p.u64("offset").unwrap(), Some(3));
        assert_eq!(p.get("flag").as_deref(), Some(""));
        assert_eq!(p.get("x").as_deref(), Some("\u{FFFD}"));
        assert_eq!(p.get("missing"), None);
        assert_eq!(Params::parse("").get("path"), None);
        let p = Params::parse("&a=1&&b&c=&=d&a=2");
        assert_eq!(p.get("a").as_deref(), Some("1"));
        assert_eq!(p.get("b").as_deref(), Some(""));
        assert_eq!(p.get("c").as_deref(), Some(""));
        assert_eq!(p.get("").as_deref(), Some("d"));
    }

    #[test]
    fn octal_modes_parse_in_every_spelling() {
        assert_eq!(parse_octal_mode("755", "mode").unwrap(), 0o755);
        assert_eq!(parse_octal_mode("0644", "mode").unwrap(), 0o644);
        assert_eq!(parse_octal_mode("0o700", "mode").unwrap(), 0o700);
        let e = parse_octal_mode("9", "mode").unwrap_err().to_string();
        assert!(e.contains("invalid mode parameter"), "{e}");
        assert!(parse_octal_mode("77777", "mode").is_err());
    }
}
