//! The modelpack format plugin for OpenVINO IR models: a topology file (`model.xml`) and a
//! weights file beside it (`model.bin`), read header-only.
//!
//! The `.xml` is parsed with `roxmltree` (it refuses DTDs, so no entity expansion); files
//! over 24 MiB are refused as too large (see [`ir::MAX_XML`]). The `.bin` is opened through
//! `open-related` only to check that it exists and is large enough for every constant: its
//! bytes are never read.
//!
//! # Report
//! * `format`: `openvino`.
//! * `tensors`: the top-level `Const` layers (the `Constant` ops `Model.get_ops()` returns), in
//!   file order, with the IR element type as dtype (`f32`, `f16`, `bf16`, `i8`, `u8`, `i4`,
//!   `u4`, `nf4`, `i64`, `boolean`…). `parameter_count` = Σ product(shape) over them, as
//!   OpenVINO counts: compressed weights count once, in their stored type.
//! * `inputs`: `Parameter` layers (first tensor name, element type, shape from the `shape`
//!   attribute: `?`/`-1` → unknown, an interval like `1..8` → symbolic `"1..8"`, `...` → no
//!   shape). `outputs`: `Result` layers (name from `output_names` or the producing port, shape
//!   from the input port, element type from the producing port's precision).
//! * `covers`: the `.bin`, when it exists.
//! * Meaning (roles, precision words, quantisation): see [`meaning`].
//!
//! # Metadata keys
//! | key | value |
//! |---|---|
//! | `openvino.ir_version` | uint (`<net version>`) |
//! | `openvino.name` | text (`<net name>`) |
//! | `openvino.layers`, `openvino.layer_types` | uint, JSON object type → count |
//! | `openvino.nested_constants` | uint: `Const` layers inside `TensorIterator`/`Loop`/`If` bodies (not counted) |
//! | `openvino.weights_bytes` | uint: size of the `.bin` |
//! | `openvino.rt.<path>` | text, one per `rt_info` value: `Runtime_version`, `conversion_parameters.framework`, `framework.*`, `model_info.*`, `optimum.*`… |
//!
//! # Findings
//! * `missing-weights` (error): constants need bytes but the `.bin` cannot be opened.
//! * `weights-out-of-range` (error): a constant's `offset + size` lies beyond the `.bin`.
//! * `const-size-mismatch` (warning): a constant's `size` disagrees with shape × element type.
//!
//! # Routing
//! The plugin does not claim every `.xml`: other XML files in a model directory stay
//! unrecognised (not errors). It claims topologies by their first bytes as OpenVINO writes
//! them (`<?xml version="1.0"?>` and a newline, then `<net `; or `<net ` at the start) and by
//! the name optimum-intel gives them (`openvino_*.xml`).
//!
//! # The weights file
//! The plugin also claims `.bin`, shared with PyTorch, so that the `.bin` of a pair is not read
//! as a broken pickle: see [`weights`]. Its report has no tensors (the `.xml` counts them) and
//! names its topology in `openvino.topology`.
//!
//! # Detection
//! 1.0 for a head whose root element is `<net>`; 0.5 for a `.xml` name whose head is too short
//! to tell or an LFS pointer; 0.0 otherwise (other XML files). For `.bin`, see [`weights`].

pub mod ir;
pub mod meaning;
pub mod report;
pub mod weights;

use modelpack_plugin_sdk::prelude::*;

/// Confidence in `[0, 1]` that `name` / `head` is an OpenVINO IR topology or weights file.
pub fn detect(name: &str, head: &[u8]) -> f32 {
    if name.to_ascii_lowercase().ends_with(".bin") {
        return weights::detect(head);
    }
    let text = String::from_utf8_lossy(&head[..head.len().min(64 << 10)]);
    if root_start(&text).is_some_and(|r| {
        r.starts_with("<net") && !r[4..].starts_with(|c: char| c.is_alphanumeric())
    }) {
        return 1.0;
    }
    let xml_name = name.to_ascii_lowercase().ends_with(".xml");
    if xml_name && (text.trim().is_empty() || text.starts_with("version https://git-lfs")) {
        0.5
    } else {
        0.0
    }
}

/// The text from the root element's `<` on, skipping the XML declaration, comments and
/// processing instructions.
fn root_start(text: &str) -> Option<&str> {
    let mut t = text.trim_start_matches('\u{feff}').trim_start();
    loop {
        if let Some(rest) = t.strip_prefix("<?") {
            t = rest.split_once("?>")?.1.trim_start();
        } else if let Some(rest) = t.strip_prefix("<!--") {
            t = rest.split_once("-->")?.1.trim_start();
        } else {
            return t.starts_with('<').then_some(t);
        }
    }
}

/// Reads the IR whose topology is `inputs[0]` and reports what it holds.
pub fn inspect(inputs: &[&dyn Source]) -> Result<ModelReport, Error> {
    let Some(&src) = inputs.first() else {
        return Err(Error::Io("no input file given".into()));
    };
    if let Some(r) = lfs_pointer_report(src, report::FORMAT)? {
        return Ok(r);
    }
    let name = src.name();
    if name.to_ascii_lowercase().ends_with(".bin") {
        return weights::inspect(src);
    }
    let size = src.size();
    if size > ir::MAX_XML {
        return Err(Error::TooLarge(format!(
            "{name}: {size} bytes of XML exceed the {}-byte cap",
            ir::MAX_XML
        )));
    }
    let bytes = read_exact_at(src, 0, size, "IR topology")?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|e| Error::Malformed(format!("{name}: not UTF-8 at byte {}", e.valid_up_to())))?;
    let parsed = ir::parse(&name, text)?;
    let bin_file = report::bin_name(&name);
    let bin = src.open_related(&bin_file).ok().map(|b| b.size());
    report::build(&name, parsed, &bin_file, bin)
}

/// The plugin as the host sees it (exported only when built for wasm).
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
struct Plugin;

impl FormatPlugin for Plugin {
    const INFO: &'static str = r#"{"name":"openvino","version":"0.2.0","description":"OpenVINO IR (.xml + .bin): constants, element types, Parameter/Result shapes and rt_info, read header-only","extensions":["bin"],"file_names":["openvino_*.xml"],"magic":[{"offset":0,"hex":"3c3f786d6c2076657273696f6e3d22312e30223f3e0a3c6e657420"},{"offset":0,"hex":"3c3f786d6c2076657273696f6e3d22312e30223f3e0d0a3c6e657420"},{"offset":0,"hex":"3c3f786d6c2076657273696f6e3d22312e3022203f3e0a3c6e657420"},{"offset":0,"hex":"3c3f786d6c2076657273696f6e3d22312e3022203f3e0d0a3c6e657420"},{"offset":0,"hex":"3c6e657420"}]}"#;

    fn detect(name: &str, head: &[u8]) -> f32 {
        detect(name, head)
    }

    fn inspect(inputs: &[&dyn Source]) -> Result<ModelReport, Error> {
        inspect(inputs)
    }
}

modelpack_plugin_sdk::export_format_plugin!(Plugin);
