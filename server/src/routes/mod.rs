//! One file per route group; handlers name only success statuses.

pub mod config;
pub mod digest;
pub mod directories;
pub mod files;
pub mod grep;
pub mod handles;
pub mod health;
pub mod links;
pub mod mounts;
pub mod ops;
pub mod plugins;
