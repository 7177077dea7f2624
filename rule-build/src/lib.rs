//! Builds rule crates into WebAssembly components.
//!
//! A rule crate is an ordinary `cdylib` crate; `cargo build --target
//! wasm32-wasip2` of such a crate already yields a component. This crate runs
//! that build in a child `cargo` with a target directory of its own, so it can
//! be called from a build script or from a running test without waiting on the
//! lock of the outer build. It owns nothing else: loading, checking and running
//! components is the engine's job.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The Rust target rule components are built for.
pub const RULE_TARGET: &str = "wasm32-wasip2";

/// Linear memory a component built here starts with, bytes: more than a
/// builtin rule uses over a 7-day 1-minute history (1.8 MiB at most,
/// measured), so such a call never grows its memory. The engine gives each
/// call a fresh instance, which starts again from this size, and every
/// growth past it is an `mprotect` (with a TLB flush on every core); from
/// the default of about 1 MiB, a call took about nine `mprotect` calls
/// (its growths, and shrinking the slot back for the next). A call's
/// memory cap must allow at least this much.
pub const INITIAL_MEMORY_BYTES: u64 = 4 << 20;

/// The `rustflags` entry that gives a `wasm32-wasip2` build
/// [`INITIAL_MEMORY_BYTES`] of initial memory (for a rule crate's own
/// `.cargo/config.toml`: `[target.wasm32-wasip2] rustflags = [...]`).
pub fn initial_memory_flag() -> String {
    format!("-Clink-arg=--initial-memory={INITIAL_MEMORY_BYTES}")
}

/// A failed component build.
#[derive(Debug)]
pub struct BuildError {
    /// What was being built (a manifest path).
    pub what: String,
    /// Why it failed, with the fix when known.
    pub message: String,
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "building rule {}: {}", self.what, self.message)
    }
}

impl std::error::Error for BuildError {}

/// The package name declared in a crate's `Cargo.toml` (`[package] name`).
///
/// # Errors
/// The manifest cannot be read or has no `name = "…"` line in `[package]`.
pub fn package_name(manifest: &Path) -> Result<String, BuildError> {
    let text = std::fs::read_to_string(manifest).map_err(|e| BuildError {
        what: manifest.display().to_string(),
        message: format!("cannot read manifest: {e}"),
    })?;
    let mut in_package = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_package = line == "[package]";
            continue;
        }
        if in_package {
            if let Some(rest) = line.strip_prefix("name") {
                if let Some(value) = rest.trim_start().strip_prefix('=') {
                    return Ok(value.trim().trim_matches('"').to_string());
                }
            }
        }
    }
    Err(BuildError {
        what: manifest.display().to_string(),
        message: "no `name` in [package]".into(),
    })
}

/// Builds the rule crates whose manifests are given (release profile, target
/// [`RULE_TARGET`]) into `target_dir` and returns the path of each
/// component, in the order given.
///
/// All manifests must belong to the same Cargo workspace (or be a single
/// standalone crate); they are built in one `cargo` run.
///
/// # Errors
/// - `cargo` cannot be started;
/// - the build fails (the child's output is inherited, so the compiler's
///   messages are shown); a missing target gets the `rustup` command to run;
/// - a build succeeds but a component file is missing.
pub fn build_components(
    manifests: &[PathBuf],
    target_dir: &Path,
) -> Result<Vec<PathBuf>, BuildError> {
    let Some(first) = manifests.first() else {
        return Ok(Vec::new());
    };
    let what = manifests
        .iter()
        .map(|m| m.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let names = manifests
        .iter()
        .map(|m| package_name(m))
        .collect::<Result<Vec<_>, _>>()?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.arg("build")
        .arg("--release")
        .arg("--target")
        .arg(RULE_TARGET)
        .arg("--manifest-path")
        .arg(first)
        .arg("--target-dir")
        .arg(target_dir);
    for name in &names {
        cmd.arg("-p").arg(name);
    }
    // The outer build's flags (coverage, sanitizers, host-only codegen
    // options) must not leak into a wasm build.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_MAKEFLAGS",
        "MAKEFLAGS",
        "MFLAGS",
    ] {
        cmd.env_remove(var);
    }
    // Components are built once and run many times: build them with
    // whole-program optimization (fat LTO, one codegen unit), in this child
    // build only, so the host's release profile (and its build time) is
    // untouched. Measured: 3-10 % faster rules. A caller's own setting in the
    // environment wins.
    for (var, value) in [
        ("CARGO_PROFILE_RELEASE_LTO", "fat"),
        ("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "1"),
        ("CARGO_PROFILE_RELEASE_OPT_LEVEL", "3"),
    ] {
        if std::env::var_os(var).is_none() {
            cmd.env(var, value);
        }
    }
    // A component starts with INITIAL_MEMORY_BYTES of linear memory (a
    // caller's own flags for the target win).
    let target_flags = format!(
        "CARGO_TARGET_{}_RUSTFLAGS",
        RULE_TARGET.to_uppercase().replace('-', "_")
    );
    if std::env::var_os(&target_flags).is_none() {
        cmd.env(target_flags, initial_memory_flag());
    }
    let status = cmd.status().map_err(|e| BuildError {
        what: what.clone(),
        message: format!("cannot run cargo: {e}"),
    })?;
    if !status.success() {
        return Err(BuildError {
            what,
            message: format!(
                "cargo build failed ({status}); if the target is missing, run \
                 `rustup target add {RULE_TARGET}`"
            ),
        });
    }
    names
        .iter()
        .map(|name| {
            let path = target_dir
                .join(RULE_TARGET)
                .join("release")
                .join(format!("{}.wasm", name.replace('-', "_")));
            if path.is_file() {
                Ok(path)
            } else {
                Err(BuildError {
                    what: what.clone(),
                    message: format!(
                        "build succeeded but {} is missing; is the crate a `cdylib`?",
                        path.display()
                    ),
                })
            }
        })
        .collect()
}

/// The Cargo target directory a build script runs under: the nearest
/// ancestor of `OUT_DIR` holding Cargo's `CACHEDIR.TAG`.
pub fn target_dir_of_build_script() -> Option<PathBuf> {
    let out = PathBuf::from(std::env::var_os("OUT_DIR")?);
    out.ancestors()
        .find(|p| p.join("CACHEDIR.TAG").is_file())
        .map(Path::to_path_buf)
}

/// For build scripts: build the rule crates in `crate_dirs` into components
/// and write `OUT_DIR/<out_file>`, a Rust file defining
/// `pub const COMPONENTS: &[(&str, &[u8])]` (package name, component bytes)
/// and one `pub const <NAME>: &str` path constant per component (the package
/// name upper-cased with `_`, suffixed `_WASM`). Also prints the
/// `rerun-if-changed` lines for the crates and `watch` (e.g. the WIT and SDK
/// directories).
///
/// # Errors
/// As [`build_components`], or when `OUT_DIR` is not set / not writable.
pub fn embed_components(
    crate_dirs: &[PathBuf],
    watch: &[PathBuf],
    out_file: &str,
) -> Result<(), BuildError> {
    let fail = |message: String| BuildError {
        what: out_file.to_string(),
        message,
    };
    for dir in crate_dirs.iter().chain(watch) {
        println!("cargo:rerun-if-changed={}", dir.display());
    }
    let out_dir = PathBuf::from(
        std::env::var_os("OUT_DIR").ok_or_else(|| fail("OUT_DIR is not set".into()))?,
    );
    let target = target_dir_of_build_script()
        .unwrap_or_else(|| out_dir.clone())
        .join("stepscale-rules-wasm");
    let manifests: Vec<PathBuf> = crate_dirs.iter().map(|d| d.join("Cargo.toml")).collect();
    let paths = build_components(&manifests, &target)?;
    let mut code = String::from("/// Components built from the rule crates: (package name, bytes).\npub const COMPONENTS: &[(&str, &[u8])] = &[\n");
    let mut consts = String::new();
    for (manifest, path) in manifests.iter().zip(&paths) {
        let name = package_name(manifest)?;
        code.push_str(&format!(
            "    ({name:?}, include_bytes!({:?})),\n",
            path.display().to_string()
        ));
        consts.push_str(&format!(
            "/// Path of the `{name}` component.\npub const {}_WASM: &str = {:?};\n",
            name.to_uppercase().replace('-', "_"),
            path.display().to_string()
        ));
    }
    code.push_str("];\n");
    code.push_str(&consts);
    std::fs::write(out_dir.join(out_file), code).map_err(|e| fail(format!("cannot write: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_package_name_not_a_dependency_name() {
        let dir = std::env::temp_dir().join(format!("rule-build-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir is writable");
        let manifest = dir.join("Cargo.toml");
        std::fs::write(
            &manifest,
            "[dependencies]\nname = \"not-me\"\n\n[package]\nversion = \"1\"\nname = \"my-rule\"\n",
        )
        .expect("temp file is writable");
        assert_eq!(package_name(&manifest).expect("has a name"), "my-rule");
        std::fs::remove_dir_all(&dir).ok();
    }
}
