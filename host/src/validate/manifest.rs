//! ModelPack manifests: the OCI image-manifest rules (descriptors, digest grammar, sizes,
//! annotations) plus ModelPack's (artifactType, config media type, the 20 layer media types,
//! the `org.cncf.model.*` layer annotations). Legacy `vnd.cnai` spellings are accepted with a
//! warning. Every problem is reported, not only the first.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::Problem;
use super::descriptor::{Problems, check_annotations, check_descriptor, pointer_key};
use crate::model::{
    ANNOTATION_FILE_METADATA, ANNOTATION_FILEPATH, ANNOTATION_UNTESTED, ARTIFACT_TYPE,
    CONFIG_MEDIA_TYPE, LayerFormat, MANIFEST_MEDIA_TYPE, parse_layer_media_type,
};
use crate::oci::layers::check_relative_path;
use crate::oci::time::is_rfc3339;

/// Manifest `artifactType` before the CNCF rename.
pub const LEGACY_ARTIFACT_TYPE: &str = "application/vnd.cnai.model.manifest.v1+json";
/// Config media type before the CNCF rename.
pub const LEGACY_CONFIG_MEDIA_TYPE: &str = "application/vnd.cnai.model.config.v1+json";
/// Annotation prefix before the CNCF rename.
const LEGACY_ANNOTATION_PREFIX: &str = "org.cnai.model.";

/// Whether a manifest looks like a ModelPack artifact: its artifactType, its config media
/// type or any layer media type says so (current or legacy spelling). Consumers accept any
/// of these signals, so a manifest with one of them wrong is a broken ModelPack manifest,
/// not some other artifact.
pub fn is_modelpack(manifest: &Value) -> bool {
    let at = manifest.get("artifactType").and_then(Value::as_str);
    let cmt = manifest
        .pointer("/config/mediaType")
        .and_then(Value::as_str);
    let layer = manifest
        .get("layers")
        .and_then(Value::as_array)
        .is_some_and(|ls| {
            ls.iter().any(|l| {
                l.get("mediaType")
                    .and_then(Value::as_str)
                    .is_some_and(|mt| parse_layer_media_type(mt).is_some())
            })
        });
    matches!(at, Some(ARTIFACT_TYPE | LEGACY_ARTIFACT_TYPE))
        || matches!(cmt, Some(CONFIG_MEDIA_TYPE | LEGACY_CONFIG_MEDIA_TYPE))
        || layer
}

/// Validates a ModelPack manifest.
pub fn validate_manifest(manifest: &Value, strict: bool) -> Vec<Problem> {
    let mut p = Problems::default();
    let Some(m) = manifest.as_object() else {
        p.error("", "type", "the manifest is not a JSON object");
        return p.0;
    };
    match m.get("schemaVersion") {
        None => p.error("", "required", "schemaVersion is missing"),
        Some(v) if v.as_u64() == Some(2) => {}
        Some(v) => p.error(
            "/schemaVersion",
            "schema-version",
            format!("schemaVersion is {v}, must be 2"),
        ),
    }
    match m.get("mediaType") {
        None => p.error(
            "",
            "required",
            format!("mediaType is missing (ModelPack requires {MANIFEST_MEDIA_TYPE})"),
        ),
        Some(Value::String(s)) if s == MANIFEST_MEDIA_TYPE => {}
        Some(v) => p.error(
            "/mediaType",
            "media-type",
            format!("mediaType is {v}, must be {MANIFEST_MEDIA_TYPE}"),
        ),
    }
    match m.get("artifactType") {
        None => p.error(
            "",
            "required",
            format!("artifactType is missing (ModelPack requires {ARTIFACT_TYPE})"),
        ),
        Some(Value::String(s)) if s == ARTIFACT_TYPE => {}
        Some(Value::String(s)) if s == LEGACY_ARTIFACT_TYPE => p.warn(
            "/artifactType",
            "legacy-media-type",
            format!("artifactType {s} is the pre-CNCF spelling; write {ARTIFACT_TYPE}"),
        ),
        Some(v) => p.error(
            "/artifactType",
            "artifact-type",
            format!("artifactType is {v}, must be {ARTIFACT_TYPE}"),
        ),
    }
    match m.get("config") {
        None => p.error("", "required", "config is missing"),
        Some(c) => {
            check_descriptor(c, "/config", &mut p);
            match c.get("mediaType").and_then(Value::as_str) {
                Some(CONFIG_MEDIA_TYPE) | None => {}
                Some(LEGACY_CONFIG_MEDIA_TYPE) => p.warn(
                    "/config/mediaType",
                    "legacy-media-type",
                    format!("{LEGACY_CONFIG_MEDIA_TYPE} is the pre-CNCF spelling; write {CONFIG_MEDIA_TYPE}"),
                ),
                Some(other) => p.error(
                    "/config/mediaType",
                    "config-media-type",
                    format!("config mediaType is {other:?}, must be {CONFIG_MEDIA_TYPE}"),
                ),
            }
        }
    }
    match m.get("layers") {
        None => p.error("", "required", "layers is missing"),
        Some(Value::Array(layers)) => {
            if layers.is_empty() {
                p.warn(
                    "/layers",
                    "layers",
                    "the manifest has no layers (OCI: SHOULD have at least one)",
                );
            }
            let mut paths: BTreeMap<String, usize> = BTreeMap::new();
            for (i, layer) in layers.iter().enumerate() {
                check_layer(layer, i, strict, &mut paths, &mut p);
            }
        }
        Some(_) => p.error("/layers", "type", "layers is not an array"),
    }
    if let Some(a) = m.get("annotations") {
        check_annotations(a, "/annotations", &mut p);
    }
    if let Some(s) = m.get("subject") {
        check_descriptor(s, "/subject", &mut p);
    }
    p.0
}

fn check_layer(
    layer: &Value,
    i: usize,
    strict: bool,
    paths: &mut BTreeMap<String, usize>,
    p: &mut Problems,
) {
    let ptr = format!("/layers/{i}");
    check_descriptor(layer, &ptr, p);
    let mt = layer.get("mediaType").and_then(Value::as_str).unwrap_or("");
    let format = match parse_layer_media_type(mt) {
        Some((_, f, false)) => Some(f),
        Some((_, f, true)) => {
            p.warn(
                &format!("{ptr}/mediaType"),
                "legacy-media-type",
                format!("{mt} is the pre-CNCF spelling; write application/vnd.cncf.model.*"),
            );
            Some(f)
        }
        None => {
            // The spec lists the types implementations SHOULD support; OCI consumers must not
            // fail on layers they do not know, so a foreign type (a signature, an SBOM…) is an
            // error only with --strict. A malformed type in ModelPack's namespace is an error.
            if !mt.is_empty() {
                let foreign = !crate::oci::rules::is_modelpack_namespace(mt);
                let msg = format!(
                    "{mt:?} is not a ModelPack layer media type (application/vnd.cncf.model.<weight|weight.config|doc|code|dataset>.v1.<raw|tar|tar+gzip|tar+zstd>)"
                );
                if strict || !foreign {
                    p.error(&format!("{ptr}/mediaType"), "layer-media-type", msg);
                } else {
                    p.warn(&format!("{ptr}/mediaType"), "layer-media-type", msg);
                }
            }
            None
        }
    };
    let empty = Map::new();
    let ann = layer
        .get("annotations")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let get = |key: &str| -> Option<(&Value, String, bool)> {
        let legacy = key.replace("org.cncf.model.", LEGACY_ANNOTATION_PREFIX);
        if let Some(v) = ann.get(key) {
            return Some((v, key.to_string(), false));
        }
        ann.get(&legacy).map(|v| (v, legacy, true))
    };
    let aptr = |k: &str| format!("{ptr}/annotations/{}", pointer_key(k));
    let is_raw = format == Some(LayerFormat::Raw);

    let mut filepath = None;
    match get(ANNOTATION_FILEPATH) {
        None => {
            let msg = format!(
                "no {ANNOTATION_FILEPATH} annotation: the layer's file cannot be restored by name"
            );
            if strict {
                p.error(&ptr, "filepath", msg);
            } else {
                p.warn(&ptr, "filepath", msg);
            }
        }
        Some((v, key, legacy)) => {
            if legacy {
                p.warn(
                    &aptr(&key),
                    "legacy-annotation",
                    format!("{key} is the pre-CNCF spelling; write {ANNOTATION_FILEPATH}"),
                );
            }
            if let Some(s) = v.as_str() {
                // A tar layer may name a directory: `.` or a trailing slash.
                let norm = if is_raw {
                    s
                } else {
                    s.strip_suffix('/').unwrap_or(s)
                };
                let ok = (!is_raw && norm == ".") || check_relative_path(norm).is_ok();
                if !ok {
                    p.error(
                        &aptr(&key),
                        "filepath",
                        format!(
                            "{s:?} is not a relative /-separated path without . or .. components"
                        ),
                    );
                } else if is_raw {
                    if let Some(first) = paths.insert(norm.to_string(), i) {
                        p.error(
                            &aptr(&key),
                            "filepath",
                            format!("{s:?} is also the path of layer {first}"),
                        );
                    }
                    filepath = Some(norm.to_string());
                }
            }
        }
    }
    if let Some((v, key, legacy)) = get(ANNOTATION_FILE_METADATA) {
        if legacy {
            p.warn(
                &aptr(&key),
                "legacy-annotation",
                format!("{key} is the pre-CNCF spelling; write {ANNOTATION_FILE_METADATA}"),
            );
        }
        if let Some(s) = v.as_str() {
            let size = layer.get("size").and_then(Value::as_u64);
            check_file_metadata(s, &aptr(&key), is_raw, filepath.as_deref(), size, p);
        }
    }
    if let Some((v, key, legacy)) = get(ANNOTATION_UNTESTED) {
        if legacy {
            p.warn(
                &aptr(&key),
                "legacy-annotation",
                format!("{key} is the pre-CNCF spelling; write {ANNOTATION_UNTESTED}"),
            );
        }
        if !matches!(v.as_str(), Some("true" | "false")) {
            p.error(
                &aptr(&key),
                "untested",
                format!("{v} must be \"true\" or \"false\""),
            );
        }
    }
}

/// `file.metadata+json`: a JSON object with name, mode, uid, gid (uint32), size (int64 ≥ 0),
/// mtime (RFC 3339) and typeflag (a byte). Regular files are typeflag 0 or 48 (`'0'`).
fn check_file_metadata(
    s: &str,
    ptr: &str,
    is_raw: bool,
    filepath: Option<&str>,
    layer_size: Option<u64>,
    p: &mut Problems,
) {
    let meta: Value = match serde_json::from_str(s) {
        Ok(v) => v,
        Err(e) => {
            p.error(ptr, "file-metadata", format!("not JSON: {e}"));
            return;
        }
    };
    let Some(obj) = meta.as_object() else {
        p.error(ptr, "file-metadata", "not a JSON object");
        return;
    };
    let field = |name: &str| obj.get(name);
    let mut bad = |name: &str, why: &str| {
        p.error(ptr, "file-metadata", format!("field {name} {why}"));
    };
    match field("name") {
        Some(Value::String(_)) => {}
        None => bad("name", "is missing"),
        Some(_) => bad("name", "must be a string"),
    }
    for name in ["mode", "uid", "gid"] {
        match field(name) {
            None => bad(name, "is missing"),
            Some(v) if v.as_u64().is_some_and(|n| n <= u64::from(u32::MAX)) => {}
            Some(_) => bad(name, "must be an unsigned 32-bit integer"),
        }
    }
    match field("size") {
        None => bad("size", "is missing"),
        Some(v) if v.as_i64().is_some_and(|n| n >= 0) => {}
        Some(_) => bad("size", "must be a non-negative 64-bit integer"),
    }
    match field("mtime") {
        None => bad("mtime", "is missing"),
        Some(Value::String(t)) if is_rfc3339(t) => {}
        Some(_) => bad("mtime", "must be an RFC 3339 date-time string"),
    }
    let typeflag = field("typeflag").and_then(Value::as_u64);
    match field("typeflag") {
        None => bad("typeflag", "is missing"),
        Some(_) if typeflag.is_some_and(|t| t <= 255) => {}
        Some(_) => bad("typeflag", "must be a byte (0-255) written as a number"),
    }
    for k in obj.keys() {
        if ![
            "name",
            "mode",
            "uid",
            "gid",
            "size",
            "mtime",
            "typeflag",
            "dstlinkpath",
        ]
        .contains(&k.as_str())
        {
            p.warn(ptr, "file-metadata", format!("unknown field {k}"));
        }
    }
    if is_raw {
        if let Some(t) = typeflag
            && t != 0
            && t != u64::from(b'0')
        {
            p.warn(
                ptr,
                "file-metadata",
                format!("typeflag {t} on a raw layer: a raw layer holds a regular file (0 or 48)"),
            );
        }
        if let (Some(m), Some(l)) = (obj.get("size").and_then(Value::as_u64), layer_size)
            && m != l
        {
            p.error(
                ptr,
                "file-metadata",
                format!("size {m} differs from the layer size {l}"),
            );
        }
        if let (Some(Value::String(n)), Some(fp)) = (obj.get("name"), filepath)
            && fp.rsplit('/').next() != Some(n.as_str())
        {
            p.warn(
                ptr,
                "file-metadata",
                format!("name {n:?} is not the base name of {fp:?}"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::Level;
    use serde_json::json;

    fn good() -> Value {
        let d = format!("sha256:{}", "a".repeat(64));
        json!({
            "schemaVersion": 2,
            "mediaType": MANIFEST_MEDIA_TYPE,
            "artifactType": ARTIFACT_TYPE,
            "config": {"mediaType": CONFIG_MEDIA_TYPE, "digest": d, "size": 10},
            "layers": [{
                "mediaType": "application/vnd.cncf.model.weight.v1.raw",
                "digest": d, "size": 5,
                "annotations": {
                    ANNOTATION_FILEPATH: "w/model.gguf",
                    ANNOTATION_FILE_METADATA: r#"{"gid":0,"mode":420,"mtime":"1970-01-01T00:00:00Z","name":"model.gguf","size":5,"typeflag":48,"uid":0}"#,
                }
            }]
        })
    }

    fn keywords(v: &Value) -> Vec<(Level, String, String)> {
        validate_manifest(v, false)
            .into_iter()
            .map(|p| (p.level, p.pointer, p.keyword))
            .collect()
    }

    #[test]
    fn a_good_manifest_has_no_problems() {
        assert_eq!(keywords(&good()), vec![]);
    }

    #[test]
    fn every_defect_is_reported() {
        let mut m = good();
        m["artifactType"] = json!("application/x");
        m["layers"][0]["mediaType"] = json!("application/vnd.cncf.model.weight.v1.zip");
        m["layers"][0]["size"] = json!(-1);
        m["config"]["digest"] = json!("sha256:ABC");
        let got = keywords(&m);
        let kw: Vec<&str> = got.iter().map(|(_, _, k)| k.as_str()).collect();
        for want in ["artifact-type", "digest", "size", "layer-media-type"] {
            assert!(kw.contains(&want), "{want} missing from {got:?}");
        }
    }

    #[test]
    fn legacy_types_are_warnings() {
        let mut m = good();
        m["artifactType"] = json!(LEGACY_ARTIFACT_TYPE);
        m["layers"][0]["mediaType"] = json!("application/vnd.cnai.model.weight.v1.raw");
        let got = validate_manifest(&m, false);
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got.iter().all(|p| p.level == Level::Warning));
    }

    #[test]
    fn unknown_layer_types_warn_unless_strict() {
        let mut m = good();
        m["layers"][0]["mediaType"] = json!("application/vnd.example.thing.v1");
        let triples = |strict: bool| -> Vec<(Level, String, String)> {
            validate_manifest(&m, strict)
                .into_iter()
                .map(|p| (p.level, p.pointer, p.keyword))
                .collect()
        };
        let lenient = triples(false);
        assert!(
            lenient.contains(&(
                Level::Warning,
                "/layers/0/mediaType".to_string(),
                "layer-media-type".to_string()
            )),
            "{lenient:?}"
        );
        assert!(
            lenient.iter().all(|(l, _, _)| *l == Level::Warning),
            "{lenient:?}"
        );
        let strict = triples(true);
        assert!(
            strict.contains(&(
                Level::Error,
                "/layers/0/mediaType".to_string(),
                "layer-media-type".to_string()
            )),
            "{strict:?}"
        );
    }

    #[test]
    fn legacy_untested_annotation_warns() {
        let mut m = good();
        let ann = m["layers"][0]["annotations"].as_object_mut().unwrap();
        ann.remove(ANNOTATION_UNTESTED);
        ann.insert(
            "org.cnai.model.file.mediatype.untested".into(),
            json!("true"),
        );
        let got = keywords(&m);
        assert_eq!(
            got,
            vec![(
                Level::Warning,
                "/layers/0/annotations/org.cnai.model.file.mediatype.untested".to_string(),
                "legacy-annotation".to_string()
            )]
        );
    }

    #[test]
    fn file_metadata_fields_and_types() {
        let mut m = good();
        m["layers"][0]["annotations"][ANNOTATION_FILE_METADATA] = json!(
            r#"{"name":"model.gguf","mode":-1,"uid":0,"size":6,"mtime":"yesterday","typeflag":"0"}"#
        );
        let msgs: Vec<String> = validate_manifest(&m, false)
            .into_iter()
            .map(|p| p.message)
            .collect();
        for want in ["mode", "gid", "mtime", "typeflag", "size 6 differs"] {
            assert!(msgs.iter().any(|s| s.contains(want)), "{want}: {msgs:?}");
        }
    }
}
