//! Hugging Face hub cache awareness: the one place that knows the cache's layout.
//!
//! The cache (`~/.cache/huggingface/hub`) keeps each repo as
//! `models--<org>--<name>/{blobs/<sha>, refs/<branch>, snapshots/<rev>/<files → ../../blobs/…>}`.
//! Packing the repo folder as a plain directory would pack the weights twice (the blob and the
//! snapshot link), the hash-named blobs as `code` layers and `refs/main` as a file. So the
//! user's path is mapped here to the model root (a snapshot) plus the facts the cache layout
//! states: the repo id and the revision.
//!
//! The seam is [`resolve`]: `path → (model root, facts)`. It is deliberately self-contained (no
//! plugin, no config types) so it can later move behind a "convention" plugin.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

/// What the cache layout says about a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheFacts {
    /// Repo id, `org/name` (or `name` for repos without an owner).
    pub repo_id: String,
    /// The snapshot's directory name: the commit hash of the revision.
    pub revision: String,
    /// The ref the repo folder was resolved through (`main`), if the user named the repo folder.
    pub via_ref: Option<String>,
}

impl CacheFacts {
    /// The repo's page on the hub.
    pub fn source_url(&self) -> String {
        format!("https://huggingface.co/{}", self.repo_id)
    }
}

/// The model root to walk and, inside a cache, the facts of its snapshot.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The directory to walk: the path as given, or the snapshot a repo folder resolves to.
    pub root: PathBuf,
    /// Set when the root is a hub cache snapshot.
    pub facts: Option<CacheFacts>,
}

/// `models--org--name` → `org/name`.
fn repo_id(folder: &str) -> Option<String> {
    let rest = folder.strip_prefix("models--")?;
    if rest.is_empty() {
        return None;
    }
    Some(rest.split("--").collect::<Vec<_>>().join("/"))
}

fn is_repo_folder(dir: &Path) -> bool {
    dir.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| repo_id(n).is_some())
        && dir.join("snapshots").is_dir()
}

/// Maps the user's path to the model root and the cache facts.
///
/// * a repo folder (`models--org--name`) → the snapshot `refs/main` names (or the only
///   snapshot when there is no `refs/main`); an error when neither decides;
/// * a snapshot (`models--org--name/snapshots/<rev>`) → itself, with the facts;
/// * `blobs/`, `refs/` or `snapshots/` of a repo folder → an error pointing at the repo folder;
/// * anything else → itself, no facts.
pub fn resolve(path: &Path) -> Result<Resolved> {
    let plain = Resolved {
        root: path.to_path_buf(),
        facts: None,
    };
    let Ok(canon) = path.canonicalize() else {
        return Ok(plain);
    };
    if is_repo_folder(&canon) {
        return from_repo_folder(path, &canon);
    }
    let parent = canon.parent();
    let name = canon.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if let Some(repo) = parent.filter(|p| is_repo_folder(p)) {
        if matches!(name, "blobs" | "refs" | "snapshots") {
            bail!(
                "{}: this is the Hugging Face cache's {name}/ folder; pack the repo folder {} (or one of its snapshots) instead",
                path.display(),
                repo.display()
            );
        }
        return Ok(plain);
    }
    if let Some(snapshots) = parent.filter(|p| p.file_name().is_some_and(|n| n == "snapshots"))
        && let Some(repo) = snapshots.parent().filter(|r| is_repo_folder(r))
    {
        let folder = repo.file_name().and_then(|n| n.to_str()).unwrap_or("");
        return Ok(Resolved {
            root: path.to_path_buf(),
            facts: Some(CacheFacts {
                repo_id: repo_id(folder).unwrap_or_default(),
                revision: name.to_string(),
                via_ref: None,
            }),
        });
    }
    Ok(plain)
}

fn from_repo_folder(path: &Path, canon: &Path) -> Result<Resolved> {
    let folder = canon.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let id = repo_id(folder).unwrap_or_default();
    let snapshots = canon.join("snapshots");
    let main = canon.join("refs").join("main");
    let (rev, via_ref) = match std::fs::read_to_string(&main) {
        Ok(text) => {
            let rev = text.trim().to_string();
            let ok = !rev.is_empty()
                && rev
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
            if !ok {
                bail!(
                    "{}: refs/main holds {:?}, not a revision",
                    path.display(),
                    text.chars().take(80).collect::<String>()
                );
            }
            (rev, Some("main".to_string()))
        }
        Err(_) => {
            let mut revs: Vec<String> = std::fs::read_dir(&snapshots)
                .map_err(|e| anyhow::anyhow!("{}: {e}", snapshots.display()))?
                .filter_map(|e| e.ok())
                .filter(|e| e.path().is_dir())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            revs.sort();
            match revs.as_slice() {
                [one] => (one.clone(), None),
                [] => bail!(
                    "{}: a Hugging Face cache repo without snapshots",
                    path.display()
                ),
                _ => bail!(
                    "{}: no refs/main and {} snapshots ({}); pack one of {}/snapshots/<rev>",
                    path.display(),
                    revs.len(),
                    revs.join(", "),
                    path.display()
                ),
            }
        }
    };
    let root = path.join("snapshots").join(&rev);
    if !root.is_dir() {
        bail!(
            "{}: refs/main names revision {rev}, but snapshots/{rev} is not in the cache (download it with `huggingface-cli download {id}`)",
            path.display()
        );
    }
    Ok(Resolved {
        root,
        facts: Some(CacheFacts {
            repo_id: id,
            revision: rev,
            via_ref,
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(t: &Path) -> PathBuf {
        let repo = t.join("models--org--tiny-model");
        std::fs::create_dir_all(repo.join("blobs")).unwrap();
        std::fs::create_dir_all(repo.join("refs")).unwrap();
        std::fs::create_dir_all(repo.join("snapshots/abc123")).unwrap();
        repo
    }

    #[test]
    fn repo_folder_resolves_through_refs_main() {
        let t = tempfile::tempdir().unwrap();
        let repo = cache(t.path());
        std::fs::create_dir_all(repo.join("snapshots/old999")).unwrap();
        std::fs::write(repo.join("refs/main"), "abc123\n").unwrap();
        let r = resolve(&repo).unwrap();
        assert_eq!(r.root, repo.join("snapshots/abc123"));
        let f = r.facts.unwrap();
        assert_eq!(f.repo_id, "org/tiny-model");
        assert_eq!(f.revision, "abc123");
        assert_eq!(f.via_ref.as_deref(), Some("main"));
        assert_eq!(f.source_url(), "https://huggingface.co/org/tiny-model");
    }

    #[test]
    fn snapshot_gives_facts_and_plain_dirs_none() {
        let t = tempfile::tempdir().unwrap();
        let repo = cache(t.path());
        let snap = repo.join("snapshots/abc123");
        let r = resolve(&snap).unwrap();
        assert_eq!(r.root, snap);
        assert_eq!(r.facts.unwrap().revision, "abc123");
        assert!(resolve(t.path()).unwrap().facts.is_none());
        let e = resolve(&repo.join("blobs")).unwrap_err().to_string();
        assert!(e.contains("cache's blobs/ folder"), "{e}");
    }

    #[test]
    fn ambiguous_or_dangling_refs_are_errors() {
        let t = tempfile::tempdir().unwrap();
        let repo = cache(t.path());
        // One snapshot and no refs/main: that snapshot.
        assert!(resolve(&repo).unwrap().root.ends_with("snapshots/abc123"));
        std::fs::create_dir_all(repo.join("snapshots/def456")).unwrap();
        let e = resolve(&repo).unwrap_err().to_string();
        assert!(
            e.contains("no refs/main and 2 snapshots (abc123, def456)"),
            "{e}"
        );
        std::fs::write(repo.join("refs/main"), "fff000").unwrap();
        let e = resolve(&repo).unwrap_err().to_string();
        assert!(e.contains("snapshots/fff000 is not in the cache"), "{e}");
        assert_eq!(repo_id("models--gpt2").as_deref(), Some("gpt2"));
    }
}
