//! OCI descriptors (image-spec descriptor.md) and the problem list every validator fills:
//! media type and digest grammar, sizes, annotation values, embedded `data`.

use serde_json::{Map, Value};

use super::{Level, Problem};
use crate::oci::digest::{Digest, check_digest_grammar};

/// Collects problems with JSON pointers.
#[derive(Default)]
pub struct Problems(pub Vec<Problem>);

impl Problems {
    /// Adds an error.
    pub fn error(&mut self, pointer: &str, keyword: &str, message: impl Into<String>) {
        self.push(Level::Error, pointer, keyword, message.into());
    }

    /// Adds a warning.
    pub fn warn(&mut self, pointer: &str, keyword: &str, message: impl Into<String>) {
        self.push(Level::Warning, pointer, keyword, message.into());
    }

    fn push(&mut self, level: Level, pointer: &str, keyword: &str, message: String) {
        self.0.push(Problem {
            level,
            pointer: pointer.to_string(),
            keyword: keyword.to_string(),
            message,
        });
    }
}

/// Escapes a key for use in a JSON pointer (RFC 6901).
pub fn pointer_key(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// RFC 6838 `type/subtype` with restricted-name characters (parameters not allowed).
pub fn media_type_ok(s: &str) -> bool {
    let name_ok = |n: &str| {
        let b = n.as_bytes();
        !b.is_empty()
            && b.len() <= 127
            && b[0].is_ascii_alphanumeric()
            && b.iter()
                .all(|c| c.is_ascii_alphanumeric() || b"!#$&^_.+-".contains(c))
    };
    s.split_once('/')
        .is_some_and(|(t, st)| name_ok(t) && name_ok(st))
}

/// Checks an OCI descriptor: mediaType, digest, size, and the optional fields' types.
pub fn check_descriptor(d: &Value, ptr: &str, p: &mut Problems) {
    let Some(obj) = d.as_object() else {
        p.error(ptr, "type", "a descriptor must be a JSON object");
        return;
    };
    match obj.get("mediaType") {
        None => p.error(ptr, "required", "mediaType is missing"),
        Some(Value::String(s)) if media_type_ok(s) => {}
        Some(v) => p.error(
            &format!("{ptr}/mediaType"),
            "media-type",
            format!("{v} is not a media type (type/subtype)"),
        ),
    }
    match obj.get("digest") {
        None => p.error(ptr, "required", "digest is missing"),
        Some(Value::String(s)) => {
            if let Err(e) = check_digest_grammar(s) {
                p.error(&format!("{ptr}/digest"), "digest", e);
            }
        }
        Some(v) => p.error(
            &format!("{ptr}/digest"),
            "type",
            format!("digest is {v}, not a string"),
        ),
    }
    match obj.get("size") {
        None => p.error(ptr, "required", "size is missing"),
        Some(v) if v.as_u64().is_some() => {}
        Some(v) if v.as_i64().is_some() => p.error(
            &format!("{ptr}/size"),
            "size",
            format!("size is {v}, must be ≥ 0"),
        ),
        Some(v) => p.error(
            &format!("{ptr}/size"),
            "type",
            format!("size is {v}, not an integer"),
        ),
    }
    if let Some(a) = obj.get("annotations") {
        check_annotations(a, &format!("{ptr}/annotations"), p);
    }
    if let Some(u) = obj.get("urls")
        && !u.as_array().is_some_and(|a| a.iter().all(Value::is_string))
    {
        p.error(
            &format!("{ptr}/urls"),
            "type",
            "urls must be an array of strings",
        );
    }
    if let Some(at) = obj.get("artifactType")
        && !at.as_str().is_some_and(media_type_ok)
    {
        p.error(
            &format!("{ptr}/artifactType"),
            "media-type",
            format!("{at} is not a media type"),
        );
    }
    if let Some(data) = obj.get("data") {
        check_embedded_data(data, obj, &format!("{ptr}/data"), p);
    }
}

/// `data` holds the content itself (base64): it must decode and match size and digest.
fn check_embedded_data(data: &Value, obj: &Map<String, Value>, ptr: &str, p: &mut Problems) {
    let Some(bytes) = data.as_str().and_then(base64_decode) else {
        p.error(ptr, "data", "data is not a base64 string");
        return;
    };
    if let Some(size) = obj.get("size").and_then(Value::as_u64)
        && size != bytes.len() as u64
    {
        p.error(
            ptr,
            "data",
            format!("data holds {} bytes, size says {size}", bytes.len()),
        );
    }
    if let Some(d) = obj
        .get("digest")
        .and_then(Value::as_str)
        .and_then(Digest::parse)
        && Digest::of(&bytes) != d
    {
        p.error(ptr, "data", "data does not match the digest");
    }
}

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let b = s.as_bytes();
    if !b.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(b.len() / 4 * 3);
    for (i, chunk) in b.chunks(4).enumerate() {
        let last = i + 1 == b.len() / 4;
        let pad = chunk.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && !last) {
            return None;
        }
        let mut n = 0u32;
        for &c in &chunk[..4 - pad] {
            n = (n << 6) | val(c)?;
        }
        n <<= 6 * pad as u32;
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    Some(out)
}

/// Annotations: an object whose values are all strings.
pub fn check_annotations(a: &Value, ptr: &str, p: &mut Problems) {
    let Some(obj) = a.as_object() else {
        p.error(ptr, "type", "annotations must be an object of strings");
        return;
    };
    for (k, v) in obj {
        if !v.is_string() {
            p.error(
                &format!("{ptr}/{}", pointer_key(k)),
                "type",
                format!("annotation {k} is {v}, not a string"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64() {
        assert_eq!(base64_decode("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(base64_decode("").unwrap(), b"");
        assert!(base64_decode("aGVsbG8").is_none());
        assert!(base64_decode("a=GV").is_none());
    }
}
