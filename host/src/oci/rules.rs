//! What `unpack` writes and what it refuses: one rule set, applied by `unpack` while it writes
//! and by `validate` while it reads, so "validate reports what unpack would refuse" holds by
//! construction rather than by two lists kept in step.
//!
//! Three levels: a layer descriptor ([`layer_ref`]: media type, sha256 digest, size, a file
//! path for raw layers), a tar entry on its own ([`tar_entry`]: a plain relative UTF-8 path;
//! regular files, directories, and links that stay inside the output; nothing else), and the
//! tree all layers of a manifest lay out together ([`Tree`]: no path written twice, no file
//! where a directory is needed, hard links only to files of the artifact).

use std::collections::{HashMap, HashSet};
use std::path::{Component, Path};

use anyhow::{Result, anyhow, bail};
use serde_json::Value;

use super::digest::Digest;
use super::layers::check_relative_path;
use crate::model::{
    ANNOTATION_FILE_METADATA, ANNOTATION_FILEPATH, ANNOTATION_TITLE, LayerFormat,
    parse_layer_media_type,
};

/// Legacy spelling of the filepath annotation, still written by released modctl builds.
pub const LEGACY_FILEPATH: &str = "org.cnai.model.filepath";
/// Legacy spelling of the file metadata annotation.
pub const LEGACY_FILE_METADATA: &str = "org.cnai.model.file.metadata+json";

/// A layer as `unpack` reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerRef {
    /// Position in the manifest's `layers`.
    pub index: usize,
    /// Raw or one of the tar formats.
    pub format: LayerFormat,
    /// The blob.
    pub digest: Digest,
    /// The blob's size.
    pub size: u64,
    /// Where a raw layer's file goes (tar layers carry their own paths).
    pub filepath: Option<String>,
    /// The file mode recorded in the file metadata annotation.
    pub mode: Option<u32>,
}

/// A descriptor's sha256 digest and size (other algorithms cannot be verified: refused).
pub fn descriptor_digest(d: &Value) -> Result<(Digest, u64)> {
    let s = d.get("digest").and_then(Value::as_str).unwrap_or("");
    let digest = Digest::parse(s).ok_or_else(|| {
        anyhow!("unsupported digest {s:?}: only sha256 blobs can be verified and unpacked")
    })?;
    let size = d
        .get("size")
        .and_then(Value::as_u64)
        .ok_or_else(|| anyhow!("size is not a non-negative integer"))?;
    Ok((digest, size))
}

/// Reads layer `index` of a manifest the way `unpack` does; an error is why it refuses it.
pub fn layer_ref(l: &Value, index: usize) -> Result<LayerRef> {
    let mt = l.get("mediaType").and_then(Value::as_str).unwrap_or("");
    let Some((_, format, _)) = parse_layer_media_type(mt) else {
        bail!("layer {index}: unsupported media type {mt:?}");
    };
    let (digest, size) = descriptor_digest(l).map_err(|e| anyhow!("layer {index}: {e}"))?;
    let ann = |k: &str| {
        l.get("annotations")
            .and_then(|a| a.get(k))
            .and_then(Value::as_str)
    };
    // The OCI title is what ORAS-style tools write; it names a raw layer's file when the
    // ModelPack annotation is absent (the same path rules apply to it).
    let filepath = ann(ANNOTATION_FILEPATH)
        .or_else(|| ann(LEGACY_FILEPATH))
        .or_else(|| {
            (format == LayerFormat::Raw)
                .then(|| ann(ANNOTATION_TITLE))
                .flatten()
        })
        .map(str::to_string);
    if format == LayerFormat::Raw {
        match &filepath {
            None => bail!("layer {index}: raw layer without {ANNOTATION_FILEPATH}"),
            Some(p) => {
                check_relative_path(p).map_err(|e| anyhow!("refusing to write {e}"))?;
            }
        }
    }
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

/// Whether `mt` claims to be a ModelPack layer type (current or legacy spelling).
pub fn is_modelpack_namespace(mt: &str) -> bool {
    mt.starts_with("application/vnd.cncf.model.") || mt.starts_with(crate::model::LEGACY_PREFIX)
}

/// Whether unpack leaves layer `l` alone: a layer of another tool (a signature, an SBOM, a
/// vendor's extra) is not ours to restore, and OCI consumers must not fail on it. A malformed
/// type in ModelPack's own namespace is refused instead.
pub fn is_foreign_layer(l: &Value) -> bool {
    let mt = l.get("mediaType").and_then(Value::as_str).unwrap_or("");
    parse_layer_media_type(mt).is_none() && !is_modelpack_namespace(mt)
}

/// Every ModelPack layer of a manifest (foreign ones skipped with a warning), or the first
/// refusal.
pub fn layer_refs(manifest: &Value) -> Result<Vec<LayerRef>> {
    let Some(layers) = manifest.get("layers").and_then(Value::as_array) else {
        bail!("no layers array");
    };
    layers
        .iter()
        .enumerate()
        .filter_map(|(i, l)| {
            if is_foreign_layer(l) {
                let mt = l.get("mediaType").and_then(Value::as_str).unwrap_or("");
                eprintln!("warning: layer {i}: {mt:?} is not a ModelPack layer; skipped");
                return None;
            }
            Some(layer_ref(l, i))
        })
        .collect()
}

/// What `unpack` does with one tar entry (or a raw layer's file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Writes a regular file.
    File {
        /// Output-relative path.
        path: String,
        /// Permission bits.
        mode: u32,
    },
    /// Creates a directory.
    Dir(String),
    /// Creates a symlink (after every file is written).
    Symlink {
        /// Where the link goes.
        path: String,
        /// What it points to, relative to its own directory.
        target: String,
    },
    /// Creates a hard link to a file of the artifact (after every file is written).
    HardLink {
        /// Where the link goes.
        path: String,
        /// Output-relative path of the file it links to.
        target: String,
    },
    /// Nothing to write (pax headers, the root directory).
    Skip,
}

/// Strips what tar writers commonly add (`./` prefixes, a trailing `/` on directories).
fn entry_path(raw: &[u8]) -> Result<String> {
    let s = std::str::from_utf8(raw).map_err(|_| {
        anyhow!(
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

/// Judges one tar entry on its own: its path, its type, and where a link leads.
pub fn tar_entry(
    raw_path: &[u8],
    kind: tar::EntryType,
    link: Option<&[u8]>,
    mode: u32,
) -> Result<Action> {
    let rel = entry_path(raw_path)?;
    if matches!(
        kind,
        tar::EntryType::XGlobalHeader | tar::EntryType::XHeader
    ) {
        return Ok(Action::Skip);
    }
    if rel.is_empty() && kind == tar::EntryType::Directory {
        return Ok(Action::Skip);
    }
    check_relative_path(&rel).map_err(|e| anyhow!("refusing to write {e}"))?;
    let link_target = || -> Result<String> {
        let raw = link.ok_or_else(|| anyhow!("{rel}: link without a target"))?;
        String::from_utf8(raw.to_vec()).map_err(|_| {
            anyhow!(
                "{rel}: link target is not UTF-8: {:?}",
                String::from_utf8_lossy(raw)
            )
        })
    };
    Ok(match kind {
        tar::EntryType::Regular | tar::EntryType::Continuous => Action::File {
            path: rel,
            mode: mode & 0o777,
        },
        tar::EntryType::Directory => Action::Dir(rel),
        tar::EntryType::Symlink => {
            let target = link_target()?;
            check_symlink_target(&rel, &target)?;
            Action::Symlink { path: rel, target }
        }
        tar::EntryType::Link => {
            let target = entry_path(link_target()?.as_bytes())?;
            check_relative_path(&target)
                .map_err(|e| anyhow!("refusing hard link {rel}: its target {e}"))?;
            Action::HardLink { path: rel, target }
        }
        other => bail!(
            "{rel}: unsupported tar entry type {other:?} (unpack writes only files, \
             directories and links)"
        ),
    })
}

/// A symlink target must stay inside the output judged from where the link sits: relative,
/// `..` only as leading components and no more of them than the link is deep.
pub fn check_symlink_target(link: &str, target: &str) -> Result<()> {
    let refuse = |why: &str| anyhow!("refusing symlink {link} -> {target}: {why}");
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Leaf {
    File,
    Link,
}

/// The links to create once every file is written, in a fixed order.
#[derive(Debug, Default)]
pub struct Links {
    /// Hard links (path, target), sorted.
    pub hard: Vec<(String, String)>,
    /// Symlinks (path, target), sorted.
    pub sym: Vec<(String, String)>,
}

/// The paths the layers of one manifest lay out, so entries that collide are refused: a path
/// written twice (in one layer or across layers), a file where a directory is needed or the
/// other way round, a path below a file or link.
#[derive(Debug, Default)]
pub struct Tree {
    dirs: HashSet<String>,
    leaves: HashMap<String, Leaf>,
    links: Links,
}

impl Tree {
    /// Adds what an action writes, or says why unpack refuses it.
    pub fn add(&mut self, action: &Action) -> Result<()> {
        let (path, leaf) = match action {
            Action::Skip => return Ok(()),
            Action::Dir(p) => (p, None),
            Action::File { path, .. } => (path, Some(Leaf::File)),
            Action::Symlink { path, .. } | Action::HardLink { path, .. } => {
                (path, Some(Leaf::Link))
            }
        };
        if self.leaves.contains_key(path.as_str()) {
            bail!("{path}: written twice (a file or link of that path is already in the artifact)");
        }
        if leaf.is_some() && self.dirs.contains(path.as_str()) {
            bail!("{path}: a file or link where the artifact has a directory");
        }
        let mut ancestors = Vec::new();
        let mut rest = path.as_str();
        while let Some((parent, _)) = rest.rsplit_once('/') {
            if self.dirs.contains(parent) {
                break;
            }
            if self.leaves.contains_key(parent) {
                bail!("{path}: its parent {parent} is a file or link, not a directory");
            }
            ancestors.push(parent.to_string());
            rest = parent;
        }
        self.dirs.extend(ancestors);
        match leaf {
            None => {
                self.dirs.insert(path.clone());
            }
            Some(l) => {
                self.leaves.insert(path.clone(), l);
            }
        }
        match action {
            Action::Symlink { path, target } => {
                self.links.sym.push((path.clone(), target.clone()));
            }
            Action::HardLink { path, target } => {
                self.links.hard.push((path.clone(), target.clone()));
            }
            _ => {}
        }
        Ok(())
    }

    /// Checks what can only be judged once every layer is in (a hard link's target must be a
    /// regular file of the artifact) and returns the links to create.
    pub fn finish(mut self) -> Result<Links> {
        for (link, target) in &self.links.hard {
            if self.leaves.get(target.as_str()) != Some(&Leaf::File) {
                bail!("hard link {link} -> {target}: the target is not a file in the artifact");
            }
        }
        self.links.hard.sort();
        self.links.sym.sort();
        Ok(self.links)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tar::EntryType as T;

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
    fn entries_on_their_own() {
        assert_eq!(
            tar_entry(b"./a/b", T::Regular, None, 0o100755).unwrap(),
            Action::File {
                path: "a/b".into(),
                mode: 0o755
            }
        );
        assert_eq!(
            tar_entry(b"./", T::Directory, None, 0).unwrap(),
            Action::Skip
        );
        for (name, kind, link) in [
            (&b"../x"[..], T::Regular, None),
            (b"/etc/x", T::Regular, None),
            (b"p", T::Fifo, None),
            (b"d", T::Char, None),
            (b"l", T::Symlink, Some(&b"/etc/passwd"[..])),
            (b"h", T::Link, Some(b"/etc/passwd")),
            (b"h", T::Link, Some(b"../x")),
            (b"\xff", T::Regular, None),
        ] {
            assert!(
                tar_entry(name, kind, link, 0o644).is_err(),
                "{:?}",
                String::from_utf8_lossy(name)
            );
        }
    }

    #[test]
    fn the_tree_refuses_collisions() {
        let file = |p: &str| Action::File {
            path: p.into(),
            mode: 0o644,
        };
        let mut t = Tree::default();
        t.add(&file("a/b")).unwrap();
        t.add(&Action::Dir("a".into())).unwrap();
        assert!(t.add(&file("a/b")).is_err(), "duplicate");
        assert!(t.add(&file("a")).is_err(), "file over a directory");
        assert!(t.add(&file("a/b/c")).is_err(), "below a file");
        assert!(t.add(&Action::Dir("a/b".into())).is_err());
        t.add(&Action::HardLink {
            path: "h".into(),
            target: "a/b".into(),
        })
        .unwrap();
        assert_eq!(t.finish().unwrap().hard, vec![("h".into(), "a/b".into())]);

        let mut t = Tree::default();
        t.add(&Action::Symlink {
            path: "s".into(),
            target: "x".into(),
        })
        .unwrap();
        t.add(&Action::HardLink {
            path: "h".into(),
            target: "s".into(),
        })
        .unwrap();
        assert!(t.finish().is_err(), "hard link to a symlink");
    }
}
