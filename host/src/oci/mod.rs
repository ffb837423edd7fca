//! OCI image layouts holding ModelPack artifacts: digests, descriptors, deterministic layers,
//! the blob store, and the `pack`/`unpack` operations built on them.
//!
//! Everything whose digest matters (manifests, configs, file metadata) is written as
//! canonical JSON: keys sorted (serde_json's map is a BTreeMap; no crate in the graph turns
//! on `preserve_order`), no insignificant whitespace.

pub mod append;
pub mod archive;
pub mod blob;
pub mod digest;
pub mod layers;
pub mod layout;
pub mod pack;
pub mod pool;
pub mod progress;
pub mod rules;
pub mod staging;
pub mod time;
pub mod unpack;

use std::collections::BTreeMap;

use serde::Serialize;

pub use digest::Digest;

/// A content descriptor (image-spec descriptor.md), as modelpack writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// Media type of the referenced content.
    pub media_type: String,
    /// Artifact type (only on manifest descriptors in `index.json`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// Digest of the referenced bytes.
    pub digest: Digest,
    /// Size of the referenced bytes.
    pub size: u64,
    /// Annotations, sorted by key.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// Serialises a value as canonical JSON: sorted keys, compact.
pub fn canonical_json<T: Serialize>(value: &T) -> Vec<u8> {
    // Going through `Value` sorts every object's keys, whatever the struct field order.
    let v = serde_json::to_value(value).expect("modelpack's own types always serialise");
    serde_json::to_vec(&v).expect("a serde_json::Value always serialises")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let v = serde_json::json!({"b": 1, "a": {"z": [1, {"y": 2, "x": 3}], "c": "é"}});
        assert_eq!(
            String::from_utf8(canonical_json(&v)).unwrap(),
            r#"{"a":{"c":"é","z":[1,{"x":3,"y":2}]},"b":1}"#
        );
        let d = Descriptor {
            media_type: "m".into(),
            artifact_type: None,
            digest: Digest::of(b""),
            size: 0,
            annotations: BTreeMap::new(),
        };
        let s = String::from_utf8(canonical_json(&d)).unwrap();
        assert!(s.starts_with(r#"{"digest":"sha256:e3b0"#), "{s}");
        assert!(s.ends_with(r#""mediaType":"m","size":0}"#), "{s}");
    }
}
