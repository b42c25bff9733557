//! `bench-s3lookup --endpoint URL [--delay-ms D] [--n N]`: what a stat costs on s3fs when the S3
//! server is a round trip away, against the lookup s3fs used to make (run by `bench/s3-lookup.sh`).
//!
//! Everything goes through a relay in this process that holds each chunk `D` ms in each direction
//! (a round-trip time of `2D`), in front of the S3 server at `URL` (credentials `test`/`test`).
//! For a file, a directory and a missing path, N times each, one after another:
//!
//! - **s3fs stat** through `FileSystem::stat`: a one-key LIST of `<path>/` and a HEAD of `<path>`
//!   sent together.
//! - **LIST then HEAD** (the reference): the same two requests with the raw SDK client, the HEAD
//!   sent when the LIST has answered (a directory needs no HEAD), as s3fs's lookup did before.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use aws_sdk_s3::Client;
use fs_core::conformance::mount_context;
use fs_core::{FileSystem, ServicePlugin};
use pfs_s3fs::S3FsPlugin;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

struct Args {
    endpoint: String,
    delay: Duration,
    n: u32,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        endpoint: String::new(),
        delay: Duration::from_millis(5),
        n: 100,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let v = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--endpoint" => a.endpoint = v,
            "--delay-ms" => a.delay = Duration::from_millis(v.parse().map_err(|e| format!("{e}"))?),
            "--n" => a.n = v.parse().map_err(|e| format!("{e}"))?,
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if a.endpoint.is_empty() {
        return Err("--endpoint is required".into());
    }
    Ok(a)
}

/// Copies `r` to `w`, holding each chunk `delay` first.
async fn pipe(
    mut r: impl AsyncRead + Unpin,
    mut w: impl AsyncWrite + Unpin,
    delay: Duration,
) -> std::io::Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = r.read(&mut buf).await?;
        if n == 0 {
            return w.shutdown().await;
        }
        tokio::time::sleep(delay).await;
        w.write_all(&buf[..n]).await?;
    }
}

/// A relay on a loopback port to `to` (`host:port`); returns its `http://` URL.
async fn relay(to: String, delay: Duration) -> Result<String, BoxError> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let to = to.clone();
            tokio::spawn(async move {
                let Ok(server) = tokio::net::TcpStream::connect(&to).await else {
                    return;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                let (cr, cw) = client.into_split();
                let (sr, sw) = server.into_split();
                let _ = tokio::join!(pipe(cr, sw, delay), pipe(sr, cw, delay));
            });
        }
    });
    Ok(url)
}

/// The mean time of `n` runs of `op`.
async fn mean<F, Fut>(n: u32, mut op: F) -> Result<Duration, BoxError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), BoxError>>,
{
    let start = Instant::now();
    for _ in 0..n {
        op().await?;
    }
    Ok(start.elapsed() / n)
}

/// The reference: LIST `<key>/`, and only when that finds nothing, HEAD `<key>`.
async fn list_then_head(client: &Client, bucket: &str, key: &str) -> Result<(), BoxError> {
    let page = client
        .list_objects_v2()
        .bucket(bucket)
        .prefix(format!("{key}/"))
        .max_keys(1)
        .send()
        .await?;
    if page.contents().is_empty() {
        match client.head_object().bucket(bucket).key(key).send().await {
            Ok(_) => {}
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

async fn run(a: Args) -> Result<(), BoxError> {
    let host = a
        .endpoint
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let via = relay(host, a.delay).await?;
    let bucket = format!(
        "bench-lookup-{}",
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)?
            .as_millis()
    );
    let config = serde_json::json!({
        "bucket": bucket, "endpoint": via, "access_key_id": "test", "secret_access_key": "test",
    });
    let raw = {
        let c = pfs_s3fs::S3Config::from_value(&config)?;
        pfs_s3fs::sdk_client(&c).await
    };
    raw.create_bucket().bucket(&bucket).send().await?;
    let fs: Arc<dyn FileSystem> = S3FsPlugin.initialize(mount_context("/s3", config)).await?;
    // One object: `dir` exists as its prefix (s3s-fs cannot store a directory marker).
    raw.put_object()
        .bucket(&bucket)
        .key("dir/f")
        .body(aws_sdk_s3::primitives::ByteStream::from_static(b"x"))
        .send()
        .await?;
    println!(
        "| path | s3fs stat (LIST and HEAD together), ms | LIST then HEAD (reference), ms | ratio |"
    );
    println!("|---|---:|---:|---:|");
    for (what, path, key) in [
        ("a file", "/dir/f", "dir/f"),
        ("a directory", "/dir", "dir"),
        ("a missing path", "/dir/none", "dir/none"),
    ] {
        let ours = mean(a.n, || async {
            match fs.stat(path).await {
                Ok(_) => Ok(()),
                Err(e) if e.kind() == fs_core::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(e.into()),
            }
        })
        .await?;
        let reference = mean(a.n, || list_then_head(&raw, &bucket, key)).await?;
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "| {what} | {:.1} | {:.1} | {:.2} |",
            ms(ours),
            ms(reference),
            ms(ours) / ms(reference)
        );
    }
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let a = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("bench-s3lookup: {e}");
            return ExitCode::from(2);
        }
    };
    match run(a).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-s3lookup: {e}");
            ExitCode::FAILURE
        }
    }
}
