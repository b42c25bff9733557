//! Request parsing that answers in the API's JSON error shape: query parameters (named in every
//! error), JSON bodies under the body limit, and raw bodies as streams that enforce the limit.

use axum::body::Body;
use axum::extract::{FromRequestParts, Query};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use bytes::Bytes;
use fs_core::{ByteStream, Error, ErrorKind, Result};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// The query string's parameters, decoded; a malformed query is a JSON 400. A short list, not a
/// map: requests carry a handful of parameters and this sits on every request's path.
#[derive(Debug, Default)]
pub struct Params(pub Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Query(pairs) = Query::<Vec<(String, String)>>::from_request_parts(parts, state)
            .await
            .map_err(|e| Error::invalid_argument(format!("invalid query string: {e}")))?;
        Ok(Params(pairs))
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
    /// The value of `name` (the first one, when repeated).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The normalized `path` parameter.
    ///
    /// # Errors
    /// `InvalidArgument` when it is missing (or empty) or malformed.
    pub fn path(&self) -> Result<String> {
        match self.get("path") {
            Some(p) if !p.is_empty() => fs_core::path::normalize(p),
            _ => Err(Error::invalid_argument("path parameter is required")),
        }
    }

    /// The normalized `path` parameter, `/` when absent.
    pub fn path_or_root(&self) -> Result<String> {
        fs_core::path::normalize(self.get("path").unwrap_or("/"))
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

/// Reads a whole body of at most `limit` bytes.
///
/// # Errors
/// `PayloadTooLarge` past the limit (the AGFS message); `InvalidArgument` when the body cannot be read.
pub async fn read_body(headers: &HeaderMap, body: Body, limit: u64) -> Result<Bytes> {
    check_content_length(headers, limit)?;
    fs_core::collect_stream(body_stream(body, limit), limit).await
}

/// Parses a JSON body of at most `limit` bytes into `T`.
///
/// # Errors
/// `PayloadTooLarge`; `InvalidArgument` `invalid request body: ...` for empty or malformed JSON.
pub async fn json_body<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: Body,
    limit: u64,
) -> Result<T> {
    let bytes = read_body(headers, body, limit).await?;
    serde_json::from_slice(&bytes)
        .map_err(|e| Error::invalid_argument(format!("invalid request body: {e}")))
}

/// Fails early when the declared `Content-Length` is over the limit.
///
/// # Errors
/// `PayloadTooLarge`.
pub fn check_content_length(headers: &HeaderMap, limit: u64) -> Result<()> {
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(n) if n > limit => Err(too_large(limit)),
        _ => Ok(()),
    }
}

/// A body that could not be read: 408 when the client stopped sending (the connection layer's
/// body timeout), 400 for anything else (a malformed chunked encoding, a reset).
fn body_error(e: axum::Error) -> Error {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(s) = source {
        if s.is::<tower_http::timeout::TimeoutError>() {
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

/// The body as a chunk stream that fails with `PayloadTooLarge` once more than `limit` bytes have
/// arrived, so streaming plugins need not count.
pub fn body_stream(body: Body, limit: u64) -> ByteStream {
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
    fn octal_modes_parse_in_every_spelling() {
        assert_eq!(parse_octal_mode("755", "mode").unwrap(), 0o755);
        assert_eq!(parse_octal_mode("0644", "mode").unwrap(), 0o644);
        assert_eq!(parse_octal_mode("0o700", "mode").unwrap(), 0o700);
        let e = parse_octal_mode("9", "mode").unwrap_err().to_string();
        assert!(e.contains("invalid mode parameter"), "{e}");
        assert!(parse_octal_mode("77777", "mode").is_err());
    }
}
