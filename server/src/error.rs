//! Errors become HTTP responses here, and only here: one table from [`ErrorKind`] to status, and
//! the AGFS body `{"error": "<message>"}`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use fs_core::{Error, ErrorKind};

/// An error on its way to the client.
#[derive(Debug)]
pub enum ApiError {
    /// A filesystem or request error; its kind decides the status.
    Fs(Error),
    /// A `Range` header no byte of the file satisfies (416); carries the file size.
    RangeNotSatisfiable(u64),
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError::Fs(e)
    }
}

/// The status of each kind. AGFS answers 500 for `NotADirectory` (and for most plugin errors); pfs
/// answers 400 for `NotADirectory` and `IsADirectory` and maps every kind as DECISIONS.md lists,
/// plus 408 for a client that stopped sending its body and 508 for a request that looped back
/// through proxies.
pub fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::PermissionDenied => StatusCode::FORBIDDEN,
        ErrorKind::InvalidArgument | ErrorKind::NotADirectory | ErrorKind::IsADirectory => {
            StatusCode::BAD_REQUEST
        }
        ErrorKind::AlreadyExists | ErrorKind::DirectoryNotEmpty => StatusCode::CONFLICT,
        ErrorKind::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorKind::Unsupported => StatusCode::NOT_IMPLEMENTED,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Timeout => StatusCode::GATEWAY_TIMEOUT,
        ErrorKind::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
        ErrorKind::LoopDetected => StatusCode::LOOP_DETECTED,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The JSON error body every error response carries.
pub fn error_body(message: &str) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "error": message }))
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let err = match self {
            ApiError::Fs(e) => e,
            ApiError::RangeNotSatisfiable(size) => {
                let mut resp = (
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    error_body(&format!("range not satisfiable: the file has {size} bytes")),
                )
                    .into_response();
                let value =
                    HeaderValue::from_str(&format!("bytes */{size}")).expect("ascii header");
                resp.headers_mut().insert(header::CONTENT_RANGE, value);
                return resp;
            }
        };
        let status = status_of(err.kind());
        if status.is_server_error() && status != StatusCode::NOT_IMPLEMENTED {
            let mut chain = String::new();
            let mut src = std::error::Error::source(&err);
            while let Some(s) = src {
                chain.push_str(": ");
                chain.push_str(&s.to_string());
                src = s.source();
            }
            tracing::error!(status = status.as_u16(), "{err}{chain}");
        }
        let mut resp = (status, error_body(&err.to_string())).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            // A backend (or a plugin process) that is down for now: when to ask again.
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        resp
    }
}

/// Handler result.
pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn every_kind_maps_to_its_status_with_a_json_body() {
        let expected = [
            (ErrorKind::NotFound, 404),
            (ErrorKind::AlreadyExists, 409),
            (ErrorKind::PermissionDenied, 403),
            (ErrorKind::InvalidArgument, 400),
            (ErrorKind::NotADirectory, 400),
            (ErrorKind::IsADirectory, 400),
            (ErrorKind::DirectoryNotEmpty, 409),
            (ErrorKind::PayloadTooLarge, 413),
            (ErrorKind::Unsupported, 501),
            (ErrorKind::Unavailable, 503),
            (ErrorKind::Timeout, 504),
            (ErrorKind::RequestTimeout, 408),
            (ErrorKind::LoopDetected, 508),
            (ErrorKind::Internal, 500),
        ];
        assert_eq!(
            expected.len(),
            ErrorKind::ALL.len(),
            "a kind is missing from this test"
        );
        for (kind, code) in expected {
            let resp = ApiError::Fs(Error::with_kind(kind, "/p")).into_response();
            assert_eq!(resp.status().as_u16(), code, "{kind:?}");
            let ct = resp.headers()["content-type"].to_str().unwrap().to_string();
            assert!(ct.starts_with("application/json"), "{ct}");
            let body = resp.into_body().collect().await.unwrap().to_bytes();
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(v["error"], format!("/p: {}", kind.as_str()));
        }
        let resp = ApiError::Fs(Error::with_kind(ErrorKind::Unavailable, "/p")).into_response();
        assert_eq!(resp.headers()[header::RETRY_AFTER], "1");
    }

    #[tokio::test]
    async fn unsatisfiable_range_is_416_with_content_range() {
        let resp = ApiError::RangeNotSatisfiable(10).into_response();
        assert_eq!(resp.status(), StatusCode::RANGE_NOT_SATISFIABLE);
        assert_eq!(resp.headers()[header::CONTENT_RANGE], "bytes */10");
    }
}
