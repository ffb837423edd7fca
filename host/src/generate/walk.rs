//! Which files of a model directory are considered: a sorted walk that skips hidden files,
//! VCS metadata and caches, honours `.modelpackignore` and `--include`/`--exclude`, and
//! follows symlinks only while they stay inside the directory.
//!
//! Rules, in order, for a path relative to the model root (`/`-separated):
//! 1. `--exclude` drops it (a pattern without `/` matches the file or directory name at any
//!    depth, one with `/` the whole relative path; `**` crosses directories);
//! 2. by default a path is skipped when a component is hidden (`.git`, `.cache`, `.DS_Store`…),
//!    `__pycache__` or `node_modules`, when it is a `*.pyc`/`*.pyo` file, or when the root's
//!    `.modelpackignore` (gitignore syntax) ignores it;
//! 3. `--include` brings back a file rule 2 skipped (not one rule 1 dropped).
//!
//! Symlinks to files are followed for content (the file is packed under the link's path). A
//! symlink to a directory inside the model is not descended: its files are taken under their
//! real path. A link whose target leaves the model directory is an error, except in a Hugging Face cache tree (`models--org--name/snapshots/<rev>/`), whose
//! links point into the sibling `blobs/` directory by design.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};
use ignore::gitignore::{Gitignore, GitignoreBuilder};

use crate::inspect::skipped_name;

/// Name of the ignore file read from the model root.
pub const IGNORE_FILE: &str = ".modelpackignore";

/// One file that will be considered.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Relative path, `/`-separated.
    pub rel: String,
    /// Path inside the walked directory (may be a symlink).
    pub path: PathBuf,
    /// Canonical path of the content.
    pub abs: PathBuf,
    /// Size of the content in bytes.
    pub size: u64,
    /// Unix permission bits of the content.
    pub mode: u32,
}

/// The result of walking a model directory.
#[derive(Debug)]
pub struct Walked {
    /// Canonical model directory.
    pub root: PathBuf,
    /// Directory plugins may read inside (the root, or a Hugging Face cache repo).
    pub confine: PathBuf,
    /// The files, sorted by relative path.
    pub entries: Vec<Entry>,
    /// Things worth telling the user (special files skipped…).
    pub warnings: Vec<String>,
}

/// `--include`/`--exclude` patterns compiled.
#[derive(Debug, Default)]
pub struct Patterns {
    names: Option<GlobSet>,
    paths: Option<GlobSet>,
}

impl Patterns {
    /// Compiles globs; `flag` names the option in error messages.
    pub fn new(globs: &[String], flag: &str) -> Result<Patterns> {
        let mut names = GlobSetBuilder::new();
        let mut paths = GlobSetBuilder::new();
        let (mut n, mut p) = (0, 0);
        for g in globs {
            let pattern = g.trim_start_matches("./").trim_end_matches('/');
            if pattern.is_empty() {
                bail!("{flag} {g:?}: empty pattern");
            }
            let glob = |s: &str| -> Result<Glob> {
                GlobBuilder::new(s)
                    .literal_separator(true)
                    .build()
                    .with_context(|| format!("{flag} {g:?}"))
            };
            if pattern.contains('/') {
                paths.add(glob(pattern)?);
                p += 1;
            } else {
                names.add(glob(pattern)?);
                n += 1;
            }
        }
        let build = |b: GlobSetBuilder, count: usize| -> Result<Option<GlobSet>> {
            if count == 0 {
                return Ok(None);
            }
            Ok(Some(b.build().with_context(|| format!("{flag} patterns"))?))
        };
        Ok(Patterns {
            names: build(names, n)?,
            paths: build(paths, p)?,
        })
    }

    /// True when there is no pattern at all.
    pub fn is_empty(&self) -> bool {
        self.names.is_none() && self.paths.is_none()
    }

    /// Whether a relative path (file or directory) matches.
    pub fn matches(&self, rel: &str) -> bool {
        let name = rel.rsplit('/').next().unwrap_or(rel);
        self.names.as_ref().is_some_and(|s| s.is_match(name))
            || self.paths.as_ref().is_some_and(|s| s.is_match(rel))
    }
}

/// How the walk decides what to keep.
pub struct Filters {
    /// `--include` patterns.
    pub include: Patterns,
    /// `--exclude` patterns.
    pub exclude: Patterns,
    /// Absolute paths never taken (the `--output` file).
    pub leave_out: Vec<PathBuf>,
}

struct Walker<'a> {
    root: PathBuf,
    blobs: Option<PathBuf>,
    filters: &'a Filters,
    ignore: Option<Gitignore>,
    visited: BTreeSet<PathBuf>,
    entries: Vec<Entry>,
    warnings: Vec<String>,
}

/// Walks a model directory.
pub fn walk(dir: &Path, filters: &Filters) -> Result<Walked> {
    let meta = std::fs::metadata(dir).map_err(|e| anyhow!("{}: {e}", dir.display()))?;
    if !meta.is_dir() {
        bail!("{}: not a directory", dir.display());
    }
    let root = dir
        .canonicalize()
        .map_err(|e| anyhow!("{}: {e}", dir.display()))?;
    let (blobs, confine) = hf_cache_blobs(&root)
        .map(|(b, repo)| (Some(b), repo))
        .unwrap_or((None, root.clone()));
    let ignore_path = root.join(IGNORE_FILE);
    let ignore = if ignore_path.is_file() {
        let mut b = GitignoreBuilder::new(&root);
        if let Some(e) = b.add(&ignore_path) {
            bail!("{}: {e}", ignore_path.display());
        }
        Some(
            b.build()
                .map_err(|e| anyhow!("{}: {e}", ignore_path.display()))?,
        )
    } else {
        None
    };
    let mut w = Walker {
        root: root.clone(),
        blobs,
        filters,
        ignore,
        visited: BTreeSet::new(),
        entries: Vec::new(),
        warnings: Vec::new(),
    };
    w.visited.insert(root.clone());
    w.dir(&root, "", false)?;
    w.entries.sort_by(|a, b| a.rel.cmp(&b.rel));
    Ok(Walked {
        root,
        confine,
        entries: w.entries,
        warnings: w.warnings,
    })
}

/// For `…/models--org--name/snapshots/<rev>`, the repo's `blobs` dir and the repo dir.
fn hf_cache_blobs(root: &Path) -> Option<(PathBuf, PathBuf)> {
    let snapshots = root.parent()?;
    let repo = snapshots.parent()?;
    let is_cache = snapshots.file_name()? == "snapshots"
        && repo.file_name()?.to_string_lossy().starts_with("models--");
    let blobs = repo.join("blobs");
    (is_cache && blobs.is_dir()).then(|| (blobs, repo.to_path_buf()))
}

impl Walker<'_> {
    fn inside(&self, target: &Path) -> bool {
        target.starts_with(&self.root) || self.blobs.as_ref().is_some_and(|b| target.starts_with(b))
    }

    /// Walks `dir` (its path relative to the root is `prefix`); `skipped` when an ancestor
    /// was skipped by default and only `--include` can bring files back.
    fn dir(&mut self, dir: &Path, prefix: &str, skipped: bool) -> Result<()> {
        let mut names: Vec<_> = std::fs::read_dir(dir)
            .map_err(|e| anyhow!("{}: {e}", dir.display()))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<std::io::Result<_>>()
            .map_err(|e| anyhow!("{}: {e}", dir.display()))?;
        names.sort();
        for name in names {
            let name_s = name.to_string_lossy().into_owned();
            let rel = if prefix.is_empty() {
                name_s.clone()
            } else {
                format!("{prefix}/{name_s}")
            };
            if self.filters.exclude.matches(&rel) {
                continue;
            }
            let path = dir.join(&name);
            let lmeta =
                std::fs::symlink_metadata(&path).map_err(|e| anyhow!("{}: {e}", path.display()))?;
            let target = if lmeta.file_type().is_symlink() {
                let t = path.canonicalize().map_err(|e| {
                    anyhow!("{rel}: broken symlink ({e}); remove it or --exclude it")
                })?;
                if !self.inside(&t) {
                    bail!(
                        "{rel}: symlink to {} leaves {}; refusing to follow it (copy the file \
                         in, or --exclude it)",
                        t.display(),
                        self.root.display()
                    );
                }
                t
            } else {
                path.clone()
            };
            let meta =
                std::fs::metadata(&target).map_err(|e| anyhow!("{}: {e}", path.display()))?;
            let default_skip = skipped
                || skipped_name(&name_s)
                || (meta.is_file() && (name_s.ends_with(".pyc") || name_s.ends_with(".pyo")))
                || self
                    .ignore
                    .as_ref()
                    .is_some_and(|g| g.matched(Path::new(&rel), meta.is_dir()).is_ignore());
            if meta.is_dir() {
                // Without --include nothing under a skipped directory can come back.
                if default_skip && self.filters.include.is_empty() {
                    continue;
                }
                if lmeta.file_type().is_symlink() {
                    // Inside the root (checked above): its files are taken under their real
                    // path, once, whatever the order of the walk.
                    let real = target.strip_prefix(&self.root).unwrap_or(&target);
                    self.warnings.push(format!(
                        "{rel}: symlink to the directory {}; its files are taken from there",
                        real.display()
                    ));
                    continue;
                }
                let canonical = target
                    .canonicalize()
                    .map_err(|e| anyhow!("{}: {e}", path.display()))?;
                if !self.visited.insert(canonical.clone()) {
                    // A symlink loop or a second link to the same directory.
                    continue;
                }
                self.dir(&canonical, &rel, default_skip)?;
                continue;
            }
            if default_skip && !self.filters.include.matches(&rel) {
                continue;
            }
            if !meta.is_file() {
                self.warnings
                    .push(format!("{rel}: not a regular file; left out"));
                continue;
            }
            let abs = target
                .canonicalize()
                .map_err(|e| anyhow!("{}: {e}", path.display()))?;
            if self.filters.leave_out.contains(&abs) || self.filters.leave_out.contains(&path) {
                continue;
            }
            utf8_path(&self.root, &path)?;
            self.entries.push(Entry {
                rel,
                path,
                abs,
                size: meta.len(),
                mode: mode_bits(&meta),
            });
        }
        Ok(())
    }
}

/// Refuses a file whose path below the root is not UTF-8: layer annotations and tar entries
/// record paths as UTF-8, so it could only be stored under another (lossy) name.
fn utf8_path(root: &Path, path: &Path) -> Result<()> {
    let rel = path.strip_prefix(root).unwrap_or(path);
    if rel.to_str().is_none() {
        bail!("{}", crate::inspect::non_utf8(rel));
    }
    Ok(())
}

#[cfg(unix)]
fn mode_bits(meta: &std::fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o777
}

#[cfg(not(unix))]
fn mode_bits(meta: &std::fs::Metadata) -> u32 {
    if meta.permissions().readonly() {
        0o444
    } else {
        0o644
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(root: &Path, rel: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, b"x").unwrap();
    }

    fn rels(dir: &Path, include: &[&str], exclude: &[&str]) -> Vec<String> {
        let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let filters = Filters {
            include: Patterns::new(&s(include), "--include").unwrap(),
            exclude: Patterns::new(&s(exclude), "--exclude").unwrap(),
            leave_out: vec![],
        };
        walk(dir, &filters)
            .unwrap()
            .entries
            .into_iter()
            .map(|e| e.rel)
            .collect()
    }

    #[test]
    fn skips_hidden_caches_and_ignored() {
        let t = tempfile::tempdir().unwrap();
        for f in [
            "config.json",
            ".git/HEAD",
            ".cache/huggingface/x.lock",
            "__pycache__/m.cpython-311.pyc",
            "src/m.py",
            "src/m.pyc",
            ".DS_Store",
            "logs/run.log",
            "logs/keep.log",
            "w/model.safetensors",
        ] {
            touch(t.path(), f);
        }
        std::fs::write(t.path().join(IGNORE_FILE), "logs/\n!logs/keep.log\n*.tmp\n").unwrap();
        assert_eq!(
            rels(t.path(), &[], &[]),
            ["config.json", "src/m.py", "w/model.safetensors"]
        );
        assert_eq!(
            rels(t.path(), &[".git/HEAD", "*.log"], &["w"]),
            [
                ".git/HEAD",
                "config.json",
                "logs/keep.log",
                "logs/run.log",
                "src/m.py"
            ]
        );
        assert_eq!(
            rels(t.path(), &[], &["*.json", "src/**"]),
            ["w/model.safetensors"]
        );
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_inside_followed_outside_refused() {
        let outside = tempfile::tempdir().unwrap();
        touch(outside.path(), "secret.bin");
        let t = tempfile::tempdir().unwrap();
        touch(t.path(), "real/model.safetensors");
        std::os::unix::fs::symlink("real/model.safetensors", t.path().join("link.safetensors"))
            .unwrap();
        std::os::unix::fs::symlink("real", t.path().join("again")).unwrap();
        assert_eq!(
            rels(t.path(), &[], &[]),
            ["link.safetensors", "real/model.safetensors"]
        );
        std::os::unix::fs::symlink(outside.path().join("secret.bin"), t.path().join("s.bin"))
            .unwrap();
        let f = Filters {
            include: Patterns::default(),
            exclude: Patterns::default(),
            leave_out: vec![],
        };
        let err = walk(t.path(), &f).unwrap_err().to_string();
        assert!(err.starts_with("s.bin: symlink to "), "{err}");
        assert_eq!(rels(t.path(), &[], &["s.bin"]).len(), 2);
    }

    #[cfg(unix)]
    #[test]
    fn hugging_face_cache_links_into_blobs() {
        let t = tempfile::tempdir().unwrap();
        let repo = t.path().join("models--org--tiny");
        touch(&repo, "blobs/abc123");
        let snap = repo.join("snapshots/0123abcd");
        std::fs::create_dir_all(&snap).unwrap();
        std::os::unix::fs::symlink("../../blobs/abc123", snap.join("config.json")).unwrap();
        let w = walk(
            &snap,
            &Filters {
                include: Patterns::default(),
                exclude: Patterns::default(),
                leave_out: vec![],
            },
        )
        .unwrap();
        assert_eq!(w.entries.len(), 1);
        assert_eq!(w.entries[0].rel, "config.json");
        assert!(w.entries[0].abs.ends_with("blobs/abc123"));
        assert_eq!(w.confine, repo.canonicalize().unwrap());
    }
}
