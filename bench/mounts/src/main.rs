//! `bench-mounts URL N`: mounts N memfs instances at `/m/00000`, `/m/00001`, … through
//! `POST /api/v1/mount` on the server at URL, one request after another on one keep-alive
//! connection, and prints a Markdown table: the time of each block of 1,000 mounts (flat when a
//! mount costs the same however many exist), the total, and the median and p90 time of 21
//! `GET /api/v1/mounts` after the last mount.

use std::time::{Duration, Instant};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(url), Some(n)) = (
        args.next(),
        args.next().and_then(|n| n.parse::<usize>().ok()),
    ) else {
        eprintln!("usage: bench-mounts URL N");
        std::process::exit(2);
    };
    // reqwest's TLS needs a provider even for plain http.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let client = reqwest::Client::new();
    let block = 1_000.min(n.max(1));
    let mut blocks = Vec::new();
    let start = Instant::now();
    let mut window = Instant::now();
    for i in 0..n {
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
        if (i + 1) % block == 0 {
            blocks.push(window.elapsed());
            window = Instant::now();
        }
    }
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
        "{n} mounts in {:.3} s; GET /mounts ({count} mounts): median {:.2} ms, p90 {:.2} ms",
        total.as_secs_f64(),
        ms(listing[10]),
        ms(listing[18])
    );
}
