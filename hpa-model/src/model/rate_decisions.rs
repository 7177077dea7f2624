//! The reconciles of one replay at which the rate limits could act, kept so
//! that a behavior's rate limits can be checked against them without
//! replaying.
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
//!
//! A log of the legacy controller (no behavior: a scale-down window of the
//! `--horizontal-pod-autoscaler-downscale-stabilization` flag, no scale-up
//! window, the `max(2 × current, 4)` scale-up limit) answers the same for a
//! behavior with those two windows. Both remember the same recommendations
//! and read the same scale-down window; only where the legacy stabilized
//! recommendation differs from the count can the behavior's differ:
//! the proposal itself above the count (the behavior has no scale-up
//! window), else the legacy one capped at the count (the behavior holds a
//! count its scale-down window reaches). Wherever the legacy controller
//! keeps the count, the behavior does too.

use super::behavior::{Behavior, ScalingHistory};

/// The most reconciles a log holds (about half a MiB). A controller whose
/// stabilized recommendation differs from the count at nearly every sync
/// (scale-down disabled, say) would log them all; past this the log is
/// dropped and answers nothing, so a search keeping dozens of logs per
/// workload stays small.
pub const MAX_RATE_DECISIONS: usize = 16_384;

/// One reconcile where the rate limits or the bounds could change the count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct RateDecision {
    now_ms: i64,
    current: i32,
    /// The metric proposal (not negative).
    proposal: i32,
    /// The stabilized recommendation the rate limits bounded; `None` when
    /// the count was outside `[minReplicas, maxReplicas]` and was brought
    /// back without them.
    stabilized: Option<i32>,
    /// The count the reconcile decided.
    desired: i32,
}

/// Which normalization a log's reconciles ran.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Normalization {
    /// None logged yet.
    #[default]
    Unknown,
    /// The legacy one (no behavior).
    Legacy,
    /// A behavior's.
    Behavior,
    /// Both (a spec that changed during the replay), or more reconciles
    /// than [`MAX_RATE_DECISIONS`]: the log answers nothing.
    Unusable,
}

/// The log of a controller (see the module docs): every reconcile whose
/// stabilized recommendation differed from the current count, and every
/// scale event, in time order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RateDecisions {
    decisions: Vec<RateDecision>,
    normalization: Normalization,
}

impl RateDecisions {
    /// Logs a reconcile at `now_ms` whose normalization (`legacy` or a
    /// behavior's) stabilized `proposal` to `stabilized` (a value other than
    /// `current`) and bounded it to `desired`.
    pub(crate) fn bounded(
        &mut self,
        legacy: bool,
        now_ms: i64,
        current: i32,
        proposal: i32,
        stabilized: i32,
        desired: i32,
    ) {
        let kind = if legacy {
            Normalization::Legacy
        } else {
            Normalization::Behavior
        };
        self.normalization = match self.normalization {
            Normalization::Unknown => kind,
            seen if seen == kind => kind,
            _ => Normalization::Unusable,
        };
        self.push(RateDecision {
            now_ms,
            current,
            proposal,
            stabilized: Some(stabilized),
            desired,
        });
    }

    /// Appends `d`, or drops the whole log past [`MAX_RATE_DECISIONS`].
    fn push(&mut self, d: RateDecision) {
        if self.normalization == Normalization::Unusable {
            return;
        }
        if self.decisions.len() >= MAX_RATE_DECISIONS {
            self.normalization = Normalization::Unusable;
            self.decisions = Vec::new();
            return;
        }
        self.decisions.push(d);
    }

    /// Logs a reconcile at `now_ms` that brought a count outside the bounds
    /// back to them (no rate limit applies there).
    pub(crate) fn rebounded(&mut self, now_ms: i64, current: i32, desired: i32) {
        self.push(RateDecision {
            now_ms,
            current,
            proposal: desired,
            stabilized: None,
            desired,
        });
    }

    /// Reconciles logged (none once the log was dropped).
    pub fn len(&self) -> usize {
        self.decisions.len()
    }

    /// True when no reconcile was logged.
    pub fn is_empty(&self) -> bool {
        self.decisions.is_empty()
    }

    /// True when the logged controller had no behavior (and logged at least
    /// one normalization).
    pub fn is_legacy(&self) -> bool {
        self.normalization == Normalization::Legacy
    }

    /// Whether a controller with `behavior` instead, and the same floor,
    /// ceiling, stabilization windows and everything else, decides the same
    /// count at every logged reconcile (so at every reconcile of the
    /// replay). `downscale_window_s` is the controller's downscale
    /// stabilization flag, which fills a missing scale-down window. For a
    /// log of the legacy controller, `behavior` must have no scale-up window
    /// and that flag's scale-down window (see the module docs).
    ///
    /// The caller guarantees that only the policies (or, for a legacy log,
    /// the normalization) differ; the check walks the log in order,
    /// recording the scale events as that controller would and asking its
    /// rate limits at each reconcile, and stops at the first that decides
    /// otherwise.
    pub fn same_under(
        &self,
        behavior: &Behavior,
        downscale_window_s: i64,
        min_replicas: i32,
        max_replicas: i32,
    ) -> bool {
        let legacy = match self.normalization {
            Normalization::Unusable => return false,
            n => n == Normalization::Legacy,
        };
        let up = behavior.scale_up_rules();
        let down = behavior.scale_down_rules(downscale_window_s);
        let mut history = ScalingHistory::default();
        for d in &self.decisions {
            if let Some(stabilized) = d.stabilized {
                let stabilized = match legacy {
                    false => stabilized,
                    true => behavior_stabilized(d.proposal, d.current, stabilized),
                };
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

/// What a behavior with no scale-up window and the legacy scale-down window
/// stabilizes `proposal` to at `current`, given what the legacy controller
/// stabilized it to over the same recommendations (its window's maximum,
/// with the proposal): the proposal itself above the count, else the legacy
/// value capped at the count (see the module docs).
fn behavior_stabilized(proposal: i32, current: i32, legacy_stabilized: i32) -> i32 {
    if proposal > current {
        proposal
    } else {
        legacy_stabilized.min(current)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SlidingRecommendations;

    /// A log that grew past its cap is dropped: it no longer clears any
    /// policy (and holds nothing), where one entry less still did.
    #[test]
    fn a_log_past_its_cap_answers_nothing() {
        let behavior = Behavior::default();
        let mut log = RateDecisions::default();
        for i in 0..MAX_RATE_DECISIONS as i64 {
            log.rebounded(i * 15_000, 12, 10);
        }
        assert!(log.same_under(&behavior, 300, 1, 10));
        log.rebounded(MAX_RATE_DECISIONS as i64 * 15_000, 12, 10);
        assert!(!log.same_under(&behavior, 300, 1, 10));
        assert!(log.is_empty());
    }

    /// The mapping from the legacy stabilization to the behavior's holds at
    /// every reconcile of long random runs: both remember the same
    /// proposals, and the count moves as the legacy controller's would not
    /// always (held below recommendations still in the window too).
    #[test]
    fn the_behavior_stabilizes_as_mapped_from_the_legacy_controller() {
        let window_s = 300;
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n) as i32
        };
        let (mut above, mut capped) = (0, 0);
        for _ in 0..20 {
            let mut legacy = SlidingRecommendations::default();
            let mut behavior = SlidingRecommendations::default();
            let mut current = 1 + next(20);
            for sync in 0..5_000i64 {
                let now_ms = sync * 15_000;
                let proposal = (current + next(9) - 4).max(0);
                let l = legacy.stabilize_legacy(proposal, window_s * 1000, now_ms);
                let (b, _) =
                    behavior.stabilize_with_behavior(current, proposal, 0, window_s as i32, now_ms);
                assert_eq!(b, behavior_stabilized(proposal, current, l), "sync {sync}");
                if l > current.max(proposal) {
                    if proposal > current {
                        above += 1;
                    } else {
                        capped += 1;
                    }
                }
                // Sometimes follow the legacy value, sometimes not.
                if next(3) == 0 {
                    current = l.max(1);
                } else if next(4) == 0 {
                    current = (current + next(5) - 2).max(1);
                }
            }
        }
        // Both cases where the two differ came up.
        assert!(
            above > 100 && capped > 100,
            "{above} above, {capped} capped"
        );
    }
}
