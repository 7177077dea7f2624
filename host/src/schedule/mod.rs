//! Predictive schedules: raise the replica floor ahead of recurring peaks
//! the autoscaler cannot catch in time, restore it after.
//!
//! - [`size`]: where, and how high, from replaying the chosen config over the
//!   history (the objective's schedule pass keeps a schedule only when it
//!   wins and holds on the held-out days);
//! - [`windows`]: window arithmetic in an IANA time zone, as KEDA cron
//!   triggers, daylight-saving correct;
//! - [`timezone`]: which zone a workload's schedule is in (annotation,
//!   namespace annotation, operator default);
//! - applying an approved schedule (cron triggers on a ScaledObject,
//!   minReplicas transitions on an HPA) is a lifecycle step:
//!   [`crate::lifecycle::schedule`];
//! - [`verify`]: after probation, did it help at its peaks and cost no more
//!   outside them.

pub mod size;
pub mod timezone;
pub mod verify;
pub mod windows;

pub use windows::{parse_hhmm, ScheduleError};
