//! What the operator tells the people who run it: logs and metrics.
//!
//! Logging setup ([`init`]): `tracing` to stderr, filtered by `RUST_LOG`
//! (default [`DEFAULT_FILTER`] for the operator). Colors only on a
//! terminal, so pod logs stay plain text. The metric families the lifecycle,
//! the rule sync and the loop update are in [`metrics`].

pub mod metrics;

/// The operator's default log filter.
pub const DEFAULT_FILTER: &str = "info,stepscale_operator=debug";

/// Install the global subscriber with `RUST_LOG`, else `default_filter`.
/// A second call is a no-op.
pub fn init(default_filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .try_init();
}
