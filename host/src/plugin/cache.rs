//! On-disk cache of compiled plugin code.
//!
//! Compiling a component costs 100–200 ms (seconds in a debug build); loading precompiled code
//! costs well under a millisecond. Entries are keyed by the SHA-256 of the wasm bytes, the
//! wasmtime version and a hash of the engine settings, and end with a CRC-32 of their own
//! content: `Component::deserialize` trusts its input, so an entry that does not verify
//! (truncated, corrupted, written by another build) is recompiled and replaced, never loaded.
//! Writes go to a temp file in the same directory, are flushed to disk and renamed into place,
//! so concurrent runs never see half an entry and a crash leaves none.
//!
//! Loading is on the path of every run (`generate` on a small model loads four plugins), so
//! it copies nothing: the entry is checked through one small reused buffer, then mapped by
//! wasmtime (`Component::deserialize_file`) through the same open file, so what is mapped is
//! the inode that was checked. A CRC rather than SHA-256: the checksum guards against
//! accidents, not attackers (whoever can write the cache could write a matching digest too),
//! and costs a tenth of the time.

use std::hash::{Hash, Hasher};
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};
use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Environment variable that overrides the cache location (`off` disables the cache).
pub const CACHE_ENV: &str = "MODELPACK_CACHE_DIR";

/// Length of the checksum that ends every entry.
const TAG: usize = 4;

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
        // `crc`: entries end with a CRC-32 (earlier builds wrote a SHA-256 under other names).
        format!(
            "{}-wasmtime{}-{:016x}-crc.cwasm",
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
        let mut file = std::fs::File::open(path).ok()?;
        if !verifies(&mut file)? {
            return None;
        }
        // SAFETY: the open file verified against the checksum this cache wrote (after an fsync)
        // for code it compiled with an engine of the same version and settings (both are in the
        // file name); the deserializer still checks the version and settings itself. The path
        // names the open file itself, so the mapped inode is the verified one; entries are only
        // ever replaced by a rename, never rewritten in place, so it does not change while
        // mapped. The checksum after the ELF image is ignored by the ELF reader.
        unsafe { Component::deserialize_file(engine, open_file_path(&file)) }.ok()
    }

    fn store(&self, path: &Path, code: &[u8]) -> Result<()> {
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("creating {}", self.dir.display()))?;
        let mut tmp = tempfile::NamedTempFile::new_in(&self.dir)?;
        std::io::Write::write_all(&mut tmp, code)?;
        std::io::Write::write_all(&mut tmp, &crc32fast::hash(code).to_le_bytes())?;
        // On disk before it has its name: a crash must not leave a named entry of zeros.
        tmp.as_file().sync_all()?;
        tmp.persist(path).map_err(|e| e.error)?;
        Ok(())
    }
}

/// Whether an entry's content matches the CRC-32 at its end; `None` when it cannot be read.
fn verifies(file: &mut std::fs::File) -> Option<bool> {
    let len = usize::try_from(file.metadata().ok()?.len()).ok()?;
    let Some(mut left) = len.checked_sub(TAG) else {
        return Some(false);
    };
    let mut crc = crc32fast::Hasher::new();
    let mut buf = vec![0u8; 256 << 10];
    while left > 0 {
        let want = left.min(buf.len());
        let n = file.read(&mut buf[..want]).ok()?;
        if n == 0 {
            return Some(false);
        }
        crc.update(&buf[..n]);
        left -= n;
    }
    let mut tag = [0u8; TAG];
    file.read_exact(&mut tag).ok()?;
    Some(crc.finalize() == u32::from_le_bytes(tag))
}

/// A path that opens the very file `file` is (not whatever its name points to now).
fn open_file_path(file: &std::fs::File) -> PathBuf {
    use std::os::fd::AsRawFd;
    let fd = file.as_raw_fd();
    if cfg!(target_os = "linux") {
        PathBuf::from(format!("/proc/self/fd/{fd}"))
    } else {
        PathBuf::from(format!("/dev/fd/{fd}"))
    }
}

fn wasmtime_version() -> &'static str {
    // The deserializer rejects code from another wasmtime anyway (and the compatibility hash
    // covers it); the major version in the name keeps builds from overwriting each other.
    "48"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine() -> Engine {
        Engine::new(&wasmtime::Config::new()).unwrap()
    }

    /// The smallest component: compiles in milliseconds.
    const EMPTY: &[u8] = b"\0asm\x0d\0\x01\0";

    #[test]
    fn entries_that_do_not_verify_are_recompiled_and_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let cache = CodeCache::at(dir.path());
        let engine = engine();
        assert!(!cache.load_or_compile(&engine, EMPTY).unwrap().1);
        assert!(cache.load_or_compile(&engine, EMPTY).unwrap().1);
        let entry = std::fs::read_dir(dir.path())
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let good = std::fs::read(&entry).unwrap();
        let damaged: [(&str, Vec<u8>); 4] = [
            ("one byte flipped", {
                let mut b = good.clone();
                b[good.len() / 2] ^= 0x01;
                b
            }),
            ("truncated", good[..good.len() - 100].to_vec()),
            ("zeros", vec![0; good.len()]),
            ("shorter than the checksum", vec![1, 2]),
        ];
        for (what, bytes) in damaged {
            std::fs::write(&entry, &bytes).unwrap();
            let (_, hit) = cache.load_or_compile(&engine, EMPTY).unwrap();
            assert!(!hit, "{what}: loaded instead of recompiled");
            assert_eq!(std::fs::read(&entry).unwrap(), good, "{what}: not replaced");
        }
        assert!(cache.load_or_compile(&engine, EMPTY).unwrap().1);
    }
}
