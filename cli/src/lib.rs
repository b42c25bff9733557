#![doc = include_str!("../README.md")]

pub mod app;
pub mod client;
pub mod commands;
pub mod context;
pub mod error;
pub mod listing;
pub mod output;
pub mod path;
pub mod shell;
pub mod transfer;

pub use client::{Client, FileInfo, ReadOptions, Reply, WriteOptions};
pub use commands::{Command, execute, run};
pub use context::{Context, Io};
pub use error::{Error, Result};
