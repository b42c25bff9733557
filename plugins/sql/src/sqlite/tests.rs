//! The SQLite pool: grouped commits, checkpoints off the write path, reads after writes, and
//! reader threads added and stopped while it serves.

use super::*;

async fn pool() -> (tempfile::TempDir, Arc<Pool>) {
    let dir = tempfile::tempdir().unwrap();
    let pool = open_database(&dir.path().join("t.db"), "test", |c| {
        c.execute_batch("CREATE TABLE t (k INTEGER PRIMARY KEY)")
    })
    .await
    .unwrap();
    (dir, pool)
}

async fn keys(pool: &Arc<Pool>) -> Vec<i64> {
    pool.read(|c| {
        let mut s = c.prepare("SELECT k FROM t ORDER BY k")?;
        s.query_map([], |r| r.get(0))?.collect()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_commit_together_and_a_failing_one_is_undone_alone() {
    let (_dir, pool) = pool().await;
    let writes = (0..200i64).map(|k| {
        let pool = pool.clone();
        tokio::spawn(async move {
            pool.run(move |c| {
                c.execute("INSERT INTO t (k) VALUES (?1)", [k])?;
                if k % 50 == 7 {
                    // Inserted, then failed: the savepoint takes the row back.
                    c.execute("INSERT INTO t (k) VALUES (?1)", [k])?;
                }
                Ok(k)
            })
            .await
        })
    });
    let mut failed = Vec::new();
    for (k, w) in (0..200i64).zip(writes.collect::<Vec<_>>()) {
        match w.await.unwrap() {
            Ok(got) => assert_eq!(got, k),
            Err(_) => failed.push(k),
        }
    }
    assert_eq!(failed, [7, 57, 107, 157]);
    let want: Vec<i64> = (0..200).filter(|k| !failed.contains(k)).collect();
    // Every write answered Ok is committed and visible to a reader connection.
    assert_eq!(keys(&pool).await, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wal_is_checkpointed_off_the_write_path() {
    let (dir, pool) = pool().await;
    let db = dir.path().join("t.db");
    let before = std::fs::metadata(&db).unwrap().len();
    // About 2,000 pages of 4 KiB: past the checkpoint threshold.
    pool.run(|c| c.execute_batch("CREATE TABLE big (b BLOB)"))
        .await
        .unwrap();
    for _ in 0..40 {
        pool.run(|c| {
            let mut s = c.prepare_cached("INSERT INTO big (b) VALUES (zeroblob(200000))")?;
            s.execute([]).map(drop)
        })
        .await
        .unwrap();
    }
    // The checkpoint thread copies the WAL into the database file (which grows).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::fs::metadata(&db).unwrap().len() < before + 4_000_000 {
        assert!(
            std::time::Instant::now() < deadline,
            "no checkpoint within 10 s: the database file is {} bytes",
            std::fs::metadata(&db).unwrap().len()
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_is_answered_after_it_is_visible_to_reads() {
    let (_dir, pool) = pool().await;
    for k in 0..50i64 {
        pool.write(k % 10 == 0, move |c| {
            c.execute("INSERT INTO t (k) VALUES (?1)", [k])
                .map(drop)
                .map_err(|e| map_error("test", e))
        })
        .await
        .unwrap();
        let seen = pool
            .read(move |c| {
                c.query_row("SELECT COUNT(*) FROM t WHERE k = ?1", [k], |r| {
                    r.get::<_, i64>(0)
                })
            })
            .await
            .unwrap();
        assert_eq!(seen, 1, "write {k} was answered before it was committed");
    }
}

/// Waits until `holds` (at most 10 s), failing with `what`.
async fn eventually(what: &str, holds: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !holds() {
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: not within 10 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

async fn count(pool: &Arc<Pool>) -> Result<i64> {
    pool.read(|c| c.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0)))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_grow_and_shrink_while_reads_run() {
    let dir = tempfile::tempdir().unwrap();
    let pool = open_database_with(&dir.path().join("t.db"), "test", 2, |c| {
        c.execute_batch("CREATE TABLE t (k INTEGER PRIMARY KEY)")
    })
    .await
    .unwrap();
    for k in 0..100i64 {
        pool.run(move |c| c.execute("INSERT INTO t (k) VALUES (?1)", [k]).map(drop))
            .await
            .unwrap();
    }
    assert_eq!((pool.reader_count(), pool.readers_running()), (2, 2));

    let reads: Vec<_> = (0..300)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move { count(&pool).await })
        })
        .collect();
    assert_eq!(pool.set_readers(6).unwrap(), 6);
    assert_eq!((pool.reader_count(), pool.readers_running()), (6, 6));
    assert_eq!(pool.set_readers(1).unwrap(), 1);
    assert_eq!(pool.reader_count(), 1);
    for r in reads {
        assert_eq!(r.await.unwrap().unwrap(), 100);
    }
    eventually("five readers stop", || pool.readers_running() == 1).await;
    assert_eq!(count(&pool).await.unwrap(), 100);

    // Never fewer than one.
    assert_eq!(pool.set_readers(0).unwrap(), 1);
    assert_eq!(count(&pool).await.unwrap(), 100);
    assert_eq!(pool.readers_running(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_asked_to_stop_finishes_the_reads_it_holds() {
    let (_dir, pool) = pool().await;
    assert_eq!(pool.set_readers(2).unwrap(), 2);
    // Two reads that hold both threads until they are let go.
    let (go, wait) = std::sync::mpsc::channel::<()>();
    let wait = Arc::new(std::sync::Mutex::new(wait));
    let (started, starts) = std::sync::mpsc::channel::<()>();
    let held: Vec<_> = (0..2)
        .map(|_| {
            let (pool, wait, started) = (pool.clone(), wait.clone(), started.clone());
            tokio::spawn(async move {
                pool.read(move |c| {
                    started.send(()).unwrap();
                    // Both threads wait here; each takes one release.
                    let _ = wait.lock().unwrap().recv();
                    c.query_row("SELECT COUNT(*) FROM t", [], |r| r.get::<_, i64>(0))
                })
                .await
            })
        })
        .collect();
    for _ in 0..2 {
        starts
            .recv_timeout(std::time::Duration::from_secs(10))
            .unwrap();
    }
    pool.set_readers(1).unwrap();
    // Both threads are busy: the stop waits behind their reads.
    assert_eq!(pool.readers_running(), 2);
    go.send(()).unwrap();
    go.send(()).unwrap();
    for h in held {
        assert_eq!(h.await.unwrap().unwrap(), 0);
    }
    eventually("one reader stops", || pool.readers_running() == 1).await;
    assert_eq!(count(&pool).await.unwrap(), 0);
}
