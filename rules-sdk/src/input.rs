//! The workload as plain Rust values, read through the `workload` imports.

use crate::stats::TimeGrid;
use crate::types::{AutoscalerKind, AutoscalingConfig, ContainerResources, SeriesInfo, TargetRef};
use crate::workload;

/// Everything the host serves about one workload, read once.
///
/// Reading costs one copy per series; a rule that needs only some series can
/// call the `workload` functions directly instead.
#[derive(Debug, Clone)]
pub struct WorkloadData {
    /// The autoscaler and its target.
    pub target: TargetRef,
    /// The autoscaling configuration in force.
    pub config: AutoscalingConfig,
    /// Pod template container requests.
    pub containers: Vec<ContainerResources>,
    /// Start, step and length of the series.
    pub info: SeriesInfo,
    /// CPU utilization, % of request; NaN = missing.
    pub cpu: Vec<f64>,
    /// Desired replicas; NaN = missing.
    pub desired: Vec<f64>,
    /// Current replicas; NaN = missing.
    pub current: Vec<f64>,
    /// Ready replicas; NaN = missing.
    pub ready: Vec<f64>,
    /// Requests per second, if present.
    pub request_rate: Option<Vec<f64>>,
    /// Numeric parameters: `None` in a component, where
    /// [`WorkloadData::param`] asks the host (`workload.param`); natively,
    /// the values a test sets (`Some`, empty by default).
    pub params: Option<std::collections::BTreeMap<String, f64>>,
}

impl WorkloadData {
    /// Read the whole workload from the host.
    pub fn read() -> Self {
        WorkloadData {
            target: workload::target(),
            config: workload::config(),
            containers: workload::containers(),
            info: workload::series(),
            cpu: workload::cpu_utilization(),
            desired: workload::replicas_desired(),
            current: workload::replicas_current(),
            ready: workload::replicas_ready(),
            request_rate: workload::request_rate(),
            params: None,
        }
    }

    /// Demand in "pods at 100 % of request" per sample: utilization × current
    /// replicas / 100. NaN where either is missing.
    pub fn demand_pods(&self) -> Vec<f64> {
        self.cpu
            .iter()
            .zip(&self.current)
            .map(|(u, r)| u * r / 100.0)
            .collect()
    }

    /// Samples per hour of the series (at least 1).
    pub fn samples_per_hour(&self) -> usize {
        (3600 / self.info.step_seconds.max(1)).max(1) as usize
    }
}

/// Kubernetes default scale-down stabilization window, seconds.
pub const DEFAULT_SCALE_DOWN_STABILIZATION_SECONDS: u32 = 300;
/// Kubernetes default scale-up stabilization window, seconds.
pub const DEFAULT_SCALE_UP_STABILIZATION_SECONDS: u32 = 0;

impl WorkloadData {
    /// Build a workload from plain values, without the host: for native unit
    /// tests and tools. `ready` and `request_rate` default to `current` and
    /// none; `info.len` is set to the length of `cpu`.
    ///
    /// Series shorter than `cpu` are padded with NaN and longer ones cut, so
    /// the result always has aligned series like the host serves.
    pub fn from_parts(
        target: TargetRef,
        config: AutoscalingConfig,
        info: SeriesInfo,
        cpu: Vec<f64>,
        desired: Vec<f64>,
        current: Vec<f64>,
    ) -> Self {
        let n = cpu.len();
        let fit = |mut v: Vec<f64>| {
            v.resize(n, f64::NAN);
            v
        };
        let current = fit(current);
        WorkloadData {
            target,
            config,
            containers: Vec::new(),
            info: SeriesInfo {
                len: n as u32,
                ..info
            },
            cpu,
            desired: fit(desired),
            ready: current.clone(),
            current,
            request_rate: None,
            params: Some(Default::default()),
        }
    }

    /// The rule's numeric parameter `name` as set in the operator's values
    /// (`rules.params.<rule-id>.<name>`) or by `stepscale analyze --param`,
    /// else `default`. Never NaN or infinite.
    pub fn param(&self, name: &str, default: f64) -> f64 {
        let set = match &self.params {
            Some(given) => given.get(name).copied(),
            None => host_param(name),
        };
        set.filter(|v| v.is_finite()).unwrap_or(default)
    }

    /// The [`TimeGrid`] of the series (start, step, UTC offset).
    pub fn time_grid(&self) -> TimeGrid {
        TimeGrid::new(
            self.info.start_unix_seconds,
            self.info.step_seconds,
            self.info.utc_offset_minutes,
        )
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.cpu.len()
    }

    /// True when there are no samples.
    pub fn is_empty(&self) -> bool {
        self.cpu.is_empty()
    }

    /// Days covered by the finite CPU samples (count × step / 86400).
    pub fn observed_days(&self) -> f64 {
        crate::stats::count_finite(&self.cpu) as f64 * f64::from(self.info.step_seconds) / 86_400.0
    }

    /// Replicas in use per sample: current replicas, falling back to desired
    /// replicas where current is missing.
    pub fn replicas(&self) -> Vec<f64> {
        self.current
            .iter()
            .zip(&self.desired)
            .map(|(c, d)| if c.is_finite() { *c } else { *d })
            .collect()
    }

    /// True when the autoscaler is a KEDA ScaledObject.
    pub fn is_keda(&self) -> bool {
        self.target.autoscaler_kind == AutoscalerKind::ScaledObject
    }

    /// True when the scaled object is a StatefulSet (never scaled to zero by
    /// a builtin rule).
    pub fn is_stateful(&self) -> bool {
        self.target.target_kind.eq_ignore_ascii_case("StatefulSet")
    }

    /// True when KEDA could scale this workload to zero: a ScaledObject with
    /// at least one trigger other than `cpu` / `memory` (KEDA cannot
    /// activate from zero on resource metrics alone).
    pub fn can_scale_to_zero(&self) -> bool {
        self.config.keda.as_ref().is_some_and(|k| {
            k.triggers
                .iter()
                .any(|t| !matches!(t.trigger_type.as_str(), "cpu" | "memory"))
        })
    }

    /// Scale-down stabilization window in force, seconds (Kubernetes default
    /// 300 when unset).
    pub fn scale_down_stabilization_seconds(&self) -> u32 {
        self.config
            .scale_down
            .as_ref()
            .and_then(|r| r.stabilization_window_seconds)
            .unwrap_or(DEFAULT_SCALE_DOWN_STABILIZATION_SECONDS)
    }

    /// Scale-up stabilization window in force, seconds (Kubernetes default 0
    /// when unset).
    pub fn scale_up_stabilization_seconds(&self) -> u32 {
        self.config
            .scale_up
            .as_ref()
            .and_then(|r| r.stabilization_window_seconds)
            .unwrap_or(DEFAULT_SCALE_UP_STABILIZATION_SECONDS)
    }
}

#[cfg(target_arch = "wasm32")]
fn host_param(name: &str) -> Option<f64> {
    workload::param(name)
}

#[cfg(not(target_arch = "wasm32"))]
fn host_param(_name: &str) -> Option<f64> {
    None
}
