//! `GET /files` on a file whose read has side effects (queuefs `dequeue`): `HEAD` must not read it,
//! and a `Range` must be cut from the one message it consumes.

mod common;

use axum::body::Body;
use axum::http::{Request, header};
use common::*;
use serde_json::Value;

async fn app_with_two_messages() -> axum::Router {
    let (app, _) = app_with("plugins:\n  queuefs: {path: /queuefs}\n").await;
    for msg in ["first message", "second, longer message"] {
        let (s, _) = send(&app, put("/api/v1/files?path=/queuefs/q/enqueue", msg)).await;
        assert_eq!(s, 200);
    }
    app
}

async fn size(app: &axum::Router) -> String {
    let (_, b) = send(app, get("/api/v1/files?path=/queuefs/q/size")).await;
    String::from_utf8(b.to_vec()).unwrap()
}

async fn peek(app: &axum::Router) -> bytes::Bytes {
    send(app, get("/api/v1/files?path=/queuefs/q/peek")).await.1
}

fn ranged(range: &str) -> Request<Body> {
    Request::get("/api/v1/files?path=/queuefs/q/dequeue")
        .header(header::RANGE, range)
        .body(Body::empty())
        .unwrap()
}

#[tokio::test]
async fn head_on_dequeue_answers_from_stat_and_consumes_nothing() {
    let app = app_with_two_messages().await;
    let head = peek(&app).await;
    for _ in 0..3 {
        let req = Request::head("/api/v1/files?path=/queuefs/q/dequeue")
            .body(Body::empty())
            .unwrap();
        let (s, h, body) = send_full(&app, req).await;
        assert_eq!(s, 200);
        assert!(body.is_empty());
        assert_eq!(h[header::CONTENT_TYPE], "application/octet-stream");
        // The length a GET would send now: the head message.
        assert_eq!(h[header::CONTENT_LENGTH], head.len().to_string().as_str());
    }
    assert_eq!(size(&app).await, "2");
    let (_, msg) = send(&app, get("/api/v1/files?path=/queuefs/q/dequeue")).await;
    assert_eq!(msg, head, "the first message is still the one dequeued");
    // HEAD of a directory is still an error, and HEAD of other files still reads.
    let req = Request::head("/api/v1/files?path=/queuefs/q")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send_full(&app, req).await.0, 400);
}

#[tokio::test]
async fn a_range_on_dequeue_is_a_slice_of_the_one_message_it_consumes() {
    let app = app_with_two_messages().await;
    let first = peek(&app).await;
    let (s, h, body) = send_full(&app, ranged("bytes=5-20")).await;
    assert_eq!(s, 206);
    assert_eq!(&body[..], &first[5..=20]);
    assert_eq!(
        h[header::CONTENT_RANGE],
        format!("bytes 5-20/{}", first.len()).as_str()
    );
    assert_eq!(size(&app).await, "1", "exactly one message consumed");

    // A suffix range of the second message: sized by that message, not by a stat beforehand.
    let second = peek(&app).await;
    assert_ne!(first.len(), second.len());
    let (s, h, body) = send_full(&app, ranged("bytes=-10")).await;
    assert_eq!(s, 206);
    assert_eq!(&body[..], &second[second.len() - 10..]);
    assert_eq!(
        h[header::CONTENT_RANGE],
        format!(
            "bytes {}-{}/{}",
            second.len() - 10,
            second.len() - 1,
            second.len()
        )
        .as_str()
    );
    assert_eq!(size(&app).await, "0");
}

#[tokio::test]
async fn an_unsatisfiable_range_on_dequeue_returns_the_whole_message() {
    let app = app_with_two_messages().await;
    let first = peek(&app).await;
    let (s, _, body) = send_full(&app, ranged("bytes=100000-")).await;
    assert_eq!(s, 200, "the consumed message is not thrown away");
    assert_eq!(body, first);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["data"], "first message");
    assert_eq!(size(&app).await, "1");
    // An empty queue: `{}` as usual.
    send(&app, get("/api/v1/files?path=/queuefs/q/dequeue")).await;
    let (s, _, body) = send_full(&app, ranged("bytes=0-0")).await;
    assert_eq!((s.as_u16(), &body[..]), (206, &b"{"[..]));
}
