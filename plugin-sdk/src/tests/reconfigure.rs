//! `PFSReconfigure` (ABI 1.3) as the host calls it: each answer of [`PluginFs::reconfigure`]
//! crossing the ABI (accepted, amended text handed back through `PFSFree`, errno-prefixed
//! refusals), panics, NULL and malformed arguments, and the default ("not in place").

use super::*;

/// Calls `PFSReconfigure` with `*amended_json` NULL at the start, as the host does; returns the
/// error text and the amended text, both released through `PFSFree`.
fn reconfigure(p: *mut c_void, old: &CStr, new: &CStr) -> (Option<String>, Option<String>) {
    let mut amended: *const c_char = ptr::null();
    // SAFETY: an instance from PluginNew (or NULL), NUL-terminated configs, a valid out-param.
    let err = unsafe { PFSReconfigure(p, old.as_ptr(), new.as_ptr(), &mut amended) };
    (take_text(err), take_text(amended))
}

fn limit(p: *mut c_void) -> String {
    String::from_utf8(read(p, c"/limit", 0, -1).1.unwrap()).unwrap()
}

#[test]
fn accepted_applies_the_new_config_and_returns_nothing() {
    let p = mounted();
    let old = c"{\"mount_path\":\"/t\"}";
    assert_eq!(
        reconfigure(p, old, c"{\"mount_path\":\"/t\",\"limit\":7}"),
        (None, None)
    );
    assert_eq!(limit(p), "7");
    unmount(p);
    assert_eq!(live(), 0);
}

#[test]
fn amended_returns_the_whole_config_applied_as_json_text() {
    let p = mounted();
    let (err, amended) = reconfigure(
        p,
        c"{\"mount_path\":\"/t\"}",
        c"{\"mount_path\":\"/t\",\"limit\":5000,\"other\":\"kept\"}",
    );
    assert_eq!(err, None);
    let amended: serde_json::Value = serde_json::from_str(&amended.unwrap()).unwrap();
    assert_eq!(
        amended,
        serde_json::json!({"mount_path": "/t", "limit": 100, "other": "kept"})
    );
    assert_eq!(limit(p), "100");
    unmount(p);
    assert_eq!(live(), 0, "the amended text went back through PFSFree");
}

#[test]
fn refusals_are_errno_texts_and_leave_the_instance_as_it_was() {
    let p = mounted();
    let old = c"{\"mount_path\":\"/t\",\"root\":\"/a\"}";
    assert_eq!(
        reconfigure(p, old, c"{\"root\":\"/a\",\"limit\":\"many\"}"),
        (Some("EINVAL: limit must be a whole number".into()), None)
    );
    assert_eq!(
        reconfigure(p, old, c"{\"root\":\"/b\",\"limit\":1}"),
        (Some("ENOTSUP: root cannot change in place".into()), None)
    );
    let (err, amended) = reconfigure(p, old, c"{\"panic\":1}");
    assert_eq!(
        (err.as_deref(), amended),
        (Some("EIO: plugin panicked: reconfigure exploded"), None)
    );
    assert_eq!(read(p, c"/limit", 0, -1).0, -1, "nothing was applied");
    // The call that panicked released the instance: the next one runs.
    assert_eq!(
        reconfigure(p, old, c"{\"root\":\"/a\",\"limit\":3}"),
        (None, None)
    );
    assert_eq!(limit(p), "3");
    unmount(p);
    assert_eq!(live(), 0);
}

#[test]
fn null_and_malformed_arguments_are_refused_before_the_plugin_runs() {
    let p = mounted();
    let good = c"{\"limit\":1}";
    assert_eq!(
        reconfigure(ptr::null_mut(), good, good).0.as_deref(),
        Some("EINVAL: plugin instance is NULL")
    );
    assert!(
        reconfigure(p, c"{not json", good)
            .0
            .unwrap()
            .starts_with("EINVAL: old_config_json is not valid JSON")
    );
    // SAFETY: a live instance; the NULL arguments are what is tested.
    let (no_new, no_out) = unsafe {
        (
            PFSReconfigure(p, good.as_ptr(), ptr::null(), &mut ptr::null()),
            PFSReconfigure(p, good.as_ptr(), good.as_ptr(), ptr::null_mut()),
        )
    };
    assert_eq!(
        take_text(no_new).as_deref(),
        Some("EINVAL: new_config_json is NULL")
    );
    assert_eq!(
        take_text(no_out).as_deref(),
        Some("EINVAL: amended_json is NULL")
    );
    assert_eq!(read(p, c"/limit", 0, -1).0, -1, "the plugin never ran");
    unmount(p);
    assert_eq!(live(), 0);
}

#[test]
fn the_default_says_the_change_needs_a_remount() {
    /// Implements nothing optional: `reconfigure` keeps its default.
    #[derive(Default)]
    struct Plain;
    impl PluginFs for Plain {
        const NAME: &'static str = "plain";
        fn stat(&self, _: &str) -> Result<FileInfo, PluginError> {
            Err(PluginError::NotFound)
        }
        fn read_dir(&self, _: &str) -> Result<Vec<FileInfo>, PluginError> {
            Err(PluginError::NotFound)
        }
        fn read(&self, _: &str, _: u64, _: Option<u64>) -> Result<Vec<u8>, PluginError> {
            Err(PluginError::NotFound)
        }
    }
    let p = crate::__private::plugin_new::<Plain>();
    let mut amended: *const c_char = ptr::null();
    let cfg = c"{\"mount_path\":\"/p\"}";
    // SAFETY: a live instance of `Plain`, NUL-terminated configs and a valid out-param; the
    // instance is freed once, after the call.
    let err = unsafe {
        let err = crate::__private::plugin_reconfigure::<Plain>(
            p,
            cfg.as_ptr(),
            cfg.as_ptr(),
            &mut amended,
        );
        crate::__private::plugin_free::<Plain>(p);
        err
    };
    assert!(amended.is_null());
    assert_eq!(
        take_text(err).as_deref(),
        Some("ENOTSUP: this plugin cannot change its config in place")
    );
    assert_eq!(live(), 0);
}
