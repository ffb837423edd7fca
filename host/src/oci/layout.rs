//! OCI image layouts on disk (image-spec image-layout.md): `oci-layout`, `index.json`,
//! `blobs/<alg>/<encoded>`; opening one, resolving a tag, reading verified blobs, and the
//! `index.json` edits `pack` makes.

use std::io::Read;
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

/// Reads a whole file, refusing more than `max` bytes.
pub fn read_capped(path: &Path, max: u64) -> Result<Vec<u8>> {
    let file = std::fs::File::open(path).with_context(|| format!("{}", path.display()))?;
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
        let path = self.blob_path(digest);
        let bytes = read_capped(&path, max)
            .with_context(|| format!("blob {digest} is missing or unreadable"))?;
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

    /// Opens a blob for streaming; the caller checks the digest with [`finish_verified`].
    pub fn open_blob(&self, digest: &Digest) -> Result<HashReader<std::fs::File>> {
        let path = self.blob_path(digest);
        let f = std::fs::File::open(&path)
            .with_context(|| format!("blob {digest} is missing or unreadable"))?;
        Ok(HashReader::new(f))
    }
}

/// Reads what is left of a streamed blob and checks its size and digest.
pub fn finish_verified(
    reader: HashReader<std::fs::File>,
    digest: &Digest,
    size: u64,
) -> Result<()> {
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
