//! streamrotatefs's config changed on a mounted instance, through the mount router: the rotation
//! settings hold from the next chunk, the buffer sizes change as in streamfs, `output_path` needs a
//! remount, and a refused change changes nothing.

use fs_core::policy::MountPolicy;
use fs_core::{ConfigChange, Result, ServicePlugin};

use super::*;

/// A tree as [`tree`] makes, with the streamrotatefs instance at `/rot` kept at hand.
async fn tree_with(config: Value) -> (Arc<MountableFs>, PluginRegistry, Arc<StreamRotateFs>) {
    let router = MountableFs::new(ServerInfo {
        version: "9.9.9".into(),
        started: SystemTime::now(),
        data_dir: None,
    });
    let registry = PluginRegistry::new();
    register(&registry);
    for (plugin, path) in [("memfs", "/memfs"), ("hellofs", "/hellofs")] {
        router
            .mount_plugin(&registry, plugin, path, None, json!({}))
            .await
            .unwrap_or_else(|e| panic!("mount {plugin}: {e}"));
    }
    fs_core::plugin::vet(&StreamRotateFsPlugin, &config).unwrap();
    let rot = Arc::new(StreamRotateFs::new(
        StreamFsConfig::from_value(&config).unwrap(),
        RotationConfig::from_value(&config).unwrap(),
        Arc::downgrade(&router),
        Bytes::from_static(README.as_bytes()),
    ));
    router
        .mount("/rot", "streamrotatefs", None, config, rot.clone())
        .await
        .unwrap();
    (router, registry, rot)
}

async fn change(
    router: &Arc<MountableFs>,
    registry: &PluginRegistry,
    config: Value,
) -> Result<ConfigChange> {
    router
        .reconfigure(registry, "/rot", config, false, MountPolicy::unrestricted())
        .await
}

#[tokio::test]
async fn rotation_settings_hold_from_the_next_chunk_and_readers_keep_reading() {
    let (fs, registry, rot) = tree_with(json!({
        "output_path": "/memfs/out",
        "rotation_size": 100,
        "filename_pattern": "{channel}_{index}.dat",
    }))
    .await;
    let mut reader = fs.open_stream("/rot/s").await.unwrap();
    put(&fs, "/rot/s", "aaaa").await;
    put(&fs, "/rot/s", "bbbb").await;

    let done = change(
        &fs,
        &registry,
        json!({
            "output_path": "/memfs/out",
            "rotation_size": 6,
            "rotation_interval": "1h",
            "filename_pattern": "new/{channel}-{index}.log",
            "ring_buffer_size": 0,
        }),
    )
    .await
    .unwrap();
    assert_eq!(
        (done.generation, done.amended, done.remounted),
        (2, false, false)
    );
    assert_eq!(
        rot.rotation().rotation_interval,
        Some(Duration::from_secs(3600))
    );
    assert_eq!(rot.rotation().rotation_size, 6);

    // The open file (8 bytes) is past the new size: the next chunk starts a file under the new
    // pattern, and the index counts on.
    for chunk in ["cc", "dddd", "e"] {
        put(&fs, "/rot/s", chunk).await;
    }
    assert_eq!(
        files(&fs, "/memfs/out").await,
        [("s_000000.dat".to_string(), "aaaabbbb".to_string())]
    );
    assert_eq!(
        files(&fs, "/memfs/out/new").await,
        [
            ("s-000001.log".to_string(), "ccdddd".to_string()),
            ("s-000002.log".to_string(), "e".to_string()),
        ]
    );
    assert_eq!(stream_meta(&fs, "/rot/s", "files_written").await, "3");
    // The reader attached before the change got every chunk; a new one gets no history (ring 0).
    for want in ["aaaa", "bbbb", "cc", "dddd", "e"] {
        let got = tokio::time::timeout(DEADLINE, reader.next()).await.unwrap();
        assert_eq!(got.unwrap().unwrap(), want);
    }
    let mut late = fs.open_stream("/rot/s").await.unwrap();
    put(&fs, "/rot/s", "f").await;
    let got = tokio::time::timeout(DEADLINE, late.next()).await.unwrap();
    assert_eq!(got.unwrap().unwrap(), "f");

    // AGFS's "" for no interval is taken in place too.
    change(
        &fs,
        &registry,
        json!({"output_path": "/memfs/out", "rotation_interval": ""}),
    )
    .await
    .unwrap();
    assert_eq!(rot.rotation().rotation_interval, None);
    assert_eq!(rot.rotation().rotation_size, crate::DEFAULT_ROTATION_SIZE);
}

#[tokio::test]
async fn output_path_needs_a_remount_and_a_bad_value_changes_nothing() {
    let config = json!({
        "output_path": "/memfs/out",
        "rotation_size": 100,
        "filename_pattern": "{channel}.dat",
    });
    let (fs, registry, rot) = tree_with(config.clone()).await;
    put(&fs, "/rot/s", "one ").await;

    let moved = json!({"output_path": "/memfs/elsewhere", "rotation_size": 1});
    let e = change(&fs, &registry, moved).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
    assert!(e.to_string().contains("'output_path' cannot change"), "{e}");
    for (bad, key) in [
        (
            json!({"output_path": "/memfs/out", "rotation_size": 0}),
            "rotation_size",
        ),
        (
            json!({"output_path": "/memfs/out", "filename_pattern": "{nope}"}),
            "{nope}",
        ),
        (
            json!({"output_path": "/memfs/out", "channel_buffer_size": 0}),
            "channel_buffer_size",
        ),
    ] {
        let e = change(&fs, &registry, bad).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
        assert!(e.to_string().contains(key), "{e}");
    }

    // Nothing changed: same settings, same file, same generation.
    assert_eq!(rot.rotation().rotation_size, 100);
    assert_eq!(rot.rotation().output_path, "/memfs/out");
    put(&fs, "/rot/s", "two").await;
    assert_eq!(
        files(&fs, "/memfs/out").await,
        [("s.dat".to_string(), "one two".to_string())]
    );
    let mount = fs.mount_at("/rot").unwrap();
    assert_eq!((mount.generation, &mount.config), (1, &config));
}

#[tokio::test]
async fn every_key_but_output_path_is_live() {
    for p in StreamRotateFsPlugin.config_params() {
        let want = if p.name == "output_path" {
            fs_core::config::Change::Remount
        } else {
            fs_core::config::Change::Live
        };
        assert_eq!(p.change, want, "{}", p.name);
    }
}
