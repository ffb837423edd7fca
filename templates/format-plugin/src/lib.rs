//! Template format plugin `toyw`: reads the made-up TOYW weight format (see [`header`]).
//!
//! The shape every format plugin follows: the parser lives in plain Rust modules over the SDK's
//! [`Source`] trait, so it runs natively in unit tests (with `MemSource` / `FileSource`), and
//! this file is a thin adapter that the SDK's `export_format_plugin!` turns into the component's
//! `format-handler` export.
//!
//! Report conventions used here (keep them in yours; contract `modelpack:plugin@0.2.0`):
//! * `format` is the short ModelPack `config.format` name (`toyw`);
//! * `tensors` complete and in file order, dtypes spelled as the format spells them;
//! * `parameter_count` is Σ product(shape), logical elements;
//! * the *meaning*, which `generate`, `inspect` and `check` take from the plugin alone: each
//!   tensor's `role` (here `*.scale` tensors are quantisation side data, everything else a
//!   weight), `weight_parameters` and the precision word of each dtype ([`precision_of`],
//!   filled in by the SDK's `finish_report`), the quantisation the file declares
//!   (`metadata.quantization` + `metadata.bits`), and the descriptor facts it declares as
//!   field candidates (`metadata.name` → `/descriptor/name`, `metadata.license` →
//!   `/descriptor/licenses`);
//! * metadata keys as the format names them, prefixed `toyw.` for the format's own facts;
//! * findings: kebab-case ids with a severity: `data-size-mismatch` (warning) when the tensor
//!   data does not fill the rest of the file, `unknown-dtype` (info).

pub mod header;

use modelpack_plugin_sdk::prelude::*;
use serde_json::Value;

use header::{MAGIC, PREFIX_LEN, dtype_width, elements, read_header};

/// How sure we are that a file is TOYW, from its name and first bytes (pure, no I/O).
pub fn detect(name: &str, head: &[u8]) -> f32 {
    if head.starts_with(MAGIC) {
        1.0
    } else if head.len() >= MAGIC.len() {
        // Enough bytes to see the magic, and it is not there.
        0.0
    } else if name.to_ascii_lowercase().ends_with(".toyw") {
        0.5
    } else {
        0.0
    }
}

/// Reads the named file (the first input) header-only and reports what it holds.
pub fn inspect(inputs: &[&dyn Source]) -> Result<ModelReport, Error> {
    let Some(&src) = inputs.first() else {
        return Err(Error::Malformed("no input file".into()));
    };
    // A Git LFS pointer checked out instead of the weights: say so instead of "not TOYW".
    if let Some(r) = lfs_pointer_report(src, "toyw")? {
        return Ok(r);
    }
    let h = read_header(src)?;
    let name = src.name();
    let mut findings = Vec::new();
    let mut tensors = Vec::with_capacity(h.tensors.len());
    let mut parameters: u64 = 0;
    let mut data_bytes: Option<u64> = Some(0);
    for t in &h.tensors {
        let n = elements(t).ok_or_else(|| {
            Error::Malformed(format!(
                "{name}: tensor {} has an overflowing shape {:?}",
                t.name, t.shape
            ))
        })?;
        parameters = parameters
            .checked_add(n)
            .ok_or_else(|| Error::Malformed(format!("{name}: parameter count overflows")))?;
        match dtype_width(&t.dtype) {
            Some(w) => data_bytes = data_bytes.and_then(|d| d.checked_add(n.checked_mul(w)?)),
            None => {
                data_bytes = None;
                findings.push(finding(
                    "unknown-dtype",
                    Severity::Info,
                    format!(
                        "tensor {} has dtype {} that this plugin does not size",
                        t.name, t.dtype
                    ),
                    Some(t.name.clone()),
                ));
            }
        }
        let mut tensor = weight_tensor(t.name.clone(), t.dtype.clone(), t.shape.clone());
        if t.name.ends_with(".scale") {
            tensor.role = TensorRole::QuantizationAux;
        }
        tensors.push(tensor);
    }
    let available = src.size() - PREFIX_LEN - h.header_len;
    if let Some(expected) = data_bytes
        && expected != available
    {
        findings.push(finding(
            "data-size-mismatch",
            Severity::Warning,
            format!("{name}: tensors need {expected} bytes of data but the file has {available}"),
            None,
        ));
    }
    let text = |key: &str| {
        h.metadata
            .iter()
            .find(|(k, _)| k == key)
            .and_then(|(_, v)| v.as_str())
            .map(str::to_string)
    };
    let quantization = text("quantization").map(|method| Quantization {
        method,
        bits: h
            .metadata
            .iter()
            .find(|(k, _)| k == "bits")
            .and_then(|(_, v)| v.as_u64())
            .and_then(|b| u8::try_from(b).ok()),
        origin: Origin {
            file: None,
            key: Some("metadata.quantization".into()),
        },
    });
    let mut candidates = Vec::new();
    if let Some(n) = text("name") {
        candidates.push(header_candidate(
            "/descriptor/name",
            Value::String(n),
            "metadata.name",
            None,
        ));
    }
    if let Some(l) = text("license") {
        candidates.push(header_candidate(
            "/descriptor/licenses",
            Value::Array(vec![Value::String(l)]),
            "metadata.license",
            None,
        ));
    }
    let mut metadata = vec![MetaEntry {
        key: "toyw.version".into(),
        value: MetaValue::Uint(h.version as u64),
    }];
    metadata.extend(h.metadata.into_iter().map(|(key, v)| MetaEntry {
        key,
        value: meta_value(v),
    }));
    let mut report = ModelReport {
        format: "toyw".into(),
        tensors,
        parameter_count: parameters,
        weight_parameters: 0,
        dtypes: vec![],
        quantization,
        candidates,
        lineage: vec![],
        groups: vec![],
        inputs: vec![],
        outputs: vec![],
        metadata,
        findings,
        covers: vec![],
        layer_kind: None,
    };
    // Fills `weight_parameters` and `dtypes` (each with its precision word) from the roles.
    finish_report(&mut report, &[], precision_of);
    Ok(report)
}

/// The word of each TOYW dtype in the ModelPack precision vocabulary (the contract's
/// `precision` enum); `None` for a dtype that is no precision (none in TOYW).
pub fn precision_of(dtype: &str) -> Option<Precision> {
    Some(match dtype {
        "F64" => Precision::Float64,
        "F32" => Precision::Float32,
        "F16" => Precision::Float16,
        "BF16" => Precision::Bfloat16,
        "I64" => Precision::Int64,
        "I32" => Precision::Int32,
        "I16" => Precision::Int16,
        "I8" => Precision::Int8,
        "U8" => Precision::Uint8,
        "BOOL" => Precision::Bool,
        _ => return None,
    })
}

/// A JSON metadata value as a typed WIT value.
fn meta_value(v: Value) -> MetaValue {
    match v {
        Value::String(s) => MetaValue::Text(s),
        Value::Bool(b) => MetaValue::Boolean(b),
        Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => MetaValue::Uint(u),
            (_, Some(i), _) => MetaValue::Int(i),
            (_, _, Some(f)) => MetaValue::Float(f),
            _ => MetaValue::Json(n.to_string()),
        },
        other => MetaValue::Json(other.to_string()),
    }
}

/// The plugin as the host sees it (exported on wasm32 only).
pub struct Plugin;

impl FormatPlugin for Plugin {
    // Embedded in the component's `modelpack-plugin-info` section: the host routes `.toyw`
    // files and files starting with "TOYW" (hex 544f5957) here without compiling the plugin.
    // `preference` (0-255, default 0) ranks the format when a directory holds the same model
    // in several formats: the bundled safetensors plugin declares 40, GGUF 30, ONNX 20,
    // PyTorch 10; a distribution format of your own may declare more.
    const INFO: &'static str = r#"{"name":"toyw","version":"0.1.0","preference":5,"description":"TOYW files (template example), header-only","extensions":["toyw"],"file_names":[],"magic":[{"offset":0,"hex":"544f5957"}]}"#;

    fn detect(name: &str, head: &[u8]) -> f32 {
        detect(name, head)
    }

    fn inspect(inputs: &[&dyn Source]) -> Result<ModelReport, Error> {
        inspect(inputs)
    }
}

modelpack_plugin_sdk::export_format_plugin!(Plugin);
