//! Signing and verifying models with ECDSA P-256 keys, in the OpenSSF model-signing format:
//! a sigstore bundle whose DSSE envelope carries an in-toto statement listing every file's
//! SHA-256 (the same digests as modelpack's raw layers). A signature made here verifies with
//! `model_signing verify key`, and one made there verifies here.
//!
//! - [`keys`]: PEM keys and model-signing's key id;
//! - [`dsse`]: the bundle, the envelope and the signature over it;
//! - [`statement`]: the in-toto statement and its predicate;
//! - [`tree`]: which files a directory signature covers, and their digests;
//! - [`oci`]: signatures of artifacts in an OCI layout, stored as OCI 1.1 referrers.

pub mod dsse;
pub mod keys;
pub mod oci;
pub mod statement;
pub mod tree;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

pub use keys::{PrivateKey, PublicKey, read_private, read_public};
use statement::{Method, Resource, Statement};

/// Where a directory's signature goes unless told otherwise (model-signing's name).
pub const DEFAULT_SIGNATURE: &str = "model.sig";

/// Paths model-signing leaves out of a signature by default.
pub const GIT_PATHS: [&str; 4] = [".git", ".gitattributes", ".github", ".gitignore"];

/// Why signing or verifying failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A key file is missing, unreadable or not a P-256 key.
    #[error("{0}")]
    Key(String),
    /// Reading the model or writing the signature failed.
    #[error("{0}")]
    Io(String),
    /// The signature is missing, malformed, made by another key or does not verify.
    #[error("{0}")]
    Signature(String),
    /// The signature is good but the files differ from what it lists.
    #[error("{}", mismatch_line(.0, .1))]
    Mismatch(String, Vec<Difference>),
}

impl Error {
    /// Whether this is a verdict on the model (exit 1) rather than a usage or I/O error.
    pub fn is_verdict(&self) -> bool {
        matches!(self, Error::Signature(_) | Error::Mismatch(..))
    }
}

/// How a file differs from the signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "change")]
pub enum Difference {
    /// Its content changed.
    Modified {
        /// Resource name.
        name: String,
        /// Signed SHA-256 (hex).
        signed: String,
        /// SHA-256 now (hex).
        actual: String,
    },
    /// It is there but was not signed.
    Added {
        /// Resource name.
        name: String,
    },
    /// It was signed but is gone.
    Removed {
        /// Resource name.
        name: String,
    },
}

fn mismatch_line(dir: &str, diffs: &[Difference]) -> String {
    const SHOWN: usize = 3;
    let mut parts: Vec<String> = diffs
        .iter()
        .take(SHOWN)
        .map(|d| match d {
            Difference::Modified {
                name,
                signed,
                actual,
            } => format!(
                "{name} was modified (signed sha256:{}…, now sha256:{}…)",
                &signed[..12],
                &actual[..12]
            ),
            Difference::Added { name } => format!("{name} is not in the signature"),
            Difference::Removed { name } => format!("{name} is signed but missing"),
        })
        .collect();
    if diffs.len() > SHOWN {
        parts.push(format!("and {} more", diffs.len() - SHOWN));
    }
    format!("{dir}: does not match its signature: {}", parts.join("; "))
}

/// Options shared by signing and verifying a directory.
#[derive(Debug, Clone, Default)]
pub struct DirOptions {
    /// Follow symlinks (model-signing's `--allow_symlinks`).
    pub allow_symlinks: bool,
    /// Extra paths to leave out, relative to the model directory.
    pub ignore: Vec<String>,
}

/// What `sign` did.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Signed {
    /// The signature file written.
    pub signature: PathBuf,
    /// The signer's key id.
    pub key_id: String,
    /// The model name recorded.
    pub model_name: String,
    /// How many files were signed.
    pub files: usize,
    /// Their total size.
    pub bytes: u64,
    /// Paths left out.
    pub ignored: Vec<String>,
}

/// What `verify` found (when everything matches).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Verified {
    /// The signature read.
    pub signature: PathBuf,
    /// The signer's key id.
    pub key_id: String,
    /// The model name recorded in the signature.
    pub model_name: String,
    /// `files` or `shards`.
    pub method: &'static str,
    /// How many resources matched.
    pub resources: usize,
    /// The signed resources (name → sha256 hex).
    pub digests: BTreeMap<String, String>,
}

fn canonical_dir(dir: &Path) -> Result<PathBuf, Error> {
    let root = dir
        .canonicalize()
        .map_err(|e| Error::Io(format!("{}: {e}", dir.display())))?;
    if !root.is_dir() {
        return Err(Error::Io(format!("{}: not a directory", dir.display())));
    }
    Ok(root)
}

/// The signature's path relative to the model root, when it lies inside it.
fn inside(root: &Path, signature: &Path) -> Option<String> {
    let name = signature.file_name()?;
    let parent = match signature.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.canonicalize().ok()?,
        _ => std::env::current_dir().ok()?.canonicalize().ok()?,
    };
    let rel = parent.join(name);
    let rel = rel.strip_prefix(root).ok()?;
    Some(rel.to_str()?.replace('\\', "/"))
}

fn model_name(root: &Path) -> String {
    root.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Signs every file of `dir` (but git metadata, `opts.ignore` and the signature itself) and
/// writes the bundle to `signature` atomically.
pub fn sign_dir(
    dir: &Path,
    key: &PrivateKey,
    signature: &Path,
    opts: &DirOptions,
) -> Result<Signed, Error> {
    let root = canonical_dir(dir)?;
    let mut ignore: Vec<String> = GIT_PATHS.iter().map(|s| s.to_string()).collect();
    ignore.extend(opts.ignore.iter().cloned());
    ignore.extend(inside(&root, signature));
    ignore.sort();
    ignore.dedup();
    let files = tree::list(&root, &ignore, opts.allow_symlinks)?;
    let items = tree::items(&files, &Method::Files);
    let digests = tree::hash(&items)?;
    let statement = Statement {
        model_name: model_name(&root),
        method: Method::Files,
        allow_symlinks: opts.allow_symlinks,
        ignore_paths: Some(ignore.clone()),
        resources: items
            .iter()
            .zip(digests)
            .map(|(i, digest)| Resource {
                name: i.name.clone(),
                digest,
            })
            .collect(),
    };
    let bundle = dsse::sign(&statement.to_json(), key);
    write_atomic(signature, &bundle)?;
    Ok(Signed {
        signature: signature.to_path_buf(),
        key_id: key.id.clone(),
        model_name: statement.model_name,
        files: files.len(),
        bytes: files.iter().map(|f| f.size).sum(),
        ignored: ignore,
    })
}

/// Verifies `dir` against the bundle at `signature` with `key`: the signature must be by
/// that key, and the files (but the ignored ones) must be exactly the signed ones.
pub fn verify_dir(
    dir: &Path,
    key: &PublicKey,
    signature: &Path,
    opts: &DirOptions,
) -> Result<Verified, Error> {
    let root = canonical_dir(dir)?;
    let shown = signature.display().to_string();
    let bytes = match std::fs::read(signature) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::Signature(format!(
                "{shown}: no signature (sign with `modelpack sign`)"
            )));
        }
        Err(e) => return Err(Error::Io(format!("{shown}: {e}"))),
    };
    let payload = dsse::verify(&bytes, key, &shown)?;
    let statement = Statement::parse(&payload, &shown)?;
    let mut ignore = statement
        .ignore_paths
        .clone()
        .unwrap_or_else(|| GIT_PATHS.iter().map(|s| s.to_string()).collect());
    ignore.extend(opts.ignore.iter().cloned());
    ignore.extend(inside(&root, signature));
    let files = tree::list(
        &root,
        &ignore,
        statement.allow_symlinks || opts.allow_symlinks,
    )?;
    let items = tree::items(&files, &statement.method);
    let digests = tree::hash(&items)?;
    let signed: BTreeMap<&str, &[u8; 32]> = statement
        .resources
        .iter()
        .map(|r| (r.name.as_str(), &r.digest))
        .collect();
    let mut diffs = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for (item, digest) in items.iter().zip(&digests) {
        seen.insert(item.name.as_str());
        match signed.get(item.name.as_str()) {
            None => diffs.push(Difference::Added {
                name: item.name.clone(),
            }),
            Some(s) if *s != digest => diffs.push(Difference::Modified {
                name: item.name.clone(),
                signed: hex::encode(s),
                actual: hex::encode(digest),
            }),
            Some(_) => {}
        }
    }
    for r in &statement.resources {
        if !seen.contains(r.name.as_str()) {
            diffs.push(Difference::Removed {
                name: r.name.clone(),
            });
        }
    }
    if !diffs.is_empty() {
        return Err(Error::Mismatch(dir.display().to_string(), diffs));
    }
    Ok(Verified {
        signature: signature.to_path_buf(),
        key_id: key.id.clone(),
        model_name: statement.model_name,
        method: match statement.method {
            Method::Files => "files",
            Method::Shards(_) => "shards",
        },
        resources: statement.resources.len(),
        digests: statement
            .resources
            .iter()
            .map(|r| (r.name.clone(), hex::encode(r.digest)))
            .collect(),
    })
}

/// Writes through a temporary file beside `path`, then renames it into place.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let io = |e: std::io::Error| Error::Io(format!("{}: {e}", path.display()));
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
    tmp.write_all(bytes).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o644)).map_err(io)?;
    }
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}
