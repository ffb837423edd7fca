//! The `.npy` header: magic `\x93NUMPY`, version, header length (u16 for 1.0, u32 for 2.0 and
//! 3.0), then a Python dict literal with exactly `descr`, `fortran_order` and `shape`.

use modelpack_plugin_sdk::prelude::*;

use crate::dtype::{self, DType};
use crate::literal::{self, Lit};

/// The six magic bytes.
pub const MAGIC: &[u8] = b"\x93NUMPY";
/// Largest header read (numpy's own default cap is [`NUMPY_MAX_HEADER`]).
pub const MAX_HEADER: u64 = 1 << 20;
/// `np.load` refuses longer headers unless told otherwise.
pub const NUMPY_MAX_HEADER: u64 = 10_000;

/// A parsed header.
#[derive(Debug, Clone)]
pub struct NpyHeader {
    /// Format version (major, minor).
    pub version: (u8, u8),
    /// Bytes of the dict literal (with padding).
    pub header_len: u64,
    /// Offset of the first data byte.
    pub data_offset: u64,
    /// The `descr` value as written (its repr when not a string).
    pub descr: String,
    /// The dtype.
    pub dtype: DType,
    /// Column-major data (the shape is logical either way).
    pub fortran_order: bool,
    /// Shape; empty for 0-d arrays.
    pub shape: Vec<u64>,
}

impl NpyHeader {
    /// Number of elements, `None` on overflow.
    pub fn count(&self) -> Option<u64> {
        self.shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d))
    }

    /// Bytes of data, `None` on overflow.
    pub fn nbytes(&self) -> Option<u64> {
        self.count()?.checked_mul(self.dtype.itemsize)
    }

    /// `"1.0"`-style version text.
    pub fn version_text(&self) -> String {
        format!("{}.{}", self.version.0, self.version.1)
    }
}

/// True when `head` starts with the npy magic.
pub fn is_npy(head: &[u8]) -> bool {
    head.starts_with(MAGIC)
}

/// Reads a header through `read(n)`, which returns the first `n` bytes (fewer at the end).
pub fn read(
    read: &mut dyn FnMut(u64) -> Result<Vec<u8>, Error>,
    what: &str,
) -> Result<NpyHeader, Error> {
    let bad = |m: String| Error::Malformed(format!("{what}: {m}"));
    let start = read(12)?;
    if !is_npy(&start) {
        return Err(bad("not an .npy array (no \\x93NUMPY magic)".into()));
    }
    if start.len() < 10 {
        return Err(bad(format!(
            "file of {} bytes ends inside the npy preamble",
            start.len()
        )));
    }
    let version = (start[6], start[7]);
    let (prefix, header_len) = match version {
        (1, 0) => (10u64, u16::from_le_bytes([start[8], start[9]]) as u64),
        (2, 0) | (3, 0) => {
            if start.len() < 12 {
                return Err(bad("file ends inside the npy preamble".into()));
            }
            (
                12u64,
                u32::from_le_bytes([start[8], start[9], start[10], start[11]]) as u64,
            )
        }
        (major, minor) => {
            return Err(Error::Unsupported(format!(
                "{what}: npy format version {major}.{minor}"
            )));
        }
    };
    if header_len > MAX_HEADER {
        return Err(Error::TooLarge(format!(
            "{what}: npy header of {header_len} bytes exceeds {MAX_HEADER}"
        )));
    }
    let data_offset = prefix + header_len;
    let all = read(data_offset)?;
    if (all.len() as u64) < data_offset {
        return Err(bad(format!(
            "npy header length {header_len} exceeds the {} bytes after the preamble",
            all.len() as u64 - prefix.min(all.len() as u64)
        )));
    }
    let raw = &all[prefix as usize..];
    let text: String = if version.0 == 3 {
        String::from_utf8(raw.to_vec()).map_err(|_| bad("npy 3.0 header is not UTF-8".into()))?
    } else {
        // Versions 1 and 2 are latin-1.
        raw.iter().map(|&b| b as char).collect()
    };
    let lit = literal::parse(&text)
        .map_err(|m| bad(format!("npy header is not a Python literal: {m}")))?;
    let Lit::Dict(items) = lit else {
        return Err(bad(format!("npy header is not a dict: {}", lit.repr())));
    };
    let mut keys: Vec<&str> = items
        .iter()
        .map(|(k, _)| match k {
            Lit::Str(s) => s.as_str(),
            _ => "?",
        })
        .collect();
    keys.sort_unstable();
    if keys != ["descr", "fortran_order", "shape"] {
        return Err(bad(format!(
            "npy header keys {keys:?} are not exactly descr, fortran_order, shape"
        )));
    }
    let get = |k: &str| {
        items
            .iter()
            .find(|(key, _)| *key == Lit::Str(k.into()))
            .map(|(_, v)| v)
    };
    let descr_lit = get("descr").ok_or_else(|| bad("no descr".into()))?;
    let dtype = dtype::parse(descr_lit).map_err(|m| bad(format!("descr: {m}")))?;
    let descr = match descr_lit {
        Lit::Str(s) => s.clone(),
        other => other.repr(),
    };
    let fortran_order = match get("fortran_order") {
        Some(Lit::Bool(b)) => *b,
        other => return Err(bad(format!("fortran_order is not a bool: {other:?}"))),
    };
    let shape = match get("shape") {
        Some(Lit::Tuple(dims)) => dims
            .iter()
            .map(|d| match d {
                Lit::Int(i) => u64::try_from(*i).ok(),
                _ => None,
            })
            .collect::<Option<Vec<u64>>>()
            .ok_or_else(|| {
                bad(format!(
                    "shape {} is not a tuple of non-negative ints",
                    Lit::Tuple(dims.clone()).repr()
                ))
            })?,
        other => return Err(bad(format!("shape is not a tuple: {other:?}"))),
    };
    Ok(NpyHeader {
        version,
        header_len,
        data_offset,
        descr,
        dtype,
        fortran_order,
        shape,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn npy(version: (u8, u8), header: &str) -> Vec<u8> {
        let mut v = MAGIC.to_vec();
        v.extend([version.0, version.1]);
        if version.0 == 1 {
            v.extend((header.len() as u16).to_le_bytes());
        } else {
            v.extend((header.len() as u32).to_le_bytes());
        }
        v.extend(header.as_bytes());
        v
    }

    fn parse(bytes: &[u8]) -> Result<NpyHeader, Error> {
        read(
            &mut |n| Ok(bytes[..(n as usize).min(bytes.len())].to_vec()),
            "t.npy",
        )
    }

    #[test]
    fn versions() {
        let h = "{'descr': '<f4', 'fortran_order': True, 'shape': (3, 4), }\n";
        for v in [(1, 0), (2, 0), (3, 0)] {
            let r = parse(&npy(v, h)).unwrap();
            assert_eq!(r.shape, vec![3, 4]);
            assert!(r.fortran_order);
            assert_eq!(r.dtype.name, "float32");
            assert_eq!(
                r.data_offset,
                if v.0 == 1 { 10 } else { 12 } + h.len() as u64
            );
        }
        assert!(matches!(parse(&npy((4, 0), h)), Err(Error::Unsupported(_))));
    }

    #[test]
    fn errors() {
        let cases = [
            "{'descr': '<f4', 'shape': (3,), }",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), 'x': 1}",
            "{'descr': '<f4', 'fortran_order': 0, 'shape': (3,), }",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (-3,), }",
            "{'descr': '<f4', 'fortran_order': False, 'shape': [3], }",
            "{'descr': '<q9', 'fortran_order': False, 'shape': (3,), }",
            "['descr']",
        ];
        for h in cases {
            assert!(
                matches!(parse(&npy((1, 0), h)), Err(Error::Malformed(_))),
                "{h}"
            );
        }
        // Header length past the end of the file.
        let mut b = npy((1, 0), "{}");
        b[8] = 0xff;
        assert!(matches!(parse(&b), Err(Error::Malformed(_))));
        assert!(matches!(parse(b"\x93NUMPY"), Err(Error::Malformed(_))));
        assert!(matches!(parse(b"hello"), Err(Error::Malformed(_))));
    }
}
