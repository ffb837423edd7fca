//! Checks of ONNX external data: initializers whose bytes live in another file.
//!
//! An initializer with `data_location = EXTERNAL` names its file with the `external_data`
//! key `location` (relative to the model file), and optionally `offset` and `length` in
//! bytes. The data file is opened only to learn its size: nothing is read from it.

use crate::proto::{TensorInfo, elements};
use modelpack_plugin_sdk::prelude::*;
use std::collections::BTreeMap;

/// `TensorProto.DataLocation.EXTERNAL`.
const EXTERNAL: i32 = 1;
/// Most out-of-range tensors reported one by one per data file; the rest are summarised.
const MAX_RANGE_FINDINGS: usize = 10;

/// What the external-data check found.
#[derive(Debug, Default)]
pub struct ExternalCheck {
    /// Distinct `location` values, sorted.
    pub files: Vec<String>,
    /// Data files that exist, relative to the model root (for `covers`).
    pub covers: Vec<String>,
    pub findings: Vec<Finding>,
}

/// One initializer's claim on a data file.
struct Span<'a> {
    tensor: &'a str,
    offset: u64,
    /// Declared `length`, else the size its dims and dtype imply (when that is certain).
    length: Option<u64>,
}

/// True when `location` is a relative path that stays inside the model's directory.
pub fn is_confined(location: &str) -> bool {
    let parts: Vec<&str> = location.split(['/', '\\']).collect();
    !location.is_empty()
        && !location.starts_with(['/', '\\'])
        && !parts[0].contains(':')
        && !parts.contains(&"..")
}

/// Checks every external initializer of `initializers` against the files next to `model`.
pub fn check(model: &dyn Source, initializers: &[TensorInfo]) -> ExternalCheck {
    let mut out = ExternalCheck::default();
    let mut by_file: BTreeMap<&str, Vec<Span>> = BTreeMap::new();
    for t in initializers.iter().filter(|t| t.data_location == EXTERNAL) {
        // Later entries win, as in onnx's own loader (it builds a dict).
        let get = |key: &str| {
            t.external_data
                .iter()
                .rev()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        };
        let Some(location) = get("location").filter(|l| !l.is_empty()) else {
            out.findings.push(finding(
                "external-data-missing-location",
                Severity::Error,
                format!(
                    "initializer '{}' is stored externally but names no location",
                    t.name
                ),
                Some(t.name.clone()),
            ));
            continue;
        };
        let number = |key: &str| -> Result<Option<u64>, String> {
            get(key)
                .map(|v| {
                    v.trim()
                        .parse::<u64>()
                        .map_err(|_| format!("{key} '{v}' is not a byte count"))
                })
                .transpose()
        };
        let (offset, length) = match (number("offset"), number("length")) {
            (Ok(o), Ok(l)) => (o.unwrap_or(0), l),
            (Err(e), _) | (_, Err(e)) => {
                out.findings.push(finding(
                    "external-data-invalid",
                    Severity::Error,
                    format!("initializer '{}': external data {e}", t.name),
                    Some(t.name.clone()),
                ));
                continue;
            }
        };
        let length = length.or_else(|| {
            elements(&t.dims)
                .ok()
                .and_then(|n| crate::dtype::byte_size(t.data_type, n))
        });
        by_file.entry(location).or_default().push(Span {
            tensor: &t.name,
            offset,
            length,
        });
    }
    out.files = by_file.keys().map(|k| k.to_string()).collect();
    for (location, spans) in by_file {
        check_file(model, location, &spans, &mut out);
    }
    out
}

/// Opens one data file and checks that every span fits in it.
fn check_file(model: &dyn Source, location: &str, spans: &[Span], out: &mut ExternalCheck) {
    let users = match spans {
        [one] => format!("initializer '{}'", one.tensor),
        [first, ..] => format!("{} initializers, e.g. '{}'", spans.len(), first.tensor),
        [] => return,
    };
    if !is_confined(location) {
        out.findings.push(finding(
            "external-data-path-escape",
            Severity::Error,
            format!("external data location '{location}' ({users}) is not a relative path inside the model directory"),
            Some(location.to_string()),
        ));
        return;
    }
    let file = match model.open_related(location) {
        Ok(f) => f,
        Err(e) => {
            out.findings.push(finding(
                "missing-external-data",
                Severity::Error,
                format!(
                    "external data file '{location}' ({users}) cannot be opened: {}",
                    io_text(&e)
                ),
                Some(location.to_string()),
            ));
            return;
        }
    };
    out.covers.push(relative_to(&model.name(), location));
    let size = file.size();
    let mut bad = 0usize;
    for s in spans {
        let end = match s.length {
            Some(len) => s.offset.checked_add(len),
            None => Some(s.offset),
        };
        if end.is_some_and(|e| e <= size) {
            continue;
        }
        bad += 1;
        if bad <= MAX_RANGE_FINDINGS {
            let span = match s.length {
                Some(len) => format!(
                    "bytes {}..{} (offset {}, length {len})",
                    s.offset,
                    s.offset as u128 + len as u128,
                    s.offset
                ),
                None => format!("offset {}", s.offset),
            };
            out.findings.push(finding(
                "external-data-out-of-range",
                Severity::Error,
                format!(
                    "initializer '{}': {span} lie beyond the end of '{location}' ({size} bytes)",
                    s.tensor
                ),
                Some(s.tensor.to_string()),
            ));
        }
    }
    if bad > MAX_RANGE_FINDINGS {
        out.findings.push(finding(
            "external-data-out-of-range",
            Severity::Error,
            format!(
                "{} more initializers lie beyond the end of '{location}' ({size} bytes)",
                bad - MAX_RANGE_FINDINGS
            ),
            Some(location.to_string()),
        ));
    }
}

/// The host's reason for a failed open, without the enum wrapping.
fn io_text(e: &IoError) -> String {
    match e {
        IoError::NotFound(s) | IoError::Limit(s) | IoError::Other(s) => s.clone(),
        IoError::OutOfRange(size) => format!("out of range (size {size})"),
    }
}

/// `location` resolved against the directory part of the model's own name.
fn relative_to(model_name: &str, location: &str) -> String {
    let location = location.trim_start_matches("./");
    match model_name.rfind('/') {
        Some(i) => format!("{}/{location}", &model_name[..i]),
        None => location.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testenc::*;
    use modelpack_plugin_sdk::MemSource;

    fn ext_tensor(name: &str, dims: &[i64], kv: &[(&str, &str)]) -> Vec<u8> {
        let mut extra = field_varint(14, 1);
        for (k, v) in kv {
            let e = [field_bytes(1, k.as_bytes()), field_bytes(2, v.as_bytes())].concat();
            extra.extend(field_bytes(13, &e));
        }
        tensor_proto(name, 1, dims, &extra)
    }

    /// A model with three external FLOAT initializers: two in `w.bin`, one in `b.bin`.
    fn model() -> Vec<u8> {
        let g = [
            field_bytes(
                5,
                &ext_tensor(
                    "a",
                    &[4],
                    &[("location", "w.bin"), ("offset", "0"), ("length", "16")],
                ),
            ),
            field_bytes(
                5,
                &ext_tensor("b", &[2, 2], &[("location", "w.bin"), ("offset", "16")]),
            ),
            field_bytes(5, &ext_tensor("c", &[1], &[("location", "b.bin")])),
        ]
        .concat();
        model_proto(9, &[("", 17)], &g)
    }

    fn ids(r: &ModelReport) -> Vec<&str> {
        r.findings.iter().map(|f| f.id.as_str()).collect()
    }

    fn meta<'a>(r: &'a ModelReport, key: &str) -> Option<&'a MetaValue> {
        r.metadata.iter().find(|m| m.key == key).map(|m| &m.value)
    }

    #[test]
    fn present_external_data_passes() {
        let s = MemSource::with_siblings(
            "m.onnx",
            model(),
            vec![("w.bin".into(), vec![0; 32]), ("b.bin".into(), vec![0; 4])],
        );
        let r = crate::inspect(&[&s]).unwrap();
        assert!(r.findings.is_empty(), "{:?}", r.findings);
        assert_eq!(r.parameter_count, 9);
        assert_eq!(r.covers, vec!["b.bin".to_string(), "w.bin".to_string()]);
        assert!(matches!(meta(&r, "onnx.external_data_files"),
            Some(MetaValue::Json(j)) if j == r#"["b.bin","w.bin"]"#));
    }

    #[test]
    fn missing_external_data_is_an_error_finding() {
        let s = MemSource::with_siblings("m.onnx", model(), vec![("w.bin".into(), vec![0; 32])]);
        let r = crate::inspect(&[&s]).unwrap();
        assert_eq!(ids(&r), vec!["missing-external-data"]);
        let f = &r.findings[0];
        assert!(matches!(f.severity, Severity::Error));
        assert!(f.message.contains("b.bin"), "{}", f.message);
        assert_eq!(f.location.field.as_deref(), Some("b.bin"));
    }

    #[test]
    fn too_short_external_data_is_out_of_range() {
        // `b` needs bytes 16..32 (length implied by dims and dtype), the file has 20.
        let s = MemSource::with_siblings(
            "m.onnx",
            model(),
            vec![("w.bin".into(), vec![0; 20]), ("b.bin".into(), vec![0; 4])],
        );
        let r = crate::inspect(&[&s]).unwrap();
        assert_eq!(ids(&r), vec!["external-data-out-of-range"]);
        assert_eq!(r.findings[0].location.field.as_deref(), Some("b"));
        assert!(
            r.findings[0].message.contains("16..32"),
            "{}",
            r.findings[0].message
        );
    }

    #[test]
    fn escaping_and_invalid_locations_are_refused() {
        let g = [
            field_bytes(5, &ext_tensor("up", &[1], &[("location", "../secret.bin")])),
            field_bytes(5, &ext_tensor("abs", &[1], &[("location", "/etc/passwd")])),
            field_bytes(5, &ext_tensor("noloc", &[1], &[("offset", "0")])),
            field_bytes(
                5,
                &ext_tensor("badoff", &[1], &[("location", "w.bin"), ("offset", "-4")]),
            ),
        ]
        .concat();
        let s = MemSource::with_siblings("m.onnx", model_proto(9, &[], &g), vec![]);
        let r = crate::inspect(&[&s]).unwrap();
        let mut got = ids(&r);
        got.sort();
        assert_eq!(
            got,
            vec![
                "external-data-invalid",
                "external-data-missing-location",
                "external-data-path-escape",
                "external-data-path-escape"
            ]
        );
        assert!(!is_confined("C:/x.bin") && !is_confined("a\\..\\b") && is_confined("sub/w.bin"));
    }

    #[test]
    fn covers_is_relative_to_the_model_directory() {
        assert_eq!(relative_to("sub/m.onnx", "w.bin"), "sub/w.bin");
        assert_eq!(relative_to("m.onnx", "./w.bin"), "w.bin");
    }
}
