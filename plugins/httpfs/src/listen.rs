//! httpfs's listener: binding an address, and the one background task that serves it, which
//! takes a new listener in place of the old one on a config change.

use std::sync::Arc;

use axum::serve::ListenerExt;
use fs_core::{Error, ErrorKind, Result};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

use super::serve::{self, Site};

/// `host:port`, with brackets around an IPv6 host.
pub(crate) fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Maps a failed bind to an error that names the address.
fn map_bind_error(e: std::io::Error, host: &str, port: u16) -> Error {
    use std::io::ErrorKind as Io;
    let at = host_port(host, port);
    let (kind, why) = match e.kind() {
        Io::AddrInUse => (
            ErrorKind::AlreadyExists,
            "address already in use (another server listens on that port)".to_string(),
        ),
        Io::PermissionDenied => (ErrorKind::PermissionDenied, e.to_string()),
        _ => (ErrorKind::InvalidArgument, e.to_string()),
    };
    Error::new(kind, format!("httpfs: cannot listen on {at}: {why}")).with_source(e)
}

/// Binds `host:port`.
///
/// # Errors
/// The bind's failure, naming `host:port`: `AlreadyExists` when the port is taken,
/// `PermissionDenied` for a privileged port, `InvalidArgument` for an address that is not local
/// or does not resolve.
pub(crate) async fn bind(host: &str, port: u16) -> Result<TcpListener> {
    TcpListener::bind((host, port))
        .await
        .map_err(|e| map_bind_error(e, host, port))
}

/// What the serving task is told.
#[derive(Debug)]
pub(crate) enum Order {
    /// Serve this listener instead of the current one; `done` answers once the old one is closed.
    Swap(TcpListener, oneshot::Sender<()>),
    /// Close the listener and end; `done` answers once it is closed.
    Stop(oneshot::Sender<()>),
}

/// Serves `site` on `listener` until `orders` ends, a `Stop` comes, or the task is dropped (the
/// instance's shutdown: its background work is dropped at the next await, the listener with it).
///
/// Each listener's open connections are told to finish their response and close (graceful
/// shutdown) when it is swapped out or the task ends or is dropped; they are not waited for.
pub(crate) async fn serve(
    mut listener: TcpListener,
    site: Arc<Site>,
    mut orders: mpsc::Receiver<Order>,
) {
    loop {
        // Sent or dropped (the task's end, however it comes): the connections shut down.
        let (stop, stopped) = oneshot::channel::<()>();
        // Headers and body leave in separate writes; without NODELAY, Nagle plus delayed ACK
        // stall every small streamed response by tens of milliseconds.
        let listener_nodelay = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let mut server = axum::serve(listener_nodelay, serve::router(site.clone()))
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .into_future();
        // The server ends only once `stop` is sent or dropped, which comes after this.
        let order = tokio::select! {
            _ = &mut server => None,
            order = orders.recv() => order,
        };
        let _ = stop.send(());
        // Dropping the server drops its listener: the port is closed from here on.
        drop(server);
        match order {
            Some(Order::Swap(next, done)) => {
                let _ = done.send(());
                listener = next;
            }
            Some(Order::Stop(done)) => {
                let _ = done.send(());
                return;
            }
            None => return,
        }
    }
}
