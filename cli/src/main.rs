//! The `pfs` binary: everything is in the library ([`pfs_cli::app`]).

fn main() -> std::process::ExitCode {
    pfs_cli::app::main()
}
