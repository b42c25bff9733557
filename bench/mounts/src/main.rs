//! `bench-mounts URL N [CONNS]`: mounts N memfs instances at `/m/00000`, `/m/00001`, … through
//! `POST /api/v1/mount` on the server at URL, from CONNS keep-alive connections at once (default
//! 8; 1 measures the loopback round trip more than the server), and prints a Markdown table: the
//! time of each block of 1,000 mounts (flat when a mount costs the same however many exist), the
//! total, and the median and p90 time of 21 `GET /api/v1/mounts` after the last mount.

use std::time::{Duration, Instant};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(url), Some(n)) = (
        args.next(),
        args.next().and_then(|n| n.parse::<usize>().ok()),
    ) else {
        eprintln!("usage: bench-mounts URL N [CONNS]");
        std::process::exit(2);
    };
    let conns = args
        .next()
        .and_then(|c| c.parse::<usize>().ok())
        .unwrap_or(8)
        .max(1);
    // reqwest's TLS needs a provider even for plain http.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let client = reqwest::Client::new();
    let block = 1_000.min(n.max(1));
    let blocks = std::cell::RefCell::new(Vec::new());
    let done = std::cell::Cell::new(0usize);
    let window = std::cell::Cell::new(Instant::now());
    let start = Instant::now();
    // CONNS callers, each mounting every CONNS-th path; blocks are counted in completion order.
    let callers = (0..conns).map(|c| {
        let (client, url, blocks, done, window) = (&client, &url, &blocks, &done, &window);
        async move {
            for i in (c..n).step_by(conns) {
                let body = serde_json::json!({"fstype": "memfs", "path": format!("/m/{i:05}")});
                let resp = client
                    .post(format!("{url}/api/v1/mount"))
                    .header("content-type", "application/json")
                    .body(body.to_string())
                    .send()
                    .await
                    .expect("the server answers");
                let status = resp.status();
                if !status.is_success() {
                    eprintln!(
                        "mount {i}: {status}: {}",
                        resp.text().await.unwrap_or_default()
                    );
                    std::process::exit(1);
                }
                resp.bytes().await.expect("a body");
                done.set(done.get() + 1);
                if done.get() % block == 0 {
                    blocks.borrow_mut().push(window.get().elapsed());
                    window.set(Instant::now());
                }
            }
        }
    });
    futures_util::future::join_all(callers).await;
    let blocks = blocks.into_inner();
    let total = start.elapsed();
    let mut listing = Vec::new();
    let mut count = 0;
    for _ in 0..21 {
        let t = Instant::now();
        let body = client
            .get(format!("{url}/api/v1/mounts"))
            .send()
            .await
            .expect("the server answers")
            .bytes()
            .await
            .expect("a body");
        listing.push(t.elapsed());
        let v: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
        count = v["mounts"].as_array().map_or(0, Vec::len);
    }
    listing.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!("| mounts made | ms for the last {block} |");
    println!("|---:|---:|");
    for (k, d) in blocks.iter().enumerate() {
        println!("| {} | {:.1} |", (k + 1) * block, ms(*d));
    }
    println!();
    println!(
        "{n} mounts from {conns} connections in {:.3} s; GET /mounts ({count} mounts): median {:.2} ms, p90 {:.2} ms",
        total.as_secs_f64(),
        ms(listing[10]),
        ms(listing[18])
    );
}
