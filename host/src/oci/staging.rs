//! Outputs are built in a hidden staging directory beside their target and renamed into
//! place, so a failed or interrupted run never leaves a half-written layout or tree.
//!
//! - A staging directory is `.modelpack-<what>-XXXXXX` (`what`: pack, unpack, pull) and is
//!   locked (`flock` on the directory itself) for as long as the process that made it lives;
//!   the kernel drops the lock when the process dies, even by SIGKILL.
//! - Every run that stages beside an output first sweeps that directory: a staging directory
//!   whose lock it can take belongs to a dead run and is removed; a locked one is live and
//!   left alone. The sweeper re-checks, holding the lock, that the name still leads to the
//!   inode it locked, and a creator re-checks the same after locking its fresh directory (and
//!   makes another if a sweeper removed it in the instant between `mkdir` and `flock`), so a
//!   live directory is never removed.
//! - Parent directories created for the output are recorded; a failed or interrupted run
//!   removes them again (deepest first, only while empty).
//! - On SIGINT/SIGTERM/SIGHUP the registered cleanup ([`crate::signals`]) removes the staging
//!   directory and those parents; the rename into place runs under [`crate::signals::hold`].
//!
//! Hand-written rather than `tempfile::TempDir` alone: TempDir cannot be shared with a signal
//! handler, locked, or told apart from a live one by another process.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::{Context, Result, bail};

use crate::signals::{self, Registration};

/// Prefix of every staging directory name.
pub const PREFIX: &str = ".modelpack-";
/// The `<what>` parts modelpack stages under.
const KINDS: [&str; 4] = ["pack", "unpack", "pull", "convert"];

/// Refuses an `output` that exists and is anything but an empty directory.
pub fn require_absent_or_empty(output: &Path) -> Result<()> {
    match std::fs::symlink_metadata(output) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("{}", output.display())),
        Ok(m) if m.is_dir() && std::fs::read_dir(output)?.next().is_none() => Ok(()),
        Ok(_) => bail!("{} exists and is not an empty directory", output.display()),
    }
}

/// What a failed or interrupted run removes.
#[derive(Default)]
struct Cleanup {
    staging: Option<PathBuf>,
    /// Parents created for the output, shallowest first.
    created: Vec<PathBuf>,
}

impl Cleanup {
    fn run(&mut self) {
        if let Some(dir) = self.staging.take() {
            // During an interruption worker threads may still add files; retry a few times.
            for _ in 0..5 {
                match std::fs::remove_dir_all(&dir) {
                    Ok(()) => break,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                    Err(_) => {}
                }
            }
        }
        // rmdir only: a parent something else was put into meanwhile stays, with its parents.
        while let Some(d) = self.created.pop() {
            if std::fs::remove_dir(&d).is_err() {
                self.created.clear();
            }
        }
    }
}

fn lock(state: &Mutex<Cleanup>) -> MutexGuard<'_, Cleanup> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

/// A locked staging directory beside an output; removed (with the parents created for the
/// output) when dropped uncommitted or when the process is interrupted.
pub struct Staging {
    path: PathBuf,
    /// The directory's own `flock`, held until commit or drop.
    _lock: Option<File>,
    state: Arc<Mutex<Cleanup>>,
    registration: Option<Registration>,
}

/// A fresh staging directory `.modelpack-<what>-…` in `output`'s parent (created if needed,
/// stale staging directories of dead runs removed first).
pub fn beside(output: &Path, what: &str) -> Result<Staging> {
    debug_assert!(KINDS.contains(&what));
    let parent = match output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let state = Arc::new(Mutex::new(Cleanup::default()));
    let registration = signals::on_interrupt({
        let state = state.clone();
        move || lock(&state).run()
    });
    // From here on, dropping `staging` undoes whatever `state` records.
    let mut staging = Staging {
        path: PathBuf::new(),
        _lock: None,
        state,
        registration: Some(registration),
    };
    create_parents(&parent, &staging.state)
        .with_context(|| format!("creating {}", parent.display()))?;
    sweep(&parent);
    let (path, dir_lock) = create_locked(&parent, what, &staging.state)
        .with_context(|| format!("creating a temporary directory in {}", parent.display()))?;
    staging.path = path;
    staging._lock = dir_lock;
    Ok(staging)
}

impl Staging {
    /// The staging directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Renames the staging directory to `output` (which must not exist or be an empty
    /// directory), as an ordinary 0755 directory. On error the staging directory is kept
    /// (and removed when dropped).
    pub fn commit(&mut self, output: &Path) -> std::io::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        // The temporary directory is created 0700; the output is as readable as any other.
        std::fs::set_permissions(&self.path, std::fs::Permissions::from_mode(0o755))?;
        let mut held = signals::hold();
        std::fs::rename(&self.path, output)?;
        {
            let mut state = lock(&self.state);
            state.staging = None;
            // The created parents now hold the output.
            state.created.clear();
        }
        if let Some(r) = self.registration.take() {
            held.retire(r);
        }
        drop(held);
        self._lock = None;
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        lock(&self.state).run();
    }
}

fn create_parents(parent: &Path, state: &Mutex<Cleanup>) -> std::io::Result<()> {
    let mut missing = Vec::new();
    let mut p = parent;
    loop {
        match std::fs::symlink_metadata(p) {
            Ok(_) => break,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                missing.push(p.to_path_buf());
                match p.parent() {
                    Some(q) if !q.as_os_str().is_empty() => p = q,
                    _ => break,
                }
            }
            Err(e) => return Err(e),
        }
    }
    for d in missing.into_iter().rev() {
        match std::fs::create_dir(&d) {
            Ok(()) => lock(state).created.push(d),
            // Made by someone else meanwhile: theirs, not ours to remove.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn open_dir(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW)
        .open(path)
}

/// Whether `path` still names the directory `f` has open.
fn same_inode(path: &Path, f: &File) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::symlink_metadata(path), f.metadata()) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

fn create_locked(
    parent: &Path,
    what: &str,
    state: &Mutex<Cleanup>,
) -> std::io::Result<(PathBuf, Option<File>)> {
    for _ in 0..16 {
        let dir = tempfile::Builder::new()
            .prefix(&format!("{PREFIX}{what}-"))
            .tempdir_in(parent)?
            .keep();
        lock(state).staging = Some(dir.clone());
        let f = open_dir(&dir)?;
        if f.lock().is_err() {
            // No flock on this file system: a sweeper cannot take the lock either, so it never
            // removes this directory; staleness is then left for the user to judge.
            return Ok((dir, None));
        }
        if same_inode(&dir, &f) {
            return Ok((dir, Some(f)));
        }
        // A sweeping run judged it stale in the instant before we locked it, and removed it.
        lock(state).staging = None;
    }
    Err(std::io::Error::other(
        "another process keeps removing new staging directories",
    ))
}

/// Whether `name` is one of modelpack's staging directory names.
pub fn is_staging_name(name: &str) -> bool {
    name.strip_prefix(PREFIX).is_some_and(|rest| {
        KINDS.iter().any(|k| {
            rest.strip_prefix(k)
                .and_then(|r| r.strip_prefix('-'))
                .is_some_and(|r| !r.is_empty())
        })
    })
}

/// Removes the staging directories in `dir` whose owner is dead (their lock is free).
/// Best effort: what cannot be judged or removed is left as it is.
pub fn sweep(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        if !name.to_str().is_some_and(is_staging_name) {
            continue;
        }
        let path = e.path();
        if remove_if_stale(&path).unwrap_or(false) {
            eprintln!(
                "note: removed {}, left by an interrupted modelpack run",
                path.display()
            );
        }
    }
}

fn remove_if_stale(path: &Path) -> std::io::Result<bool> {
    // O_NOFOLLOW: a symlink that happens to carry such a name is not ours.
    let f = open_dir(path)?;
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid has no preconditions.
    if f.metadata()?.uid() != unsafe { libc::geteuid() } {
        // Someone else's (in a shared directory such as /tmp): not ours to judge.
        return Ok(false);
    }
    if f.try_lock().is_err() {
        // Live (or no flock here): never touched.
        return Ok(false);
    }
    if !same_inode(path, &f) {
        return Ok(false);
    }
    std::fs::remove_dir_all(path)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staging_names() {
        for ok in [
            ".modelpack-pack-abc123",
            ".modelpack-unpack-x",
            ".modelpack-pull-1",
        ] {
            assert!(is_staging_name(ok), "{ok}");
        }
        for bad in [
            ".modelpack-pack-",
            ".modelpack-packx-1",
            "modelpack-pack-1",
            ".modelpack-append.json",
            ".modelpack-push-1",
        ] {
            assert!(!is_staging_name(bad), "{bad}");
        }
    }

    #[test]
    fn live_staging_is_kept_dead_staging_is_swept() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("a/b/out");
        let live = beside(&out, "pack").unwrap();
        assert!(live.path().starts_with(dir.path().join("a/b")));
        // A dead run's directory: same name scheme, nobody holds its lock.
        let dead = dir.path().join("a/b/.modelpack-unpack-dead01");
        std::fs::create_dir_all(dead.join("blobs")).unwrap();
        std::fs::write(dead.join("blobs/x"), b"x").unwrap();
        // A symlink with such a name, and an unrelated hidden directory, are not ours.
        std::os::unix::fs::symlink(dir.path(), dir.path().join("a/b/.modelpack-pull-link"))
            .unwrap();
        std::fs::create_dir(dir.path().join("a/b/.other")).unwrap();

        sweep(&dir.path().join("a/b"));
        assert!(
            live.path().is_dir(),
            "a live staging directory is never removed"
        );
        assert!(!dead.exists());
        assert!(dir.path().join("a/b/.modelpack-pull-link").exists());
        assert!(dir.path().join("a/b/.other").is_dir());

        std::fs::remove_file(dir.path().join("a/b/.modelpack-pull-link")).unwrap();
        std::fs::remove_dir(dir.path().join("a/b/.other")).unwrap();
        drop(live);
        // The parents it created went with it.
        assert!(!dir.path().join("a").exists());
    }

    #[test]
    fn commit_keeps_parents_and_unlocks() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("x/out");
        let mut s = beside(&out, "unpack").unwrap();
        std::fs::write(s.path().join("f"), b"1").unwrap();
        s.commit(&out).unwrap();
        drop(s);
        assert_eq!(std::fs::read(out.join("f")).unwrap(), b"1");
        let f = open_dir(&out).unwrap();
        assert!(f.try_lock().is_ok(), "the lock went with the commit");
    }
}
