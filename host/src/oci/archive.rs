//! Deterministic tar streams and their compressors.
//!
//! A layer tar holds one regular-file entry per file, at its root-relative `/`-separated path,
//! in the order given (the planner sorts by path), with no directory entries. Headers are GNU
//! (long paths as GNU long-name entries), with mode normalised to 0644/0755, uid/gid 0, no
//! user/group names and one fixed mtime, so the same files always give the same bytes.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use crate::model::{LayerFormat, PlannedFile};

/// Read buffer of one job: large enough for throughput, small enough to bound memory.
pub const BUF_LEN: usize = 1 << 20;

/// gzip level: zlib-rs's level 1 strategy expands weight-like data, 6 does not.
const GZIP_LEVEL: u32 = 6;
/// zstd level: the library default, the best speed/ratio trade-off measured on weights.
const ZSTD_LEVEL: i32 = 3;

/// Mode bits written for a file: 0755 if any execute bit is set, else 0644, so the result
/// does not depend on the packer's umask.
pub fn normalised_mode(mode: u32) -> u32 {
    if mode & 0o111 != 0 { 0o755 } else { 0o644 }
}

/// A file opened for reading exactly `size` bytes: reading fails if the file turns out
/// shorter or longer than planned (it changed after it was listed).
pub struct ExactReader {
    file: File,
    path: PathBuf,
    remaining: u64,
    checked_end: bool,
}

impl ExactReader {
    /// Opens `path`, expecting `size` bytes.
    pub fn open(path: &Path, size: u64) -> io::Result<ExactReader> {
        // Only a regular file, opened without blocking: a FIFO swapped in after the walk must
        // not hang the pack.
        let file = crate::regular::open(path)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        Ok(ExactReader {
            file,
            path: path.to_path_buf(),
            remaining: size,
            checked_end: false,
        })
    }

    fn changed(&self) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{}: file changed size while being packed",
                self.path.display()
            ),
        )
    }
}

impl Read for ExactReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 {
            if !self.checked_end {
                self.checked_end = true;
                let mut probe = [0u8; 1];
                if self.file.read(&mut probe)? != 0 {
                    return Err(self.changed());
                }
            }
            return Ok(0);
        }
        let want = buf
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        let n = self.file.read(&mut buf[..want])?;
        if n == 0 {
            return Err(self.changed());
        }
        self.remaining -= n as u64;
        Ok(n)
    }
}

/// Streams `files` into `out` as a deterministic tar; `progress` gets the file bytes read.
pub fn write_tar<W: Write>(
    out: W,
    files: &[PlannedFile],
    mtime: u64,
    progress: &dyn Fn(u64),
) -> io::Result<W> {
    let mut builder = tar::Builder::new(out);
    for f in files {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(f.size);
        header.set_mode(normalised_mode(f.mode));
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(mtime);
        let reader = Counting {
            inner: ExactReader::open(&f.abs, f.size)?,
            progress,
        };
        // `append_data` writes the path (GNU long name when needed) and the checksum.
        builder.append_data(&mut header, &f.path, reader)?;
    }
    builder.into_inner()
}

struct Counting<'a, R> {
    inner: R,
    progress: &'a dyn Fn(u64),
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        (self.progress)(n as u64);
        Ok(n)
    }
}

/// The compression of a tar layer, as a writer.
pub enum Compressor<W: Write> {
    /// Plain tar.
    Plain(W),
    /// gzip (zlib-rs), level 6, mtime 0 in the header.
    Gzip(flate2::write::GzEncoder<W>),
    /// zstd, level 3, single-threaded (deterministic output).
    Zstd(zstd::stream::write::Encoder<'static, W>),
}

impl<W: Write> Compressor<W> {
    /// A compressor for a tar layer format (`Raw` is treated as plain).
    pub fn new(format: LayerFormat, out: W) -> io::Result<Compressor<W>> {
        Ok(match format {
            LayerFormat::Raw | LayerFormat::Tar => Compressor::Plain(out),
            LayerFormat::TarGzip => Compressor::Gzip(
                flate2::GzBuilder::new()
                    .mtime(0)
                    .write(out, flate2::Compression::new(GZIP_LEVEL)),
            ),
            LayerFormat::TarZstd => {
                Compressor::Zstd(zstd::stream::write::Encoder::new(out, ZSTD_LEVEL)?)
            }
        })
    }

    /// Ends the compressed stream and returns the inner writer.
    pub fn finish(self) -> io::Result<W> {
        match self {
            Compressor::Plain(w) => Ok(w),
            Compressor::Gzip(w) => w.finish(),
            Compressor::Zstd(w) => w.finish(),
        }
    }
}

impl<W: Write> Write for Compressor<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Compressor::Plain(w) => w.write(buf),
            Compressor::Gzip(w) => w.write(buf),
            Compressor::Zstd(w) => w.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Compressor::Plain(w) => w.flush(),
            Compressor::Gzip(w) => w.flush(),
            Compressor::Zstd(w) => w.flush(),
        }
    }
}

/// A reader that decompresses a layer blob of the given format (raw and tar pass through).
pub fn decompressor<'a, R: Read + 'a>(
    format: LayerFormat,
    inner: R,
) -> io::Result<Box<dyn Read + 'a>> {
    Ok(match format {
        LayerFormat::Raw | LayerFormat::Tar => Box::new(inner),
        LayerFormat::TarGzip => Box::new(flate2::read::MultiGzDecoder::new(inner)),
        LayerFormat::TarZstd => Box::new(zstd::stream::read::Decoder::new(inner)?),
    })
}

/// The regular files of a tar layer blob, as `(path, size)` in archive order. A plain tar is
/// walked header to header with seeks, never reading member data; a compressed one has to be
/// decompressed as it streams by (bounded memory, one pass).
pub fn list_members(path: &Path, format: LayerFormat) -> io::Result<Vec<(String, u64)>> {
    let file = crate::regular::open(path)?;
    let mut out = Vec::new();
    if format == LayerFormat::Tar {
        let mut archive = tar::Archive::new(file);
        for entry in archive.entries_with_seek()? {
            push_member(&mut out, entry?)?;
        }
    } else {
        let mut archive = tar::Archive::new(decompressor(format, file)?);
        for entry in archive.entries()? {
            push_member(&mut out, entry?)?;
        }
    }
    Ok(out)
}

fn push_member<R: Read>(out: &mut Vec<(String, u64)>, entry: tar::Entry<'_, R>) -> io::Result<()> {
    if entry.header().entry_type().is_file() {
        out.push((entry.path()?.to_string_lossy().into_owned(), entry.size()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::LayerKind;

    fn planned(dir: &Path, path: &str, data: &[u8], mode: u32) -> PlannedFile {
        let abs = dir.join(path.replace('/', "_"));
        std::fs::write(&abs, data).unwrap();
        PlannedFile {
            path: path.into(),
            abs,
            kind: LayerKind::Doc,
            size: data.len() as u64,
            mode,
            untested: false,
        }
    }

    #[test]
    fn tar_is_deterministic_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let long = format!("{}/long.txt", "d".repeat(150));
        let files = vec![
            planned(dir.path(), "a.txt", b"hello", 0o600),
            planned(dir.path(), &long, b"world", 0o700),
        ];
        let one = write_tar(Vec::new(), &files, 0, &|_| {}).unwrap();
        let two = write_tar(Vec::new(), &files, 0, &|_| {}).unwrap();
        assert_eq!(one, two);
        let mut ar = tar::Archive::new(&one[..]);
        let got: Vec<(String, u32, u64, u64, Vec<u8>)> = ar
            .entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let mut data = Vec::new();
                e.read_to_end(&mut data).unwrap();
                let h = e.header();
                (
                    e.path().unwrap().to_string_lossy().into_owned(),
                    h.mode().unwrap(),
                    h.uid().unwrap(),
                    h.mtime().unwrap(),
                    data,
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("a.txt".into(), 0o644, 0, 0, b"hello".to_vec()),
                (long, 0o755, 0, 0, b"world".to_vec()),
            ]
        );
    }

    #[test]
    fn a_file_that_grew_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = planned(dir.path(), "a.txt", b"hello", 0o644);
        f.size = 3;
        let err = write_tar(Vec::new(), &[f], 0, &|_| {}).unwrap_err();
        assert!(err.to_string().contains("changed size"), "{err}");
    }

    #[test]
    fn compressors_round_trip() {
        let data = b"some tar bytes ".repeat(1000);
        for format in [LayerFormat::Tar, LayerFormat::TarGzip, LayerFormat::TarZstd] {
            let mut c = Compressor::new(format, Vec::new()).unwrap();
            c.write_all(&data).unwrap();
            let packed = c.finish().unwrap();
            let mut back = Vec::new();
            decompressor(format, &packed[..])
                .unwrap()
                .read_to_end(&mut back)
                .unwrap();
            assert_eq!(back, data, "{format:?}");
        }
    }
}
