//! The blob store of a layout being built: `blobs/sha256/<hex>` files, each written under a
//! temporary name and renamed once its digest is known.
//!
//! Raw files get in with a single read: reflinked (copy-on-write, where the file system can)
//! into the store and then hashed, else copied while hashing; hard links only when asked for
//! (`LinkMode::Hardlink`), since they make the blob and the user's file one inode.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result, bail};

use super::archive::{BUF_LEN, ExactReader};
use super::digest::{Digest, Hasher};
use super::progress::ItemBar;

/// How raw files get into `blobs/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkMode {
    /// Reflink (copy-on-write) where the file system can, else copy: never shares the
    /// source's inode, so editing a source file in place cannot change a blob.
    Auto,
    /// Hard link or fail (same filesystem only).
    Hardlink,
    /// Reflink (copy-on-write clone) or fail (btrfs, xfs, APFS…).
    Reflink,
    /// Always copy: the layout never shares storage with the source files.
    Copy,
}

/// How a raw file got into the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placed {
    /// Hard-linked (shares the inode with the source).
    Hardlinked,
    /// Reflinked (shares extents copy-on-write).
    Reflinked,
    /// Copied.
    Copied,
}

/// `blobs/sha256` of a layout under construction.
pub struct BlobDir {
    dir: PathBuf,
    seq: AtomicU64,
}

impl BlobDir {
    /// Creates `root/blobs/sha256`.
    pub fn create(root: &Path) -> Result<BlobDir> {
        let dir = root.join("blobs").join("sha256");
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(BlobDir {
            dir,
            seq: AtomicU64::new(0),
        })
    }

    /// The directory holding the blobs.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the blob with this digest lives.
    pub fn path_of(&self, digest: &Digest) -> PathBuf {
        self.dir.join(digest.hex())
    }

    fn temp_path(&self) -> PathBuf {
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        self.dir.join(format!(".tmp-{n}"))
    }

    fn settle(&self, tmp: &Path, digest: &Digest) -> Result<()> {
        let dest = self.path_of(digest);
        if dest.exists() {
            // Same digest, same bytes: keep the first copy.
            std::fs::remove_file(tmp).with_context(|| format!("removing {}", tmp.display()))?;
        } else {
            std::fs::rename(tmp, &dest)
                .with_context(|| format!("renaming {} to {}", tmp.display(), dest.display()))?;
        }
        Ok(())
    }

    /// Stores a small in-memory blob (manifest, config).
    pub fn put_bytes(&self, bytes: &[u8]) -> Result<Digest> {
        let digest = Digest::of(bytes);
        let tmp = self.temp_path();
        std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
        self.settle(&tmp, &digest)?;
        Ok(digest)
    }

    /// Stores a file of `size` bytes as a raw blob with one read of its content.
    pub fn put_file(
        &self,
        src: &Path,
        size: u64,
        link: LinkMode,
        bar: &ItemBar,
    ) -> Result<(Digest, Placed)> {
        let tmp = self.temp_path();
        let result = self.place(src, &tmp, size, link, bar);
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        let (digest, placed) = result?;
        self.settle(&tmp, &digest)?;
        Ok((digest, placed))
    }

    fn place(
        &self,
        src: &Path,
        tmp: &Path,
        size: u64,
        link: LinkMode,
        bar: &ItemBar,
    ) -> Result<(Digest, Placed)> {
        // `hard_link` links a symlink itself, not its target: resolve first.
        let src = if std::fs::symlink_metadata(src).is_ok_and(|m| m.file_type().is_symlink()) {
            std::fs::canonicalize(src).with_context(|| format!("resolving {}", src.display()))?
        } else {
            src.to_path_buf()
        };
        let src = src.as_path();
        let linked = match link {
            LinkMode::Copy => None,
            LinkMode::Hardlink => {
                std::fs::hard_link(src, tmp).with_context(|| {
                    format!(
                        "{}: cannot hard-link into {}",
                        src.display(),
                        self.dir.display()
                    )
                })?;
                Some(Placed::Hardlinked)
            }
            LinkMode::Reflink => {
                reflink_copy::reflink(src, tmp).with_context(|| {
                    format!(
                        "{}: cannot reflink into {}",
                        src.display(),
                        self.dir.display()
                    )
                })?;
                Some(Placed::Reflinked)
            }
            // Never a hard link by default: the layout must not alias the user's files.
            LinkMode::Auto => {
                if reflink_copy::reflink(src, tmp).is_ok() {
                    Some(Placed::Reflinked)
                } else {
                    None
                }
            }
        };
        match linked {
            // Hash the stored blob, not the source: the name then matches what is stored.
            Some(how) => Ok((hash_file(tmp, size, bar)?, how)),
            None => Ok((copy_hashing(src, tmp, size, bar)?, Placed::Copied)),
        }
    }

    /// A writer for a streamed blob (tar layers); `commit` names it by its digest.
    pub fn writer(&self) -> Result<BlobWriter> {
        let path = self.temp_path();
        let file = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(BlobWriter {
            out: Some(BufWriter::with_capacity(256 << 10, file)),
            path,
        })
    }
}

/// A blob being streamed to a temporary file; removed unless committed.
pub struct BlobWriter {
    out: Option<BufWriter<File>>,
    path: PathBuf,
}

impl BlobWriter {
    /// Flushes and stores the blob under `digest`.
    pub fn commit(mut self, blobs: &BlobDir, digest: &Digest) -> Result<()> {
        if let Some(out) = self.out.take() {
            out.into_inner()
                .map_err(|e| e.into_error())
                .with_context(|| format!("writing {}", self.path.display()))?;
        }
        blobs.settle(&self.path, digest)?;
        // Settled: nothing left to clean up.
        self.path = PathBuf::new();
        Ok(())
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out
            .as_mut()
            .expect("writer used after commit")
            .write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.as_mut().expect("writer used after commit").flush()
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            self.out.take();
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Hashes a file that must hold exactly `size` bytes.
pub fn hash_file(path: &Path, size: u64, bar: &ItemBar) -> Result<Digest> {
    let mut reader = ExactReader::open(path, size)?;
    let mut hasher = Hasher::new();
    let mut buf = vec![0u8; BUF_LEN];
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        bar.inc(n as u64);
    }
    Ok(hasher.finish().0)
}

/// Buffer of a copy that hashes on the way: small enough to stay in the core's L2 cache
/// between the `read`, the hash and the `write`. Measured on the 1 GiB 4-shard model (2
/// workers, ext4, page cache warm): 64-128 KiB cost 1.2-1.45 CPU s, 1 MiB 2.4-3.1 CPU s, most
/// of the difference system time of the `write`s.
pub const COPY_BUF_LEN: usize = 128 << 10;

/// Copies `src` (exactly `size` bytes) to a new file `dst`, hashing on the way.
fn copy_hashing(src: &Path, dst: &Path, size: u64, bar: &ItemBar) -> Result<Digest> {
    let mut reader = ExactReader::open(src, size)?;
    let mut out = File::create(dst).with_context(|| format!("creating {}", dst.display()))?;
    let mut hasher = Hasher::new();
    let mut buf = vec![0u8; COPY_BUF_LEN];
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n])
            .with_context(|| format!("writing {}", dst.display()))?;
        bar.inc(n as u64);
    }
    if hasher.len() != size {
        bail!(
            "{}: read {} bytes, expected {size}",
            src.display(),
            hasher.len()
        );
    }
    Ok(hasher.finish().0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::progress::Progress;

    #[test]
    fn every_link_mode_stores_the_same_blob() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("w.bin");
        let data = vec![3u8; 3 << 20];
        std::fs::write(&src, &data).unwrap();
        let bar = Progress::hidden().item("w", 0);
        for mode in [LinkMode::Auto, LinkMode::Copy, LinkMode::Hardlink] {
            let root = dir.path().join(format!("{mode:?}"));
            let blobs = BlobDir::create(&root).unwrap();
            let (d, placed) = blobs.put_file(&src, data.len() as u64, mode, &bar).unwrap();
            assert_eq!(d, Digest::of(&data));
            assert_eq!(std::fs::read(blobs.path_of(&d)).unwrap(), data);
            match mode {
                LinkMode::Hardlink => assert_eq!(placed, Placed::Hardlinked),
                LinkMode::Copy => assert_eq!(placed, Placed::Copied),
                // Never a hard link by default; a reflink where the file system has them.
                _ => assert_ne!(placed, Placed::Hardlinked),
            }
            // Only the blob is left: no temporary files.
            assert_eq!(std::fs::read_dir(blobs.dir()).unwrap().count(), 1);
        }
        let blobs = BlobDir::create(&dir.path().join("short")).unwrap();
        let err = blobs.put_file(&src, 10, LinkMode::Copy, &bar).unwrap_err();
        assert!(format!("{err:#}").contains("changed size"), "{err:#}");
        assert_eq!(std::fs::read_dir(blobs.dir()).unwrap().count(), 0);
    }
}
