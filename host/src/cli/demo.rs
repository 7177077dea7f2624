//! The demo snapshot embedded in the binary: what `stepscale analyze` runs on
//! when given no file. It is derived from real series of the Numenta Anomaly
//! Benchmark (MIT; see `host/data/README.md`) by `cargo run -p
//! stepscale-tests --bin make-demo-snapshot`, and a test checks that the
//! embedded file is exactly what that generator makes from the real data.

/// The demo snapshot, JSON.
pub const DEMO_SNAPSHOT_JSON: &str = include_str!("../../data/demo-snapshot.json");
