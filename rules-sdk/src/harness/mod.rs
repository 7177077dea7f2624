//! The rule-author test harness: build the rule crate into a component and
//! run it in the same engine, with the same sandbox settings, as the operator.
//!
//! ```no_run
//! use stepscale_rules_sdk::harness::{snapshot::WorkloadSnapshot, TestRule};
//!
//! # fn workload() -> WorkloadSnapshot { unimplemented!() }
//! let rule = TestRule::build(env!("CARGO_MANIFEST_DIR"));
//! let findings = rule.evaluate(&workload()).expect("the rule runs");
//! assert!(findings.iter().all(|f| f.rule_id == rule.id()));
//! ```
//!
//! `build` runs `cargo build --release --target wasm32-wasip2` on the crate
//! into `<target>/stepscale-rules-wasm` (a directory of its own, so it never
//! waits on the lock of the `cargo test` that runs it) and caches precompiled
//! components under it. Each crate is built once per test process.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

pub use stepscale_engine::snapshot;
pub use stepscale_engine::{
    ConfigChange, EngineConfig, Evidence, Finding, FindingKind, Forecast, LoadedRule, PeakWindow,
    RuleEngine, RuleFailure, RuleKind,
};

pub mod traces;

/// Where the harness builds components: beside the test binary's target
/// directory.
pub fn wasm_target_dir() -> PathBuf {
    // A test binary lives in <target>/<profile>/deps/.
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.parent()?.to_path_buf()))
        .unwrap_or_else(std::env::temp_dir)
        .join("stepscale-rules-wasm")
}

/// Build the rule crate in `manifest_dir` (once per process) and return the
/// component's path.
///
/// # Panics
/// When the build fails; the compiler's output is shown above the panic.
pub fn build_component(manifest_dir: &str) -> PathBuf {
    static BUILT: OnceLock<Mutex<HashMap<PathBuf, PathBuf>>> = OnceLock::new();
    let manifest = Path::new(manifest_dir).join("Cargo.toml");
    let mut built = BUILT
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(path) = built.get(&manifest) {
        return path.clone();
    }
    let paths =
        stepscale_rule_build::build_components(std::slice::from_ref(&manifest), &wasm_target_dir())
            .unwrap_or_else(|e| panic!("{e}"));
    let path = paths
        .into_iter()
        .next()
        .expect("one manifest gives one component");
    built.insert(manifest, path.clone());
    path
}

/// A compiled rule loaded into an engine with the operator's settings.
pub struct TestRule {
    engine: Arc<RuleEngine>,
    rule: LoadedRule,
}

impl TestRule {
    /// Build the crate at `manifest_dir` (pass `env!("CARGO_MANIFEST_DIR")`)
    /// and load its component.
    ///
    /// # Panics
    /// When the build or the load fails, with the reason.
    pub fn build(manifest_dir: &str) -> TestRule {
        let path = build_component(manifest_dir);
        TestRule::load_file(&path)
    }

    /// Load an already built component file with the default engine
    /// settings.
    ///
    /// # Panics
    /// When the file cannot be read or the component does not load.
    pub fn load_file(path: &Path) -> TestRule {
        TestRule::load_file_with(path, EngineConfig::default())
    }

    /// Load a component file under the given engine settings (the cache
    /// directory is replaced by one under [`wasm_target_dir`]).
    ///
    /// # Panics
    /// When the file cannot be read or the component does not load.
    pub fn load_file_with(path: &Path, config: EngineConfig) -> TestRule {
        let bytes = std::fs::read(path)
            .unwrap_or_else(|e| panic!("cannot read component {}: {e}", path.display()));
        let config = config.with_cache_dir(Some(wasm_target_dir().join("precompiled")));
        let engine = RuleEngine::new(config).unwrap_or_else(|e| panic!("{e}"));
        let rule = engine
            .load(&path.display().to_string(), &bytes)
            .unwrap_or_else(|e| panic!("{e}"));
        TestRule {
            engine: Arc::new(engine),
            rule,
        }
    }

    /// The rule id from its `info()`.
    pub fn id(&self) -> &str {
        &self.rule.id
    }

    /// The loaded rule (kind, ABI version, digest).
    pub fn rule(&self) -> &LoadedRule {
        &self.rule
    }

    /// Run the detector on `workload`.
    ///
    /// # Errors
    /// The rule's [`RuleFailure`]: it trapped, timed out, ran out of memory
    /// or returned an error.
    pub fn evaluate(
        &self,
        workload: &snapshot::WorkloadSnapshot,
    ) -> Result<Vec<Finding>, RuleFailure> {
        self.engine
            .evaluate(&self.rule, &Arc::new(workload.clone()))
            .result
    }

    /// Run the detector on `workload` and check that the component returns
    /// exactly what the crate's native `analyze` returns (converted with
    /// [`traces::engine_finding`]); return the findings for further checks.
    ///
    /// # Panics
    /// When the component fails, or its findings differ from the native
    /// ones (the assertion shows both).
    pub fn evaluate_matching_native(
        &self,
        workload: &snapshot::WorkloadSnapshot,
        analyze: impl Fn(&crate::input::WorkloadData) -> Vec<crate::types::Finding>,
    ) -> Vec<Finding> {
        let name = workload.display_name();
        let got = self
            .evaluate(workload)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let native: Vec<Finding> = analyze(&traces::workload_data(workload))
            .iter()
            .map(|f| traces::engine_finding(self.id(), f))
            .collect();
        assert_eq!(got, native, "{name}: component and native findings differ");
        got
    }

    /// Run the forecaster on `workload` for `horizon_steps` steps.
    ///
    /// # Errors
    /// As [`TestRule::evaluate`].
    pub fn predict(
        &self,
        workload: &snapshot::WorkloadSnapshot,
        horizon_steps: u32,
    ) -> Result<Forecast, RuleFailure> {
        self.engine
            .predict(&self.rule, &Arc::new(workload.clone()), horizon_steps)
            .result
    }
}
