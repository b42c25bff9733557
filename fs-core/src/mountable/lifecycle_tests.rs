//! The router keeps the lifecycle guarantees ([`crate::lifecycle`]) on every path: mount, failed
//! start, config change in place, remount, unmount, unmount of everything; with hooks that fail,
//! hang or panic. Under tokio's paused clock, so a hang costs no real time.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::conformance::lifecycle::{CountingPlugin, Journal, events_at};
use crate::policy::MountPolicy;
use crate::{ErrorKind, FileSystem, MountableFs, PluginRegistry, ServerInfo};

fn setup() -> (Arc<MountableFs>, PluginRegistry, Arc<Journal>) {
    let plugin = CountingPlugin::default();
    let journal = plugin.journal.clone();
    let registry = PluginRegistry::new();
    registry.register(Arc::new(plugin)).unwrap();
    let fs = MountableFs::new(ServerInfo {
        version: "0".into(),
        started: std::time::SystemTime::now(),
        data_dir: None,
    });
    fs.set_hook_timeout(Duration::from_secs(5));
    (fs, registry, journal)
}

async fn mount(
    fs: &Arc<MountableFs>,
    r: &PluginRegistry,
    path: &str,
    config: Value,
) -> crate::Result<()> {
    fs.mount_plugin(r, "countingfs", path, None, config).await
}

async fn tag(fs: &Arc<MountableFs>, path: &str) -> String {
    let b = fs.read(&format!("{path}/tag"), 0, None).await.unwrap();
    String::from_utf8(b.to_vec()).unwrap()
}

#[tokio::test(start_paused = true)]
async fn mount_starts_once_and_unmount_stops_everything_once() {
    let (fs, r, journal) = setup();
    mount(&fs, &r, "/a", json!({})).await.unwrap();
    assert_eq!(events_at(&journal, "/a"), ["initialize#1", "start#1"]);
    let m = fs.mount_at("/a").unwrap();
    assert_eq!((m.background_tasks(), journal.tasks()), (1, 1));

    fs.unmount("/a").await.unwrap();
    assert_eq!(
        events_at(&journal, "/a"),
        ["initialize#1", "start#1", "shutdown#1"]
    );
    assert_eq!(
        (m.background_tasks(), journal.tasks()),
        (0, 0),
        "its task is gone"
    );
    journal.assert_once_each(true);
}

#[tokio::test(start_paused = true)]
async fn a_failed_start_mounts_nothing_and_shuts_the_instance_down() {
    let (fs, r, journal) = setup();
    fs.set_hook_timeout(Duration::from_secs(2));
    for (path, how, says) in [
        ("/fail", "fail", "start failed as configured"),
        ("/panic", "panic", "start panicked"),
        ("/hang", "hang", "did not finish within 2s"),
    ] {
        let before = tokio::time::Instant::now();
        let e = mount(&fs, &r, path, json!({"start": how}))
            .await
            .unwrap_err();
        assert!(e.to_string().contains(says), "{path}: {e}");
        assert!(
            before.elapsed() <= Duration::from_secs(2),
            "{path}: bounded"
        );
        assert!(fs.mount_at(path).is_none(), "{path}: nothing mounted");
        let n = journal.instances();
        assert_eq!(journal.count("shutdown", n), 1, "{path}: shut down once");
    }
    assert_eq!(journal.tasks(), 0);
    journal.assert_once_each(true);
}

#[tokio::test(start_paused = true)]
async fn a_change_in_place_calls_no_hook_and_a_remount_swaps_instances() {
    let (fs, r, journal) = setup();
    mount(&fs, &r, "/a", json!({"tag": "one"})).await.unwrap();
    let policy = MountPolicy::unrestricted;
    let c = fs
        .reconfigure(&r, "/a", json!({"tag": "two"}), false, policy())
        .await
        .unwrap();
    assert!(!c.remounted);
    assert_eq!(tag(&fs, "/a").await, "two #1");
    assert_eq!(events_at(&journal, "/a"), ["initialize#1", "start#1"]);

    // A remount whose new instance fails to start changes nothing.
    let e = fs
        .reconfigure(
            &r,
            "/a",
            json!({"tag": "x", "start": "fail"}),
            true,
            policy(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
    assert_eq!(tag(&fs, "/a").await, "two #1", "the old instance serves on");
    assert_eq!(fs.mount_at("/a").unwrap().background_tasks(), 1);

    let c = fs
        .reconfigure(&r, "/a", json!({"tag": "three"}), true, policy())
        .await
        .unwrap();
    assert!(c.remounted && c.shutdown_error.is_none(), "{c:?}");
    assert_eq!(tag(&fs, "/a").await, "three #3");
    assert_eq!(
        events_at(&journal, "/a"),
        [
            "initialize#1",
            "start#1",
            "initialize#2",
            "start#2",
            "shutdown#2",
            "initialize#3",
            "start#3",
            "shutdown#1"
        ]
    );
    assert_eq!(journal.tasks(), 1, "only the new instance's task runs");
    journal.assert_once_each(false);
    fs.unmount("/a").await.unwrap();
    journal.assert_once_each(true);
}

#[tokio::test(start_paused = true)]
async fn a_hung_or_panicking_shutdown_is_abandoned_within_the_bound() {
    let (fs, r, journal) = setup();
    fs.set_hook_timeout(Duration::from_secs(3));
    mount(&fs, &r, "/hang", json!({"shutdown": "hang"}))
        .await
        .unwrap();
    mount(&fs, &r, "/panic", json!({"shutdown": "panic"}))
        .await
        .unwrap();
    let before = tokio::time::Instant::now();
    let e = fs.unmount("/hang").await.unwrap_err();
    assert!(e.to_string().contains("did not finish within 3s"), "{e}");
    assert_eq!(before.elapsed(), Duration::from_secs(3));
    assert!(
        fs.mount_at("/hang").is_none(),
        "the mount is gone regardless"
    );
    let e = fs.unmount("/panic").await.unwrap_err();
    assert!(e.to_string().contains("shutdown panicked"), "{e}");
    assert!(fs.mount_at("/panic").is_none());
    assert_eq!(journal.tasks(), 0);
    journal.assert_once_each(true);
}

#[tokio::test(start_paused = true)]
async fn unmount_all_goes_in_reverse_mount_order_past_a_hung_shutdown() {
    let (fs, r, journal) = setup();
    for (path, how) in [("/b", "ok"), ("/a", "hang"), ("/c", "ok")] {
        mount(&fs, &r, path, json!({"shutdown": how}))
            .await
            .unwrap();
    }
    let failures = fs.unmount_all().await;
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0].0, "/a");
    let order: Vec<String> = journal
        .events()
        .into_iter()
        .filter(|(h, _, _)| *h == "shutdown")
        .map(|(_, p, _)| p)
        .collect();
    assert_eq!(order, ["/c", "/a", "/b"]);
    assert_eq!(fs.mount_count(), 0);
    journal.assert_once_each(true);
}
