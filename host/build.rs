//! Builds the builtin rule crates (builtin-rules/*) into wasm32-wasip2
//! components and embeds them in the binary (see `src/analysis/builtin.rs`).
use std::path::PathBuf;

/// The builtin rules, in the order they are run and reported.
const BUILTIN_RULES: &[&str] = &[
    "idle-windows",
    "over-provisioning",
    "scale-lag",
    "thrashing",
    "recurring-peaks",
    "forecaster",
];

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("host/ sits in the workspace root")
        .to_path_buf();
    let crates: Vec<PathBuf> = BUILTIN_RULES
        .iter()
        .map(|r| root.join("builtin-rules").join(r))
        .filter(|d| d.join("Cargo.toml").is_file())
        .collect();
    let watch = [
        root.join("wit"),
        root.join("rules-sdk/src"),
        root.join("builtin-rules"),
    ];
    if let Err(e) = stepscale_rule_build::embed_components(&crates, &watch, "builtin_rules.rs") {
        panic!("{e}");
    }
}
