//! Recognising ONNX from a file name and its first bytes.
//!
//! ONNX has no magic number: a file is one protobuf `ModelProto`. The head is walked as a
//! prefix of that message: every top-level key must be a valid protobuf key, known
//! `ModelProto` fields must carry their schema's wire type, and the one field cut by the end
//! of the head is accepted as truncated. `ir_version` (field 1) in a plausible range plus one
//! more known field makes the bytes convincing.

/// What the head's bytes say.
#[derive(Debug, PartialEq)]
enum Verdict {
    /// A plausible `ModelProto` prefix with `ir_version` and another known field.
    Model,
    /// Nothing contradicts ONNX, nothing confirms it (empty or very short head).
    Unsure,
    /// Not protobuf, or fields `ModelProto` cannot have.
    NotOnnx,
}

/// Confidence that `name` / `head` is an ONNX model (see the crate doc for the values).
pub fn detect(name: &str, head: &[u8]) -> f32 {
    let ext = name.to_ascii_lowercase().ends_with(".onnx");
    if head.starts_with(b"version https://git-lfs") {
        // An LFS pointer: `inspect` reports it, but only the name says it is ONNX.
        return if ext { 0.5 } else { 0.0 };
    }
    match (prefix(head), ext) {
        (Verdict::Model, true) => 1.0,
        (Verdict::Model, false) => 0.8,
        (Verdict::Unsure, true) => 0.5,
        _ => 0.0,
    }
}

/// A varint at `*pos` of `b`; `Ok(None)` when the head ends inside it.
fn varint(b: &[u8], pos: &mut usize) -> Result<Option<u64>, ()> {
    let mut v: u64 = 0;
    for i in 0..10 {
        let Some(&byte) = b.get(*pos) else {
            return Ok(None);
        };
        *pos += 1;
        let bits = u64::from(byte & 0x7f);
        if i == 9 && bits > 1 {
            return Err(());
        }
        v |= bits << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(Some(v));
        }
    }
    Err(())
}

/// Walks the top-level fields of `b` as a `ModelProto` prefix.
fn prefix(b: &[u8]) -> Verdict {
    let mut pos = 0usize;
    let mut ir_version = false;
    let mut others = 0u32;
    while pos < b.len() {
        let key = match varint(b, &mut pos) {
            Ok(Some(k)) => k,
            Ok(None) => break,
            Err(()) => return Verdict::NotOnnx,
        };
        let (field, wt) = (key >> 3, (key & 7) as u8);
        let want = match field {
            1 | 5 => 0,
            2..=4 | 6..=8 | 14 | 20 | 25 | 26 => 2,
            // Unknown fields are legal protobuf but no ONNX writer emits them at the top.
            _ => return Verdict::NotOnnx,
        };
        if wt != want {
            return Verdict::NotOnnx;
        }
        if wt == 0 {
            let Ok(v) = varint(b, &mut pos) else {
                return Verdict::NotOnnx;
            };
            match (field, v) {
                (1, Some(v)) if (1..=100).contains(&v) => ir_version = true,
                (1, Some(_)) => return Verdict::NotOnnx,
                (_, Some(_)) => others += 1,
                (_, None) => break,
            }
            continue;
        }
        let len = match varint(b, &mut pos) {
            Ok(Some(n)) => n,
            Ok(None) => break,
            Err(()) => return Verdict::NotOnnx,
        };
        // A protobuf message is at most 2 GiB.
        if len > i32::MAX as u64 {
            return Verdict::NotOnnx;
        }
        let end = pos as u64 + len;
        if end > b.len() as u64 {
            // Cut by the end of the head: fine for a prefix.
            others += 1;
            break;
        }
        let body = &b[pos..end as usize];
        if matches!(field, 2..=4) && std::str::from_utf8(body).is_err() {
            return Verdict::NotOnnx;
        }
        pos = end as usize;
        others += 1;
    }
    if ir_version && others > 0 {
        Verdict::Model
    } else if ir_version || b.len() < 4 {
        Verdict::Unsure
    } else if others > 0 {
        // Known fields without ir_version first: odd writer, not impossible.
        Verdict::Unsure
    } else {
        Verdict::NotOnnx
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores() {
        // ir_version 8, producer_name "pytorch", graph cut by the head's end.
        let head = [
            &[0x08, 0x08, 0x12, 0x07][..],
            b"pytorch",
            &[0x3a, 0xff, 0x01, 0x0a],
        ]
        .concat();
        assert_eq!(detect("m.onnx", &head), 1.0);
        assert_eq!(detect("m.pb", &head), 0.8);
        assert_eq!(detect("m.onnx", b""), 0.5);
        assert_eq!(
            detect("m.onnx", b"version https://git-lfs.github.com/spec/v1\n"),
            0.5
        );
        assert_eq!(detect("m.onnx", b"hello world, this is text"), 0.0);
        assert_eq!(
            detect("m.onnx", &[0x08, 0xff, 0xff, 0xff, 0x0f, 0x12, 0x00]),
            0.0
        );
        assert_eq!(detect("m.bin", b"\x80\x02}q\x00"), 0.0);
    }
}
