//! Plugins published as OCI artifacts, as Kubewarden publishes its policies: `modelpack plugins
//! push FILE.wasm REGISTRY/REPO:TAG` and `--policy oci://REGISTRY/REPO:TAG|@DIGEST`.
//!
//! The artifact is an OCI image manifest with `artifactType`
//! [`PLUGIN_ARTIFACT_TYPE`], the empty config, and one layer of media type
//! [`WASM_MEDIA_TYPE`] (`application/wasm`, the type the CNCF wasm OCI artifact layout uses)
//! holding the component, titled with its file name. Pushing builds that manifest in a
//! temporary layout (signed as `modelpack sign LAYOUT` signs, when a key is given) and pushes
//! it with its referrers like any artifact. Fetching pulls it like any artifact — every blob
//! hashed as it streams, nothing trusted before its digest matched — verifies its signature
//! when a key is given, and only then writes the component into the cache, content-addressed
//! (`<cache>/plugins/sha256/<hex>.wasm`, rewritten atomically, re-hashed before each use).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use super::RegistryOptions;
use super::referrers::{Carried, pull_into_layout, push_from_layout};
use crate::model::MANIFEST_MEDIA_TYPE;
use crate::oci::blob::BlobDir;
use crate::oci::layout::{
    INDEX_FILE, Layout, MAX_MANIFEST_SIZE, OCI_LAYOUT_FILE, index_with, oci_layout_bytes,
};
use crate::oci::{Descriptor, Digest, canonical_json};
use crate::sign::{PrivateKey, PublicKey};

/// The artifact type of a modelpack plugin published to a registry.
pub const PLUGIN_ARTIFACT_TYPE: &str = "application/vnd.modelpack.plugin.v1+wasm";
/// The media type of its one layer: the WebAssembly component.
pub const WASM_MEDIA_TYPE: &str = "application/wasm";
/// Largest plugin pushed or fetched.
pub const MAX_PLUGIN_SIZE: u64 = 64 << 20;
const EMPTY_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";
const TITLE: &str = "org.opencontainers.image.title";

/// What `plugins push` did.
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Published {
    /// The plugin manifest's digest.
    pub manifest: String,
    /// The component's digest.
    pub component: String,
    /// The signature referrer, when signed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// How the registry lists referrers, when signed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub referrers_via: Option<super::referrers::Via>,
}

/// Refuses what is not a WebAssembly component (a core module, anything else).
fn check_component(bytes: &[u8], shown: &str) -> Result<()> {
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        bail!("{shown}: not a WebAssembly file (no \\0asm magic)");
    }
    // Component binaries: version 0x0d, layer 1 (core modules are version 1, layer 0).
    if bytes[6..8] != [1, 0] {
        bail!("{shown}: a core WebAssembly module, not a component (build for wasm32-wasip2)");
    }
    Ok(())
}

/// Publishes the component `file` at `target` (a tag), signed with `key` when given.
pub fn push(
    file: &Path,
    target: &str,
    key: Option<&PrivateKey>,
    opts: &RegistryOptions,
) -> Result<Published> {
    let shown = file.display().to_string();
    let meta = std::fs::metadata(file).with_context(|| shown.clone())?;
    if meta.len() > MAX_PLUGIN_SIZE {
        bail!(
            "{shown}: {} bytes, more than the {MAX_PLUGIN_SIZE} a plugin may have",
            meta.len()
        );
    }
    let wasm = std::fs::read(file).with_context(|| shown.clone())?;
    check_component(&wasm, &shown)?;
    let reference = super::parse_reference(target)?;
    if reference.digest().is_some() {
        bail!("{target}: publish under a tag (REGISTRY/REPO:TAG); the digest is printed after");
    }
    let tag = reference.tag().unwrap_or(crate::oci::layout::DEFAULT_TAG);
    let tmp = tempfile::tempdir().context("creating a temporary layout")?;
    let root = tmp.path();
    let blobs = BlobDir::create(root)?;
    let empty = blobs.put_bytes(b"{}")?;
    let component = blobs.put_bytes(&wasm)?;
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "plugin.wasm".into());
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "artifactType": PLUGIN_ARTIFACT_TYPE,
        "config": {"mediaType": EMPTY_MEDIA_TYPE, "digest": empty.to_string(), "size": 2},
        "layers": [{"mediaType": WASM_MEDIA_TYPE, "digest": component.to_string(),
                    "size": wasm.len(), "annotations": {TITLE: name}}],
    });
    let bytes = canonical_json(&manifest);
    let digest = blobs.put_bytes(&bytes)?;
    let desc = Descriptor {
        media_type: MANIFEST_MEDIA_TYPE.into(),
        artifact_type: Some(PLUGIN_ARTIFACT_TYPE.into()),
        digest,
        size: bytes.len() as u64,
        annotations: Default::default(),
    };
    let (index, _) = index_with(None, &desc, tag)?;
    std::fs::write(root.join(INDEX_FILE), canonical_json(&index))?;
    std::fs::write(root.join(OCI_LAYOUT_FILE), oci_layout_bytes())?;
    let signature = match key {
        Some(k) => Some(crate::sign::oci::sign_layout(root, Some(tag), k)?.referrer),
        None => None,
    };
    super::push(root, Some(tag), target, opts)?;
    let carried: Carried = push_from_layout(root, Some(tag), target, opts)
        .context("the plugin was pushed, but not its signature")?;
    Ok(Published {
        manifest: digest.to_string(),
        component: component.to_string(),
        signature,
        referrers_via: carried.via,
    })
}

/// A fetched plugin: its component file, and the temporary directory holding it when there
/// is no cache (removed when this is dropped).
pub struct Fetched {
    /// The component, ready to load like a local `.wasm`.
    pub path: PathBuf,
    /// The plugin manifest's digest.
    pub manifest: Digest,
    _tmp: Option<tempfile::TempDir>,
}

/// Pulls the plugin `source` names (verifying its signature by `key` when given) and returns
/// its component, cached by digest.
pub fn fetch(source: &str, key: Option<&PublicKey>, opts: &RegistryOptions) -> Result<Fetched> {
    let cache = super::cache::root().map(|c| c.join("plugins").join("sha256"));
    let work = match &cache {
        Some(c) => {
            std::fs::create_dir_all(c).with_context(|| format!("creating {}", c.display()))?;
            tempfile::Builder::new()
                .prefix(".fetch-")
                .tempdir_in(c)
                .with_context(|| format!("creating a directory in {}", c.display()))?
        }
        None => tempfile::tempdir().context("creating a temporary directory")?,
    };
    let layout = work.path().join("layout");
    let pulled = super::pull(source, &layout, opts)
        .with_context(|| format!("fetching the plugin {source}"))?;
    if let Some(key) = key {
        pull_into_layout(source, &pulled.manifest, &layout, opts)
            .with_context(|| format!("fetching the signatures of {source}"))?;
        crate::sign::oci::verify_layout(&layout, Some(&pulled.tag), key).map_err(|e| {
            anyhow::anyhow!(
                "refused the plugin {}",
                e.to_string().replace(&layout.display().to_string(), source)
            )
        })?;
    }
    let l = Layout::open(&layout)?;
    let m: Value = serde_json::from_slice(&l.read_blob(
        &pulled.manifest,
        std::fs::metadata(l.blob_path(&pulled.manifest))?.len(),
        MAX_MANIFEST_SIZE,
    )?)?;
    if m.get("artifactType").and_then(Value::as_str) != Some(PLUGIN_ARTIFACT_TYPE) {
        bail!(
            "{source}: not a modelpack plugin (artifactType {}, expected {PLUGIN_ARTIFACT_TYPE}; publish one with `modelpack plugins push`)",
            m.get("artifactType").unwrap_or(&Value::Null)
        );
    }
    let layers = m["layers"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let [layer] = layers else {
        bail!(
            "{source}: a plugin artifact has exactly one layer, this one {}",
            layers.len()
        );
    };
    if layer["mediaType"] != WASM_MEDIA_TYPE {
        bail!(
            "{source}: the layer is {}, not {WASM_MEDIA_TYPE}",
            layer["mediaType"]
        );
    }
    let digest = layer["digest"]
        .as_str()
        .and_then(Digest::parse)
        .with_context(|| format!("{source}: the layer has no sha256 digest"))?;
    let size = layer["size"].as_u64().unwrap_or(u64::MAX);
    // Read back and re-hashed: the file the runtime loads is the one that matched.
    let wasm = l.read_blob(&digest, size, MAX_PLUGIN_SIZE)?;
    check_component(&wasm, source)?;
    let (dir, tmp) = match &cache {
        Some(c) => (c.clone(), None),
        None => (work.path().to_path_buf(), Some(work)),
    };
    let path = dir.join(format!("{}.wasm", digest.hex()));
    let staged = dir.join(format!(".{}.wasm.tmp-{}", digest.hex(), std::process::id()));
    std::fs::write(&staged, &wasm)
        .and_then(|()| std::fs::rename(&staged, &path))
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(Fetched {
        path,
        manifest: pulled.manifest,
        _tmp: tmp,
    })
}
