//! Random access to a file: the host's blob inside the sandbox, memory or a real file natively.

use crate::format::modelpack::plugin::source::{Blob, IoError};
use crate::format::modelpack::plugin::types::Error;

/// Largest single read the host answers by default; [`read_exact_at`] splits larger reads.
pub const MAX_READ: u32 = 16 << 20;

/// Read-only random access to one file. Parsers take `&dyn Source` so they run natively too.
pub trait Source {
    /// Path relative to the directory the file was found in.
    fn name(&self) -> String;
    /// Size in bytes.
    fn size(&self) -> u64;
    /// Reads up to `len` bytes at `offset` (fewer only at end of file).
    fn read(&self, offset: u64, len: u32) -> Result<Vec<u8>, IoError>;
    /// Opens a file relative to this one's directory (shards, external data).
    fn open_related(&self, path: &str) -> Result<Box<dyn Source>, IoError>;
}

impl Source for Blob {
    fn name(&self) -> String {
        Blob::name(self)
    }
    fn size(&self) -> u64 {
        Blob::size(self)
    }
    fn read(&self, offset: u64, len: u32) -> Result<Vec<u8>, IoError> {
        Blob::read(self, offset, len)
    }
    fn open_related(&self, path: &str) -> Result<Box<dyn Source>, IoError> {
        Ok(Box::new(Blob::open_related(self, path)?))
    }
}

/// Reads up to `len` bytes at `offset`, splitting into host-sized reads; short only at EOF.
pub fn read_at(src: &dyn Source, offset: u64, len: u64) -> Result<Vec<u8>, Error> {
    let size = src.size();
    let end = offset.saturating_add(len).min(size);
    if offset >= end {
        return Ok(Vec::new());
    }
    let mut out = Vec::with_capacity((end - offset) as usize);
    let mut pos = offset;
    while pos < end {
        let chunk = (end - pos).min(MAX_READ as u64) as u32;
        let bytes = src
            .read(pos, chunk)
            .map_err(|e| Error::Io(format!("{}: {e}", src.name())))?;
        if bytes.is_empty() {
            break;
        }
        pos += bytes.len() as u64;
        out.extend_from_slice(&bytes);
    }
    Ok(out)
}

/// Reads exactly `len` bytes at `offset` or fails with a `malformed` error naming `what`.
pub fn read_exact_at(
    src: &dyn Source,
    offset: u64,
    len: u64,
    what: &str,
) -> Result<Vec<u8>, Error> {
    let size = src.size();
    if offset.checked_add(len).is_none_or(|end| end > size) {
        return Err(Error::Malformed(format!(
            "{}: {what} at offset {offset} with length {len} exceeds file size {size}",
            src.name()
        )));
    }
    let bytes = read_at(src, offset, len)?;
    if bytes.len() as u64 != len {
        return Err(Error::Io(format!(
            "{}: short read of {what}: {} of {len} bytes",
            src.name(),
            bytes.len()
        )));
    }
    Ok(bytes)
}

/// A file held in memory, with optional siblings; for tests and fuzzing.
pub struct MemSource {
    name: String,
    data: std::sync::Arc<Vec<u8>>,
    siblings: std::sync::Arc<Vec<(String, std::sync::Arc<Vec<u8>>)>>,
}

impl MemSource {
    /// A standalone in-memory file.
    pub fn new(name: &str, data: Vec<u8>) -> Self {
        MemSource {
            name: name.to_string(),
            data: std::sync::Arc::new(data),
            siblings: std::sync::Arc::new(Vec::new()),
        }
    }
    /// An in-memory file whose `open_related` finds the given siblings by exact name.
    pub fn with_siblings(name: &str, data: Vec<u8>, siblings: Vec<(String, Vec<u8>)>) -> Self {
        MemSource {
            name: name.to_string(),
            data: std::sync::Arc::new(data),
            siblings: std::sync::Arc::new(
                siblings
                    .into_iter()
                    .map(|(n, d)| (n, std::sync::Arc::new(d)))
                    .collect(),
            ),
        }
    }
}

impl Source for MemSource {
    fn name(&self) -> String {
        self.name.clone()
    }
    fn size(&self) -> u64 {
        self.data.len() as u64
    }
    fn read(&self, offset: u64, len: u32) -> Result<Vec<u8>, IoError> {
        if len > MAX_READ {
            return Err(IoError::Limit(format!(
                "read of {len} bytes exceeds host cap {MAX_READ}"
            )));
        }
        let size = self.data.len() as u64;
        if offset > size {
            return Err(IoError::OutOfRange(size));
        }
        let end = offset.saturating_add(len as u64).min(size);
        Ok(self.data[offset as usize..end as usize].to_vec())
    }
    fn open_related(&self, path: &str) -> Result<Box<dyn Source>, IoError> {
        let found = self.siblings.iter().find(|(n, _)| n == path);
        match found {
            Some((n, d)) => Ok(Box::new(MemSource {
                name: n.clone(),
                data: d.clone(),
                siblings: self.siblings.clone(),
            })),
            None => Err(IoError::NotFound(path.to_string())),
        }
    }
}

/// A real file, for native tests, fuzzing and benchmarks (not available inside the sandbox).
pub struct FileSource {
    path: std::path::PathBuf,
    file: std::fs::File,
    size: u64,
}

impl FileSource {
    /// Opens a file.
    pub fn open(path: impl AsRef<std::path::Path>) -> std::io::Result<Self> {
        let path = path.as_ref().to_path_buf();
        let file = std::fs::File::open(&path)?;
        let size = file.metadata()?.len();
        Ok(FileSource { path, file, size })
    }
}

impl Source for FileSource {
    fn name(&self) -> String {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }
    fn size(&self) -> u64 {
        self.size
    }
    fn read(&self, offset: u64, len: u32) -> Result<Vec<u8>, IoError> {
        if len > MAX_READ {
            return Err(IoError::Limit(format!(
                "read of {len} bytes exceeds host cap {MAX_READ}"
            )));
        }
        if offset > self.size {
            return Err(IoError::OutOfRange(self.size));
        }
        let n = (self.size - offset).min(len as u64) as usize;
        let mut buf = vec![0u8; n];
        read_exact_at_file(&self.file, &mut buf, offset)
            .map_err(|e| IoError::Other(e.to_string()))?;
        Ok(buf)
    }
    fn open_related(&self, path: &str) -> Result<Box<dyn Source>, IoError> {
        if path.starts_with('/') || path.split('/').any(|c| c == "..") {
            return Err(IoError::NotFound(format!(
                "{path}: outside the model directory"
            )));
        }
        let dir = self.path.parent().unwrap_or(std::path::Path::new("."));
        FileSource::open(dir.join(path))
            .map(|s| Box::new(s) as Box<dyn Source>)
            .map_err(|e| IoError::NotFound(format!("{path}: {e}")))
    }
}

#[cfg(unix)]
fn read_exact_at_file(f: &std::fs::File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(f, buf, offset)
}

#[cfg(not(unix))]
fn read_exact_at_file(f: &std::fs::File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = f;
    f.seek(SeekFrom::Start(offset))?;
    f.read_exact(buf)
}
