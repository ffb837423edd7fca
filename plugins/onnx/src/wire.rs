//! A lazy protobuf wire-format reader over a [`Source`].
//!
//! ONNX files are one protobuf message with no framing, and most of their bytes are tensor
//! payloads (`raw_data`) that a header-only inspector must not read. [`Reader`] therefore
//! keeps a small window of the file in memory and moves a cursor through it: skipping a
//! length-delimited field only advances the cursor, so the payload bytes are never fetched.
//!
//! Every nested message is entered with [`Reader::nested`], which checks the declared length
//! against the enclosing message, bounds the nesting depth and restores the outer limit, so a
//! field can never read past the end of the message that holds it.

use modelpack_plugin_sdk::prelude::*;

/// Bytes fetched after the cursor jumped over skipped data (the next field is usually small).
const MIN_WINDOW: u64 = 4 << 10;
/// Largest window: sequential decoding doubles the window up to this size.
const MAX_WINDOW: u64 = 256 << 10;

/// Deepest nesting of messages (and groups) accepted; protobuf's own default limit is 100.
pub const MAX_DEPTH: u32 = 100;

/// Wire type of varint fields.
pub const VARINT: u8 = 0;
/// Wire type of 64-bit fields.
pub const FIXED64: u8 = 1;
/// Wire type of length-delimited fields (strings, bytes, messages, packed arrays).
pub const LEN: u8 = 2;
/// Wire type opening a (deprecated) group.
pub const START_GROUP: u8 = 3;
/// Wire type closing a (deprecated) group.
pub const END_GROUP: u8 = 4;
/// Wire type of 32-bit fields.
pub const FIXED32: u8 = 5;

/// The name of a wire type, for error messages.
fn wire_name(wt: u8) -> &'static str {
    match wt {
        VARINT => "varint",
        FIXED64 => "fixed64",
        LEN => "length-delimited",
        START_GROUP => "start-group",
        END_GROUP => "end-group",
        FIXED32 => "fixed32",
        _ => "invalid",
    }
}

/// A cursor over a protobuf message stored in a [`Source`].
pub struct Reader<'a> {
    src: &'a dyn Source,
    size: u64,
    /// The cached window of the file and its absolute start offset.
    window: Vec<u8>,
    window_start: u64,
    /// Absolute offset of the next byte to decode.
    pos: u64,
    /// Absolute end of the innermost message being decoded.
    limit: u64,
    /// Name of the innermost message, for error context.
    what: &'static str,
    depth: u32,
}

impl<'a> Reader<'a> {
    /// A reader over the whole of `src`, decoding a message called `what`.
    pub fn new(src: &'a dyn Source, what: &'static str) -> Self {
        let size = src.size();
        Reader {
            src,
            size,
            window: Vec::new(),
            window_start: 0,
            pos: 0,
            limit: size,
            what,
            depth: 0,
        }
    }

    /// Absolute offset of the cursor.
    pub fn pos(&self) -> u64 {
        self.pos
    }

    /// A `malformed` error at the cursor, naming the message being decoded.
    pub fn err(&self, msg: impl std::fmt::Display) -> Error {
        Error::Malformed(format!(
            "{}: {} at offset {}: {msg}",
            self.src.name(),
            self.what,
            self.pos
        ))
    }

    /// Bytes left in the innermost message.
    fn remaining(&self) -> u64 {
        self.limit.saturating_sub(self.pos)
    }

    /// Makes sure the byte at the cursor is in the window (the caller checked the limit).
    fn fill(&mut self) -> Result<(), Error> {
        let end = self.window_start + self.window.len() as u64;
        if self.pos >= self.window_start && self.pos < end {
            return Ok(());
        }
        // Reading on from the end of the window means the decoder is walking dense metadata
        // (grow the window); a jump means payload was skipped (start small again), so big
        // tensors cost a few KiB of reading each rather than a full window.
        let wanted = if self.pos == end && !self.window.is_empty() {
            (self.window.len() as u64 * 2).clamp(MIN_WINDOW, MAX_WINDOW)
        } else {
            MIN_WINDOW
        };
        let len = wanted.min(self.size.saturating_sub(self.pos));
        let bytes = read_at(self.src, self.pos, len)?;
        if bytes.is_empty() {
            return Err(Error::Io(format!(
                "{}: short read at offset {} of a {}-byte file",
                self.src.name(),
                self.pos,
                self.size
            )));
        }
        self.window = bytes;
        self.window_start = self.pos;
        Ok(())
    }

    /// The next byte of the current message.
    fn byte(&mut self, what: &str) -> Result<u8, Error> {
        if self.pos >= self.limit {
            return Err(self.err(format_args!("{what} runs past the end of the message")));
        }
        self.fill()?;
        // `fill` guarantees the cursor lies inside the window.
        let b = self.window[(self.pos - self.window_start) as usize];
        self.pos += 1;
        Ok(b)
    }

    /// A base-128 varint of at most 10 bytes that fits in 64 bits.
    pub fn varint(&mut self) -> Result<u64, Error> {
        let start = self.pos;
        let mut value: u64 = 0;
        for i in 0..10u32 {
            let b = self.byte("varint")?;
            let bits = u64::from(b & 0x7f);
            if i == 9 && bits > 1 {
                self.pos = start;
                return Err(self.err("varint overflows 64 bits"));
            }
            value |= bits << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        self.pos = start;
        Err(self.err("varint longer than 10 bytes"))
    }

    /// The next field key as `(field number, wire type)`, or `None` at the end of the message.
    pub fn next_field(&mut self) -> Result<Option<(u32, u8)>, Error> {
        if self.pos >= self.limit {
            return Ok(None);
        }
        let start = self.pos;
        let key = self.varint()?;
        let field = key >> 3;
        let wt = (key & 7) as u8;
        if field == 0 || field > u64::from(u32::MAX >> 3) {
            self.pos = start;
            return Err(self.err(format_args!("invalid field number {field}")));
        }
        Ok(Some((field as u32, wt)))
    }

    /// Fails unless a known field arrived with the wire type its schema gives it.
    pub fn expect(&self, field: &str, wt: u8, want: u8) -> Result<(), Error> {
        if wt == want {
            Ok(())
        } else {
            Err(self.err(format_args!(
                "field {field} has wire type {} ({}), expected {} ({})",
                wt,
                wire_name(wt),
                want,
                wire_name(want)
            )))
        }
    }

    /// Reads a length prefix and checks it against the rest of the current message.
    pub fn length_prefix(&mut self) -> Result<u64, Error> {
        let n = self.varint()?;
        let left = self.remaining();
        if n > left {
            return Err(self.err(format_args!(
                "length {n} exceeds the {left} bytes left in the message"
            )));
        }
        Ok(n)
    }

    /// Moves the cursor `n` bytes forward without reading them.
    pub fn skip(&mut self, n: u64) -> Result<(), Error> {
        let left = self.remaining();
        if n > left {
            return Err(self.err(format_args!(
                "skip of {n} bytes exceeds the {left} bytes left in the message"
            )));
        }
        self.pos += n;
        Ok(())
    }

    /// Copies `n` bytes (already checked against the message) out of the file.
    fn take(&mut self, n: u64) -> Result<Vec<u8>, Error> {
        let mut out = Vec::with_capacity(n as usize);
        let end = self.pos + n;
        while self.pos < end {
            self.fill()?;
            let off = (self.pos - self.window_start) as usize;
            let avail = (self.window.len() - off) as u64;
            let k = avail.min(end - self.pos) as usize;
            out.extend_from_slice(&self.window[off..off + k]);
            self.pos += k as u64;
        }
        Ok(out)
    }

    /// A length-delimited string, keeping at most `cap` bytes (the rest is skipped).
    pub fn string(&mut self, cap: u64) -> Result<String, Error> {
        let n = self.length_prefix()?;
        let keep = n.min(cap);
        let bytes = self.take(keep)?;
        self.pos += n - keep;
        Ok(utf8_prefix(&bytes, keep < n))
    }

    /// A 64-bit little-endian value.
    pub fn fixed64(&mut self) -> Result<u64, Error> {
        if self.remaining() < 8 {
            return Err(self.err("fixed64 runs past the end of the message"));
        }
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(&b);
        Ok(u64::from_le_bytes(a))
    }

    /// A 32-bit little-endian value.
    pub fn fixed32(&mut self) -> Result<u32, Error> {
        if self.remaining() < 4 {
            return Err(self.err("fixed32 runs past the end of the message"));
        }
        let b = self.take(4)?;
        let mut a = [0u8; 4];
        a.copy_from_slice(&b);
        Ok(u32::from_le_bytes(a))
    }

    /// Decodes a length-delimited sub-message called `what` with `f`, then checks that `f`
    /// consumed exactly the declared length and restores the outer message's bounds.
    pub fn nested<T>(
        &mut self,
        what: &'static str,
        f: impl FnOnce(&mut Self) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let n = self.length_prefix()?;
        self.enter(what)?;
        let outer_limit = self.limit;
        let outer_what = self.what;
        self.limit = self.pos + n;
        self.what = what;
        let out = f(self);
        if out.is_ok() && self.pos != self.limit {
            // Decoders loop until the limit; this guards against a decoder bug, not input.
            let e = self.err("sub-message not fully consumed");
            self.leave(outer_limit, outer_what);
            return Err(e);
        }
        self.leave(outer_limit, outer_what);
        out
    }

    /// Counts one more level of nesting, failing beyond [`MAX_DEPTH`].
    fn enter(&mut self, what: &str) -> Result<(), Error> {
        if self.depth >= MAX_DEPTH {
            return Err(self.err(format_args!("{what} nested deeper than {MAX_DEPTH} levels")));
        }
        self.depth += 1;
        Ok(())
    }

    fn leave(&mut self, outer_limit: u64, outer_what: &'static str) {
        self.depth -= 1;
        self.limit = outer_limit;
        self.what = outer_what;
    }

    /// Skips the value of a field this decoder does not need, whatever its wire type.
    pub fn skip_field(&mut self, field: u32, wt: u8) -> Result<(), Error> {
        match wt {
            VARINT => self.varint().map(|_| ()),
            FIXED64 => self.skip(8),
            LEN => {
                let n = self.length_prefix()?;
                self.skip(n)
            }
            FIXED32 => self.skip(4),
            START_GROUP => self.skip_group(field),
            END_GROUP => Err(self.err(format_args!("unexpected end-group for field {field}"))),
            _ => Err(self.err(format_args!("invalid wire type {wt} for field {field}"))),
        }
    }

    /// Skips a deprecated group up to the end-group key of the same field number.
    fn skip_group(&mut self, field: u32) -> Result<(), Error> {
        self.enter("group")?;
        let out = self.skip_group_body(field);
        self.depth -= 1;
        out
    }

    fn skip_group_body(&mut self, field: u32) -> Result<(), Error> {
        loop {
            let Some((f, wt)) = self.next_field()? else {
                return Err(self.err(format_args!("group of field {field} is never closed")));
            };
            if wt == END_GROUP {
                if f == field {
                    return Ok(());
                }
                return Err(self.err(format_args!(
                    "end-group of field {f} closes group of field {field}"
                )));
            }
            self.skip_field(f, wt)?;
        }
    }

    /// The values of a repeated varint field, packed (`LEN`) or not (`VARINT`), appended to
    /// `out`; at most `cap` values in total are accepted.
    pub fn varints(
        &mut self,
        field: &str,
        wt: u8,
        out: &mut Vec<u64>,
        cap: usize,
    ) -> Result<(), Error> {
        let push = |r: &Self, v: u64, out: &mut Vec<u64>| {
            if out.len() >= cap {
                return Err(r.err(format_args!("field {field} has more than {cap} values")));
            }
            out.push(v);
            Ok(())
        };
        match wt {
            VARINT => {
                let v = self.varint()?;
                push(self, v, out)
            }
            LEN => self.nested("packed array", |r| {
                while r.pos < r.limit {
                    let v = r.varint()?;
                    push(r, v, out)?;
                }
                Ok(())
            }),
            _ => self.expect(field, wt, VARINT),
        }
    }

    /// Counts the values of a repeated scalar field without keeping them: packed (`LEN`) or
    /// one value per key (`scalar_wt`, varint or fixed32/64).
    pub fn count_scalars(&mut self, field: &str, wt: u8, scalar_wt: u8) -> Result<u64, Error> {
        if wt == scalar_wt {
            self.skip_field(0, wt)?;
            return Ok(1);
        }
        if wt != LEN {
            return self.expect(field, wt, scalar_wt).map(|_| 0);
        }
        match scalar_wt {
            FIXED32 | FIXED64 => {
                let width = if scalar_wt == FIXED32 { 4 } else { 8 };
                let n = self.length_prefix()?;
                if n % width != 0 {
                    return Err(self.err(format_args!(
                        "packed field {field} of {n} bytes is not a multiple of {width}"
                    )));
                }
                self.skip(n)?;
                Ok(n / width)
            }
            _ => self.nested("packed array", |r| {
                let mut count = 0;
                while r.pos < r.limit {
                    r.varint()?;
                    count += 1;
                }
                Ok(count)
            }),
        }
    }
}

/// Text of possibly truncated UTF-8 bytes: a character cut by the truncation is dropped,
/// invalid sequences become U+FFFD.
pub fn utf8_prefix(bytes: &[u8], truncated: bool) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(e) if truncated && e.error_len().is_none() => {
            String::from_utf8_lossy(&bytes[..e.valid_up_to()]).into_owned()
        }
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use modelpack_plugin_sdk::MemSource;

    fn src(bytes: &[u8]) -> MemSource {
        MemSource::new("t.onnx", bytes.to_vec())
    }

    fn malformed(e: Error) -> String {
        match e {
            Error::Malformed(m) => m,
            other => panic!("expected malformed, got {other:?}"),
        }
    }

    #[test]
    fn reads_varints_of_every_length() {
        let s = src(&[
            0x00, 0x96, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
        ]);
        let mut r = Reader::new(&s, "T");
        assert_eq!(r.varint().unwrap(), 0);
        assert_eq!(r.varint().unwrap(), 150);
        assert_eq!(r.varint().unwrap(), u64::MAX);
        assert!(r.next_field().unwrap().is_none());
    }

    #[test]
    fn truncated_varint_is_an_error() {
        let s = src(&[0x08, 0x96]);
        let mut r = Reader::new(&s, "T");
        assert_eq!(r.next_field().unwrap(), Some((1, VARINT)));
        let m = malformed(r.varint().unwrap_err());
        assert!(m.contains("varint runs past the end"), "{m}");
    }

    #[test]
    fn over_long_varint_is_an_error() {
        let s = src(&[0xff; 12]);
        let m = malformed(Reader::new(&s, "T").varint().unwrap_err());
        assert!(m.contains("overflows 64 bits"), "{m}");
        let mut eleven = vec![0x80u8; 10];
        eleven.push(0x00);
        let s = src(&eleven);
        let m = malformed(Reader::new(&s, "T").varint().unwrap_err());
        assert!(m.contains("longer than 10 bytes"), "{m}");
    }

    #[test]
    fn length_beyond_the_message_is_an_error() {
        // Field 2, length 100, but only 3 bytes follow.
        let s = src(&[0x12, 100, b'a', b'b', b'c']);
        let mut r = Reader::new(&s, "T");
        r.next_field().unwrap();
        let m = malformed(r.string(10).unwrap_err());
        assert!(m.contains("length 100 exceeds the 3 bytes left"), "{m}");
        // A nested message may not claim more than its parent holds.
        let s = src(&[0x0a, 0x03, 0x12, 0x05, b'a', b'b', b'c', b'd', b'e']);
        let mut r = Reader::new(&s, "T");
        r.next_field().unwrap();
        let m = malformed(
            r.nested("Inner", |r| {
                r.next_field()?;
                r.string(10).map(|_| ())
            })
            .unwrap_err(),
        );
        assert!(
            m.contains("Inner") && m.contains("length 5 exceeds the 1 bytes left"),
            "{m}"
        );
    }

    #[test]
    fn huge_length_prefix_does_not_allocate() {
        let mut b = vec![0x12];
        b.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]);
        let s = src(&b);
        let mut r = Reader::new(&s, "T");
        r.next_field().unwrap();
        assert!(r.string(u64::MAX).is_err());
    }

    #[test]
    fn skips_unknown_fields_of_every_wire_type() {
        let mut b = vec![0x08, 0x96, 0x01]; // 1: varint
        b.extend_from_slice(&[0x11, 1, 2, 3, 4, 5, 6, 7, 8]); // 2: fixed64
        b.extend_from_slice(&[0x1a, 2, b'h', b'i']); // 3: bytes
        b.extend_from_slice(&[0x25, 1, 2, 3, 4]); // 4: fixed32
        b.extend_from_slice(&[0x2b, 0x08, 0x01, 0x33, 0x34, 0x2c]); // 5: group, nested group
        b.extend_from_slice(&[0x30, 0x07]); // 6: varint 7
        let s = src(&b);
        let mut r = Reader::new(&s, "T");
        let mut last = None;
        while let Some((f, wt)) = r.next_field().unwrap() {
            if f == 6 {
                last = Some(r.varint().unwrap());
            } else {
                r.skip_field(f, wt).unwrap();
            }
        }
        assert_eq!(last, Some(7));
    }

    #[test]
    fn mismatched_or_unclosed_groups_are_errors() {
        let s = src(&[0x2b, 0x08, 0x01, 0x34]); // group 5 closed by 6
        let mut r = Reader::new(&s, "T");
        let (f, wt) = r.next_field().unwrap().unwrap();
        assert!(malformed(r.skip_field(f, wt).unwrap_err()).contains("closes group"));
        let s = src(&[0x2b, 0x08, 0x01]);
        let mut r = Reader::new(&s, "T");
        let (f, wt) = r.next_field().unwrap().unwrap();
        assert!(malformed(r.skip_field(f, wt).unwrap_err()).contains("never closed"));
        let s = src(&[0x2c]);
        let mut r = Reader::new(&s, "T");
        let (f, wt) = r.next_field().unwrap().unwrap();
        assert!(malformed(r.skip_field(f, wt).unwrap_err()).contains("unexpected end-group"));
        let s = src(&[0x0e]);
        let mut r = Reader::new(&s, "T");
        let (f, wt) = r.next_field().unwrap().unwrap();
        assert!(malformed(r.skip_field(f, wt).unwrap_err()).contains("invalid wire type 6"));
    }

    #[test]
    fn field_number_zero_is_an_error() {
        let s = src(&[0x00, 0x01]);
        let m = malformed(Reader::new(&s, "T").next_field().unwrap_err());
        assert!(m.contains("invalid field number 0"), "{m}");
    }

    #[test]
    fn deep_group_nesting_hits_the_limit() {
        let mut b = vec![0x0b; 200]; // 200 nested groups of field 1
        b.extend(std::iter::repeat_n(0x0c, 200));
        let s = src(&b);
        let mut r = Reader::new(&s, "T");
        let (f, wt) = r.next_field().unwrap().unwrap();
        let m = malformed(r.skip_field(f, wt).unwrap_err());
        assert!(m.contains("nested deeper than 100"), "{m}");
    }

    #[test]
    fn skipping_does_not_read_the_skipped_bytes() {
        // A 1 GiB file: a small prefix, zeros, and a varint field at the very end. The source
        // counts the bytes handed out, which must stay tiny.
        struct Counted {
            head: Vec<u8>,
            size: u64,
            served: std::cell::Cell<u64>,
        }
        impl Source for Counted {
            fn name(&self) -> String {
                "c".into()
            }
            fn size(&self) -> u64 {
                self.size
            }
            fn read(&self, offset: u64, len: u32) -> Result<Vec<u8>, IoError> {
                let end = (offset + len as u64).min(self.size);
                let out: Vec<u8> = (offset..end)
                    .map(|i| match i {
                        i if i < self.head.len() as u64 => self.head[i as usize],
                        i if i == self.size - 2 => 0x08,
                        i if i == self.size - 1 => 0x05,
                        _ => 0,
                    })
                    .collect();
                self.served.set(self.served.get() + out.len() as u64);
                Ok(out)
            }
            fn open_related(&self, p: &str) -> Result<Box<dyn Source>, IoError> {
                Err(IoError::NotFound(p.into()))
            }
        }
        let size: u64 = 1 << 30;
        // Field 9 (bytes) with a 5-byte length prefix covering everything up to the last 2 bytes.
        let n = size - 2 - 6;
        let mut head = vec![0x4a];
        let mut v = n;
        for _ in 0..4 {
            head.push((v as u8 & 0x7f) | 0x80);
            v >>= 7;
        }
        head.push(v as u8);
        let c = Counted {
            head,
            size,
            served: std::cell::Cell::new(0),
        };
        let mut r = Reader::new(&c, "T");
        let (f, wt) = r.next_field().unwrap().unwrap();
        assert_eq!((f, wt), (9, LEN));
        r.skip_field(f, wt).unwrap();
        assert_eq!(r.next_field().unwrap(), Some((1, VARINT)));
        assert_eq!(r.varint().unwrap(), 5);
        assert!(r.next_field().unwrap().is_none());
        assert!(
            c.served.get() <= 2 * MIN_WINDOW,
            "read {} bytes",
            c.served.get()
        );
    }
}
