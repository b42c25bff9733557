//! `bench-bare ADDR`: the limit pfs is measured against. A bare axum 0.8 server with pfs's socket
//! setup (TCP_NODELAY on every accepted connection) that answers the two `/api/v1/files` requests
//! the benchmark makes, with no filesystem behind them:
//!
//! - `GET /api/v1/files?path=...`: a `Bytes` clone of a preloaded buffer (256 MiB when the path
//!   contains `big`, 1 KiB otherwise), `Content-Type: application/octet-stream`, like memfs;
//! - `PUT /api/v1/files?path=...`: reads the whole body and answers pfs's JSON
//!   (`{"message":"Written N bytes","written":N}`).

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, RawQuery, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::serve::ListenerExt;
use bytes::Bytes;
use tokio::net::TcpListener;

/// The allocator pfs-server uses, so the comparison measures pfs's code, not the allocator.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

const SMALL: usize = 1024;
const BIG: usize = 256 * 1024 * 1024;

#[derive(Clone)]
struct Buffers {
    small: Bytes,
    big: Bytes,
}

async fn read(State(b): State<Buffers>, RawQuery(q): RawQuery) -> Response {
    let big = q.as_deref().is_some_and(|q| q.contains("big"));
    let bytes = if big { b.big.clone() } else { b.small.clone() };
    let mut resp = Response::new(Body::from(bytes));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    resp
}

async fn write(body: Bytes) -> impl IntoResponse {
    let n = body.len();
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        format!(r#"{{"message":"Written {n} bytes","written":{n}}}"#),
    )
}

#[tokio::main]
async fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18081".into());
    // Touch every page now, so the first big GET does not pay for page faults pfs already paid
    // during its PUT.
    let buffers = Buffers {
        small: Bytes::from(vec![b'a'; SMALL]),
        big: Bytes::from(vec![b'b'; BIG]),
    };
    let app = Router::new()
        .route("/api/v1/health", get(|| async { "ok" }))
        .route("/api/v1/files", get(read).put(write))
        .layer(DefaultBodyLimit::disable())
        .with_state(buffers);
    let listener = match TcpListener::bind(&addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("bench-bare: cannot listen on {addr}: {e}");
            std::process::exit(1);
        }
    };
    let listener = listener.tap_io(|t| {
        let _ = t.set_nodelay(true);
    });
    if let Err(e) = axum::serve(listener, app).await {
        eprintln!("bench-bare: {e}");
        std::process::exit(1);
    }
}
