//! Regenerate `host/data/demo-snapshot.json` from the NAB series:
//! `cargo run -p stepscale-tests --bin make-demo-snapshot`.
fn main() {
    let out =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../host/data/demo-snapshot.json");
    match stepscale_tests::demo::demo_snapshot_json(&stepscale_tests::demo::nab_dir()) {
        Ok(json) => {
            if let Err(e) = std::fs::write(&out, json) {
                eprintln!("make-demo-snapshot: {}: {e}", out.display());
                std::process::exit(1);
            }
            println!("wrote {}", out.display());
        }
        Err(e) => {
            eprintln!("make-demo-snapshot: {e}");
            std::process::exit(1);
        }
    }
}
