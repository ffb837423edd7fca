//! OCI digests: the `algorithm:encoded` grammar, SHA-256 values, and readers/writers that hash
//! the bytes passing through them so every file is read only once.

use std::fmt;
use std::io::{self, Read, Write};

use sha2::{Digest as _, Sha256};

/// A SHA-256 digest, the only algorithm modelpack writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest([u8; 32]);

impl Digest {
    /// The digest of a byte string.
    pub fn of(bytes: &[u8]) -> Digest {
        Digest(Sha256::digest(bytes).into())
    }

    /// The lowercase hex part (`encoded` in OCI terms): the blob's file name.
    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses `sha256:<64 lowercase hex>`; any other algorithm or spelling is `None`.
    pub fn parse(s: &str) -> Option<Digest> {
        let hex_part = s.strip_prefix("sha256:")?;
        if hex_part.len() != 64
            || !hex_part
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            return None;
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(hex_part, &mut out).ok()?;
        Some(Digest(out))
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex())
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Checks a digest string against the OCI grammar (image-spec descriptor.md):
/// `algorithm ":" encoded`, algorithm `[a-z0-9]+([+._-][a-z0-9]+)*`, encoded `[a-zA-Z0-9=_-]+`;
/// registered algorithms have stricter encodings (sha256: 64, sha512: 128 lowercase hex).
/// Unknown algorithms that fit the grammar pass, as the spec asks.
pub fn check_digest_grammar(s: &str) -> Result<(), String> {
    let Some((alg, enc)) = s.split_once(':') else {
        return Err(format!("digest {s:?} has no \"algorithm:\" prefix"));
    };
    let alg_ok = !alg.is_empty()
        && alg.split(['+', '.', '_', '-']).all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        });
    if !alg_ok {
        return Err(format!("digest {s:?}: invalid algorithm {alg:?}"));
    }
    if enc.is_empty()
        || !enc
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'=' | b'_' | b'-'))
    {
        return Err(format!("digest {s:?}: invalid encoded part"));
    }
    let hex_len = match alg {
        "sha256" => Some(64),
        "sha512" => Some(128),
        _ => None,
    };
    if let Some(n) = hex_len
        && (enc.len() != n || !enc.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
    {
        return Err(format!(
            "digest {s:?}: {alg} needs exactly {n} lowercase hex characters"
        ));
    }
    Ok(())
}

/// Incremental SHA-256 with a byte count.
#[derive(Clone, Default)]
pub struct Hasher {
    sha: Sha256,
    len: u64,
}

impl Hasher {
    /// A fresh hasher.
    pub fn new() -> Hasher {
        Hasher::default()
    }

    /// Feeds bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        self.sha.update(bytes);
        self.len += bytes.len() as u64;
    }

    /// Bytes fed so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing was fed.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The digest and the byte count.
    pub fn finish(self) -> (Digest, u64) {
        (Digest(self.sha.finalize().into()), self.len)
    }
}

/// A writer that hashes everything written through it.
pub struct HashWriter<W> {
    inner: W,
    hasher: Hasher,
}

impl<W: Write> HashWriter<W> {
    /// Wraps a writer.
    pub fn new(inner: W) -> HashWriter<W> {
        HashWriter {
            inner,
            hasher: Hasher::new(),
        }
    }

    /// The wrapped writer, the digest and the byte count.
    pub fn finish(self) -> (W, Digest, u64) {
        let (d, n) = self.hasher.finish();
        (self.inner, d, n)
    }
}

impl<W: Write> Write for HashWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A reader that hashes everything read through it.
pub struct HashReader<R> {
    inner: R,
    hasher: Hasher,
}

impl<R: Read> HashReader<R> {
    /// Wraps a reader.
    pub fn new(inner: R) -> HashReader<R> {
        HashReader {
            inner,
            hasher: Hasher::new(),
        }
    }

    /// Bytes read so far.
    pub fn len(&self) -> u64 {
        self.hasher.len()
    }

    /// Whether nothing was read yet.
    pub fn is_empty(&self) -> bool {
        self.hasher.is_empty()
    }

    /// Reads the rest of the stream (hashing it) and returns the digest and byte count.
    pub fn drain(mut self) -> io::Result<(Digest, u64)> {
        let mut buf = vec![0u8; 256 << 10];
        while self.read(&mut buf)? > 0 {}
        Ok(self.hasher.finish())
    }
}

impl<R: Read> Read for HashReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_digest_is_the_well_known_one() {
        assert_eq!(
            Digest::of(b"").to_string(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let d = Digest::of(b"abc");
        assert_eq!(Digest::parse(&d.to_string()), Some(d));
        assert_eq!(Digest::parse(&d.to_string().to_uppercase()), None);
    }

    #[test]
    fn grammar() {
        let good = format!("sha256:{}", "a".repeat(64));
        assert!(check_digest_grammar(&good).is_ok());
        assert!(
            check_digest_grammar("multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8")
                .is_ok()
        );
        for bad in [
            "sha256",
            "sha256:",
            &format!("sha256:{}", "A".repeat(64)),
            &format!("sha256:{}", "a".repeat(63)),
            &format!("SHA256:{}", "a".repeat(64)),
            "sha256:../../etc",
            "+x:abc",
        ] {
            assert!(check_digest_grammar(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn hash_writer_and_reader_agree() {
        let data = vec![7u8; 100_000];
        let mut w = HashWriter::new(Vec::new());
        w.write_all(&data).unwrap();
        let (out, d, n) = w.finish();
        assert_eq!(out, data);
        assert_eq!((d, n), (Digest::of(&data), 100_000));
        let r = HashReader::new(&data[..]);
        assert_eq!(r.drain().unwrap(), (Digest::of(&data), 100_000));
    }
}
