//! The pfs HTTP server: `/api/v1` over the mount router.
//!
//! - [`app()`] builds the router (testable with `oneshot`, no socket);
//! - [`run`] serves it on a bound listener until a shutdown future resolves, then unmounts every
//!   filesystem (each plugin's shutdown runs once);
//! - [`cli`] is the `pfs-server` command line.

pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod error;
pub mod extract;
pub mod handles;
pub mod plugin_host;
pub mod plugin_trust;
pub mod reload;
pub mod routes;
pub mod serve;
pub mod state;

use std::future::Future;

pub use app::app;
pub use config::Config;
pub use state::AppState;
use tokio::net::TcpListener;

/// Mounts `/dev` and every mount the config declares. `/dev` is mounted before this returns; the
/// config mounts proceed in the background, in file order, tracked by `/health` and `/ready`. An
/// enabled entry of a plugin this server lacks is recorded as a `failed` mount (logged) while the
/// others serve.
///
/// # Errors
/// `InvalidArgument` when the config names an unknown key of a known plugin or a bad path.
pub async fn start_mounts(state: &AppState) -> fs_core::Result<tokio::task::JoinHandle<()>> {
    state.load_plugins().await;
    let config::Plan {
        mounts: mut plan,
        unknown,
    } = state.config.plan(&state.registry)?;
    for u in &unknown {
        tracing::error!(path = %u.mount.path, plugin = %u.mount.plugin, "mount failed: {}", u.error);
        state
            .tracker
            .set(&u.mount, state::MountStatus::Failed, Some(u.error.clone()));
    }
    // /dev first and synchronously: it is always there.
    let dev = plan
        .iter()
        .position(|m| m.path == "/dev")
        .expect("planned above");
    let dev = plan.remove(dev);
    state.mount_planned(&dev).await;
    for m in &plan {
        state.tracker.set(m, state::MountStatus::Pending, None);
    }
    let st = state.clone();
    Ok(tokio::spawn(async move {
        for m in &plan {
            st.mount_planned(m).await;
        }
    }))
}

/// Serves `state` on `listener` until `shutdown` resolves, with the connection limits of the
/// config ([`serve`]); in-flight requests finish, then every mount is unmounted and its plugin's
/// shutdown runs once.
///
/// # Errors
/// I/O errors of the listener.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let fs = state.fs.clone();
    let limits = state.config.server.conn_limits(serve::descriptor_limit());
    let guard = serve::SiteGuard::new(
        &state.config.server.allowed_hosts,
        &state.config.server.allowed_origins,
    );
    let auth = state.auth.clone();
    serve::serve(listener, app(state), limits, guard, auth, shutdown).await?;
    for (path, e) in fs.unmount_all().await {
        tracing::error!(path = %path, "shutdown failed: {e}");
    }
    Ok(())
}
