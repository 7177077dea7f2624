//! The stepscale host: the `stepscale` CLI and the operator. Modules
//! follow the data: snapshot → engine and host checks ([`analysis`]) →
//! [`objective`] and [`replay`] → [`recommendation`]. In the cluster:
//! [`cluster`] (reads), [`history`] → [`analysis`] → [`lifecycle`] (the
//! [`crd`]'s phases and every write), wired by [`operator`] (the loop,
//! leader election, HTTP, metrics, config). `docs/architecture.md` maps
//! them.
#![deny(missing_docs)]

pub mod analysis;
pub mod change;
pub mod cli;
pub mod cluster;
pub mod crd;
pub mod history;
pub mod license;
pub mod lifecycle;
pub mod objective;
pub mod operator;
pub mod recommendation;
pub mod replay;
pub mod report;
pub mod review;
pub mod rules;
pub mod schedule;
pub mod telemetry;

#[cfg(test)]
mod fixtures;
