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

use serde::{Deserialize, Serialize};

/// A window of the predictive schedule: raise the floor before a forecast
/// peak, restore it after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleWindow {
    /// Day of week (0 = Monday); absent = every day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub day_of_week: Option<u8>,
    /// Start, `HH:MM` local time.
    pub start: String,
    /// End, `HH:MM` local time.
    pub end: String,
    /// Replica floor inside the window.
    pub replica_floor: u32,
}

/// Pre-scaling before recurring forecast peaks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PredictiveSchedule {
    /// IANA time zone of the windows (`Europe/Berlin`, `UTC`); windows
    /// follow its local time across daylight-saving changes.
    pub timezone: String,
    /// How many minutes before the first short minute each window opens:
    /// the workload's observed scale-up delay (pod start-up and the
    /// autoscaler's reaction), rounded up to 5 minutes.
    #[serde(default)]
    pub lead_minutes: u32,
    /// Set when a window's demand needs more pods than maxReplicas: the
    /// floors stop at maxReplicas, and raising maxReplicas to this is left to
    /// the reviewer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_replicas_needed: Option<u32>,
    /// Today's config replayed over the analyzed history, inside and
    /// outside the windows: what the verification after probation
    /// compares with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<verify::WindowFigures>,
    /// The windows.
    pub windows: Vec<ScheduleWindow>,
}
