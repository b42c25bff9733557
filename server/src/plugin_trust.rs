//! Where the API may load native code from (`POST /plugins/load`), beyond the plugin directory
//! rule: a library must sit where no one but the server's user (or root) could have put or
//! changed it, as sshd's StrictModes asks of `authorized_keys`, and outside every directory a
//! mount exposes to clients (a localfs mount on the plugin directory would let any writer upload a
//! library, whose constructor runs at `dlopen`). Checked before the library is opened.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use fs_core::{Error, Result};

/// Checks `library` (canonical) and every directory above it, then that no directory in
/// `exposed` (canonical host directories of mounts) contains it.
///
/// # Errors
/// `PermissionDenied` naming the path and why.
pub fn check(library: &Path, exposed: &[PathBuf]) -> Result<()> {
    let me = rustix::process::geteuid().as_raw();
    let mut at = Some(library);
    while let Some(p) = at {
        let meta = std::fs::metadata(p).map_err(|e| {
            Error::permission_denied(p.display().to_string()).with_message(format!(
                "permission denied: cannot check {}: {e}",
                p.display()
            ))
        })?;
        let owner = meta.uid();
        if owner != 0 && owner != me {
            return Err(refused(
                library,
                &format!(
                    "{} belongs to user {owner}, neither the server's user nor root",
                    p.display()
                ),
            ));
        }
        let mode = meta.mode();
        // A directory others may write to is safe only with the sticky bit (/tmp): then they
        // cannot rename or remove what is not theirs, and the next step down is checked too.
        let sticky_dir = meta.is_dir() && mode & 0o1000 != 0;
        if mode & 0o022 != 0 && !sticky_dir {
            return Err(refused(
                library,
                &format!(
                    "{} is writable by others than its owner (mode {:o})",
                    p.display(),
                    mode & 0o7777
                ),
            ));
        }
        at = p.parent();
    }
    if let Some(dir) = exposed.iter().find(|d| library.starts_with(d)) {
        return Err(refused(
            library,
            &format!(
                "it is inside {}, which a mount serves to clients (anyone who may write there could have put it there)",
                dir.display()
            ),
        ));
    }
    Ok(())
}

fn refused(library: &Path, why: &str) -> Error {
    Error::permission_denied(library.display().to_string()).with_message(format!(
        "permission denied: will not load {}: {why}",
        library.display()
    ))
}

/// The host directories the mounts of `fs` serve (localfs's `local_dir`), canonical.
pub fn exposed_dirs(fs: &fs_core::MountableFs) -> Vec<PathBuf> {
    fs.mounts()
        .iter()
        .filter(|m| m.plugin == "localfs")
        .filter_map(|m| m.config.get("local_dir")?.as_str().map(PathBuf::from))
        .filter_map(|d| d.canonicalize().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn chmod(p: &Path, mode: u32) {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn only_owned_unshared_unexposed_places_pass() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let lib = root.join("plugins/lib.so");
        std::fs::create_dir(root.join("plugins")).unwrap();
        std::fs::write(&lib, b"not really a library").unwrap();
        chmod(&lib, 0o644);
        check(&lib, &[]).unwrap();

        chmod(&lib, 0o666);
        let e = check(&lib, &[]).unwrap_err().to_string();
        assert!(e.contains("writable by others") && e.contains("666"), "{e}");
        chmod(&lib, 0o644);

        chmod(&root.join("plugins"), 0o777);
        let e = check(&lib, &[]).unwrap_err().to_string();
        assert!(e.contains("plugins is writable by others"), "{e}");
        // With the sticky bit, as /tmp: others cannot replace what is ours.
        chmod(&root.join("plugins"), 0o1777);
        check(&lib, &[]).unwrap();
        chmod(&root.join("plugins"), 0o755);

        let e = check(&lib, &[root.join("plugins")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("which a mount serves"), "{e}");
        check(&lib, &[root.join("other")]).unwrap();
    }
}
