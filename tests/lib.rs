//! Shared fixtures of the integration tests: the hostile rule components
//! (built from `data/rules/` by `build.rs`) and a plain HPA workload.

/// Hostile and wrong-interface rule components.
pub mod test_rules {
    include!(concat!(env!("OUT_DIR"), "/test_rules.rs"));

    /// The bytes of the component built from package `name`.
    ///
    /// # Panics
    /// When no such component was built.
    pub fn component(name: &str) -> &'static [u8] {
        COMPONENTS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, b)| *b)
            .unwrap_or_else(|| panic!("test rule {name} was not built"))
    }
}

pub mod demo;
pub mod eval;
pub mod workload;
