//! Opening files that must be regular files, without ever blocking.
//!
//! `open(2)` on a FIFO blocks until a writer appears, where no plugin timeout can fire, and a
//! device or socket can stream forever. Every file the host reads out of a model directory (or
//! hands to a plugin) is opened here: with `O_NONBLOCK`, so `open` on a FIFO returns at once;
//! then checked with `fstat` on the open descriptor, so a file swapped after an earlier
//! `stat` cannot slip through; and refused unless it is a regular file.

use std::fs::File;
use std::io;
use std::path::Path;

/// What kind of non-regular file this is, in words for an error message.
pub fn kind_name(ft: std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if ft.is_fifo() {
            return "a FIFO";
        }
        if ft.is_socket() {
            return "a socket";
        }
        if ft.is_char_device() {
            return "a character device";
        }
        if ft.is_block_device() {
            return "a block device";
        }
    }
    if ft.is_dir() {
        "a directory"
    } else if ft.is_symlink() {
        "a symlink"
    } else if ft.is_file() {
        "a regular file"
    } else {
        "not a regular file"
    }
}

/// The error for a file that is not regular (`InvalidInput`, message without the path).
pub fn not_regular(ft: std::fs::FileType) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "{}, not a regular file; only regular files are read",
            kind_name(ft)
        ),
    )
}

/// Opens `path` for reading if (and only if) it is a regular file, never blocking.
pub fn open(path: &Path) -> io::Result<File> {
    let file = match open_nonblocking(path) {
        Ok(f) => f,
        // A socket cannot be opened at all (ENXIO): name what it is instead.
        Err(e) => match std::fs::metadata(path) {
            Ok(m) if !m.is_file() => return Err(not_regular(m.file_type())),
            _ => return Err(e),
        },
    };
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(not_regular(meta.file_type()));
    }
    #[cfg(unix)]
    clear_nonblocking(&file)?;
    Ok(file)
}

/// Reads a whole regular file (see [`open`]).
pub fn read(path: &Path) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let mut f = open(path)?;
    let mut out = Vec::new();
    f.read_to_end(&mut out)?;
    Ok(out)
}

#[cfg(unix)]
fn open_nonblocking(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
}

#[cfg(not(unix))]
fn open_nonblocking(path: &Path) -> io::Result<File> {
    File::open(path)
}

/// Regular-file reads ignore O_NONBLOCK on Linux, but not every system promises that.
#[cfg(unix)]
fn clear_nonblocking(file: &File) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let fd = file.as_raw_fd();
    // SAFETY: fcntl on a descriptor this function's caller owns; no memory is passed.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: as above.
    if unsafe { libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn fifos_are_refused_without_blocking() {
        let t = tempfile::tempdir().unwrap();
        let fifo = t.path().join("pipe");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let err = open(&fifo).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(
            err.to_string().starts_with("a FIFO, not a regular file"),
            "{err}"
        );
        assert!(open(t.path()).is_err());
        std::fs::write(t.path().join("f"), b"abc").unwrap();
        assert_eq!(read(&t.path().join("f")).unwrap(), b"abc");
    }
}
