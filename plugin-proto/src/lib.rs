//! The protocol of isolated plugins (`docs/plugin-protocol.md`): a plugin in a process of its own
//! serves one mount over length-prefixed frames on its stdin and stdout, so a crash, a hang or a
//! leak in it costs that mount only.
//!
//! - [`frame`]: the frames;
//! - [`wire`]: the JSON shapes (error kinds, file infos, capabilities, the hello);
//! - [`serve`](mod@serve): the plugin side, for any [`fs_core::ServicePlugin`];
//! - [`client`]: the server side's connection to one plugin process;
//! - [`process`]: launching, supervising and restarting plugin processes, as a
//!   [`fs_core::ServicePlugin`] the server registers like any other.

pub mod client;
pub mod frame;
pub mod process;
pub mod serve;
pub mod wire;

pub use serve::{serve, serve_stdio};

/// The protocol version this crate speaks.
pub const PROTOCOL_VERSION: u64 = 1;
/// The environment variable a plugin process finds the magic cookie in.
pub const MAGIC_COOKIE_KEY: &str = "PFS_PLUGIN_MAGIC_COOKIE";
/// The magic cookie: a plugin checks it to know pfs started it, and sends it back in its hello.
pub const MAGIC_COOKIE_VALUE: &str = "d3e5f1c2-pfs-plugin";
/// The environment variable naming the protocol versions the server speaks.
pub const PROTOCOL_KEY: &str = "PFS_PLUGIN_PROTOCOL";
/// The most bytes one `read` or `write` call carries; larger transfers are split.
pub const CHUNK: u64 = 1 << 20;

#[cfg(test)]
mod tests;
