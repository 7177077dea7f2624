//! The stepscale host: the `stepscale` CLI and the operator. Modules
//! follow the data: snapshot → engine ([`analysis`]) and host checks
//! ([`checks`]) → [`recommendation`]. In the cluster: [`cluster`] (reads),
//! [`history`] → [`analysis`] → [`lifecycle`] (the [`crd`]'s phases and
//! every write), wired by [`controller`] with [`leader`] election.
#![deny(missing_docs)]

pub mod analysis;
pub mod builtin;
pub mod checks;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod controller;
pub mod crd;
pub mod demo;
pub mod history;
pub mod http;
pub mod leader;
pub mod license;
pub mod lifecycle;
pub mod metrics;
pub mod objective;
pub mod recommendation;
pub mod replay;
pub mod report;
pub mod rules;
pub mod schedule;
pub mod telemetry;

#[cfg(test)]
mod fixtures;
