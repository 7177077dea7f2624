//! The precompiled-component cache: compiling a component with Cranelift
//! takes ~0.1–0.2 s, loading its precompiled artifact well under 1 ms. Files
//! are keyed by the component's SHA-256 and the engine's precompile
//! compatibility hash, so an artifact is only ever loaded into an engine with
//! the same settings (epoch interruption, memory model, wasmtime version).
//!
//! Loading a precompiled artifact trusts its bytes as machine code, so:
//! - the cache directory must be a real directory (not a symlink), owned by
//!   the current user, with no access for group or others (it is created
//!   with mode 0700); otherwise the cache is disabled and rules are compiled
//!   in memory;
//! - the directory holds a random 32-byte key (`key`, mode 0600), and every
//!   artifact is stored behind an HMAC-SHA256 tag under that key over the
//!   engine key, the component digest and the artifact. A file whose tag
//!   does not verify (altered bytes, a file copied from elsewhere) is never
//!   deserialized: the component is recompiled and the file replaced.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use sha2::Sha256;
use wasmtime::component::Component;
use wasmtime::Engine;

/// Length of the cache key and of each artifact's tag, bytes.
const TAG_LEN: usize = 32;
/// Name of the key file in the cache directory.
const KEY_FILE: &str = "key";

/// Where precompiled components are kept, for one engine configuration.
#[derive(Clone)]
pub struct ComponentCache {
    dir: PathBuf,
    engine_key: String,
    key: [u8; TAG_LEN],
}

impl std::fmt::Debug for ComponentCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the key.
        f.debug_struct("ComponentCache")
            .field("dir", &self.dir)
            .field("engine_key", &self.engine_key)
            .finish_non_exhaustive()
    }
}

impl ComponentCache {
    /// Open (create) the cache in `dir` for `engine`.
    ///
    /// Returns `None` (and the caller compiles in memory) when the directory
    /// cannot be created, is a symlink, is owned by another user, or gives
    /// group or others any access; or when its key cannot be read or made.
    pub fn open(dir: &Path, engine: &Engine) -> Option<ComponentCache> {
        let key = match create_private_dir(dir).and_then(|()| read_or_create_key(dir)) {
            Ok(key) => key,
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "component cache disabled");
                return None;
            }
        };
        let mut h = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut h);
        Some(ComponentCache {
            dir: dir.to_path_buf(),
            engine_key: format!("{:016x}", h.finish()),
            key,
        })
    }

    fn path_for(&self, digest: &str) -> PathBuf {
        self.dir.join(format!("{digest}-{}.cwasm", self.engine_key))
    }

    /// The tag of `artifact` for the component with `digest`.
    fn mac(&self, digest: &str) -> Hmac<Sha256> {
        // A key of any length is accepted by HMAC; this cannot fail.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(self.engine_key.as_bytes());
        mac.update(b"\0");
        mac.update(digest.as_bytes());
        mac.update(b"\0");
        mac
    }

    /// The component for `bytes` (with SHA-256 `digest`), from the cache when
    /// present and its tag verifies, else compiled and stored. Returns
    /// whether it was a cache hit.
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
        match self.read_verified(&path, digest) {
            Ok(Some(artifact)) => match deserialize_verified(engine, &artifact) {
                Ok(c) => return Ok((c, true)),
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "ignoring unusable cached component");
                }
            },
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "ignoring cached component: recompiling");
            }
        }
        let artifact = engine.precompile_component(bytes)?;
        let component = deserialize_verified(engine, &artifact)?;
        let mut file = self
            .mac(digest)
            .chain_update(&artifact)
            .finalize()
            .into_bytes()
            .to_vec();
        file.extend_from_slice(&artifact);
        // A temp name unique to this call, then an atomic rename: a reader
        // never sees a partly written artifact, even with concurrent loads.
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = path.with_extension(format!("tmp{}-{n}", std::process::id()));
        if write_new_private(&tmp, &file)
            .and_then(|()| std::fs::rename(&tmp, &path))
            .is_err()
        {
            let _ = std::fs::remove_file(&tmp);
            tracing::warn!(path = %path.display(), "could not store precompiled component");
        }
        Ok((component, false))
    }

    /// The artifact in `path` once its tag verifies; `Ok(None)` when there
    /// is no such file.
    ///
    /// Read into memory (not mmap: a file truncated by another process while
    /// mapped would fault).
    fn read_verified(&self, path: &Path, digest: &str) -> std::io::Result<Option<Vec<u8>>> {
        let meta = match std::fs::symlink_metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        if !meta.is_file() {
            return Err(std::io::Error::other("is not a regular file"));
        }
        let mut bytes = std::fs::read(path)?;
        if bytes.len() < TAG_LEN {
            return Err(std::io::Error::other("is shorter than its tag"));
        }
        let artifact = bytes.split_off(TAG_LEN);
        self.mac(digest)
            .chain_update(&artifact)
            .verify_slice(&bytes)
            .map_err(|_| std::io::Error::other("its tag does not verify (altered or foreign)"))?;
        Ok(Some(artifact))
    }
}

#[allow(unsafe_code)]
fn deserialize_verified(engine: &Engine, artifact: &[u8]) -> wasmtime::Result<Component> {
    // SAFETY: `artifact` was produced by `Engine::precompile_component` on an
    // engine with this engine's compatibility hash (it is in the file name),
    // either a moment ago or earlier into a private directory of this user,
    // and its HMAC under that directory's private key verified
    // (`read_verified`); wasmtime additionally checks the header.
    unsafe { Component::deserialize(engine, artifact) }
}

/// Write `bytes` to a new file (never through an existing file or symlink)
/// readable by the owner only.
fn write_new_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(bytes)
}

/// The cache key in `dir`, created (32 random bytes, mode 0600) when absent.
fn read_or_create_key(dir: &Path) -> std::io::Result<[u8; TAG_LEN]> {
    let path = dir.join(KEY_FILE);
    match std::fs::symlink_metadata(&path) {
        Ok(meta) => {
            check_private(&meta, "the cache key")?;
            if !meta.is_file() {
                return Err(std::io::Error::other("the cache key is not a regular file"));
            }
            std::fs::read(&path)?
                .as_slice()
                .try_into()
                .map_err(|_| std::io::Error::other("the cache key is not 32 bytes; delete it"))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut key = [0u8; TAG_LEN];
            getrandom::fill(&mut key).map_err(|e| std::io::Error::other(e.to_string()))?;
            write_new_private(&path, &key)?;
            Ok(key)
        }
        Err(e) => Err(e),
    }
}

/// Refuse what another user owns or can access.
fn check_private(meta: &std::fs::Metadata, what: &str) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let me = rustix::process::geteuid().as_raw();
        if meta.uid() != me {
            return Err(std::io::Error::other(format!(
                "{what} is owned by uid {}, not by this user (uid {me}); use a directory of your own",
                meta.uid()
            )));
        }
        if meta.mode() & 0o077 != 0 {
            return Err(std::io::Error::other(format!(
                "{what} gives group or others access (mode {:o}); make it private (chmod 700)",
                meta.mode() & 0o777
            )));
        }
    }
    #[cfg(not(unix))]
    let _ = (meta, what);
    Ok(())
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir)?;
    // lstat: a symlink is refused even when it points at a private
    // directory, since whoever controls the link controls the target.
    let meta = std::fs::symlink_metadata(dir)?;
    if meta.file_type().is_symlink() {
        return Err(std::io::Error::other(
            "is a symlink; give the real directory",
        ));
    }
    if !meta.is_dir() {
        return Err(std::io::Error::other("is not a directory"));
    }
    check_private(&meta, "the cache directory")
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
