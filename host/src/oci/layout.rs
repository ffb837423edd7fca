//! OCI image layouts on disk (image-spec image-layout.md): `oci-layout`, `index.json`,
//! `blobs/<alg>/<encoded>`; opening one, resolving a tag, reading verified blobs, and the
//! `index.json` edits `pack` makes.
//!
//! Every read of a layout goes through [`open_regular`] / [`open_blob_file`]: only regular
//! files are opened (a FIFO would block `open` forever, `/dev/zero` would never end), blobs
//! only at `blobs/sha256/<hex>` itself (no symlinked blob or `blobs` directory leading out of
//! the layout), and never more than the descriptor's size plus one byte is read, so a longer
//! file is detected without reading it all.

use std::fs::File;
use std::io::{Read, Take};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use super::digest::{Digest, HashReader};
use super::{Descriptor, canonical_json};
use crate::model::INDEX_MEDIA_TYPE;

/// The layout marker file.
pub const OCI_LAYOUT_FILE: &str = "oci-layout";
/// The layout's entry point.
pub const INDEX_FILE: &str = "index.json";
/// The `imageLayoutVersion` modelpack writes.
pub const IMAGE_LAYOUT_VERSION: &str = "1.0.0";
/// Annotation naming a manifest in `index.json` (the tag).
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// Tag used when none is given.
pub const DEFAULT_TAG: &str = "latest";
/// Largest manifest accepted: what registries accept (distribution caps manifests at 4 MiB).
pub const MAX_MANIFEST_SIZE: u64 = 4 << 20;
/// Largest config or `index.json` read into memory.
pub const MAX_JSON_SIZE: u64 = 64 << 20;

/// Checks a tag against the OCI distribution grammar `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`,
/// so the layout can be copied to any registry under that tag.
pub fn check_tag(tag: &str) -> Result<()> {
    let b = tag.as_bytes();
    let ok = !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'));
    if !ok {
        bail!("invalid tag {tag:?}: a tag is 1-128 of [A-Za-z0-9_.-], not starting with . or -");
    }
    Ok(())
}

/// Splits `LAYOUT[:TAG]`. A path that exists as written is never split, so layouts whose
/// name holds a colon still work.
pub fn split_reference(arg: &str) -> (PathBuf, Option<String>) {
    if Path::new(arg).exists() {
        return (PathBuf::from(arg), None);
    }
    match arg.rsplit_once(':') {
        Some((path, tag)) if !path.is_empty() && !tag.contains('/') => {
            (PathBuf::from(path), Some(tag.to_string()))
        }
        _ => (PathBuf::from(arg), None),
    }
}

/// Whether `path` looks like an OCI image layout (has an `oci-layout` file).
pub fn is_layout(path: &Path) -> bool {
    path.join(OCI_LAYOUT_FILE).is_file()
}

/// The `oci-layout` file content.
pub fn oci_layout_bytes() -> Vec<u8> {
    canonical_json(&json!({ "imageLayoutVersion": IMAGE_LAYOUT_VERSION }))
}

/// Why a layout file or blob could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Nothing at that path.
    #[error("{0} is missing")]
    Missing(String),
    /// A symlink where a blob or a `blobs` directory should be.
    #[error("{0} is a symlink: only regular files inside the layout are read")]
    Symlink(String),
    /// A FIFO, device, socket or directory.
    #[error("{0} is {1}, not a regular file")]
    NotRegular(String, &'static str),
    /// The operating system refused.
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
}

fn kind_of(t: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_symlink() {
        "a symlink"
    } else {
        "not a regular file"
    }
}

fn open_flags(path: &Path, shown: &str, follow: bool) -> Result<File, OpenError> {
    use std::os::unix::fs::OpenOptionsExt;
    // O_NONBLOCK: opening a FIFO returns at once instead of waiting for a writer; it has no
    // effect on the regular files that are then read.
    let mut flags = libc::O_NONBLOCK;
    if !follow {
        flags |= libc::O_NOFOLLOW;
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(flags)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            _ if e.kind() == std::io::ErrorKind::NotFound => OpenError::Missing(shown.into()),
            Some(libc::ELOOP) if !follow => OpenError::Symlink(shown.into()),
            _ => OpenError::Io(shown.into(), e),
        })?;
    let meta = file
        .metadata()
        .map_err(|e| OpenError::Io(shown.into(), e))?;
    if !meta.is_file() {
        return Err(OpenError::NotRegular(
            shown.into(),
            kind_of(meta.file_type()),
        ));
    }
    Ok(file)
}

/// Opens a layout file (`index.json`, `oci-layout`) if it is a regular file (symlinks to one
/// are followed: only FIFOs, devices and the like are refused).
pub fn open_regular(path: &Path) -> Result<File, OpenError> {
    open_flags(path, &path.display().to_string(), true)
}

/// Opens the blob `digest` of the layout at `root`: a regular file at `blobs/sha256/<hex>`,
/// reached without following any symlink below `root`.
pub fn open_blob_file(root: &Path, digest: &Digest) -> Result<File, OpenError> {
    let shown = format!("blob {digest}");
    let mut dir = root.to_path_buf();
    for part in ["blobs", "sha256"] {
        dir.push(part);
        match std::fs::symlink_metadata(&dir) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(OpenError::Symlink(format!(
                    "{} (holding {shown})",
                    dir.display()
                )));
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(OpenError::Missing(shown));
            }
            Err(e) => return Err(OpenError::Io(dir.display().to_string(), e)),
        }
    }
    open_flags(&dir.join(digest.hex()), &shown, false)
}

/// Reads a whole file, refusing more than `max` bytes and anything but a regular file.
pub fn read_capped(path: &Path, max: u64) -> Result<Vec<u8>> {
    let file = open_regular(path)?;
    let mut bytes = Vec::new();
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("reading {}", path.display()))?;
    if bytes.len() as u64 > max {
        bail!("{}: larger than {max} bytes", path.display());
    }
    Ok(bytes)
}

/// A manifest listed in `index.json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    /// Position in `manifests`.
    pub index: usize,
    /// Its media type.
    pub media_type: String,
    /// Its digest.
    pub digest: Digest,
    /// Its size.
    pub size: u64,
    /// Its `org.opencontainers.image.ref.name`.
    pub tag: Option<String>,
}

/// A layout opened for reading.
#[derive(Debug)]
pub struct Layout {
    /// The layout directory.
    pub root: PathBuf,
    /// `index.json`, parsed.
    pub index: Value,
}

impl Layout {
    /// Opens a layout: `oci-layout` must exist and `index.json` must be a JSON object.
    pub fn open(root: &Path) -> Result<Layout> {
        if !root.exists() {
            bail!("{}: no such file or directory", root.display());
        }
        if !root.is_dir() {
            bail!(
                "{}: not an OCI image layout (not a directory)",
                root.display()
            );
        }
        if !is_layout(root) {
            bail!(
                "{}: not an OCI image layout (no {OCI_LAYOUT_FILE} file)",
                root.display()
            );
        }
        let index_path = root.join(INDEX_FILE);
        let bytes = read_capped(&index_path, MAX_JSON_SIZE)?;
        let index: Value = serde_json::from_slice(&bytes)
            .with_context(|| format!("{}: not JSON", index_path.display()))?;
        if !index.is_object() {
            bail!("{}: not a JSON object", index_path.display());
        }
        Ok(Layout {
            root: root.to_path_buf(),
            index,
        })
    }

    /// Path of a blob. Only sha256 digests in canonical form are accepted, so a digest can
    /// never name a path outside `blobs/`.
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs").join("sha256").join(digest.hex())
    }

    /// The manifests `index.json` lists (entries it cannot parse are errors).
    pub fn entries(&self) -> Result<Vec<IndexEntry>> {
        let Some(list) = self.index.get("manifests").and_then(Value::as_array) else {
            bail!("{}: index.json has no manifests array", self.root.display());
        };
        list.iter()
            .enumerate()
            .map(|(i, d)| {
                let digest_str = d.get("digest").and_then(Value::as_str).unwrap_or("");
                let digest = Digest::parse(digest_str).with_context(|| {
                    format!("index.json manifests[{i}]: unsupported digest {digest_str:?}")
                })?;
                Ok(IndexEntry {
                    index: i,
                    media_type: d
                        .get("mediaType")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string(),
                    digest,
                    size: d.get("size").and_then(Value::as_u64).with_context(|| {
                        format!("index.json manifests[{i}]: size is not a non-negative integer")
                    })?,
                    tag: d
                        .pointer(&format!("/annotations/{}", REF_NAME.replace('/', "~1")))
                        .and_then(Value::as_str)
                        .map(str::to_string),
                })
            })
            .collect()
    }

    /// The manifest named `tag`; without a tag, `latest`, or the only manifest there is.
    pub fn resolve(&self, tag: Option<&str>) -> Result<IndexEntry> {
        let entries = self.entries()?;
        let tags = || {
            let t: Vec<&str> = entries.iter().filter_map(|e| e.tag.as_deref()).collect();
            if t.is_empty() {
                "none".to_string()
            } else {
                t.join(", ")
            }
        };
        let wanted = tag.unwrap_or(DEFAULT_TAG);
        if let Some(e) = entries.iter().find(|e| e.tag.as_deref() == Some(wanted)) {
            return Ok(e.clone());
        }
        if tag.is_none() && entries.len() == 1 {
            return Ok(entries[0].clone());
        }
        // The only tagged manifest, beside untagged referrers (signatures, SBOMs: listed
        // with their artifactType) of it.
        let mut tagged = entries.iter().filter(|e| e.tag.is_some());
        let others_are_artifacts = || {
            entries.iter().filter(|e| e.tag.is_none()).all(|e| {
                self.index["manifests"][e.index]
                    .get("artifactType")
                    .is_some_and(Value::is_string)
            })
        };
        if tag.is_none()
            && let (Some(only), None) = (tagged.next(), tagged.next())
            && others_are_artifacts()
        {
            return Ok(only.clone());
        }
        bail!(
            "{}: no manifest tagged {wanted:?} (tags: {})",
            self.root.display(),
            tags()
        )
    }

    /// Reads a blob into memory, checking its size and digest.
    pub fn read_blob(&self, digest: &Digest, size: u64, max: u64) -> Result<Vec<u8>> {
        if size > max {
            bail!("blob {digest}: {size} bytes is more than the {max} allowed");
        }
        let mut bytes = Vec::new();
        self.open_blob(digest, size)?
            .read_to_end(&mut bytes)
            .with_context(|| format!("reading blob {digest}"))?;
        if bytes.len() as u64 != size {
            bail!(
                "blob {digest}: {} bytes on disk, descriptor says {size}",
                bytes.len()
            );
        }
        if Digest::of(&bytes) != *digest {
            bail!("blob {digest}: content does not match its digest");
        }
        Ok(bytes)
    }

    /// Opens a blob of `size` bytes for streaming: a regular file inside the layout whose
    /// length on disk is `size`, read through a limit of `size + 1` bytes (so a file growing
    /// meanwhile is still caught, never read to its end). The caller checks the digest with
    /// [`finish_verified`].
    pub fn open_blob(&self, digest: &Digest, size: u64) -> Result<HashReader<Take<File>>> {
        let f = open_blob_file(&self.root, digest)?;
        let len = f
            .metadata()
            .with_context(|| format!("blob {digest}"))?
            .len();
        if len != size {
            bail!("blob {digest}: {len} bytes on disk, descriptor says {size}");
        }
        Ok(HashReader::new(f.take(size.saturating_add(1))))
    }
}

/// Reads what is left of a streamed blob and checks its size and digest.
pub fn finish_verified<R: Read>(reader: HashReader<R>, digest: &Digest, size: u64) -> Result<()> {
    let (got, n) = reader
        .drain()
        .with_context(|| format!("reading blob {digest}"))?;
    if n != size {
        bail!("blob {digest}: {n} bytes on disk, descriptor says {size}");
    }
    if got != *digest {
        bail!("blob {digest}: content does not match its digest (it is {got})");
    }
    Ok(())
}

/// `index.json` with `manifest` added under `tag`; an entry with the same tag is replaced
/// (its digest is returned), every other entry and field is kept as it was.
pub fn index_with(
    existing: Option<&Value>,
    manifest: &Descriptor,
    tag: &str,
) -> Result<(Value, Option<String>)> {
    let mut index = existing.cloned().unwrap_or_else(
        || json!({ "schemaVersion": 2, "mediaType": INDEX_MEDIA_TYPE, "manifests": [] }),
    );
    let Some(list) = index.get_mut("manifests").and_then(Value::as_array_mut) else {
        bail!("index.json has no manifests array");
    };
    let mut replaced = None;
    list.retain(|d| {
        let same = d
            .get("annotations")
            .and_then(|a| a.get(REF_NAME))
            .and_then(Value::as_str)
            == Some(tag);
        if same {
            replaced = d.get("digest").and_then(Value::as_str).map(str::to_string);
        }
        !same
    });
    let mut desc = manifest.clone();
    desc.annotations
        .insert(REF_NAME.to_string(), tag.to_string());
    list.push(serde_json::to_value(&desc)?);
    Ok((index, replaced))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags() {
        for ok in ["latest", "v1.0", "_x", &"a".repeat(128)] {
            assert!(check_tag(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".x", "-x", "a/b", "a:b", &"a".repeat(129)] {
            assert!(check_tag(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn references() {
        assert_eq!(
            split_reference("/nonexistent/l:v1"),
            (PathBuf::from("/nonexistent/l"), Some("v1".into()))
        );
        assert_eq!(
            split_reference("/nonexistent/l"),
            (PathBuf::from("/nonexistent/l"), None)
        );
        assert_eq!(split_reference("a:b/c"), (PathBuf::from("a:b/c"), None));
    }

    #[test]
    fn same_tag_replaces_other_tags_stay() {
        let d = |b: &[u8]| Descriptor {
            media_type: "m".into(),
            artifact_type: None,
            digest: Digest::of(b),
            size: b.len() as u64,
            annotations: Default::default(),
        };
        let (i1, r) = index_with(None, &d(b"1"), "a").unwrap();
        assert_eq!(r, None);
        let (i2, _) = index_with(Some(&i1), &d(b"2"), "b").unwrap();
        let (i3, r) = index_with(Some(&i2), &d(b"3"), "a").unwrap();
        assert_eq!(r, Some(Digest::of(b"1").to_string()));
        let list = i3["manifests"].as_array().unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0]["annotations"][REF_NAME], "b");
        assert_eq!(list[1]["digest"], Digest::of(b"3").to_string());
    }
}
