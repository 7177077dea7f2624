//! The rule engine: one wasmtime `Engine` and `Linker` for all rules, each
//! rule compiled once (or loaded precompiled from the cache) and
//! pre-instantiated, and every call run in a fresh store with a memory cap and
//! an epoch deadline.
//!
//! The engine never talks to the cluster and never decides what to do with
//! findings: it turns component bytes into [`LoadedRule`]s and a workload into
//! per-rule outcomes.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, InstanceAllocationStrategy, PoolingAllocationConfig, Store, Trap};

use crate::abi::{self, AbiError, RuleKind, Version};
use crate::bindings::{detector, forecaster};
use crate::cache::ComponentCache;
use crate::outcome::{Finding, Forecast, RuleFailure};
use crate::sandbox::{add_workload_to_linker, RuleLogLine, RuleParams, RuleState};
use crate::snapshot::WorkloadSnapshot;

/// A counting semaphore over the engine's concurrent-call slots.
struct CallSlots {
    free: std::sync::Mutex<u32>,
    returned: std::sync::Condvar,
}

/// A held slot; dropping it frees the slot.
struct CallSlot<'a>(&'a CallSlots);

impl CallSlots {
    fn new(slots: u32) -> Self {
        CallSlots {
            free: std::sync::Mutex::new(slots.max(1)),
            returned: std::sync::Condvar::new(),
        }
    }

    fn acquire(&self) -> CallSlot<'_> {
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        while *free == 0 {
            free = self.returned.wait(free).unwrap_or_else(|e| e.into_inner());
        }
        *free -= 1;
        CallSlot(self)
    }
}

impl Drop for CallSlot<'_> {
    fn drop(&mut self) {
        let mut free = self.0.free.lock().unwrap_or_else(|e| e.into_inner());
        *free += 1;
        self.0.returned.notify_one();
    }
}

/// Linear memory per pool slot kept mapped (and zeroed in place) between
/// calls; see [`RuleEngine::new`].
const RESIDENT_MEMORY_BYTES: usize = 8 << 20;

/// Table memory per pool slot kept mapped (and zeroed in place) between
/// calls, as for linear memory: a rule's function table is a few KiB, and
/// decommitting it cost two `madvise` calls per rule call.
const RESIDENT_TABLE_BYTES: usize = 64 << 10;

/// How often the deadline clock ticks.
const EPOCH_TICK: Duration = Duration::from_millis(2);

/// Settings of a [`RuleEngine`].
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Linear memory cap per call, bytes. Default 64 MiB.
    pub memory_limit_bytes: usize,
    /// Wall-clock deadline per call. Default 2 s.
    pub deadline: Duration,
    /// Where precompiled components are cached; `None` = compile in memory.
    /// Default: [`crate::cache::default_cache_dir`].
    pub cache_dir: Option<PathBuf>,
    /// Calls that may run at once (pool slots). Default 64.
    pub max_concurrent_calls: u32,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            memory_limit_bytes: 64 << 20,
            deadline: Duration::from_secs(2),
            cache_dir: crate::cache::default_cache_dir(),
            max_concurrent_calls: 64,
        }
    }
}

impl EngineConfig {
    /// Set the memory cap per call, bytes.
    pub fn with_memory_limit(mut self, bytes: usize) -> Self {
        self.memory_limit_bytes = bytes;
        self
    }

    /// Set the deadline per call.
    pub fn with_deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// Set the number of calls that may run at once (pool slots, at least 1).
    pub fn with_max_concurrent_calls(mut self, calls: u32) -> Self {
        self.max_concurrent_calls = calls.max(1);
        self
    }

    /// Set (or disable with `None`) the precompiled-component cache.
    pub fn with_cache_dir(mut self, dir: Option<PathBuf>) -> Self {
        self.cache_dir = dir;
        self
    }
}

/// The engine could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("cannot set up the rule engine: {0}")]
pub struct EngineError(String);

/// Why a rule component could not be loaded. The other rules still load.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The bytes are not a valid component.
    #[error("rule {name:?}: not a valid WebAssembly component: {message}")]
    Compile {
        /// Where the component came from.
        name: String,
        /// wasmtime's message.
        message: String,
    },
    /// The component does not fit the ABI.
    #[error("rule {name:?}: {source}")]
    Abi {
        /// Where the component came from.
        name: String,
        /// What does not fit.
        #[source]
        source: AbiError,
    },
    /// Imports or exports have the wrong types for the ABI version.
    #[error("rule {name:?}: does not match the {}@{} interface: {message}; rebuild it with stepscale-rules-sdk {}", abi::ABI_PACKAGE, abi::ABI_VERSION, abi::ABI_VERSION.series())]
    Link {
        /// Where the component came from.
        name: String,
        /// wasmtime's message.
        message: String,
    },
    /// Its `info()` call failed or returned an unusable id.
    #[error("rule {name:?}: info() {message}")]
    Info {
        /// Where the component came from.
        name: String,
        /// What went wrong.
        message: String,
    },
}

/// A pre-instantiated rule of either world.
#[derive(Clone)]
enum RulePre {
    Detector(detector::DetectorPre<RuleState>),
    Forecaster(forecaster::ForecasterPre<RuleState>),
}

/// A rule ready to run: compiled, type-checked against the ABI and
/// pre-instantiated.
#[derive(Clone)]
pub struct LoadedRule {
    /// Id from the rule's `info()`.
    pub id: String,
    /// The rule's own version.
    pub version: String,
    /// One line on what it detects.
    pub description: String,
    /// Detector or forecaster.
    pub kind: RuleKind,
    /// ABI version it was built for.
    pub abi_version: Version,
    /// SHA-256 of the component bytes, hex.
    pub digest: String,
    /// Whether it came from the precompiled cache.
    pub from_cache: bool,
    /// Its numeric parameters, served through `workload.param` (empty: the
    /// rule's defaults). Set with [`LoadedRule::with_params`].
    pub params: Arc<RuleParams>,
    pre: RulePre,
}

/// One function of a rule's compiled code, for a profiler's symbol map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompiledFunction {
    /// Address of its first instruction in this process.
    pub address: usize,
    /// Length of its code, bytes.
    pub len: usize,
    /// The function's name from the component (a Rust guest's are
    /// mangled), or its index when it has none.
    pub name: String,
}

impl LoadedRule {
    /// Where each function of the rule's compiled code lies in this
    /// process, so that `perf` can name sandboxed code: written as
    /// `/tmp/perf-<pid>.map` lines (`{address:x} {len:x} {name}`), perf
    /// attributes samples in the rule to the rule's own functions.
    pub fn compiled_functions(&self) -> Vec<CompiledFunction> {
        let component = match &self.pre {
            RulePre::Detector(p) => p.instance_pre().component(),
            RulePre::Forecaster(p) => p.instance_pre().component(),
        };
        let base = component.text().as_ptr() as usize;
        component
            .functions()
            .map(|f| CompiledFunction {
                address: base + f.offset,
                len: f.len,
                name: f
                    .name
                    .unwrap_or_else(|| format!("function[{}]", f.index.as_u32())),
            })
            .collect()
    }

    /// The same rule run with `params` (non-finite values are never served).
    pub fn with_params(mut self, params: RuleParams) -> Self {
        self.params = Arc::new(params);
        self
    }
}

impl std::fmt::Debug for LoadedRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedRule")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("abi_version", &self.abi_version)
            .field("digest", &self.digest)
            .finish()
    }
}

/// The result of one call, with what the rule logged.
#[derive(Debug, Clone)]
pub struct RuleRun<T> {
    /// Findings, a forecast, or why there are none.
    pub result: Result<T, RuleFailure>,
    /// Lines the rule logged.
    pub log: Vec<RuleLogLine>,
}

/// Increments the engine epoch every [`EPOCH_TICK`] until dropped.
struct EpochTicker {
    stop: Arc<AtomicBool>,
}

impl EpochTicker {
    fn start(engine: wasmtime::Engine) -> Result<EpochTicker, EngineError> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        std::thread::Builder::new()
            .name("stepscale-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    engine.increment_epoch();
                }
            })
            .map_err(|e| EngineError(format!("cannot start the deadline clock: {e}")))?;
        Ok(EpochTicker { stop })
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The engine all rules of a process run in.
pub struct RuleEngine {
    engine: wasmtime::Engine,
    slots: CallSlots,
    linker: Linker<RuleState>,
    config: EngineConfig,
    cache: Option<ComponentCache>,
    deadline_ticks: u64,
    _ticker: EpochTicker,
}

impl RuleEngine {
    /// Build the engine: component model, epoch interruption, pooling
    /// allocator sized by `config`, a linker that serves only the `workload`
    /// imports (no WASI).
    ///
    /// # Errors
    /// wasmtime rejects the configuration, or the deadline thread cannot start.
    pub fn new(config: EngineConfig) -> Result<RuleEngine, EngineError> {
        let mut pool = PoolingAllocationConfig::default();
        let slots = config.max_concurrent_calls.max(1);
        // At most `slots` calls hold instances at once (`CallSlots`).
        pool.total_component_instances(slots)
            .total_core_instances(slots * 4)
            .total_memories(slots * 2)
            .total_tables(slots * 4)
            .max_memory_size(config.memory_limit_bytes);
        // A fresh instance per call reuses a pool slot whose memory was
        // reset. By default the reset `madvise`s it away, so every call
        // page-faults its whole heap in again (~250 µs for 10,080-sample
        // series). Reset by `memset` instead, only the pages the last call
        // dirtied (PAGEMAP_SCAN, Linux 6.7+; the first bytes otherwise), up
        // to RESIDENT_MEMORY_BYTES per slot: the pages stay mapped, zeroed.
        pool.linear_memory_keep_resident(RESIDENT_MEMORY_BYTES.min(config.memory_limit_bytes))
            .table_keep_resident(RESIDENT_TABLE_BYTES)
            .pagemap_scan(wasmtime::Enabled::Auto);
        let mut wasm = Config::new();
        wasm.wasm_component_model(true)
            .epoch_interruption(true)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = wasmtime::Engine::new(&wasm).map_err(|e| EngineError(e.to_string()))?;
        let mut linker = Linker::new(&engine);
        add_workload_to_linker(&mut linker).map_err(|e| EngineError(e.to_string()))?;
        let cache = config
            .cache_dir
            .as_deref()
            .and_then(|d| ComponentCache::open(d, &engine));
        let tick = EPOCH_TICK.as_millis().max(1) as u64;
        let deadline_ticks = (config.deadline.as_millis() as u64).div_ceil(tick) + 1;
        let ticker = EpochTicker::start(engine.clone())?;
        Ok(RuleEngine {
            slots: CallSlots::new(slots),
            engine,
            linker,
            config,
            cache,
            deadline_ticks,
            _ticker: ticker,
        })
    }

    /// The settings in force.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Compile (or load from cache), check and pre-instantiate a component.
    /// `name` says where the bytes came from (a file, a ConfigMap) and is used
    /// in messages. Signatures must be verified BEFORE this call.
    ///
    /// # Errors
    /// Each [`LoadError`] variant: invalid component, wrong ABI version or
    /// world, mismatched types, or an `info()` that fails.
    pub fn load(&self, name: &str, bytes: &[u8]) -> Result<LoadedRule, LoadError> {
        let digest = hex::encode(Sha256::digest(bytes));
        let compile_err = |e: wasmtime::Error| LoadError::Compile {
            name: name.to_string(),
            message: format!("{e:#}"),
        };
        let (component, from_cache) = match &self.cache {
            Some(cache) => cache
                .load(&self.engine, &digest, bytes)
                .map_err(compile_err)?,
            None => (
                Component::new(&self.engine, bytes).map_err(compile_err)?,
                false,
            ),
        };
        let facts = abi::inspect(&self.engine, &component).map_err(|source| LoadError::Abi {
            name: name.to_string(),
            source,
        })?;
        let link_err = |e: wasmtime::Error| LoadError::Link {
            name: name.to_string(),
            message: format!("{e:#}"),
        };
        // A std guest imports WASI interfaces it never needs to call; they
        // are granted as functions that trap, never as capabilities.
        // On a copy of the linker, so that loading needs no exclusive access
        // (the operator loads rules from ConfigMaps while others run).
        let mut linker = self.linker.clone();
        stub_foreign_imports(&mut linker, &self.engine, &component).map_err(link_err)?;
        let instance_pre = linker.instantiate_pre(&component).map_err(link_err)?;
        let pre = match facts.kind {
            RuleKind::Detector => {
                RulePre::Detector(detector::DetectorPre::new(instance_pre).map_err(link_err)?)
            }
            RuleKind::Forecaster => {
                RulePre::Forecaster(forecaster::ForecasterPre::new(instance_pre).map_err(link_err)?)
            }
        };
        let mut rule = LoadedRule {
            id: String::new(),
            version: String::new(),
            description: String::new(),
            kind: facts.kind,
            abi_version: facts.version,
            digest,
            from_cache,
            params: Arc::new(RuleParams::new()),
            pre,
        };
        let info_err = |message: String| LoadError::Info {
            name: name.to_string(),
            message,
        };
        let placeholder = Arc::new(WorkloadSnapshot::placeholder());
        let info = self
            .call(&rule, &placeholder, |store, pre| match pre {
                RulePre::Detector(p) => {
                    let inst = p.instantiate(&mut *store)?;
                    inst.stepscale_rules_detection().call_info(&mut *store)
                }
                RulePre::Forecaster(p) => {
                    let inst = p.instantiate(&mut *store)?;
                    inst.stepscale_rules_forecasting().call_info(&mut *store)
                }
            })
            .result
            .map_err(|f| info_err(f.to_string()))?;
        if !valid_rule_id(&info.id) {
            return Err(info_err(format!(
                "returned id {:?}; use 1-63 lowercase letters, digits and dashes",
                info.id
            )));
        }
        rule.id = info.id;
        rule.version = info.version;
        rule.description = info.description;
        Ok(rule)
    }

    /// Run a detector on one workload.
    pub fn evaluate(
        &self,
        rule: &LoadedRule,
        workload: &Arc<WorkloadSnapshot>,
    ) -> RuleRun<Vec<Finding>> {
        let run = self.call(rule, workload, |store, pre| match pre {
            RulePre::Detector(p) => {
                let inst = p.instantiate(&mut *store)?;
                inst.stepscale_rules_detection().call_evaluate(&mut *store)
            }
            RulePre::Forecaster(_) => Ok(Err(
                "is a forecaster; call predict, not evaluate".to_string()
            )),
        });
        let run = flatten(run, |findings| findings);
        RuleRun {
            result: run.result.and_then(|findings| {
                crate::outcome::validate_findings(&findings).map_err(|message| {
                    RuleFailure::InvalidOutput {
                        message: stepscale_hpa::limits::printable(&message, 300),
                    }
                })?;
                Ok(findings
                    .into_iter()
                    .map(|f| Finding::from_wit(&rule.id, f))
                    .collect())
            }),
            log: run.log,
        }
    }

    /// Run a forecaster on one workload for `horizon_steps` steps.
    pub fn predict(
        &self,
        rule: &LoadedRule,
        workload: &Arc<WorkloadSnapshot>,
        horizon_steps: u32,
    ) -> RuleRun<Forecast> {
        let run = self.call(rule, workload, |store, pre| match pre {
            RulePre::Forecaster(p) => {
                let inst = p.instantiate(&mut *store)?;
                inst.stepscale_rules_forecasting()
                    .call_predict(&mut *store, horizon_steps)
            }
            RulePre::Detector(_) => {
                Ok(Err("is a detector; call evaluate, not predict".to_string()))
            }
        });
        flatten(run, |f| Forecast::from_wit(&rule.id, f))
    }

    /// One sandboxed call: fresh store, memory limiter, epoch deadline; a
    /// trap, timeout or memory denial becomes a [`RuleFailure`].
    fn call<T>(
        &self,
        rule: &LoadedRule,
        workload: &Arc<WorkloadSnapshot>,
        f: impl FnOnce(&mut Store<RuleState>, &RulePre) -> wasmtime::Result<T>,
    ) -> RuleRun<T> {
        // Wait for a free slot rather than fail on a full pool: the number
        // of callers (threads) never decides whether a call runs. The slot
        // is held until the store (and its instances) is dropped.
        let _slot = self.slots.acquire();
        let state = RuleState::new(
            workload.clone(),
            self.config.memory_limit_bytes,
            rule.params.clone(),
        );
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| s);
        store.set_epoch_deadline(self.deadline_ticks);
        store.epoch_deadline_trap();
        let result = f(&mut store, &rule.pre);
        let state = store.into_data();
        let result = result.map_err(|e| self.classify(e, &state));
        RuleRun {
            result,
            log: state.log,
        }
    }

    fn classify(&self, e: wasmtime::Error, state: &RuleState) -> RuleFailure {
        if state.memory_denied {
            return RuleFailure::OutOfMemory {
                limit_bytes: self.config.memory_limit_bytes as u64,
            };
        }
        match e.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => RuleFailure::TimedOut {
                deadline_ms: self.config.deadline.as_millis() as u64,
            },
            Some(trap) => {
                let panic = state
                    .log
                    .iter()
                    .rev()
                    .find(|l| l.message.starts_with("rule panicked"))
                    .map(|l| format!(" ({})", l.message))
                    .unwrap_or_default();
                RuleFailure::Trapped {
                    message: format!("{trap}{panic}"),
                }
            }
            None => {
                let message = format!("{e:#}");
                if message.contains("unknown import") || message.contains("trap") {
                    RuleFailure::Trapped { message }
                } else {
                    RuleFailure::Host { message }
                }
            }
        }
    }
}

fn flatten<W, T>(run: RuleRun<Result<W, String>>, convert: impl FnOnce(W) -> T) -> RuleRun<T> {
    RuleRun {
        result: match run.result {
            Ok(Ok(v)) => Ok(convert(v)),
            Ok(Err(message)) => Err(RuleFailure::Returned {
                // The rule's own text: escaped and cut before anyone prints it.
                message: stepscale_hpa::limits::printable(&message, 1000),
            }),
            Err(f) => Err(f),
        },
        log: run.log,
    }
}

/// Stub every import outside `stepscale:rules` (the WASI interfaces a std
/// guest names but never needs) with a function that traps when called.
/// Imports of our own package are never stubbed: `abi::inspect` has already
/// checked them, and an import of an earlier `0.1.x` version must resolve, by
/// semver, to the functions this host serves (wasmtime's
/// `define_unknown_imports_as_traps` would define it afresh, as traps).
fn stub_foreign_imports(
    linker: &mut Linker<RuleState>,
    engine: &wasmtime::Engine,
    component: &Component,
) -> wasmtime::Result<()> {
    fn stub(
        inst: &mut wasmtime::component::LinkerInstance<'_, RuleState>,
        name: &str,
        qualified: &str,
        item: ComponentItem,
        engine: &wasmtime::Engine,
    ) -> wasmtime::Result<()> {
        match item {
            ComponentItem::ComponentFunc(_) => {
                let qualified = qualified.to_string();
                inst.func_new(name, move |_, _, _, _| {
                    wasmtime::bail!("unknown import: `{qualified}` is not granted to rules")
                })?;
            }
            ComponentItem::ComponentInstance(i) => {
                let mut sub = inst.instance(name)?;
                for (export, item) in i.exports(engine) {
                    stub(
                        &mut sub,
                        export,
                        &format!("{name}#{export}"),
                        item.ty,
                        engine,
                    )?;
                }
            }
            ComponentItem::Resource(_) => {
                inst.resource(
                    name,
                    wasmtime::component::ResourceType::host::<()>(),
                    |_, _| Ok(()),
                )?;
            }
            _ => {}
        }
        Ok(())
    }
    for (name, item) in component.component_type().imports(engine) {
        if name.starts_with(&format!("{}/", abi::ABI_PACKAGE)) {
            continue;
        }
        stub(&mut linker.root(), name, name, item.ty, engine)?;
    }
    Ok(())
}

/// A rule id: 1-63 of `[a-z0-9-]`, not starting or ending with a dash.
pub fn valid_rule_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 63
        && !id.starts_with('-')
        && !id.ends_with('-')
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}
