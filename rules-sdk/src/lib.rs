//! The stepscale rules SDK: everything a rule author depends on.
//!
//! - [`detector_rule!`] / [`forecaster_rule!`]: export a rule from two plain
//!   functions (`rule_info` and `analyze` / `predict`); the glue exists on
//!   wasm32 only, so the functions stay natively unit-testable.
//! - [`detector`] and [`forecaster`]: the raw guest bindings of the two worlds
//!   of the rule ABI (`wit/rules.wit`, package `stepscale:rules@0.1.1`), for
//!   rules that implement the `Guest` traits themselves with
//!   [`export_detector!`] / [`export_forecaster!`].
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
            "stepscale:rules/types@0.1.1": crate::detector::stepscale::rules::types,
            "stepscale:rules/workload@0.1.1": crate::detector::stepscale::rules::workload,
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

/// Export a detector built from two plain functions of the rule crate:
/// `$info: fn() -> types::RuleInfo` and
/// `$analyze: fn(&input::WorkloadData) -> Vec<types::Finding>`.
///
/// It generates the component glue for `wasm32` only: natively the crate
/// stays an ordinary library whose functions unit tests call directly (a
/// native `cdylib` cannot carry the component's export symbols). The glue
/// installs [`install_panic_logger`] and reads the workload once per call.
///
/// ```ignore
/// pub fn rule_info() -> RuleInfo { /* … */ }
/// pub fn analyze(w: &WorkloadData) -> Vec<Finding> { /* … */ }
/// stepscale_rules_sdk::detector_rule!(rule_info, analyze);
/// ```
#[macro_export]
macro_rules! detector_rule {
    ($info:ident, $analyze:ident) => {
        #[cfg(target_arch = "wasm32")]
        mod __stepscale_detector_component {
            struct Rule;

            impl $crate::detector::exports::stepscale::rules::detection::Guest for Rule {
                fn info() -> $crate::types::RuleInfo {
                    super::$info()
                }

                fn evaluate() -> ::core::result::Result<
                    ::std::vec::Vec<$crate::types::Finding>,
                    ::std::string::String,
                > {
                    $crate::install_panic_logger();
                    Ok(super::$analyze(&$crate::input::WorkloadData::read()))
                }
            }

            $crate::export_detector!(Rule);
        }
    };
}

/// Export a forecaster built from `$info: fn() -> types::RuleInfo` and
/// `$predict: fn(&input::WorkloadData, u32) -> Result<types::Forecast, String>`;
/// see [`detector_rule!`].
#[macro_export]
macro_rules! forecaster_rule {
    ($info:ident, $predict:ident) => {
        #[cfg(target_arch = "wasm32")]
        mod __stepscale_forecaster_component {
            struct Rule;

            impl $crate::forecaster::exports::stepscale::rules::forecasting::Guest for Rule {
                fn info() -> $crate::types::RuleInfo {
                    super::$info()
                }

                fn predict(
                    horizon_steps: u32,
                ) -> ::core::result::Result<$crate::types::Forecast, ::std::string::String>
                {
                    $crate::install_panic_logger();
                    super::$predict(&$crate::input::WorkloadData::read(), horizon_steps)
                }
            }

            $crate::export_forecaster!(Rule);
        }
    };
}
