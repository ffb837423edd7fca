//! Adding a manifest to an existing layout, safe against the writer dying at any instant.
//!
//! Holding the layout lock (`flock` on the layout directory, taken by every modelpack writer):
//! 1. heal: a journal left by a dead writer is rolled back (below);
//! 2. the journal `.modelpack-append.json` (written aside and renamed, so it is whole or
//!    absent) lists the blobs this append is about to move in: those the layout lacks;
//! 3. the staged blobs are moved into `blobs/sha256/`;
//! 4. `.modelpack-index.json.tmp` is written, synced and renamed over `index.json`;
//! 5. the journal is removed.
//!
//! The layout is valid at every step (blobs are content-addressed; `index.json` changes by one
//! rename). A writer killed between 2 and 5 leaves the journal: the next writer removes the
//! listed blobs that no manifest reachable from `index.json` uses (none, if it died after 4)
//! and the temporary files. Nothing else is ever deleted: a blob is removed only when a journal
//! names it and no manifest references it, so blobs another tool put there stay. `validate`
//! reports a journal; `unpack` and `push` never read it.
//!
//! The lock is waited for outside [`signals::hold`] (Ctrl-C works while another pack holds
//! the layout); steps 1-5 run inside it, so an interruption finds them done or not begun.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use super::digest::Digest;
use super::layout::{self, INDEX_FILE, Layout, MAX_JSON_SIZE, MAX_MANIFEST_SIZE};
use super::{Descriptor, canonical_json};
use crate::signals;

/// The journal of an append in progress (or of one whose writer died).
pub const JOURNAL: &str = ".modelpack-append.json";
const JOURNAL_TMP: &str = ".modelpack-append.json.tmp";
const INDEX_TMP: &str = ".modelpack-index.json.tmp";

/// Moves the blobs in `staged` (a `blobs/sha256` directory of settled blobs) that the layout
/// `output` lacks into it and adds `manifest` under `tag` to its `index.json`; returns the
/// digest of the manifest that had the tag before.
pub fn commit_append(
    staged: &Path,
    output: &Path,
    manifest: &Descriptor,
    tag: &str,
) -> Result<Option<String>> {
    // One writer at a time per layout: concurrent packs would lose each other's index entries.
    let lock =
        std::fs::File::open(output).with_context(|| format!("opening {}", output.display()))?;
    lock.lock()
        .with_context(|| format!("locking {}", output.display()))?;
    let _held = signals::hold();
    heal_locked(output)?;
    let layout = Layout::open(output)?;
    let dest_dir = output.join("blobs").join("sha256");
    std::fs::create_dir_all(&dest_dir)
        .with_context(|| format!("creating {}", dest_dir.display()))?;
    let mut names: Vec<String> = std::fs::read_dir(staged)
        .with_context(|| format!("reading {}", staged.display()))?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<std::io::Result<_>>()?;
    names.sort();
    names.retain(|n| !dest_dir.join(n).exists());
    let added: Vec<Digest> = names
        .iter()
        .map(|n| {
            Digest::parse(&format!("sha256:{n}"))
                .with_context(|| format!("{}: unexpected file {n:?}", staged.display()))
        })
        .collect::<Result<_>>()?;
    write_journal(output, &added)?;

    let mut moved = Vec::new();
    let result = (|| -> Result<Option<String>> {
        for name in &names {
            let dest = dest_dir.join(name);
            std::fs::rename(staged.join(name), &dest)
                .with_context(|| format!("moving blob into {}", dest_dir.display()))?;
            moved.push(dest);
        }
        crash_point("moved");
        let (index, replaced) = layout::index_with(Some(&layout.index), manifest, tag)?;
        let tmp = output.join(INDEX_TMP);
        write_synced(&tmp, &canonical_json(&index))?;
        set_mode(&tmp, 0o644)?;
        std::fs::rename(&tmp, output.join(INDEX_FILE))
            .with_context(|| format!("replacing {}", output.join(INDEX_FILE).display()))?;
        sync_dir(output);
        crash_point("replaced");
        Ok(replaced)
    })();
    if result.is_err() {
        for p in moved {
            let _ = std::fs::remove_file(p);
        }
        let _ = std::fs::remove_file(output.join(INDEX_TMP));
    }
    let _ = std::fs::remove_file(output.join(JOURNAL));
    sync_dir(output);
    result
}

/// Test hook (`MODELPACK_TEST_CRASH_APPEND=moved|replaced`): the process kills itself with
/// SIGKILL at that step, as a power cut or the OOM killer would.
fn crash_point(step: &str) {
    if std::env::var("MODELPACK_TEST_CRASH_APPEND").is_ok_and(|v| v == step) {
        // SAFETY: kill(2) on our own pid has no memory-safety preconditions.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut f =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("writing {}", path.display()))
}

fn set_mode(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("setting permissions of {}", path.display()))
}

/// Makes renames in `dir` durable (best effort: a crash of the process needs none of it, a
/// power cut does).
fn sync_dir(dir: &Path) {
    if let Ok(f) = std::fs::File::open(dir) {
        let _ = f.sync_all();
    }
}

fn write_journal(root: &Path, blobs: &[Digest]) -> Result<()> {
    let tmp = root.join(JOURNAL_TMP);
    let list: Vec<String> = blobs.iter().map(Digest::to_string).collect();
    write_synced(&tmp, &canonical_json(&json!({ "blobs": list })))?;
    std::fs::rename(&tmp, root.join(JOURNAL))
        .with_context(|| format!("writing {}", root.join(JOURNAL).display()))?;
    sync_dir(root);
    Ok(())
}

/// The blobs a journal in `root` names; `Ok(None)` without a journal.
fn read_journal(root: &Path) -> Result<Option<Vec<Digest>>> {
    let path = root.join(JOURNAL);
    if std::fs::symlink_metadata(&path).is_err() {
        return Ok(None);
    }
    let bytes = layout::read_capped(&path, MAX_JSON_SIZE)?;
    let v: Value =
        serde_json::from_slice(&bytes).with_context(|| format!("{}: not JSON", path.display()))?;
    let Some(list) = v.get("blobs").and_then(Value::as_array) else {
        bail!("{}: no blobs array", path.display());
    };
    // Digest::parse only admits canonical sha256 digests, so a tampered journal can never
    // name a path outside blobs/sha256.
    list.iter()
        .map(|d| {
            let s = d.as_str().unwrap_or("");
            Digest::parse(s).with_context(|| format!("{}: bad digest {s:?}", path.display()))
        })
        .collect::<Result<_>>()
        .map(Some)
}

/// How many blobs an interrupted append left listed in `root`'s journal, if there is one
/// (what `validate` reports).
pub fn interrupted(root: &Path) -> Option<Result<usize>> {
    match read_journal(root) {
        Ok(None) => None,
        Ok(Some(list)) => Some(Ok(list.len())),
        Err(e) => Some(Err(e)),
    }
}

/// Rolls back a dead writer's append; the caller holds the layout lock.
fn heal_locked(root: &Path) -> Result<()> {
    let _ = std::fs::remove_file(root.join(JOURNAL_TMP));
    let journal = match read_journal(root) {
        Ok(Some(list)) => Some(list),
        Ok(None) => None,
        Err(e) => {
            eprintln!("warning: ignoring an unreadable journal: {e:#}");
            None
        }
    };
    if let Some(list) = journal {
        match referenced(root) {
            Ok(used) => {
                let dir = root.join("blobs").join("sha256");
                for d in list.iter().filter(|d| !used.contains(*d)) {
                    match std::fs::remove_file(dir.join(d.hex())) {
                        Ok(()) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => {
                            return Err(e).with_context(|| {
                                format!("removing blob {d} left by an interrupted pack")
                            });
                        }
                    }
                }
            }
            // Which blobs the manifests use is unknown: deleting any could break one.
            Err(e) => eprintln!(
                "warning: {}: keeping {} blobs an interrupted pack left, since the manifests \
                 using the layout cannot all be read: {e:#}",
                root.display(),
                list.len()
            ),
        }
    }
    let _ = std::fs::remove_file(root.join(INDEX_TMP));
    match std::fs::remove_file(root.join(JOURNAL)) {
        Ok(()) => sync_dir(root),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(e).with_context(|| format!("removing {}", root.join(JOURNAL).display()));
        }
    }
    Ok(())
}

/// Every blob a manifest or index reachable from `index.json` names (nested indexes followed).
fn referenced(root: &Path) -> Result<BTreeSet<Digest>> {
    let layout = Layout::open(root)?;
    let mut used = BTreeSet::new();
    let mut todo: Vec<(Digest, u64)> = layout
        .entries()?
        .into_iter()
        .map(|e| (e.digest, e.size))
        .collect();
    while let Some((digest, size)) = todo.pop() {
        if !used.insert(digest) {
            continue;
        }
        let bytes = layout.read_blob(&digest, size, MAX_MANIFEST_SIZE)?;
        let doc: Value = serde_json::from_slice(&bytes)
            .with_context(|| format!("manifest {digest}: not JSON"))?;
        let descriptor = |d: &Value| -> Result<(Digest, u64)> {
            let s = d.get("digest").and_then(Value::as_str).unwrap_or("");
            let dg = Digest::parse(s).with_context(|| format!("{digest}: digest {s:?}"))?;
            let n = d.get("size").and_then(Value::as_u64).unwrap_or(0);
            Ok((dg, n))
        };
        for key in ["config", "subject"] {
            if let Some(d) = doc.get(key) {
                used.insert(descriptor(d)?.0);
            }
        }
        for key in ["layers", "blobs"] {
            for d in doc.get(key).and_then(Value::as_array).into_iter().flatten() {
                used.insert(descriptor(d)?.0);
            }
        }
        for d in doc
            .get("manifests")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            todo.push(descriptor(d)?);
        }
    }
    Ok(used)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tampered_journal_cannot_name_a_path() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(JOURNAL),
            br#"{"blobs":["sha256:../../../etc/passwd"]}"#,
        )
        .unwrap();
        let err = read_journal(dir.path()).unwrap_err();
        assert!(format!("{err:#}").contains("bad digest"), "{err:#}");
    }
}
