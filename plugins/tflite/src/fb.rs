//! A bounded, lazy FlatBuffers reader over a [`Source`].
//!
//! Why not the `flatbuffers` crate (or `planus`): both decode from one `&[u8]` holding the
//! whole buffer, and a `.tflite` file below 2 GiB stores every weight *inside* the flatbuffer
//! (`Buffer.data` vectors). Handing them a slice means reading every weight byte into a plugin
//! whose memory is capped at 256 MiB, which breaks the header-only rule. This reader instead
//! follows offsets through the host's blob in 1 KiB pages, so a `Buffer.data` vector costs
//! the read of its 4-byte length and its payload is never fetched.
//!
//! Only what the TFLite schema needs is here: tables with vtables, scalars, strings, vectors
//! of scalars / tables / strings. Everything is untrusted: every offset is checked against the
//! file size, vector lengths against the bytes that could hold them, and the total of fetched
//! pages is capped ([`MAX_FETCH`]) so a hostile file cannot make the plugin read more than a
//! bounded amount whatever its structure.

use modelpack_plugin_sdk::prelude::*;
use std::collections::HashMap;

/// Size of one cached page.
const PAGE: u64 = 1 << 10;
/// Most bytes kept in the page cache; it is emptied when full.
const MAX_CACHE: usize = 32 << 20;
/// Most bytes fetched from the file in one inspection (structure only, never tensor data).
pub const MAX_FETCH: u64 = 256 << 20;

/// A position in the file (absolute byte offset).
pub type Pos = u64;

/// Random access to a flatbuffer stored in a [`Source`].
pub struct Fb<'a> {
    src: &'a dyn Source,
    name: String,
    size: u64,
    pages: HashMap<u64, Vec<u8>>,
    cached: usize,
    fetched: u64,
}

/// A table: its position and the position of its vtable, with the vtable's length.
#[derive(Debug, Clone, Copy)]
pub struct Table {
    pos: Pos,
    vtable: Pos,
    vtable_len: u16,
}

/// A vector: position of its first element and its length.
#[derive(Debug, Clone, Copy)]
pub struct Vector {
    /// Position of element 0.
    pub start: Pos,
    /// Number of elements.
    pub len: u32,
}

impl<'a> Fb<'a> {
    /// A reader over `src`.
    pub fn new(src: &'a dyn Source) -> Self {
        Fb {
            name: src.name(),
            size: src.size(),
            src,
            pages: HashMap::new(),
            cached: 0,
            fetched: 0,
        }
    }

    /// The file name, for messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// File size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Bytes fetched so far (for tests and the header-only promise).
    pub fn fetched(&self) -> u64 {
        self.fetched
    }

    fn malformed(&self, msg: String) -> Error {
        Error::Malformed(format!("{}: {msg}", self.name))
    }

    /// Copies `out.len()` bytes at `pos` into `out`.
    pub fn bytes_into(&mut self, pos: Pos, out: &mut [u8], what: &str) -> Result<(), Error> {
        let len = out.len() as u64;
        if pos.checked_add(len).is_none_or(|end| end > self.size) {
            return Err(self.malformed(format!(
                "{what} at offset {pos} ({len} bytes) lies beyond the end of the file ({} bytes)",
                self.size
            )));
        }
        let mut done = 0usize;
        while done < out.len() {
            let at = pos + done as u64;
            let page = at / PAGE;
            let data = self.page(page)?;
            let skip = (at - page * PAGE) as usize;
            let n = (data.len().saturating_sub(skip)).min(out.len() - done);
            if n == 0 {
                return Err(Error::Io(format!(
                    "{}: short read at offset {at}",
                    self.name
                )));
            }
            out[done..done + n].copy_from_slice(&data[skip..skip + n]);
            done += n;
        }
        Ok(())
    }

    fn page(&mut self, page: u64) -> Result<&Vec<u8>, Error> {
        if !self.pages.contains_key(&page) {
            let start = page * PAGE;
            let len = PAGE.min(self.size - start);
            self.fetched += len;
            if self.fetched > MAX_FETCH {
                return Err(Error::TooLarge(format!(
                    "{}: the flatbuffer's structure needs more than {MAX_FETCH} bytes of reads",
                    self.name
                )));
            }
            let data = read_exact_at(self.src, start, len, "flatbuffer page")?;
            if self.cached + data.len() > MAX_CACHE {
                self.pages.clear();
                self.cached = 0;
            }
            self.cached += data.len();
            self.pages.insert(page, data);
        }
        // Inserted just above when missing.
        Ok(&self.pages[&page])
    }

    fn array<const N: usize>(&mut self, pos: Pos, what: &str) -> Result<[u8; N], Error> {
        let mut b = [0u8; N];
        self.bytes_into(pos, &mut b, what)?;
        Ok(b)
    }

    /// A little-endian u8 at `pos`.
    pub fn u8(&mut self, pos: Pos, what: &str) -> Result<u8, Error> {
        Ok(self.array::<1>(pos, what)?[0])
    }
    /// A little-endian u16 at `pos`.
    pub fn u16(&mut self, pos: Pos, what: &str) -> Result<u16, Error> {
        Ok(u16::from_le_bytes(self.array(pos, what)?))
    }
    /// A little-endian u32 at `pos`.
    pub fn u32(&mut self, pos: Pos, what: &str) -> Result<u32, Error> {
        Ok(u32::from_le_bytes(self.array(pos, what)?))
    }
    /// A little-endian i32 at `pos`.
    pub fn i32(&mut self, pos: Pos, what: &str) -> Result<i32, Error> {
        Ok(i32::from_le_bytes(self.array(pos, what)?))
    }
    /// A little-endian u64 at `pos`.
    pub fn u64(&mut self, pos: Pos, what: &str) -> Result<u64, Error> {
        Ok(u64::from_le_bytes(self.array(pos, what)?))
    }
    /// A little-endian i64 at `pos`.
    pub fn i64(&mut self, pos: Pos, what: &str) -> Result<i64, Error> {
        Ok(i64::from_le_bytes(self.array(pos, what)?))
    }
    /// A little-endian f32 at `pos`.
    pub fn f32(&mut self, pos: Pos, what: &str) -> Result<f32, Error> {
        Ok(f32::from_le_bytes(self.array(pos, what)?))
    }

    /// Follows the unsigned offset stored at `pos`.
    fn follow(&mut self, pos: Pos, what: &str) -> Result<Pos, Error> {
        let off = self.u32(pos, what)? as u64;
        let target = pos + off;
        if off == 0 || target >= self.size {
            return Err(self.malformed(format!(
                "{what}: offset {off} at {pos} points outside the file ({} bytes)",
                self.size
            )));
        }
        Ok(target)
    }

    /// The root table (the `uoffset` at the start of the file).
    pub fn root(&mut self) -> Result<Table, Error> {
        self.table(0, "root table offset")
    }

    /// The table an offset at `pos` points to.
    fn table(&mut self, pos: Pos, what: &str) -> Result<Table, Error> {
        let at = self.follow(pos, what)?;
        let soff = self.i32(at, what)? as i64;
        let vtable = at as i64 - soff;
        if vtable < 0 || vtable as u64 + 4 > self.size {
            return Err(self.malformed(format!(
                "{what}: table at {at} has its vtable at {vtable}, outside the file"
            )));
        }
        let vtable = vtable as u64;
        let vtable_len = self.u16(vtable, what)?;
        if vtable_len < 4 || vtable_len % 2 != 0 || vtable + vtable_len as u64 > self.size {
            return Err(self.malformed(format!(
                "{what}: vtable at {vtable} has an invalid length {vtable_len}"
            )));
        }
        Ok(Table {
            pos: at,
            vtable,
            vtable_len,
        })
    }

    /// Position of field `field` of `t`, or `None` when absent.
    pub fn field(&mut self, t: Table, field: u16, what: &str) -> Result<Option<Pos>, Error> {
        let slot = 4 + 2 * field as u64;
        if slot + 2 > t.vtable_len as u64 {
            return Ok(None);
        }
        let off = self.u16(t.vtable + slot, what)?;
        if off == 0 {
            return Ok(None);
        }
        Ok(Some(t.pos + off as u64))
    }

    /// A sub-table field.
    pub fn table_field(
        &mut self,
        t: Table,
        field: u16,
        what: &str,
    ) -> Result<Option<Table>, Error> {
        match self.field(t, field, what)? {
            Some(p) => Ok(Some(self.table(p, what)?)),
            None => Ok(None),
        }
    }

    /// A vector field whose elements are `elem` bytes wide.
    pub fn vector_field(
        &mut self,
        t: Table,
        field: u16,
        elem: u64,
        what: &str,
    ) -> Result<Option<Vector>, Error> {
        match self.field(t, field, what)? {
            Some(p) => {
                let at = self.follow(p, what)?;
                let len = self.u32(at, what)?;
                let start = at + 4;
                // Bound the length by the bytes that could hold it before anyone allocates.
                if (len as u64)
                    .checked_mul(elem)
                    .is_none_or(|n| start + n > self.size)
                {
                    return Err(self.malformed(format!(
                        "{what}: vector at {at} claims {len} elements of {elem} bytes, beyond the end of the file ({} bytes)",
                        self.size
                    )));
                }
                Ok(Some(Vector { start, len }))
            }
            None => Ok(None),
        }
    }

    /// Element `i` of a vector of tables.
    pub fn table_at(&mut self, v: Vector, i: u32, what: &str) -> Result<Table, Error> {
        self.table(v.start + 4 * i as u64, what)
    }

    /// A string field, lossily decoded; `max` bytes at most are read (longer ones are cut).
    pub fn string_field(
        &mut self,
        t: Table,
        field: u16,
        max: u32,
        what: &str,
    ) -> Result<Option<String>, Error> {
        match self.vector_field(t, field, 1, what)? {
            Some(v) => Ok(Some(self.string_bytes(v, max, what)?)),
            None => Ok(None),
        }
    }

    /// Element `i` of a vector of strings.
    pub fn string_at(&mut self, v: Vector, i: u32, max: u32, what: &str) -> Result<String, Error> {
        let at = self.follow(v.start + 4 * i as u64, what)?;
        let len = self.u32(at, what)?;
        if at + 4 + len as u64 > self.size {
            return Err(self.malformed(format!(
                "{what}: string at {at} of {len} bytes runs past the end of the file"
            )));
        }
        self.string_bytes(Vector { start: at + 4, len }, max, what)
    }

    fn string_bytes(&mut self, v: Vector, max: u32, what: &str) -> Result<String, Error> {
        let mut b = vec![0u8; v.len.min(max) as usize];
        self.bytes_into(v.start, &mut b, what)?;
        Ok(String::from_utf8_lossy(&b).into_owned())
    }

    /// The first `max` elements of a vector of i32 (the rest are counted, not read).
    pub fn i32s(&mut self, v: Vector, max: u32, what: &str) -> Result<Vec<i32>, Error> {
        (0..v.len.min(max))
            .map(|i| self.i32(v.start + 4 * i as u64, what))
            .collect()
    }

    /// The first `max` elements of a vector of i64.
    pub fn i64s(&mut self, v: Vector, max: u32, what: &str) -> Result<Vec<i64>, Error> {
        (0..v.len.min(max))
            .map(|i| self.i64(v.start + 8 * i as u64, what))
            .collect()
    }

    /// The first `max` elements of a vector of f32.
    pub fn f32s(&mut self, v: Vector, max: u32, what: &str) -> Result<Vec<f32>, Error> {
        (0..v.len.min(max))
            .map(|i| self.f32(v.start + 4 * i as u64, what))
            .collect()
    }

    /// The first `max` bytes of a byte vector.
    pub fn bytes(&mut self, v: Vector, max: u32, what: &str) -> Result<Vec<u8>, Error> {
        let mut b = vec![0u8; v.len.min(max) as usize];
        self.bytes_into(v.start, &mut b, what)?;
        Ok(b)
    }
}
