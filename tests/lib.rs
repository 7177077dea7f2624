//! Shared fixtures of the integration tests: the hostile rule components
//! (built from `data/rules/` by `build.rs`).

/// Hostile and wrong-interface rule components.
pub mod test_rules {
    include!(concat!(env!("OUT_DIR"), "/test_rules.rs"));
}

pub mod demo;
pub mod eval;
