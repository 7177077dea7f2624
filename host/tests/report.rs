//! `stepscale analyze --report DIR` writes one self-contained HTML page that
//! headless Chromium (Debian's `chromium`) renders without errors. Without
//! chromium on PATH the rendering part is skipped with the reason; in CI
//! (`CI=true`) that is a failure (.ci/tools.sh installs it).

use std::path::PathBuf;
use std::process::Command;

mod common;

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("stepscale-report-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn the_report_is_self_contained_and_renders_in_headless_chromium() {
    let dir = temp_dir("demo");
    let out = Command::new(env!("CARGO_BIN_EXE_stepscale"))
        .args(["analyze", "--report"])
        .arg(&dir)
        .env("STEPSCALE_CACHE_DIR", dir.join("cache"))
        .output()
        .expect("stepscale runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let page = dir.join("index.html");
    let html = std::fs::read_to_string(&page).expect("index.html written");
    // One section per demo workload, each with its charts.
    for w in [
        "shop/checkout",
        "rides/dispatch",
        "batch/ingest",
        "cache/sessions",
    ] {
        assert!(html.contains(w), "no section for {w}");
    }
    assert!(
        html.matches("<svg").count() >= 8,
        "history and forecast charts"
    );
    assert!(html.contains("replicas, proposed (replay)"));
    assert!(html.contains("Alternatives (fit part)"));
    // Nothing is fetched: no script, stylesheet link, image or URL other
    // than the SVG namespace.
    for banned in ["<script", "<link", "<img", "src=", "url(", "https://"] {
        assert!(!html.contains(banned), "the report contains {banned:?}");
    }
    assert!(
        html.replace("http://www.w3.org/2000/svg", "")
            .find("http://")
            .is_none(),
        "the report names a URL"
    );

    let Some(chromium) = common::tool("chromium", "report rendering") else {
        return;
    };
    let shot = dir.join("report.png");
    let run = |extra: &[&str]| {
        Command::new(&chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--enable-logging=stderr",
                "--v=0",
            ])
            .arg(format!("--user-data-dir={}", dir.join("profile").display()))
            .args(extra)
            .arg(format!("file://{}", page.display()))
            .output()
            .expect("chromium runs")
    };
    let dom = run(&["--dump-dom"]);
    assert!(
        dom.status.success(),
        "{}",
        String::from_utf8_lossy(&dom.stderr)
    );
    let rendered = String::from_utf8_lossy(&dom.stdout);
    assert!(
        rendered.contains("shop/checkout"),
        "the DOM lacks the sections"
    );
    assert!(rendered.contains("<path"), "the DOM lacks the charts");
    let log = String::from_utf8_lossy(&dom.stderr).to_string();
    for error in ["Uncaught", "Failed to load resource", "net::ERR_"] {
        assert!(!log.contains(error), "chromium reported {error:?}:\n{log}");
    }
    let png = run(&[
        "--window-size=1000,2000",
        &format!("--screenshot={}", shot.display()),
    ]);
    assert!(
        png.status.success(),
        "{}",
        String::from_utf8_lossy(&png.stderr)
    );
    let bytes = std::fs::read(&shot).expect("screenshot written");
    assert!(
        bytes.len() > 10_000 && bytes.starts_with(b"\x89PNG"),
        "{} bytes",
        bytes.len()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
