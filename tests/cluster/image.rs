//! The container image `.ci/image.sh` builds (OCI layout from
//! `STEPSCALE_TEST_IMAGE=DIR:TAG`): its config (non-root user, entrypoint, no
//! shell), no world-writable path, its size, and the binary inside started by
//! a real OCI runtime (runc, Debian's package) as uid 65532 on a read-only
//! root filesystem, talking to the real API server and answering `/healthz`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{cluster, TestNamespace};

/// (OCI layout directory, tag), from `.ci/image.sh`.
fn image(test: &str) -> Option<(PathBuf, String)> {
    match std::env::var("STEPSCALE_TEST_IMAGE") {
        Ok(v) if v.contains(':') => {
            let (dir, tag) = v.rsplit_once(':').expect("DIR:TAG");
            Some((PathBuf::from(dir), tag.to_string()))
        }
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "{test}: CI=true but STEPSCALE_TEST_IMAGE is not set; `bash .ci/image.sh` builds the image and prints it"
            );
            eprintln!("{test}: skipped: STEPSCALE_TEST_IMAGE is not set (`bash .ci/image.sh`)");
            None
        }
    }
}

fn blob(layout: &Path, digest: &str) -> PathBuf {
    let (algo, hex) = digest.split_once(':').expect("algo:hex");
    layout.join("blobs").join(algo).join(hex)
}

fn json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).expect("read")).expect("JSON")
}

fn http_get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

#[test]
fn the_image_is_non_root_without_a_shell_or_writable_paths_and_small() {
    let Some((layout, tag)) =
        image("the_image_is_non_root_without_a_shell_or_writable_paths_and_small")
    else {
        return;
    };
    let index = json(&layout.join("index.json"));
    let manifest = index["manifests"]
        .as_array()
        .expect("manifests")
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag.as_str())
        .expect("the tag");
    let manifest = json(&blob(&layout, manifest["digest"].as_str().expect("digest")));
    let config = json(&blob(
        &layout,
        manifest["config"]["digest"].as_str().expect("config"),
    ));
    assert_eq!(config["config"]["User"], "65532:65532");
    assert_eq!(
        config["config"]["Entrypoint"],
        serde_json::json!(["/stepscale"])
    );
    assert_eq!(config["config"]["Cmd"], serde_json::json!(["operator"]));
    let mut size = 0u64;
    let mut paths = Vec::new();
    for layer in manifest["layers"].as_array().expect("layers") {
        size += layer["size"].as_u64().expect("size");
        let file = blob(&layout, layer["digest"].as_str().expect("digest"));
        let out = Command::new("tar")
            .args(["-tvzf"])
            .arg(&file)
            .output()
            .expect("tar runs");
        assert!(out.status.success());
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let mode = line.split_whitespace().next().unwrap_or("");
            let path = line.split_whitespace().last().unwrap_or("").to_string();
            // Others may write nowhere (symlinks always show rwx).
            assert!(
                mode.starts_with('l') || mode.chars().nth(8) != Some('w'),
                "world-writable: {line}"
            );
            paths.push(path);
        }
    }
    for p in [
        "stepscale",
        "etc/ssl/certs/ca-certificates.crt",
        "etc/passwd",
        // Predictive schedules load IANA zones from here.
        "usr/share/zoneinfo/Europe/Berlin",
        "usr/share/zoneinfo/America/New_York",
    ] {
        assert!(
            paths.iter().any(|q| q.trim_start_matches("./") == p),
            "{p} missing in {paths:?}"
        );
    }
    assert!(
        !paths
            .iter()
            .any(|p| p.ends_with("bin/sh") || p.ends_with("bin/bash")),
        "no shell: {paths:?}"
    );
    eprintln!(
        "image {tag}: {} layer(s), {:.1} MB compressed",
        manifest["layers"].as_array().map_or(0, Vec::len),
        size as f64 / 1e6
    );
    assert!(size < 40_000_000, "{size} bytes: above the 40 MB aim");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_image_runs_as_65532_on_a_read_only_root_and_answers_healthz() {
    let test = "the_image_runs_as_65532_on_a_read_only_root_and_answers_healthz";
    let Some(client) = cluster("image").await else {
        return;
    };
    let Some((layout, tag)) = image(test) else {
        return;
    };
    let kubeconfig = std::env::var("KUBECONFIG").expect("KUBECONFIG");
    let ns = TestNamespace::new(client, "image").await;
    let dir = std::env::temp_dir().join(format!("stepscale-image-{}", ns.name));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let bundle = dir.join("bundle");
    let out = Command::new("umoci")
        .args(["unpack", "--image"])
        .arg(format!("{}:{tag}", layout.display()))
        .arg(&bundle)
        .output()
        .expect("umoci runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The runtime config umoci made from the image config; the user and the
    // entrypoint come from the image. A pod's read-only root, the host
    // network (to reach the loopback API server), the kubeconfig and an
    // emptyDir-like cache are added as Kubernetes would.
    let port = 18_000 + (std::process::id() % 1000) as u16;
    let config_path = bundle.join("config.json");
    let mut config = json(&config_path);
    assert_eq!(config["process"]["user"]["uid"], 65532);
    assert_eq!(config["process"]["args"][0], "/stepscale");
    config["root"]["readonly"] = true.into();
    let namespaces: Vec<Value> = config["linux"]["namespaces"]
        .as_array()
        .expect("namespaces")
        .iter()
        .filter(|n| n["type"] != "network")
        .cloned()
        .collect();
    config["linux"]["namespaces"] = namespaces.into();
    config["process"]["terminal"] = false.into();
    config["process"]["args"] = serde_json::json!([
        "/stepscale",
        "operator",
        "--http-address",
        format!("127.0.0.1:{port}"),
        "--no-leader-election"
    ]);
    let env = config["process"]["env"].as_array_mut().expect("env");
    for e in [
        "KUBECONFIG=/kubeconfig".to_string(),
        format!("POD_NAMESPACE={}", ns.name),
        format!("STEPSCALE_NAMESPACES={}", ns.name),
        "STEPSCALE_CACHE_DIR=/var/cache/stepscale/components".to_string(),
        // Refused at startup unless the image carries the tz database.
        "STEPSCALE_TIMEZONE=Europe/Berlin".to_string(),
    ] {
        env.push(e.into());
    }
    let mounts = config["mounts"].as_array_mut().expect("mounts");
    mounts.push(
        serde_json::json!({"destination": "/kubeconfig", "type": "bind",
        "source": kubeconfig, "options": ["rbind", "ro"]}),
    );
    mounts.push(serde_json::json!({"destination": "/var/cache/stepscale", "type": "tmpfs",
        "source": "tmpfs", "options": ["nosuid", "nodev", "mode=0700", "uid=65532", "gid=65532", "size=64m"]}));
    std::fs::write(&config_path, config.to_string()).expect("write config");

    let id = format!("stepscale-{}", &ns.name[ns.name.len() - 6..]);
    let log = std::fs::File::create(dir.join("container.log")).expect("log");
    let status = Command::new("runc")
        .args(["run", "-d", "--bundle"])
        .arg(&bundle)
        .arg(&id)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .status()
        .expect("runc runs");
    assert!(status.success(), "runc run failed; see {}", dir.display());
    let stop = || {
        let _ = Command::new("runc").args(["kill", &id, "KILL"]).status();
        std::thread::sleep(Duration::from_millis(300));
        let _ = Command::new("runc").args(["delete", "-f", &id]).status();
    };
    let state = Command::new("runc")
        .args(["state", &id])
        .output()
        .expect("runc state");
    let pid = serde_json::from_slice::<Value>(&state.stdout)
        .ok()
        .and_then(|s| s["pid"].as_u64());
    let started = Instant::now();
    let mut health = None;
    while started.elapsed() < Duration::from_secs(30) {
        health = http_get(port, "/healthz");
        if health.as_deref().is_some_and(|h| h.contains("200")) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let status_file = pid.and_then(|p| std::fs::read_to_string(format!("/proc/{p}/status")).ok());
    let mountinfo = pid.and_then(|p| std::fs::read_to_string(format!("/proc/{p}/mountinfo")).ok());
    let log = std::fs::read_to_string(dir.join("container.log")).unwrap_or_default();
    stop();
    let health = health.unwrap_or_default();
    assert!(
        health.contains("200") && health.ends_with("ok"),
        "/healthz: {health:?}\n{log}"
    );
    let uid = status_file
        .as_deref()
        .and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).map(String::from))
        .unwrap_or_default();
    assert!(
        uid.split_whitespace().skip(1).all(|u| u == "65532"),
        "{uid}"
    );
    let root = mountinfo
        .as_deref()
        .and_then(|m| {
            m.lines()
                .find(|l| l.split_whitespace().nth(4) == Some("/"))
                .map(String::from)
        })
        .unwrap_or_default();
    assert!(
        root.split_whitespace()
            .nth(5)
            .is_some_and(|o| o.split(',').any(|f| f == "ro")),
        "the root is mounted read-only: {root}"
    );
    assert!(log.contains("operator starting"), "{log}");
    let _ = std::fs::remove_dir_all(&dir);
    ns.cleanup().await;
}
