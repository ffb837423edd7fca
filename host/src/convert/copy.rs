//! Moves one tensor's bytes from its input file to the output, in bounded memory.
//!
//! The innermost run of dimensions that is contiguous in the source is read as one block
//! (the whole tensor for ordinary checkpoints, read in 8 MiB pieces); the outer dimensions are
//! walked with an odometer. Small blocks (transposed or strided views) are served from an
//! 8 MiB read-ahead window so a view does not cost one system call per element.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;

use super::plan::Checked;

/// Bytes read or written per call.
pub const CHUNK: usize = 8 << 20;

/// A read-ahead window over one file.
pub struct Window<'a> {
    file: &'a File,
    start: u64,
    /// Allocated once, on first use; `valid` bytes of it hold file data.
    buf: Vec<u8>,
    valid: usize,
}

impl<'a> Window<'a> {
    /// An empty window over `file`.
    pub fn new(file: &'a File) -> Window<'a> {
        Window {
            file,
            start: 0,
            buf: Vec::new(),
            valid: 0,
        }
    }

    /// Fills `out` with the bytes at `offset` (`out.len()` ≤ CHUNK).
    fn read(&mut self, offset: u64, out: &mut [u8]) -> std::io::Result<()> {
        let end = offset + out.len() as u64;
        if offset < self.start || end > self.start + self.valid as u64 {
            if self.buf.is_empty() {
                self.buf = vec![0; CHUNK];
            }
            self.valid = read_full(self.file, &mut self.buf, offset)?;
            self.start = offset;
            if self.valid < out.len() {
                return Err(short(offset));
            }
        }
        let at = (offset - self.start) as usize;
        out.copy_from_slice(&self.buf[at..at + out.len()]);
        Ok(())
    }
}

fn short(offset: u64) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::UnexpectedEof,
        format!("file ended before byte {offset} (changed while converting?)"),
    )
}

/// Reads up to `buf.len()` bytes at `offset`; fewer only at end of file.
fn read_full(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

fn swap(buf: &mut [u8], elsize: usize) {
    for el in buf.chunks_exact_mut(elsize) {
        el.reverse();
    }
}

/// Writes tensor `t`'s bytes, row-major and little-endian, to `out`.
pub fn copy_tensor(t: &Checked, file: &File, out: &mut impl Write) -> std::io::Result<()> {
    if t.nbytes == 0 {
        return Ok(());
    }
    let dims = t.shape.len();
    // Innermost dimensions that are laid out contiguously form one block.
    let mut inner = dims;
    let mut expect = 1u64;
    while inner > 0 && (t.strides[inner - 1] == expect || t.shape[inner - 1] == 1) {
        expect *= t.shape[inner - 1];
        inner -= 1;
    }
    let block_elems: u64 = t.shape[inner..].iter().product();
    let block = block_elems * t.elsize;
    let mut idx = vec![0u64; inner];
    let mut window = Window::new(file);
    // One buffer for the whole tensor, filled up to `len`: zeroing it per chunk would touch
    // every byte a second time.
    let mut buf: Vec<u8> = vec![0; CHUNK.min(t.nbytes as usize)];
    let mut len = 0usize;
    loop {
        let el: u64 = idx.iter().zip(&t.strides).map(|(i, s)| i * s).sum();
        let mut at = t.offset + el * t.elsize;
        let mut left = block;
        while left > 0 {
            let n = (left as usize).min(buf.len() - len);
            if n == CHUNK {
                if read_full(file, &mut buf, at)? < CHUNK {
                    return Err(short(at));
                }
            } else {
                window.read(at, &mut buf[len..len + n])?;
            }
            len += n;
            at += n as u64;
            left -= n as u64;
            if len == buf.len() {
                if t.byte_swap {
                    swap(&mut buf, t.elsize as usize);
                }
                out.write_all(&buf)?;
                len = 0;
            }
        }
        // Odometer over the outer dimensions.
        let mut d = inner;
        loop {
            if d == 0 {
                if len > 0 {
                    if t.byte_swap {
                        swap(&mut buf[..len], t.elsize as usize);
                    }
                    out.write_all(&buf[..len])?;
                }
                return Ok(());
            }
            d -= 1;
            idx[d] += 1;
            if idx[d] < t.shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
}

/// Whether the tensor's bytes are one run of the source in output order, unswapped.
pub fn is_plain(t: &Checked) -> bool {
    !t.byte_swap
        && t.shape
            .iter()
            .zip(&t.strides)
            .rev()
            .try_fold(1u64, |expect, (d, s)| {
                (*s == expect || *d == 1).then(|| expect.saturating_mul(*d))
            })
            .is_some()
}

/// Copies `len` bytes at `offset` of `src` to the current position of `dst` inside the kernel
/// (`copy_file_range`, as `cp` does: no pass through user space), falling back to reads and
/// writes where the file systems cannot.
pub fn copy_range(src: &File, offset: u64, dst: &mut File, len: u64) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let mut off = offset as libc::loff_t;
    let mut left = len;
    while left > 0 {
        let want = left.min(1 << 30) as usize;
        // SAFETY: both descriptors are open files owned by the callers for the whole call;
        // `off` is a valid loff_t and the output offset is the file position (null).
        let n = unsafe {
            libc::copy_file_range(
                src.as_raw_fd(),
                &mut off,
                dst.as_raw_fd(),
                std::ptr::null_mut(),
                want,
                0,
            )
        };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::EXDEV | libc::ENOSYS | libc::EOPNOTSUPP | libc::EINVAL) => {
                    return copy_through(src, off as u64, dst, left);
                }
                _ => return Err(e),
            }
        }
        if n == 0 {
            return Err(short(off as u64));
        }
        left -= n as u64;
    }
    Ok(())
}

fn copy_through(src: &File, mut offset: u64, dst: &mut File, mut left: u64) -> std::io::Result<()> {
    let mut buf = vec![0u8; CHUNK.min(left as usize)];
    while left > 0 {
        let n = (left as usize).min(buf.len());
        if read_full(src, &mut buf[..n], offset)? < n {
            return Err(short(offset));
        }
        dst.write_all(&buf[..n])?;
        offset += n as u64;
        left -= n as u64;
    }
    Ok(())
}
