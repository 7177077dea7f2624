//! Builds the hostile test rules in data/rules/ and the example rule in
//! examples/weekend-idle into components.
use std::path::PathBuf;

fn main() {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let rules: Vec<PathBuf> = [
        "spin-forever",
        "allocate-forever",
        "panic-trap",
        "wrong-abi-version",
        "wrong-signature",
        "reach-outside",
        "read-all-noop",
        "instantiate-noop",
        "invalid-output",
        "unknown-import",
        "abi-0-1-0",
    ]
    .iter()
    .map(|n| here.join("data/rules").join(n))
    // The example custom rule, as its author builds it.
    .chain([here.join("../examples/weekend-idle")])
    .collect();
    let root = here
        .parent()
        .expect("tests/ sits in the workspace root")
        .to_path_buf();
    let watch = [root.join("wit"), root.join("rules-sdk/src")];
    if let Err(e) = stepscale_rule_build::embed_components(&rules, &watch, "test_rules.rs") {
        panic!("{e}");
    }
}
