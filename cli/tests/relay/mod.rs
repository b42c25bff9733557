//! An HTTP relay between the `pfs` binary and a test server: it logs every request (method,
//! query, `Range`), and breaks what a test asks it to break (a ranged response cut once, ranged
//! reads that never answer, request bodies cut on their way). `/raw/PATH` is served as a plain
//! URL (not a pfs files URL), forwarded to `/api/v1/files?path=/PATH`.

#![allow(dead_code, unreachable_pub)]

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};

/// One request the relay saw.
#[derive(Debug, Clone)]
pub struct Seen {
    /// `GET`, `PUT`, ...
    pub method: String,
    /// Path and query as the client sent them.
    pub uri: String,
    /// The first byte of its `Range`, when it had one.
    pub range_start: Option<u64>,
}

/// What to break.
#[derive(Debug, Default, Clone)]
pub struct Rules {
    /// The first ranged read starting at this offset has its body cut halfway (once).
    pub cut_once_at: Option<u64>,
    /// Ranged reads starting at this offset or after never answer.
    pub stall_from: Option<u64>,
    /// Write bodies (`PUT`) at an `offset` of at least `.0` (none counts as 0) are cut after `.1`
    /// bytes, every time.
    pub cut_puts: Option<(u64, usize)>,
}

struct Inner {
    upstream: String,
    http: reqwest::Client,
    log: Mutex<Vec<Seen>>,
    rules: Mutex<Rules>,
}

/// A running relay.
#[derive(Clone)]
pub struct Relay {
    /// Its `http://` URL.
    pub url: String,
    inner: Arc<Inner>,
}

impl Relay {
    /// A relay to the server at `upstream` (`http://host:port`) on a kernel-chosen port.
    pub async fn start(upstream: &str) -> Relay {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let inner = Arc::new(Inner {
            upstream: upstream.to_string(),
            http: reqwest::Client::builder()
                .no_proxy()
                .build()
                .expect("client"),
            log: Mutex::new(Vec::new()),
            rules: Mutex::new(Rules::default()),
        });
        let app = axum::Router::new()
            .fallback(forward)
            .with_state(Arc::clone(&inner));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Relay { url, inner }
    }

    /// Replaces the rules.
    pub fn set(&self, rules: Rules) {
        *self.inner.rules.lock().unwrap() = rules;
    }

    /// Everything seen so far, emptying the log.
    pub fn take_log(&self) -> Vec<Seen> {
        std::mem::take(&mut *self.inner.log.lock().unwrap())
    }

    /// The starts of the ranged `GET`s seen so far (without emptying the log).
    pub fn ranged_starts(&self) -> Vec<u64> {
        self.inner
            .log
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.method == "GET")
            .filter_map(|s| s.range_start)
            .collect()
    }
}

fn range_start(req: &Request) -> Option<u64> {
    let v = req.headers().get("range")?.to_str().ok()?;
    v.strip_prefix("bytes=")?.split('-').next()?.parse().ok()
}

fn query_offset(uri: &str) -> u64 {
    uri.split(['?', '&'])
        .find_map(|kv| kv.strip_prefix("offset="))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// A stream that passes `keep` bytes of `inner`, then fails.
fn cut<S>(inner: S, keep: usize) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send
where
    S: Stream<Item = Result<Bytes, std::io::Error>> + Send + Unpin + 'static,
{
    futures_util::stream::unfold((inner, keep, false), |(mut s, left, done)| async move {
        if done {
            return None;
        }
        if left == 0 {
            let e = std::io::Error::other("cut by the test relay");
            return Some((Err(e), (s, 0, true)));
        }
        match s.next().await {
            Some(Ok(b)) => {
                let b = if b.len() > left { b.slice(..left) } else { b };
                let n = b.len();
                Some((Ok(b), (s, left - n, false)))
            }
            Some(Err(e)) => Some((Err(e), (s, 0, true))),
            None => None,
        }
    })
}

async fn forward(State(st): State<Arc<Inner>>, req: Request) -> Response {
    let uri = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let start = range_start(&req);
    let method = req.method().clone();
    st.log.lock().unwrap().push(Seen {
        method: method.to_string(),
        uri: uri.clone(),
        range_start: start,
    });
    let rules = st.rules.lock().unwrap().clone();
    if let (Some(from), Some(s)) = (rules.stall_from, start)
        && s >= from
    {
        std::future::pending::<()>().await;
    }
    let cut_response = match (rules.cut_once_at, start) {
        (Some(at), Some(s)) if at == s => {
            st.rules.lock().unwrap().cut_once_at = None;
            true
        }
        _ => false,
    };
    let target = match req.uri().path().strip_prefix("/raw/") {
        Some(rest) => format!("{}/api/v1/files?path=/{rest}", st.upstream),
        None => format!("{}{uri}", st.upstream),
    };
    let mut out = st.http.request(method.clone(), target);
    for name in ["range", "content-type"] {
        if let Some(v) = req.headers().get(name) {
            out = out.header(name, v.clone());
        }
    }
    let body = req
        .into_body()
        .into_data_stream()
        .map(|r| r.map_err(std::io::Error::other));
    let out = match rules.cut_puts {
        Some((min, keep)) if method == "PUT" && query_offset(&uri) >= min => {
            out.body(reqwest::Body::wrap_stream(cut(Box::pin(body), keep)))
        }
        _ => out.body(reqwest::Body::wrap_stream(body)),
    };
    let resp = match out.send().await {
        Ok(r) => r,
        Err(_) => {
            return Response::builder()
                .status(502)
                .body(Body::from("relay: upstream failed"))
                .expect("response");
        }
    };
    let mut builder = Response::builder().status(resp.status().as_u16());
    for (name, value) in resp.headers() {
        if name == "transfer-encoding" || name == "connection" {
            continue;
        }
        builder = builder.header(name.as_str(), value.as_bytes());
    }
    let len = resp.content_length().unwrap_or(0) as usize;
    let stream = resp
        .bytes_stream()
        .map(|r| r.map_err(std::io::Error::other));
    let body = if cut_response {
        Body::from_stream(cut(Box::pin(stream), len / 2))
    } else {
        Body::from_stream(stream)
    };
    builder.body(body).expect("response")
}
