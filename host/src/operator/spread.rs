//! Keep the tick inside its interval: when reading and analyzing every
//! autoscaler would take longer than [`ANALYSIS_SHARE`] of
//! `intervalSeconds`, analyze only as many as fit, the ones analyzed least
//! recently first, and the rest on the next ticks. With `N` autoscalers and
//! room for `C` a tick, each is analyzed at least every `ceil(N / C)` ticks.
//!
//! The cost of an autoscaler is learnt from the ticks themselves (reads
//! and analysis, seconds per autoscaler, a moving average), so the first
//! tick analyzes everything. Only the analysis is spread: HPA-status
//! samples are taken from every autoscaler on every tick, and the mutating
//! pass (apply, verify, schedule transitions) runs over every
//! recommendation on every tick.

use std::collections::{HashMap, HashSet};

/// The share of the interval the reads and the analysis may take; the rest
/// is left for the writes and for the tick to start on time.
pub const ANALYSIS_SHARE: f64 = 0.5;

/// An autoscaler, as `(namespace, name)`.
pub type Name = (String, String);

/// Which autoscalers a tick analyzes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The autoscalers to analyze this tick; `None`: all of them.
    pub selected: Option<HashSet<Name>>,
    /// How many are left for later ticks.
    pub deferred: usize,
    /// Each autoscaler is analyzed at least every this many ticks.
    pub every_ticks: usize,
    /// The most ticks a deferred autoscaler has gone without analysis.
    pub backlog_ticks: u64,
}

impl Plan {
    /// Analyze every autoscaler this tick.
    pub fn everything() -> Plan {
        Plan {
            selected: None,
            deferred: 0,
            every_ticks: 1,
            backlog_ticks: 0,
        }
    }
}

/// What the spreader remembers between ticks.
#[derive(Debug, Default)]
pub struct Spreader {
    /// Ticks planned so far.
    tick: u64,
    /// The tick each autoscaler was last analyzed in.
    last: HashMap<Name, u64>,
    /// Seconds of reads and analysis per autoscaler (moving average).
    cost: Option<f64>,
}

impl Spreader {
    /// Plan a tick over `names` (in the tick's order) with `budget_seconds`
    /// for reads and analysis.
    pub fn plan(&mut self, names: &[Name], budget_seconds: f64) -> Plan {
        self.tick += 1;
        let tick = self.tick;
        let keep: HashSet<&Name> = names.iter().collect();
        self.last.retain(|n, _| keep.contains(n));
        let n = names.len();
        let capacity = match self.cost {
            Some(c) if c > 0.0 && c * n as f64 > budget_seconds => {
                ((budget_seconds / c).floor() as usize).clamp(1, n.max(1))
            }
            _ => n,
        };
        if capacity >= n {
            for name in names {
                self.last.insert(name.clone(), tick);
            }
            return Plan::everything();
        }
        // Oldest first (never analyzed is oldest); ties in the tick's order.
        let mut order: Vec<(u64, usize)> = names
            .iter()
            .enumerate()
            .map(|(i, name)| (self.last.get(name).copied().unwrap_or(0), i))
            .collect();
        order.sort_unstable();
        let selected: HashSet<Name> = order[..capacity]
            .iter()
            .map(|&(_, i)| names[i].clone())
            .collect();
        let backlog_ticks = order[capacity..]
            .iter()
            .map(|&(last, _)| tick - last.min(tick))
            .max()
            .unwrap_or(0);
        for name in &selected {
            self.last.insert(name.clone(), tick);
        }
        Plan {
            selected: Some(selected),
            deferred: n - capacity,
            every_ticks: n.div_ceil(capacity),
            backlog_ticks,
        }
    }

    /// Learn from a tick: `seconds` of reads and analysis over `count`
    /// autoscalers, read `parallel` at a time (a tick with fewer than that
    /// is counted as that many: it waited on latency, not on work).
    pub fn observe(&mut self, seconds: f64, count: usize, parallel: usize) {
        if count == 0 || !seconds.is_finite() {
            return;
        }
        let per = seconds / count.max(parallel) as f64;
        self.cost = Some(match self.cost {
            Some(c) => 0.5 * c + 0.5 * per,
            None => per,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<Name> {
        (0..n)
            .map(|i| ("ns".to_string(), format!("a{i}")))
            .collect()
    }

    #[test]
    fn everything_is_analyzed_while_it_fits() {
        let mut s = Spreader::default();
        let all = names(10);
        assert_eq!(s.plan(&all, 1.0).selected, None, "no cost known yet");
        s.observe(0.5, 10, 1);
        let p = s.plan(&all, 1.0);
        assert_eq!((p.selected, p.deferred, p.every_ticks), (None, 0, 1));
    }

    #[test]
    fn over_budget_the_least_recently_analyzed_go_first_and_all_are_covered() {
        let mut s = Spreader::default();
        let all = names(10);
        s.plan(&all, 1.0);
        // 0.25 s each: 4 fit into 1 s.
        s.observe(2.5, 10, 1);
        let mut seen: HashMap<Name, Vec<u64>> = HashMap::new();
        for tick in 2..=7u64 {
            let p = s.plan(&all, 1.0);
            let chosen = p.selected.expect("spread");
            assert_eq!(chosen.len(), 4);
            assert_eq!((p.deferred, p.every_ticks), (6, 3));
            for n in chosen {
                seen.entry(n).or_default().push(tick);
            }
        }
        // Over six ticks of four, each of ten is analyzed at least every
        // three ticks.
        for n in &all {
            let ticks = &seen[n];
            assert!(ticks.len() >= 2, "{n:?} analyzed in {ticks:?}");
            assert!(
                ticks.windows(2).all(|w| w[1] - w[0] <= 3),
                "{n:?}: {ticks:?}"
            );
        }
    }

    #[test]
    fn a_new_autoscaler_is_analyzed_on_the_next_tick_and_the_backlog_is_reported() {
        let mut s = Spreader::default();
        let mut all = names(6);
        s.plan(&all, 1.0);
        s.observe(3.0, 6, 1);
        let p = s.plan(&all, 1.0);
        assert_eq!(p.selected.as_ref().map(HashSet::len), Some(2));
        assert_eq!(p.backlog_ticks, 1);
        all.push(("ns".into(), "new".into()));
        let p = s.plan(&all, 1.0);
        assert!(p
            .selected
            .expect("spread")
            .contains(&("ns".to_string(), "new".to_string())));
        assert!(p.backlog_ticks >= 2, "{}", p.backlog_ticks);
    }

    #[test]
    fn a_tick_of_fewer_autoscalers_than_are_read_at_once_is_not_taken_for_slow_work() {
        let mut s = Spreader::default();
        let all = names(12);
        s.plan(&all, 0.5);
        // Two autoscalers took 1 s because each read waited 1 s, side by
        // side with room for eight: 0.125 s each, four a tick.
        s.observe(1.0, 2, 8);
        let p = s.plan(&all, 0.5);
        assert_eq!(p.selected.map(|x| x.len()), Some(4));
    }
}
