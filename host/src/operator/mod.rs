//! The operator's wiring: the reconcile loop ([`controller`]), leader
//! election ([`leader`]), keeping the tick inside its interval
//! ([`spread`]), its HTTP endpoints ([`http`]: health, readiness
//! and the metric families of [`crate::telemetry::metrics`]), giving a
//! tick's freed memory back ([`memory`]), and its
//! configuration from Helm values ([`config`]). The
//! work itself is done by the modules the data flows through: cluster,
//! history, analysis, objective, recommendation, lifecycle.

pub mod config;
pub mod controller;
pub mod http;
pub mod leader;
pub mod memory;
pub mod spread;
