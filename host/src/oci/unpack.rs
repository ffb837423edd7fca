//! `unpack`: the files of a ModelPack artifact written back at their paths.
//!
//! Every blob is verified (size and digest) while it streams; the output is built in a hidden
//! directory beside the target and renamed into place only when every layer checked out, so a
//! bad layout leaves nothing behind. Paths are confined to the output: absolute paths, `..`,
//! and links that could lead out are refused. Symlinks and hard links from tar layers are
//! created last, so no file write ever goes through a link.

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};
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
use crate::model::{
    ANNOTATION_FILE_METADATA, ANNOTATION_FILEPATH, ANNOTATION_TITLE, LayerFormat,
    MANIFEST_MEDIA_TYPE, parse_layer_media_type,
};

/// Legacy spelling of the filepath annotation, still written by released modctl builds.
const LEGACY_FILEPATH: &str = "org.cnai.model.filepath";
/// Legacy spelling of the file metadata annotation.
const LEGACY_FILE_METADATA: &str = "org.cnai.model.file.metadata+json";

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
}

struct LayerRef {
    index: usize,
    format: LayerFormat,
    digest: Digest,
    size: u64,
    filepath: Option<String>,
    mode: Option<u32>,
}

/// Links found in tar layers, created after every file is written.
#[derive(Default)]
struct Deferred {
    hard: Vec<(String, String)>,
    sym: Vec<(String, String)>,
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
    let layers = layer_refs(&manifest).with_context(|| format!("manifest {}", entry.digest))?;
    if let Some(config) = manifest.get("config") {
        let (d, size) = descriptor_digest(config).context("manifest config")?;
        layout
            .read_blob(&d, size, MAX_JSON_SIZE)
            .context("manifest config")?;
    }

    super::staging::require_absent_or_empty(output)?;
    let staging = super::staging::beside(output, "unpack")?;
    let root = staging.path();

    let total: u64 = layers.iter().map(|l| l.size).sum();
    let progress = Progress::stderr(opts.progress, "unpacking", total);
    let files = AtomicU64::new(0);
    let bytes = AtomicU64::new(0);
    let deferred = Mutex::new(Deferred::default());
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
            let mut blob = layout.open_blob(&l.digest)?;
            let (n_files, n_bytes) = if l.format == LayerFormat::Raw {
                let Some(path) = &l.filepath else {
                    bail!("layer {}: raw layer without {ANNOTATION_FILEPATH}", l.index);
                };
                let n = write_file(root, path, &mut blob, l.mode.unwrap_or(0o644), &bar)?;
                (1, n)
            } else {
                let mut local = Deferred::default();
                let counts = extract_tar(root, l.format, &mut blob, &mut local, &bar)?;
                let mut d = deferred.lock().unwrap_or_else(|p| p.into_inner());
                d.hard.extend(local.hard);
                d.sym.extend(local.sym);
                counts
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
    let deferred = deferred.into_inner().unwrap_or_else(|p| p.into_inner());
    files.fetch_add(create_links(root, deferred)?, Ordering::Relaxed);

    set_dir_mode(root)?;
    std::fs::rename(root, output)
        .with_context(|| format!("renaming the unpacked files to {}", output.display()))?;
    let _ = staging.keep();
    Ok(UnpackOutcome {
        manifest: entry.digest,
        files: files.into_inner(),
        bytes: bytes.into_inner(),
    })
}

fn set_dir_mode(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    // tempdir creates 0700; the output is an ordinary directory.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("setting permissions of {}", path.display()))
}

fn descriptor_digest(d: &Value) -> Result<(Digest, u64)> {
    let s = d.get("digest").and_then(Value::as_str).unwrap_or("");
    let digest = Digest::parse(s).with_context(|| format!("unsupported digest {s:?}"))?;
    let size = d
        .get("size")
        .and_then(Value::as_u64)
        .context("size is not a non-negative integer")?;
    Ok((digest, size))
}

fn layer_refs(manifest: &Value) -> Result<Vec<LayerRef>> {
    let Some(layers) = manifest.get("layers").and_then(Value::as_array) else {
        bail!("no layers array");
    };
    layers
        .iter()
        .enumerate()
        .filter_map(|(index, l)| {
            let mt = l.get("mediaType").and_then(Value::as_str).unwrap_or("");
            // A layer of another tool (a signature, an SBOM, a vendor's extra) is not ours to
            // restore; OCI consumers must not fail on it. A malformed ModelPack type is an error.
            if parse_layer_media_type(mt).is_none() && !is_modelpack_namespace(mt) {
                eprintln!("warning: layer {index}: {mt:?} is not a ModelPack layer; skipped");
                return None;
            }
            Some(layer_ref(index, l, mt))
        })
        .collect()
}

/// Whether `mt` claims to be a ModelPack layer type (current or legacy spelling).
pub fn is_modelpack_namespace(mt: &str) -> bool {
    mt.starts_with("application/vnd.cncf.model.") || mt.starts_with(crate::model::LEGACY_PREFIX)
}

fn layer_ref(index: usize, l: &Value, mt: &str) -> Result<LayerRef> {
    let Some((_, format, _)) = parse_layer_media_type(mt) else {
        bail!("layer {index}: unsupported media type {mt:?}");
    };
    let (digest, size) = descriptor_digest(l).with_context(|| format!("layer {index}"))?;
    let ann = |k: &str| {
        l.get("annotations")
            .and_then(|a| a.get(k))
            .and_then(Value::as_str)
    };
    // The OCI title is what ORAS-style tools write; it names a raw layer's file when
    // the ModelPack annotation is absent (the same path rules apply to it).
    let filepath = ann(ANNOTATION_FILEPATH)
        .or_else(|| ann(LEGACY_FILEPATH))
        .or_else(|| {
            (format == LayerFormat::Raw)
                .then(|| ann(ANNOTATION_TITLE))
                .flatten()
        })
        .map(str::to_string);
    let mode = ann(ANNOTATION_FILE_METADATA)
        .or_else(|| ann(LEGACY_FILE_METADATA))
        .and_then(|m| serde_json::from_str::<Value>(m).ok())
        .and_then(|m| m.get("mode").and_then(Value::as_u64))
        .map(|m| (m & 0o777) as u32);
    Ok(LayerRef {
        index,
        format,
        digest,
        size,
        filepath,
        mode,
    })
}

/// `root/rel` after checking `rel` is a plain relative path (no `..`, not absolute).
fn confined(root: &Path, rel: &str) -> Result<PathBuf> {
    check_relative_path(rel).map_err(|e| anyhow::anyhow!("refusing to write {e}"))?;
    Ok(root.join(rel))
}

/// Strips what tar writers commonly add (`./` prefixes, a trailing `/` on directories).
fn tar_entry_path(raw: &[u8]) -> Result<String> {
    let s = std::str::from_utf8(raw).map_err(|_| {
        anyhow::anyhow!(
            "tar entry name is not UTF-8: {:?}",
            String::from_utf8_lossy(raw)
        )
    })?;
    let mut s = s;
    while let Some(rest) = s.strip_prefix("./") {
        s = rest;
    }
    Ok(s.trim_end_matches('/').to_string())
}

fn create_parent(path: &Path) -> Result<()> {
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p).with_context(|| format!("creating {}", p.display()))?;
    }
    Ok(())
}

/// Writes `rel` from `src`; two layers writing the same path is an error.
fn write_file(root: &Path, rel: &str, src: &mut dyn Read, mode: u32, bar: &ItemBar) -> Result<u64> {
    use std::os::unix::fs::OpenOptionsExt;
    let dest = confined(root, rel)?;
    create_parent(&dest)?;
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
    deferred: &mut Deferred,
    bar: &ItemBar,
) -> Result<(u64, u64)> {
    let mut archive = tar::Archive::new(decompressor(format, blob)?);
    let (mut files, mut bytes) = (0u64, 0u64);
    for entry in archive.entries().context("reading tar layer")? {
        let mut entry = entry.context("reading tar layer")?;
        let raw_path = entry.path_bytes().into_owned();
        let rel = tar_entry_path(&raw_path)?;
        let kind = entry.header().entry_type();
        match kind {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let mode = entry.header().mode().unwrap_or(0o644);
                bytes += write_file(root, &rel, &mut entry, mode, bar)?;
                files += 1;
            }
            tar::EntryType::Directory => {
                if !rel.is_empty() {
                    let dir = confined(root, &rel)?;
                    std::fs::create_dir_all(&dir)
                        .with_context(|| format!("creating {}", dir.display()))?;
                }
            }
            tar::EntryType::Symlink | tar::EntryType::Link => {
                confined(root, &rel)?;
                let target = entry
                    .link_name_bytes()
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .with_context(|| format!("{rel}: link without a target"))?;
                if kind == tar::EntryType::Link {
                    let target = tar_entry_path(target.as_bytes())?;
                    confined(root, &target).with_context(|| format!("hard link {rel}"))?;
                    deferred.hard.push((rel, target));
                } else {
                    check_symlink_target(&rel, &target)?;
                    deferred.sym.push((rel, target));
                }
            }
            tar::EntryType::XGlobalHeader | tar::EntryType::XHeader => {}
            other => bail!("{rel}: unsupported tar entry type {other:?}"),
        }
    }
    Ok((files, bytes))
}

/// A symlink target must stay inside the output judged from where the link sits: relative,
/// `..` only as leading components and no more of them than the link is deep.
fn check_symlink_target(link: &str, target: &str) -> Result<()> {
    let refuse = |why: &str| anyhow::anyhow!("refusing symlink {link} -> {target}: {why}");
    if target.is_empty() || target.contains('\0') {
        return Err(refuse("empty or NUL target"));
    }
    let depth = link.split('/').count() - 1;
    let mut ups = 0;
    let mut seen_normal = false;
    for c in Path::new(target).components() {
        match c {
            Component::RootDir | Component::Prefix(_) => return Err(refuse("absolute target")),
            Component::CurDir => {}
            Component::ParentDir if seen_normal => {
                return Err(refuse("`..` after a directory name"));
            }
            Component::ParentDir => ups += 1,
            Component::Normal(_) => seen_normal = true,
        }
    }
    if ups > depth {
        return Err(refuse("it leads out of the output directory"));
    }
    Ok(())
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

fn create_links(root: &Path, mut d: Deferred) -> Result<u64> {
    d.hard.sort();
    d.sym.sort();
    let mut n = 0;
    for (link, target) in d.hard {
        let src = root.join(&target);
        if !std::fs::symlink_metadata(&src).is_ok_and(|m| m.is_file()) {
            bail!("hard link {link} -> {target}: the target is not a file in the artifact");
        }
        let dest = confined(root, &link)?;
        create_parent(&dest)?;
        std::fs::hard_link(&src, &dest).with_context(|| format!("hard link {link} -> {target}"))?;
        n += 1;
    }
    for (link, target) in d.sym {
        no_symlink_parents(root, &link)?;
        let dest = confined(root, &link)?;
        create_parent(&dest)?;
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
    fn symlink_targets() {
        assert!(check_symlink_target("a/b", "c").is_ok());
        assert!(check_symlink_target("a/b", "../c/d").is_ok());
        assert!(check_symlink_target("a/b", "./c").is_ok());
        assert!(check_symlink_target("a", "../c").is_err());
        assert!(check_symlink_target("a/b", "../../c").is_err());
        assert!(check_symlink_target("a/b", "/etc/passwd").is_err());
        assert!(check_symlink_target("a/b", "s/../../x").is_err());
    }

    #[test]
    fn tar_paths() {
        assert_eq!(tar_entry_path(b"./a/b/").unwrap(), "a/b");
        assert!(confined(Path::new("/r"), &tar_entry_path(b"../x").unwrap()).is_err());
        assert!(confined(Path::new("/r"), &tar_entry_path(b"/etc/x").unwrap()).is_err());
    }
}
