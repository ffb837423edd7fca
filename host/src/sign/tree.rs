//! A model directory as model-signing sees it: every regular file under the root except the
//! ignored paths (no hidden-file or `.modelpackignore` rules: a signature covers everything
//! it does not name as ignored), each hashed with SHA-256 — whole, or in fixed-size shards.
//!
//! Files are streamed through one 1 MiB buffer per worker, one worker per core, biggest
//! first, so memory stays bounded whatever the model size.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use super::Error;
use super::statement::Method;
use crate::oci::pool;

/// A file of the model.
#[derive(Debug, Clone)]
pub struct FileEntry {
    /// Path relative to the root, `/`-separated.
    pub rel: String,
    /// Where to read it.
    pub path: PathBuf,
    /// Size in bytes.
    pub size: u64,
}

/// One unit to hash: a file, or a shard of one.
#[derive(Debug, Clone)]
pub struct Item {
    /// The resource name (`path` or `path:start:end`).
    pub name: String,
    /// Where to read it.
    pub path: PathBuf,
    /// First byte.
    pub start: u64,
    /// One past the last byte.
    pub end: u64,
}

fn components(p: &str) -> Vec<&str> {
    p.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect()
}

/// Whether `rel` is an ignored path or lies under one (component-wise, as pathlib does).
fn ignored(rel: &str, ignore: &[Vec<&str>]) -> bool {
    let parts = components(rel);
    ignore
        .iter()
        .any(|i| !i.is_empty() && parts.len() >= i.len() && parts[..i.len()] == i[..])
}

/// Lists the files under `root` not covered by `ignore`, sorted as model-signing sorts
/// resources (by path components). Symlinks are an error unless `allow_symlinks`.
pub fn list(root: &Path, ignore: &[String], allow_symlinks: bool) -> Result<Vec<FileEntry>, Error> {
    let ignore: Vec<Vec<&str>> = ignore.iter().map(|s| components(s)).collect();
    let mut out = Vec::new();
    let mut stack = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, prefix)) = stack.pop() {
        let rd =
            std::fs::read_dir(&dir).map_err(|e| Error::Io(format!("{}: {e}", dir.display())))?;
        for entry in rd {
            let entry = entry.map_err(|e| Error::Io(format!("{}: {e}", dir.display())))?;
            let path = entry.path();
            let name = entry.file_name();
            let Some(name) = name.to_str() else {
                return Err(Error::Io(format!(
                    "{}: file name is not UTF-8 (model-signing names files by UTF-8 paths)",
                    path.display()
                )));
            };
            let rel = if prefix.is_empty() {
                name.to_string()
            } else {
                format!("{prefix}/{name}")
            };
            if ignored(&rel, &ignore) {
                continue;
            }
            let lmeta = std::fs::symlink_metadata(&path)
                .map_err(|e| Error::Io(format!("{}: {e}", path.display())))?;
            let meta = if lmeta.file_type().is_symlink() {
                if !allow_symlinks {
                    return Err(Error::Io(format!(
                        "{}: is a symlink; pass --allow-symlinks to follow it",
                        path.display()
                    )));
                }
                std::fs::metadata(&path)
                    .map_err(|e| Error::Io(format!("{}: broken symlink ({e})", path.display())))?
            } else {
                lmeta
            };
            if meta.is_dir() {
                stack.push((path, rel));
            } else if meta.is_file() {
                out.push(FileEntry {
                    rel,
                    path,
                    size: meta.len(),
                });
            } else {
                return Err(Error::Io(format!(
                    "{}: neither a file nor a directory (socket, FIFO or device)",
                    path.display()
                )));
            }
        }
    }
    out.sort_by(|a, b| components(&a.rel).cmp(&components(&b.rel)));
    Ok(out)
}

/// The units to hash for `files` under `method`, in resource order.
pub fn items(files: &[FileEntry], method: &Method) -> Vec<Item> {
    let mut out = Vec::new();
    for f in files {
        match method {
            Method::Files => out.push(Item {
                name: f.rel.clone(),
                path: f.path.clone(),
                start: 0,
                end: f.size,
            }),
            // model-signing gives an empty file no shard at all.
            Method::Shards(n) => {
                let mut start = 0;
                while start < f.size {
                    let end = (start + n).min(f.size);
                    out.push(Item {
                        name: format!("{}:{start}:{end}", f.rel),
                        path: f.path.clone(),
                        start,
                        end,
                    });
                    start = end;
                }
            }
        }
    }
    out
}

fn hash_one(item: &Item) -> Result<[u8; 32], Error> {
    let io = |e: std::io::Error| Error::Io(format!("{}: {e}", item.path.display()));
    let mut f = File::open(&item.path).map_err(io)?;
    if item.start > 0 {
        f.seek(SeekFrom::Start(item.start)).map_err(io)?;
    }
    let mut left = item.end - item.start;
    let mut buf = vec![0u8; 1 << 20];
    let mut h = Sha256::new();
    while left > 0 {
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = f.read(&mut buf[..want]).map_err(io)?;
        if n == 0 {
            return Err(Error::Io(format!(
                "{}: file shrank while being read (expected {} more bytes)",
                item.path.display(),
                left
            )));
        }
        h.update(&buf[..n]);
        left -= n as u64;
    }
    Ok(h.finalize().into())
}

/// SHA-256 of every item, on all cores, in item order.
pub fn hash(items: &[Item]) -> Result<Vec<[u8; 32]>, Error> {
    pool::try_map(items, pool::default_jobs(), |i| i.end - i.start, hash_one)
}
