//! Prometheus history kept between ticks: the first tick of an autoscaler
//! fetches its whole look-back window, later ticks fetch only the points
//! since, plus the last [`REFETCH_POINTS`] again (a point near "now" may
//! have been evaluated before its last scrape arrived), and move the window
//! forward. The history the tick sees is the same as a full backfill would
//! give, as long as Prometheus does not rewrite points older than that.
//!
//! # Memory
//! One window per autoscaler: `lookback / step + 1` points of 3 series (4
//! with a request-rate query) as 8-byte floats — with the defaults (7 days,
//! 5 minutes) 2,017 points, 48.4 KB (64.5 KB with request rate). Windows
//! of autoscalers that are gone are dropped each tick.

use std::collections::HashMap;
use std::sync::Mutex;

use stepscale_engine::snapshot::MetricHistory;

use super::prometheus::{fetch_window, Grid, PrometheusConfig, PrometheusError, Traffic, Window};
use super::HistoryKey;

/// Points fetched again on each tick, the newest the last tick had.
pub const REFETCH_POINTS: i64 = 3;

/// The windows of every autoscaler, and the traffic they cost.
#[derive(Debug, Default)]
pub struct PrometheusCache {
    windows: Mutex<HashMap<HistoryKey, Window>>,
    traffic: Traffic,
}

impl PrometheusCache {
    /// The history of `key` ending at `now_unix_seconds`, as
    /// [`super::prometheus::backfill`] gives it, fetching only what the
    /// window kept from the last call lacks.
    ///
    /// # Errors
    /// As [`super::prometheus::backfill`]. A failed fetch leaves the kept
    /// window as it was.
    pub async fn backfill(
        &self,
        config: &PrometheusConfig,
        key: &HistoryKey,
        now_unix_seconds: i64,
    ) -> Result<MetricHistory, PrometheusError> {
        let grid = config.grid_ending_at(now_unix_seconds);
        let kept = self.windows.lock().ok().and_then(|mut w| w.remove(key));
        let window = match kept.filter(|k| continues(k.grid, grid)) {
            Some(old) => {
                let from = (old.grid.end() - (REFETCH_POINTS - 1) * grid.step).max(grid.start);
                let tail = Grid {
                    start: from,
                    step: grid.step,
                    len: ((grid.end() - from) / grid.step + 1) as usize,
                };
                match fetch_window(config, key, tail, &self.traffic).await {
                    Ok(fresh) => moved(&old, &fresh, grid),
                    Err(e) => {
                        self.keep(key, old);
                        return Err(e);
                    }
                }
            }
            None => fetch_window(config, key, grid, &self.traffic).await?,
        };
        let history = window.history();
        self.keep(key, window);
        history
    }

    fn keep(&self, key: &HistoryKey, window: Window) {
        if let Ok(mut w) = self.windows.lock() {
            w.insert(key.clone(), window);
        }
    }

    /// Drop the windows of autoscalers `keep` says no.
    pub fn retain(&self, keep: &dyn Fn(&HistoryKey) -> bool) {
        if let Ok(mut w) = self.windows.lock() {
            w.retain(|k, _| keep(k));
        }
    }

    /// Requests sent and bytes read so far.
    pub fn traffic(&self) -> (u64, u64) {
        self.traffic.totals()
    }

    /// Bytes the kept windows hold.
    pub fn bytes_kept(&self) -> usize {
        self.windows
            .lock()
            .map(|w| w.values().map(Window::bytes).sum())
            .unwrap_or(0)
    }
}

/// True when `new` continues `old`: same step, same phase, and `old` ends
/// inside `new` (so only a tail is missing).
fn continues(old: Grid, new: Grid) -> bool {
    old.step == new.step
        && (new.start - old.start).rem_euclid(new.step) == 0
        && old.end() >= new.start
        && old.end() <= new.end()
}

/// `old` moved onto `grid`, with the points of `fresh` laid over it.
fn moved(old: &Window, fresh: &Window, grid: Grid) -> Window {
    let lay = |old_v: &[f64], fresh_v: &[f64]| -> Vec<f64> {
        let mut out = vec![f64::NAN; grid.len];
        for (src, g) in [(old_v, old.grid), (fresh_v, fresh.grid)] {
            let offset = (g.start - grid.start) / grid.step;
            for (i, v) in src.iter().enumerate() {
                let j = offset + i as i64;
                if (0..grid.len as i64).contains(&j) {
                    out[j as usize] = *v;
                }
            }
        }
        out
    };
    let rate = match (&old.rate, &fresh.rate) {
        (Some(o), Some(f)) => Some(lay(o, f)),
        (None, Some(f)) => Some(lay(&[], f)),
        (Some(o), None) => Some(lay(o, &[])),
        (None, None) => None,
    };
    Window {
        grid,
        cpu: lay(&old.cpu, &fresh.cpu),
        desired: lay(&old.desired, &fresh.desired),
        current: lay(&old.current, &fresh.current),
        rate,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(start: i64, values: &[f64]) -> Window {
        Window {
            grid: Grid {
                start,
                step: 60,
                len: values.len(),
            },
            cpu: values.to_vec(),
            desired: values.to_vec(),
            current: values.to_vec(),
            rate: None,
        }
    }

    #[test]
    fn a_window_moves_forward_and_the_fresh_tail_wins() {
        let old = window(0, &[1.0, 2.0, 3.0, 4.0]);
        // Re-fetched 120 and 180, new 240 and 300.
        let fresh = window(120, &[30.0, 40.0, 50.0, f64::NAN]);
        let grid = Grid {
            start: 120,
            step: 60,
            len: 4,
        };
        let w = moved(&old, &fresh, grid);
        assert_eq!(w.cpu[..3], [30.0, 40.0, 50.0]);
        assert!(w.cpu[3].is_nan());
        assert_eq!(w.bytes(), 3 * 4 * 8);
    }

    #[test]
    fn only_a_window_that_ends_inside_the_new_one_is_continued() {
        let g = |start, len| Grid {
            start,
            step: 60,
            len,
        };
        assert!(continues(g(0, 10), g(120, 10)));
        assert!(continues(g(0, 10), g(0, 10)), "the same tick again");
        assert!(
            !continues(g(0, 10), g(600, 10)),
            "a gap longer than the window"
        );
        assert!(!continues(g(0, 10), g(30, 10)), "another phase");
        assert!(!continues(g(600, 10), g(0, 10)), "the clock went back");
        let other_step = Grid {
            start: 0,
            step: 30,
            len: 10,
        };
        assert!(!continues(g(0, 10), other_step));
    }
}
