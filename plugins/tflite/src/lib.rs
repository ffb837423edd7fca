//! The modelpack format plugin for TensorFlow Lite / LiteRT models (`.tflite`), header-only.
//!
//! A `.tflite` file is one FlatBuffer with file identifier `TFL3` (bytes 4..8). It is decoded
//! with a bounded lazy reader ([`fb`], see its module doc for why not the `flatbuffers`
//! crate) that follows offsets through the host's blob in small pages and never fetches
//! tensor data: a constant's `Buffer.data` costs the read of its length only.
//!
//! # Report
//! * `format`: `tflite`.
//! * `tensors`: the constant tensors (those backed by a buffer that holds data: inline
//!   `Buffer.data` or external `offset`/`size`) of every subgraph, in file order, with the
//!   `TensorType` name as dtype (`FLOAT32`, `FLOAT16`, `INT8`, `UINT8`, `INT16`, `INT32`,
//!   `INT4`, `BFLOAT16`…; an unknown code is `TYPE_<n>` plus an `unknown-dtype` warning).
//!   Activations and inputs have no buffer data and are not parameters.
//!   `parameter_count` = Σ product(shape) over them (the dense shape for sparse tensors).
//! * Meaning (roles, precision words, quantisation, descriptor candidates): see [`meaning`].
//! * `inputs` / `outputs`: the main subgraph's, with `shape_signature` when present (`-1`
//!   → unknown dimension).
//!
//! # Metadata keys
//! | key | value |
//! |---|---|
//! | `tflite.schema_version` | uint (`Model.version`) |
//! | `tflite.subgraphs`, `tflite.tensors`, `tflite.buffers`, `tflite.operators` | uint counts (all tensors, not only constants) |
//! | `tflite.description` | text, when not empty |
//! | `tflite.operator_codes` | array of operator names (`CONV_2D`, `CUSTOM:<name>`) |
//! | `tflite.quantized_tensors` | uint: tensors with quantisation parameters |
//! | `tflite.quantization` | array of `{tensor, channels, scale, zeroPoint, quantizedDimension}` (first 8 values each) |
//! | `tflite.sparse_tensors`, `tflite.variable_tensors` | uint, when any |
//! | `tflite.signatures` | JSON list of `{key, subgraph, inputs, outputs}` |
//! | `tflite.metadata.<name>` | uint: size of each `Model.metadata` entry |
//! | `tflite.min_runtime_version` | text |
//! | `tflite.support.<field>` | text: TFLite Support `ModelMetadata` name, description, version, author, license, min_parser_version |
//!
//! # Findings
//! * `external-buffer-out-of-range` (error): an external buffer lies beyond the end of file.
//! * `unknown-dtype`, `metadata-buffer-out-of-range`, `invalid-support-metadata` (warning).
//!
//! # Detection
//! 1.0 when bytes 4..8 are `TFL3`; 0.5 for a `.tflite` name with too few bytes to tell (or
//! an LFS pointer); 0.0 otherwise.

pub mod fb;
pub mod meaning;
pub mod model;
pub mod names;
pub mod report;

use modelpack_plugin_sdk::prelude::*;

/// Confidence in `[0, 1]` that `name` / `head` is a TFLite model.
pub fn detect(name: &str, head: &[u8]) -> f32 {
    if head.get(4..8) == Some(model::IDENTIFIER.as_slice()) {
        1.0
    } else if name.to_ascii_lowercase().ends_with(".tflite")
        && (head.len() < 8 || head.starts_with(b"version https://git-lfs"))
    {
        0.5
    } else {
        0.0
    }
}

/// Reads the model in `inputs[0]` (other inputs are ignored) and reports what it holds.
pub fn inspect(inputs: &[&dyn Source]) -> Result<ModelReport, Error> {
    let Some(&src) = inputs.first() else {
        return Err(Error::Io("no input file given".into()));
    };
    if let Some(r) = lfs_pointer_report(src, report::FORMAT)? {
        return Ok(r);
    }
    let mut fb = fb::Fb::new(src);
    let model = model::read(&mut fb)?;
    report::build(&mut fb, model)
}

/// The plugin as the host sees it (exported only when built for wasm).
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
struct Plugin;

impl FormatPlugin for Plugin {
    const INFO: &'static str = r#"{"name":"tflite","version":"0.2.0","description":"TensorFlow Lite / LiteRT models (.tflite): constant tensors, quantisation, inputs/outputs, metadata, read header-only","extensions":["tflite"],"file_names":[],"magic":[{"offset":4,"hex":"54464c33"}]}"#;

    fn detect(name: &str, head: &[u8]) -> f32 {
        detect(name, head)
    }

    fn inspect(inputs: &[&dyn Source]) -> Result<ModelReport, Error> {
        inspect(inputs)
    }
}

modelpack_plugin_sdk::export_format_plugin!(Plugin);
