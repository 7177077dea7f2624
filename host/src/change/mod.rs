//! An autoscaler's config as a recommendation shows it, and a change to it
//! in words: what the search, the recommendation and the apply step share.

use serde::{Deserialize, Serialize};
use stepscale_engine::snapshot::{AutoscalingConfig, WorkloadSnapshot};
use stepscale_engine::ConfigChange;

/// Default scale-down stabilization of the HPA controller, seconds.
pub const DEFAULT_SCALE_DOWN_STABILIZATION_SECONDS: u32 = 300;

/// The fields a recommendation may change, as they are now (defaults
/// filled in).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CurrentConfig {
    /// Replica floor.
    pub min_replicas: u32,
    /// Replica ceiling.
    pub max_replicas: u32,
    /// CPU target, percent of request, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_target_percent: Option<u32>,
    /// Scale-down stabilization window, seconds (default 300).
    pub scale_down_stabilization_seconds: u32,
    /// Scale-up stabilization window, seconds (default 0).
    pub scale_up_stabilization_seconds: u32,
    /// KEDA cooldown, seconds (ScaledObjects only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cooldown_period_seconds: Option<u32>,
}

impl CurrentConfig {
    /// The current values of a workload's config.
    pub fn of(w: &WorkloadSnapshot) -> CurrentConfig {
        CurrentConfig::of_config(&w.config)
    }

    /// The current values of an autoscaler's config.
    pub fn of_config(c: &AutoscalingConfig) -> CurrentConfig {
        CurrentConfig {
            min_replicas: c.min_replicas,
            max_replicas: c.max_replicas,
            cpu_target_percent: c.cpu_target_percent,
            scale_down_stabilization_seconds: c
                .scale_down
                .as_ref()
                .and_then(|r| r.stabilization_window_seconds)
                .unwrap_or(DEFAULT_SCALE_DOWN_STABILIZATION_SECONDS),
            scale_up_stabilization_seconds: c
                .scale_up
                .as_ref()
                .and_then(|r| r.stabilization_window_seconds)
                .unwrap_or(0),
            cooldown_period_seconds: c.keda.as_ref().map(|k| k.cooldown_period_seconds),
        }
    }
}

/// The change as phrases, one per field it sets.
pub fn phrases(current: &CurrentConfig, p: &ConfigChange) -> Vec<String> {
    let mut out = Vec::new();
    let mut push = |name: &str, old: Option<u32>, new: Option<u32>, unit: &str| {
        if let Some(n) = new {
            let verb = match old {
                Some(o) if n > o => "raise",
                Some(_) => "lower",
                None => "set",
            };
            let from = old.map(|o| format!(" {o}{unit} →")).unwrap_or_default();
            out.push(format!("{verb} {name}{from} {n}{unit}"));
        }
    };
    push(
        "minReplicas",
        Some(current.min_replicas),
        p.min_replicas,
        "",
    );
    push(
        "maxReplicas",
        Some(current.max_replicas),
        p.max_replicas,
        "",
    );
    push(
        "CPU target",
        current.cpu_target_percent,
        p.cpu_target_percent,
        " %",
    );
    push(
        "scale-down stabilization",
        Some(current.scale_down_stabilization_seconds),
        p.scale_down_stabilization_seconds,
        " s",
    );
    push(
        "scale-up stabilization",
        Some(current.scale_up_stabilization_seconds),
        p.scale_up_stabilization_seconds,
        " s",
    );
    push(
        "cooldown",
        current.cooldown_period_seconds,
        p.cooldown_period_seconds,
        " s",
    );
    if let Some(x) = p.scale_down_policy {
        out.push(format!("limit scale-down to {x}"));
    }
    if let Some(x) = p.scale_up_policy {
        out.push(format!("allow scale-up of {x}"));
    }
    out
}

/// The change as a list of phrases, e.g. `lower minReplicas 10 → 4`.
pub fn describe_change(current: &CurrentConfig, p: &ConfigChange) -> String {
    phrases(current, p).join(", ")
}
