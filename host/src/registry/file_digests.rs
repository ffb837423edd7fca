//! Digests of local files remembered between runs, so that `pack --push` of files it pushed
//! before can ask the registry for the blob (HEAD, then a cross-repository mount) before
//! reading a byte, and a second push of the same model to another repository sends no blob
//! bytes at all.
//!
//! `file-digests.json` in the transfer cache ([`super::cache::root`]) maps a file's identity
//! (device, inode) to the size, mtime and ctime (nanoseconds) it had when it was hashed, and the
//! SHA-256 of its content. A lookup hits only when all five still match the file's metadata.
//!
//! Why a hit can be trusted, and how far. The digest is only ever used to *skip* an upload:
//! when the registry already has a blob under that digest (a HEAD or a mount hit), it is not
//! re-verified against the file, so a stale entry would name the old content. An entry is
//! stale only if the file's bytes changed while its inode, size, mtime and ctime all stayed
//! the same. Every write, truncation or `utimes` sets ctime to the current time, and no system
//! call sets it back, so that takes deliberate tampering (setting the system clock back, or
//! writing to the block device under the file system). Two ordinary races are closed here:
//! an entry is recorded only when the metadata taken before the read equals the metadata after
//! it (a write during the read changes ctime), and not at all while the file's mtime or ctime
//! is under [`SETTLE`] old, because a file system stores times at a granularity (a clock tick;
//! whole seconds on some) within which a second write would leave them unchanged.
//! `MODELPACK_CACHE_DIR=off` turns the cache off; a wrong or unreadable cache file costs only
//! a full upload.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::oci::digest::Digest;

const FILE: &str = "file-digests.json";
const LOCK: &str = "file-digests.lock";
/// Entries kept (an arbitrary one is forgotten first: a forgotten file is hashed again).
const MAX_ENTRIES: usize = 10_000;
/// A file changed more recently than this is not remembered (see the module doc).
pub const SETTLE: Duration = Duration::from_secs(2);

/// What identifies a file's content without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime_ns: i128,
    ctime_ns: i128,
}

impl Stamp {
    /// The stamp of `path` (symlinks followed), or `None` when it cannot be read.
    pub fn of(path: &Path) -> Option<Stamp> {
        let m = std::fs::metadata(path).ok()?;
        if !m.is_file() {
            return None;
        }
        let ns = |s: i64, n: i64| i128::from(s) * 1_000_000_000 + i128::from(n);
        Some(Stamp {
            dev: m.dev(),
            ino: m.ino(),
            size: m.len(),
            mtime_ns: ns(m.mtime(), m.mtime_nsec()),
            ctime_ns: ns(m.ctime(), m.ctime_nsec()),
        })
    }

    /// The file's size.
    pub fn size(&self) -> u64 {
        self.size
    }

    fn key(&self) -> String {
        format!("{}:{}", self.dev, self.ino)
    }

    /// True when mtime and ctime are both at least [`SETTLE`] before `now`.
    fn settled(&self, now: SystemTime) -> bool {
        let Ok(now) = now.duration_since(UNIX_EPOCH) else {
            return false;
        };
        let limit = now.as_nanos() as i128 - SETTLE.as_nanos() as i128;
        self.mtime_ns <= limit && self.ctime_ns <= limit
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
struct Entry {
    size: u64,
    mtime_ns: i128,
    ctime_ns: i128,
    digest: String,
}

fn load(path: &Path) -> BTreeMap<String, Entry> {
    std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// The remembered files, loaded once per command.
pub struct FileDigests {
    entries: BTreeMap<String, Entry>,
}

impl FileDigests {
    /// Loads the cache (empty when disabled, missing or unreadable).
    pub fn load() -> FileDigests {
        FileDigests::load_from(super::cache::root().as_deref())
    }

    fn load_from(dir: Option<&Path>) -> FileDigests {
        let entries = dir.map(|d| load(&d.join(FILE))).unwrap_or_default();
        FileDigests { entries }
    }

    /// The digest of the file with this stamp, if it was hashed with exactly this stamp.
    pub fn lookup(&self, stamp: &Stamp) -> Option<Digest> {
        let e = self.entries.get(&stamp.key())?;
        if e.size != stamp.size || e.mtime_ns != stamp.mtime_ns || e.ctime_ns != stamp.ctime_ns {
            return None;
        }
        Digest::parse(&e.digest)
    }
}

/// Records digests of files hashed in full, each with its stamps from before and after the
/// read; pairs that differ or are not settled are left out (see the module doc). Best
/// effort: written to a temporary file and renamed, so readers never see half a file, under
/// an exclusive lock on `file-digests.lock`, so concurrent commands keep each other's entries.
pub fn remember(hashed: &[(Stamp, Stamp, Digest)]) {
    remember_at(super::cache::root().as_deref(), hashed, SystemTime::now());
}

fn remember_at(dir: Option<&Path>, hashed: &[(Stamp, Stamp, Digest)], now: SystemTime) {
    let fresh: Vec<_> = hashed
        .iter()
        .filter(|(before, after, _)| before == after && after.settled(now))
        .collect();
    let Some(dir) = dir else {
        return;
    };
    if fresh.is_empty() || super::cache::private_dir(dir).is_err() {
        return;
    }
    let Ok(lock) = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(dir.join(LOCK))
    else {
        return;
    };
    // SAFETY: flock on a file descriptor we own; released when `lock` is closed.
    if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return;
    }
    let path = dir.join(FILE);
    let mut all = load(&path);
    for (_, s, d) in fresh {
        all.insert(
            s.key(),
            Entry {
                size: s.size,
                mtime_ns: s.mtime_ns,
                ctime_ns: s.ctime_ns,
                digest: d.to_string(),
            },
        );
    }
    while all.len() > MAX_ENTRIES {
        let Some(k) = all.keys().next().cloned() else {
            break;
        };
        all.remove(&k);
    }
    let Ok(mut tmp) = tempfile::NamedTempFile::new_in(dir) else {
        return;
    };
    let Ok(bytes) = serde_json::to_vec(&all) else {
        return;
    };
    if tmp.write_all(&bytes).is_ok() {
        let _ = tmp.persist(&path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(mtime_s: i64, ctime_s: i64) -> Stamp {
        Stamp {
            dev: 1,
            ino: 2,
            size: 3,
            mtime_ns: i128::from(mtime_s) * 1_000_000_000,
            ctime_ns: i128::from(ctime_s) * 1_000_000_000,
        }
    }

    #[test]
    fn only_settled_unchanged_files_are_remembered_and_every_field_must_match() {
        let dir = tempfile::tempdir().unwrap();
        let dir = Some(dir.path());
        let d = Digest::of(b"x");
        let now = UNIX_EPOCH + Duration::from_secs(1_000);
        // Changed during the read, then changed 1 s before now: neither is kept.
        remember_at(dir, &[(stamp(10, 10), stamp(10, 11), d)], now);
        remember_at(dir, &[(stamp(999, 999), stamp(999, 999), d)], now);
        assert_eq!(FileDigests::load_from(dir).lookup(&stamp(999, 999)), None);
        assert_eq!(FileDigests::load_from(dir).lookup(&stamp(10, 11)), None);
        remember_at(dir, &[(stamp(10, 11), stamp(10, 11), d)], now);
        let cache = FileDigests::load_from(dir);
        assert_eq!(cache.lookup(&stamp(10, 11)), Some(d));
        // Any other mtime, ctime or size misses.
        assert_eq!(cache.lookup(&stamp(10, 12)), None);
        assert_eq!(cache.lookup(&stamp(9, 11)), None);
        let mut bigger = stamp(10, 11);
        bigger.size += 1;
        assert_eq!(cache.lookup(&bigger), None);
    }
}
