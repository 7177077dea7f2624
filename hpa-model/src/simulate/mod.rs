//! Replay simulator: a demand series through the HPA model with realistic
//! mechanics ([`reference`] documents them), and the comparison of two
//! configs on one series.
//!
//! - [`reference`]: the replay's types and the reference replay, one pod
//!   state and one reading per pod every sync;
//! - [`fast`]: the fast replay, pods held as runs of identical pods, with the
//!   same report (and a bounded form its callers can stop);
//! - [`simulate`] and [`compare_configs`]: what callers use (the fast
//!   replay).
//!
//! `fast` builds on `reference`; neither imports this module.

pub mod fast;
pub mod reference;

pub use reference::*;

/// Replays `series` under `config` with the fast replay
/// ([`fast::simulate_runs`]: pods grouped into runs of identical
/// pods), which gives the same report as [`simulate_reference`].
///
/// # Errors
/// [`SimError`] for an empty series, an invalid config or an invalid cron floor.
pub fn simulate(
    series: &DemandSeries,
    config: &AutoscalerConfig,
    options: &SimOptions,
) -> Result<SimReport, SimError> {
    fast::simulate_runs(series, config, options)
}

/// Replays `series` under both configs and compares them.
///
/// # Errors
/// As [`simulate`], for either config.
pub fn compare_configs(
    series: &DemandSeries,
    current: &AutoscalerConfig,
    proposed: &AutoscalerConfig,
    options: &SimOptions,
) -> Result<Comparison, SimError> {
    Ok(compare(
        simulate(series, current, options)?,
        simulate(series, proposed, options)?,
    ))
}
