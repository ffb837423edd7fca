//! Git LFS pointer files: what a clone without `git lfs pull` leaves instead of the weights.

use crate::format::exports::modelpack::plugin::format_handler::{
    MetaEntry, MetaValue, ModelReport,
};
use crate::format::modelpack::plugin::types::{Error, Severity};
use crate::source::{Source, read_at};

/// The first line of every Git LFS pointer file.
pub const LFS_PREFIX: &[u8] = b"version https://git-lfs";

/// A parsed Git LFS pointer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LfsPointer {
    /// `sha256:<hex>` of the real file.
    pub oid: String,
    /// Size in bytes of the real file.
    pub size: u64,
}

/// Parses a pointer file's text; `None` when the bytes are not an LFS pointer.
pub fn parse_pointer(bytes: &[u8]) -> Option<LfsPointer> {
    if !bytes.starts_with(LFS_PREFIX) || bytes.len() > 1024 {
        return None;
    }
    let text = std::str::from_utf8(bytes).ok()?;
    let mut oid = None;
    let mut size = None;
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("oid ") {
            oid = Some(v.trim().to_string());
        } else if let Some(v) = line.strip_prefix("size ") {
            size = v.trim().parse().ok();
        }
    }
    Some(LfsPointer {
        oid: oid.unwrap_or_default(),
        size: size?,
    })
}

/// If `src` is an LFS pointer, the report for it: no tensors and one `git-lfs-pointer` error
/// finding saying the weights are absent. Plugins call this first in `inspect`.
pub fn lfs_pointer_report(src: &dyn Source, format: &str) -> Result<Option<ModelReport>, Error> {
    if src.size() > 1024 {
        return Ok(None);
    }
    let bytes = read_at(src, 0, 1024)?;
    let Some(p) = parse_pointer(&bytes) else {
        return Ok(None);
    };
    Ok(Some(ModelReport {
        format: format.to_string(),
        tensors: vec![],
        parameter_count: 0,
        weight_parameters: 0,
        dtypes: vec![],
        quantization: None,
        candidates: vec![],
        lineage: vec![],
        groups: vec![],
        inputs: vec![],
        outputs: vec![],
        metadata: vec![
            MetaEntry {
                key: "lfs.oid".into(),
                value: MetaValue::Text(p.oid.clone()),
            },
            MetaEntry {
                key: "lfs.size".into(),
                value: MetaValue::Uint(p.size),
            },
        ],
        findings: vec![crate::finding(
            "git-lfs-pointer",
            Severity::Error,
            format!(
                "{} is a Git LFS pointer, not the weights: run `git lfs pull` (object {}, {} bytes)",
                src.name(),
                p.oid,
                p.size
            ),
            None,
        )],
        covers: vec![],
        layer_kind: None,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_real_pointer() {
        let text =
            b"version https://git-lfs.github.com/spec/v1\noid sha256:4f1c\nsize 2015434520\n";
        let p = parse_pointer(text).unwrap();
        assert_eq!(p.size, 2015434520);
        assert_eq!(p.oid, "sha256:4f1c");
        assert!(parse_pointer(b"{\"a\":1}").is_none());
    }
}
