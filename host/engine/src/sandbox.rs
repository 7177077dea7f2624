//! The per-call sandbox: the store data a rule runs with, the `workload`
//! imports served from it, and the memory limiter. A fresh [`RuleState`] (and
//! a fresh store) is made for every call, so nothing a rule does can leak into
//! the next call or the next workload.

use std::sync::Arc;

use wasmtime::component::__internal::{
    CanonicalAbiInfo, InstanceType, InterfaceType, LowerContext,
};
use wasmtime::component::{HasSelf, Linker};
use wasmtime::StoreContextMut;

use crate::abi::{ABI_PACKAGE, ABI_VERSION};
use crate::bindings::detector::stepscale::rules::types;
use crate::bindings::wit;
use crate::snapshot::{
    AutoscalerKind, AutoscalingConfig, PolicyKind, ScalingRules, SelectPolicy, WorkloadSnapshot,
};

/// Lines of rule log kept per call.
pub const MAX_LOG_LINES: usize = 64;
/// Bytes kept of one rule log line.
pub const MAX_LOG_LINE_BYTES: usize = 1024;

/// One line a rule logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleLogLine {
    /// `debug`, `info` or `warn`.
    pub level: &'static str,
    /// The message, cut to [`MAX_LOG_LINE_BYTES`].
    pub message: String,
}

/// Store data of one rule call.
pub struct RuleState {
    /// The workload served through the `workload` imports.
    pub workload: Arc<WorkloadSnapshot>,
    /// Memory cap for this call, bytes.
    pub memory_limit: usize,
    /// Set when the rule asked for more memory than the cap.
    pub memory_denied: bool,
    /// What the rule logged, oldest first.
    pub log: Vec<RuleLogLine>,
    /// This rule's numeric parameters (`workload.param`).
    pub params: Arc<RuleParams>,
}

/// A rule's numeric parameters by name (all finite).
pub type RuleParams = std::collections::BTreeMap<String, f64>;

impl RuleState {
    /// Fresh state for one call.
    pub fn new(
        workload: Arc<WorkloadSnapshot>,
        memory_limit: usize,
        params: Arc<RuleParams>,
    ) -> Self {
        RuleState {
            workload,
            memory_limit,
            memory_denied: false,
            log: Vec::new(),
            params,
        }
    }
}

impl wasmtime::ResourceLimiter for RuleState {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_limit {
            self.memory_denied = true;
            // Refuse the growth: `memory.grow` returns -1 and the guest's
            // allocator fails, which aborts a Rust guest (a trap we then
            // report as out-of-memory because of `memory_denied`).
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

impl types::Host for RuleState {}

fn wit_rules(r: &ScalingRules) -> wit::ScalingRules {
    wit::ScalingRules {
        stabilization_window_seconds: r.stabilization_window_seconds,
        select_policy: r.select_policy.map(|p| match p {
            SelectPolicy::Max => wit::SelectPolicy::Max,
            SelectPolicy::Min => wit::SelectPolicy::Min,
            SelectPolicy::Disabled => wit::SelectPolicy::Disabled,
        }),
        policies: r
            .policies
            .iter()
            .map(|p| wit::ScalingPolicy {
                kind: match p.kind {
                    PolicyKind::Pods => wit::PolicyKind::Pods,
                    PolicyKind::Percent => wit::PolicyKind::Percent,
                },
                value: p.value,
                period_seconds: p.period_seconds,
            })
            .collect(),
    }
}

/// The ABI form of a snapshot's autoscaling config.
pub fn wit_config(c: &AutoscalingConfig) -> wit::AutoscalingConfig {
    wit::AutoscalingConfig {
        min_replicas: c.min_replicas,
        max_replicas: c.max_replicas,
        cpu_target_percent: c.cpu_target_percent,
        memory_target_percent: c.memory_target_percent,
        scale_up: c.scale_up.as_ref().map(wit_rules),
        scale_down: c.scale_down.as_ref().map(wit_rules),
        keda: c.keda.as_ref().map(|k| wit::KedaConfig {
            cooldown_period_seconds: k.cooldown_period_seconds,
            polling_interval_seconds: k.polling_interval_seconds,
            idle_replica_count: k.idle_replica_count,
            triggers: k
                .triggers
                .iter()
                .map(|t| wit::Trigger {
                    trigger_type: t.trigger_type.clone(),
                    metadata: t
                        .metadata
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                })
                .collect(),
        }),
    }
}

/// One series of the call's workload, lowered into the guest straight from
/// the shared snapshot: the host makes no copy of it (the only copy is the
/// one into the guest's memory that the component model requires).
struct SharedSeries {
    workload: Arc<WorkloadSnapshot>,
    which: Series,
}

/// Which series a [`SharedSeries`] serves.
#[derive(Clone, Copy)]
enum Series {
    CpuUtilization,
    ReplicasDesired,
    ReplicasCurrent,
    ReplicasReady,
    RequestRate,
}

impl SharedSeries {
    /// `which` of `workload`, shared (no copy).
    fn new(workload: &Arc<WorkloadSnapshot>, which: Series) -> SharedSeries {
        SharedSeries {
            workload: workload.clone(),
            which,
        }
    }

    fn samples(&self) -> &[f64] {
        let h = &self.workload.history;
        match self.which {
            Series::CpuUtilization => &h.cpu_utilization,
            Series::ReplicasDesired => &h.replicas_desired,
            Series::ReplicasCurrent => &h.replicas_current,
            Series::ReplicasReady => h.ready(),
            Series::RequestRate => h.request_rate.as_deref().unwrap_or_default(),
        }
    }
}

// A `SharedSeries` is a `list<f64>` to the guest: type, ABI and lowering are
// those of `[f64]` (as wasmtime's own impls for `Vec<T>` and `Arc<T>`
// forward to `[T]`), applied to the borrowed samples. The items used here are
// the ones wasmtime's `ComponentType`/`Lower` derives use; the version is
// pinned in the workspace manifest.
// SAFETY: every item forwards to `[f64]`'s implementation, whose invariants
// therefore hold.
#[allow(unsafe_code)]
unsafe impl wasmtime::component::ComponentType for SharedSeries {
    type Lower = <[f64] as wasmtime::component::ComponentType>::Lower;
    const ABI: CanonicalAbiInfo = <[f64] as wasmtime::component::ComponentType>::ABI;
    const MAY_REQUIRE_REALLOC: bool =
        <[f64] as wasmtime::component::ComponentType>::MAY_REQUIRE_REALLOC;

    fn typecheck(ty: &InterfaceType, types: &InstanceType<'_>) -> wasmtime::Result<()> {
        <[f64] as wasmtime::component::ComponentType>::typecheck(ty, types)
    }
}

// SAFETY: as above, both methods forward to `[f64]`.
#[allow(unsafe_code)]
unsafe impl wasmtime::component::Lower for SharedSeries {
    fn linear_lower_to_flat<T>(
        &self,
        cx: &mut LowerContext<'_, T>,
        ty: InterfaceType,
        dst: &mut std::mem::MaybeUninit<Self::Lower>,
    ) -> wasmtime::Result<()> {
        <[f64] as wasmtime::component::Lower>::linear_lower_to_flat(self.samples(), cx, ty, dst)
    }

    fn linear_lower_to_memory<T>(
        &self,
        cx: &mut LowerContext<'_, T>,
        ty: InterfaceType,
        offset: usize,
    ) -> wasmtime::Result<()> {
        <[f64] as wasmtime::component::Lower>::linear_lower_to_memory(
            self.samples(),
            cx,
            ty,
            offset,
        )
    }
}

/// The ABI form of the call's autoscaler and target.
fn wit_target(w: &WorkloadSnapshot) -> wit::TargetRef {
    wit::TargetRef {
        namespace: w.autoscaler.namespace.clone(),
        autoscaler_name: w.autoscaler.name.clone(),
        autoscaler_kind: match w.autoscaler.kind {
            AutoscalerKind::HorizontalPodAutoscaler => wit::AutoscalerKind::HorizontalPodAutoscaler,
            AutoscalerKind::ScaledObject => wit::AutoscalerKind::ScaledObject,
        },
        target_api_version: w.target.api_version.clone(),
        target_kind: w.target.kind.clone(),
        target_name: w.target.name.clone(),
    }
}

/// The ABI form of the pod template's container requests.
fn wit_containers(w: &WorkloadSnapshot) -> Vec<wit::ContainerResources> {
    w.containers
        .iter()
        .map(|c| wit::ContainerResources {
            name: c.name.clone(),
            cpu_request_millicores: c.cpu_request_millicores,
            memory_request_bytes: c.memory_request_bytes,
        })
        .collect()
}

/// The shape every series shares.
fn wit_series_info(w: &WorkloadSnapshot) -> wit::SeriesInfo {
    let h = &w.history;
    wit::SeriesInfo {
        start_unix_seconds: h.start_unix_seconds,
        step_seconds: h.step_seconds,
        len: u32::try_from(h.len()).unwrap_or(u32::MAX),
        utc_offset_minutes: h.utc_offset_minutes,
    }
}

impl RuleState {
    /// Keep one line the rule logged: at most [`MAX_LOG_LINES`] per call,
    /// each cut to [`MAX_LOG_LINE_BYTES`], control characters escaped.
    fn push_log(&mut self, level: wit::LogLevel, message: String) {
        if self.log.len() >= MAX_LOG_LINES {
            return;
        }
        let mut message = message;
        if message.len() > MAX_LOG_LINE_BYTES {
            let mut cut = MAX_LOG_LINE_BYTES;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
        }
        // Control characters (escape sequences) never reach a terminal or log.
        let message = stepscale_hpa::limits::printable(&message, MAX_LOG_LINE_BYTES);
        let level = match level {
            wit::LogLevel::Debug => "debug",
            wit::LogLevel::Info => "info",
            wit::LogLevel::Warn => "warn",
        };
        self.log.push(RuleLogLine { level, message });
    }

    /// The rule's parameter `name`, if set and finite.
    fn param(&self, name: &str) -> Option<f64> {
        self.params.get(name).copied().filter(|v| v.is_finite())
    }
}

/// Serve the `workload` interface (and the function-less `types`) to rules.
///
/// Written out rather than through the generated `workload::Host` trait,
/// whose series functions must return an owned `Vec<f64>`: that cost a copy
/// of each series on the host for every call, before the copy into the
/// guest. Here a series is lowered from the snapshot the call shares.
pub fn add_workload_to_linker(linker: &mut Linker<RuleState>) -> wasmtime::Result<()> {
    types::add_to_linker::<RuleState, HasSelf<RuleState>>(linker, |s| s)?;
    let mut inst = linker.instance(&format!("{ABI_PACKAGE}/workload@{ABI_VERSION}"))?;
    inst.func_wrap("target", |s: StoreContextMut<'_, RuleState>, (): ()| {
        Ok((wit_target(&s.data().workload),))
    })?;
    inst.func_wrap("config", |s: StoreContextMut<'_, RuleState>, (): ()| {
        Ok((wit_config(&s.data().workload.config),))
    })?;
    inst.func_wrap("containers", |s: StoreContextMut<'_, RuleState>, (): ()| {
        Ok((wit_containers(&s.data().workload),))
    })?;
    inst.func_wrap("series", |s: StoreContextMut<'_, RuleState>, (): ()| {
        Ok((wit_series_info(&s.data().workload),))
    })?;
    for (name, which) in [
        ("cpu-utilization", Series::CpuUtilization),
        ("replicas-desired", Series::ReplicasDesired),
        ("replicas-current", Series::ReplicasCurrent),
        ("replicas-ready", Series::ReplicasReady),
    ] {
        inst.func_wrap(name, move |s: StoreContextMut<'_, RuleState>, (): ()| {
            Ok((SharedSeries::new(&s.data().workload, which),))
        })?;
    }
    inst.func_wrap(
        "request-rate",
        |s: StoreContextMut<'_, RuleState>, (): ()| {
            let w = &s.data().workload;
            let rate = w.history.request_rate.is_some();
            Ok((rate.then(|| SharedSeries::new(w, Series::RequestRate)),))
        },
    )?;
    inst.func_wrap(
        "log",
        |mut s: StoreContextMut<'_, RuleState>, (level, message): (wit::LogLevel, String)| {
            s.data_mut().push_log(level, message);
            Ok(())
        },
    )?;
    inst.func_wrap(
        "param",
        |s: StoreContextMut<'_, RuleState>, (name,): (String,)| Ok((s.data().param(&name),)),
    )?;
    Ok(())
}
