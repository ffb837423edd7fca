//! `unpack`: the files of a ModelPack artifact written back at their paths.
//!
//! Every blob is verified (size and digest) while it streams; the output is built in a hidden
//! directory beside the target and renamed into place only when every layer checked out, so a
//! bad layout leaves nothing behind. Paths are confined to the output: absolute paths, `..`,
//! and links that could lead out are refused. Symlinks and hard links from tar layers are
//! created last, so no file write ever goes through a link.

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use super::archive::{BUF_LEN, decompressor};
use super::digest::Digest;
use super::layers::check_relative_path;
use super::layout::{Layout, MAX_JSON_SIZE, MAX_MANIFEST_SIZE, finish_verified};
use super::pool;
use super::progress::{ItemBar, Progress};
use super::rules::{self, Action, Links, Tree, descriptor_digest, layer_refs};
use crate::model::{LayerFormat, MANIFEST_MEDIA_TYPE};

/// How to unpack.
#[derive(Debug, Clone)]
pub struct UnpackOptions {
    /// Worker threads.
    pub jobs: usize,
    /// Progress bars on stderr (only drawn when it is a terminal).
    pub progress: bool,
}

/// What `unpack` wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnpackOutcome {
    /// The manifest unpacked.
    pub manifest: Digest,
    /// Files written (links included).
    pub files: u64,
    /// Bytes of file content written.
    pub bytes: u64,
    /// File paths of the layers a partial pull left out (not unpacked).
    pub not_pulled: Vec<String>,
}

/// Unpacks the manifest `tag` of `layout_dir` into `output`, which must not exist or be empty.
pub fn unpack(
    layout_dir: &Path,
    tag: Option<&str>,
    output: &Path,
    opts: &UnpackOptions,
) -> Result<UnpackOutcome> {
    let layout = Layout::open(layout_dir)?;
    let entry = layout.resolve(tag)?;
    if !entry.media_type.is_empty() && entry.media_type != MANIFEST_MEDIA_TYPE {
        bail!(
            "{}: the manifest to unpack has media type {:?}, not an OCI image manifest",
            layout_dir.display(),
            entry.media_type
        );
    }
    let manifest: Value =
        serde_json::from_slice(&layout.read_blob(&entry.digest, entry.size, MAX_MANIFEST_SIZE)?)
            .with_context(|| format!("manifest {}: not JSON", entry.digest))?;
    let mut layers = layer_refs(&manifest).with_context(|| format!("manifest {}", entry.digest))?;
    // A partial pull's absent layers are skipped and named; in any other layout an absent
    // blob is an error, as before.
    let mut not_pulled = Vec::new();
    if layout.is_partial(&entry.digest) {
        let blobs = layout.root.join("blobs").join("sha256");
        layers.retain(|l| {
            let there = std::fs::symlink_metadata(blobs.join(l.digest.hex())).is_ok();
            if !there {
                not_pulled.push(
                    l.filepath
                        .clone()
                        .unwrap_or_else(|| format!("layer {}", l.index)),
                );
            }
            there
        });
    }
    if let Some(config) = manifest.get("config") {
        let (d, size) = descriptor_digest(config).context("manifest config")?;
        layout
            .read_blob(&d, size, MAX_JSON_SIZE)
            .context("manifest config")?;
    }

    super::staging::require_absent_or_empty(output)?;
    let mut staging = super::staging::beside(output, "unpack")?;
    let root = &staging.path().to_path_buf();

    let total: u64 = layers.iter().map(|l| l.size).sum();
    let progress = Progress::stderr(opts.progress, "unpacking", total);
    let files = AtomicU64::new(0);
    let bytes = AtomicU64::new(0);
    // One tree for all layers: the rules `validate` applies too (see `rules`).
    let tree = Mutex::new(Tree::default());
    let add = |action: &Action| -> Result<()> {
        tree.lock().unwrap_or_else(|p| p.into_inner()).add(action)
    };
    let result = pool::try_map(
        &layers,
        opts.jobs,
        |l| l.size,
        |l| {
            let name = l
                .filepath
                .clone()
                .unwrap_or_else(|| format!("layer {}", l.index));
            let bar = progress.item(&name, l.size);
            let mut blob = layout.open_blob(&l.digest, l.size)?;
            let (n_files, n_bytes) = if l.format == LayerFormat::Raw {
                let Some(path) = &l.filepath else {
                    bail!("layer {}: raw layer without a file path", l.index);
                };
                let mode = l.mode.unwrap_or(0o644);
                add(&Action::File {
                    path: path.clone(),
                    mode,
                })?;
                let n = write_file(root, path, &mut blob, mode, &bar)?;
                (1, n)
            } else {
                extract_tar(root, l.format, &mut blob, &add, &bar)?
            };
            finish_verified(blob, &l.digest, l.size)
                .with_context(|| format!("layer {}", l.index))?;
            files.fetch_add(n_files, Ordering::Relaxed);
            bytes.fetch_add(n_bytes, Ordering::Relaxed);
            Ok(())
        },
    );
    progress.finish();
    result?;
    let links = tree
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .finish()?;
    files.fetch_add(create_links(root, links)?, Ordering::Relaxed);

    staging
        .commit(output)
        .with_context(|| format!("renaming the unpacked files to {}", output.display()))?;
    Ok(UnpackOutcome {
        manifest: entry.digest,
        files: files.into_inner(),
        bytes: bytes.into_inner(),
        not_pulled,
    })
}

/// `root/rel` after checking `rel` is a plain relative path (no `..`, not absolute).
fn confined(root: &Path, rel: &str) -> Result<PathBuf> {
    check_relative_path(rel).map_err(|e| anyhow::anyhow!("refusing to write {e}"))?;
    Ok(root.join(rel))
}

fn create_parent(root: &Path, path: &Path) -> Result<()> {
    match path.parent() {
        Some(p) => create_below(root, p),
        None => Ok(()),
    }
}

/// Creates `dir` and its parents below `root`, but never `root` itself: once an interruption
/// removed the staging directory, a worker still running must not bring it back.
fn create_below(root: &Path, dir: &Path) -> Result<()> {
    let rel = dir.strip_prefix(root).unwrap_or(dir);
    let mut p = root.to_path_buf();
    for c in rel.components() {
        p.push(c);
        match std::fs::create_dir(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e).with_context(|| format!("creating {}", p.display())),
        }
    }
    Ok(())
}

/// Writes `rel` from `src`; two layers writing the same path is an error.
fn write_file(root: &Path, rel: &str, src: &mut dyn Read, mode: u32, bar: &ItemBar) -> Result<u64> {
    use std::os::unix::fs::OpenOptionsExt;
    let dest = confined(root, rel)?;
    create_parent(root, &dest)?;
    let mut out = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode & 0o777)
        .open(&dest)
        .with_context(|| format!("{rel}: cannot create (listed twice?)"))?;
    let mut buf = vec![0u8; BUF_LEN];
    let mut n = 0u64;
    loop {
        let k = src
            .read(&mut buf)
            .with_context(|| format!("{rel}: reading"))?;
        if k == 0 {
            break;
        }
        out.write_all(&buf[..k])
            .with_context(|| format!("{rel}: writing"))?;
        n += k as u64;
        bar.inc(k as u64);
    }
    // `mode` on open is masked by the umask; set the recorded bits exactly.
    use std::os::unix::fs::PermissionsExt;
    out.set_permissions(std::fs::Permissions::from_mode(mode & 0o777))?;
    Ok(n)
}

fn extract_tar(
    root: &Path,
    format: LayerFormat,
    blob: &mut dyn Read,
    add: &dyn Fn(&Action) -> Result<()>,
    bar: &ItemBar,
) -> Result<(u64, u64)> {
    let mut archive = tar::Archive::new(decompressor(format, blob)?);
    let (mut files, mut bytes) = (0u64, 0u64);
    for entry in archive.entries().context("reading tar layer")? {
        let mut entry = entry.context("reading tar layer")?;
        let raw_path = entry.path_bytes().into_owned();
        let link = entry.link_name_bytes().map(|b| b.into_owned());
        let mode = entry.header().mode().unwrap_or(0o644);
        let action = rules::tar_entry(
            &raw_path,
            entry.header().entry_type(),
            link.as_deref(),
            mode,
        )?;
        add(&action)?;
        match action {
            Action::File { path, mode } => {
                bytes += write_file(root, &path, &mut entry, mode, bar)?;
                files += 1;
            }
            Action::Dir(path) => {
                let dir = confined(root, &path)?;
                create_below(root, &dir)?;
            }
            // Links are created once every file is written (the tree holds them).
            Action::Symlink { .. } | Action::HardLink { .. } | Action::Skip => {}
        }
    }
    Ok((files, bytes))
}

/// Refuses a path any of whose parents (below `root`) is a symlink.
fn no_symlink_parents(root: &Path, rel: &str) -> Result<()> {
    let mut p = root.to_path_buf();
    let parts: Vec<&str> = rel.split('/').collect();
    for part in &parts[..parts.len() - 1] {
        p.push(part);
        if std::fs::symlink_metadata(&p).is_ok_and(|m| m.file_type().is_symlink()) {
            bail!("refusing {rel}: its parent {part} is a symlink");
        }
    }
    Ok(())
}

fn create_links(root: &Path, d: Links) -> Result<u64> {
    let mut n = 0;
    for (link, target) in d.hard {
        let src = root.join(&target);
        if !std::fs::symlink_metadata(&src).is_ok_and(|m| m.is_file()) {
            bail!("hard link {link} -> {target}: the target is not a file in the artifact");
        }
        let dest = confined(root, &link)?;
        create_parent(root, &dest)?;
        std::fs::hard_link(&src, &dest).with_context(|| format!("hard link {link} -> {target}"))?;
        n += 1;
    }
    for (link, target) in d.sym {
        no_symlink_parents(root, &link)?;
        let dest = confined(root, &link)?;
        create_parent(root, &dest)?;
        std::os::unix::fs::symlink(&target, &dest)
            .with_context(|| format!("symlink {link} -> {target}"))?;
        n += 1;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confinement() {
        assert!(confined(Path::new("/r"), "../x").is_err());
        assert!(confined(Path::new("/r"), "/etc/x").is_err());
        assert_eq!(
            confined(Path::new("/r"), "a/b").unwrap(),
            Path::new("/r/a/b")
        );
    }
}
