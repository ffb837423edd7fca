//! modelpack format plugin for safetensors files and sharded safetensors checkpoints.
//!
//! Header-only: reads the 8-byte header length and the JSON header (never tensor data) and
//! validates it as the reference crate (safetensors 0.8.0) does, see [`header`]. An index
//! (`*.safetensors.index.json`) is inspected together with the shards it names, see [`index`].
//!
//! Report conventions:
//! * `format` is `safetensors`; tensors are listed in data-offset order (the order of their
//!   bytes in the file), shard by shard for an index; dtypes as the file spells them (`BF16`).
//! * `metadata` of a single file: the `__metadata__` entries, keys as in the file, text values.
//! * `metadata` of an index: `index.tensor_count` (weight_map entries), `index.shard_count`,
//!   `index.<key>` for every key of the index's `metadata` object (`index.total_size`,
//!   `index.total_parameters`, …), then the shards' `__metadata__` entries (first shard wins).
//!   `covers` lists the shard files. Shard problems are findings (see [`index`]).
//! * A Git LFS pointer in place of the file gives the SDK's `git-lfs-pointer` report.
//! * Meaning (contract 0.2): roles, packed quantised layouts, the `paramSize` basis and the
//!   precision words, see [`meaning`].

pub mod dtype;
pub mod findings;
pub mod header;
pub mod index;
pub mod json;
pub mod meaning;
pub mod report;
pub mod shards;

use modelpack_plugin_sdk::parse_pointer;
use modelpack_plugin_sdk::prelude::*;

/// How sure this plugin is that it reads `name` whose first bytes are `head`.
pub fn detect(name: &str, head: &[u8]) -> f32 {
    let base = name.rsplit('/').next().unwrap_or(name).to_ascii_lowercase();
    let is_pointer = parse_pointer(head).is_some();
    if index::is_index_name(&base) {
        let first = head.iter().find(|b| !b.is_ascii_whitespace());
        return if is_pointer || matches!(first, None | Some(b'{')) {
            1.0
        } else {
            0.0
        };
    }
    let ext = base.ends_with(".safetensors");
    if is_pointer {
        // The pointer stands in for a safetensors file only if the name says so.
        return if ext { 1.0 } else { 0.0 };
    }
    match (ext, plausible_head(head)) {
        (true, true) => 1.0,
        (false, true) => 0.8,
        (true, false) => 0.5,
        (false, false) => 0.0,
    }
}

/// Whether `head` starts like a safetensors file: a sane header length, then a JSON object.
fn plausible_head(head: &[u8]) -> bool {
    let Some(len) = head.get(..8) else {
        return false;
    };
    let mut le = [0u8; 8];
    le.copy_from_slice(len);
    let n = u64::from_le_bytes(le);
    if !(2..=header::MAX_HEADER_SIZE).contains(&n) || head.get(8) != Some(&b'{') {
        return false;
    }
    // When the whole header is in view, it must also end like an object (padding is spaces).
    match head.get(8..8 + n as usize) {
        Some(json) => json.iter().rev().find(|&&b| b != b' ') == Some(&b'}'),
        None => true,
    }
}

/// Inspects `inputs[0]` (a `.safetensors` file or an index) and any shards grouped with it.
pub fn inspect(inputs: &[&dyn Source]) -> Result<ModelReport, Error> {
    no_overflow(inputs, inspect_unchecked(inputs)?)
}

fn inspect_unchecked(inputs: &[&dyn Source]) -> Result<ModelReport, Error> {
    let Some(&first) = inputs.first() else {
        return Err(Error::Malformed("no input file".into()));
    };
    if let Some(r) = lfs_pointer_report(first, report::FORMAT)? {
        return Ok(r);
    }
    let mut r = if index::is_index_name(&first.name()) {
        let mut r = index::inspect_index(inputs)?;
        // An index maps tensor names to shards; it configures the weights, it holds none.
        r.layer_kind = Some(FileKind::WeightConfig);
        r
    } else {
        shards::inspect_files(inputs)?
    };
    meaning::apply(&mut r);
    Ok(r)
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

/// The plugin as the host sees it (exported on wasm32).
pub struct Plugin;

impl FormatPlugin for Plugin {
    const INFO: &'static str = r#"{"name":"safetensors","version":"0.2.0","preference":40,"description":"safetensors files and sharded checkpoints (*.safetensors.index.json), header-only","extensions":["safetensors"],"file_names":["model.safetensors.index.json","*.safetensors.index.json"],"magic":[]}"#;

    fn detect(name: &str, head: &[u8]) -> f32 {
        detect(name, head)
    }

    fn inspect(inputs: &[&dyn Source]) -> Result<ModelReport, Error> {
        inspect(inputs)
    }
}

modelpack_plugin_sdk::export_format_plugin!(Plugin);

#[cfg(test)]
mod tests {
    use super::*;

    fn head(json: &str) -> Vec<u8> {
        let mut v = (json.len() as u64).to_le_bytes().to_vec();
        v.extend_from_slice(json.as_bytes());
        v
    }

    #[test]
    fn detect_by_name_and_head() {
        let good = head(r#"{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}  "#);
        assert_eq!(detect("m.safetensors", &good), 1.0);
        assert_eq!(detect("dir/M.SAFETENSORS", &good), 1.0);
        assert_eq!(detect("m.bin", &good), 0.8);
        assert_eq!(detect("m.safetensors", b"PK\x03\x04 not safetensors"), 0.5);
        assert_eq!(detect("m.safetensors", b""), 0.5);
        assert_eq!(detect("m.bin", b"PK\x03\x04 not safetensors"), 0.0);
        // A header length beyond the cap or a header that is not an object.
        let mut huge = u64::MAX.to_le_bytes().to_vec();
        huge.push(b'{');
        assert_eq!(detect("m.safetensors", &huge), 0.5);
        assert_eq!(detect("m.safetensors", &head("[1, 2]")), 0.5);
        assert_eq!(detect("m.safetensors", &head("{\"a\":1")), 0.5);
    }

    #[test]
    fn detect_index_and_pointers() {
        assert_eq!(
            detect("model.safetensors.index.json", b"{\n \"metadata\""),
            1.0
        );
        assert_eq!(
            detect("a/diffusion_pytorch_model.safetensors.index.json", b"  {"),
            1.0
        );
        assert_eq!(detect("model.safetensors.index.json", b"\x00\x01"), 0.0);
        let ptr = b"version https://git-lfs.github.com/spec/v1\noid sha256:ab\nsize 12\n";
        assert_eq!(detect("model.safetensors", ptr), 1.0);
        assert_eq!(detect("model.bin", ptr), 0.0);
    }

    #[test]
    fn info_is_valid_json() {
        let v: serde_json::Value = serde_json::from_str(Plugin::INFO).unwrap();
        assert_eq!(v["name"], "safetensors");
        assert_eq!(v["extensions"][0], "safetensors");
    }

    #[test]
    fn no_inputs_is_an_error() {
        assert!(matches!(inspect(&[]), Err(Error::Malformed(_))));
    }
}
