//! The offline analysis path shared by `stepscale analyze` and the operator's
//! tick: run every loaded rule on every workload (in parallel, one fresh
//! sandbox per call), add the host checks, and build one recommendation per
//! workload.

pub mod builtin;
pub mod checks;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use stepscale_engine::{
    EngineConfig, EngineError, LoadError, LoadedRule, RuleEngine, RuleKind, RuleParams,
    WorkloadSnapshot,
};

use crate::objective::Objective;
use crate::recommendation::{decide, recommend, Recommendation, WorkloadFindings};

/// Forecast horizon: one day.
pub const FORECAST_HORIZON_SECONDS: u32 = 86_400;

/// Where a loaded rule came from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RuleSource {
    /// Compiled into the binary.
    Builtin,
    /// A signed rule loaded from a ConfigMap.
    ConfigMap {
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
    },
    /// A component file given on the command line.
    File(String),
}

impl std::fmt::Display for RuleSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RuleSource::Builtin => f.write_str("builtin"),
            RuleSource::ConfigMap { namespace, name } => {
                write!(f, "configmap {namespace}/{name}")
            }
            RuleSource::File(path) => write!(f, "file {path}"),
        }
    }
}

/// A loaded rule and where it came from.
#[derive(Debug, Clone)]
pub struct ActiveRule {
    /// The rule, ready to run.
    pub rule: LoadedRule,
    /// Where it came from (named in its findings).
    pub source: RuleSource,
}

/// The engine with its loaded rules: the builtins, and custom rules that
/// can be replaced while analyses run (the operator's hot reload).
pub struct Analyzer {
    engine: RuleEngine,
    builtins: Vec<LoadedRule>,
    custom: RwLock<Vec<ActiveRule>>,
    /// The set analyses use: builtins not replaced or disabled, then the
    /// custom rules not disabled. An analysis takes one snapshot of it.
    active: RwLock<Arc<Vec<ActiveRule>>>,
    disabled: BTreeSet<String>,
    params: BTreeMap<String, RuleParams>,
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
        let engine = RuleEngine::new(config)?;
        let mut builtins = Vec::new();
        let mut load_failures = Vec::new();
        for loaded in crate::analysis::builtin::load_all(&engine) {
            match loaded {
                Ok(rule) => builtins.push(rule),
                Err(e) => load_failures.push(e),
            }
        }
        let analyzer = Analyzer {
            engine,
            builtins,
            custom: RwLock::new(Vec::new()),
            active: RwLock::new(Arc::new(Vec::new())),
            disabled: BTreeSet::new(),
            params: BTreeMap::new(),
            load_failures,
            forecasting: true,
            objective: Objective::default(),
        };
        analyzer.refresh_active();
        Ok(analyzer)
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

    /// Never run the rules with these ids (`rules.enabled.<id>: false`),
    /// builtin or custom.
    pub fn with_disabled_rules(mut self, ids: impl IntoIterator<Item = String>) -> Self {
        self.disabled = ids.into_iter().collect();
        self.refresh_active();
        self
    }

    /// Run each rule with its numeric parameters (rule id → name → value;
    /// `rules.params` in values, `analyze --param`), served through
    /// `workload.param`.
    pub fn with_params(mut self, params: BTreeMap<String, RuleParams>) -> Self {
        self.params = params;
        self.refresh_active();
        self
    }

    /// The objective recommendations are chosen by.
    pub fn objective(&self) -> &Objective {
        &self.objective
    }

    /// Compile, check and pre-instantiate a component without adding it to
    /// the active rules (its signature must already be verified).
    ///
    /// # Errors
    /// As [`RuleEngine::load`].
    pub fn load_component(&self, name: &str, bytes: &[u8]) -> Result<LoadedRule, LoadError> {
        self.engine.load(name, bytes)
    }

    /// Load one more rule component (its signature must already be verified)
    /// and add it to the active rules.
    ///
    /// # Errors
    /// As [`RuleEngine::load`]; a rule whose id is already loaded is
    /// refused as [`LoadError::Info`].
    pub fn add_rule(&mut self, source: RuleSource, bytes: &[u8]) -> Result<LoadedRule, LoadError> {
        let name = source.to_string();
        let rule = self.engine.load(&name, bytes)?;
        if self.rules().iter().any(|r| r.rule.id == rule.id) {
            return Err(LoadError::Info {
                name,
                message: format!(
                    "returned id {:?}, which another loaded rule already has",
                    rule.id
                ),
            });
        }
        let mut custom = self.custom_rules();
        custom.push(ActiveRule {
            rule: rule.clone(),
            source,
        });
        self.set_custom_rules(custom);
        Ok(rule)
    }

    /// Replace the custom rules. A custom rule whose id equals a builtin's
    /// replaces that builtin (the caller decides whether that is allowed).
    /// Analyses already running finish with the rules they started with.
    pub fn set_custom_rules(&self, rules: Vec<ActiveRule>) {
        *self.custom.write().unwrap_or_else(|e| e.into_inner()) = rules;
        self.refresh_active();
    }

    /// The custom rules now loaded.
    pub fn custom_rules(&self) -> Vec<ActiveRule> {
        self.custom
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Ids of the builtin rules.
    pub fn builtin_ids(&self) -> Vec<String> {
        self.builtins.iter().map(|r| r.id.clone()).collect()
    }

    fn refresh_active(&self) {
        let custom = self.custom.read().unwrap_or_else(|e| e.into_inner());
        let replaced: BTreeSet<&str> = custom.iter().map(|r| r.rule.id.as_str()).collect();
        let active: Vec<ActiveRule> = self
            .builtins
            .iter()
            .filter(|r| !replaced.contains(r.id.as_str()))
            .map(|r| ActiveRule {
                rule: r.clone(),
                source: RuleSource::Builtin,
            })
            .chain(custom.iter().cloned())
            .filter(|r| !self.disabled.contains(&r.rule.id))
            .map(|mut r| {
                if let Some(p) = self.params.get(&r.rule.id) {
                    r.rule = r.rule.with_params(p.clone());
                }
                r
            })
            .collect();
        *self.active.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(active);
    }

    /// The rules analyses run now.
    pub fn rules(&self) -> Arc<Vec<ActiveRule>> {
        self.active
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Rules that failed to load.
    pub fn load_failures(&self) -> &[LoadError] {
        &self.load_failures
    }

    /// Run every active rule on one workload.
    pub fn evaluate(&self, workload: &Arc<WorkloadSnapshot>) -> WorkloadFindings {
        self.evaluate_with(&self.rules(), workload)
    }

    fn evaluate_with(
        &self,
        rules: &[ActiveRule],
        workload: &Arc<WorkloadSnapshot>,
    ) -> WorkloadFindings {
        let mut found = WorkloadFindings::default();
        let step = workload.history.step_seconds.max(1);
        for ActiveRule { rule, source } in rules {
            let (log, failure) = match rule.kind {
                RuleKind::Detector => {
                    let run = self.engine.evaluate(rule, workload);
                    match run.result {
                        Ok(f) => {
                            found.findings.extend(f.into_iter().map(|mut f| {
                                f.rule_version = Some(rule.version.clone());
                                f.rule_source = Some(source.to_string());
                                f
                            }));
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
                tracing::warn!(rule = %rule.id, source = %source, workload = %workload.display_name(), reason = e.label(), "rule failed: {e}");
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
    /// ([`decide()`]: the search, the held-out confirmation and the
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
        let rules = self.rules();
        let one = |i: usize, w: &Arc<WorkloadSnapshot>| {
            let mut found = self.evaluate_with(&rules, w);
            found
                .findings
                .extend(host.get(i).cloned().unwrap_or_default());
            let mut rec = recommend(w, found);
            decide(&mut rec, w, &self.objective);
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
