//! `pfs-server`: see `pfs_server::cli`.

/// jemalloc instead of the system allocator: with its background purging (options in
/// `.cargo/config.toml`) freed memory goes back to the system within a second, where glibc kept a
/// million deleted small files' worth of free chunks in its arenas. Decision 0017.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // A plugin host serves one channel: one thread (plus the blocking pool for a plugin's slow
    // calls) answers it without handing every call between worker threads.
    let runtime = if pfs_server::plugin_host::wanted(&args) {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
    };
    let runtime = match runtime {
        Ok(r) => r,
        Err(e) => {
            eprintln!("pfs-server: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    let code = runtime.block_on(pfs_server::cli::main_with_args(args));
    drop(runtime);
    std::process::exit(code);
}
