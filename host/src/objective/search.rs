//! Rules propose, replay decides: a bounded, deterministic search over the
//! autoscaler's knobs, seeded by the rules' proposals, that scores every
//! candidate by replaying the earlier part of the history through the HPA
//! model and confirms the choice on the held-out later part.
//!
//! The search:
//! 1. replays today's config on the fit part (the baseline);
//! 2. replays each seed (today, the merged proposal, each finding's own
//!    proposal) and starts from the best by the objective;
//! 3. coordinate descent, [`PASSES`] passes: for each knob (CPU target, floor,
//!    scale-down and scale-up stabilization, ceiling, KEDA cooldown, and the
//!    scale-down and scale-up rate-limit policies) it tries
//!    a fixed list of values (today's, the rules', and a small grid, see
//!    [`values_for`]) with the other knobs held, and keeps the best;
//!    at most [`MAX_REPLAYS`] distinct configs are replayed;
//! 4. replays today's config and the choice on the held-out days; the choice
//!    is proposed only if it keeps the guardrails there too and, in `savings`
//!    mode, still saves.
//!
//! Steps 2–3 choose within the objective's whole tolerances. When that
//! choice does not hold on the held-out days, the search runs again choosing
//! within [`SELECTION_MARGIN`] of each tolerance (a choice with room to
//! spare), and that one is confirmed the same way. The held-out part judges
//! at most these two choices.
//!
//! **Early stops** ([`Shortcuts`]). Every replay figure only grows as a replay
//! goes on, so in `savings` mode a candidate's replay is stopped, once an
//! hour of replayed time, as soon as its figures so far (with its floor
//! counted for the rest) show it can no longer be chosen (a guardrail already
//! broken, or more cost than the best so far), listed as a near miss, or
//! listed in the frontier's least-saturation alternatives. Stopped
//! candidates that could still be listed once the choice is known are
//! replayed to the end. And a candidate that differs from a config already
//! replayed only in a floor and ceiling that never acted there (the counts
//! they were compared with lie strictly between both configs' floor and
//! ceiling) reuses that replay. The result is the same as replaying every
//! candidate to the end (a test compares both on every NAB series); about
//! half of the candidates stop early.
//!
//! Every step is deterministic: the same history and objective give the same
//! choice.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use stepscale_engine::snapshot::{
    AutoscalingConfig, ScalingPolicy, ScalingRules, SelectPolicy, WorkloadSnapshot,
};
use stepscale_engine::ConfigChange;
use stepscale_hpa::model::RateDecisions;
use stepscale_hpa::simulate::AutoscalerConfig;

use super::{Mode, Objective};
use crate::change::{describe_change, CurrentConfig};
use crate::replay::{self, BoundedFigures, DemandHistory, Figures};

/// Share of each tolerance a second, cautious choice may use on the fit
/// part when the first (within the whole tolerance) does not hold on the
/// held-out part, so that a choice made at the edge of the tolerance that
/// fails confirmation by a hair is followed by one with room to spare; the
/// held-out confirmation always allows the whole tolerance.
pub const SELECTION_MARGIN: f64 = 0.5;
/// Costs within this share of today's replica-hours rank as equal, so that
/// among near-equal candidates the one with less saturation, then the
/// smaller change, wins.
pub const COST_QUANTUM: f64 = 0.005;

/// Cheaper configs kept for the schedule pass.
pub const NEAR_MISSES: usize = 3;

/// Passes of coordinate descent.
pub const PASSES: usize = 2;
/// Most distinct configs replayed per workload (fit part).
pub const MAX_REPLAYS: usize = 60;
/// Longest scale-down stabilization or cooldown the search proposes,
/// seconds: longer windows keep a whole peak's replicas for half an hour
/// after it, which costs more than the churn it saves.
pub const MAX_SCALE_DOWN_WINDOW_SECONDS: u32 = 1800;
/// CPU targets the search may try, percent.
const TARGET_GRID: [u32; 6] = [50, 60, 70, 75, 80, 85];
/// Highest CPU target the search proposes.
pub const MAX_CPU_TARGET_PERCENT: u32 = 85;
/// Demand quantiles a floor is sized from.
const FLOOR_QUANTILES: [f64; 6] = [0.0, 0.05, 0.25, 0.5, 0.75, 0.9];
/// Knobs the coordinate descent turns (see [`values_for`]).
pub const KNOBS: usize = 8;
/// The scale-up policy the search may propose: at most 400 % more pods per
/// [`SCALE_UP_POLICY_PERIOD_S`]. At every replica count n ≥ 1 it allows at
/// least Kubernetes' default (the larger of 100 % and 4 pods per 15 s):
/// 5n ≥ max(2n, n + 4).
pub const FAST_SCALE_UP_PERCENT: u32 = 400;
/// Period of a proposed scale-up policy, seconds (the HPA's sync period).
pub const SCALE_UP_POLICY_PERIOD_S: u32 = 15;
/// Scale-down policies the search may try: at most this share of the pods
/// removed per [`SCALE_DOWN_POLICY_PERIOD_S`] — all slower than Kubernetes'
/// default (100 % per 15 s).
const SCALE_DOWN_PERCENT_GRID: [u32; 3] = [10, 25, 50];
/// Period of a proposed scale-down policy, seconds.
pub const SCALE_DOWN_POLICY_PERIOD_S: u32 = 60;

/// Which rate-limit policies the search may change: only a direction whose
/// policies are Kubernetes' defaults (none set) and whose `selectPolicy` is
/// not `Disabled`. So a proposed scale-up policy is never slower, and a
/// proposed scale-down policy never faster, than today's; policies a person
/// wrote are left alone.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PolicyRoom {
    /// The scale-up policy may be set.
    pub up: bool,
    /// The scale-down policy may be set.
    pub down: bool,
}

impl PolicyRoom {
    /// The room `config`'s behavior leaves.
    pub fn of(config: &AutoscalingConfig) -> PolicyRoom {
        let free = |r: Option<&ScalingRules>| {
            r.is_none_or(|r| {
                r.policies.is_empty() && r.select_policy != Some(SelectPolicy::Disabled)
            })
        };
        PolicyRoom {
            up: free(config.scale_up.as_ref()),
            down: free(config.scale_down.as_ref()),
        }
    }
}

/// Every knob the search turns, at its full value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Knobs {
    /// minReplicas (or minReplicaCount).
    pub min: u32,
    /// maxReplicas.
    pub max: u32,
    /// CPU target, percent.
    pub target: u32,
    /// Scale-down stabilization, seconds.
    pub down: u32,
    /// Scale-up stabilization, seconds.
    pub up: u32,
    /// KEDA cooldown, seconds.
    pub cooldown: Option<u32>,
    /// Scale-up policy replacing today's (`None`: today's policies).
    pub up_policy: Option<ScalingPolicy>,
    /// Scale-down policy replacing today's (`None`: today's policies).
    pub down_policy: Option<ScalingPolicy>,
}

impl Knobs {
    /// Today's knobs; `None` without a CPU target (nothing to replay).
    pub fn of(c: &CurrentConfig) -> Option<Knobs> {
        Some(Knobs {
            min: c.min_replicas,
            max: c.max_replicas,
            target: c.cpu_target_percent?,
            down: c.scale_down_stabilization_seconds,
            up: c.scale_up_stabilization_seconds,
            cooldown: c.cooldown_period_seconds,
            up_policy: None,
            down_policy: None,
        })
    }

    /// These knobs with `change` applied.
    pub fn with(self, change: &ConfigChange) -> Knobs {
        let mut k = Knobs {
            min: change.min_replicas.unwrap_or(self.min),
            max: change.max_replicas.unwrap_or(self.max),
            target: change.cpu_target_percent.unwrap_or(self.target),
            down: change.scale_down_stabilization_seconds.unwrap_or(self.down),
            up: change.scale_up_stabilization_seconds.unwrap_or(self.up),
            cooldown: self
                .cooldown
                .map(|c| change.cooldown_period_seconds.unwrap_or(c)),
            up_policy: change.scale_up_policy.or(self.up_policy),
            down_policy: change.scale_down_policy.or(self.down_policy),
        };
        k.max = k.max.max(k.min).max(1);
        k
    }

    /// How far these knobs are from `today`'s, for breaking ties in favor of
    /// the smaller change (relative floor and ceiling change, target points
    /// / 25, window seconds / 600, a quarter per changed policy).
    pub fn distance(&self, today: &Knobs) -> f64 {
        let rel = |a: u32, b: u32| f64::from(a.abs_diff(b)) / f64::from(b.max(1));
        let secs = |a: u32, b: u32| f64::from(a.abs_diff(b)) / 600.0;
        rel(self.min, today.min)
            + rel(self.max, today.max)
            + f64::from(self.target.abs_diff(today.target)) / 25.0
            + secs(self.down, today.down)
            + secs(self.up, today.up)
            + match (self.cooldown, today.cooldown) {
                (Some(a), Some(b)) => secs(a, b),
                _ => 0.0,
            }
            + if self.up_policy == today.up_policy {
                0.0
            } else {
                0.25
            }
            + if self.down_policy == today.down_policy {
                0.0
            } else {
                0.25
            }
    }

    /// The diff from `today`: only the knobs that differ.
    pub fn change_from(&self, today: &Knobs) -> ConfigChange {
        let diff = |a: u32, b: u32| (a != b).then_some(a);
        ConfigChange {
            min_replicas: diff(self.min, today.min),
            max_replicas: diff(self.max, today.max),
            cpu_target_percent: diff(self.target, today.target),
            scale_down_stabilization_seconds: diff(self.down, today.down),
            scale_up_stabilization_seconds: diff(self.up, today.up),
            cooldown_period_seconds: match (self.cooldown, today.cooldown) {
                (Some(a), Some(b)) => diff(a, b),
                _ => None,
            },
            scale_up_policy: self.up_policy.filter(|_| self.up_policy != today.up_policy),
            scale_down_policy: self
                .down_policy
                .filter(|_| self.down_policy != today.down_policy),
        }
    }
}

/// One config the search replayed, with its figures on the fit part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Alternative {
    /// What it is, e.g. "cheapest within the guardrails".
    pub label: String,
    /// The diff from today (empty = today's config).
    pub change: ConfigChange,
    /// Replay figures on the fit part.
    pub figures: Figures,
}

/// Replay figures of today's config and the proposal over one part of the
/// history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PeriodFigures {
    /// Which samples, e.g. "days 1–5 of 7".
    pub period: String,
    /// Days in the period.
    pub days: f64,
    /// Today's config.
    pub current: Figures,
    /// The proposed config.
    pub proposed: Figures,
}

/// How the recommendation was chosen: the objective, the replay on the
/// earlier part, the confirmation on the held-out part, the alternatives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Choice {
    /// The objective, as configured.
    pub objective: Objective,
    /// The objective in one sentence.
    pub statement: String,
    /// The replay mechanics.
    pub method: String,
    /// Figures on the part the choice was made on.
    pub fit: PeriodFigures,
    /// Figures on the held-out part (absent when the history is too short).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holdout: Option<PeriodFigures>,
    /// True when the choice held on the held-out part (a change is
    /// proposed only then).
    pub confirmed: bool,
    /// Why the choice is or is not proposed, in one sentence.
    pub verdict: String,
    /// A few alternatives with their figures.
    pub frontier: Vec<Alternative>,
    /// Distinct configs scored: replayed, or reusing another config's
    /// replay that provably gives the same.
    pub candidates_replayed: u32,
    /// Of those, the replays stopped before the end of the fit part once
    /// their figures so far showed they could neither be chosen nor be
    /// listed.
    #[serde(default)]
    pub candidates_stopped_early: u32,
    /// Of those, the configs whose replay was not run because a config
    /// replayed before provably replays the same, pod for pod: a floor and
    /// ceiling that never acted there, or scaling policies that decide the
    /// same count wherever the other's could act.
    #[serde(default)]
    pub candidates_reused: u32,
    /// Today's config replayed over the whole history against what the
    /// history recorded; a change is proposed only when the replay
    /// reproduces it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fidelity: Option<replay::Fidelity>,
    /// The best config the search found (may be withheld, see `confirmed`).
    pub best: ConfigChange,
    /// Up to [`NEAR_MISSES`] configs cheaper than the best that only fail
    /// the saturation guardrails: a predictive schedule may carry them
    /// (tried by [`crate::recommendation::decide()`]). Not part of the resource.
    #[serde(skip)]
    #[schemars(skip)]
    pub near_misses: Vec<(ConfigChange, Figures)>,
    /// The best config's figures on the fit part, unrounded (for the
    /// schedule pass). Not part of the resource.
    #[serde(skip)]
    #[schemars(skip)]
    pub best_fit: Option<Figures>,
    /// Today's figures on the fit part and its ready pods per sample, so
    /// the schedule pass does not replay them again. Not part of the
    /// resource.
    #[serde(skip)]
    #[schemars(skip)]
    pub today_fit: Option<(Figures, Vec<i32>)>,
}

/// Why no search could be run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SearchError {
    /// The autoscaler does not scale on CPU.
    #[error("the autoscaler does not scale on CPU; nothing to replay")]
    NotCpu,
    /// The history is empty or the simulator rejected the config.
    #[error("replay failed: {0}")]
    Replay(String),
}

/// The objective's ranking of one figure set against today's: `None` when
/// the guardrails of the mode rule it out, else a key where lower is better.
pub fn rank(o: &Objective, f: &Figures, today: &Figures) -> Option<(f64, f64, f64)> {
    let cost_cap = f.replica_hours_per_day
        <= today.replica_hours_per_day * (1.0 + o.max_extra_cost_percent / 100.0) + 1e-9;
    let r1 = |v: f64| (v * 10.0).round() / 10.0;
    match o.mode {
        Mode::Savings => savings_rank(o, f, today),
        Mode::Balanced if o.within_budget(today) => savings_rank(o, f, today),
        Mode::Balanced => {
            let excess = |x: &Figures| {
                (x.saturated_minutes_per_day - o.max_saturation_minutes_per_day).max(0.0)
                    + (x.over_target_minutes_per_day - o.max_over_target_minutes_per_day).max(0.0)
                        / 10.0
            };
            (cost_cap && o.keeps_churn_and_censoring(f, today) && excess(f) <= excess(today) + 1e-9)
                .then(|| {
                    (
                        r1(excess(f)),
                        cost_units(f, today),
                        f.saturated_minutes_per_day,
                    )
                })
        }
        Mode::Reliability => (cost_cap
            && o.keeps_churn_and_censoring(f, today)
            && f.saturated_minutes_per_day <= today.saturated_minutes_per_day + 1e-9
            && f.over_target_minutes_per_day
                <= today.over_target_minutes_per_day + o.over_target_tolerance_minutes_per_day)
            .then(|| {
                (
                    r1(f.saturated_minutes_per_day),
                    f.over_target_minutes_per_day.round(),
                    cost_units(f, today),
                )
            }),
    }
}

/// `f`'s replica-hours in units of [`COST_QUANTUM`] of today's, so that
/// near-equal costs rank as equal.
fn cost_units(f: &Figures, today: &Figures) -> f64 {
    let quantum = (today.replica_hours_per_day * COST_QUANTUM).max(1e-9);
    (f.replica_hours_per_day / quantum).round()
}

fn savings_rank(o: &Objective, f: &Figures, today: &Figures) -> Option<(f64, f64, f64)> {
    o.keeps_guardrails(f, today).then_some((
        cost_units(f, today),
        f.saturated_minutes_per_day,
        f.over_target_minutes_per_day,
    ))
}

/// A rank with the change's distance from today as the last tie-breaker.
pub(crate) type Ranked = Option<(f64, f64, f64, f64)>;

fn ranked(o: &Objective, f: &Figures, today: &Figures, k: &Knobs, t: &Knobs) -> Ranked {
    rank(o, f, today).map(|(a, b, c)| (a, b, c, k.distance(t)))
}

pub(crate) fn better(a: Ranked, b: Ranked) -> bool {
    let lt = |x: f64, y: f64| x < y - 1e-9;
    let eq = |x: f64, y: f64| (x - y).abs() <= 1e-9;
    match (a, b) {
        (Some(a), Some(b)) => {
            lt(a.0, b.0)
                || eq(a.0, b.0)
                    && (lt(a.1, b.1)
                        || eq(a.1, b.1) && (lt(a.2, b.2) || eq(a.2, b.2) && lt(a.3, b.3)))
        }
        (Some(_), None) => true,
        _ => false,
    }
}

/// One candidate's replay on the fit part.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Scored {
    /// The config could not be replayed.
    Failed,
    /// The whole part was replayed (or a replay that could not differ was
    /// reused); the lowest and highest count the floor and ceiling were
    /// compared with, when known.
    Complete(Figures, Option<(i32, i32)>),
    /// The replay was stopped once its figures so far showed it could not
    /// beat the incumbent; they are lower bounds on the whole replay's.
    Stopped(Figures),
}

/// Whether the search may take the shortcuts that replay less without
/// changing its result (see [`choose_with`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shortcuts {
    /// Stop a replay as soon as its figures so far rule it out of the
    /// choice, the frontier and the near misses (`savings` mode only), and
    /// reuse a replay for a config that differs from it only in a floor or
    /// ceiling that never acted there.
    Take,
    /// Replay every candidate to the end: the reference the shortcuts are
    /// checked against.
    Never,
}

/// The replays of one workload's fit part, memoized by knobs.
struct Scorer<'a> {
    w: &'a WorkloadSnapshot,
    request: f64,
    fit: DemandHistory,
    today_ready: Vec<i32>,
    today: Figures,
    /// The objective candidates are chosen by (tolerances scaled).
    strict: Objective,
    /// Whether replays may be stopped or reused.
    shortcuts: Shortcuts,
    memo: HashMap<Knobs, Scored>,
    order: Vec<Knobs>,
    /// The rate decisions of the configs replayed to the end, for
    /// [`Scorer::same_as_replayed`].
    rate_decisions: HashMap<Knobs, RateDecisions>,
    /// Configs whose replay was reused rather than run.
    reused: u32,
}

impl Scorer<'_> {
    fn config(&self, today: &Knobs, k: &Knobs) -> Option<AutoscalerConfig> {
        replay::model_config(&self.w.config, &k.change_from(today), self.request)
    }

    /// The whole replay of `k`'s figures, if it can be replayed: from the
    /// memo, else replayed to the end.
    fn complete(&self, k: &Knobs) -> Option<Figures> {
        match self.memo.get(k) {
            Some(Scored::Complete(f, _)) => Some(*f),
            _ => None,
        }
    }

    /// `k`'s figures when it could beat `incumbent` (the rank of the best
    /// config so far). Its replay stops as soon as it cannot (in `savings`
    /// mode with [`Shortcuts::Take`]): a guardrail already broken, or more
    /// replica-hours so far than the incumbent's cost. `None` for a config
    /// that cannot be replayed, one stopped, or when [`MAX_REPLAYS`] are
    /// used up.
    fn score(&mut self, today: &Knobs, k: Knobs, incumbent: Ranked) -> Option<Figures> {
        if let Some(scored) = self.memo.get(&k) {
            // A stopped config could not beat the incumbent it was stopped
            // against, and the incumbent only gets better.
            return match scored {
                Scored::Complete(f, _) => Some(*f),
                Scored::Failed | Scored::Stopped(_) => None,
            };
        }
        if self.memo.len() >= MAX_REPLAYS {
            return None;
        }
        if let Some(f) = self.same_as_replayed(today, &k) {
            self.memo.insert(k, f);
            self.order.push(k);
            self.reused += 1;
            return match f {
                Scored::Complete(f, _) => Some(f),
                _ => None,
            };
        }
        let early = self.shortcuts == Shortcuts::Take && self.strict.mode == Mode::Savings;
        let (o, t) = (self.strict, self.today);
        let scored = self.scored();
        let least = least_saturated(&o, &t, &scored);
        // Stopped only when nothing the search reports could list it: it
        // cannot beat the incumbent (a guardrail broken, or more cost), it
        // costs more than the incumbent or breaks what a near miss must
        // keep, and it cannot have the least saturation.
        let hopeless = |so_far: &Figures| {
            let costlier = incumbent.is_some_and(|b| cost_units(so_far, &t) > b.0 + 0.5);
            early
                && (costlier || !o.keeps_guardrails(so_far, &t))
                && (costlier || !near_miss_possible(&o, so_far, &t))
                && ruled_out_of_least_saturation(&o, so_far, &t, &least)
        };
        let (scored, decisions) = self.replay(today, &k, hopeless);
        if let Some(d) = decisions {
            self.rate_decisions.insert(k, d);
        }
        self.memo.insert(k, scored);
        self.order.push(k);
        match scored {
            Scored::Complete(f, _) => Some(f),
            _ => None,
        }
    }

    /// Replay `k` on the fit part, stopped when `stop` says so; with the
    /// rate decisions of a whole replay of a plain HPA.
    fn replay(
        &self,
        today: &Knobs,
        k: &Knobs,
        stop: impl FnMut(&Figures) -> bool,
    ) -> (Scored, Option<RateDecisions>) {
        let Some(c) = self.config(today, k) else {
            return (Scored::Failed, None);
        };
        match replay::replay_figures_bounded(&self.fit, &c, Some(&self.today_ready), stop) {
            Ok(BoundedFigures::Complete {
                figures,
                counts_bounded,
                rate_decisions,
                ..
            }) => (Scored::Complete(figures, counts_bounded), rate_decisions),
            Ok(BoundedFigures::Stopped(f)) => (Scored::Stopped(f), None),
            Err(_) => (Scored::Failed, None),
        }
    }

    /// With [`Shortcuts::Take`]: the whole replay of a config already
    /// replayed that `k` provably replays the same as, pod for pod:
    /// - one that differs from `k` only in its floor and ceiling, where
    ///   neither its floor and ceiling nor `k`'s reach the counts they were
    ///   compared with, so neither ever acted;
    /// - one that differs from `k` only in its scaling policies, where `k`'s
    ///   policies decide the same count wherever that replay's could act
    ///   ([`replay::same_replay_with_policies`]).
    fn same_as_replayed(&self, today: &Knobs, k: &Knobs) -> Option<Scored> {
        if self.shortcuts != Shortcuts::Take {
            return None;
        }
        let unbounded = |x: &Knobs| Knobs {
            min: 0,
            max: 0,
            ..*x
        };
        // The floor and ceiling as the replay applies them.
        let bounds = |x: &Knobs| (i64::from(x.min.max(1)), i64::from(x.max.max(x.min).max(1)));
        let outside = |x: &Knobs, (lo, hi): (i32, i32)| {
            let (min, max) = bounds(x);
            min < i64::from(lo) && max > i64::from(hi)
        };
        let other_policies = |x: &Knobs| Knobs {
            down_policy: k.down_policy,
            up_policy: k.up_policy,
            ..*x
        };
        self.order.iter().find_map(|x| match self.memo.get(x) {
            Some(&Scored::Complete(f, Some(range)))
                if unbounded(x) == unbounded(k) && outside(x, range) && outside(k, range) =>
            {
                Some(Scored::Complete(f, Some(range)))
            }
            Some(&Scored::Complete(f, range)) if other_policies(x) == *k => {
                let decisions = self.rate_decisions.get(x)?;
                let (replayed, mine) = (self.config(today, x)?, self.config(today, k)?);
                replay::same_replay_with_policies(&replayed, decisions, &mine)
                    .then_some(Scored::Complete(f, range))
            }
            _ => None,
        })
    }

    /// The replayed configs with their whole figures, in the order they
    /// were tried.
    fn scored(&self) -> Vec<(Knobs, Figures)> {
        self.order
            .iter()
            .filter_map(|k| self.complete(k).map(|f| (*k, f)))
            .collect()
    }

    /// Replay to the end every stopped config that could still be listed in
    /// the frontier ([`frontier`]) or among the near misses, so that both
    /// are what replaying every candidate to the end would give. A stopped
    /// config can never be the choice, the cheapest within the guardrails,
    /// or a cheaper config worth a change ([`worth_a_change`]): it breaks a
    /// guardrail or costs more than the choice.
    fn settle(&mut self, today: &Knobs, best: &Knobs, best_fit: &Figures) {
        for k in self.order.clone() {
            let Some(Scored::Stopped(so_far)) = self.memo.get(&k).copied() else {
                continue;
            };
            let scored = self.scored();
            let t = self.today;
            let o = &self.strict;
            let cheaper_near_misses = scored
                .iter()
                .filter(|(m, f)| {
                    near_miss(o, m, f, &t, best, best_fit)
                        && f.replica_hours_per_day < so_far.replica_hours_per_day
                })
                .count();
            let ruled_out_of_near_misses = !near_miss(o, &k, &so_far, &t, best, best_fit)
                || cheaper_near_misses >= NEAR_MISSES;
            let least = least_saturated(o, &t, &scored);
            if !(ruled_out_of_least_saturation(o, &so_far, &t, &least) && ruled_out_of_near_misses)
            {
                let (whole, _) = self.replay(today, &k, |_| false);
                self.memo.insert(k, whole);
            }
        }
    }
}

/// The frontier's two least-saturation alternatives among `scored` (see
/// [`least_saturation_caps`] and [`saturation_order`]).
fn least_saturated<'a>(
    o: &Objective,
    today: &Figures,
    scored: &'a [(Knobs, Figures)],
) -> [Option<&'a (Knobs, Figures)>; 2] {
    least_saturation_caps(o, today).map(|cap| {
        scored
            .iter()
            .filter(|(_, f)| saturation_eligible(o, f, today, cap))
            .min_by(|a, b| saturation_order(&a.1, &b.1))
    })
}

/// Whether a config whose figures so far are `so_far` cannot be either of
/// the frontier's least-saturation alternatives, however its replay goes on,
/// against `least` (those among the whole replays, [`least_saturated`]).
fn ruled_out_of_least_saturation(
    o: &Objective,
    so_far: &Figures,
    today: &Figures,
    least: &[Option<&(Knobs, Figures)>; 2],
) -> bool {
    least_saturation_caps(o, today)
        .iter()
        .zip(least)
        .all(|(cap, m)| {
            !saturation_eligible(o, so_far, today, *cap)
                || m.is_some_and(|(_, m)| surely_more_saturated(so_far, m))
        })
}

/// The part of [`near_miss`] that does not depend on the choice.
fn near_miss_possible(o: &Objective, f: &Figures, today: &Figures) -> bool {
    o.keeps_churn_and_censoring(f, today)
        && f.over_target_minutes_per_day
            <= today.over_target_minutes_per_day + o.over_target_tolerance_minutes_per_day
}

/// Whether `f` may be listed as a near miss: cheaper than the choice
/// (`best`), failing at most the saturation guardrails — churn and
/// censored-demand capacity kept, over target within the tolerance.
/// Monotone: when figures so far fail, the whole replay's fail too.
fn near_miss(
    o: &Objective,
    k: &Knobs,
    f: &Figures,
    today: &Figures,
    best: &Knobs,
    best_fit: &Figures,
) -> bool {
    k != best
        && f.replica_hours_per_day < best_fit.replica_hours_per_day
        && near_miss_possible(o, f, today)
}

/// The cost caps of the frontier's two least-saturation alternatives:
/// today's cost (+2 %), and the most a change may add.
fn least_saturation_caps(o: &Objective, today: &Figures) -> [f64; 2] {
    [
        today.replica_hours_per_day * 1.02,
        today.replica_hours_per_day * (1.0 + o.max_extra_cost_percent / 100.0),
    ]
}

/// Whether `f` competes for the least saturation under `cap`.
fn saturation_eligible(o: &Objective, f: &Figures, today: &Figures, cap: f64) -> bool {
    f.replica_hours_per_day <= cap && o.keeps_churn_and_censoring(f, today)
}

/// Least saturation first, then least time over target, then least cost.
fn saturation_order(a: &Figures, b: &Figures) -> std::cmp::Ordering {
    a.saturated_minutes_per_day
        .total_cmp(&b.saturated_minutes_per_day)
        .then(
            a.over_target_minutes_per_day
                .total_cmp(&b.over_target_minutes_per_day),
        )
        .then(a.replica_hours_per_day.total_cmp(&b.replica_hours_per_day))
}

/// Whether a config whose figures so far are `so_far` ends after `m` in
/// [`saturation_order`], however its replay goes on (its figures only grow).
fn surely_more_saturated(so_far: &Figures, m: &Figures) -> bool {
    let (s, o, c) = (
        so_far.saturated_minutes_per_day,
        so_far.over_target_minutes_per_day,
        so_far.replica_hours_per_day,
    );
    s > m.saturated_minutes_per_day
        || s >= m.saturated_minutes_per_day
            && (o > m.over_target_minutes_per_day
                || o >= m.over_target_minutes_per_day && c > m.replica_hours_per_day)
}

/// Sorted copy of the finite values.
fn sorted(v: &[f64]) -> Vec<f64> {
    let mut s: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    s.sort_by(f64::total_cmp);
    s
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// The values the search tries for one knob, given the incumbent: today's,
/// the rules' proposals, and a small grid (documented per knob).
pub fn values_for(
    knob: usize,
    incumbent: &Knobs,
    today: &Knobs,
    seeds: &[ConfigChange],
    demand_sorted: &[f64],
    request: f64,
    room: PolicyRoom,
) -> Vec<Knobs> {
    let mut out: Vec<Knobs> = Vec::new();
    let mut push = |k: Knobs| {
        let mut k = k;
        k.max = k.max.max(k.min).max(1);
        if k != *incumbent && !out.contains(&k) {
            out.push(k);
        }
    };
    let i = *incumbent;
    match knob {
        // CPU target: today's, the rules', and 50..85 within 25 points of
        // today's (never above 85 %: headroom for the metric lag).
        0 => {
            let lo = today.target.saturating_sub(25).max(20);
            let mut vals: Vec<u32> = vec![today.target];
            vals.extend(seeds.iter().filter_map(|s| s.cpu_target_percent));
            vals.extend(TARGET_GRID);
            for t in vals {
                if (lo..=MAX_CPU_TARGET_PERCENT.max(today.target)).contains(&t) {
                    push(Knobs { target: t, ..i });
                }
            }
        }
        // Floor: today's, half and three quarters of it, the rules', 1, and
        // the pods the demand's minimum, 5th, 25th, 50th, 75th and 90th
        // percentiles need at the incumbent target.
        1 => {
            let per_pod = request * f64::from(i.target) / 100.0;
            let mut vals: Vec<u32> = vec![today.min, 1, today.min / 2, today.min * 3 / 4];
            vals.extend(seeds.iter().filter_map(|s| s.min_replicas));
            for q in FLOOR_QUANTILES {
                let need = (quantile(demand_sorted, q) / per_pod).ceil();
                vals.push(if need.is_finite() {
                    need.max(1.0) as u32
                } else {
                    1
                });
            }
            for m in vals {
                let m = m.min(i.max.max(today.max));
                // A KEDA floor of 0 stays 0 (scale to zero is a choice the
                // user made, not one the search makes).
                if m >= 1 || today.min == 0 {
                    push(Knobs { min: m, ..i });
                }
            }
        }
        // Scale-down stabilization: today's, the rules' (capped at 30 min),
        // and 1, 5, 10 and 15 minutes.
        2 => {
            let mut vals: Vec<u32> = vec![today.down, 60, 300, 600, 900];
            vals.extend(
                seeds
                    .iter()
                    .filter_map(|s| s.scale_down_stabilization_seconds)
                    .map(|v| v.min(MAX_SCALE_DOWN_WINDOW_SECONDS)),
            );
            for d in vals {
                push(Knobs { down: d, ..i });
            }
        }
        // Scale-up stabilization: today's, 0, and the rules' — never slower
        // than today: a replay at the history's resolution cannot see the
        // short spikes a slower scale-up would miss.
        3 => {
            let mut vals: Vec<u32> = vec![today.up, 0];
            vals.extend(
                seeds
                    .iter()
                    .filter_map(|s| s.scale_up_stabilization_seconds),
            );
            for u in vals.into_iter().filter(|u| *u <= today.up) {
                push(Knobs { up: u, ..i });
            }
        }
        // Ceiling: today's, the rules', and room for the peak at the
        // incumbent target plus 25 % (raised only).
        4 => {
            let per_pod = request * f64::from(i.target) / 100.0;
            let peak = demand_sorted.last().copied().unwrap_or(0.0);
            let need = (peak / per_pod * 1.25).ceil();
            let mut vals: Vec<u32> = vec![today.max];
            vals.extend(seeds.iter().filter_map(|s| s.max_replicas));
            if need.is_finite() && need > f64::from(today.max) {
                vals.push(need.min(f64::from(today.max) * 4.0) as u32);
            }
            for m in vals {
                push(Knobs { max: m, ..i });
            }
        }
        // Scale-down policy (when today's is Kubernetes' default): today's,
        // and at most 10, 25 or 50 % of the pods removed per minute — a
        // gentler descent than a long stabilization window, which holds the
        // peak's pods for the whole window.
        6 => {
            if room.down {
                push(Knobs {
                    down_policy: today.down_policy,
                    ..i
                });
                for p in SCALE_DOWN_PERCENT_GRID {
                    push(Knobs {
                        down_policy: Some(ScalingPolicy::percent(p, SCALE_DOWN_POLICY_PERIOD_S)),
                        ..i
                    });
                }
            }
        }
        // Scale-up policy (when today's is Kubernetes' default): today's,
        // and up to 400 % more pods per 15 s (never slower than the default).
        7 => {
            if room.up {
                push(Knobs {
                    up_policy: today.up_policy,
                    ..i
                });
                push(Knobs {
                    up_policy: Some(ScalingPolicy::percent(
                        FAST_SCALE_UP_PERCENT,
                        SCALE_UP_POLICY_PERIOD_S,
                    )),
                    ..i
                });
            }
        }
        // KEDA cooldown: today's, the rules' (capped at 30 min), 60 and
        // 300 s.
        _ => {
            if let Some(c0) = today.cooldown {
                let mut vals: Vec<u32> = vec![c0, 60, 300];
                vals.extend(
                    seeds
                        .iter()
                        .filter_map(|s| s.cooldown_period_seconds)
                        .map(|v| v.min(MAX_SCALE_DOWN_WINDOW_SECONDS)),
                );
                for c in vals {
                    push(Knobs {
                        cooldown: Some(c),
                        ..i
                    });
                }
            }
        }
    }
    out
}

pub(crate) fn days_label(from_day: f64, to_day: f64, total: f64) -> String {
    format!(
        "days {}–{} of {}",
        from_day.round() as i64 + 1,
        to_day.round() as i64,
        total.round() as i64
    )
}

/// Choose the config for `w` by the objective. `seeds` are the rules'
/// proposals (the merged one first).
///
/// # Errors
/// [`SearchError`] when the autoscaler does not scale on CPU or today's
/// config cannot be replayed.
pub fn choose(
    w: &WorkloadSnapshot,
    current: &CurrentConfig,
    seeds: &[ConfigChange],
    objective: &Objective,
) -> Result<Choice, SearchError> {
    choose_with(w, current, seeds, objective, Shortcuts::Take)
}

/// [`choose`], with or without stopping the replays of candidates that can
/// no longer win. Both give the same choice, frontier and near misses (a
/// test compares them on real series); [`Shortcuts::Take`] replays less.
///
/// # Errors
/// As [`choose`].
pub fn choose_with(
    w: &WorkloadSnapshot,
    current: &CurrentConfig,
    seeds: &[ConfigChange],
    objective: &Objective,
    shortcuts: Shortcuts,
) -> Result<Choice, SearchError> {
    // The history and its fidelity, read once for both choices.
    let history = replay::demand_history(w);
    if history.is_empty() {
        return Err(SearchError::Replay("the history is empty".into()));
    }
    let fidelity = replay::model_config(
        &w.config,
        &ConfigChange::default(),
        replay::request_cores(w),
    )
    .and_then(|today| replay::fidelity(w, &history, &today).ok());
    let search = |margin: f64| {
        search_at(
            w,
            current,
            seeds,
            objective,
            shortcuts,
            margin,
            &history,
            fidelity.as_ref(),
        )
    };
    let bold = search(1.0)?;
    if bold.confirmed || bold.holdout.is_none() {
        return Ok(bold);
    }
    let cautious = search(SELECTION_MARGIN)?;
    if !cautious.confirmed {
        return Ok(bold);
    }
    let mut choice = cautious;
    choice.verdict = format!(
        "{}. Chosen within {} of each tolerance on the fit part: the cheapest candidate within the whole tolerance, {}, did not hold on the held-out days",
        choice.verdict.trim_end_matches('.'),
        SELECTION_MARGIN,
        describe_change(current, &bold.best)
    );
    choice.candidates_replayed += bold.candidates_replayed;
    choice.candidates_stopped_early += bold.candidates_stopped_early;
    choice.candidates_reused += bold.candidates_reused;
    Ok(choice)
}

/// One search ([`choose_with`]) over `history` (not empty) choosing on the
/// fit part within `margin` of each tolerance, and its confirmation on the
/// held-out part (which always allows the whole tolerance), proposed only
/// where `fidelity` says the replay reproduces the history.
#[allow(clippy::too_many_arguments)]
fn search_at(
    w: &WorkloadSnapshot,
    current: &CurrentConfig,
    seeds: &[ConfigChange],
    objective: &Objective,
    shortcuts: Shortcuts,
    margin: f64,
    history: &DemandHistory,
    fidelity: Option<&replay::Fidelity>,
) -> Result<Choice, SearchError> {
    let today = Knobs::of(current).ok_or(SearchError::NotCpu)?;
    let request = replay::request_cores(w);
    let split = replay::split(history.len(), history.series.step_s);
    let fit = history.part(0..split.fit_samples);
    let held = history.part(split.fit_samples..history.len());
    let today_cfg = replay::model_config(&w.config, &ConfigChange::default(), request)
        .ok_or(SearchError::NotCpu)?;
    let (today_fit, today_ready, today_bounded, today_decisions) =
        match replay::replay_figures_bounded(&fit, &today_cfg, None, |_| false) {
            Ok(BoundedFigures::Complete {
                figures,
                ready,
                counts_bounded,
                rate_decisions,
            }) => (figures, ready, counts_bounded, rate_decisions),
            Ok(BoundedFigures::Stopped(_)) => {
                return Err(SearchError::Replay("today's replay stopped".into()))
            }
            Err(e) => return Err(SearchError::Replay(e.to_string())),
        };
    let demand_sorted = sorted(&fit.series.cores);
    let room = PolicyRoom::of(&w.config);
    let strict = objective.with_tolerances_scaled(margin);
    let mut s = Scorer {
        w,
        request,
        fit,
        today_ready,
        today: today_fit,
        strict,
        shortcuts,
        memo: HashMap::new(),
        order: Vec::new(),
        rate_decisions: HashMap::new(),
        reused: 0,
    };
    s.memo
        .insert(today, Scored::Complete(today_fit, today_bounded));
    s.order.push(today);
    if let Some(d) = today_decisions {
        s.rate_decisions.insert(today, d);
    }

    // Seeds: the best of today and the rules' proposals (scale-down windows
    // capped, scale-up never slowed, as in the grid).
    let mut best = today;
    let mut best_rank = ranked(&strict, &today_fit, &today_fit, &today, &today);
    for seed in seeds {
        let mut k = today.with(seed);
        k.down = k.down.min(MAX_SCALE_DOWN_WINDOW_SECONDS.max(today.down));
        k.up = k.up.min(today.up);
        k.cooldown = k
            .cooldown
            .map(|c| c.min(MAX_SCALE_DOWN_WINDOW_SECONDS.max(today.cooldown.unwrap_or(0))));
        if let Some(f) = s.score(&today, k, best_rank) {
            let r = ranked(&strict, &f, &s.today, &k, &today);
            if better(r, best_rank) {
                best = k;
                best_rank = r;
            }
        }
    }
    // Coordinate descent.
    for _ in 0..PASSES {
        let before = best;
        for knob in 0..KNOBS {
            for k in values_for(knob, &best, &today, seeds, &demand_sorted, request, room) {
                if let Some(f) = s.score(&today, k, best_rank) {
                    let r = ranked(&strict, &f, &s.today, &k, &today);
                    if better(r, best_rank) {
                        best = k;
                        best_rank = r;
                    }
                }
            }
        }
        if best == before {
            break;
        }
    }

    // Costs within a quantum rank as equal and the one with less saturation
    // wins; when that one saves too little to be worth a change, the
    // cheapest candidate within the guardrails that does is chosen instead.
    if objective.mode == Mode::Savings {
        best = worth_a_change(best, &s.scored(), &today_fit, objective, &strict);
    }
    let best_fit = s.complete(&best).unwrap_or(today_fit);
    s.settle(&today, &best, &best_fit);
    let total_days = history.days();
    let fit_days = s.fit.days();
    let fit_period = PeriodFigures {
        period: days_label(0.0, fit_days, total_days),
        days: round1(fit_days),
        current: today_fit.rounded(),
        proposed: best_fit.rounded(),
    };
    let frontier = frontier(&strict, &s, &today, &best);
    let candidates_replayed = s.memo.len() as u32;
    let candidates_stopped_early = s
        .memo
        .values()
        .filter(|v| matches!(v, Scored::Stopped(_)))
        .count() as u32;
    // Cheaper than the choice, and failing only on saturation: churn and
    // censored-demand capacity kept, over target within the tolerance.
    let mut near: Vec<(Knobs, Figures)> = s
        .scored()
        .into_iter()
        .filter(|(k, f)| near_miss(&strict, k, f, &today_fit, &best, &best_fit))
        .collect();
    near.sort_by(|a, b| {
        a.1.replica_hours_per_day
            .total_cmp(&b.1.replica_hours_per_day)
    });
    let near_misses: Vec<(ConfigChange, Figures)> = near
        .iter()
        .take(NEAR_MISSES)
        .map(|(k, f)| (k.change_from(&today), *f))
        .collect();
    let change = best.change_from(&today);

    // Confirmation on the held-out days.
    let saving_fit = best_fit.savings_percent(&today_fit);
    let mut holdout = None;
    let (confirmed, verdict) = if change.is_empty() {
        (
            false,
            "today's config is already the best the search found under the objective".to_string(),
        )
    } else if let Some(f) = fidelity.filter(|f| !f.reproduces) {
        (
            false,
            format!(
                "not proposed: the replay of today's config does not reproduce this workload's history, so it cannot judge a change: {}",
                f.reason
            ),
        )
    } else if objective.mode == Mode::Savings && saving_fit < objective.min_savings_percent {
        (
            false,
            format!(
                "the best candidate saves only {saving_fit:.1} % (less than the {} % worth a change)",
                objective.min_savings_percent
            ),
        )
    } else if split.holdout_days == 0 {
        (
            false,
            format!(
                "not proposed: {total_days:.1} days of history, at least {} needed to confirm a change on held-out days",
                replay::MIN_DAYS_FOR_HOLDOUT
            ),
        )
    } else {
        let cfg = s.config(&today, &best).ok_or(SearchError::NotCpu)?;
        let replayed = replay::replay_figures(&held, &today_cfg, None).and_then(|(t, ready)| {
            replay::replay_figures(&held, &cfg, Some(&ready)).map(|(p, _)| (t, p))
        });
        match replayed {
            Err(e) => (
                false,
                format!("not proposed: the held-out replay failed: {e}"),
            ),
            Ok((t, p)) => {
                let held_rank = rank(objective, &p, &t);
                let saving = p.savings_percent(&t);
                let ok = held_rank.is_some() && (objective.mode != Mode::Savings || saving > 0.0);
                holdout = Some(PeriodFigures {
                    period: days_label(fit_days, total_days, total_days),
                    days: round1(held.days()),
                    current: t.rounded(),
                    proposed: p.rounded(),
                });
                let verdict = if ok {
                    format!(
                        "confirmed on the held-out last {} day(s): {} on days the choice did not see",
                        split.holdout_days,
                        tradeoff(&p, &t)
                    )
                } else {
                    let mut why = objective.violations(&p, &t);
                    if why.is_empty() {
                        why.push("it saves nothing there".into());
                    }
                    format!(
                        "not proposed: on the held-out last {} day(s) it {}, but breaks the objective: {}",
                        split.holdout_days,
                        tradeoff(&p, &t),
                        why.join("; ")
                    )
                };
                (ok, verdict)
            }
        }
    };
    let verdict = if objective.mode == Mode::Savings && !objective.within_budget(&today_fit) {
        format!(
            "{verdict}. Today is outside the budget ({:.1} saturated min/day, {:.1} min/day over target): `balanced` mode would bring it inside at the least cost",
            today_fit.saturated_minutes_per_day, today_fit.over_target_minutes_per_day
        )
    } else {
        verdict
    };
    Ok(Choice {
        objective: *objective,
        statement: objective.statement(),
        method: replay::method(history),
        fit: fit_period,
        holdout,
        confirmed,
        verdict,
        frontier,
        candidates_replayed,
        candidates_stopped_early,
        candidates_reused: s.reused,
        fidelity: fidelity.cloned(),
        best: change,
        near_misses,
        best_fit: Some(best_fit),
        today_fit: Some((today_fit, s.today_ready)),
    })
}

/// In `savings` mode: `best` when it saves at least the objective's
/// `min_savings_percent` against `today` (or nothing does), else the
/// cheapest of `scored` that does and keeps `strict`'s guardrails. Costs
/// within [`COST_QUANTUM`] rank as equal and less saturation breaks the tie,
/// so the objective's first choice can save a little less than a cheaper
/// candidate; a change is only worth proposing above the threshold.
fn worth_a_change(
    best: Knobs,
    scored: &[(Knobs, Figures)],
    today: &Figures,
    objective: &Objective,
    strict: &Objective,
) -> Knobs {
    let saves = |f: &Figures| f.savings_percent(today) >= objective.min_savings_percent;
    if scored.iter().any(|(k, f)| *k == best && saves(f)) {
        return best;
    }
    scored
        .iter()
        .filter(|(_, f)| saves(f) && strict.keeps_guardrails(f, today))
        .min_by(|a, b| {
            a.1.replica_hours_per_day
                .total_cmp(&b.1.replica_hours_per_day)
        })
        .map_or(best, |(k, _)| *k)
}

pub(crate) fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// What a config does against today's, in words: "saves 12.0 % (3.1
/// replica-hours/day), saturation +0.2 min/day" or "costs +8.0 % (…) for 35.0
/// fewer saturated min/day".
pub fn tradeoff(p: &Figures, t: &Figures) -> String {
    let saving = p.savings_percent(t);
    let per_day = t.replica_hours_per_day - p.replica_hours_per_day;
    let sat = p.saturated_minutes_per_day - t.saturated_minutes_per_day;
    let over = p.over_target_minutes_per_day - t.over_target_minutes_per_day;
    if saving >= 0.0 {
        format!(
            "saves {saving:.1} % ({per_day:.1} replica-hours/day); saturation {sat:+.1} min/day, over target {over:+.1} min/day"
        )
    } else {
        format!(
            "costs {:+.1} % ({:+.1} replica-hours/day) for {}",
            -saving,
            -per_day,
            buys(p, t)
        )
    }
}

/// What `p` buys against `t`: "35.0 fewer saturated min/day and 12.0 fewer
/// min/day over target" (or that it buys neither).
pub fn buys(p: &Figures, t: &Figures) -> String {
    let sat = p.saturated_minutes_per_day - t.saturated_minutes_per_day;
    let over = p.over_target_minutes_per_day - t.over_target_minutes_per_day;
    let mut out = Vec::new();
    if sat < -0.05 {
        out.push(format!("{:.1} fewer saturated min/day", -sat));
    }
    if over < -0.05 {
        out.push(format!("{:.1} fewer min/day over target", -over));
    }
    if out.is_empty() {
        "no fewer saturated or over-target minutes".to_string()
    } else {
        out.join(" and ")
    }
}

/// A few alternatives from the replayed candidates: the choice, the
/// cheapest within the guardrails (when it is not the choice: costs within
/// [`COST_QUANTUM`] tie and the smaller change wins), the least saturation
/// at today's cost (+2 %), and the least saturation at any cost within the
/// cap.
fn frontier(o: &Objective, s: &Scorer<'_>, today: &Knobs, best: &Knobs) -> Vec<Alternative> {
    let t = s.today;
    let scored = s.scored();
    let mut out: Vec<Alternative> = Vec::new();
    let mut add = |label: &str, pick: Option<&(Knobs, Figures)>| {
        if let Some((k, f)) = pick {
            let change = k.change_from(today);
            if !out.iter().any(|a| a.change == change) {
                out.push(Alternative {
                    label: label.to_string(),
                    change,
                    figures: f.rounded(),
                });
            }
        }
    };
    let chosen = scored.iter().find(|(k, _)| k == best);
    add("chosen by the objective", chosen);
    let cheapest = scored
        .iter()
        .filter(|(_, f)| o.keeps_guardrails(f, &t))
        .min_by(|a, b| {
            a.1.replica_hours_per_day
                .total_cmp(&b.1.replica_hours_per_day)
        });
    // Listed only when it is cheaper than the choice by more than a tie.
    let quantum = t.replica_hours_per_day * COST_QUANTUM;
    let cheapest = cheapest.filter(|(_, f)| {
        chosen.is_none_or(|(_, c)| f.replica_hours_per_day < c.replica_hours_per_day - quantum)
    });
    add("cheapest within the guardrails", cheapest);
    // The least saturation (then over target, then cost) among those
    // costing at most `cap` replica-hours a day.
    let [same_cost, most_cost] = least_saturated(o, &t, &scored);
    add("today's cost, least saturation", same_cost);
    add("least saturation", most_cost);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::workload;

    /// `days` days at 5 min: nights at 15 % of 10 pods, a 6-hour day at 60
    /// %, on a generous config (floor 8, 50 % target).
    fn daily(days: usize) -> WorkloadSnapshot {
        let mut w = workload();
        let n = 288 * days;
        w.config.min_replicas = 8;
        w.config.max_replicas = 20;
        w.config.cpu_target_percent = Some(50);
        let util: Vec<f64> = (0..n)
            .map(|i| {
                if (96..168).contains(&(i % 288)) {
                    60.0
                } else {
                    15.0
                }
            })
            .collect();
        w.history.cpu_utilization = util;
        w.history.replicas_current = vec![10.0; n];
        w.history.replicas_desired = vec![10.0; n];
        w
    }

    #[test]
    fn a_generous_config_gets_a_cheaper_one_that_holds_on_held_out_days() {
        let w = daily(7);
        let current = CurrentConfig::of(&w);
        let c = choose(&w, &current, &[], &Objective::default()).expect("search");
        assert!(c.confirmed, "{}", c.verdict);
        let h = c.holdout.as_ref().expect("held out");
        assert_eq!(h.period, "days 6–7 of 7");
        assert!(
            h.proposed.replica_hours_per_day < h.current.replica_hours_per_day * 0.9,
            "{h:?}"
        );
        assert!(
            h.proposed.saturated_minutes_per_day <= h.current.saturated_minutes_per_day + 1.0,
            "{h:?}"
        );
        assert_eq!(c.frontier[0].label, "chosen by the objective");
        assert_eq!(c.frontier[0].change, c.best);
        assert!(c.candidates_replayed as usize <= MAX_REPLAYS);
    }

    #[test]
    fn policies_are_searched_only_where_today_has_kubernetes_defaults() {
        let w = daily(7);
        let today = Knobs::of(&CurrentConfig::of(&w)).expect("cpu");
        let offered = |room: PolicyRoom, knob: usize| {
            values_for(knob, &today, &today, &[], &[1.0, 2.0], 0.5, room)
        };
        let room = PolicyRoom::of(&w.config);
        assert_eq!(
            room,
            PolicyRoom {
                up: true,
                down: true
            }
        );
        let down: Vec<_> = offered(room, 6)
            .iter()
            .filter_map(|k| k.down_policy)
            .collect();
        assert_eq!(
            down,
            SCALE_DOWN_PERCENT_GRID.map(|p| ScalingPolicy::percent(p, SCALE_DOWN_POLICY_PERIOD_S))
        );
        let up: Vec<_> = offered(room, 7)
            .iter()
            .filter_map(|k| k.up_policy)
            .collect();
        assert_eq!(up, [ScalingPolicy::percent(FAST_SCALE_UP_PERCENT, 15)]);
        // A policy a person wrote, or a disabled direction, is left alone.
        let mut custom = w.config.clone();
        custom.scale_down = Some(ScalingRules {
            policies: vec![ScalingPolicy::percent(5, 60)],
            ..ScalingRules::default()
        });
        custom.scale_up = Some(ScalingRules {
            select_policy: Some(SelectPolicy::Disabled),
            ..ScalingRules::default()
        });
        let room = PolicyRoom::of(&custom);
        assert_eq!(room, PolicyRoom::default());
        assert!(offered(room, 6).is_empty() && offered(room, 7).is_empty());
        // The diff carries a chosen policy and nothing for an unchanged one.
        let k = Knobs {
            down_policy: Some(ScalingPolicy::percent(25, 60)),
            ..today
        };
        let change = k.change_from(&today);
        assert_eq!(
            change.scale_down_policy,
            Some(ScalingPolicy::percent(25, 60))
        );
        assert_eq!(change.scale_up_policy, None);
        assert_eq!(today.with(&change), k);
    }

    #[test]
    fn a_tie_winner_below_the_savings_threshold_gives_way_to_a_cheaper_one_that_saves_enough() {
        let o = Objective::default();
        let today_k = Knobs::of(&CurrentConfig::of(&daily(7))).expect("cpu");
        let fig = |cost: f64, sat: f64| Figures {
            replica_hours_per_day: cost,
            saturated_minutes_per_day: sat,
            over_target_minutes_per_day: 0.0,
            direction_changes_per_day: 0.0,
            censored_shortfall_minutes_per_day: 0.0,
            peak_replicas: 10,
        };
        let today = fig(100.0, 0.5);
        let tie_winner = Knobs {
            down: 60,
            ..today_k
        };
        let cheaper = Knobs {
            target: 75,
            ..today_k
        };
        let too_saturated = Knobs {
            target: 85,
            ..today_k
        };
        // 2.9 % with less saturation (it won the cost tie), 3.2 % with a
        // bit more, and 10 % that breaks the saturation guardrail.
        let scored = [
            (tie_winner, fig(97.1, 0.0)),
            (cheaper, fig(96.8, 0.4)),
            (too_saturated, fig(90.0, 9.0)),
        ];
        let strict = o.with_tolerances_scaled(SELECTION_MARGIN);
        assert_eq!(
            worth_a_change(tie_winner, &scored, &today, &o, &strict),
            cheaper
        );
        // A first choice that saves enough stays.
        let enough = [(tie_winner, fig(95.0, 0.0)), (cheaper, fig(94.9, 0.4))];
        assert_eq!(
            worth_a_change(tie_winner, &enough, &today, &o, &strict),
            tie_winner
        );
        // Nothing saves enough: the first choice stays (and is not proposed).
        let none = [(tie_winner, fig(99.0, 0.0)), (cheaper, fig(98.5, 0.4))];
        assert_eq!(
            worth_a_change(tie_winner, &none, &today, &o, &strict),
            tie_winner
        );
    }

    #[test]
    fn too_short_a_history_is_not_proposed_and_says_why() {
        let w = daily(2);
        let c = choose(&w, &CurrentConfig::of(&w), &[], &Objective::default()).expect("search");
        assert!(!c.confirmed);
        assert!(c.verdict.contains("at least 3"), "{}", c.verdict);
    }

    #[test]
    fn a_memory_only_autoscaler_is_not_searched() {
        let mut w = daily(7);
        w.config.cpu_target_percent = None;
        assert_eq!(
            choose(&w, &CurrentConfig::of(&w), &[], &Objective::default()),
            Err(SearchError::NotCpu)
        );
    }

    #[test]
    fn the_search_is_deterministic() {
        let w = daily(7);
        let a = choose(&w, &CurrentConfig::of(&w), &[], &Objective::default()).expect("a");
        let b = choose(&w, &CurrentConfig::of(&w), &[], &Objective::default()).expect("b");
        assert_eq!(a, b);
    }

    #[test]
    fn savings_never_picks_a_config_that_saturates_more_than_the_tolerance() {
        let w = daily(7);
        let o = Objective::default();
        let c = choose(&w, &CurrentConfig::of(&w), &[], &o).expect("search");
        assert!(
            c.fit.proposed.saturated_minutes_per_day
                <= c.fit.current.saturated_minutes_per_day
                    + o.saturation_tolerance_minutes_per_day
                    + 0.05
        );
    }
}
