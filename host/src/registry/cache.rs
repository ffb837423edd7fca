//! What transfers keep between runs, in the user's cache directory (`$MODELPACK_CACHE_DIR`,
//! else `<user cache dir>/modelpack`; `MODELPACK_CACHE_DIR=off` keeps nothing):
//!
//! - `partial/<hex>.part`: the downloaded prefix of a blob a pull did not finish. It is never
//!   trusted: a resumed pull re-hashes it, fetches the rest with a Range request, and only a
//!   full digest match moves it into the pulled layout. It lives here, not beside the output,
//!   because staging beside outputs is swept once its owner is gone. One process at a time
//!   owns a part file (an exclusive `flock`); a second pull of the same blob meanwhile
//!   downloads without resuming.
//! - `blob-locations.json`: the repositories of each registry where a blob was last pushed or
//!   pulled (like skopeo's blob-info cache), so a push to a new repository can ask the
//!   registry to mount the blob instead of uploading it. Only a hint: a wrong entry costs one
//!   refused mount.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use crate::oci::digest::Digest;

/// Repositories remembered per blob and registry.
const REPOS_PER_BLOB: usize = 4;
/// Blobs remembered (the oldest are forgotten first).
const MAX_BLOBS: usize = 10_000;
const LOCATIONS_FILE: &str = "blob-locations.json";

/// The transfer cache directory, or `None` when disabled or there is no user cache dir.
pub fn root() -> Option<PathBuf> {
    match std::env::var_os(crate::plugin::cache::CACHE_ENV) {
        Some(v) if v == "off" => None,
        Some(v) if !v.is_empty() => Some(PathBuf::from(v)),
        _ => dirs::cache_dir().map(|d| d.join("modelpack")),
    }
}

pub(super) fn private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// A blob's part file, owned by this process until dropped.
pub struct Partial {
    /// `partial/<hex>.part` in the cache.
    pub path: PathBuf,
    /// Open for reading and writing, locked.
    pub file: File,
}

impl Partial {
    /// Opens (creating) the part file of `digest`; `None` when there is no cache, it cannot be
    /// opened, or another process holds it.
    pub fn open(digest: &Digest) -> Option<Partial> {
        let dir = root()?.join("partial");
        private_dir(&dir).ok()?;
        let path = dir.join(format!("{}.part", digest.hex()));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            // A symlink planted in the cache is not followed.
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .ok()?;
        // SAFETY: flock on a file descriptor we own; released when the file is closed.
        let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0;
        if !locked || !file.metadata().ok()?.is_file() {
            return None;
        }
        Some(Partial { path, file })
    }

    /// Moves the (verified) part file to `dest`: a rename, or a copy across file systems.
    pub fn finish(self, dest: &Path) -> std::io::Result<()> {
        if std::fs::rename(&self.path, dest).is_err() {
            std::fs::copy(&self.path, dest)?;
            std::fs::remove_file(&self.path)?;
        }
        Ok(())
    }

    /// Forgets the kept prefix (it did not verify).
    pub fn discard(self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// registry → repositories, per blob digest; the most recent first.
type Locations = BTreeMap<String, Vec<(String, String)>>;

fn load(path: &Path) -> Locations {
    std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// Repositories of `registry` where `digest` was last seen, most recent first.
pub fn locations(registry: &str, digest: &Digest) -> Vec<String> {
    let Some(dir) = root() else {
        return Vec::new();
    };
    load(&dir.join(LOCATIONS_FILE))
        .get(&digest.to_string())
        .map(|v| {
            v.iter()
                .filter(|(r, _)| r == registry)
                .map(|(_, repo)| repo.clone())
                .collect()
        })
        .unwrap_or_default()
}

/// Records that `digests` are in `registry/repo` (best effort: a cache that cannot be written
/// only costs a later upload). Written to a temporary file and renamed, so readers never see
/// half a file; concurrent writers may lose each other's entries, which is harmless.
pub fn remember(registry: &str, repo: &str, digests: &[Digest]) {
    let Some(dir) = root() else {
        return;
    };
    if private_dir(&dir).is_err() {
        return;
    }
    let path = dir.join(LOCATIONS_FILE);
    let mut all = load(&path);
    for d in digests {
        let v = all.entry(d.to_string()).or_default();
        v.retain(|(r, p)| !(r == registry && p == repo));
        v.insert(0, (registry.to_string(), repo.to_string()));
        v.truncate(REPOS_PER_BLOB);
    }
    while all.len() > MAX_BLOBS {
        // No timestamps kept: forget an arbitrary (the first) entry.
        let Some(k) = all.keys().next().cloned() else {
            break;
        };
        all.remove(&k);
    }
    let Ok(mut tmp) = tempfile::NamedTempFile::new_in(&dir) else {
        return;
    };
    let Ok(bytes) = serde_json::to_vec(&all) else {
        return;
    };
    if tmp.write_all(&bytes).is_ok() {
        let _ = tmp.persist(&path);
    }
}
