//! The per-call sandbox: the store data a rule runs with, the `workload`
//! imports served from it, and the memory limiter. A fresh [`RuleState`] (and
//! a fresh store) is made for every call, so nothing a rule does can leak into
//! the next call or the next workload.

use std::sync::Arc;

use crate::bindings::detector::stepscale::rules::{types, workload};
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

impl workload::Host for RuleState {
    fn target(&mut self) -> wit::TargetRef {
        let w = &self.workload;
        wit::TargetRef {
            namespace: w.autoscaler.namespace.clone(),
            autoscaler_name: w.autoscaler.name.clone(),
            autoscaler_kind: match w.autoscaler.kind {
                AutoscalerKind::HorizontalPodAutoscaler => {
                    wit::AutoscalerKind::HorizontalPodAutoscaler
                }
                AutoscalerKind::ScaledObject => wit::AutoscalerKind::ScaledObject,
            },
            target_api_version: w.target.api_version.clone(),
            target_kind: w.target.kind.clone(),
            target_name: w.target.name.clone(),
        }
    }

    fn config(&mut self) -> wit::AutoscalingConfig {
        wit_config(&self.workload.config)
    }

    fn containers(&mut self) -> Vec<wit::ContainerResources> {
        self.workload
            .containers
            .iter()
            .map(|c| wit::ContainerResources {
                name: c.name.clone(),
                cpu_request_millicores: c.cpu_request_millicores,
                memory_request_bytes: c.memory_request_bytes,
            })
            .collect()
    }

    fn series(&mut self) -> wit::SeriesInfo {
        let h = &self.workload.history;
        wit::SeriesInfo {
            start_unix_seconds: h.start_unix_seconds,
            step_seconds: h.step_seconds,
            len: u32::try_from(h.len()).unwrap_or(u32::MAX),
            utc_offset_minutes: h.utc_offset_minutes,
        }
    }

    fn cpu_utilization(&mut self) -> Vec<f64> {
        self.workload.history.cpu_utilization.clone()
    }

    fn replicas_desired(&mut self) -> Vec<f64> {
        self.workload.history.replicas_desired.clone()
    }

    fn replicas_current(&mut self) -> Vec<f64> {
        self.workload.history.replicas_current.clone()
    }

    fn replicas_ready(&mut self) -> Vec<f64> {
        self.workload.history.ready().to_vec()
    }

    fn request_rate(&mut self) -> Option<Vec<f64>> {
        self.workload.history.request_rate.clone()
    }

    fn log(&mut self, level: wit::LogLevel, message: String) {
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

    fn param(&mut self, name: String) -> Option<f64> {
        self.params.get(&name).copied().filter(|v| v.is_finite())
    }
}
