//! The reconciles of one replay at which a behavior's rate limits could act,
//! kept so that another behavior's rate limits can be checked against them
//! without replaying.
//!
//! Scaling policies (`behavior.scaleUp.policies`, `scaleDown.policies` and
//! their `selectPolicy`) enter a reconcile only where the stabilized
//! recommendation differs from the current count: there the controller
//! bounds the change by what the policies allow over their periods
//! ([`ScalingHistory::convert_with_rules`]). Everywhere else the count is
//! kept whatever the policies say, and the recommendations the windows
//! remember do not depend on them. So two configs that differ only in their
//! policies replay the same, pod for pod, exactly when the other config's
//! rate limits give the same count at every reconcile in this log, checked
//! in order against the scale events they lead to.

use super::behavior::{Behavior, ScalingHistory};

/// One reconcile where the rate limits or the bounds could change the count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct RateDecision {
    now_ms: i64,
    current: i32,
    /// The stabilized recommendation the rate limits bounded; `None` when
    /// the count was outside `[minReplicas, maxReplicas]` and was brought
    /// back without them.
    stabilized: Option<i32>,
    /// The count the reconcile decided.
    desired: i32,
}

/// The log of a controller with a behavior (see the module docs): every
/// reconcile whose stabilized recommendation differed from the current
/// count, and every scale event, in time order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RateDecisions {
    decisions: Vec<RateDecision>,
}

impl RateDecisions {
    /// Logs a reconcile at `now_ms` that bounded `stabilized` (a value other
    /// than `current`) to `desired`.
    pub(crate) fn bounded(&mut self, now_ms: i64, current: i32, stabilized: i32, desired: i32) {
        self.decisions.push(RateDecision {
            now_ms,
            current,
            stabilized: Some(stabilized),
            desired,
        });
    }

    /// Logs a reconcile at `now_ms` that brought a count outside the bounds
    /// back to them (no rate limit applies there).
    pub(crate) fn rebounded(&mut self, now_ms: i64, current: i32, desired: i32) {
        self.decisions.push(RateDecision {
            now_ms,
            current,
            stabilized: None,
            desired,
        });
    }

    /// Reconciles logged.
    pub fn len(&self) -> usize {
        self.decisions.len()
    }

    /// True when no reconcile was logged.
    pub fn is_empty(&self) -> bool {
        self.decisions.is_empty()
    }

    /// Whether a controller with `behavior` instead, and the same floor,
    /// ceiling, stabilization windows and everything else, decides the same
    /// count at every logged reconcile (so at every reconcile of the
    /// replay). `downscale_window_s` is the controller's downscale
    /// stabilization flag, which fills a missing scale-down window.
    ///
    /// The caller guarantees that only the policies differ; the check walks
    /// the log in order, recording the scale events as that controller would
    /// and asking its rate limits at each reconcile, and stops at the first
    /// that decides otherwise.
    pub fn same_under(
        &self,
        behavior: &Behavior,
        downscale_window_s: i64,
        min_replicas: i32,
        max_replicas: i32,
    ) -> bool {
        let up = behavior.scale_up_rules();
        let down = behavior.scale_down_rules(downscale_window_s);
        let mut history = ScalingHistory::default();
        for d in &self.decisions {
            if let Some(stabilized) = d.stabilized {
                let (desired, _) = history.convert_with_rules(
                    &up,
                    &down,
                    min_replicas,
                    max_replicas,
                    d.current,
                    stabilized,
                    d.now_ms,
                );
                if desired != d.desired {
                    return false;
                }
            }
            if d.desired != d.current {
                history.store_scale_event(Some(behavior), d.current, d.desired, d.now_ms);
            }
        }
        true
    }
}
