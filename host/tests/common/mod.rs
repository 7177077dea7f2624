//! Helpers shared by the host's integration tests.

use std::path::PathBuf;

fn on_path(tool: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
}

/// The tool, or `None` after saying why `test` is skipped (a panic in CI:
/// `.ci/tools.sh` provisions every tool these tests use).
pub fn tool(tool: &str, test: &str) -> Option<PathBuf> {
    if let Some(p) = on_path(tool) {
        return Some(p);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{test}: CI=true but `{tool}` is not on PATH; .ci/run provisions it with `bash .ci/tools.sh up`");
    }
    eprintln!(
        "{test}: SKIPPED: `{tool}` is not on PATH. Run `bash .ci/tools.sh up` and export the PATH it prints."
    );
    None
}
