//! `pfs-server plugin-host`: the process an isolated plugin runs in. The server starts it (never
//! a person): it ties itself to the server's life and limits ([`pfs_plugin_proto::process::confine`]),
//! then serves a shared library over the plugin protocol on stdin/stdout, or `exec`s a plugin
//! program, which speaks the protocol itself.

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Parser;

/// The plugin host's arguments.
#[derive(Debug, Parser)]
#[command(name = "pfs-server plugin-host")]
struct HostArgs {
    /// The server's process id: the host dies with it.
    #[arg(long)]
    parent: u32,
    /// The address-space limit, in bytes.
    #[arg(long)]
    memory: Option<u64>,
    /// The CPU-time limit, in seconds.
    #[arg(long)]
    cpu: Option<u64>,
    /// A shared library (the C ABI) to load and serve.
    #[arg(long, conflicts_with = "exec", required_unless_present = "exec")]
    library: Option<PathBuf>,
    /// A plugin program to run in this process's place.
    #[arg(long)]
    exec: Option<PathBuf>,
}

/// Whether `args` (the whole command line) asks for the plugin host.
pub fn wanted(args: &[OsString]) -> bool {
    args.get(1).is_some_and(|a| a == "plugin-host")
}

/// Runs the plugin host; returns the exit code.
pub async fn main(args: Vec<OsString>) -> i32 {
    // `pfs-server plugin-host ...` parses as `plugin-host ...`.
    let args = match HostArgs::try_parse_from(args.into_iter().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return 2;
        }
    };
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(false)
        .without_time()
        .try_init();
    if let Err(e) = pfs_plugin_proto::process::confine(args.parent, args.memory, args.cpu) {
        eprintln!("pfs-server plugin-host: {e}");
        return 1;
    }
    if let Some(program) = args.exec {
        use std::os::unix::process::CommandExt;
        let e = std::process::Command::new(&program).exec();
        eprintln!(
            "pfs-server plugin-host: cannot run {}: {e}",
            program.display()
        );
        return 1;
    }
    let Some(path) = args.library else {
        return 2;
    };
    let lib = match c_abi::LoadedLibrary::load(&path) {
        Ok(l) => Arc::new(l),
        Err(e) => {
            eprintln!("pfs-server plugin-host: {}: {e}", path.display());
            return 1;
        }
    };
    let name = lib.name.clone();
    let plugin = Arc::new(c_abi::ExternalPlugin::new(lib, name));
    match pfs_plugin_proto::serve_stdio(plugin).await {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("pfs-server plugin-host: {e}");
            1
        }
    }
}
