//! The builtin rules, compiled from `builtin-rules/*` by `build.rs` and
//! embedded in the binary, and loading them into a [`RuleEngine`].

use stepscale_engine::{LoadError, LoadedRule, RuleEngine};

#[allow(dead_code)]
mod embedded {
    include!(concat!(env!("OUT_DIR"), "/builtin_rules.rs"));
}

/// (package name, component bytes) of every builtin rule.
pub const COMPONENTS: &[(&str, &[u8])] = embedded::COMPONENTS;

/// Load every builtin rule. Builtins are part of the binary, so a failure
/// here is a build defect; it is still returned per rule, not panicked on.
pub fn load_all(engine: &RuleEngine) -> Vec<Result<LoadedRule, LoadError>> {
    COMPONENTS
        .iter()
        .map(|(name, bytes)| engine.load(&format!("builtin:{name}"), bytes))
        .collect()
}

/// The numeric parameters the builtin rules read (`rules.params.<id>.<name>`
/// in values, `stepscale analyze --param <id>.<name>=<value>`): rule id,
/// name, default, what it sets. The defaults are the rules' own constants (a
/// test compares them).
pub const PARAMS: &[(&str, &str, f64, &str)] = &[
    ("idle-windows", "minDays", 2.0, "days of history needed"),
    (
        "idle-windows",
        "nearZeroCpuPercent",
        5.0,
        "p95 CPU % below which an hour is idle",
    ),
    (
        "idle-windows",
        "pinnedFraction",
        0.9,
        "share of an hour's samples at minReplicas for it to count as pinned",
    ),
    (
        "idle-windows",
        "minIdleHours",
        3.0,
        "idle hours a day needed for a finding",
    ),
    (
        "idle-windows",
        "zeroFloorCpuPercent",
        1.0,
        "p99 CPU % below which a KEDA floor of 0 may be proposed",
    ),
    (
        "over-provisioning",
        "minDays",
        1.0,
        "days of history needed",
    ),
    (
        "over-provisioning",
        "maxTargetPercent",
        80.0,
        "highest CPU target proposed",
    ),
    (
        "over-provisioning",
        "minSavings",
        0.15,
        "smallest saving (fraction of replica-hours) worth a finding",
    ),
    (
        "over-provisioning",
        "headroomFactor",
        1.15,
        "headroom kept above the observed burst",
    ),
    ("scale-lag", "minDays", 1.0, "days of history needed"),
    (
        "scale-lag",
        "minEpisodes",
        3.0,
        "lag episodes needed for a finding",
    ),
    ("thrashing", "minHours", 6.0, "hours of history needed"),
    (
        "thrashing",
        "minChangesPerDay",
        12.0,
        "direction changes a day that count as thrashing",
    ),
    (
        "thrashing",
        "maxStabilizationSeconds",
        3600.0,
        "longest scale-down stabilization proposed",
    ),
    ("recurring-peaks", "minDays", 3.0, "days of history needed"),
    (
        "recurring-peaks",
        "minStrength",
        0.3,
        "seasonality strength needed",
    ),
    (
        "recurring-peaks",
        "peakRatio",
        1.3,
        "peak level over the base level that counts as a peak",
    ),
    (
        "recurring-peaks",
        "minSaturatedShare",
        0.05,
        "share of peak samples saturated before a higher floor is proposed",
    ),
];

/// Check parameters given for builtin rules: a name a builtin does not read
/// is a typo. Parameters of other (custom) rules are not checked here.
///
/// # Errors
/// The first unknown builtin parameter, with the names that rule reads.
pub fn check_params(
    params: &std::collections::BTreeMap<String, stepscale_engine::RuleParams>,
) -> Result<(), String> {
    for (rule, names) in params {
        let known: Vec<&str> = PARAMS
            .iter()
            .filter(|(r, ..)| r == rule)
            .map(|(_, n, ..)| *n)
            .collect();
        let is_builtin = COMPONENTS
            .iter()
            .any(|(package, _)| package.strip_prefix("stepscale-rule-") == Some(rule.as_str()));
        if !is_builtin {
            continue;
        }
        for (name, value) in names {
            if !known.contains(&name.as_str()) {
                return Err(format!(
                    "the builtin rule {rule} has no parameter {name:?}; it reads: {}",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ));
            }
            if !value.is_finite() {
                return Err(format!("{rule}.{name} is {value}; give a finite number"));
            }
        }
    }
    Ok(())
}
