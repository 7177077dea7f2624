//! The offline analysis path shared by `stepscale analyze` and the operator's
//! tick: run every loaded rule on every workload (in parallel, one fresh
//! sandbox per call), add the host checks, and build one recommendation per
//! workload.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use stepscale_engine::{
    EngineConfig, EngineError, LoadError, LoadedRule, RuleEngine, RuleKind, WorkloadSnapshot,
};

use crate::checks;
use crate::objective::{self, Objective};
use crate::recommendation::{recommend, Recommendation, WorkloadFindings};

/// Forecast horizon: one day.
pub const FORECAST_HORIZON_SECONDS: u32 = 86_400;

/// The engine with its loaded rules.
pub struct Analyzer {
    engine: RuleEngine,
    rules: Vec<LoadedRule>,
    load_failures: Vec<LoadError>,
    forecasting: bool,
    objective: Objective,
}

impl Analyzer {
    /// An analyzer with the builtin rules loaded. A builtin that fails to load
    /// is kept in [`Analyzer::load_failures`], not fatal.
    ///
    /// # Errors
    /// The engine cannot be set up.
    pub fn with_builtin_rules(config: EngineConfig) -> Result<Analyzer, EngineError> {
        let mut engine = RuleEngine::new(config)?;
        let mut rules = Vec::new();
        let mut load_failures = Vec::new();
        for loaded in crate::builtin::load_all(&mut engine) {
            match loaded {
                Ok(rule) => rules.push(rule),
                Err(e) => load_failures.push(e),
            }
        }
        Ok(Analyzer {
            engine,
            rules,
            load_failures,
            forecasting: true,
            objective: Objective::default(),
        })
    }

    /// Turn the forecaster (and so predictive schedules) on or off.
    pub fn with_forecasting(mut self, on: bool) -> Self {
        self.forecasting = on;
        self
    }

    /// Choose recommendations by `objective` (default: [`Objective::default`]).
    pub fn with_objective(mut self, objective: Objective) -> Self {
        self.objective = objective;
        self
    }

    /// The objective recommendations are chosen by.
    pub fn objective(&self) -> &Objective {
        &self.objective
    }

    /// Load one more rule component (its signature must already be verified).
    ///
    /// # Errors
    /// As [`RuleEngine::load`]; a rule whose id is already loaded is
    /// refused as [`LoadError::Info`].
    pub fn add_rule(&mut self, name: &str, bytes: &[u8]) -> Result<&LoadedRule, LoadError> {
        let rule = self.engine.load(name, bytes)?;
        if self.rules.iter().any(|r| r.id == rule.id) {
            return Err(LoadError::Info {
                name: name.to_string(),
                message: format!(
                    "returned id {:?}, which another loaded rule already has",
                    rule.id
                ),
            });
        }
        self.rules.push(rule);
        Ok(self.rules.last().expect("just pushed"))
    }

    /// The loaded rules.
    pub fn rules(&self) -> &[LoadedRule] {
        &self.rules
    }

    /// Rules that failed to load.
    pub fn load_failures(&self) -> &[LoadError] {
        &self.load_failures
    }

    /// Run every rule on one workload.
    pub fn evaluate(&self, workload: &Arc<WorkloadSnapshot>) -> WorkloadFindings {
        let mut found = WorkloadFindings::default();
        let step = workload.history.step_seconds.max(1);
        for rule in &self.rules {
            let (log, failure) = match rule.kind {
                RuleKind::Detector => {
                    let run = self.engine.evaluate(rule, workload);
                    match run.result {
                        Ok(f) => {
                            found.findings.extend(f);
                            (run.log, None)
                        }
                        Err(e) => (run.log, Some(e)),
                    }
                }
                RuleKind::Forecaster if self.forecasting => {
                    let run = self
                        .engine
                        .predict(rule, workload, FORECAST_HORIZON_SECONDS / step);
                    match run.result {
                        Ok(f) => {
                            found.forecast = Some(f);
                            (run.log, None)
                        }
                        // Too little history is normal for a forecaster: no
                        // schedule, not a failure.
                        Err(stepscale_engine::RuleFailure::Returned { message }) => {
                            tracing::debug!(rule = %rule.id, workload = %workload.display_name(), %message, "no forecast");
                            (run.log, None)
                        }
                        Err(e) => (run.log, Some(e)),
                    }
                }
                RuleKind::Forecaster => (Vec::new(), None),
            };
            for line in log {
                tracing::debug!(rule = %rule.id, workload = %workload.display_name(), level = line.level, "{}", line.message);
            }
            if let Some(e) = failure {
                tracing::warn!(rule = %rule.id, workload = %workload.display_name(), reason = e.label(), "rule failed: {e}");
                found.failures.push((rule.id.clone(), e));
            }
        }
        found
    }

    /// Most workers [`Analyzer::analyze`] runs at once: the engine's
    /// concurrent-call slots.
    pub fn max_workers(&self) -> usize {
        usize::try_from(self.engine.config().max_concurrent_calls)
            .unwrap_or(1)
            .max(1)
    }

    /// Analyze every workload with `threads` workers (0 = one per core;
    /// never more than the engine's concurrent-call slots, so a worker never
    /// waits for or fails on a full instance pool) and return one
    /// recommendation per workload, in input order. Each worker
    /// runs the rules, merges their proposals, and lets replay decide
    /// ([`objective::decide`]: the search, the held-out confirmation and the
    /// projected savings).
    pub fn analyze(
        &self,
        workloads: &[Arc<WorkloadSnapshot>],
        threads: usize,
    ) -> Vec<Recommendation> {
        let host = checks::misconfigurations(workloads);
        let threads = if threads == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            threads
        }
        .min(self.max_workers())
        .min(workloads.len().max(1));
        let next = AtomicUsize::new(0);
        let one = |i: usize, w: &Arc<WorkloadSnapshot>| {
            let mut found = self.evaluate(w);
            found
                .findings
                .extend(host.get(i).cloned().unwrap_or_default());
            let mut rec = recommend(w, found);
            objective::decide(&mut rec, w, &self.objective);
            rec
        };
        let mut recs: Vec<Option<Recommendation>> = vec![None; workloads.len()];
        std::thread::scope(|s| {
            let workers: Vec<_> = (0..threads)
                .map(|_| {
                    s.spawn(|| {
                        let mut done = Vec::new();
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            let Some(w) = workloads.get(i) else { break };
                            done.push((i, one(i, w)));
                        }
                        done
                    })
                })
                .collect();
            for worker in workers {
                // A panicking worker is a host bug; its workloads get an
                // empty recommendation rather than taking the process down.
                if let Ok(done) = worker.join() {
                    for (i, r) in done {
                        recs[i] = Some(r);
                    }
                }
            }
        });
        recs.into_iter()
            .zip(workloads)
            .map(|(r, w)| r.unwrap_or_else(|| recommend(w, WorkloadFindings::default())))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::workload;
    use stepscale_engine::EngineConfig;

    #[test]
    fn more_workers_than_engine_slots_never_fail_a_rule_call() {
        // One instance slot and 16 requested workers on 48 workloads: workers
        // beyond the slots used to collide on the pool and fail their calls
        // as host errors (the workers are capped, and a call waits for a
        // free slot).
        let config = EngineConfig::default()
            .with_cache_dir(None)
            .with_max_concurrent_calls(1);
        let analyzer = Analyzer::with_builtin_rules(config)
            .expect("engine")
            .with_forecasting(false);
        assert_eq!(analyzer.max_workers(), 1);
        let workloads: Vec<Arc<WorkloadSnapshot>> = (0..48)
            .map(|i| {
                let mut w = workload();
                w.autoscaler.name = format!("web-{i}");
                Arc::new(w)
            })
            .collect();
        let recs = analyzer.analyze(&workloads, 16);
        assert_eq!(recs.len(), 48);
        let failures: Vec<_> = recs.iter().flat_map(|r| &r.rule_failures).collect();
        assert!(failures.is_empty(), "{failures:?}");
    }
}
