//! The modelpack format plugin for ONNX models (`.onnx`), header-only.
//!
//! An ONNX file is one protobuf `ModelProto`. This plugin decodes it with a hand-written
//! lazy wire-format reader ([`wire`]) that walks the file through the host's blob in small
//! windows and skips tensor payloads (`raw_data`, `float_data`, …) by their length, so a
//! multi-gigabyte model costs a few KiB of reads per tensor. Only the fields listed in
//! formats.md section 3 are decoded ([`proto`]); nesting is capped at 100 levels.
//!
//! # Report
//! * `format`: `onnx`.
//! * `tensors`: the initializers of the main graph, in file order, with the dtype as
//!   `TensorProto.DataType` names it (`FLOAT`, `FLOAT16`, `BFLOAT16`, `INT64`,
//!   `FLOAT8E4M3FN`, `INT4`, …; an unknown id is reported as its number plus an
//!   `unknown-dtype` warning). `parameter_count` = Σ product(dims) over them.
//! * `groups`: `initializers` (role weights: the tensors above) and `constant-nodes` (role
//!   other: weights held by `Constant` nodes of the main graph and of every subgraph of
//!   If/Loop/Scan…, from their `value` tensor and `value_float(s)` / `value_int(s)`
//!   attributes). ModelPack's parameter count is `parameter_count` (initializers only, as
//!   the reference tools count); the constant-node group says how much more there is.
//! * `inputs`: graph inputs that are not initializers (IR < 4 lists every initializer as an
//!   input too); `outputs`: graph outputs. Tensor values carry their element type and shape
//!   (`dim_value` → fixed, `dim_param` → symbolic, neither or a negative value → unknown;
//!   shape absent when the type has no shape field). Other types are reported as dtype
//!   `sparse_tensor` (with its shape), `sequence`, `map`, `optional`, `opaque`, or `unknown`
//!   when the type is missing.
//! * `covers`: the external data files that exist.
//!
//! # Metadata keys
//! | key | value |
//! |---|---|
//! | `onnx.ir_version` | int |
//! | `onnx.opset.<domain>` | int, one per `opset_import`; the default domain (`""`) is `ai.onnx` |
//! | `onnx.producer_name`, `onnx.producer_version`, `onnx.domain`, `onnx.graph_name` | text, when not empty |
//! | `onnx.model_version` | int, when present |
//! | `onnx.doc_string` | text, at most 1 KiB (cut at a character boundary) |
//! | `onnx.meta.<key>` | text, one per `metadata_props` entry |
//! | `onnx.constant_dtype_parameters` | JSON object dtype → elements of the constant-node weights, when any |
//! | `onnx.sparse_initializer_count`, `onnx.sparse_initializer_parameters` | uint, when the graph has sparse initializers (not in `tensors`) |
//! | `onnx.function_count`, `onnx.training_info_count` | uint, when present (not decoded) |
//! | `onnx.external_data_files` | JSON list of the distinct external data locations, sorted |
//!
//! # Findings
//! * `missing-external-data` (error): an external data file cannot be opened.
//! * `external-data-out-of-range` (error): `offset + length` (length defaulting to the size
//!   implied by dims and dtype) lies beyond the end of the data file.
//! * `external-data-path-escape` (error): a location that is absolute or contains `..`.
//! * `external-data-missing-location`, `external-data-invalid` (error): unusable
//!   `external_data` entries.
//! * `duplicate-initializer`, `unknown-dtype` (warning).
//!
//! # Detection
//! `detect` returns 1.0 for a `.onnx` file whose head parses as a `ModelProto` prefix
//! (`ir_version` plus another known field), 0.8 for such bytes under another name, 0.5 for a
//! `.onnx` name with an empty or inconclusive head (or an LFS pointer), and 0.0 otherwise.

pub mod detect;
pub mod dtype;
pub mod external;
pub mod meaning;
pub mod proto;
pub mod report;
#[cfg(test)]
mod testenc;
pub mod wire;

use modelpack_plugin_sdk::prelude::*;

/// Confidence in `[0, 1]` that `name` / `head` is an ONNX model.
pub fn detect(name: &str, head: &[u8]) -> f32 {
    detect::detect(name, head)
}

/// Element counts are summed with saturating arithmetic, so `u64::MAX` means the headers claim
/// more elements than u64 holds (hostile or corrupt): an error, never a number that a later sum
/// could wrap around to a small one.
fn no_overflow(inputs: &[&dyn Source], r: ModelReport) -> Result<ModelReport, Error> {
    if r.parameter_count == u64::MAX || r.groups.iter().any(|g| g.parameter_count == u64::MAX) {
        let name = inputs.first().map(|s| s.name()).unwrap_or_default();
        return Err(Error::Malformed(format!(
            "{name}: the parameter count overflows u64: the headers claim more than {} elements",
            u64::MAX
        )));
    }
    Ok(r)
}

/// Reads the model in `inputs[0]` (other inputs are ignored) and reports what it holds.
pub fn inspect(inputs: &[&dyn Source]) -> Result<ModelReport, Error> {
    no_overflow(inputs, inspect_unchecked(inputs)?)
}

fn inspect_unchecked(inputs: &[&dyn Source]) -> Result<ModelReport, Error> {
    let Some(&src) = inputs.first() else {
        return Err(Error::Io("no input file given".into()));
    };
    if let Some(r) = lfs_pointer_report(src, report::FORMAT)? {
        return Ok(r);
    }
    let model = proto::model(&mut wire::Reader::new(src, "ModelProto"))?;
    report::build(src, model)
}

/// The plugin as the host sees it (exported only when built for wasm).
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
struct Plugin;

impl FormatPlugin for Plugin {
    const INFO: &'static str = r#"{"name":"onnx","version":"0.2.0","preference":20,"description":"ONNX models (.onnx): initializers, inputs/outputs, opsets and external data, read header-only","extensions":["onnx"],"file_names":[],"magic":[]}"#;

    fn detect(name: &str, head: &[u8]) -> f32 {
        detect(name, head)
    }

    fn inspect(inputs: &[&dyn Source]) -> Result<ModelReport, Error> {
        inspect(inputs)
    }
}

modelpack_plugin_sdk::export_format_plugin!(Plugin);
