//! One file per route group; handlers name only success statuses.

pub mod directories;
pub mod files;
pub mod health;
pub mod mounts;
pub mod ops;
pub mod plugins;
