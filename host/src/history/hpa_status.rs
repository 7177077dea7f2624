//! The fallback history: one sample per tick taken from each HPA's status
//! (current CPU utilization, desired and current replicas), kept in memory
//! per autoscaler.

use std::collections::BTreeMap;

use stepscale_engine::snapshot::MetricHistory;

use super::HistoryKey;

pub use crate::cluster::autoscaler::StatusSample;

/// Samples per autoscaler, oldest first, bounded per key.
#[derive(Debug, Default)]
pub struct StatusStore {
    samples: BTreeMap<HistoryKey, Vec<StatusSample>>,
}

/// Samples kept per autoscaler (7 days at a 5-minute tick).
pub const MAX_SAMPLES_PER_KEY: usize = 7 * 288;

impl StatusStore {
    /// Record a sample (dropping the oldest past [`MAX_SAMPLES_PER_KEY`]).
    pub fn record(&mut self, key: &HistoryKey, sample: StatusSample) {
        let v = self.samples.entry(key.clone()).or_default();
        v.push(sample);
        if v.len() > MAX_SAMPLES_PER_KEY {
            let extra = v.len() - MAX_SAMPLES_PER_KEY;
            v.drain(..extra);
        }
    }

    /// The accumulated samples as a history on a fixed `step_seconds` grid
    /// (a grid point without a sample is a gap); `None` with fewer than 2
    /// samples.
    pub fn history(&self, key: &HistoryKey, step_seconds: u32) -> Option<MetricHistory> {
        let v = self.samples.get(key)?;
        let (first, last) = (v.first()?, v.last()?);
        if v.len() < 2 || step_seconds == 0 {
            return None;
        }
        let step = i64::from(step_seconds);
        let n = ((last.at_unix_seconds - first.at_unix_seconds) / step + 1) as usize;
        let mut cpu = vec![f64::NAN; n];
        let mut desired = vec![f64::NAN; n];
        let mut current = vec![f64::NAN; n];
        for s in v {
            let i = ((s.at_unix_seconds - first.at_unix_seconds + step / 2) / step) as usize;
            if i < n {
                cpu[i] = s.cpu_utilization.unwrap_or(f64::NAN);
                desired[i] = s.desired_replicas;
                current[i] = s.current_replicas;
            }
        }
        Some(MetricHistory {
            start_unix_seconds: first.at_unix_seconds,
            step_seconds,
            utc_offset_minutes: 0,
            timezone: None,
            cpu_utilization: cpu,
            replicas_desired: desired,
            replicas_current: current,
            replicas_ready: None,
            request_rate: None,
        })
    }

    /// The samples of `key`, oldest first (empty when none).
    pub fn samples(&self, key: &HistoryKey) -> &[StatusSample] {
        self.samples.get(key).map_or(&[], Vec::as_slice)
    }

    /// Put back samples a previous operator had (from a
    /// [`super::checkpoint::HistoryCheckpoint`]): those older than the
    /// oldest sample already held go in front of them, the rest are
    /// already covered. Keeps the newest [`MAX_SAMPLES_PER_KEY`].
    pub fn restore(&mut self, key: &HistoryKey, restored: Vec<StatusSample>) {
        let v = self.samples.entry(key.clone()).or_default();
        let before = v.first().map_or(i64::MAX, |s| s.at_unix_seconds);
        let mut merged: Vec<StatusSample> = restored
            .into_iter()
            .filter(|s| s.at_unix_seconds < before)
            .collect();
        merged.append(v);
        if merged.len() > MAX_SAMPLES_PER_KEY {
            let extra = merged.len() - MAX_SAMPLES_PER_KEY;
            merged.drain(..extra);
        }
        *v = merged;
    }

    /// Forget autoscalers that no longer exist.
    pub fn retain(&mut self, keep: impl Fn(&HistoryKey) -> bool) {
        self.samples.retain(|k, _| keep(k));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::history_key as key;

    #[test]
    fn samples_land_on_the_grid_with_gaps_for_missed_ticks() {
        let mut s = StatusStore::default();
        for (t, cpu) in [(0, 10.0), (300, 20.0), (900, 40.0)] {
            s.record(
                &key(),
                StatusSample {
                    at_unix_seconds: t,
                    cpu_utilization: Some(cpu),
                    desired_replicas: 2.0,
                    current_replicas: 2.0,
                },
            );
        }
        let h = s.history(&key(), 300).expect("history");
        assert_eq!(h.len(), 4);
        assert_eq!(h.cpu_utilization[0], 10.0);
        assert_eq!(h.cpu_utilization[1], 20.0);
        assert!(h.cpu_utilization[2].is_nan());
        assert_eq!(h.cpu_utilization[3], 40.0);
    }

    #[test]
    fn restored_samples_go_before_the_ones_held_and_never_replace_them() {
        let mut s = StatusStore::default();
        let at = |t: i64, cpu: f64| StatusSample {
            at_unix_seconds: t,
            cpu_utilization: Some(cpu),
            desired_replicas: 2.0,
            current_replicas: 2.0,
        };
        s.record(&key(), at(900, 90.0));
        s.restore(
            &key(),
            vec![at(0, 1.0), at(300, 2.0), at(900, 3.0), at(1200, 4.0)],
        );
        let times: Vec<i64> = s
            .samples(&key())
            .iter()
            .map(|x| x.at_unix_seconds)
            .collect();
        assert_eq!(times, vec![0, 300, 900]);
        assert_eq!(
            s.samples(&key())[2].cpu_utilization,
            Some(90.0),
            "the sample held wins"
        );
        let many: Vec<_> = (0..MAX_SAMPLES_PER_KEY as i64 + 10)
            .map(|i| at(-1_000_000 + i, 5.0))
            .collect();
        s.restore(&key(), many);
        assert_eq!(s.samples(&key()).len(), MAX_SAMPLES_PER_KEY);
        assert_eq!(
            s.samples(&key()).last().map(|x| x.at_unix_seconds),
            Some(900)
        );
    }

    #[test]
    fn one_sample_is_not_a_history() {
        let mut s = StatusStore::default();
        s.record(
            &key(),
            StatusSample {
                at_unix_seconds: 0,
                cpu_utilization: None,
                desired_replicas: 1.0,
                current_replicas: 1.0,
            },
        );
        assert!(s.history(&key(), 300).is_none());
    }
}
