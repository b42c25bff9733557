//! `pfs-server`: see `pfs_server::cli`.

/// jemalloc instead of the system allocator: with its background purging (options in
/// `.cargo/config.toml`) freed memory goes back to the system within a second, where glibc kept a
/// million deleted small files' worth of free chunks in its arenas. Decision 0017.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() {
    std::process::exit(pfs_server::cli::main_with_args(std::env::args_os()).await);
}
