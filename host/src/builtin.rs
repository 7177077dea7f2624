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
