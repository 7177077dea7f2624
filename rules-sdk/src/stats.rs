//! Statistics helpers for rules. Pure functions over `f64` slices; NaN marks a
//! missing sample and is skipped unless a function says otherwise.
//!
//! The helpers fall into these groups:
//! - summaries: [`mean`], [`median`], [`percentile`], [`variance`],
//!   [`max`], [`min`];
//! - robust statistics: [`mad`], [`trimmed_mean`];
//! - rolling windows: [`rolling_mean`], [`rolling_max`];
//! - time grouping: [`TimeGrid`] (hour of day, day of week, hour of week from
//!   the series start, step and UTC offset), [`profile`],
//!   [`hour_of_day_profile`], [`hour_of_week_profile`];
//! - shape: [`seasonality_strength`], [`autocorrelation`],
//!   [`direction_changes`], [`runs_above`], [`runs_below`];
//! - the demand model: [`replicas_needed`];
//! - forecast scoring: [`seasonal_naive`], [`mase`].
//!
//! Nothing here allocates more than a copy of its input, and nothing panics on
//! empty, short or all-NaN input: such input yields `None`, NaN or an empty
//! result as documented per function.

/// Finite values of `xs`, in order.
pub fn finite(xs: &[f64]) -> Vec<f64> {
    let mut out = Vec::with_capacity(xs.len());
    out.extend(xs.iter().copied().filter(|x| x.is_finite()));
    out
}

/// The larger of `a` and `b`; if one is NaN, the other. Like [`f64::max`]
/// but a compare-and-select: `f64::max` compiles to a call to libm's `fmax`
/// on wasm32, which costs a function call per element in hot loops.
#[inline]
pub fn max2(a: f64, b: f64) -> f64 {
    if a > b || b.is_nan() {
        a
    } else {
        b
    }
}

/// The smaller of `a` and `b`; if one is NaN, the other (see [`max2`]).
#[inline]
pub fn min2(a: f64, b: f64) -> f64 {
    if a < b || b.is_nan() {
        a
    } else {
        b
    }
}

/// Number of finite values in `xs`.
pub fn count_finite(xs: &[f64]) -> usize {
    xs.iter().filter(|x| x.is_finite()).count()
}

/// Arithmetic mean of the finite values; `None` if there are none.
pub fn mean(xs: &[f64]) -> Option<f64> {
    let (sum, n) = xs
        .iter()
        .filter(|x| x.is_finite())
        .fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    (n > 0).then(|| sum / n as f64)
}

/// Largest finite value; `None` if there are none.
pub fn max(xs: &[f64]) -> Option<f64> {
    xs.iter().copied().filter(|x| x.is_finite()).reduce(max2)
}

/// Smallest finite value; `None` if there are none.
pub fn min(xs: &[f64]) -> Option<f64> {
    xs.iter().copied().filter(|x| x.is_finite()).reduce(min2)
}

/// Population variance (divide by n) of the finite values; `None` if there
/// are none.
pub fn variance(xs: &[f64]) -> Option<f64> {
    let m = mean(xs)?;
    let (sum, n) = xs
        .iter()
        .filter(|x| x.is_finite())
        .fold((0.0, 0usize), |(s, n), x| (s + (x - m) * (x - m), n + 1));
    Some(sum / n as f64)
}

/// Population standard deviation of the finite values; `None` if there are
/// none.
pub fn std_dev(xs: &[f64]) -> Option<f64> {
    variance(xs).map(f64::sqrt)
}

/// The `q` quantile (0.0..=1.0) of the finite values, linear interpolation
/// between closest ranks; `None` if there are none.
pub fn percentile(xs: &[f64], q: f64) -> Option<f64> {
    let mut v = finite(xs);
    if v.is_empty() {
        return None;
    }
    Some(percentile_select(&mut v, q))
}

/// Like [`percentile`], but works in place on a buffer the caller owns
/// (reordering it) instead of copying: for many small groups.
pub fn percentile_in_place(xs: &mut [f64], q: f64) -> Option<f64> {
    // Move the finite values to the front, keeping their order.
    let mut n = 0;
    for i in 0..xs.len() {
        if xs[i].is_finite() {
            xs.swap(n, i);
            n += 1;
        }
    }
    (n > 0).then(|| percentile_select(&mut xs[..n], q))
}

/// [`percentile_sorted`] of `v` without sorting it: selects the one or two
/// ranks needed in O(n) (`v` is reordered). Same result as sorting first.
fn percentile_select(v: &mut [f64], q: f64) -> f64 {
    let q = q.clamp(0.0, 1.0);
    let pos = q * (v.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let (_, &mut at_lo, above) = v.select_nth_unstable_by(lo, f64::total_cmp);
    let at_hi = if hi > lo {
        // The next rank is the smallest value above `lo`.
        above
            .iter()
            .copied()
            .min_by(f64::total_cmp)
            .unwrap_or(at_lo)
    } else {
        at_lo
    };
    at_lo + (at_hi - at_lo) * (pos - lo as f64)
}

/// Like [`percentile`] on an already sorted slice without NaN (not checked).
/// Returns NaN for an empty slice.
pub fn percentile_sorted(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let q = q.clamp(0.0, 1.0);
    let pos = q * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Median of the finite values; `None` if there are none.
pub fn median(xs: &[f64]) -> Option<f64> {
    percentile(xs, 0.5)
}

/// Median absolute deviation from the median of the finite values (raw, not
/// scaled; multiply by 1.4826 for a normal-consistent sigma); `None` if there
/// are none.
pub fn mad(xs: &[f64]) -> Option<f64> {
    let m = median(xs)?;
    let dev: Vec<f64> = xs
        .iter()
        .filter(|x| x.is_finite())
        .map(|x| (x - m).abs())
        .collect();
    median(&dev)
}

/// Mean of the finite values after dropping the lowest and the highest
/// `fraction` of them (`fraction` clamped to 0.0..0.5; `floor(n × fraction)`
/// values are dropped at each end). `trimmed_mean(xs, 0.0)` is [`mean`].
/// `None` if there are no finite values.
pub fn trimmed_mean(xs: &[f64], fraction: f64) -> Option<f64> {
    let mut v = finite(xs);
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let f = if fraction.is_finite() {
        fraction.clamp(0.0, 0.499_999)
    } else {
        0.0
    };
    let k = (v.len() as f64 * f).floor() as usize;
    mean(&v[k..v.len() - k])
}

/// Trailing rolling mean over windows of `n` samples (the sample itself and
/// the `n - 1` before it; shorter at the start). NaN are skipped; a window
/// with no finite value yields NaN. The output has the input's length;
/// `n = 0` is treated as 1.
pub fn rolling_mean(xs: &[f64], n: usize) -> Vec<f64> {
    let n = n.max(1);
    let mut out = Vec::with_capacity(xs.len());
    let (mut sum, mut count) = (0.0, 0usize);
    for (i, &x) in xs.iter().enumerate() {
        if x.is_finite() {
            sum += x;
            count += 1;
        }
        if i >= n {
            let old = xs[i - n];
            if old.is_finite() {
                sum -= old;
                count -= 1;
            }
        }
        out.push(if count > 0 {
            sum / count as f64
        } else {
            f64::NAN
        });
    }
    out
}

/// Trailing rolling maximum over windows of `n` samples (see
/// [`rolling_mean`] for the window and NaN handling). Runs in O(len) with a
/// monotonic queue.
pub fn rolling_max(xs: &[f64], n: usize) -> Vec<f64> {
    let n = n.max(1);
    let mut out = Vec::with_capacity(xs.len());
    // Indices of finite samples with strictly decreasing values.
    let mut queue = std::collections::VecDeque::<usize>::new();
    for (i, &x) in xs.iter().enumerate() {
        while queue.front().is_some_and(|&j| j + n <= i) {
            queue.pop_front();
        }
        if x.is_finite() {
            while queue.back().is_some_and(|&j| xs[j] <= x) {
                queue.pop_back();
            }
            queue.push_back(i);
        }
        out.push(queue.front().map_or(f64::NAN, |&j| xs[j]));
    }
    out
}

/// Seconds in a day.
pub const DAY_SECONDS: i64 = 86_400;
/// Seconds in a week.
pub const WEEK_SECONDS: i64 = 7 * DAY_SECONDS;

/// Where the samples of a series fall in local time: sample `i` is at
/// `start_unix_seconds + i × step_seconds` (UTC), shown in a local time
/// `utc_offset_minutes` ahead of UTC. Built from the `series-info` of the
/// workload (see [`crate::input::WorkloadData::time_grid`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeGrid {
    /// Unix time (seconds, UTC) of sample 0.
    pub start_unix_seconds: i64,
    /// Seconds between samples; 0 is treated as 1.
    pub step_seconds: u32,
    /// Offset of local time from UTC, minutes.
    pub utc_offset_minutes: i32,
}

impl TimeGrid {
    /// A grid from its three parameters.
    pub fn new(start_unix_seconds: i64, step_seconds: u32, utc_offset_minutes: i32) -> Self {
        TimeGrid {
            start_unix_seconds,
            step_seconds,
            utc_offset_minutes,
        }
    }

    /// Local time of sample `i`, seconds since the Unix epoch shifted by the
    /// UTC offset.
    pub fn local_seconds(&self, i: usize) -> i64 {
        self.start_unix_seconds
            + i as i64 * i64::from(self.step_seconds.max(1))
            + i64::from(self.utc_offset_minutes) * 60
    }

    /// Seconds after local midnight of sample `i` (0..86400).
    pub fn second_of_day(&self, i: usize) -> u32 {
        self.local_seconds(i).rem_euclid(DAY_SECONDS) as u32
    }

    /// Minutes after local midnight of sample `i` (0..1440).
    pub fn minute_of_day(&self, i: usize) -> u32 {
        self.second_of_day(i) / 60
    }

    /// Local hour of day of sample `i` (0..24).
    pub fn hour_of_day(&self, i: usize) -> usize {
        (self.second_of_day(i) / 3600) as usize
    }

    /// Local day of week of sample `i`, 0 = Monday .. 6 = Sunday (the Unix
    /// epoch, 1970-01-01, was a Thursday).
    pub fn day_of_week(&self, i: usize) -> usize {
        (self.local_seconds(i).div_euclid(DAY_SECONDS) + 3).rem_euclid(7) as usize
    }

    /// Hour of the local week of sample `i`, 0 = Monday 00:00–01:00 ..
    /// 167 = Sunday 23:00–24:00.
    pub fn hour_of_week(&self, i: usize) -> usize {
        self.day_of_week(i) * 24 + self.hour_of_day(i)
    }

    /// Local day number of sample `i` (days since 1970-01-01 local), to tell
    /// days apart.
    pub fn day_index(&self, i: usize) -> i64 {
        self.local_seconds(i).div_euclid(DAY_SECONDS)
    }

    /// Slot of sample `i` within a period of `period_seconds` cut into slots
    /// of `slot_seconds`, counted from local Monday 00:00 (so a daily period
    /// starts at local midnight). Both arguments are clamped to at least 1.
    pub fn slot(&self, i: usize, slot_seconds: i64, period_seconds: i64) -> usize {
        // Monday 1970-01-05 00:00 local is 4 days after the epoch.
        let since_monday = self.local_seconds(i) - 4 * DAY_SECONDS;
        (since_monday.rem_euclid(period_seconds.max(1)) / slot_seconds.max(1)) as usize
    }

    /// Samples per day (at least 1); exact when the step divides a day.
    pub fn samples_per_day(&self) -> usize {
        (DAY_SECONDS / i64::from(self.step_seconds.max(1))).max(1) as usize
    }

    /// Samples per hour (at least 1).
    pub fn samples_per_hour(&self) -> usize {
        (3600 / self.step_seconds.max(1)).max(1) as usize
    }
}

impl TimeGrid {
    /// The local time of sample `from`, `from + 1`, … (an endless iterator:
    /// zip it with the samples or `take` what is needed). Same values as
    /// [`TimeGrid::day_index`], [`TimeGrid::hour_of_day`], … per sample, but
    /// stepped forward with additions instead of a 64-bit division per
    /// sample (a slow instruction sequence on wasm32).
    pub fn local_times(&self, from: usize) -> LocalTimes {
        let step = i64::from(self.step_seconds.max(1));
        LocalTimes {
            next: LocalTime {
                day_index: self.day_index(from),
                day_of_week: self.day_of_week(from) as u32,
                second_of_day: self.second_of_day(from),
            },
            step_days: step / DAY_SECONDS,
            step_days_mod_7: (step / DAY_SECONDS % 7) as u32,
            step_seconds: (step % DAY_SECONDS) as u32,
        }
    }
}

/// The local time of one sample (see [`TimeGrid::local_times`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LocalTime {
    /// As [`TimeGrid::day_index`].
    pub day_index: i64,
    /// As [`TimeGrid::day_of_week`] (0 = Monday).
    pub day_of_week: u32,
    /// As [`TimeGrid::second_of_day`].
    pub second_of_day: u32,
}

impl LocalTime {
    /// As [`TimeGrid::hour_of_day`].
    pub fn hour_of_day(&self) -> usize {
        (self.second_of_day / 3600) as usize
    }

    /// As [`TimeGrid::hour_of_week`].
    pub fn hour_of_week(&self) -> usize {
        self.day_of_week as usize * 24 + self.hour_of_day()
    }

    /// As [`TimeGrid::slot`].
    pub fn slot(&self, slot_seconds: i64, period_seconds: i64) -> usize {
        let slot_seconds = slot_seconds.max(1);
        let since_monday = match period_seconds {
            DAY_SECONDS => i64::from(self.second_of_day),
            WEEK_SECONDS => {
                i64::from(self.day_of_week) * DAY_SECONDS + i64::from(self.second_of_day)
            }
            p => ((self.day_index - 4) * DAY_SECONDS + i64::from(self.second_of_day))
                .rem_euclid(p.max(1)),
        };
        (since_monday / slot_seconds) as usize
    }
}

/// Iterator over the local times of consecutive samples (see
/// [`TimeGrid::local_times`]).
#[derive(Debug, Clone)]
pub struct LocalTimes {
    next: LocalTime,
    step_days: i64,
    step_days_mod_7: u32,
    step_seconds: u32,
}

impl Iterator for LocalTimes {
    type Item = LocalTime;

    fn next(&mut self) -> Option<LocalTime> {
        let now = self.next;
        let t = &mut self.next;
        t.second_of_day += self.step_seconds;
        let wrap = u32::from(t.second_of_day >= DAY_SECONDS as u32);
        t.second_of_day -= wrap * DAY_SECONDS as u32;
        t.day_index += self.step_days + i64::from(wrap);
        t.day_of_week += self.step_days_mod_7 + wrap;
        if t.day_of_week >= 7 {
            t.day_of_week -= 7;
        }
        Some(now)
    }
}

/// Per-slot summary of a series grouped by a time slot (see [`profile`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    /// Mean of the finite samples in each slot; NaN for an empty slot.
    pub mean: Vec<f64>,
    /// 95th percentile of the finite samples in each slot; NaN if empty.
    pub p95: Vec<f64>,
    /// Number of finite samples in each slot.
    pub count: Vec<usize>,
}

/// Group the finite samples of `xs` into `slots` groups by `slot_of(i)`
/// (indices `>= slots` are ignored). The building block of the profiles.
pub fn group_by(xs: &[f64], slots: usize, slot_of: impl Fn(usize) -> usize) -> Vec<Vec<f64>> {
    let mut groups = vec![Vec::new(); slots];
    for (i, &x) in xs.iter().enumerate() {
        if !x.is_finite() {
            continue;
        }
        if let Some(g) = groups.get_mut(slot_of(i)) {
            g.push(x);
        }
    }
    groups
}

/// Mean, p95 and count per slot of `xs` grouped by `slot_of(i)` into `slots`
/// slots.
pub fn profile(xs: &[f64], slots: usize, slot_of: impl Fn(usize) -> usize) -> Profile {
    let groups = group_by(xs, slots, slot_of);
    Profile {
        mean: groups.iter().map(|g| mean(g).unwrap_or(f64::NAN)).collect(),
        p95: groups
            .iter()
            .map(|g| percentile(g, 0.95).unwrap_or(f64::NAN))
            .collect(),
        count: groups.iter().map(Vec::len).collect(),
    }
}

/// [`Profile`] per local hour of day (24 slots, slot 0 = 00:00–01:00).
pub fn hour_of_day_profile(xs: &[f64], grid: &TimeGrid) -> Profile {
    profile(xs, 24, |i| grid.hour_of_day(i))
}

/// [`Profile`] per local hour of week (168 slots, slot 0 = Monday
/// 00:00–01:00).
pub fn hour_of_week_profile(xs: &[f64], grid: &TimeGrid) -> Profile {
    profile(xs, 168, |i| grid.hour_of_week(i))
}

/// Centered moving average with window `period` (for an even `period` the
/// usual 2×`period` average with half weights at both ends). NaN where the
/// window leaves the series or covers fewer than half finite values.
pub fn centered_moving_average(xs: &[f64], period: usize) -> Vec<f64> {
    let n = xs.len();
    let mut out = vec![f64::NAN; n];
    if period < 2 || n < period + 1 {
        return out;
    }
    let half = period / 2;
    let even = period.is_multiple_of(2);
    // One pass with a sliding window: a compensated running sum and an exact
    // count of the finite samples in `i - half ..= i + half`; for an even
    // period the two end samples then get half weight. O(n) whatever the
    // period (a direct sum per sample is O(n × period)).
    let mut window = CompensatedSum::default();
    let mut count = 0usize;
    for x in &xs[..2 * half] {
        if x.is_finite() {
            window.add(*x);
            count += 1;
        }
    }
    for i in half..n - half {
        let (first, last) = (xs[i - half], xs[i + half]);
        if last.is_finite() {
            window.add(last);
            count += 1;
        }
        let (mut sum, mut weight) = (window.value(), count as f64);
        if even {
            for end in [first, last] {
                if end.is_finite() {
                    sum -= 0.5 * end;
                    weight -= 0.5;
                }
            }
        }
        if weight >= period as f64 / 2.0 {
            out[i] = sum / weight;
        }
        if first.is_finite() {
            window.add(-first);
            count -= 1;
        }
    }
    out
}

/// Neumaier-compensated running sum: the rounding error of each addition is
/// carried separately, so a long run of additions and removals (a sliding
/// window) stays as accurate as summing the window afresh.
#[derive(Debug, Default, Clone, Copy)]
struct CompensatedSum {
    sum: f64,
    carry: f64,
}

impl CompensatedSum {
    fn add(&mut self, x: f64) {
        let t = self.sum + x;
        self.carry += if self.sum.abs() >= x.abs() {
            (self.sum - t) + x
        } else {
            (x - t) + self.sum
        };
        self.sum = t;
    }

    fn value(&self) -> f64 {
        self.sum + self.carry
    }
}

/// Fewest whole periods [`seasonality_strength`] measures a cycle on.
pub const MIN_SEASONAL_PERIODS: usize = 3;

/// Strength of a seasonal cycle of `period` samples, 0.0..=1.0:
/// `max(0, 1 − Var(remainder) / Var(detrended))`, where the trend is the
/// [`centered_moving_average`] over one period, the seasonal component is
/// the mean of the detrended series at each phase of the period, and the
/// remainder is detrended − seasonal (the measure of Wang, Smith & Hyndman).
/// 1.0 means the series repeats exactly every `period` samples around its
/// trend; values above ~0.3 indicate a usable cycle. `None` with fewer than
/// [`MIN_SEASONAL_PERIODS`] full periods of data or no variation.
///
/// Only phases seen (after detrending) in at least two periods count: a phase
/// mean taken from a single observation would equal it, and any series
/// would look perfectly seasonal (two weeks of hourly spikes reported as a
/// weekly cycle of strength 1.00).
pub fn seasonality_strength(xs: &[f64], period: usize) -> Option<f64> {
    if period < 2 || xs.len() < MIN_SEASONAL_PERIODS * period {
        return None;
    }
    let trend = centered_moving_average(xs, period);
    // The detrended series overwrites the trend in place.
    let mut detrended = trend;
    for (d, x) in detrended.iter_mut().zip(xs) {
        *d = x - *d;
    }
    // Mean of the detrended series at each phase of the period.
    let mut phase_sum = vec![0.0f64; period];
    let mut phase_count = vec![0usize; period];
    for season in detrended.chunks(period) {
        for ((d, sum), count) in season.iter().zip(&mut phase_sum).zip(&mut phase_count) {
            if d.is_finite() {
                *sum += d;
                *count += 1;
            }
        }
    }
    let phase: Vec<f64> = phase_sum
        .iter()
        .zip(&phase_count)
        .map(|(s, c)| if *c >= 2 { s / *c as f64 } else { f64::NAN })
        .collect();
    // Phases seen only once say nothing about a cycle: leave them out of
    // both variances.
    for season in detrended.chunks_mut(period) {
        for (d, p) in season.iter_mut().zip(&phase) {
            if p.is_nan() {
                *d = f64::NAN;
            }
        }
    }
    let var_d = variance(&detrended)?;
    // The remainder (detrended − phase mean) replaces the detrended series.
    for season in detrended.chunks_mut(period) {
        for (d, p) in season.iter_mut().zip(&phase) {
            *d -= p;
        }
    }
    let var_r = variance(&detrended)?;
    if var_d <= f64::EPSILON {
        return None;
    }
    Some((1.0 - var_r / var_d).clamp(0.0, 1.0))
}

/// Sample autocorrelation at `lag` over the pairs where both samples are
/// finite, around the mean of all finite values, normalized by the variance
/// (so values are in -1.0..=1.0). `None` if fewer than 2 pairs or no
/// variation.
pub fn autocorrelation(xs: &[f64], lag: usize) -> Option<f64> {
    if lag >= xs.len() {
        return None;
    }
    let m = mean(xs)?;
    let n = count_finite(xs);
    let var: f64 = xs
        .iter()
        .filter(|x| x.is_finite())
        .map(|x| (x - m) * (x - m))
        .sum::<f64>()
        / n as f64;
    if var <= f64::EPSILON {
        return None;
    }
    let (mut sum, mut pairs) = (0.0, 0usize);
    for i in 0..xs.len() - lag {
        let (a, b) = (xs[i], xs[i + lag]);
        if a.is_finite() && b.is_finite() {
            sum += (a - m) * (b - m);
            pairs += 1;
        }
    }
    (pairs >= 2).then(|| (sum / pairs as f64 / var).clamp(-1.0, 1.0))
}

/// Number of reversals of direction in `xs`: the sign of the change between
/// consecutive finite values flips from up to down or down to up. Flat steps
/// and NaN are skipped, so `[1, 2, 2, 1]` has one change.
pub fn direction_changes(xs: &[f64]) -> usize {
    let mut last: Option<f64> = None;
    let mut last_dir = 0i8;
    let mut changes = 0;
    for &x in xs.iter().filter(|x| x.is_finite()) {
        if let Some(prev) = last {
            let dir = if x > prev {
                1
            } else if x < prev {
                -1
            } else {
                0
            };
            if dir != 0 {
                if last_dir != 0 && dir != last_dir {
                    changes += 1;
                }
                last_dir = dir;
            }
        }
        last = Some(x);
    }
    changes
}

/// A run of consecutive samples meeting a condition (see [`runs_above`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Episode {
    /// Index of the first sample of the run.
    pub start: usize,
    /// Index one past the last sample of the run.
    pub end: usize,
    /// Most extreme value in the run (the maximum for [`runs_above`], the
    /// minimum for [`runs_below`]).
    pub extreme: f64,
}

impl Episode {
    /// Number of samples in the run.
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    /// True for an empty run (never returned by the helpers).
    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }
}

fn runs(xs: &[f64], min_len: usize, inside: impl Fn(f64) -> bool, above: bool) -> Vec<Episode> {
    let mut out = Vec::new();
    let mut current: Option<Episode> = None;
    for (i, &x) in xs.iter().enumerate() {
        if x.is_finite() && inside(x) {
            match current.as_mut() {
                Some(e) => {
                    e.end = i + 1;
                    e.extreme = if above {
                        max2(e.extreme, x)
                    } else {
                        min2(e.extreme, x)
                    };
                }
                None => {
                    current = Some(Episode {
                        start: i,
                        end: i + 1,
                        extreme: x,
                    })
                }
            }
        } else if let Some(e) = current.take() {
            if e.len() >= min_len.max(1) {
                out.push(e);
            }
        }
    }
    if let Some(e) = current {
        if e.len() >= min_len.max(1) {
            out.push(e);
        }
    }
    out
}

/// Runs of at least `min_len` consecutive samples strictly above
/// `threshold`. A NaN ends a run.
pub fn runs_above(xs: &[f64], threshold: f64, min_len: usize) -> Vec<Episode> {
    runs(xs, min_len, |x| x > threshold, true)
}

/// Runs of at least `min_len` consecutive samples at or below `threshold`.
/// A NaN ends a run.
pub fn runs_below(xs: &[f64], threshold: f64, min_len: usize) -> Vec<Episode> {
    runs(xs, min_len, |x| x <= threshold, false)
}

/// Replicas needed to serve `demand_pods` (pods at 100 % of their CPU
/// request) at an average utilization of `target_percent`:
/// `ceil(demand / (target / 100))`, with a tolerance of 1e-9 so that an
/// exact fit is not rounded up. NaN for NaN demand or a non-positive target.
pub fn replicas_needed(demand_pods: f64, target_percent: f64) -> f64 {
    if !demand_pods.is_finite() || target_percent <= 0.0 || !target_percent.is_finite() {
        return f64::NAN;
    }
    max2(
        (max2(demand_pods, 0.0) / (target_percent / 100.0) - 1e-9).ceil(),
        0.0,
    )
}

/// Format a local minute of day as `HH:MM` (1440 is shown as `24:00`).
pub fn format_minute(minute_of_day: u32) -> String {
    format!("{:02}:{:02}", minute_of_day / 60, minute_of_day % 60)
}

/// Seasonal-naive forecast: each of the `horizon` steps after `history`
/// repeats the value one season (`season` samples) earlier, cycling through
/// the last season. Empty if `history` is shorter than a season or `season`
/// is 0.
pub fn seasonal_naive(history: &[f64], season: usize, horizon: usize) -> Vec<f64> {
    if season == 0 || history.len() < season {
        return Vec::new();
    }
    let last = &history[history.len() - season..];
    (0..horizon).map(|h| last[h % season]).collect()
}

/// Mean absolute scaled error of `forecast` against `actual` (pairs with a
/// NaN skipped): the forecast's mean absolute error divided by the in-sample
/// mean absolute error of the seasonal-naive forecast with lag `season` on
/// `training`. Below 1 the forecast beats that in-sample benchmark. `None`
/// when either mean cannot be formed or the scale is 0.
pub fn mase(actual: &[f64], forecast: &[f64], training: &[f64], season: usize) -> Option<f64> {
    let err: Vec<f64> = actual
        .iter()
        .zip(forecast)
        .map(|(a, f)| (a - f).abs())
        .collect();
    let mae = mean(&err)?;
    if season == 0 || training.len() <= season {
        return None;
    }
    let naive: Vec<f64> = (season..training.len())
        .map(|t| (training[t] - training[t - season]).abs())
        .collect();
    let scale = mean(&naive)?;
    (scale > 0.0).then(|| mae / scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAN: f64 = f64::NAN;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn summaries_skip_nan() {
        let xs = [1.0, NAN, 2.0, 3.0, 4.0];
        assert_eq!(mean(&xs), Some(2.5));
        assert_eq!(median(&xs), Some(2.5));
        assert_eq!(max(&xs), Some(4.0));
        assert_eq!(min(&xs), Some(1.0));
        assert_eq!(count_finite(&xs), 4);
        // Deviations from 2.5: 2.25, 0.25, 0.25, 2.25 -> mean 1.25.
        assert_eq!(variance(&xs), Some(1.25));
        assert_eq!(mean(&[NAN]), None);
        assert_eq!(percentile(&[], 0.5), None);
    }

    #[test]
    fn percentile_interpolates_between_ranks() {
        let xs = [10.0, 20.0, 30.0, 40.0, 50.0];
        assert_eq!(percentile(&xs, 0.0), Some(10.0));
        assert_eq!(percentile(&xs, 1.0), Some(50.0));
        // pos = 0.95 * 4 = 3.8 -> 40 + 0.8 * 10.
        assert!(close(percentile(&xs, 0.95).unwrap_or(NAN), 48.0));
        assert_eq!(percentile(&[5.0, 1.0, 3.0], 0.5), Some(3.0));
    }

    #[test]
    fn mad_and_trimmed_mean_resist_outliers() {
        let xs = [1.0, 2.0, 3.0, 4.0, 100.0];
        // median 3; |dev| = 2, 1, 0, 1, 97 -> median 1.
        assert_eq!(mad(&xs), Some(1.0));
        // n = 5, 20 % -> drop 1 each end -> mean(2, 3, 4) = 3.
        assert_eq!(trimmed_mean(&xs, 0.2), Some(3.0));
        assert_eq!(trimmed_mean(&xs, 0.0), Some(22.0));
        assert_eq!(trimmed_mean(&[NAN], 0.1), None);
    }

    #[test]
    fn rolling_windows_are_trailing() {
        let xs = [1.0, 3.0, NAN, 5.0, 2.0];
        let m = rolling_mean(&xs, 2);
        assert_eq!(m[0], 1.0);
        assert_eq!(m[1], 2.0);
        assert_eq!(m[2], 3.0);
        assert_eq!(m[3], 5.0);
        assert_eq!(m[4], 3.5);
        let mx = rolling_max(&xs, 3);
        assert_eq!(mx, vec![1.0, 3.0, 3.0, 5.0, 5.0]);
        let mx2 = rolling_max(&[4.0, 1.0, 2.0, 0.0], 2);
        assert_eq!(mx2, vec![4.0, 4.0, 2.0, 2.0]);
        assert!(rolling_mean(&[NAN, NAN], 1).iter().all(|x| x.is_nan()));
    }

    #[test]
    fn time_grid_knows_local_hours_and_weekdays() {
        // 2014-07-01 00:00:00 UTC = 1404172800, a Tuesday.
        let g = TimeGrid::new(1_404_172_800, 1800, 0);
        assert_eq!(g.day_of_week(0), 1);
        assert_eq!(g.hour_of_day(0), 0);
        assert_eq!(g.hour_of_day(3), 1); // 01:30
        assert_eq!(g.minute_of_day(3), 90);
        assert_eq!(g.hour_of_week(0), 24);
        assert_eq!(g.samples_per_day(), 48);
        // 48 samples later it is Wednesday.
        assert_eq!(g.day_of_week(48), 2);
        // New York summer time, UTC-4: Monday 20:00 local.
        let ny = TimeGrid::new(1_404_172_800, 1800, -240);
        assert_eq!(ny.day_of_week(0), 0);
        assert_eq!(ny.hour_of_day(0), 20);
        assert_eq!(ny.hour_of_week(0), 20);
        // slot within a week at 1 h slots = hour of week.
        assert_eq!(ny.slot(0, 3600, WEEK_SECONDS), 20);
        assert_eq!(g.slot(3, 1800, DAY_SECONDS), 3);
    }

    #[test]
    fn local_times_step_like_the_grid() {
        for grid in [
            TimeGrid::new(1_404_172_800, 60, 0),
            TimeGrid::new(1_404_172_830, 1800, -240),
            TimeGrid::new(-86_400 * 3 - 17, 7, 330),
            TimeGrid::new(1_404_172_800, 3 * 86_400 + 3600, 60),
        ] {
            for (i, t) in grid.local_times(5).take(30_000).enumerate() {
                let i = i + 5;
                assert_eq!(t.day_index, grid.day_index(i));
                assert_eq!(t.day_of_week as usize, grid.day_of_week(i));
                assert_eq!(t.second_of_day, grid.second_of_day(i));
                assert_eq!(t.hour_of_week(), grid.hour_of_week(i));
                for (slot, period) in [(60, DAY_SECONDS), (3600, WEEK_SECONDS), (60, 3600)] {
                    assert_eq!(t.slot(slot, period), grid.slot(i, slot, period));
                }
            }
        }
    }

    #[test]
    fn hour_of_day_profile_groups_by_local_hour() {
        // Two days of hourly samples, value = hour; second day + 10.
        let xs: Vec<f64> = (0..48)
            .map(|i| (i % 24) as f64 + if i >= 24 { 10.0 } else { 0.0 })
            .collect();
        let g = TimeGrid::new(0, 3600, 0);
        let p = hour_of_day_profile(&xs, &g);
        assert_eq!(p.count[5], 2);
        assert_eq!(p.mean[5], 10.0); // (5 + 15) / 2
        assert!(close(p.p95[5], 14.5)); // 5 + 0.95 * 10
        let w = hour_of_week_profile(&xs, &g);
        // 1970-01-01 is a Thursday: hour 0 -> Thursday 00:00 = 3 * 24.
        assert_eq!(w.count[72], 1);
        assert_eq!(w.mean[72 + 24 + 3], 13.0);
    }

    #[test]
    fn seasonality_of_a_pure_cycle_is_one_and_of_a_trend_is_low() {
        let cycle: Vec<f64> = (0..96).map(|i| [0.0, 10.0, 20.0, 10.0][i % 4]).collect();
        let s = seasonality_strength(&cycle, 4).unwrap_or(0.0);
        assert!(close(s, 1.0), "{s}");
        // Alternating noise with period 3 measured at period 4: no 4-cycle.
        let other: Vec<f64> = (0..96).map(|i| [0.0, 9.0, 3.0][i % 3]).collect();
        assert!(seasonality_strength(&other, 4).unwrap_or(1.0) < 0.3);
        assert_eq!(seasonality_strength(&cycle[..7], 4), None);
        // Two periods are not enough to claim a cycle of that length.
        assert_eq!(seasonality_strength(&cycle[..8], 4), None);
        // Autocorrelation of the 4-cycle: lag 4 is 1, lag 2 is -1.
        assert!(close(autocorrelation(&cycle, 4).unwrap_or(0.0), 1.0));
        assert!(close(autocorrelation(&cycle, 2).unwrap_or(0.0), -1.0));
    }

    #[test]
    fn two_weeks_of_two_hourly_spikes_make_no_weekly_claim() {
        // 14 days at 5 min: a spike every 2 hours on deterministic noise.
        let xs: Vec<f64> = (0..14 * 288)
            .map(|i| {
                let noise = ((i * 7919) % 101) as f64 / 50.0;
                if i % 24 < 2 {
                    20.0 + noise
                } else {
                    5.0 + noise
                }
            })
            .collect();
        assert_eq!(seasonality_strength(&xs, 7 * 288), None);
        // The 2-hour cycle itself is measured, and is strong.
        assert!(seasonality_strength(&xs, 24).unwrap_or(0.0) > 0.8);
        // At the daily period, with 14 periods, noise does not make a
        // perfect cycle.
        let daily = seasonality_strength(&xs, 288).unwrap_or(1.0);
        assert!(daily < 1.0, "{daily}");
    }

    #[test]
    fn direction_changes_skip_flats_and_gaps() {
        assert_eq!(direction_changes(&[1.0, 2.0, 2.0, 1.0]), 1);
        assert_eq!(direction_changes(&[1.0, 2.0, 1.0, 2.0, 1.0]), 3);
        assert_eq!(direction_changes(&[1.0, NAN, 2.0, 3.0, 4.0]), 0);
        assert_eq!(direction_changes(&[]), 0);
    }

    #[test]
    fn runs_above_and_below_threshold() {
        let xs = [1.0, 5.0, 6.0, 1.0, 7.0, NAN, 8.0, 9.0, 2.0];
        let r = runs_above(&xs, 4.0, 2);
        assert_eq!(
            r,
            vec![
                Episode {
                    start: 1,
                    end: 3,
                    extreme: 6.0
                },
                Episode {
                    start: 6,
                    end: 8,
                    extreme: 9.0
                }
            ]
        );
        assert_eq!(runs_above(&xs, 4.0, 1).len(), 3);
        let b = runs_below(&xs, 1.0, 1);
        assert_eq!(b.len(), 2);
        assert_eq!(b[0].extreme, 1.0);
    }

    #[test]
    fn replicas_needed_rounds_up_but_not_exact_fits() {
        // 2.4 pods at 60 % -> 4 replicas exactly.
        assert_eq!(replicas_needed(2.4, 60.0), 4.0);
        assert_eq!(replicas_needed(2.41, 60.0), 5.0);
        assert_eq!(replicas_needed(0.0, 60.0), 0.0);
        assert!(replicas_needed(NAN, 60.0).is_nan());
        assert!(replicas_needed(1.0, 0.0).is_nan());
        assert_eq!(format_minute(450), "07:30");
    }

    #[test]
    fn seasonal_naive_and_mase() {
        let train = [1.0, 2.0, 3.0, 2.0, 3.0, 4.0];
        assert_eq!(seasonal_naive(&train, 3, 4), vec![2.0, 3.0, 4.0, 2.0]);
        assert!(seasonal_naive(&train, 7, 1).is_empty());
        // In-sample lag-3 errors: |2-1|, |3-2|, |4-3| -> scale 1.
        // Forecast errors 1 and 3 -> MAE 2 -> MASE 2.
        assert_eq!(mase(&[3.0, 6.0], &[2.0, 3.0], &train, 3), Some(2.0));
        assert_eq!(mase(&[3.0, NAN], &[2.0, 3.0], &train, 3), Some(1.0));
        assert_eq!(mase(&[1.0], &[1.0], &[1.0, 1.0], 1), None);
    }

    #[test]
    fn centered_moving_average_of_even_period() {
        let xs = [0.0, 4.0, 0.0, 4.0, 0.0, 4.0];
        let t = centered_moving_average(&xs, 2);
        // (0.5*0 + 4 + 0.5*0) / 2 = 2.
        assert!(t[0].is_nan());
        assert_eq!(t[1], 2.0);
        assert_eq!(t[2], 2.0);
        assert!(t[5].is_nan());
    }
}
