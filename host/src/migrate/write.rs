//! Writes the converted artifact as a new OCI image layout, in a staging directory beside the
//! output renamed into place at the end (a failed run leaves nothing, as `pack`).
//!
//! Reused blobs are reflinked, else hard-linked, else copied: a source blob store is
//! content-addressed and never edited in place (unlike the model directory `pack` reads, where
//! a hard link would alias the user's working files), so linking is safe and costs no read.
//! Only a copy reads the bytes, and it checks the digest on the way. `--copy` forces copies.
//! The bytes of a compressed tar layer are read once more, decompressed, for its diffId; raw
//! and plain tar layers are not read at all (their diffId is their digest) beyond a 512-byte
//! look at a tar header.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use super::plan::Checked;
use super::source::Store;
use crate::model::{
    ANNOTATION_FILEPATH, ANNOTATION_TITLE, ARTIFACT_TYPE, CONFIG_MEDIA_TYPE, LayerFormat,
    MANIFEST_MEDIA_TYPE, layer_media_type,
};
use crate::oci::archive::{BUF_LEN, decompressor};
use crate::oci::blob::{BlobDir, Placed};
use crate::oci::digest::{Digest, Hasher};
use crate::oci::layers::BuiltLayer;
use crate::oci::layout::{self, INDEX_FILE, MAX_MANIFEST_SIZE, OCI_LAYOUT_FILE};
use crate::oci::pack::with_diff_ids;
use crate::oci::{Descriptor, canonical_json, staging};

/// Where and how to write.
#[derive(Debug, Clone)]
pub struct WriteOptions {
    /// The new layout directory (must not exist, or be empty).
    pub output: PathBuf,
    /// Its tag.
    pub tag: String,
    /// Copy every blob (hashing it) instead of linking.
    pub copy: bool,
}

/// What was written.
#[derive(Debug, Clone)]
pub struct Written {
    /// The manifest descriptor.
    pub manifest: Descriptor,
    /// The config as stored.
    pub config: Value,
    /// The layers, in order.
    pub layers: Vec<BuiltLayer>,
    /// Bytes read from blobs (copies and decompression for diffIds).
    pub bytes_read: u64,
}

/// Writes the layout.
pub fn write(
    store: &Store,
    layers: &[Checked],
    config: Value,
    manifest_annotations: &BTreeMap<String, String>,
    opts: &WriteOptions,
) -> Result<Written> {
    layout::check_tag(&opts.tag)?;
    staging::require_absent_or_empty(&opts.output)?;
    let mut staging = staging::beside(&opts.output, "convert")?;
    let blobs = BlobDir::create(staging.path())?;
    let mut bytes_read = 0u64;
    let mut placed: BTreeMap<Digest, Placed> = BTreeMap::new();
    let mut built = Vec::with_capacity(layers.len());
    for l in layers {
        let d = l.source.digest;
        if let std::collections::btree_map::Entry::Vacant(slot) = placed.entry(d) {
            let (how, n) = place(store, &blobs, l, opts.copy)?;
            bytes_read += n;
            slot.insert(how);
        }
        let (diff_id, n) = diff_id(&blobs.path_of(&d), l)?;
        bytes_read += n;
        let mut annotations = l.annotations.clone();
        annotations.insert(ANNOTATION_FILEPATH.to_string(), l.path.clone());
        if l.format == LayerFormat::Raw {
            annotations.insert(ANNOTATION_TITLE.to_string(), l.path.clone());
        }
        built.push(BuiltLayer {
            descriptor: Descriptor {
                media_type: layer_media_type(l.kind, l.format),
                artifact_type: None,
                digest: d,
                size: l.source.size,
                annotations,
            },
            diff_id,
            placed: placed.get(&d).copied(),
        });
    }
    let config = with_diff_ids(config, &built)?;
    let config_bytes = canonical_json(&config);
    let config_desc = Descriptor {
        media_type: CONFIG_MEDIA_TYPE.to_string(),
        artifact_type: None,
        digest: blobs.put_bytes(&config_bytes)?,
        size: config_bytes.len() as u64,
        annotations: BTreeMap::new(),
    };
    let mut manifest = json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "artifactType": ARTIFACT_TYPE,
        "config": config_desc,
        "layers": built.iter().map(|l| &l.descriptor).collect::<Vec<_>>(),
    });
    if !manifest_annotations.is_empty() {
        manifest["annotations"] = serde_json::to_value(manifest_annotations)?;
    }
    let manifest_bytes = canonical_json(&manifest);
    if manifest_bytes.len() as u64 > MAX_MANIFEST_SIZE {
        bail!(
            "the manifest would be {} bytes, more than registries accept ({MAX_MANIFEST_SIZE})",
            manifest_bytes.len()
        );
    }
    let manifest = Descriptor {
        media_type: MANIFEST_MEDIA_TYPE.to_string(),
        artifact_type: Some(ARTIFACT_TYPE.to_string()),
        digest: blobs.put_bytes(&manifest_bytes)?,
        size: manifest_bytes.len() as u64,
        annotations: BTreeMap::new(),
    };
    // Test hook: fail once every blob is in place, to prove a failed run leaves nothing.
    if std::env::var_os("MODELPACK_TEST_FAIL_AFTER_LAYERS").is_some() {
        bail!("injected failure after storing the layers (MODELPACK_TEST_FAIL_AFTER_LAYERS)");
    }
    let root = staging.path().to_path_buf();
    std::fs::write(root.join(OCI_LAYOUT_FILE), layout::oci_layout_bytes())?;
    let (index, _) = layout::index_with(None, &manifest, &opts.tag)?;
    std::fs::write(root.join(INDEX_FILE), canonical_json(&index))?;
    staging
        .commit(&opts.output)
        .with_context(|| format!("renaming the new layout to {}", opts.output.display()))?;
    Ok(Written {
        manifest,
        config,
        layers: built,
        bytes_read,
    })
}

/// Puts a source blob into the store: reflink, else hard link, else a copy that is hashed.
/// Returns how, and the bytes read.
fn place(store: &Store, blobs: &BlobDir, l: &Checked, copy: bool) -> Result<(Placed, u64)> {
    let d = l.source.digest;
    let src = store.blob_path(&d);
    let file = crate::regular::open(&src)
        .with_context(|| format!("layer {} ({d}): {}", l.path, src.display()))?;
    let len = file.metadata()?.len();
    if len != l.source.size {
        bail!(
            "layer {} ({d}): {} holds {len} bytes, the manifest says {}",
            l.path,
            src.display(),
            l.source.size
        );
    }
    let dst = blobs.path_of(&d);
    if !copy {
        if reflink_copy::reflink(&src, &dst).is_ok() {
            return Ok((Placed::Reflinked, 0));
        }
        if std::fs::hard_link(&src, &dst).is_ok() {
            return Ok((Placed::Hardlinked, 0));
        }
    }
    let mut reader = file.take(l.source.size + 1);
    let mut out =
        std::fs::File::create(&dst).with_context(|| format!("creating {}", dst.display()))?;
    let mut hasher = Hasher::new();
    let mut buf = vec![0u8; BUF_LEN];
    loop {
        let n = reader
            .read(&mut buf)
            .with_context(|| format!("reading {}", src.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n])
            .with_context(|| format!("writing {}", dst.display()))?;
    }
    let (got, n) = hasher.finish();
    if n != l.source.size || got != d {
        bail!(
            "layer {} ({d}): {} does not hold the blob its digest names (read {n} bytes, digest {got})",
            l.path,
            src.display()
        );
    }
    Ok((Placed::Copied, n))
}

/// The layer's diffId (the uncompressed digest) and the bytes read for it: a raw or tar
/// layer's is its digest (a tar layer's first header is checked); a compressed layer is
/// decompressed once and hashed.
fn diff_id(blob: &Path, l: &Checked) -> Result<(Digest, u64)> {
    let at = || format!("layer {} ({})", l.path, l.source.digest);
    if l.format == LayerFormat::Raw {
        return Ok((l.source.digest, 0));
    }
    let file =
        std::fs::File::open(blob).with_context(|| format!("{}: {}", at(), blob.display()))?;
    let mut r = decompressor(l.format, file)
        .with_context(|| format!("{}: not {} data", at(), l.format.as_str()))?;
    let mut head = [0u8; 512];
    let mut got = 0;
    while got < head.len() {
        let n = r
            .read(&mut head[got..])
            .with_context(|| format!("{}: not {} data", at(), l.format.as_str()))?;
        if n == 0 {
            break;
        }
        got += n;
    }
    if got < 512 || &head[257..262] != b"ustar" {
        bail!(
            "{}: the plan says {}, but it does not hold a tar archive",
            at(),
            l.format.as_str()
        );
    }
    if l.format == LayerFormat::Tar {
        return Ok((l.source.digest, 512));
    }
    let mut hasher = Hasher::new();
    hasher.update(&head);
    let mut buf = vec![0u8; BUF_LEN];
    loop {
        let n = r
            .read(&mut buf)
            .with_context(|| format!("{}: not {} data", at(), l.format.as_str()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    let (d, _) = hasher.finish();
    Ok((d, l.source.size))
}
