//! The stepscale rule engine.
//!
//! Loads detector and forecaster components built against the rule ABI
//! (`wit/rules.wit`), checks their ABI version, compiles them once (with a
//! precompiled cache), and runs them on workload snapshots in a sandbox: no
//! WASI capability, a memory cap and a deadline per call, a fresh instance per
//! call. Used by the `stepscale` CLI and operator, and by the rules-sdk test
//! harness, so rule authors test under exactly the operator's settings.
//!
//! It owns no Kubernetes IO and no recommendation logic.
#![deny(missing_docs)]
#![deny(unsafe_code)]

#[cfg(feature = "runtime")]
pub mod abi;
#[cfg(feature = "runtime")]
mod bindings;
#[cfg(feature = "runtime")]
pub mod cache;
#[cfg(feature = "runtime")]
pub mod engine;
#[cfg(feature = "runtime")]
pub mod outcome;
#[cfg(feature = "runtime")]
pub mod sandbox;
pub mod snapshot;

#[cfg(feature = "runtime")]
pub use abi::{AbiError, RuleKind, ABI_VERSION};
#[cfg(feature = "runtime")]
pub use engine::{
    CompiledFunction, EngineConfig, EngineError, LoadError, LoadedRule, RuleEngine, RuleRun,
};
#[cfg(feature = "runtime")]
pub use outcome::{
    ConfigChange, Evidence, Finding, FindingKind, Forecast, PeakWindow, RuleFailure,
};
#[cfg(feature = "runtime")]
pub use sandbox::RuleParams;
pub use snapshot::{Snapshot, SnapshotError, WorkloadSnapshot};
