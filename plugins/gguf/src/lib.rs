//! The `gguf` format plugin: reads GGUF v2/v3 headers (llama.cpp, ollama, whisper.cpp models)
//! without touching tensor data.
//!
//! # What the report holds
//! * `format`: `gguf`.
//! * `tensors`: every tensor info in file order (then the tensors of further split parts).
//!   `dtype` is the ggml type name (`F16`, `Q4_K`, `IQ2_XS`); `shape` is outermost first, the
//!   reverse of GGUF's stored `ne` (`ne = [8, 32000]` is reported as `[32000, 8]`), matching
//!   gguf-py's reference `shape`.
//! * `parameter_count`: Σ product(ne), the logical element count whatever the quantisation.
//! * `metadata`, keys exactly as in the file, in file order:
//!   unsigned integers → `uint`, signed → `int`, FLOAT32/FLOAT64 → `float`, BOOL → `boolean`,
//!   STRING → `text` (lossy UTF-8, cut at 1 MiB), arrays → `array` with the gguf-py element
//!   type name (`STRING`, `INT32`, `ARRAY`), the length and the first 16 elements as JSON.
//!   Two keys are added after them: `general.file_type_name` (the `llama_ftype` name of
//!   `general.file_type`, e.g. `MOSTLY_Q4_K_M`) when that value is known, and `gguf.version`.
//!   For a split model the metadata is the first part's (the others normally repeat it).
//! * `findings`: `split-file` (info, "part N of M"), `split-part-missing`,
//!   `split-tensor-count-mismatch`, `no-tensors` (vocabulary-only files), `missing-architecture`,
//!   `nested-array`, `metadata-truncated`, `tensor-name-too-long`, `intermediate-type` (Q8_1),
//!   `tensor-offsets-not-contiguous` and `tensor-data-overlap`.
//! * `covers`: the other parts of a split model the report includes.
//!
//! # Errors
//! `Unsupported` for GGUF v1, big-endian GGUF, versions above 3 and the legacy GGML family
//! (`lmgg`, `ggjt`, …); `Malformed` for a bad magic, truncation (including a data section
//! shorter than the tensors need), unknown types, misaligned offsets and partial blocks;
//! `TooLarge` beyond 2^20 tensors or metadata entries. Messages leave out the file name (the
//! host prints the path) except for the second and later parts of a split model.

mod convert;
mod cursor;
mod file_type;
mod ggml_type;
mod header;
mod legacy;
pub mod meaning;
mod report;
mod split;
#[cfg(test)]
mod tests;
mod value;

use modelpack_plugin_sdk::prelude::*;

struct Plugin;

impl FormatPlugin for Plugin {
    const INFO: &'static str = r#"{"name":"gguf","version":"0.2.0","preference":30,"description":"GGUF v2/v3 model files (llama.cpp, ollama): tensors, quantisation types and metadata, header only; recognises legacy GGML files","extensions":["gguf"],"file_names":[],"magic":[{"offset":0,"hex":"47475546"},{"offset":0,"hex":"6c6d6767"},{"offset":0,"hex":"67676d6c"},{"offset":0,"hex":"666d6767"},{"offset":0,"hex":"67676d66"},{"offset":0,"hex":"746a6767"},{"offset":0,"hex":"67676a74"},{"offset":0,"hex":"616c6767"},{"offset":0,"hex":"67676c61"},{"offset":0,"hex":"61736767"},{"offset":0,"hex":"67677361"}]}"#;

    fn detect(name: &str, head: &[u8]) -> f32 {
        detect(name, head)
    }

    fn inspect(inputs: &[&dyn Source]) -> Result<ModelReport, Error> {
        inspect(inputs)
    }

    fn plan_conversion(
        inputs: &[&dyn Source],
        options: &ConversionOptions,
    ) -> Result<CopyPlan, Error> {
        convert::plan(inputs, options)
    }
}

modelpack_plugin_sdk::export_format_plugin!(Plugin);

/// The plugin's `INFO` JSON (for tests and the host's routing checks).
pub const INFO: &str = <Plugin as FormatPlugin>::INFO;

/// Confidence that `name` / `head` is a file this plugin reads.
pub fn detect(name: &str, head: &[u8]) -> f32 {
    if head.starts_with(header::MAGIC) || legacy::is_legacy(head) {
        return 1.0;
    }
    let gguf_name = name.to_ascii_lowercase().ends_with(".gguf");
    // Too few bytes to judge, or a Git LFS pointer standing in for a .gguf file: inspect
    // reports the pointer.
    let undecided = head.len() < 4 || modelpack_plugin_sdk::parse_pointer(head).is_some();
    if gguf_name && undecided { 0.5 } else { 0.0 }
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

/// Reads the named GGUF file (and the other parts of a split model) header-only.
pub fn inspect(inputs: &[&dyn Source]) -> Result<ModelReport, Error> {
    no_overflow(inputs, inspect_unchecked(inputs)?)
}

fn inspect_unchecked(inputs: &[&dyn Source]) -> Result<ModelReport, Error> {
    let Some(&first) = inputs.first() else {
        return Err(Error::Malformed("no input file given".into()));
    };
    if let Some(r) = lfs_pointer_report(first, "gguf")? {
        return Ok(r);
    }
    let mut parts = Vec::with_capacity(inputs.len());
    for (i, &src) in inputs.iter().enumerate() {
        parts.push(split::parse_part(src, i > 0)?);
    }
    let mut findings = Vec::new();
    if inputs.len() == 1 {
        split::open_siblings(first, &mut parts, &mut findings)?;
    }
    report::build(&parts, findings)
}
