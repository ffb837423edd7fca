//! The `numpy` format plugin: `.npy` and `.npz` arrays read from their headers only.
//!
//! Report conventions:
//! * `format` is `npy` for a single array and `npz` for an archive; an `.npy` tensor is named
//!   after the file, an `.npz` tensor after its member without `.npy`; dtypes are numpy's
//!   `str(dtype)` (`float64`, `int32`, `<U5`, `object`, structured list form).
//! * metadata: `npy.version`, `npy.descr`, `npy.fortran_order`, `npy.byte_order`,
//!   `npy.itemsize`, `npy.header_len`, `npy.data_offset` (single files); `npz.member_count`,
//!   `npz.compressed_members`, `npz.members` (JSON, first 256); `pickle.globals` and
//!   `pickle.non_allowlisted_globals` when object payloads were scanned.
//! * findings: `object-array` (error) for every object-dtype array, plus `unsafe-pickle-global`
//!   / `unsafe-pickle-call` from its payload (walked by the shared `pickle-scan` reader, never
//!   executed), `object-array-not-scanned`, `object-array-payload-unreadable`,
//!   `large-npy-header`, `npz-non-array-member`, `zip-path-traversal`.
//! * data-length check: header + itemsize × count must fit in the file (or member), else
//!   `Malformed`.

pub mod convert;
mod dtype;
mod header;
mod literal;
pub mod meaning;
mod npy;
mod npz;
mod object;
mod report;

use modelpack_plugin_sdk::prelude::*;

/// The plugin description.
pub const INFO: &str = r#"{"name":"numpy","version":"0.2.0","description":"NumPy .npy/.npz arrays (headers only); flags object arrays whose payload is a pickle","extensions":["npy","npz"],"file_names":[],"magic":[{"offset":0,"hex":"934e554d5059"}]}"#;

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// How sure we are that `name`/`head` is a NumPy array file.
pub fn detect(name: &str, head: &[u8]) -> f32 {
    let lower = name.to_ascii_lowercase();
    let npy_ext = lower.ends_with(".npy");
    let npz_ext = lower.ends_with(".npz");
    if header::is_npy(head) {
        return 1.0;
    }
    if pickle_scan::zip::looks_like_zip(head) {
        let has_npy = contains(head, b".npy");
        return match (npz_ext, has_npy) {
            (true, true) => 1.0,
            (true, false) => 0.5,
            (false, true) if !contains(head, b"data.pkl") => 0.6,
            _ => 0.0,
        };
    }
    if (npy_ext || npz_ext) && head.starts_with(b"version https://git-lfs") {
        return 0.5;
    }
    0.0
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

/// Inspects an `.npy` or `.npz` file (only the first input is read).
pub fn inspect(inputs: &[&dyn Source]) -> Result<ModelReport, Error> {
    no_overflow(inputs, inspect_unchecked(inputs)?)
}

fn inspect_unchecked(inputs: &[&dyn Source]) -> Result<ModelReport, Error> {
    let src = *inputs
        .first()
        .ok_or_else(|| Error::Io("no input files".into()))?;
    let name = src.name();
    let format = if name.to_ascii_lowercase().ends_with(".npz") {
        "npz"
    } else {
        "npy"
    };
    if let Some(r) = lfs_pointer_report(src, format)? {
        return Ok(r);
    }
    let head = read_at(src, 0, 8)?;
    if header::is_npy(&head) {
        npy::inspect(src)
    } else if pickle_scan::zip::looks_like_zip(&head) {
        npz::inspect(src)
    } else {
        Err(Error::Malformed(format!(
            "{name}: neither an .npy array (\\x93NUMPY) nor an .npz zip archive"
        )))
    }
}

/// The wasm adapter.
pub struct Plugin;

impl FormatPlugin for Plugin {
    const INFO: &'static str = INFO;
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
