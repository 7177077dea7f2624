//! The precompiled-component cache: compiling a component with Cranelift
//! takes ~0.1–0.2 s, loading its precompiled artifact well under 1 ms. Files
//! are keyed by the component's SHA-256 and the engine's precompile
//! compatibility hash, so an artifact is only ever loaded into an engine with
//! the same settings (epoch interruption, memory model, wasmtime version).
//!
//! Loading a precompiled artifact trusts its bytes as machine code, so the
//! cache directory must be writable by the operator alone: it is created with
//! mode 0700 and refused if others can write to it.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use wasmtime::component::Component;
use wasmtime::Engine;

/// Where precompiled components are kept, for one engine configuration.
#[derive(Debug, Clone)]
pub struct ComponentCache {
    dir: PathBuf,
    engine_key: String,
}

impl ComponentCache {
    /// Open (create) the cache in `dir` for `engine`.
    ///
    /// Returns `None` (and the caller compiles in memory) when the directory
    /// cannot be created or is writable by group or others.
    pub fn open(dir: &Path, engine: &Engine) -> Option<ComponentCache> {
        if let Err(e) = create_private_dir(dir) {
            tracing::warn!(dir = %dir.display(), error = %e, "component cache disabled");
            return None;
        }
        let mut h = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut h);
        Some(ComponentCache {
            dir: dir.to_path_buf(),
            engine_key: format!("{:016x}", h.finish()),
        })
    }

    fn path_for(&self, digest: &str) -> PathBuf {
        self.dir.join(format!("{digest}-{}.cwasm", self.engine_key))
    }

    /// The component for `bytes` (with SHA-256 `digest`), from the cache when
    /// present, else compiled and stored. Returns whether it was a cache hit.
    ///
    /// # Errors
    /// Compilation errors from wasmtime (a cache read or write failure only
    /// falls back to compiling).
    pub fn load(
        &self,
        engine: &Engine,
        digest: &str,
        bytes: &[u8],
    ) -> wasmtime::Result<(Component, bool)> {
        let path = self.path_for(digest);
        if path.is_file() {
            match deserialize(engine, &path) {
                Ok(c) => return Ok((c, true)),
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "ignoring unusable cached component");
                }
            }
        }
        let artifact = engine.precompile_component(bytes)?;
        let component = deserialize_bytes(engine, &artifact)?;
        // A temp name unique to this call, then an atomic rename: a reader
        // never sees a partly written artifact, even with concurrent loads.
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = path.with_extension(format!("tmp{}-{n}", std::process::id()));
        if std::fs::write(&tmp, &artifact)
            .and_then(|()| std::fs::rename(&tmp, &path))
            .is_err()
        {
            let _ = std::fs::remove_file(&tmp);
            tracing::warn!(path = %path.display(), "could not store precompiled component");
        }
        Ok((component, false))
    }
}

/// Read the artifact into memory (not mmap: a file truncated by another
/// process while mapped would fault) and deserialize it.
fn deserialize(engine: &Engine, path: &Path) -> wasmtime::Result<Component> {
    let bytes = std::fs::read(path)?;
    deserialize_bytes(engine, &bytes)
}

#[allow(unsafe_code)]
fn deserialize_bytes(engine: &Engine, artifact: &[u8]) -> wasmtime::Result<Component> {
    // SAFETY: `artifact` was produced by `Engine::precompile_component` on an
    // engine with this engine's compatibility hash (it is in the file name),
    // either a moment ago or earlier into a directory only this user can
    // write (checked in `open`); wasmtime additionally checks the header.
    unsafe { Component::deserialize(engine, artifact) }
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, MetadataExt};
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        let meta = std::fs::metadata(dir)?;
        if meta.mode() & 0o022 != 0 {
            return Err(std::io::Error::other(
                "is writable by group or others; make it private (chmod 700)",
            ));
        }
        Ok(())
    }
    #[cfg(not(unix))]
    {
        std::fs::create_dir_all(dir)
    }
}

/// The default cache directory: `$STEPSCALE_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/stepscale/components`, else
/// `$HOME/.cache/stepscale/components`.
pub fn default_cache_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("STEPSCALE_CACHE_DIR") {
        return Some(PathBuf::from(d));
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("stepscale").join("components"))
}
