//! The host side of the WIT `blob` resource: read-only, capped access to one file.

use std::fs::File;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

/// Reads of a blob that is not a local file (a layer in a registry, read with HTTP Range
/// requests by `inspect REGISTRY/REPO:TAG`).
pub trait RangeSource: Send + Sync {
    /// Exactly `len` bytes at `offset` (the caller keeps them inside the blob).
    fn read_at(&self, offset: u64, len: usize) -> std::io::Result<Vec<u8>>;
}

/// Where a blob's bytes come from.
#[derive(Clone)]
enum Backing {
    File(Arc<File>),
    Remote(Arc<dyn RangeSource>),
}

/// One open file handed to a plugin.
pub struct BlobFile {
    /// Name shown to the plugin: path relative to the confinement root, `/`-separated.
    pub name: String,
    file: Backing,
    size: u64,
    /// Canonical directory of the file, for `open-related`.
    dir: PathBuf,
    /// Canonical directory the plugin may not leave.
    root: Arc<PathBuf>,
}

/// Why a blob could not be opened.
pub enum OpenError {
    /// The path is outside the root or otherwise refused.
    Refused(String),
    /// The operating system said no.
    Io(String),
}

impl BlobFile {
    /// Opens `path` for a plugin, confined to `root` (both resolved through symlinks).
    pub fn open(path: &Path, root: Arc<PathBuf>) -> Result<BlobFile, OpenError> {
        let canonical = path
            .canonicalize()
            .map_err(|e| OpenError::Io(format!("{}: {e}", path.display())))?;
        if !canonical.starts_with(root.as_path()) {
            return Err(OpenError::Refused(format!(
                "{}: resolves outside {}",
                path.display(),
                root.display()
            )));
        }
        // Never blocks (a FIFO named by ONNX external_data or a safetensors index would hang
        // the host where no plugin timeout can fire) and checks the type on the open file.
        let file = crate::regular::open(&canonical).map_err(|e| {
            let msg = format!("{}: {e}", path.display());
            if e.kind() == std::io::ErrorKind::InvalidInput {
                OpenError::Refused(msg)
            } else {
                OpenError::Io(msg)
            }
        })?;
        let meta = file
            .metadata()
            .map_err(|e| OpenError::Io(format!("{}: {e}", path.display())))?;
        let name = canonical
            .strip_prefix(root.as_path())
            .unwrap_or(&canonical)
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        Ok(BlobFile {
            name,
            size: meta.len(),
            dir: canonical
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| root.to_path_buf()),
            file: Backing::File(Arc::new(file)),
            root,
        })
    }

    /// A blob read through `source` (no directory: `open-related` is refused).
    pub fn remote(name: String, size: u64, source: Arc<dyn RangeSource>) -> BlobFile {
        BlobFile {
            name,
            file: Backing::Remote(source),
            size,
            dir: PathBuf::new(),
            root: Arc::new(PathBuf::new()),
        }
    }

    /// Size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Reads up to `len` bytes at `offset`; the caller has already applied the length cap.
    pub fn read(&self, offset: u64, len: u32) -> std::io::Result<Vec<u8>> {
        let n = self.size.saturating_sub(offset).min(len as u64) as usize;
        match &self.file {
            Backing::File(f) => {
                let mut buf = vec![0u8; n];
                read_exact_at(f, &mut buf, offset)?;
                Ok(buf)
            }
            Backing::Remote(r) => r.read_at(offset, n),
        }
    }

    /// Opens a file relative to this one's directory, refusing anything that leaves the root.
    pub fn open_related(&self, relative: &str) -> Result<BlobFile, OpenError> {
        if let Backing::Remote(_) = self.file {
            return Err(OpenError::Refused(format!(
                "{relative:?}: a layer read from a registry has no neighbouring files"
            )));
        }
        let rel = Path::new(relative);
        if relative.is_empty()
            || rel.is_absolute()
            || rel
                .components()
                .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
        {
            return Err(OpenError::Refused(format!(
                "{relative:?}: only plain relative paths inside the model directory may be opened"
            )));
        }
        BlobFile::open(&self.dir.join(rel), self.root.clone())
    }
}

/// The host side of the WIT `directory` resource: opens the files of the model directory's
/// listing by their relative path, and nothing else (hidden, ignored and excluded files stay
/// closed; every open is still confined to the root through symlinks).
pub struct ModelDir {
    /// Relative path → path on disk, for every listed file.
    pub files: Arc<std::collections::BTreeMap<String, PathBuf>>,
    /// Canonical directory no opened file may leave.
    pub root: Arc<PathBuf>,
}

impl ModelDir {
    /// Opens a listed file by its `/`-separated relative path.
    pub fn open(&self, relative: &str) -> Result<BlobFile, OpenError> {
        let Some(path) = self.files.get(relative) else {
            return Err(OpenError::Refused(format!(
                "{relative:?}: not a file of the model directory"
            )));
        };
        BlobFile::open(path, self.root.clone())
    }
}

#[cfg(unix)]
fn read_exact_at(f: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(f, buf, offset)
}

#[cfg(windows)]
fn read_exact_at(f: &File, mut buf: &mut [u8], mut offset: u64) -> std::io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !buf.is_empty() {
        let n = f.seek_read(buf, offset)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf = &mut buf[n..];
        offset += n as u64;
    }
    Ok(())
}
