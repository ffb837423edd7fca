//! Foreign artifacts as `convert` reads them: an OCI image layout (`DIR[:TAG]`, `oci:DIR[:TAG]`)
//! or Ollama's model store (`ollama:NAME[:TAG]`, `~/.ollama/models` unless `--ollama-dir`).
//!
//! Everything read here is verified against its digest before a plugin sees it (manifests of a
//! layout, configs, the small blobs that are inlined); weight blobs are only located, never
//! read: they are linked into the output by digest, or copied while being hashed.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::oci::Digest;
use crate::oci::layout::{self, Layout, MAX_JSON_SIZE, MAX_MANIFEST_SIZE};

/// Where a foreign artifact is read from.
#[derive(Debug, Clone)]
pub enum SourceSpec {
    /// An OCI image layout and a tag (the only manifest when none).
    Layout {
        /// The layout directory.
        dir: PathBuf,
        /// The tag.
        tag: Option<String>,
    },
    /// An Ollama model store and a model name.
    Ollama {
        /// The store (`~/.ollama/models`).
        store: PathBuf,
        /// `NAME[:TAG]`, `NS/NAME[:TAG]` or `HOST/NS/NAME[:TAG]`.
        name: String,
    },
}

/// The store `ollama:` names resolve in: `--ollama-dir`, else `$OLLAMA_MODELS`, else
/// `~/.ollama/models` (ollama/ollama `envconfig.Models`).
pub fn ollama_store(explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    if let Some(p) = std::env::var_os("OLLAMA_MODELS").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .context("ollama: HOME is not set; name the store with --ollama-dir")?;
    Ok(PathBuf::from(home).join(".ollama").join("models"))
}

/// Recognises an artifact source; `None` for anything else (weight files, model directories),
/// which `convert` treats as before.
pub fn parse(arg: &str, ollama_dir: Option<&Path>) -> Result<Option<SourceSpec>> {
    if let Some(name) = arg.strip_prefix("ollama:") {
        return Ok(Some(SourceSpec::Ollama {
            store: ollama_store(ollama_dir)?,
            name: name.to_string(),
        }));
    }
    let (rest, explicit) = match arg.strip_prefix("oci:") {
        Some(r) => (r, true),
        None => (arg, false),
    };
    let (dir, tag) = layout::split_reference(rest);
    if layout::is_layout(&dir) {
        return Ok(Some(SourceSpec::Layout { dir, tag }));
    }
    if explicit {
        bail!(
            "{arg}: {} is not an OCI image layout (no oci-layout file)",
            dir.display()
        );
    }
    if ollama_dir.is_some() && !Path::new(arg).exists() {
        return Ok(Some(SourceSpec::Ollama {
            store: ollama_store(ollama_dir)?,
            name: arg.to_string(),
        }));
    }
    Ok(None)
}

/// One layer of a foreign manifest.
#[derive(Debug, Clone)]
pub struct LayerDesc {
    /// Media type.
    pub media_type: String,
    /// Digest.
    pub digest: Digest,
    /// Size.
    pub size: u64,
}

/// A foreign artifact read and verified.
#[derive(Debug, Clone)]
pub struct Artifact {
    /// How it is shown (`oci-layout:DIR:TAG`, `ollama:HOST/NS/NAME:TAG`).
    pub reference: String,
    /// The manifest bytes.
    pub manifest_bytes: Vec<u8>,
    /// The manifest's `mediaType` (empty when absent).
    pub media_type: String,
    /// Its `artifactType` (empty when absent).
    pub artifact_type: String,
    /// Its config's media type.
    pub config_media_type: String,
    /// Its config, verified (empty when it has none).
    pub config: Vec<u8>,
    /// Its layers.
    pub layers: Vec<LayerDesc>,
}

/// Where blobs live.
#[derive(Debug, Clone)]
pub enum Store {
    /// `DIR/blobs/sha256/<hex>`.
    Layout(PathBuf),
    /// `STORE/blobs/sha256-<hex>`.
    Ollama(PathBuf),
}

impl Store {
    /// The file holding a blob.
    pub fn blob_path(&self, d: &Digest) -> PathBuf {
        match self {
            Store::Layout(root) => root.join("blobs").join("sha256").join(d.hex()),
            Store::Ollama(root) => root.join("blobs").join(format!("sha256-{}", d.hex())),
        }
    }

    /// The directory every blob is in (the confinement root for format plugins).
    pub fn blob_dir(&self) -> PathBuf {
        match self {
            Store::Layout(root) => root.join("blobs").join("sha256"),
            Store::Ollama(root) => root.join("blobs"),
        }
    }

    /// Reads a small blob whole and checks its size and digest.
    pub fn read_verified(&self, d: &Digest, size: u64, max: u64) -> Result<Vec<u8>> {
        if size > max {
            bail!("blob {d}: {size} bytes, more than the {max} read into memory");
        }
        let path = self.blob_path(d);
        let f =
            crate::regular::open(&path).with_context(|| format!("blob {d}: {}", path.display()))?;
        let mut bytes = Vec::with_capacity(size as usize);
        f.take(size + 1)
            .read_to_end(&mut bytes)
            .with_context(|| format!("reading {}", path.display()))?;
        if bytes.len() as u64 != size {
            bail!(
                "blob {d} ({}): {} bytes, the manifest says {size}",
                path.display(),
                bytes.len()
            );
        }
        let got = Digest::of(&bytes);
        if got != *d {
            bail!(
                "blob {d} ({}): content does not match its digest (it is {got})",
                path.display()
            );
        }
        Ok(bytes)
    }
}

/// Opens a source: its store and the artifact named.
pub fn open(spec: &SourceSpec) -> Result<(Store, Artifact)> {
    match spec {
        SourceSpec::Layout { dir, tag } => {
            let store = Store::Layout(dir.clone());
            let l = Layout::open(dir)?;
            let entry = l.resolve(tag.as_deref())?;
            let shown = format!(
                "oci-layout:{}{}",
                dir.display(),
                tag.as_deref().map(|t| format!(":{t}")).unwrap_or_default()
            );
            let bytes = l
                .read_blob(&entry.digest, entry.size, MAX_MANIFEST_SIZE)
                .with_context(|| format!("{shown}: manifest"))?;
            let a = artifact(&store, shown, bytes, &entry.media_type)?;
            Ok((store, a))
        }
        SourceSpec::Ollama { store, name } => {
            let (file, shown) = ollama_manifest_path(store, name)?;
            let bytes = layout::read_capped(&file, MAX_MANIFEST_SIZE).with_context(|| {
                format!(
                    "ollama:{name}: no such model in {} ({})",
                    store.display(),
                    file.display()
                )
            })?;
            let s = Store::Ollama(store.clone());
            let a = artifact(&s, shown, bytes, "")
                .with_context(|| format!("manifest {}", file.display()))?;
            Ok((s, a))
        }
    }
}

/// `manifests/<host>/<namespace>/<model>/<tag>` for an Ollama name (defaults
/// `registry.ollama.ai`, `library`, `latest`; ollama/ollama `types/model/name.go`).
fn ollama_manifest_path(store: &Path, name: &str) -> Result<(PathBuf, String)> {
    let (path, tag) = match name.rsplit_once(':') {
        Some((p, t)) if !t.contains('/') => (p, t),
        _ => (name, "latest"),
    };
    let parts: Vec<&str> = path.split('/').collect();
    let (host, ns, model) = match parts.as_slice() {
        [m] => ("registry.ollama.ai", "library", *m),
        [n, m] => ("registry.ollama.ai", *n, *m),
        [h, n, m] => (*h, *n, *m),
        _ => bail!(
            "ollama:{name}: not a model name (NAME, NAMESPACE/NAME or HOST/NAMESPACE/NAME, then :TAG)"
        ),
    };
    let ok = |s: &str| {
        !s.is_empty()
            && s != "."
            && s != ".."
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-:".contains(c))
    };
    if ![host, ns, model, tag].iter().all(|s| ok(s)) {
        bail!("ollama:{name}: not a model name (letters, digits, `.`, `_`, `-` in each part)");
    }
    let file = store
        .join("manifests")
        .join(host)
        .join(ns)
        .join(model)
        .join(tag);
    Ok((file, format!("ollama:{host}/{ns}/{model}:{tag}")))
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// Parses and checks a manifest, and reads its config.
fn artifact(
    store: &Store,
    reference: String,
    bytes: Vec<u8>,
    listed_type: &str,
) -> Result<Artifact> {
    let v: Value = serde_json::from_slice(&bytes)
        .map_err(|e| anyhow::anyhow!("{reference}: the manifest is not JSON: {e}"))?;
    if !v.is_object() {
        bail!("{reference}: the manifest is not a JSON object");
    }
    let media_type = match text(&v, "mediaType") {
        "" => listed_type.to_string(),
        m => m.to_string(),
    };
    if media_type.contains("index")
        || media_type.contains("manifest.list")
        || v.get("manifests").is_some()
    {
        bail!(
            "{reference}: an image index, not a manifest: name one manifest (a tag of a single-platform artifact)"
        );
    }
    let desc = |d: &Value, at: &str| -> Result<(String, Digest, u64)> {
        let digest = text(d, "digest");
        let parsed = Digest::parse(digest).with_context(|| {
            format!("{reference}: manifest {at}.digest {digest:?} is not a sha256 digest")
        })?;
        let size = d.get("size").and_then(Value::as_u64).with_context(|| {
            format!("{reference}: manifest {at}.size is missing or not a byte count")
        })?;
        Ok((text(d, "mediaType").to_string(), parsed, size))
    };
    let Some(layers_v) = v.get("layers").and_then(Value::as_array) else {
        bail!("{reference}: the manifest has no layers array");
    };
    let mut layers = Vec::with_capacity(layers_v.len());
    for (i, l) in layers_v.iter().enumerate() {
        let (media_type, digest, size) = desc(l, &format!("layers[{i}]"))?;
        layers.push(LayerDesc {
            media_type,
            digest,
            size,
        });
    }
    let (config_media_type, config) = match v.get("config") {
        Some(c) => {
            let (mt, d, size) = desc(c, "config")?;
            let bytes = store
                .read_verified(&d, size, MAX_JSON_SIZE)
                .with_context(|| format!("{reference}: config"))?;
            (mt, bytes)
        }
        None => (String::new(), Vec::new()),
    };
    Ok(Artifact {
        reference,
        manifest_bytes: bytes,
        media_type,
        artifact_type: text(&v, "artifactType").to_string(),
        config_media_type,
        config,
        layers,
    })
}

/// Finds another artifact a converter asked for, in the same source: in a layout, the
/// manifest tagged with the reference itself or with its tag; in an Ollama store, the model
/// of that name. `None` when the source does not hold it.
pub fn resolve(spec: &SourceSpec, store: &Store, reference: &str) -> Result<Option<Artifact>> {
    match spec {
        SourceSpec::Layout { dir, .. } => {
            let l = Layout::open(dir)?;
            let tag = reference
                .rsplit_once(':')
                .filter(|(_, t)| !t.contains('/'))
                .map(|(_, t)| t);
            let entries = l.entries()?;
            let hit = entries
                .iter()
                .find(|e| e.tag.as_deref() == Some(reference))
                .or_else(|| {
                    entries
                        .iter()
                        .find(|e| tag.is_some() && e.tag.as_deref() == tag)
                });
            let Some(e) = hit else {
                return Ok(None);
            };
            let bytes = l.read_blob(&e.digest, e.size, MAX_MANIFEST_SIZE)?;
            Ok(Some(artifact(
                store,
                reference.to_string(),
                bytes,
                &e.media_type,
            )?))
        }
        SourceSpec::Ollama { store: root, .. } => {
            let Ok((file, _)) = ollama_manifest_path(root, reference) else {
                return Ok(None);
            };
            if !file.is_file() {
                return Ok(None);
            }
            let bytes = layout::read_capped(&file, MAX_MANIFEST_SIZE)?;
            Ok(Some(artifact(store, reference.to_string(), bytes, "")?))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ollama_names_resolve_with_defaults() {
        let s = Path::new("/s");
        let (p, shown) = ollama_manifest_path(s, "llama3").unwrap();
        assert_eq!(
            p,
            Path::new("/s/manifests/registry.ollama.ai/library/llama3/latest")
        );
        assert_eq!(shown, "ollama:registry.ollama.ai/library/llama3:latest");
        let (p, _) = ollama_manifest_path(s, "me/tiny:q4").unwrap();
        assert_eq!(p, Path::new("/s/manifests/registry.ollama.ai/me/tiny/q4"));
        let (p, _) = ollama_manifest_path(s, "example.com/me/tiny:1").unwrap();
        assert_eq!(p, Path::new("/s/manifests/example.com/me/tiny/1"));
        for bad in ["../../etc/passwd", "a/b/c/d", "x:..", "", "a//b"] {
            assert!(ollama_manifest_path(s, bad).is_err(), "{bad}");
        }
    }
}
