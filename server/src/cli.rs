//! The `pfs-server` command line: flags (Go-style single-dash spellings kept), logging, config
//! loading, and the serve loop with graceful shutdown on SIGINT/SIGTERM.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::Parser;
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

use crate::config::{Config, SAMPLE_CONFIG, parse_addr};
use crate::state::{AppState, BUILD_TIME, GIT_COMMIT, VERSION};

/// pfs-server: a plugin-based virtual filesystem over one HTTP file API.
#[derive(Debug, Parser)]
#[command(name = "pfs-server", disable_version_flag = true)]
pub struct Args {
    /// Config file (YAML). Without it, the embedded default config runs.
    #[arg(short = 'c', long = "config")]
    pub config: Option<PathBuf>,
    /// Listen address: host:port, :port (all interfaces) or port. Overrides server.address.
    #[arg(long = "addr")]
    pub addr: Option<String>,
    /// Data directory (sqlfs's default database lives here). Overrides `$PFS_DATA_DIR` and
    /// server.data_dir; default `$XDG_DATA_HOME/pfs` or `~/.local/share/pfs`.
    #[arg(long = "data-dir")]
    pub data_dir: Option<PathBuf>,
    /// Print the sample config (every plugin and key) and exit.
    #[arg(long = "print-sample-config")]
    pub print_sample_config: bool,
    /// Print the version and exit.
    #[arg(long = "version", short = 'V')]
    pub version: bool,
    /// Stop at start on any config problem: an unknown plugin, or a mount that fails (also
    /// `server.strict: true`). Without it, such mounts are reported failed and the rest serve.
    #[arg(long = "strict")]
    pub strict: bool,
}

/// Rewrites Go-style long flags (`-addr`, `-config`, `-version`, `-print-sample-config`) to clap's
/// `--` form, so AGFS command lines keep working.
pub fn normalize_args(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    const LONG: [&str; 6] = [
        "addr",
        "config",
        "version",
        "print-sample-config",
        "data-dir",
        "strict",
    ];
    args.into_iter()
        .map(|a| {
            let Some(s) = a.to_str() else { return a };
            if let Some(rest) = s.strip_prefix('-').filter(|r| !r.starts_with('-')) {
                let name = rest.split('=').next().unwrap_or(rest);
                if LONG.contains(&name) {
                    return OsString::from(format!("-{s}"));
                }
            }
            a
        })
        .collect()
}

/// Runs the server from command-line arguments; returns the process exit code.
pub async fn main_with_args(args: impl IntoIterator<Item = OsString>) -> i32 {
    let args: Vec<OsString> = args.into_iter().collect();
    if crate::plugin_host::wanted(&args) {
        return crate::plugin_host::main(args).await;
    }
    main_on(args, None).await
}

/// [`main_with_args`], serving on `listener` instead of binding the address the arguments and
/// config name. An embedder (or a test) that binds port 0 itself knows the port before the server
/// starts, and no other server can take it in between.
pub async fn main_with_listener(
    args: impl IntoIterator<Item = OsString>,
    listener: std::net::TcpListener,
) -> i32 {
    main_on(args, Some(listener)).await
}

async fn main_on(
    args: impl IntoIterator<Item = OsString>,
    bound: Option<std::net::TcpListener>,
) -> i32 {
    let args = match Args::try_parse_from(normalize_args(args)) {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    if args.version {
        println!(
            "pfs-server version: {VERSION}\ngit commit: {GIT_COMMIT}\nbuild time: {BUILD_TIME}"
        );
        return 0;
    }
    if args.print_sample_config {
        print!("{SAMPLE_CONFIG}");
        return 0;
    }
    let config = match &args.config {
        None => Config::embedded_default(),
        Some(path) => match std::fs::read_to_string(path) {
            Ok(text) => match Config::parse(&text) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("pfs-server: {}: {e}", path.display());
                    return 1;
                }
            },
            Err(e) => {
                eprintln!("pfs-server: cannot read config {}: {e}", path.display());
                return 1;
            }
        },
    };
    init_logging(&config.server.log_level);
    crate::serve::raise_descriptor_limit();
    let addr = match parse_addr(args.addr.as_deref().unwrap_or(&config.server.address)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("pfs-server: {e}");
            return 1;
        }
    };
    let data_dir = args
        .data_dir
        .clone()
        .or_else(|| {
            std::env::var_os("PFS_DATA_DIR")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        })
        .or_else(|| {
            (!config.server.data_dir.is_empty()).then(|| config.server.data_dir.clone().into())
        })
        .unwrap_or_else(crate::config::default_data_dir);
    let mut config = config;
    config.server.data_dir = data_dir.display().to_string();
    // Token files and variables are read now: a missing one stops the start, naming it.
    if let Err(e) = config.server.auth.build() {
        eprintln!("pfs-server: {e}");
        return 1;
    }
    let state = AppState::new(config);
    state.set_config_source(args.config.clone());
    state.load_plugins().await;
    // Config errors (unknown keys, bad paths) stop the server before it claims an address; so
    // do unknown plugins when it runs strict.
    let strict = args.strict || state.config.server.strict;
    match state.config.plan(&state.registry) {
        Err(e) => {
            eprintln!("pfs-server: {e}");
            return 1;
        }
        Ok(plan) if strict && !plan.unknown.is_empty() => {
            for u in &plan.unknown {
                eprintln!(
                    "pfs-server: config: {} at {}: {}",
                    u.mount.plugin, u.mount.path, u.error
                );
            }
            eprintln!("pfs-server: --strict: stopping on the problems above");
            return 1;
        }
        Ok(_) => {}
    }
    if let Err(e) = std::fs::create_dir_all(&data_dir) {
        eprintln!(
            "pfs-server: cannot create data directory {}: {e}",
            data_dir.display()
        );
        return 1;
    }
    let listener = match bound {
        Some(l) => l
            .set_nonblocking(true)
            .and_then(|()| TcpListener::from_std(l)),
        None => TcpListener::bind(addr).await,
    };
    let listener = match listener {
        Ok(l) => l,
        Err(e) => {
            eprintln!("pfs-server: cannot listen on {addr}: {e}");
            return 1;
        }
    };
    let source = args
        .config
        .as_ref()
        .map_or("embedded default config".to_string(), |p| {
            p.display().to_string()
        });
    let bound = listener.local_addr().map_or(addr, |a| a);
    tracing::info!(
        "pfs-server {VERSION} listening on http://{bound} ({source}; data directory {})",
        data_dir.display()
    );
    let auth = state.auth.load();
    tracing::info!("{}", auth.describe());
    for name in state.config.server.auth.plain_tokens() {
        tracing::warn!(
            "server.auth.tokens ({name}): the token is written in the config file; prefer token_sha256, token_file or token_env"
        );
    }
    if !bound.ip().is_loopback() && !auth.enabled() {
        if state.config.server.auth.protected_mode {
            tracing::warn!(
                "{bound} is reachable from other machines, but no tokens are configured: protected mode refuses them (403) until server.auth.tokens is set"
            );
        } else {
            tracing::warn!(
                "{bound} is reachable from other machines and the API has no authentication (protected_mode: false): anyone who can reach this port can read and change every mount, and mount host directories"
            );
        }
    }
    let mounting = match crate::start_mounts(&state).await {
        Ok(task) => task,
        Err(e) => {
            eprintln!("pfs-server: {e}");
            return 1;
        }
    };
    if strict {
        // Every config mount must be up before the server serves its first request.
        let _ = mounting.await;
        let failed: Vec<_> = state
            .tracker
            .records()
            .into_iter()
            .filter(|(_, r)| r.status == crate::state::MountStatus::Failed)
            .collect();
        if !failed.is_empty() {
            for (path, r) in &failed {
                eprintln!(
                    "pfs-server: mount {path} ({}) failed: {}",
                    r.plugin,
                    r.error.as_deref().unwrap_or("")
                );
            }
            eprintln!("pfs-server: --strict: stopping on the failed mounts above");
            return 1;
        }
    }
    reload_on_hangup(&state);
    match crate::run(listener, state, shutdown_signal()).await {
        Ok(()) => {
            tracing::info!("stopped");
            0
        }
        Err(e) => {
            eprintln!("pfs-server: {e}");
            1
        }
    }
}

fn init_logging(level: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        let level = match level.to_ascii_lowercase().as_str() {
            l @ ("error" | "warn" | "info" | "debug" | "trace") => l.to_string(),
            "warning" => "warn".to_string(),
            _ => "info".to_string(),
        };
        EnvFilter::new(level)
    });
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Reloads the config on each `SIGHUP` (as `POST /api/v1/config/reload`), logging what it did.
fn reload_on_hangup(state: &AppState) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hangups) = signal(SignalKind::hangup()) else {
            tracing::warn!("cannot listen for SIGHUP; reload with POST /api/v1/config/reload");
            return;
        };
        let state = state.clone();
        tokio::spawn(async move {
            while hangups.recv().await.is_some() {
                tracing::info!("SIGHUP: reloading the config");
                match state.reload().await {
                    Ok(report) => crate::routes::config::log_report(&report),
                    Err(rejected) => crate::routes::config::log_rejected(&rejected),
                }
            }
        });
    }
    #[cfg(not(unix))]
    let _ = state;
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown signal received; finishing in-flight requests");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_style_flags_are_accepted() {
        let args =
            normalize_args(["pfs-server", "-addr", ":9000", "-c", "x.yaml"].map(OsString::from));
        let parsed = Args::try_parse_from(args).unwrap();
        assert_eq!(parsed.addr.as_deref(), Some(":9000"));
        assert_eq!(parsed.config.unwrap().to_str(), Some("x.yaml"));
        let parsed = Args::try_parse_from(normalize_args(
            ["pfs-server", "-version"].map(OsString::from),
        ))
        .unwrap();
        assert!(parsed.version);
        let parsed = Args::try_parse_from(normalize_args(
            ["pfs-server", "--addr=:1"].map(OsString::from),
        ))
        .unwrap();
        assert_eq!(parsed.addr.as_deref(), Some(":1"));
    }
}
