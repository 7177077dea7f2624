//! The fast replay: the same mechanics and the same controller as
//! [`super::reference::simulate_reference`], with the pods held as runs of
//! pods the controller cannot tell apart.
//!
//! Pods created in the same sync become ready together and report the same
//! metric, so they form a run (ready time, count). A run whose pods have been
//! ready for a whole metric window reads exactly like every other such run
//! from then on (the controller groups them the same way, inside the CPU
//! initialization period or not, and their mean share covers the same
//! samples), so such runs merge into one. A reconcile then costs the number
//! of runs (a handful) instead of the number of pods, and no allocation.
//! The controller's arithmetic over runs
//! ([`crate::model::HorizontalController::compute_replicas_for_runs`]) sums
//! integer milli-units, so grouping changes no result: tests compare both
//! replays on real series.
//!
//! Most syncs of a plain CPU HPA change nothing: the controller keeps the
//! count, or its stabilization holds a lower proposal (the scale-down
//! window) or a higher one (the scale-up window). Those
//! syncs are fast-forwarded (`Forward`): the settled pods' reading comes
//! from the metric window's summed shares, compared with bounds worked out
//! once, and the controller records what the reconciles would have. A sum
//! too close to a rounding edge to decide is left to the sync-by-sync path.

use crate::window::{reading_since, Window};

use super::reference::{
    AutoscalerConfig, Bounded, DemandSeries, Progress, Replay, SimError, SimOptions, SimReport,
    SyncLoad,
};
use crate::model::replica::{
    settled_replicas, settled_with_unready_replicas, SettledBand, Tolerances,
};
use crate::model::PodRun;

/// Replayed time between two questions to a bounded replay's `stop`,
/// seconds (an hour: 240 syncs, so asking costs nothing measurable).
pub const CHECK_EVERY_S: i64 = 3600;

/// Replays `series` under `config`, holding pods as runs; the same report as
/// [`super::reference::simulate_reference`].
///
/// # Errors
/// [`SimError`] for an empty series, an invalid config or an invalid cron floor.
pub fn simulate_runs(
    series: &DemandSeries,
    config: &AutoscalerConfig,
    options: &SimOptions,
) -> Result<SimReport, SimError> {
    // No rate decisions: nothing checks other policies against this replay.
    match replay_runs(series, config, options, &mut |_| false, false)? {
        Bounded::Complete { report, .. } => Ok(report),
        // The check above never stops the replay.
        Bounded::Stopped { .. } => Err(SimError::InvalidConfig(
            "the replay stopped without being asked to".into(),
        )),
    }
}

/// [`simulate_runs`] that asks `stop` once per [`CHECK_EVERY_S`] of replayed
/// time how far the replay has come, and stops when it says so; a replay
/// of a plain HPA that runs to the end also returns its rate decisions
/// (what `same_replay_with_policies` checks other policies against).
///
/// Every figure of a [`Progress`] only grows as the replay goes on, so a
/// caller that only needs to know whether the final report could beat
/// another can stop a replay as soon as its figures so far cannot.
///
/// # Errors
/// [`SimError`] for an empty series, an invalid config or an invalid cron floor.
pub fn simulate_runs_bounded(
    series: &DemandSeries,
    config: &AutoscalerConfig,
    options: &SimOptions,
    stop: &mut dyn FnMut(&Progress<'_>) -> bool,
) -> Result<Bounded, SimError> {
    replay_runs(series, config, options, stop, true)
}

/// [`simulate_runs_bounded`], logging the rate decisions of a plain HPA
/// only when `log_rates` asks for them.
fn replay_runs(
    series: &DemandSeries,
    config: &AutoscalerConfig,
    options: &SimOptions,
    stop: &mut dyn FnMut(&Progress<'_>) -> bool,
    log_rates: bool,
) -> Result<Bounded, SimError> {
    let mut r = Replay::new(series, config, options)?;
    let mut next_check = r.start.saturating_add(CHECK_EVERY_S);
    let hpa_only = r.hpa_only();
    r.controller = std::mem::take(&mut r.controller).with_sliding_windows();
    if log_rates && hpa_only {
        r.controller = std::mem::take(&mut r.controller).with_rate_decisions();
    }
    // A run that has been ready for a whole metric window reads like every
    // older run: the controller counts it ready even inside the CPU
    // initialization period (its sample covers a full window after the
    // readiness change), and its mean share covers the same samples.
    let settle_s = options.metric_window_s;
    // Runs of pods in creation (= readiness) order: (ready at, count).
    let mut runs: Vec<(i64, u32)> = Vec::new();
    if r.initial > 0 {
        runs.push((r.start - options.pod_startup_s, r.initial as u32));
    }
    let mut total: i64 = i64::from(r.initial.max(0));
    let mut shares: Window<(i64, f64)> = Window::default();
    let mut pod_runs: Vec<PodRun> = Vec::new();
    // The shortcuts for settled runs apply when the first metric is CPU
    // utilization and any others are the cron floors' External
    // `AverageValue` metrics, whose proposals the controller combines with
    // the CPU one (`with_external_proposals`).
    let cpu_target = r
        .spec
        .utilization_then_external()
        .filter(|pct| *pct > 0 && r.request_milli() > 0);
    let band = cpu_target.and_then(|target| {
        SettledBand::new(target, r.request_milli(), &r.controller.config.tolerances)
    });
    let init_ms = r.controller.config.cpu_initialization_period_ms;
    // Syncs the controller keeps are fast-forwarded for a plain CPU HPA
    // whose metric window spans a few syncs.
    let window_syncs = if options.metric_window_s > 0 {
        (options.metric_window_s + options.sync_period_s - 1) / options.sync_period_s
    } else {
        0
    };
    // KEDA's executor must leave those syncs to the HPA.
    let forward = match band {
        Some(band)
            if r.executor_idle_above_floor()
                && (1..=MAX_WINDOW_SYNCS as i64).contains(&window_syncs) =>
        {
            cpu_target.map(|target_pct| Forward {
                band,
                window_syncs: window_syncs as usize,
                target_pct,
            })
        }
        _ => None,
    };
    // Whether the last sync kept the count: a run of kept syncs is tried
    // from the next one on.
    let mut kept = false;
    let mut t = r.start;
    while t < r.end {
        if t >= next_check {
            next_check = t.saturating_add(CHECK_EVERY_S);
            if stop(&r.progress(t)) {
                return Ok(Bounded::Stopped(r.progress(t).owned()));
            }
        }
        // Merge the settled runs at the front into one.
        while runs.len() >= 2 && runs[1].0 <= t - settle_s {
            let merged = runs[0].1 + runs[1].1;
            runs.remove(1);
            runs[0].1 = merged;
        }
        let ready: i64 = runs
            .iter()
            .take_while(|(at, _)| *at <= t)
            .map(|(_, n)| i64::from(*n))
            .sum();
        if let Some(f) = forward.as_ref().filter(|_| kept) {
            kept = false;
            // Settled pods, and perhaps new ones not settled yet.
            if runs.len() <= 2 && runs[0].0 <= t - settle_s {
                // Cron floors hold their values until one starts or ends.
                let mut until = next_check.min(r.end);
                if !hpa_only {
                    r.crons_at(t)?;
                    until = until.min(r.crons_unchanged_until());
                }
                if let Some(next) = f.kept_syncs(
                    &mut r,
                    series,
                    options,
                    &mut shares,
                    t,
                    &runs,
                    until,
                    init_ms,
                ) {
                    // Stopped for the check, not by a sync it could not keep.
                    kept = next >= until;
                    t = next;
                    continue;
                }
            }
        }
        let (demand, share) = r.account(t, total, ready);
        shares.push_back((t, share));
        while shares
            .front()
            .is_some_and(|(ts, _)| *ts <= t - options.metric_window_s)
        {
            shares.pop_front();
        }
        // KEDA's executor first, then the HPA.
        let current = total as i32;
        let keda = if hpa_only {
            None
        } else {
            r.keda(t, current, demand)?
        };
        let desired = match keda {
            Some(d) => d,
            None => match cpu_target {
                Some(target) if runs.len() == 1 && runs[0].0 <= t - settle_s => {
                    // Every pod is ready and settled: each reads the mean share
                    // of the whole window (what `pod_view` computes for it).
                    let value_milli = settled_reading(&shares);
                    let request_milli = r.request_milli();
                    let count = i64::from(runs[0].1);
                    let now_ms = t * 1000;
                    let tolerances = r.controller.config.tolerances;
                    let spec = &r.spec;
                    // Inside the band the CPU proposal is the current count;
                    // the replay never reads the utilization, so it is not
                    // computed.
                    if band.is_some_and(|b| b.holds(value_milli, request_milli, count))
                        && (r.cron_totals.is_empty()
                            || r.controller
                                .with_external_proposals(
                                    spec,
                                    Ok((current, None)),
                                    &r.cron_totals,
                                    current,
                                    current,
                                )
                                .is_ok_and(|(p, _)| p == current))
                        && r.controller.keep_count(spec, current, current, now_ms)
                    {
                        kept = true;
                        current
                    } else {
                        let p = settled_replicas(
                            current,
                            target,
                            value_milli,
                            request_milli,
                            count,
                            &tolerances,
                        );
                        let (desired, keeps) = reconcile_settled(&mut r, current, p, now_ms);
                        kept = keeps;
                        desired
                    }
                }
                Some(target)
                    if runs.len() == 2
                        && runs[0].0 <= t - settle_s
                        && counted_unready(runs[1].0, t, init_ms) =>
                {
                    // Settled pods, and new ones the controller counts
                    // unready: still pending, or ready for less than a
                    // metric window inside the CPU initialization period
                    // (`group_pod`). The settled ones read as above.
                    let p = settled_with_unready_replicas(
                        current,
                        target,
                        settled_reading(&shares),
                        r.request_milli(),
                        i64::from(runs[0].1),
                        i64::from(runs[1].1),
                        &r.controller.config.tolerances,
                    );
                    let p = (p.replicas, p.utilization_pct);
                    let (desired, keeps) = reconcile_settled(&mut r, current, p, t * 1000);
                    kept = keeps;
                    desired
                }
                _ => {
                    pod_runs.clear();
                    for &(ready_at, count) in &runs {
                        let (pod, reading) = r.pod_view(ready_at, t, &shares);
                        pod_runs.push(PodRun {
                            pod,
                            reading,
                            count,
                        });
                    }
                    let now_ms = t * 1000;
                    let spec = &r.spec;
                    r.controller
                        .reconcile_with(spec, current, now_ms, |c| {
                            c.compute_replicas_for_runs(
                                spec,
                                &pod_runs,
                                &r.cron_totals,
                                current,
                                current,
                                now_ms,
                            )
                        })
                        .desired_replicas
                }
            },
        };
        if desired != current {
            if desired > current {
                runs.push((t + options.pod_startup_s, (desired - current) as u32));
            } else {
                // Scale-down removes the newest pods first.
                let mut remove = i64::from(current) - i64::from(desired.max(0));
                while remove > 0 {
                    let Some(last) = runs.last_mut() else { break };
                    let take = remove.min(i64::from(last.1));
                    last.1 -= take as u32;
                    remove -= take;
                    if last.1 == 0 {
                        runs.pop();
                    }
                }
            }
            total = runs.iter().map(|(_, n)| i64::from(*n)).sum();
            r.scaled(current, desired, total);
        }
        t = r.next_sync(t);
    }
    let counts_bounded = if hpa_only {
        r.controller.counts_bounded()
    } else {
        None
    };
    let rate_decisions = r.controller.take_rate_decisions();
    Ok(Bounded::Complete {
        report: r.finish(),
        counts_bounded,
        rate_decisions,
    })
}

/// The longest metric window, in syncs, whose kept syncs are fast-forwarded
/// (the default 60 s window at the default 15 s sync is 4).
const MAX_WINDOW_SYNCS: usize = 4;

/// Relative margin by which a window's summed shares must clear the edge
/// of the readings the controller keeps before a sync is fast-forwarded:
/// far above the rounding of the replay's own sums (about 1e-15), so a
/// reading the margin lets through rounds to the same milli-units either
/// way.
const KEEP_MARGIN: f64 = 1e-9;

/// Fast-forwards the syncs at which a plain CPU HPA keeps its count.
///
/// Most syncs of a replay change nothing: the pods are settled and the
/// controller keeps the count, either because the reading lies inside the
/// tolerance band (or below it at minReplicas, or above it at maxReplicas;
/// [`crate::model::HorizontalController::keep_count`]; or outside it, with
/// a proposal that still rounds to the count), or because the
/// stabilization holds the proposal
/// ([`crate::model::HorizontalController::hold`]): a lower one by the
/// scale-down window, a higher one by the scale-up window. Such a sync needs
/// no reading per pod: every settled pod reads the mean of the shares the
/// metric window holds. Whether the reading is kept is then a comparison
/// of the window's summed shares with bounds worked out once; outside
/// them the proposal needs the reading in milli-units, which the sum gives
/// unless it lies within [`KEEP_MARGIN`] of a rounding edge. Anything near an edge is
/// left to the sync-by-sync replay, which decides it exactly. A run of
/// kept syncs records the same recommendation each time, which the sliding
/// windows hold as one entry, so recording it at the run's first and last
/// sync leaves the controller as the run would; the totals are added in
/// whole seconds, and the shares per sample as the replay computes them.
struct Forward {
    band: SettledBand,
    window_syncs: usize,
    target_pct: i32,
}

impl Forward {
    /// Fast-forwards the syncs from `t` (before `until`) at which the
    /// controller keeps the count of `runs`: settled pods, and at most one
    /// run of new pods it counts unready (pending, or ready for less than a
    /// metric window inside the CPU initialization period, which ends
    /// `init_ms` after they became ready) until they settle. The time of
    /// the first sync not taken, or `None` when the sync at `t` is not one
    /// of them.
    #[allow(clippy::too_many_arguments)]
    fn kept_syncs(
        &self,
        r: &mut Replay<'_>,
        series: &DemandSeries,
        options: &SimOptions,
        shares: &mut Window<(i64, f64)>,
        t: i64,
        runs: &[(i64, u32)],
        until: i64,
        init_ms: i64,
    ) -> Option<i64> {
        let sync = options.sync_period_s;
        let (settled, young) = match runs {
            [(_, a)] => (i64::from(*a), None),
            [(_, a), (ready_at, b)] => (i64::from(*a), Some((*ready_at, i64::from(*b)))),
            _ => return None,
        };
        let count = settled + young.map_or(0, |(_, b)| b);
        // The new pods are ready from `ready_at` on and merge with the
        // settled ones a metric window later.
        let ready_at = |at: i64| match young {
            Some((ready_at, b)) if ready_at > at => count - b,
            _ => count,
        };
        let apart =
            |at: i64| young.filter(|(ready_at, _)| *ready_at > at - options.metric_window_s);
        let n = i32::try_from(count).ok()?;
        let (min, max) = (r.spec.min_replicas, r.spec.max_replicas);
        if n <= 0 || n < min || n > max || r.cron_totals.len() + 1 != r.spec.metrics.len() {
            return None;
        }
        // The largest of the cron floors' proposals, the same at every sync
        // taken (their totals and the count do not change before `until`).
        // With none negative, and a CPU proposal that is not either, the
        // controller takes the largest of all (`combine_proposals`); a
        // failing one is left to the replay.
        let mut cron_top = i32::MIN;
        for p in r.controller.external_proposals(&r.spec, &r.cron_totals, n) {
            match p {
                Ok((p, _)) if p >= 0 => cron_top = cron_top.max(p),
                _ => return None,
            }
        }
        let w = self.window_syncs;
        // The shares the metric window holds from the syncs before `t`
        // (what the replay averages with this sync's), oldest first; zero
        // in the places beyond a shorter window. Held in locals, so each
        // sync adds four values without a trip through memory.
        let held = shares.as_slice();
        let from = held.partition_point(|(ts, _)| *ts <= t - options.metric_window_s);
        if held.len() - from != w - 1 {
            return None;
        }
        let mut older = [0.0f64; MAX_WINDOW_SYNCS - 1];
        for (slot, (_, share)) in older[MAX_WINDOW_SYNCS - w..].iter_mut().zip(&held[from..]) {
            *slot = *share;
        }
        let request_milli = r.request_milli();
        // Readings (at most the limit) stay below 2^52 milli-units, and
        // times the count far inside i64, as the band's test asks
        // (`SettledBand::holds`).
        let most_milli = r.limit() * 1000.0;
        let bounded = most_milli < 1e15 && most_milli * (count as f64) < 1e18;
        if !bounded || request_milli.checked_mul(count).is_none() {
            return None;
        }
        // The window's summed shares for which the reading is kept: inside
        // the band, or any lower one at the floor, any higher at the ceiling.
        let (lo, hi) = self.band.range();
        let syncs_held = w as f64;
        let sum_lo = if n == min {
            f64::NEG_INFINITY
        } else {
            (lo as f64 - 0.5) / 1000.0 * syncs_held * (1.0 + KEEP_MARGIN)
        };
        let sum_hi = if n == max {
            f64::INFINITY
        } else {
            (hi as f64 + 0.5) / 1000.0 * syncs_held * (1.0 - KEEP_MARGIN)
        };
        // Each pod's reading, milli-units, from the window's summed shares.
        let to_milli = 1000.0 / syncs_held;
        let tolerances = r.controller.config.tolerances;
        let mut sample = usize::try_from((t - series.start_s) / series.step_s).ok()?;
        let mut sample_ends = series.start_s + (sample as i64 + 1) * series.step_s;
        let mut ready = ready_at(t);
        let mut load = r.load(series.cores.get(sample).copied().unwrap_or(0.0), ready);
        r.trace_through(t, count, ready);
        let mut at = t;
        let mut taken = Taken::default();
        // The run of kept syncs under way: its first and last sync.
        let mut keeping: Option<(i64, i64)> = None;
        // Syncs per sample, when samples start on syncs and hold at least a
        // metric window each.
        let per_sample = (series.step_s % sync == 0 && series.step_s / sync >= w as i64)
            .then_some(series.step_s / sync);
        // The earlier shares after a sync of `share`, or after a whole
        // window of it: zero in the places beyond a shorter window.
        let kept_place = |w_min: usize, v: f64| if w >= w_min { v } else { 0.0 };
        let shifted = |older: [f64; 3], share: f64| {
            [
                kept_place(4, older[1]),
                kept_place(3, older[2]),
                kept_place(2, share),
            ]
        };
        let filled = |share: f64| {
            [
                kept_place(4, share),
                kept_place(3, share),
                kept_place(2, share),
            ]
        };
        let window_sum = |older: [f64; 3], share: f64| (older[0] + older[1]) + (older[2] + share);
        let proposer = Proposer {
            sum_lo,
            sum_hi,
            to_milli,
            n,
            target_pct: self.target_pct,
            request_milli,
            settled,
            count,
            tolerances,
            cron_top,
        };
        while at < until {
            let ready_now = ready_at(at);
            if at >= sample_ends || ready_now != ready {
                while at >= sample_ends {
                    sample += 1;
                    sample_ends += series.step_s;
                }
                ready = ready_now;
                load = r.load(series.cores.get(sample).copied().unwrap_or(0.0), ready);
                r.trace_through(at, count, ready);
                // A whole sample at once: when the window held one share
                // before it, its sums move in a straight line from the
                // first sync's to the last's (which holds this sample's
                // share only), and the proposal with them, so the same
                // proposal at both is the proposal at every one.
                let single = apart(at).is_none();
                if let (Some(m), true) = (per_sample, single) {
                    let prev = older[MAX_WINDOW_SYNCS - 2];
                    let whole_sample = at + (m - 1) * sync < until
                        && at == sample_ends - series.step_s
                        && older[MAX_WINDOW_SYNCS - w..]
                            .iter()
                            .all(|v| v.to_bits() == prev.to_bits());
                    if whole_sample {
                        let first = proposer.at(window_sum(older, load.share), None);
                        let last = proposer.at(window_sum(filled(load.share), load.share), None);
                        if let (Some(p), true) = (first, first == last) {
                            let last_at = at + (m - 1) * sync;
                            match Self::take(r, n, p, at, last_at, &mut keeping) {
                                None => break,
                                Some(to) if to == last_at => {
                                    let dt = m * sync;
                                    taken.add(m as u64, dt, &load);
                                    older = filled(load.share);
                                    at += dt;
                                }
                                Some(_) => {
                                    taken.add(1, sync.min(r.end - at), &load);
                                    older = shifted(older, load.share);
                                    at += sync;
                                }
                            }
                            continue;
                        }
                    }
                }
            }
            // New pods still apart: unready to the controller only inside
            // the CPU initialization period.
            let unready = apart(at);
            if unready.is_some_and(|(ready_at, _)| !counted_unready(ready_at, at, init_ms)) {
                break;
            }
            let Some(p) = proposer.at(window_sum(older, load.share), unready) else {
                break;
            };
            if Self::take(r, n, p, at, at, &mut keeping).is_none() {
                break;
            }
            taken.add(1, sync.min(r.end - at), &load);
            older = shifted(older, load.share);
            at += sync;
        }
        Self::end_keeping(r, n, &mut keeping);
        if taken.syncs == 0 {
            return None;
        }
        r.account_unseen(
            taken.syncs,
            count,
            taken.seconds,
            taken.seconds_over,
            taken.seconds_saturated,
        );
        // The metric window as the replay would have left it: the shares
        // of the last `w` syncs, of which the scan holds all but the oldest
        // in `older` (the same values, from the same sample and ready
        // count). After fewer syncs, older entries stay; those are pushed
        // and dropped as the replay does.
        let syncs = taken.syncs as usize;
        if syncs >= w {
            let oldest = at - w as i64 * sync;
            let share = r.load(series.at(oldest), ready_at(oldest)).share;
            refill_window(
                shares,
                (oldest, share),
                &older[MAX_WINDOW_SYNCS - w..],
                sync,
            );
        } else {
            for j in 0..syncs {
                let ts = t + j as i64 * sync;
                shares.push_back((ts, r.load(series.at(ts), ready_at(ts)).share));
                while shares
                    .front()
                    .is_some_and(|(s, _)| *s <= ts - options.metric_window_s)
                {
                    shares.pop_front();
                }
            }
        }
        Some(at)
    }

    /// Takes the syncs of `n` pods from `from` to `to` (inclusive), at
    /// each of which the metric proposes `p`, into the controller: a count
    /// kept extends the run of kept syncs under way (or starts one, if the
    /// controller keeps it at `from`); a proposal the stabilization holds
    /// (a lower one by the scale-down window, a higher one by the scale-up
    /// window) is recorded at `from` and, if held there too, at `to`. The
    /// stabilization's windows only shed recommendations in between (the
    /// ones recorded are on the held side of the count), so held at both
    /// ends means held at every sync, and the sliding windows hold the
    /// repeated proposal as its last entry. The last sync taken, or `None`
    /// when the one at `from` is neither kept nor held.
    // Inlined into the scan, with `hold`: where the compiler left either
    // out, cachegrind counted 2–4 % more instructions for the one-year
    // replay (`cargo bench -p stepscale-hpa`).
    #[inline(always)]
    fn take(
        r: &mut Replay<'_>,
        n: i32,
        p: i32,
        from: i64,
        to: i64,
        keeping: &mut Option<(i64, i64)>,
    ) -> Option<i64> {
        if p == n {
            match keeping {
                Some((_, last)) => *last = to,
                None => {
                    // A run starts: the legacy controller checks that no
                    // higher recommendation is still in its window, which
                    // stays so while the run lasts.
                    if !r.controller.keep_count(&r.spec, n, n, from * 1000) {
                        return None;
                    }
                    *keeping = Some((from, to));
                }
            }
            return Some(to);
        }
        Self::end_keeping(r, n, keeping);
        if !r.controller.hold(&r.spec, n, p, from * 1000) {
            return None;
        }
        // A hold not taken at `to` forgets nothing the syncs before it see.
        if to > from && r.controller.hold(&r.spec, n, p, to * 1000) {
            Some(to)
        } else {
            Some(from)
        }
    }

    /// Ends the run of kept syncs under way: records the count at its last
    /// sync (its first recorded it already).
    fn end_keeping(r: &mut Replay<'_>, n: i32, keeping: &mut Option<(i64, i64)>) {
        if let Some((first, last)) = keeping.take() {
            if last > first {
                let kept = r.controller.keep_count(&r.spec, n, n, last * 1000);
                debug_assert!(
                    kept,
                    "a count kept at a run's first sync is kept at its last"
                );
            }
        }
    }
}

/// Refills the metric window with `oldest` (time, share) and the shares of
/// the syncs after it, one every `sync` seconds, oldest first. Kept out of
/// the scan's loop, which the compiler optimizes as one body.
#[inline(never)]
fn refill_window(shares: &mut Window<(i64, f64)>, oldest: (i64, f64), newer: &[f64], sync: i64) {
    shares.clear();
    shares.push_back(oldest);
    for (k, share) in newer.iter().enumerate() {
        shares.push_back((oldest.0 + (k as i64 + 1) * sync, *share));
    }
}

/// The proposal at the syncs of one fast-forward ([`Forward::kept_syncs`]),
/// from the metric window's summed shares: its bounds and constants, worked
/// out once per scan.
struct Proposer {
    /// The sums for which the count is kept, from `sum_lo` up to (not
    /// including) `sum_hi`: the band, or open at the floor and the ceiling,
    /// with [`KEEP_MARGIN`] inside.
    sum_lo: f64,
    sum_hi: f64,
    /// Milli-units per pod for one unit of summed shares.
    to_milli: f64,
    /// The count.
    n: i32,
    target_pct: i32,
    request_milli: i64,
    /// Settled pods, and all pods.
    settled: i64,
    count: i64,
    tolerances: Tolerances,
    /// The largest of the cron floors' proposals (`i32::MIN` without any).
    cron_top: i32,
}

impl Proposer {
    /// The proposal at a sync whose window sums to `sum`, with `unready`
    /// new pods apart: the count inside the band; outside it the
    /// controller's, unless the reading lies so near a rounding edge that
    /// the replay may round it the other way (`None`; a negative reading,
    /// which no demand the replay builds gives, rounds differently and is
    /// left to the replay too). The CPU proposal is combined with the cron
    /// floors' (a negative one, which a count never is, is left to the
    /// replay).
    // Inlined into the scan: as a closure the compiler left it out of line
    // once it grew, for about 10 % more instructions of `analyze`'s replays.
    #[inline(always)]
    fn at(&self, sum: f64, unready: Option<(i64, i64)>) -> Option<i32> {
        let with_crons = |cpu: i32| (cpu >= 0).then_some(cpu.max(self.cron_top));
        if sum >= self.sum_lo && sum < self.sum_hi {
            return with_crons(self.n);
        }
        let x = sum * self.to_milli;
        let whole = x as i64;
        let fraction = x - whole as f64;
        if x < 0.0 || (fraction - 0.5).abs() <= KEEP_MARGIN * (x + 1.0) {
            return None;
        }
        let value_milli = whole + i64::from(fraction > 0.5);
        let p = match unready {
            Some((_, b)) => {
                settled_with_unready_replicas(
                    self.n,
                    self.target_pct,
                    value_milli,
                    self.request_milli,
                    self.settled,
                    b,
                    &self.tolerances,
                )
                .replicas
            }
            None => {
                settled_replicas(
                    self.n,
                    self.target_pct,
                    value_milli,
                    self.request_milli,
                    self.count,
                    &self.tolerances,
                )
                .0
            }
        };
        with_crons(p)
    }
}

/// The syncs a scan took, and their seconds in all, over the target and
/// saturated.
#[derive(Default)]
struct Taken {
    syncs: u64,
    seconds: i64,
    seconds_over: i64,
    seconds_saturated: i64,
}

impl Taken {
    /// Adds `syncs` syncs, `seconds` long in all, with `load`.
    fn add(&mut self, syncs: u64, seconds: i64, load: &SyncLoad) {
        self.syncs += syncs;
        self.seconds += seconds;
        if load.over_target {
            self.seconds_over += seconds;
        }
        if load.saturated {
            self.seconds_saturated += seconds;
        }
    }
}

/// Whether the controller counts pods that become ready at `ready_at`, and
/// have not been ready for a whole metric window, unready at `t`: while
/// pending, and once ready inside the CPU initialization period (`init_ms`
/// from readiness; `group_pod`: their sample does not cover a whole window
/// after readiness yet). Past that period it counts them ready.
fn counted_unready(ready_at: i64, t: i64, init_ms: i64) -> bool {
    ready_at > t || ready_at.saturating_mul(1000).saturating_add(init_ms) > t.saturating_mul(1000)
}

/// The reconcile of `current` pods whose CPU proposal is `replicas` (at
/// `utilization_pct` of their request), combined
/// with the cron floors' proposals for this sync's totals: kept or held without
/// the normalization where the controller allows it, else a full
/// reconcile. The desired count, and whether the count was kept.
fn reconcile_settled(
    r: &mut Replay<'_>,
    current: i32,
    (replicas, utilization_pct): (i32, i32),
    now_ms: i64,
) -> (i32, bool) {
    let spec = &r.spec;
    let cpu = (replicas, Some(utilization_pct));
    let proposal = if r.cron_totals.is_empty() {
        Ok(cpu)
    } else {
        r.controller
            .with_external_proposals(spec, Ok(cpu), &r.cron_totals, current, current)
    };
    if let Ok((replicas, _)) = proposal {
        if r.controller.keep_count(spec, current, replicas, now_ms)
            || r.controller.hold(spec, current, replicas, now_ms)
        {
            return (current, true);
        }
    }
    let desired = r
        .controller
        .reconcile_with(spec, current, now_ms, |_| proposal)
        .desired_replicas;
    (desired, false)
}

/// What every settled pod reads, milli-units: the mean share of the whole
/// metric window (what `Replay::pod_view` computes for it).
fn settled_reading(shares: &Window<(i64, f64)>) -> i64 {
    reading_since(shares, i64::MIN)
}
