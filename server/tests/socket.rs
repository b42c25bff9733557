//! The one test over a real socket: `run()` serves, TCP_NODELAY is set, and a shutdown lets an
//! in-flight request finish before every plugin's shutdown runs.

use std::time::Duration;

use pfs_server::{AppState, Config};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

async fn read_response_head(r: &mut BufReader<TcpStream>) -> String {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        let n = r.read_line(&mut line).await.unwrap();
        assert!(n > 0, "connection closed after {head:?}");
        head.push_str(&line);
        if line == "\r\n" {
            return head;
        }
    }
}

#[tokio::test]
async fn shutdown_lets_the_in_flight_request_finish() {
    let state = AppState::new(Config::parse("plugins:\n  memfs: {path: /memfs}\n").unwrap());
    pfs_server::start_mounts(&state)
        .await
        .unwrap()
        .await
        .unwrap();
    let fs = state.fs.clone();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(pfs_server::run(listener, state, async {
        let _ = stop_rx.await;
    }));

    let stream = TcpStream::connect(addr).await.unwrap();
    let mut conn = BufReader::new(stream);
    // Ask for 100-continue: the server's "100 Continue" proves the handler is running.
    let head = "PUT /api/v1/files?path=/memfs/inflight HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n";
    conn.get_mut().write_all(head.as_bytes()).await.unwrap();
    let cont = read_response_head(&mut conn).await;
    assert!(cont.starts_with("HTTP/1.1 100"), "{cont}");

    stop_tx.send(()).unwrap();
    conn.get_mut().write_all(b"0123456789").await.unwrap();
    let resp = read_response_head(&mut conn).await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    let len: usize = resp
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length: ")
                .map(|v| v.trim().parse().unwrap())
        })
        .unwrap();
    let mut body = vec![0; len];
    conn.read_exact(&mut body).await.unwrap();
    assert_eq!(body, br#"{"message":"Written 10 bytes","written":10}"#);

    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("server stopped")
        .unwrap()
        .unwrap();
    assert!(
        fs.mounts().is_empty(),
        "run() must unmount everything on the way out"
    );
}
