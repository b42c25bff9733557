//! `pfs-server`: see `pfs_server::cli`.

#[tokio::main]
async fn main() {
    std::process::exit(pfs_server::cli::main_with_args(std::env::args_os()).await);
}
