//! hellofs-rust: an external pfs plugin written in Rust with `pfs-plugin-sdk`. It serves a
//! read-only tree: `/` and `/hello` (`Hello from Rust plugin!\n`); every mutation answers
//! `ENOTSUP` (HTTP 501).

use std::time::SystemTime;

use pfs_plugin_sdk::{FileInfo, PluginError, PluginFs, export_plugin};

/// The content of `/hello`.
const HELLO: &[u8] = b"Hello from Rust plugin!\n";

/// One mounted hellofs-rust: only remembers when it was created, reported as the modification time.
#[derive(Debug)]
pub struct HelloFs {
    started: SystemTime,
}

impl Default for HelloFs {
    fn default() -> Self {
        HelloFs {
            started: SystemTime::now(),
        }
    }
}

impl PluginFs for HelloFs {
    const NAME: &'static str = "hellofs-rust";
    // Everything is in memory: the host may call it in place (`PFSNonBlocking`).
    const NON_BLOCKING: bool = true;

    fn readme() -> &'static str {
        include_str!("../README.md")
    }

    fn stat(&self, path: &str) -> Result<FileInfo, PluginError> {
        match path {
            "/" => Ok(FileInfo::dir("/")
                .with_mod_time(self.started)
                .with_meta(Self::NAME, "directory")),
            "/hello" => Ok(FileInfo::file("hello", HELLO.len() as u64)
                .with_mod_time(self.started)
                .with_meta(Self::NAME, "file")
                .with_content("language", "rust")),
            _ => Err(PluginError::NotFound),
        }
    }

    fn read_dir(&self, path: &str) -> Result<Vec<FileInfo>, PluginError> {
        match path {
            "/" => Ok(vec![self.stat("/hello")?]),
            "/hello" => Err(PluginError::NotADirectory),
            _ => Err(PluginError::NotFound),
        }
    }

    fn read(&self, path: &str, offset: u64, size: Option<u64>) -> Result<Vec<u8>, PluginError> {
        match path {
            "/hello" => {
                let start = usize::try_from(offset)
                    .unwrap_or(usize::MAX)
                    .min(HELLO.len());
                let end = size.map_or(HELLO.len(), |s| {
                    start.saturating_add(usize::try_from(s).unwrap_or(usize::MAX))
                });
                Ok(HELLO[start..end.min(HELLO.len())].to_vec())
            }
            "/" => Err(PluginError::IsADirectory),
            _ => Err(PluginError::NotFound),
        }
    }

    // Every mutation keeps the trait's default: `Err(PluginError::Unsupported)`.
}

export_plugin!(HelloFs);
