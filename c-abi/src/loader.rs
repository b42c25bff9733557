//! Loading a plugin library: a private copy of the file is opened (so a rebuilt file at the same
//! path is new code), the ABI version is checked before any other symbol is used, every symbol is
//! probed once, and a throw-away instance tells the plugin's name and README.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use fs_core::{Error, Result};

use crate::ffi::{ABI_MAJOR, ABI_MINOR};
use crate::vtable::{Instance, Symbol, VTable};

/// A loaded plugin library. The code stays mapped while this value or any instance lives: they
/// hold an `Arc` of its symbols, which own the mapping.
#[derive(Debug)]
pub struct LoadedLibrary {
    /// The symbols, reached only through `Instance` and the methods below.
    vt: Arc<VTable>,
    /// The plugin's name (`PluginName`, or the file stem when absent).
    pub name: String,
    /// The plugin's README.
    pub readme: String,
    /// The path it was loaded from (canonical).
    pub path: PathBuf,
    /// The ABI version it declares, `(major, minor)`; `(1, 0)` without `PFSPluginABIVersion`.
    pub abi: (u32, u32),
    /// Whether `PFSNonBlocking` promised that no call blocks (then calls run in place).
    pub non_blocking: bool,
}

fn load_error(path: &Path, what: impl std::fmt::Display) -> Error {
    Error::invalid_argument(format!("cannot load plugin {}: {what}", path.display()))
}

/// Copies `path` to a private temporary file and opens that, so that loading a rebuilt library at
/// the same path maps the new code even while an old copy is still mapped.
///
/// The copy goes into a directory made for it alone (mkdtemp: an unpredictable name, mode 0700,
/// never one somebody else made) and is created with `O_EXCL`, so no planted file or link is
/// followed; both are removed once the library is mapped, which it stays after its file is gone.
fn open_private_copy(path: &Path) -> Result<libloading::Library> {
    let dir = tempfile::Builder::new()
        .prefix("pfs-plugin-")
        .tempdir()
        .map_err(|e| load_error(path, format!("cannot make a private directory: {e}")))?;
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("plugin");
    let copy = dir.path().join(format!("{stem}.so"));
    let copied = std::fs::File::open(path).and_then(|mut from| {
        let mut to = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&copy)?;
        std::io::copy(&mut from, &mut to)
    });
    copied.map_err(|e| load_error(path, format!("cannot copy to {}: {e}", copy.display())))?;
    let opened = VTable::open(&copy);
    // The mapping outlives the file name: the directory and the copy go now.
    drop(dir);
    opened.map_err(|e| load_error(path, e))
}

impl LoadedLibrary {
    /// Loads the plugin library at `path`.
    ///
    /// # Errors
    /// `InvalidArgument` naming the library and what failed: missing file, dlopen error, a newer ABI
    /// major (naming both versions), a missing `PluginNew`, or `PluginNew` returning NULL.
    pub fn load(path: &Path) -> Result<LoadedLibrary> {
        let path = path.canonicalize().map_err(|e| load_error(path, e))?;
        let lib = open_private_copy(&path)?;
        let abi = VTable::abi_version(&lib);
        if abi.0 != ABI_MAJOR {
            return Err(load_error(
                &path,
                format!(
                    "plugin ABI {}.{}, host supports {ABI_MAJOR}.x (up to {ABI_MAJOR}.{ABI_MINOR})",
                    abi.0, abi.1
                ),
            ));
        }
        let vt = Arc::new(
            VTable::resolve(lib)
                .ok_or_else(|| load_error(&path, "missing required symbol PluginNew"))?,
        );
        // A throw-away instance answers the name and the README (and is freed on drop).
        let probe = Instance::new(vt.clone())
            .ok_or_else(|| load_error(&path, "PluginNew returned NULL"))?;
        let name = probe.name().filter(|n| !n.is_empty());
        let readme = probe.readme().unwrap_or_default();
        drop(probe);
        let name = match name {
            Some(n) => n,
            None => path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("plugin")
                .to_string(),
        };
        let non_blocking = vt.non_blocking();
        Ok(LoadedLibrary {
            vt,
            name,
            readme,
            path,
            abi,
            non_blocking,
        })
    }

    /// Whether the plugin exports `symbol`.
    ///
    /// ```no_run
    /// # fn main() -> fs_core::Result<()> {
    /// use c_abi::{LoadedLibrary, Symbol};
    ///
    /// let lib = LoadedLibrary::load(std::path::Path::new("plugins/libmemfs.so"))?;
    /// println!("writable: {}", lib.has(Symbol::FsWrite));
    /// # Ok(()) }
    /// ```
    pub fn has(&self, symbol: Symbol) -> bool {
        self.vt.has(symbol)
    }

    /// A new instance of the plugin (`PluginNew`); `None` when it returns NULL.
    pub(crate) fn new_instance(&self) -> Option<Instance> {
        Instance::new(self.vt.clone())
    }
}
