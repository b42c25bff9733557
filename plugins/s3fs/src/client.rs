//! The aws-sdk-s3 client of a mount and the mapping of its errors to pfs kinds.

use std::time::SystemTime;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::DateTime;
use fs_core::{Error, ErrorKind};

use super::{Checksums, S3Config};

/// Builds the client: static credentials or the default chain, path style, checksums, timeouts.
pub(crate) async fn build(config: &S3Config) -> Client {
    let mut b = match &config.credentials {
        Some((key, secret, token)) => aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .credentials_provider(Credentials::new(
                key,
                secret,
                token.clone(),
                None,
                "pfs-config",
            )),
        None => {
            let shared = aws_config::defaults(BehaviorVersion::latest())
                .region(Region::new(config.region.clone()))
                .load()
                .await;
            aws_sdk_s3::config::Builder::from(&shared)
        }
    };
    let (request, response) = match config.checksums {
        Checksums::WhenRequired => (
            RequestChecksumCalculation::WhenRequired,
            ResponseChecksumValidation::WhenRequired,
        ),
        Checksums::WhenSupported => (
            RequestChecksumCalculation::WhenSupported,
            ResponseChecksumValidation::WhenSupported,
        ),
    };
    b = b
        .region(Region::new(config.region.clone()))
        .force_path_style(config.path_style)
        .request_checksum_calculation(request)
        .response_checksum_validation(response)
        .retry_config(RetryConfig::standard().with_max_attempts(3))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(config.connect_timeout)
                .operation_attempt_timeout(config.operation_timeout)
                .build(),
        );
    if let Some(endpoint) = &config.endpoint {
        b = b.endpoint_url(endpoint);
    }
    Client::from_conf(b.build())
}

/// An S3 time as a `SystemTime` (`None` when out of range).
pub(crate) fn time(t: Option<&DateTime>) -> Option<SystemTime> {
    t.and_then(|t| SystemTime::try_from(*t).ok())
}

/// An ETag without its quotes.
pub(crate) fn etag(t: Option<&str>) -> Option<String> {
    t.map(|e| e.trim_matches('"').to_owned())
}

/// What an S3 failure means for pfs, with `path` and the bucket named in the message.
///
/// Service errors map by HTTP status and S3 error code (404/`NoSuchKey` → NotFound, 403 and the
/// signature codes → PermissionDenied, 412 → AlreadyExists, 5xx → Unavailable); an unreachable
/// endpoint is Unavailable and a timeout is Timeout, both naming where the bucket is.
pub(crate) fn map_err<E, R>(err: SdkError<E, R>, path: &str, where_: &str) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + HasStatus,
{
    let detail = aws_sdk_s3::error::DisplayErrorContext(&err).to_string();
    let (kind, message) = match &err {
        SdkError::TimeoutError(_) => (ErrorKind::Timeout, format!("S3 {where_} timed out")),
        SdkError::DispatchFailure(d) if d.is_timeout() => {
            (ErrorKind::Timeout, format!("S3 {where_} timed out"))
        }
        SdkError::DispatchFailure(_) => (
            ErrorKind::Unavailable,
            format!("cannot reach S3 {where_}: {detail}"),
        ),
        SdkError::ServiceError(s) => {
            let status = s.raw().status();
            let code = err.code().unwrap_or("");
            let words = match err.message() {
                Some(m) if !code.is_empty() => format!("{code}: {m}"),
                Some(m) => m.to_owned(),
                None if !code.is_empty() => code.to_owned(),
                None => format!("HTTP {status}"),
            };
            let kind = match (status, code) {
                (_, "NoSuchBucket") => ErrorKind::Unavailable,
                (404, _) | (_, "NoSuchKey" | "NotFound") => ErrorKind::NotFound,
                (403, _)
                | (
                    _,
                    "AccessDenied" | "SignatureDoesNotMatch" | "InvalidAccessKeyId" | "NotSignedUp",
                ) => ErrorKind::PermissionDenied,
                (412, _) | (_, "PreconditionFailed") => ErrorKind::AlreadyExists,
                (400, _) => ErrorKind::InvalidArgument,
                (500..=599, _) => ErrorKind::Unavailable,
                _ => ErrorKind::Internal,
            };
            (kind, format!("S3 {where_}: {words}"))
        }
        _ => (ErrorKind::Internal, format!("S3 {where_}: {detail}")),
    };
    Error::new(kind, message).with_path(path)
}

/// The HTTP status of a raw response (implemented for the SDK's response type).
pub(crate) trait HasStatus {
    /// The status code.
    fn status(&self) -> u16;
}

impl HasStatus for aws_sdk_s3::config::http::HttpResponse {
    fn status(&self) -> u16 {
        self.status().as_u16()
    }
}
