//! `POST /digest`: a file's checksum, computed while its content streams through (never buffered
//! whole), on every plugin that can read.

use axum::Json;
use axum::extract::State;
use bytes::Bytes;
use fs_core::{ContentBody, Error, FileSystem, Result};
use futures_util::StreamExt;
use md5::{Digest as _, Md5};
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::Xxh3Default;

use crate::error::ApiResult;
use crate::extract::RequestBody;
use crate::state::AppState;

/// Bytes hashed between two yields to the runtime, so a large in-memory file does not hold a worker
/// thread for the whole computation.
const SLICE: usize = 1 << 20;

#[derive(Deserialize)]
struct DigestRequest {
    #[serde(default)]
    algorithm: Option<String>,
    #[serde(default)]
    path: Option<String>,
}

/// AGFS's answer: the algorithm and the path as the client sent them, and the hex digest.
#[derive(Debug, Serialize)]
pub struct DigestResponse {
    /// `xxh3` or `md5`.
    pub algorithm: String,
    /// The path as the client sent it.
    pub path: String,
    /// Lowercase hex.
    pub digest: String,
}

/// The two algorithms AGFS clients know.
enum Hasher {
    /// XXH3-128; the answer is its low 64 bits (AGFS's `Sum128().Lo`).
    Xxh3(Box<Xxh3Default>),
    Md5(Md5),
}

impl Hasher {
    /// The hasher for `name`.
    ///
    /// # Errors
    /// `InvalidArgument` with AGFS's words for any other name.
    fn new(name: &str) -> Result<Self> {
        match name {
            "xxh3" => Ok(Hasher::Xxh3(Box::new(Xxh3Default::new()))),
            "md5" => Ok(Hasher::Md5(Md5::new())),
            other => Err(Error::invalid_argument(format!(
                "unsupported algorithm: {other} (supported: xxh3, md5)"
            ))),
        }
    }

    fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Xxh3(h) => h.update(data),
            Hasher::Md5(h) => h.update(data),
        }
    }

    /// Lowercase hex: 16 digits for xxh3, 32 for md5.
    fn finish(self) -> String {
        match self {
            Hasher::Xxh3(h) => format!("{:016x}", h.digest128() as u64),
            Hasher::Md5(h) => h.finalize().iter().map(|b| format!("{b:02x}")).collect(),
        }
    }

    /// Hashes `data` in slices, yielding between them.
    async fn update_sliced(&mut self, data: &Bytes) {
        let mut slices = data.chunks(SLICE).peekable();
        while let Some(s) = slices.next() {
            self.update(s);
            if slices.peek().is_some() {
                tokio::task::yield_now().await;
            }
        }
    }
}

/// `POST /digest` with `{"algorithm": "xxh3"|"md5", "path": "..."}`.
///
/// The algorithm is checked before the path (AGFS's order). A file whose read has side effects
/// (queuefs `dequeue`) is refused, since digesting it would consume a message.
pub async fn digest(
    State(st): State<AppState>,
    body: RequestBody,
) -> ApiResult<Json<DigestResponse>> {
    let req: DigestRequest = body.json().await?;
    let algorithm = req.algorithm.unwrap_or_default();
    let mut hasher = Hasher::new(&algorithm)?;
    let given = match req.path {
        Some(p) if !p.is_empty() => p,
        _ => return Err(Error::invalid_argument("path is required").into()),
    };
    // Links are resolved once, so the side-effect check and the read see the same file.
    let path = st.fs.resolve_links(&given)?;
    if st.fs.read_has_side_effects(&path) {
        return Err(Error::invalid_argument(
            "cannot digest a file whose read has side effects (reading it would consume data)",
        )
        .with_path(path)
        .with_op("digest")
        .into());
    }
    hash_file(&st, &path, &mut hasher)
        .await
        .map_err(|e| Error::new(e.kind(), format!("failed to calculate digest: {e}")))?;
    Ok(Json(DigestResponse {
        algorithm,
        path: given,
        digest: hasher.finish(),
    }))
}

/// Feeds the whole content of `path` to `hasher`, chunk by chunk.
async fn hash_file(st: &AppState, path: &str, hasher: &mut Hasher) -> Result<()> {
    match st.fs.read_content(path, 0, None).await?.body {
        ContentBody::Bytes(b) => hasher.update_sliced(&b).await,
        ContentBody::Stream { mut stream, .. } => {
            while let Some(chunk) = stream.next().await {
                hasher.update_sliced(&chunk?).await;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex_of(name: &str, data: &[u8]) -> String {
        let mut h = Hasher::new(name).unwrap();
        h.update(data);
        h.finish()
    }

    #[test]
    fn known_vectors() {
        // RFC 1321's test suite.
        assert_eq!(hex_of("md5", b""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(hex_of("md5", b"abc"), "900150983cd24fb0d6963f7d28e17f72");
        // The low half of XXH128("abc") = 06b05ab6733a6185_78af5f94892f3950 (xxhsum -H2).
        assert_eq!(hex_of("xxh3", b"abc"), "78af5f94892f3950");
        assert_eq!(hex_of("xxh3", b"").len(), 16);
    }

    #[test]
    fn streaming_equals_one_shot() {
        let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut h = Hasher::new("xxh3").unwrap();
        for c in data.chunks(4099) {
            h.update(c);
        }
        let one_shot = xxhash_rust::xxh3::xxh3_128(&data) as u64;
        assert_eq!(h.finish(), format!("{one_shot:016x}"));
    }

    #[test]
    fn unknown_algorithm_names_the_supported_ones() {
        let e = Hasher::new("sha1").err().unwrap().to_string();
        assert_eq!(e, "unsupported algorithm: sha1 (supported: xxh3, md5)");
    }
}
