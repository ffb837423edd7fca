//! Turns what the files say about the weights into field candidates (format, counts,
//! precision, quantisation; the descriptor side is in `describe.rs`), each tagged with its
//! source class (precedence is applied later, in `fields::decide`).
//!
//! Decisions worth knowing:
//! - `paramSize` counts the weights (see `weights.rs`); the index's
//!   `metadata.total_parameters` is a Hugging Face statement and outranks it. With no readable
//!   weights (LFS pointers) and no `total_parameters`, it is **estimated** from bytes:
//!   the index's `total_size` (tensor bytes) or the LFS pointers' sizes (which include each
//!   file's small header), divided by the bytes of `torch_dtype` — only when that dtype is a
//!   plain float type and no quantisation is declared; the note says "estimated".
//! - With packed quantisation (GPTQ, AWQ, bitsandbytes 4-bit, MLX…) the stored dtypes and
//!   element counts describe containers, not parameters: `precision` is left out, and the
//!   weights give `paramSize` only when their packing was recognised and expanded
//!   (`weights::count`: `*.qweight`, `*.weight_packed`, bitsandbytes and MLX layouts, using
//!   the config's bit width); otherwise only `total_parameters` does.
//! - `precision` from `torch_dtype`/`dtype` is a heuristic used only when no weights could be
//!   read: config.json states the intended dtype; the tensors are authoritative.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::Result;
use serde_json::{Value, json};

use super::fields::{Candidate, Source};
use super::walk::Entry;
use super::{MissingFile, describe, hf, weights};
use crate::inspect::FileReport;

/// Inputs and outputs of detection.
pub struct Context<'a> {
    /// Canonical model root.
    pub root: &'a Path,
    /// Every file considered.
    pub entries: &'a [Entry],
    /// Reports of the files plugins read (incl. LFS pointers they recognised).
    pub read: &'a [(String, &'a FileReport)],
    /// Missing files (shards absent from the directory are added here).
    pub missing: &'a mut Vec<MissingFile>,
    /// Warnings.
    pub warnings: &'a mut Vec<String>,
    /// Why fields are absent.
    pub notes: Vec<String>,
    /// Field candidates found.
    pub candidates: Vec<Candidate>,
}

impl Context<'_> {
    pub(super) fn add(
        &mut self,
        field: &'static str,
        value: Value,
        source: Source,
        from: impl Into<String>,
    ) {
        self.candidates.push(Candidate {
            field,
            value,
            source,
            from: from.into(),
            note: None,
        });
    }

    pub(super) fn add_noted(
        &mut self,
        field: &'static str,
        value: Value,
        source: Source,
        from: impl Into<String>,
        note: impl Into<String>,
    ) {
        self.candidates.push(Candidate {
            field,
            value,
            source,
            from: from.into(),
            note: Some(note.into()),
        });
    }

    pub(super) fn root_file(&self, pred: impl Fn(&str) -> bool) -> Option<&Entry> {
        self.entries
            .iter()
            .find(|e| !e.rel.contains('/') && pred(&e.rel))
    }
}

/// Collects every candidate the directory offers.
pub fn detect(ctx: &mut Context<'_>) -> Result<()> {
    let hf_config = match ctx.root_file(|n| n == "config.json") {
        Some(e) => match hf::read_config(&e.abs) {
            Ok(c) => c,
            Err(err) => {
                ctx.warnings.push(format!("config.json: {err}; ignored"));
                None
            }
        },
        None => None,
    };
    let bits = hf_config
        .as_ref()
        .and_then(|c| c.quant.as_ref())
        .filter(|q| q.packed)
        .and_then(|q| q.bits);
    let facts = weights::aggregate(ctx.read, bits);
    let mut indexes = Vec::new();
    for e in ctx
        .entries
        .iter()
        .filter(|e| !e.rel.contains('/') && e.rel.to_ascii_lowercase().ends_with(".index.json"))
    {
        if ctx.missing.iter().any(|m| m.path == e.rel) {
            continue;
        }
        match hf::read_index(&e.abs, &e.rel) {
            Ok(i) => indexes.push(i),
            Err(err) => ctx.warnings.push(format!("{}: {err}; ignored", e.rel)),
        }
    }
    let present: BTreeSet<&str> = ctx.entries.iter().map(|e| e.rel.as_str()).collect();
    for i in &indexes {
        for s in &i.shards {
            if !present.contains(s.as_str()) && !ctx.missing.iter().any(|m| &m.path == s) {
                ctx.missing.push(MissingFile {
                    path: s.clone(),
                    reason: format!("named by {} but not in the directory", i.rel),
                    lfs_oid: None,
                    lfs_size: None,
                });
            }
        }
    }
    ctx.missing.sort_by(|a, b| a.path.cmp(&b.path));

    // Counts are summed saturating: u64::MAX is an overflow (hostile or corrupt headers),
    // which must refuse the config rather than turn into some other paramSize.
    if facts.params == u64::MAX || facts.dtypes.values().any(|&n| n == u64::MAX) {
        anyhow::bail!(
            "refusing to write a config: the weight files' parameter counts add up past {} \
             (corrupt or hostile headers)",
            u64::MAX
        );
    }
    format_and_counts(ctx, &facts, hf_config.as_ref(), &indexes);
    describe::architecture(ctx, &facts, hf_config.as_ref());
    let card = describe::read_card(ctx);
    describe::names(ctx, &facts, hf_config.as_ref(), card.as_ref());
    describe::card_fields(ctx, card.as_ref());
    describe::licenses(ctx, &facts);
    Ok(())
}

fn format_and_counts(
    ctx: &mut Context<'_>,
    facts: &weights::WeightFacts,
    cfg: Option<&hf::HfConfig>,
    indexes: &[hf::Index],
) {
    if let Some(f) = &facts.format {
        let files = facts.formats.get(f).copied().unwrap_or(0);
        let others: Vec<String> = facts
            .formats
            .iter()
            .filter(|(g, _)| *g != f)
            .map(|(g, n)| format!("{g} ({n})"))
            .collect();
        let mut note = format!("{files} file(s) read by the {f} plugin");
        if !others.is_empty() {
            note.push_str(&format!("; other formats present: {}", others.join(", ")));
        }
        ctx.add_noted(
            "config.format",
            json!(f),
            Source::WeightHeaders,
            "weight files",
            note,
        );
    }
    let quant = cfg.and_then(|c| c.quant.clone());
    let packed = quant.as_ref().is_some_and(|q| q.packed);
    if let Some(q) = &quant {
        ctx.add(
            "config.quantization",
            json!(q.label),
            Source::HfFiles,
            format!("config.json: {}", q.key),
        );
    }
    if !facts.gguf_file_types.is_empty() {
        ctx.add(
            "config.quantization",
            json!(facts.gguf_file_types.join(",")),
            Source::WeightHeaders,
            "GGUF general.file_type",
        );
    } else if let Some(t) = weights::dominant_quant_type(&facts.dtypes)
        .filter(|_| facts.format.as_deref() == Some("gguf"))
    {
        ctx.add_noted(
            "config.quantization",
            json!(t),
            Source::WeightHeaders,
            "tensor types",
            "most parameters are stored in this quantised type",
        );
    }

    for i in indexes {
        if let Some(n) = i.total_parameters
            && let Some(s) = weights::param_size(n)
        {
            ctx.add_noted(
                "config.paramSize",
                json!(s),
                Source::HfFiles,
                format!("{}: metadata.total_parameters", i.rel),
                format!("{n} parameters"),
            );
        }
    }
    let read_any = facts.params > 0;
    // Packed weights count only when their packing was recognised and expanded.
    let countable = !packed || facts.unpacked > 0;
    if read_any && countable {
        if let Some(s) = weights::param_size(facts.params) {
            let files: usize = facts.units.iter().map(|u| u.files.len()).sum();
            let mut note = format!("{} parameters in {files} file(s)", facts.params);
            if facts.unpacked > 0 {
                note.push_str(&format!(
                    "; {} of them unpacked from {} storage",
                    facts.unpacked,
                    quant.as_ref().map(|q| q.label.as_str()).unwrap_or("packed")
                ));
            }
            if facts.copies > 1 {
                note.push_str(&format!(
                    "; {} files hold copies of the same weights, counted once",
                    facts.copies
                ));
            }
            if facts.left_out > 0 {
                note.push_str(&format!(
                    "; {} elements left out (buffers, training state, quantisation side data, shapes)",
                    facts.left_out
                ));
            }
            ctx.add_noted(
                "config.paramSize",
                json!(s),
                Source::WeightHeaders,
                "weight files",
                note,
            );
        } else {
            ctx.notes.push(format!(
                "config.paramSize: {} parameters is too few for the spec's grammar (smallest unit 0.1K)",
                facts.params
            ));
        }
    }
    if read_any && !packed {
        match weights::precision(&facts.dtypes) {
            Ok(p) => ctx.add_noted(
                "config.precision",
                json!(p),
                Source::WeightHeaders,
                "weight files",
                format!("parameters per dtype: {}", hist(&facts.dtypes)),
            ),
            Err(unmapped) => ctx.notes.push(format!(
                "config.precision: left out: {} has no word in the spec's precision list \
                 (quantised types are described by quantization)",
                unmapped.join(", ")
            )),
        }
    } else if read_any {
        ctx.notes.push(format!(
            "config.precision{}: left out of the weight facts: {} packs weights into \
             container dtypes ({})",
            if countable { "" } else { ", config.paramSize" },
            quant
                .as_ref()
                .map(|q| q.label.as_str())
                .unwrap_or("quantisation"),
            hist(&facts.dtypes)
        ));
    }
    if read_any {
        return;
    }
    // No weights could be read: estimates from config.json and byte sizes.
    let dtype = cfg.and_then(|c| c.dtype.clone());
    let Some(dtype) = dtype else {
        return;
    };
    if packed {
        ctx.notes.push(format!(
            "config.precision: left out: torch_dtype {dtype} is the compute dtype of packed {} weights",
            quant.as_ref().map(|q| q.label.as_str()).unwrap_or("quantised")
        ));
        return;
    }
    if let Some(word) = weights::precision_word(match dtype.as_str() {
        "float32" => "F32",
        "float16" => "F16",
        "bfloat16" => "BF16",
        "float64" => "F64",
        other => other,
    }) {
        ctx.add_noted(
            "config.precision",
            json!(word),
            Source::Heuristic,
            "config.json: torch_dtype",
            "the declared dtype; no weights could be read to confirm it",
        );
    }
    let Some(per) = hf::dtype_bytes(&dtype).filter(|_| quant.is_none()) else {
        return;
    };
    let (bytes, from) = if let Some(i) = indexes.iter().find(|i| i.total_size.is_some()) {
        (
            i.total_size.unwrap_or(0),
            format!("{}: metadata.total_size", i.rel),
        )
    } else {
        let lfs: u64 = ctx
            .missing
            .iter()
            .filter(|m| is_weight_name(&m.path))
            .filter_map(|m| m.lfs_size)
            .fold(0u64, u64::saturating_add);
        (lfs, "Git LFS pointer sizes".to_string())
    };
    if bytes > 0
        && let Some(s) = weights::param_size(bytes / per)
    {
        ctx.add_noted(
            "config.paramSize",
            json!(s),
            Source::Heuristic,
            from,
            format!("estimated: {bytes} bytes / {per} bytes per {dtype} parameter"),
        );
    }
}

fn is_weight_name(path: &str) -> bool {
    let l = path.to_ascii_lowercase();
    [
        ".safetensors",
        ".bin",
        ".pt",
        ".pth",
        ".gguf",
        ".onnx",
        ".ckpt",
        ".h5",
        ".msgpack",
    ]
    .iter()
    .any(|x| l.ends_with(x))
}

fn hist(d: &std::collections::BTreeMap<String, u64>) -> String {
    let mut v: Vec<_> = d.iter().collect();
    v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    v.iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}
