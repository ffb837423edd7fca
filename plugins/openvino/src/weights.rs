//! The `.bin` half of an IR pair: raw constant bytes with no header of their own.
//!
//! `detect` cannot look beside the file (it is pure), so it scores by elimination: a head that
//! is a zip (PyTorch ≥ 1.6), a pickle, a legacy torch tar, a Git LFS pointer or empty scores
//! 0.0 and stays with the PyTorch plugin; anything else scores [`RAW_SCORE`], enough to beat a
//! PyTorch plugin that sees no pickle but below any positive identification. `inspect` then
//! requires `<stem>.xml` beside it with an IR root element, and reports no tensors: the
//! topology's report counts them and covers this file.

use crate::report::FORMAT;
use modelpack_plugin_sdk::prelude::*;

/// Score for a `.bin` head that no pickle-based format would claim.
pub const RAW_SCORE: f32 = 0.2;

/// How sure we are that a `.bin` with this head is IR weights.
pub fn detect(head: &[u8]) -> f32 {
    let zip = head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06");
    let pickle = matches!(head, [0x80, 2..=5, ..] | [b'(' | b']' | b'}' | b'c', ..]);
    let tar = head.get(257..262) == Some(b"ustar".as_slice());
    let lfs = head.starts_with(b"version https://git-lfs");
    // The legacy torch magic number is itself a pickled integer (0x80 0x02 …): covered above.
    if head.is_empty() || zip || pickle || tar || lfs {
        0.0
    } else {
        RAW_SCORE
    }
}

/// The topology file beside a weights file: `model.bin` → `model.xml`.
pub fn xml_name(bin: &str) -> String {
    let base = bin.rsplit('/').next().unwrap_or(bin);
    match base.rsplit_once('.') {
        Some((stem, _)) => format!("{stem}.xml"),
        None => format!("{base}.xml"),
    }
}

/// Reports a weights file whose topology is beside it; refuses one without.
pub fn inspect(src: &dyn Source) -> Result<ModelReport, Error> {
    let name = src.name();
    let xml = xml_name(&name);
    let topology = src.open_related(&xml).map_err(|_| {
        Error::Unsupported(format!(
            "{name}: not a weights file this plugin knows: no {xml} beside it (OpenVINO IR) and no pickle or zip header (PyTorch)"
        ))
    })?;
    let head = read_at(topology.as_ref(), 0, 64 << 10)?;
    if crate::detect(&xml, &head) < 1.0 {
        return Err(Error::Unsupported(format!(
            "{name}: {xml} beside it is not an OpenVINO IR topology (no <net> root element)"
        )));
    }
    Ok(ModelReport {
        format: FORMAT.into(),
        tensors: vec![],
        parameter_count: 0,
        weight_parameters: 0,
        dtypes: vec![],
        quantization: None,
        candidates: vec![],
        lineage: vec![],
        groups: vec![],
        inputs: vec![],
        outputs: vec![],
        metadata: vec![
            MetaEntry {
                key: "openvino.topology".into(),
                value: MetaValue::Text(xml),
            },
            MetaEntry {
                key: "openvino.weights_bytes".into(),
                value: MetaValue::Uint(src.size()),
            },
        ],
        findings: vec![],
        covers: vec![],
        // The weights themselves (the topology's report counts them).
        layer_kind: None,
    })
}
