//! On-disk cache of compiled plugin code.
//!
//! Compiling a component costs 100–200 ms (seconds in a debug build); loading precompiled code
//! costs well under a millisecond. Entries are keyed by the SHA-256 of the wasm bytes, the
//! wasmtime version and a hash of the engine settings, and end with a SHA-256 of their own
//! content: `Component::deserialize` trusts its input, so an entry that does not verify
//! (truncated, corrupted, written by another build) is recompiled and replaced, never loaded.
//! Writes go to a temp file in the same directory and are renamed into place, so concurrent
//! runs never see half an entry.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};
use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Environment variable that overrides the cache location (`off` disables the cache).
pub const CACHE_ENV: &str = "MODELPACK_CACHE_DIR";

/// A directory of `.cwasm` files.
#[derive(Debug, Clone)]
pub struct CodeCache {
    dir: PathBuf,
}

impl CodeCache {
    /// The cache under `$MODELPACK_CACHE_DIR`, else the user cache dir; `None` when disabled.
    pub fn from_env() -> Option<CodeCache> {
        match std::env::var_os(CACHE_ENV) {
            Some(v) if v == "off" => None,
            Some(v) if !v.is_empty() => Some(CodeCache {
                dir: PathBuf::from(v),
            }),
            _ => dirs::cache_dir().map(|d| CodeCache {
                dir: d.join("modelpack").join("compiled"),
            }),
        }
    }

    /// A cache in a given directory.
    pub fn at(dir: impl Into<PathBuf>) -> CodeCache {
        CodeCache { dir: dir.into() }
    }

    /// Where entries live.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn key(engine: &Engine, wasm: &[u8]) -> String {
        let mut settings = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut settings);
        let digest = Sha256::digest(wasm);
        format!(
            "{}-wasmtime{}-{:016x}.cwasm",
            hex::encode(&digest[..16]),
            wasmtime_version(),
            settings.finish()
        )
    }

    /// Loads the compiled component for `wasm`, compiling and storing it on a miss.
    /// Returns whether it was a cache hit.
    pub fn load_or_compile(&self, engine: &Engine, wasm: &[u8]) -> Result<(Component, bool)> {
        let path = self.dir.join(Self::key(engine, wasm));
        if let Some(component) = self.try_load(engine, &path) {
            return Ok((component, true));
        }
        let code = engine
            .precompile_component(wasm)
            .map_err(|e| anyhow!("compiling plugin: {e}"))?;
        // SAFETY: `code` was produced just now by this engine.
        let component =
            unsafe { Component::deserialize(engine, &code) }.map_err(|e| anyhow!("{e}"))?;
        if let Err(e) = self.store(&path, &code) {
            // A read-only or full cache dir costs speed, not correctness.
            eprintln!(
                "warning: cannot write plugin cache {}: {e:#}",
                self.dir.display()
            );
        }
        Ok((component, false))
    }

    fn try_load(&self, engine: &Engine, path: &Path) -> Option<Component> {
        let bytes = std::fs::read(path).ok()?;
        let (code, tag) = bytes.split_at_checked(bytes.len().checked_sub(32)?)?;
        if Sha256::digest(code).as_slice() != tag {
            return None;
        }
        // SAFETY: the entry verified against the checksum this cache wrote after compiling it
        // with an engine of the same version and settings (both are in the file name); the
        // deserializer still checks the version and settings itself.
        unsafe { Component::deserialize(engine, code) }.ok()
    }

    fn store(&self, path: &Path, code: &[u8]) -> Result<()> {
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("creating {}", self.dir.display()))?;
        let mut tmp = tempfile::NamedTempFile::new_in(&self.dir)?;
        std::io::Write::write_all(&mut tmp, code)?;
        std::io::Write::write_all(&mut tmp, &Sha256::digest(code))?;
        tmp.persist(path).map_err(|e| e.error)?;
        Ok(())
    }
}

fn wasmtime_version() -> &'static str {
    // The deserializer rejects code from another wasmtime anyway (and the compatibility hash
    // covers it); the major version in the name keeps builds from overwriting each other.
    "48"
}
