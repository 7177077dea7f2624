//! The stepscale rules SDK: everything a rule author depends on.
//!
//! - [`detector`] and [`forecaster`]: guest bindings for the two worlds of the
//!   rule ABI (`wit/rules.wit`, package `stepscale:rules@0.1.0`). Implement
//!   `detector::exports::stepscale::rules::detection::Guest` (or the
//!   forecasting one) and call [`export_detector!`] / [`export_forecaster!`].
//! - [`input`]: [`input::WorkloadData`], the whole workload read through the
//!   `workload` imports in one call, as plain Rust values.
//! - [`stats`]: percentiles, robust statistics, rolling windows, time-of-day
//!   and day-of-week grouping, seasonality strength. Pure functions, usable in
//!   native unit tests.
//! - `harness` (feature `harness`, native only): builds the rule crate into a
//!   component and runs it on a snapshot in the same engine the operator uses,
//!   so `cargo test` exercises the real component.
//!
//! Rules are pure: no WASI capability is granted at run time. A panic aborts
//! the call; [`install_panic_logger`] forwards the panic message to the host
//! log first so it shows up in the host's report.
#![deny(missing_docs)]

/// Guest bindings of the `detector` world.
#[allow(missing_docs, clippy::all)]
pub mod detector {
    wit_bindgen::generate!({
        world: "detector",
        path: "../wit",
        pub_export_macro: true,
        export_macro_name: "export_detector",
        default_bindings_module: "stepscale_rules_sdk::detector",
    });
}

/// Guest bindings of the `forecaster` world (sharing the types of [`detector`]).
#[allow(missing_docs, clippy::all)]
pub mod forecaster {
    wit_bindgen::generate!({
        world: "forecaster",
        path: "../wit",
        pub_export_macro: true,
        export_macro_name: "export_forecaster",
        default_bindings_module: "stepscale_rules_sdk::forecaster",
        with: {
            "stepscale:rules/types@0.1.0": crate::detector::stepscale::rules::types,
            "stepscale:rules/workload@0.1.0": crate::detector::stepscale::rules::workload,
        },
    });
}

pub use detector::export_detector;
pub use detector::stepscale::rules::types;
pub use detector::stepscale::rules::workload;
pub use forecaster::export_forecaster;

pub mod input;
pub mod stats;

#[cfg(all(feature = "harness", not(target_arch = "wasm32")))]
pub mod harness;

/// Forward panic messages to the host log (`warn`) before the call aborts.
///
/// Without it a panicking rule is reported only as a trap, because std's
/// default hook tries to print to stderr, which the host does not grant.
/// Calling it more than once is harmless.
pub fn install_panic_logger() {
    std::panic::set_hook(Box::new(|info| {
        workload::log(types::LogLevel::Warn, &format!("rule panicked: {info}"));
    }));
}
