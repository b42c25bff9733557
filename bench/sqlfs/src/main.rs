//! `bench-sqlfs [--files N] [--rounds R] [--size B] [--http URL] [--http-memfs URL]`: 4 KiB file
//! writes then reads, in ops/s, through sqlfs on SQLite and through direct rusqlite doing the same
//! work, in one process (run by `bench/sqlfs.sh`).
//!
//! Each round gives every contender a fresh database in a temporary directory and runs, one
//! operation after another: N writes of distinct 4 KiB files, then N reads of them (each checked).
//! The order of contenders rotates from round to round; the table shows the median round.
//!
//! - **direct, same statements** (the reference): one rusqlite connection with sqlfs's pragmas
//!   (WAL, `synchronous=NORMAL`, 5 s busy timeout) and schema, running the statements sqlfs runs
//!   for the operation, one transaction per operation, prepared statements cached.
//! - **sqlfs** through `FileSystem::write` / `read`, and through `write_stream` (what `PUT` calls).
//! - **direct, minimal**: the least a hand-written store does (insert node + chunk; one joined
//!   select), to show what sqlfs's checks cost.
//! - **direct via `spawn_blocking` / `block_in_place`**: the reference statements called from
//!   async code one operation at a time, to show what the hand-off to tokio's blocking pool (which
//!   sqlfs's SQLite pool does per operation) costs against running on the calling thread.
//! - **HTTP** (with `--http http://127.0.0.1:PORT/api/v1/files?path=/sqlfs`, and `--http-memfs`
//!   for the same against memfs): `PUT`/`GET` of the same files through a running pfs-server, one
//!   keep-alive connection.

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use fs_core::conformance::mount_context;
use fs_core::{ServicePlugin, WriteFlags};
use pfs_sqlfs::{SQLITE_SCHEMA, SqlFsPlugin};
use rusqlite::{Connection, OptionalExtension, params};

/// The root node sqlfs creates, so the reference's tables start like sqlfs's (same schema:
/// [`SQLITE_SCHEMA`]).
const ROOT_NODE: &str =
    "INSERT OR IGNORE INTO sqlfs_nodes (path, parent, is_dir, mode, size, mtime_ns)
    VALUES ('/', NULL, 1, 493, 0, 0);";

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug)]
struct Args {
    files: usize,
    rounds: usize,
    size: usize,
    http: Option<String>,
    http_memfs: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        files: 5000,
        rounds: 5,
        size: 4096,
        http: None,
        http_memfs: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        let number = |v: String| v.parse::<usize>().map_err(|e| format!("{v}: {e}"));
        match a.as_str() {
            "--files" => args.files = number(value("--files")?)?,
            "--rounds" => args.rounds = number(value("--rounds")?)?,
            "--size" => args.size = number(value("--size")?)?,
            "--http" => args.http = Some(value("--http")?),
            "--http-memfs" => args.http_memfs = Some(value("--http-memfs")?),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if args.files == 0 || args.rounds == 0 {
        return Err("--files and --rounds must be positive".into());
    }
    Ok(args)
}

/// Operations per second of a run of `n` operations.
fn rate(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

/// Write and read ops/s of one contender in one round.
#[derive(Debug, Clone, Copy)]
struct Sample {
    write: f64,
    read: f64,
}

/// The work every contender does: the file paths (relative to the mount) and their content.
#[derive(Debug)]
struct Work {
    paths: Vec<String>,
    data: Bytes,
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

fn open_direct(db: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(db)?;
    // The pragmas of sqlfs's pool (plugins/sql/src/sqlite.rs).
    conn.busy_timeout(Duration::from_millis(5000))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.execute_batch(SQLITE_SCHEMA)?;
    conn.execute_batch(ROOT_NODE)?;
    Ok(conn)
}

/// One transaction: the statements sqlfs runs for `write(path, data, None, NONE)` on a new file.
fn direct_write_same(conn: &Connection, path: &str, data: &[u8]) -> rusqlite::Result<()> {
    let node = "SELECT id, is_dir, mode, size, mtime_ns FROM sqlfs_nodes WHERE path = ?1";
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let existing = conn
        .prepare_cached(node)?
        .query_row(params![path], |r| r.get::<_, i64>(0))
        .optional()?;
    assert!(existing.is_none(), "{path} exists");
    let parent = conn
        .prepare_cached(node)?
        .query_row(params!["/"], |r| r.get::<_, bool>(1))
        .optional()?;
    assert_eq!(parent, Some(true));
    let now = now_ns();
    conn.prepare_cached(
        "INSERT INTO sqlfs_nodes (path, parent, is_dir, mode, size, mtime_ns) \
         VALUES (?1, ?2, ?3, ?4, 0, ?5)",
    )?
    .execute(params![path, "/", false, 0o644, now])?;
    let id = conn.last_insert_rowid();
    conn.prepare_cached(
        "INSERT OR REPLACE INTO sqlfs_chunks (file_id, idx, data) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![id, 0, data])?;
    conn.prepare_cached("UPDATE sqlfs_nodes SET size = ?2, mtime_ns = ?3 WHERE id = ?1")?
        .execute(params![id, data.len() as i64, now])?;
    conn.execute_batch("COMMIT")
}

/// One transaction: the statements sqlfs runs for `read(path, 0, None)`.
fn direct_read_same(conn: &Connection, path: &str) -> rusqlite::Result<Vec<u8>> {
    conn.execute_batch("BEGIN")?;
    let (id, size) = conn
        .prepare_cached("SELECT id, is_dir, mode, size, mtime_ns FROM sqlfs_nodes WHERE path = ?1")?
        .query_row(params![path], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(3)?))
        })?;
    let hi = (size as u64).div_ceil(256 * 1024) as i64;
    let mut out = Vec::with_capacity(size as usize);
    {
        let mut s = conn.prepare_cached(
            "SELECT idx, data FROM sqlfs_chunks WHERE file_id = ?1 AND idx >= ?2 AND idx < ?3 \
             ORDER BY idx",
        )?;
        let mut rows = s.query(params![id, 0, hi])?;
        while let Some(r) = rows.next()? {
            out.extend_from_slice(r.get_ref(1)?.as_blob()?);
        }
    }
    conn.execute_batch("COMMIT")?;
    Ok(out)
}

/// The least a hand-written store does: node and chunk in one transaction, no checks.
fn direct_write_min(conn: &Connection, path: &str, data: &[u8]) -> rusqlite::Result<()> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    conn.prepare_cached(
        "INSERT INTO sqlfs_nodes (path, parent, is_dir, mode, size, mtime_ns) \
         VALUES (?1, ?2, 0, 420, ?3, ?4)",
    )?
    .execute(params![path, "/", data.len() as i64, now_ns()])?;
    let id = conn.last_insert_rowid();
    conn.prepare_cached("INSERT INTO sqlfs_chunks (file_id, idx, data) VALUES (?1, 0, ?2)")?
        .execute(params![id, data])?;
    conn.execute_batch("COMMIT")
}

/// One autocommit select joining node and chunks.
fn direct_read_min(conn: &Connection, path: &str) -> rusqlite::Result<Vec<u8>> {
    let mut s = conn.prepare_cached(
        "SELECT c.data FROM sqlfs_nodes n JOIN sqlfs_chunks c ON c.file_id = n.id \
         WHERE n.path = ?1 ORDER BY c.idx",
    )?;
    let mut rows = s.query(params![path])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.extend_from_slice(r.get_ref(0)?.as_blob()?);
    }
    Ok(out)
}

type WriteFn = fn(&Connection, &str, &[u8]) -> rusqlite::Result<()>;
type ReadFn = fn(&Connection, &str) -> rusqlite::Result<Vec<u8>>;

fn run_direct(db: &Path, work: &Work, write: WriteFn, read: ReadFn) -> Result<Sample, BoxError> {
    let conn = open_direct(db)?;
    let t = Instant::now();
    for p in &work.paths {
        write(&conn, p, &work.data)?;
    }
    let w = t.elapsed();
    let t = Instant::now();
    for p in &work.paths {
        let got = read(&conn, p)?;
        if got != work.data {
            return Err(format!("{p}: read back {} bytes that differ", got.len()).into());
        }
    }
    let r = t.elapsed();
    Ok(Sample {
        write: rate(work.paths.len(), w),
        read: rate(work.paths.len(), r),
    })
}

/// How the direct contender calls SQLite from async code.
#[derive(Debug, Clone, Copy)]
enum Call {
    /// `tokio::task::spawn_blocking` per operation, as sqlfs's pool does.
    SpawnBlocking,
    /// `tokio::task::block_in_place` per operation: runs on the calling worker thread.
    BlockInPlace,
}

/// The reference statements called from async code, one call per operation, to separate the cost
/// of the hand-off from the rest of sqlfs's path.
async fn run_direct_async(db: &Path, work: &Work, call: Call) -> Result<Sample, BoxError> {
    let conn = std::sync::Arc::new(std::sync::Mutex::new(open_direct(db)?));
    let op = |conn: &std::sync::Arc<std::sync::Mutex<Connection>>, p: &str, write: bool| {
        let (conn, p, data) = (conn.clone(), p.to_string(), work.data.clone());
        move || -> rusqlite::Result<Vec<u8>> {
            let c = conn.lock().expect("not poisoned");
            if write {
                direct_write_same(&c, &p, &data).map(|()| Vec::new())
            } else {
                direct_read_same(&c, &p)
            }
        }
    };
    let mut times = [Duration::ZERO; 2];
    for (i, write) in [true, false].into_iter().enumerate() {
        let t = Instant::now();
        for p in &work.paths {
            let f = op(&conn, p, write);
            let got = match call {
                Call::SpawnBlocking => tokio::task::spawn_blocking(f).await??,
                Call::BlockInPlace => tokio::task::block_in_place(f)?,
            };
            if !write && got != work.data {
                return Err(format!("{p}: read back {} bytes that differ", got.len()).into());
            }
        }
        times[i] = t.elapsed();
    }
    Ok(Sample {
        write: rate(work.paths.len(), times[0]),
        read: rate(work.paths.len(), times[1]),
    })
}

async fn run_sqlfs(db: &Path, work: &Work, streamed: bool) -> Result<Sample, BoxError> {
    let config = serde_json::json!({"backend": "sqlite", "db_path": db.to_str().ok_or("path")?});
    SqlFsPlugin.validate(&config)?;
    let fs = SqlFsPlugin
        .initialize(mount_context("/sqlfs", config))
        .await?;
    let t = Instant::now();
    for p in &work.paths {
        if streamed {
            let body: fs_core::ByteStream =
                Box::pin(futures_util::stream::iter([Ok(work.data.clone())]));
            fs.write_stream(p, body, u64::MAX, None, WriteFlags::NONE)
                .await?;
        } else {
            fs.write(p, work.data.clone(), None, WriteFlags::NONE)
                .await?;
        }
    }
    let w = t.elapsed();
    let t = Instant::now();
    for p in &work.paths {
        let got = fs.read(p, 0, None).await?;
        if got != work.data {
            return Err(format!("{p}: read back {} bytes that differ", got.len()).into());
        }
    }
    let r = t.elapsed();
    fs.shutdown().await?;
    Ok(Sample {
        write: rate(work.paths.len(), w),
        read: rate(work.paths.len(), r),
    })
}

/// `PUT`/`GET` through a running server; `base` ends in the mount path (`...?path=/sqlfs`).
async fn run_http(base: &str, round: usize, work: &Work) -> Result<Sample, BoxError> {
    let client = reqwest::Client::new();
    let urls: Vec<String> = work
        .paths
        .iter()
        .map(|p| format!("{base}/r{round}{}", p.replace('/', "-")))
        .collect();
    let t = Instant::now();
    for u in &urls {
        let r = client.put(u).body(work.data.clone()).send().await?;
        if !r.status().is_success() {
            return Err(format!("PUT {u}: {}", r.status()).into());
        }
        r.bytes().await?;
    }
    let w = t.elapsed();
    let t = Instant::now();
    for u in &urls {
        let r = client.get(u).send().await?;
        if !r.status().is_success() {
            return Err(format!("GET {u}: {}", r.status()).into());
        }
        if r.bytes().await? != work.data {
            return Err(format!("GET {u}: content differs").into());
        }
    }
    let r = t.elapsed();
    Ok(Sample {
        write: rate(work.paths.len(), w),
        read: rate(work.paths.len(), r),
    })
}

/// Mean time of a `spawn_blocking` round trip of an empty closure, in µs: the hand-off to the
/// blocking pool and back that every sqlfs SQLite operation pays.
async fn handoff_us(n: usize) -> Result<f64, BoxError> {
    let t = Instant::now();
    for _ in 0..n {
        tokio::task::spawn_blocking(|| ()).await?;
    }
    Ok(t.elapsed().as_secs_f64() * 1e6 / n as f64)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

const NAMES: [&str; 8] = [
    "direct rusqlite, same statements (reference)",
    "sqlfs `FileSystem::write` / `read`",
    "sqlfs `write_stream` (the `PUT` path) / `read`",
    "direct rusqlite, minimal (no checks)",
    "direct, same statements, `spawn_blocking` per op",
    "direct, same statements, `block_in_place` per op",
    "pfs-server HTTP `PUT` / `GET`, sqlfs",
    "pfs-server HTTP `PUT` / `GET`, memfs (HTTP floor)",
];

fn main() -> ExitCode {
    // reqwest is built without a TLS provider of its own (the workspace picks aws-lc-rs); its
    // client needs one installed even for plain http.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("bench-sqlfs: {e}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-sqlfs: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), BoxError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let content: Vec<u8> = (0..args.size).map(|i| (i * 7 + 3) as u8).collect();
    let work = Work {
        paths: (0..args.files).map(|i| format!("/f{i:07}")).collect(),
        data: Bytes::from(content),
    };
    let mut contenders: Vec<usize> = (0..6).collect();
    if args.http.is_some() {
        contenders.push(6);
    }
    if args.http_memfs.is_some() {
        contenders.push(7);
    }
    let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); NAMES.len()];
    for round in 0..args.rounds {
        for k in 0..contenders.len() {
            let c = contenders[(round + k) % contenders.len()];
            let dir = tempfile::tempdir()?;
            let db = dir.path().join("bench.db");
            let s = match c {
                0 => run_direct(&db, &work, direct_write_same, direct_read_same)?,
                1 => rt.block_on(run_sqlfs(&db, &work, false))?,
                2 => rt.block_on(run_sqlfs(&db, &work, true))?,
                3 => run_direct(&db, &work, direct_write_min, direct_read_min)?,
                4 => rt.block_on(run_direct_async(&db, &work, Call::SpawnBlocking))?,
                5 => rt.block_on(run_direct_async(&db, &work, Call::BlockInPlace))?,
                6 => {
                    let base = args.http.as_deref().ok_or("no --http")?;
                    rt.block_on(run_http(base, round, &work))?
                }
                _ => {
                    let base = args.http_memfs.as_deref().ok_or("no --http-memfs")?;
                    rt.block_on(run_http(base, round, &work))?
                }
            };
            eprintln!(
                "round {round}: {:<48} write {:>8.0}/s  read {:>8.0}/s",
                NAMES[c], s.write, s.read
            );
            samples[c].push(s);
        }
    }
    let med: Vec<Option<Sample>> = samples
        .iter()
        .map(|v| {
            (!v.is_empty()).then(|| Sample {
                write: median(v.iter().map(|s| s.write).collect()),
                read: median(v.iter().map(|s| s.read).collect()),
            })
        })
        .collect();
    let reference = med[0].ok_or("no reference sample")?;
    let handoff = rt.block_on(handoff_us(args.files))?;
    println!(
        "| {} B files, {} per round, median of {} rounds | write ops/s | read ops/s \
         | write / reference | read / reference |",
        args.size, args.files, args.rounds
    );
    println!("|---|---:|---:|---:|---:|");
    for (c, s) in med.iter().enumerate() {
        let Some(s) = s else { continue };
        println!(
            "| {} | {:.0} | {:.0} | {:.2} | {:.2} |",
            NAMES[c],
            s.write,
            s.read,
            s.write / reference.write,
            s.read / reference.read
        );
    }
    println!();
    println!(
        "A `spawn_blocking` round trip (empty closure) took {handoff:.1} µs on average in this run."
    );
    Ok(())
}
