//! The stepscale host: the `stepscale` CLI and (later) the operator. Modules
//! follow the data: snapshot → engine ([`analysis`]) and host checks
//! ([`checks`]) → [`recommendation`].
#![deny(missing_docs)]

pub mod analysis;
pub mod builtin;
pub mod checks;
pub mod cli;
pub mod demo;
pub mod history;
pub mod license;
pub mod recommendation;
pub mod replay;

#[cfg(test)]
mod fixtures;
