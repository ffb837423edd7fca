//! A forward-reading, buffered cursor over a [`Source`].
//!
//! GGUF headers are a stream of small fields whose total size is unknown up front (tokenizer
//! vocabularies make them 5–15 MB), so the cursor reads the file in 1 MiB chunks as it goes.
//! Skipping moves the position without reading, which is how big arrays are passed over.
//! Every read is bounds-checked against the file size first; running past the end is a
//! `Malformed` error naming what was being read, never a panic.

use modelpack_plugin_sdk::prelude::*;

/// Bytes fetched from the source per refill.
const CHUNK: u64 = 1 << 20;

/// Sequential reader over one file with a 1 MiB read-ahead buffer.
pub struct Cursor<'a> {
    src: &'a dyn Source,
    size: u64,
    pos: u64,
    buf: Vec<u8>,
    buf_start: u64,
}

impl<'a> Cursor<'a> {
    /// A cursor at offset 0 of `src`.
    pub fn new(src: &'a dyn Source) -> Self {
        Cursor {
            src,
            size: src.size(),
            pos: 0,
            buf: Vec::new(),
            buf_start: 0,
        }
    }

    /// The file size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The current offset.
    pub fn pos(&self) -> u64 {
        self.pos
    }

    /// Bytes left between the current offset and the end of the file.
    pub fn remaining(&self) -> u64 {
        self.size.saturating_sub(self.pos)
    }

    /// A `Malformed` error. The file name is left out: the host prints the path, and
    /// [`crate::inspect`] names the part when a split model has several.
    pub fn malformed(&self, msg: impl std::fmt::Display) -> Error {
        Error::Malformed(msg.to_string())
    }

    /// Fails unless `n` more bytes exist; `what` names the field for the message.
    pub fn need(&self, n: u64, what: &str) -> Result<(), Error> {
        if n > self.remaining() {
            return Err(self.malformed(format_args!(
                "{what} at offset {} needs {n} bytes but only {} remain (file size {})",
                self.pos,
                self.remaining(),
                self.size
            )));
        }
        Ok(())
    }

    /// Borrows the next `n` bytes (`n` ≤ 1 MiB) and advances past them.
    fn take(&mut self, n: u64, what: &str) -> Result<&[u8], Error> {
        debug_assert!(n <= CHUNK);
        self.need(n, what)?;
        let buf_end = self.buf_start + self.buf.len() as u64;
        if self.pos < self.buf_start || self.pos + n > buf_end {
            let want = CHUNK.min(self.size - self.pos);
            let bytes = read_at(self.src, self.pos, want)?;
            if (bytes.len() as u64) < n {
                return Err(Error::Io(format!(
                    "short read of {what} at offset {}: {} of {n} bytes",
                    self.pos,
                    bytes.len()
                )));
            }
            self.buf = bytes;
            self.buf_start = self.pos;
        }
        let start = (self.pos - self.buf_start) as usize;
        self.pos += n;
        Ok(&self.buf[start..start + n as usize])
    }

    /// Reads `N` bytes into an array.
    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], Error> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N as u64, what)?);
        Ok(out)
    }

    /// Reads a u8.
    pub fn u8(&mut self, what: &str) -> Result<u8, Error> {
        Ok(self.array::<1>(what)?[0])
    }

    /// Reads a little-endian u16.
    pub fn u16(&mut self, what: &str) -> Result<u16, Error> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }

    /// Reads a little-endian u32.
    pub fn u32(&mut self, what: &str) -> Result<u32, Error> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    /// Reads a little-endian u64.
    pub fn u64(&mut self, what: &str) -> Result<u64, Error> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    /// Reads a little-endian f32.
    pub fn f32(&mut self, what: &str) -> Result<f32, Error> {
        Ok(f32::from_le_bytes(self.array(what)?))
    }

    /// Reads a little-endian f64.
    pub fn f64(&mut self, what: &str) -> Result<f64, Error> {
        Ok(f64::from_le_bytes(self.array(what)?))
    }

    /// Reads `n` bytes into a new vector (any size up to what the file holds).
    pub fn bytes(&mut self, n: u64, what: &str) -> Result<Vec<u8>, Error> {
        self.need(n, what)?;
        if n <= CHUNK {
            return Ok(self.take(n, what)?.to_vec());
        }
        let out = read_exact_at(self.src, self.pos, n, what)?;
        self.pos += n;
        Ok(out)
    }

    /// Moves forward `n` bytes without reading them.
    pub fn skip(&mut self, n: u64, what: &str) -> Result<(), Error> {
        self.need(n, what)?;
        self.pos += n;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use modelpack_plugin_sdk::MemSource;

    #[test]
    fn reads_across_chunk_boundaries() {
        let mut data = vec![0u8; CHUNK as usize + 16];
        let at = CHUNK as usize - 2;
        data[at..at + 4].copy_from_slice(&0xdead_beef_u32.to_le_bytes());
        let src = MemSource::new("x", data);
        let mut c = Cursor::new(&src);
        c.skip(at as u64, "pad").unwrap();
        assert_eq!(c.u32("v").unwrap(), 0xdead_beef);
        assert_eq!(c.pos(), at as u64 + 4);
    }

    #[test]
    fn past_the_end_is_malformed() {
        let src = MemSource::new("x", vec![1, 2, 3]);
        let mut c = Cursor::new(&src);
        let err = c.u64("count").unwrap_err();
        assert!(
            matches!(&err, Error::Malformed(m) if m.contains("count at offset 0 needs 8 bytes"))
        );
        assert!(c.skip(4, "gap").is_err());
        assert_eq!(c.bytes(3, "all").unwrap(), vec![1, 2, 3]);
    }

    #[test]
    fn large_reads_bypass_the_buffer() {
        let data: Vec<u8> = (0..(CHUNK as usize * 2 + 5)).map(|i| i as u8).collect();
        let src = MemSource::new("x", data.clone());
        let mut c = Cursor::new(&src);
        c.skip(3, "pad").unwrap();
        let got = c.bytes(CHUNK + 7, "blob").unwrap();
        assert_eq!(got, data[3..3 + CHUNK as usize + 7]);
        assert_eq!(c.u8("next").unwrap(), data[CHUNK as usize + 10]);
    }
}
