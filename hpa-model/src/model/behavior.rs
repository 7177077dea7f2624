//! Scaling behavior: stabilization windows, rate-limit policies and the scale-event
//! history, as `horizontal.go` implements them.
//!
//! Owns the per-HPA memory of the controller ([`ScalingHistory`]: past
//! recommendations and scale events) and the functions that read it. Times are
//! milliseconds since the epoch; a record whose age equals a window exactly counts as
//! outside it, matching upstream where wall-clock time has always moved on.

use serde::{Deserialize, Serialize};

/// Upstream `scaleUpLimitFactor` in production.
pub const SCALE_UP_LIMIT_FACTOR: f64 = 2.0;
/// Upstream `scaleUpLimitMinimum`.
pub const SCALE_UP_LIMIT_MINIMUM: f64 = 4.0;
/// Default downscale stabilization window (`--horizontal-pod-autoscaler-downscale-stabilization`), seconds.
pub const DEFAULT_DOWNSCALE_STABILIZATION_S: i64 = 300;

/// How a policy limits the change over its period.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PolicyType {
    /// An absolute number of pods.
    Pods,
    /// A percentage of the replica count at the start of the period.
    Percent,
}

/// One `HPAScalingPolicy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScalingPolicy {
    /// Pods or Percent.
    #[serde(rename = "type")]
    pub kind: PolicyType,
    /// Pods, or percent, allowed per period.
    pub value: i32,
    /// Length of the period, seconds.
    pub period_seconds: i32,
}

/// Which policy wins when several apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum SelectPolicy {
    /// The policy allowing the largest change (the default).
    #[default]
    Max,
    /// The policy allowing the smallest change.
    Min,
    /// No scaling in this direction.
    Disabled,
}

/// Upstream's default scale-up policies: 4 pods or 100 % per 15 s.
const DEFAULT_SCALE_UP_POLICIES: [ScalingPolicy; 2] = [
    ScalingPolicy {
        kind: PolicyType::Pods,
        value: 4,
        period_seconds: 15,
    },
    ScalingPolicy {
        kind: PolicyType::Percent,
        value: 100,
        period_seconds: 15,
    },
];

/// Upstream's default scale-down policy: 100 % per 15 s.
const DEFAULT_SCALE_DOWN_POLICIES: [ScalingPolicy; 1] = [ScalingPolicy {
    kind: PolicyType::Percent,
    value: 100,
    period_seconds: 15,
}];

/// Upstream's default scale-up stabilization window, seconds.
const DEFAULT_SCALE_UP_WINDOW_S: i32 = 0;

/// One direction's `HPAScalingRules`. Missing fields take the upstream defaults when
/// resolved through [`Behavior::scale_up_rules`] / [`Behavior::scale_down_rules`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ScalingRules {
    /// Stabilization window, seconds (default 0 up, 300 down).
    #[serde(default)]
    pub stabilization_window_seconds: Option<i32>,
    /// Policy selection (default Max).
    #[serde(default)]
    pub select_policy: Option<SelectPolicy>,
    /// Policies (default: up 4 pods or 100% per 15 s, down 100% per 15 s).
    #[serde(default)]
    pub policies: Vec<ScalingPolicy>,
}

impl ScalingRules {
    /// Upstream default scale-up rules.
    pub fn default_scale_up() -> Self {
        ScalingRules {
            stabilization_window_seconds: Some(DEFAULT_SCALE_UP_WINDOW_S),
            select_policy: Some(SelectPolicy::Max),
            policies: DEFAULT_SCALE_UP_POLICIES.to_vec(),
        }
    }

    /// Upstream default scale-down rules.
    pub fn default_scale_down() -> Self {
        ScalingRules {
            stabilization_window_seconds: Some(DEFAULT_DOWNSCALE_STABILIZATION_S as i32),
            select_policy: Some(SelectPolicy::Max),
            policies: DEFAULT_SCALE_DOWN_POLICIES.to_vec(),
        }
    }

    /// The selection, defaulting to Max.
    pub fn select(&self) -> SelectPolicy {
        self.select_policy.unwrap_or_default()
    }

    /// The longest policy period, seconds (used to expire scale events).
    pub fn longest_policy_period(&self) -> i32 {
        self.policies
            .iter()
            .map(|p| p.period_seconds)
            .max()
            .unwrap_or(0)
    }

    fn filled(&self, defaults: ScalingRules) -> ScalingRules {
        ScalingRules {
            stabilization_window_seconds: self
                .stabilization_window_seconds
                .or(defaults.stabilization_window_seconds),
            select_policy: self.select_policy.or(defaults.select_policy),
            policies: if self.policies.is_empty() {
                defaults.policies
            } else {
                self.policies.clone()
            },
        }
    }
}

/// The longest period of `rules`' policies, or of `defaults` when it has
/// none (how [`ScalingRules::filled`] resolves them).
fn longest_period(rules: Option<&ScalingRules>, defaults: &[ScalingPolicy]) -> i32 {
    let policies = match rules {
        Some(r) if !r.policies.is_empty() => r.policies.as_slice(),
        _ => defaults,
    };
    policies.iter().map(|p| p.period_seconds).max().unwrap_or(0)
}

/// `HorizontalPodAutoscalerBehavior`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Behavior {
    /// Scale-up rules; `None` takes the defaults.
    #[serde(default)]
    pub scale_up: Option<ScalingRules>,
    /// Scale-down rules; `None` takes the defaults.
    #[serde(default)]
    pub scale_down: Option<ScalingRules>,
}

impl Behavior {
    /// Resolved scale-up rules (API defaulting applied).
    pub fn scale_up_rules(&self) -> ScalingRules {
        match &self.scale_up {
            Some(r) => r.filled(ScalingRules::default_scale_up()),
            None => ScalingRules::default_scale_up(),
        }
    }

    /// The resolved scale-up stabilization window, seconds, without
    /// resolving the rest (what [`Behavior::scale_up_rules`] holds).
    pub fn scale_up_window_s(&self) -> i32 {
        self.scale_up
            .as_ref()
            .and_then(|r| r.stabilization_window_seconds)
            .unwrap_or(DEFAULT_SCALE_UP_WINDOW_S)
    }

    /// The resolved scale-down stabilization window, seconds, without
    /// resolving the rest (what [`Behavior::scale_down_rules`] holds).
    pub fn scale_down_window_s(&self, downscale_window_s: i64) -> i32 {
        self.scale_down
            .as_ref()
            .and_then(|r| r.stabilization_window_seconds)
            .unwrap_or(downscale_window_s as i32)
    }

    /// The longest scale-up policy period, seconds, of the resolved rules
    /// ([`Behavior::scale_up_rules`]), without resolving (and allocating)
    /// them: a scale event is stored at every scale.
    pub fn scale_up_longest_policy_period(&self) -> i32 {
        longest_period(self.scale_up.as_ref(), &DEFAULT_SCALE_UP_POLICIES)
    }

    /// The longest scale-down policy period, seconds, of the resolved rules
    /// ([`Behavior::scale_down_rules`]), without resolving them.
    pub fn scale_down_longest_policy_period(&self) -> i32 {
        longest_period(self.scale_down.as_ref(), &DEFAULT_SCALE_DOWN_POLICIES)
    }

    /// Resolved scale-down rules; a missing window takes `downscale_window_s`
    /// (`maybeInitScaleDownStabilizationWindow`).
    pub fn scale_down_rules(&self, downscale_window_s: i64) -> ScalingRules {
        let mut defaults = ScalingRules::default_scale_down();
        defaults.stabilization_window_seconds = Some(self.scale_down_window_s(downscale_window_s));
        match &self.scale_down {
            Some(r) => r.filled(defaults),
            None => defaults,
        }
    }
}

/// A past recommendation (`timestampedRecommendation`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Recommendation {
    /// Recommended replicas.
    pub replicas: i32,
    /// When, ms since the epoch.
    pub timestamp_ms: i64,
}

/// A past scale event (`timestampedScaleEvent`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScaleEvent {
    /// Size of the change (always positive; the list says the direction).
    pub replica_change: i32,
    /// When, ms since the epoch.
    pub timestamp_ms: i64,
    /// Older than the longest policy period; the slot may be reused.
    pub outdated: bool,
}

/// Why the final count differs from (or equals) the stabilized recommendation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LimitReason {
    /// Within all limits.
    DesiredWithinRange,
    /// Raised to minReplicas.
    TooFewReplicas,
    /// Lowered to maxReplicas.
    TooManyReplicas,
    /// Lowered by the scale-up rate limit.
    ScaleUpLimit,
    /// Raised by the scale-down rate limit.
    ScaleDownLimit,
}

impl LimitReason {
    /// The upstream condition reason string.
    pub fn as_str(&self) -> &'static str {
        match self {
            LimitReason::DesiredWithinRange => "DesiredWithinRange",
            LimitReason::TooFewReplicas => "TooFewReplicas",
            LimitReason::TooManyReplicas => "TooManyReplicas",
            LimitReason::ScaleUpLimit => "ScaleUpLimit",
            LimitReason::ScaleDownLimit => "ScaleDownLimit",
        }
    }
}

/// Sum of the changes in events younger than `period_s` (`getReplicasChangePerPeriod`).
pub fn replicas_change_per_period(period_s: i32, events: &[ScaleEvent], now_ms: i64) -> i32 {
    let cutoff = now_ms - i64::from(period_s) * 1000;
    events
        .iter()
        .filter(|e| e.timestamp_ms > cutoff)
        .map(|e| e.replica_change)
        .sum()
}

/// Upper limit for a scale-up under `rules` (`calculateScaleUpLimitWithScalingRules`).
pub fn scale_up_limit_with_rules(
    current: i32,
    up: &[ScaleEvent],
    down: &[ScaleEvent],
    rules: &ScalingRules,
    now_ms: i64,
) -> i32 {
    let (mut result, pick): (i64, fn(i64, i64) -> i64) = match rules.select() {
        SelectPolicy::Disabled => return current,
        SelectPolicy::Min => (i64::from(i32::MAX), i64::min),
        SelectPolicy::Max => (i64::from(i32::MIN), i64::max),
    };
    for p in &rules.policies {
        let start = i64::from(current)
            - i64::from(replicas_change_per_period(p.period_seconds, up, now_ms))
            + i64::from(replicas_change_per_period(p.period_seconds, down, now_ms));
        let proposed = match p.kind {
            PolicyType::Pods => start + i64::from(p.value),
            PolicyType::Percent => {
                (start as f64 * (1.0 + f64::from(p.value) / 100.0)).ceil() as i64
            }
        };
        result = pick(result, proposed);
    }
    result.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

/// Lower limit for a scale-down under `rules` (`calculateScaleDownLimitWithBehaviors`).
pub fn scale_down_limit_with_rules(
    current: i32,
    up: &[ScaleEvent],
    down: &[ScaleEvent],
    rules: &ScalingRules,
    now_ms: i64,
) -> i32 {
    let (mut result, pick): (i64, fn(i64, i64) -> i64) = match rules.select() {
        SelectPolicy::Disabled => return current,
        SelectPolicy::Min => (i64::from(i32::MIN), i64::max),
        SelectPolicy::Max => (i64::from(i32::MAX), i64::min),
    };
    for p in &rules.policies {
        let start = i64::from(current)
            - i64::from(replicas_change_per_period(p.period_seconds, up, now_ms))
            + i64::from(replicas_change_per_period(p.period_seconds, down, now_ms));
        let proposed = match p.kind {
            PolicyType::Pods => start - i64::from(p.value),
            // Go converts with int32(float64), which truncates toward zero.
            PolicyType::Percent => {
                (start as f64 * (1.0 - f64::from(p.value) / 100.0)).trunc() as i64
            }
        };
        result = pick(result, proposed);
    }
    result.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

/// Legacy scale-up limit without behavior: `max(factor × current, minimum)`
/// (`calculateScaleUpLimit`).
pub fn calculate_scale_up_limit(current: i32, factor: f64, minimum: f64) -> i32 {
    (factor * f64::from(current)).max(minimum) as i32
}

/// Legacy clamp to `[min, min(max, scale-up limit)]` (`convertDesiredReplicasWithRules`).
pub fn convert_desired_replicas_with_rules(
    current: i32,
    desired: i32,
    min: i32,
    max: i32,
    factor: f64,
    minimum: f64,
) -> (i32, LimitReason) {
    let limit = calculate_scale_up_limit(current, factor, minimum);
    let (max_allowed, reason) = if max > limit {
        (limit, LimitReason::ScaleUpLimit)
    } else {
        (max, LimitReason::TooManyReplicas)
    };
    if desired < min {
        (min, LimitReason::TooFewReplicas)
    } else if desired > max_allowed {
        (max_allowed, reason)
    } else {
        (desired, LimitReason::DesiredWithinRange)
    }
}

/// The end of `stabilizeRecommendationWithBehaviors`: `current` raised to
/// the scale-up window's minimum and lowered to the scale-down window's
/// maximum, with the reason named by the proposal's direction.
fn clamp_stabilized(current: i32, desired: i32, up_rec: i32, down_rec: i32) -> (i32, &'static str) {
    let mut recommendation = current;
    if recommendation < up_rec {
        recommendation = up_rec;
    }
    if recommendation > down_rec {
        recommendation = down_rec;
    }
    let reason = if desired >= current {
        "ScaleUpStabilized"
    } else {
        "ScaleDownStabilized"
    };
    (recommendation, reason)
}

/// The controller's memory for one HPA.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScalingHistory {
    /// Past recommendations, in storage order (slots are reused).
    pub recommendations: Vec<Recommendation>,
    /// Past scale-up events.
    pub scale_up_events: Vec<ScaleEvent>,
    /// Past scale-down events.
    pub scale_down_events: Vec<ScaleEvent>,
}

/// The recommendations a replay's controller remembers, held as two
/// monotonic queues (sliding-window maximum and minimum) instead of
/// [`ScalingHistory::recommendations`]' slot list.
///
/// Upstream keeps every recommendation younger than the windows and scans
/// them each reconcile; a value that a newer, larger one follows can never
/// again be the window's maximum (it leaves the window first), so dropping
/// it changes no result. Each reconcile then costs O(1) amortized instead of
/// one step per remembered recommendation (240 for a one-hour window at a
/// 15 s sync). Valid only while time moves forward and the windows stay the
/// same, as in a replay; the fast replay's tests compare it with the slot
/// list on real series.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SlidingRecommendations {
    /// (time ms, replicas), times increasing, replicas strictly decreasing.
    max: crate::window::Window<(i64, i32)>,
    /// (time ms, replicas), times increasing, replicas strictly increasing.
    min: crate::window::Window<(i64, i32)>,
}

impl SlidingRecommendations {
    /// The largest recommendation recorded after `cutoff_ms`.
    pub(crate) fn max_after(&mut self, cutoff_ms: i64) -> Option<i32> {
        while self.max.front().is_some_and(|(t, _)| *t <= cutoff_ms) {
            self.max.pop_front();
        }
        self.max.front().map(|(_, r)| *r)
    }

    /// The smallest recommendation recorded after `cutoff_ms`.
    fn min_after(&mut self, cutoff_ms: i64) -> Option<i32> {
        while self.min.front().is_some_and(|(t, _)| *t <= cutoff_ms) {
            self.min.pop_front();
        }
        self.min.front().map(|(_, r)| *r)
    }

    /// [`SlidingRecommendations::max_after`] that keeps the entries at or
    /// before `cutoff_ms` (a later time's answer, asked ahead).
    pub(crate) fn peek_max_after(&self, cutoff_ms: i64) -> Option<i32> {
        let held = self.max.as_slice();
        held.get(held.partition_point(|(t, _)| *t <= cutoff_ms))
            .map(|(_, r)| *r)
    }

    /// [`SlidingRecommendations::min_after`] that keeps the entries at or
    /// before `cutoff_ms`.
    pub(crate) fn peek_min_after(&self, cutoff_ms: i64) -> Option<i32> {
        let held = self.min.as_slice();
        held.get(held.partition_point(|(t, _)| *t <= cutoff_ms))
            .map(|(_, r)| *r)
    }

    pub(crate) fn record_max(&mut self, replicas: i32, now_ms: i64) {
        while self.max.back().is_some_and(|(_, r)| *r <= replicas) {
            self.max.pop_back();
        }
        self.max.push_back((now_ms, replicas));
    }

    pub(crate) fn record(&mut self, replicas: i32, now_ms: i64) {
        self.record_max(replicas, now_ms);
        while self.min.back().is_some_and(|(_, r)| *r >= replicas) {
            self.min.pop_back();
        }
        self.min.push_back((now_ms, replicas));
    }

    /// [`ScalingHistory::stabilize_legacy`] over the sliding windows.
    pub fn stabilize_legacy(&mut self, desired: i32, window_ms: i64, now_ms: i64) -> i32 {
        let max_rec = self
            .max_after(now_ms - window_ms)
            .map_or(desired, |m| m.max(desired));
        self.record_max(desired, now_ms);
        max_rec
    }

    /// [`ScalingHistory::stabilize_with_behavior`] over the sliding windows.
    pub fn stabilize_with_behavior(
        &mut self,
        current: i32,
        desired: i32,
        up_window_s: i32,
        down_window_s: i32,
        now_ms: i64,
    ) -> (i32, &'static str) {
        let up_rec = self
            .min_after(now_ms - i64::from(up_window_s) * 1000)
            .map_or(desired, |m| m.min(desired));
        let down_rec = self
            .max_after(now_ms - i64::from(down_window_s) * 1000)
            .map_or(desired, |m| m.max(desired));
        self.record(desired, now_ms);
        clamp_stabilized(current, desired, up_rec, down_rec)
    }
}

/// Inputs of the behavior normalization (`NormalizationArg`).
#[derive(Clone, Debug, PartialEq)]
pub struct NormalizationArg {
    /// Resolved scale-up rules.
    pub scale_up: ScalingRules,
    /// Resolved scale-down rules.
    pub scale_down: ScalingRules,
    /// minReplicas.
    pub min_replicas: i32,
    /// maxReplicas.
    pub max_replicas: i32,
    /// Current replicas.
    pub current_replicas: i32,
    /// Desired replicas before this step.
    pub desired_replicas: i32,
}

impl ScalingHistory {
    /// Legacy downscale stabilization (`stabilizeRecommendation`): the maximum of the
    /// recommendations inside the window and `desired`; records `desired`, reusing the
    /// slot of the last expired recommendation.
    pub fn stabilize_legacy(&mut self, desired: i32, window_ms: i64, now_ms: i64) -> i32 {
        let cutoff = now_ms - window_ms;
        let mut max_rec = desired;
        let mut old: Option<usize> = None;
        for (i, r) in self.recommendations.iter().enumerate() {
            if r.timestamp_ms <= cutoff {
                old = Some(i);
            } else if r.replicas > max_rec {
                max_rec = r.replicas;
            }
        }
        self.record(old, desired, now_ms);
        max_rec
    }

    fn record(&mut self, old: Option<usize>, replicas: i32, now_ms: i64) {
        let rec = Recommendation {
            replicas,
            timestamp_ms: now_ms,
        };
        match old.and_then(|i| self.recommendations.get_mut(i)) {
            Some(slot) => *slot = rec,
            None => self.recommendations.push(rec),
        }
    }

    /// Stabilization in both directions (`stabilizeRecommendationWithBehaviors`):
    /// clamps the current count between the minimum of the recommendations in the
    /// scale-up window and the maximum of those in the scale-down window.
    /// Returns the stabilized count and the reason (`ScaleUpStabilized` or `ScaleDownStabilized`).
    pub fn stabilize_with_behavior(
        &mut self,
        current: i32,
        desired: i32,
        up_window_s: i32,
        down_window_s: i32,
        now_ms: i64,
    ) -> (i32, &'static str) {
        let up_cutoff = now_ms - i64::from(up_window_s) * 1000;
        let down_cutoff = now_ms - i64::from(down_window_s) * 1000;
        let mut up_rec = desired;
        let mut down_rec = desired;
        let mut old: Option<usize> = None;
        for (i, r) in self.recommendations.iter().enumerate() {
            if r.timestamp_ms > up_cutoff {
                up_rec = up_rec.min(r.replicas);
            }
            if r.timestamp_ms > down_cutoff {
                down_rec = down_rec.max(r.replicas);
            }
            if r.timestamp_ms <= up_cutoff && r.timestamp_ms <= down_cutoff {
                old = Some(i);
            }
        }
        self.record(old, desired, now_ms);
        clamp_stabilized(current, desired, up_rec, down_rec)
    }

    /// Applies the rate-limit policies (`convertDesiredReplicasWithBehaviorRate`).
    pub fn convert_with_behavior_rate(
        &self,
        arg: &NormalizationArg,
        now_ms: i64,
    ) -> (i32, LimitReason) {
        self.convert_with_rules(
            &arg.scale_up,
            &arg.scale_down,
            arg.min_replicas,
            arg.max_replicas,
            arg.current_replicas,
            arg.desired_replicas,
            now_ms,
        )
    }

    /// [`ScalingHistory::convert_with_behavior_rate`] with the arguments
    /// borrowed, so a caller that keeps resolved rules need not move them.
    #[allow(clippy::too_many_arguments)]
    pub fn convert_with_rules(
        &self,
        up: &ScalingRules,
        down: &ScalingRules,
        min_replicas: i32,
        max_replicas: i32,
        current: i32,
        desired: i32,
        now_ms: i64,
    ) -> (i32, LimitReason) {
        if desired > current {
            let mut limit = scale_up_limit_with_rules(
                current,
                &self.scale_up_events,
                &self.scale_down_events,
                up,
                now_ms,
            );
            if limit < current {
                limit = current;
            }
            let (max_allowed, reason) = if max_replicas > limit {
                (limit, LimitReason::ScaleUpLimit)
            } else {
                (max_replicas, LimitReason::TooManyReplicas)
            };
            if desired > max_allowed {
                return (max_allowed, reason);
            }
        } else if desired < current {
            let mut limit = scale_down_limit_with_rules(
                current,
                &self.scale_up_events,
                &self.scale_down_events,
                down,
                now_ms,
            );
            if limit > current {
                limit = current;
            }
            let (min_allowed, reason) = if min_replicas < limit {
                (limit, LimitReason::ScaleDownLimit)
            } else {
                (min_replicas, LimitReason::TooFewReplicas)
            };
            if desired < min_allowed {
                return (min_allowed, reason);
            }
        }
        (desired, LimitReason::DesiredWithinRange)
    }

    /// Records a scale event (`storeScaleEvent`). Without a behavior nothing is stored.
    /// Events older than the direction's longest policy period are marked outdated, and
    /// the last outdated slot is reused for the new event.
    pub fn store_scale_event(
        &mut self,
        behavior: Option<&Behavior>,
        prev: i32,
        new: i32,
        now_ms: i64,
    ) {
        let Some(behavior) = behavior else { return };
        let (events, longest_s) = if new > prev {
            (
                &mut self.scale_up_events,
                behavior.scale_up_longest_policy_period(),
            )
        } else {
            (
                &mut self.scale_down_events,
                behavior.scale_down_longest_policy_period(),
            )
        };
        let cutoff = now_ms - i64::from(longest_s) * 1000;
        let mut old = None;
        for (i, e) in events.iter_mut().enumerate() {
            if e.timestamp_ms < cutoff || (e.timestamp_ms == cutoff && e.timestamp_ms < now_ms) {
                e.outdated = true;
            }
            if e.outdated {
                old = Some(i);
            }
        }
        let event = ScaleEvent {
            replica_change: (new - prev).abs(),
            timestamp_ms: now_ms,
            outdated: false,
        };
        match old.and_then(|i| events.get_mut(i)) {
            Some(slot) => *slot = event,
            None => events.push(event),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_scale_up_rounds_up() {
        let rules = ScalingRules {
            stabilization_window_seconds: Some(0),
            select_policy: Some(SelectPolicy::Max),
            policies: vec![ScalingPolicy {
                kind: PolicyType::Percent,
                value: 10,
                period_seconds: 60,
            }],
        };
        // 3 * 1.1 = 3.3 -> 4, so a small deployment can always grow
        assert_eq!(scale_up_limit_with_rules(3, &[], &[], &rules, 0), 4);
    }

    #[test]
    fn disabled_direction_keeps_current() {
        let rules = ScalingRules {
            select_policy: Some(SelectPolicy::Disabled),
            ..ScalingRules::default_scale_down()
        };
        assert_eq!(scale_down_limit_with_rules(7, &[], &[], &rules, 0), 7);
    }

    #[test]
    fn events_inside_period_shift_the_period_start() {
        let up = [ScaleEvent {
            replica_change: 4,
            timestamp_ms: 950_000,
            outdated: false,
        }];
        let rules = ScalingRules {
            policies: vec![ScalingPolicy {
                kind: PolicyType::Pods,
                value: 4,
                period_seconds: 60,
            }],
            ..ScalingRules::default()
        };
        // current 8 = 4 at period start + 4 already added -> limit 4 + 4 = 8
        assert_eq!(scale_up_limit_with_rules(8, &up, &[], &rules, 1_000_000), 8);
    }

    #[test]
    fn legacy_stabilization_takes_max_in_window() {
        let mut h = ScalingHistory::default();
        h.recommendations.push(Recommendation {
            replicas: 9,
            timestamp_ms: 100_000,
        });
        assert_eq!(h.stabilize_legacy(3, 300_000, 200_000), 9);
        assert_eq!(h.stabilize_legacy(3, 300_000, 500_000), 3);
    }
}
