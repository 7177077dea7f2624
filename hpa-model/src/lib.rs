//! `stepscale-hpa`: a model of the Kubernetes HorizontalPodAutoscaler controller and of
//! KEDA's scale-to-zero and cron triggers, and a replay simulator built on the model.
//! The conformance runner for transcribed upstream test cases is its own crate,
//! `stepscale-hpa-conformance`.
//!
//! - [`model`]: replica proposals per metric, behavior policies and stabilization, one
//!   reconcile. Pure and deterministic: time is always passed in.
//! - [`keda`]: cron triggers (windows in a time zone) and the scale executor.
//! - [`simulate`]: replays a demand series under an autoscaler config and compares two.
//! - [`series`]: reads `timestamp,value` CSV series.
//! - [`window`]: the first-in, first-out queue of the replay's sliding windows.
//!
//! Nothing here talks to a cluster.
//!
//! # Examples
//! ```
//! use stepscale_hpa::simulate::{simulate, AutoscalerConfig, DemandSeries, SimOptions};
//! let demand = DemandSeries::from_cpu_cores(0, 60, vec![1.0, 4.0, 4.0, 1.0]);
//! let report = simulate(&demand, &AutoscalerConfig::cpu(1, 10, 70, 0.5), &SimOptions::default())?;
//! assert!(report.peak_replicas >= 1);
//! # Ok::<(), stepscale_hpa::simulate::SimError>(())
//! ```

#![deny(missing_docs)]

pub mod keda;
pub mod limits;
pub mod model;
pub mod series;
pub mod simulate;
pub mod tz;
pub mod window;
