//! The embedded demo snapshot is exactly what the generator makes from the
//! real NAB series (so the demo's evidence comes from real data).

#[test]
fn the_embedded_demo_snapshot_is_generated_from_the_nab_series() {
    let nab = stepscale_tests::demo::nab_dir();
    let generated = stepscale_tests::demo::demo_snapshot_json(&nab)
        .unwrap_or_else(|e| panic!("cannot build the demo from {}: {e}", nab.display()));
    assert!(
        generated == stepscale_operator::cli::demo::DEMO_SNAPSHOT_JSON,
        "host/data/demo-snapshot.json is stale: run `cargo run -p stepscale-tests --bin make-demo-snapshot`"
    );
}
