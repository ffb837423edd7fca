//! Turns what the files say about the weights into field candidates (format, counts,
//! precision, quantisation; the descriptor side is in `describe.rs`), each tagged with its
//! source class (precedence is applied later, in `fields::decide`).
//!
//! Decisions worth knowing:
//! - `paramSize` counts the weights (see `weights.rs`). A convention's statement (a Hugging
//!   Face index's `metadata.total_parameters`) outranks it; with no readable weights, a
//!   convention plugin may offer an estimate (heuristic).
//! - With a packed quantisation declared by a convention (GPTQ, AWQ, bitsandbytes 4-bit,
//!   MLX…) the stored dtypes and element counts describe containers, not parameters:
//!   `precision` is left out, and the weights give `paramSize` only when their packing was
//!   recognised and expanded (`weights::count`, with the declared bit width).

use std::path::Path;

use anyhow::Result;
use serde_json::{Value, json};

use super::conventions::{ConventionFacts, Declared};
use super::fields::{Candidate, Source};
use super::{MissingFile, describe, weights};
use crate::inspect::FileReport;

/// Inputs and outputs of detection.
pub struct Context<'a> {
    /// Canonical model root.
    pub root: &'a Path,
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
    /// The counted weight parameters (set by [`detect`]).
    pub weight_parameters: u64,
    /// Files holding copies of other files' weights (set by [`detect`]).
    pub weight_copies: usize,
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
}

/// Collects every candidate the directory offers: the weight facts (and what the format
/// plugins' files declare), the directory name and what the convention plugins said (their
/// candidates, missing files, warnings, notes).
pub fn detect(ctx: &mut Context<'_>, conv: ConventionFacts) -> Result<()> {
    let quant = conv.quantization.clone();
    let bits = quant.as_ref().filter(|q| q.packed).and_then(|q| q.bits);
    let facts = weights::aggregate(ctx.read, bits)?;
    ctx.weight_parameters = facts.params;
    ctx.weight_copies = facts.copies;
    for m in conv.missing {
        if !ctx.missing.iter().any(|x| x.path == m.path) {
            ctx.missing.push(m);
        }
    }
    ctx.missing.sort_by(|a, b| a.path.cmp(&b.path));
    ctx.warnings.extend(conv.warnings);
    ctx.notes.extend(conv.notes);

    format_and_counts(ctx, &facts, quant.as_ref());
    plugin_candidates(ctx, &facts);
    // Name heuristics in this order: a telling directory name, the conventions' guesses
    // (a card's title, config.json's `_name_or_path`), any directory name as a last resort.
    let dir = describe::dir_name(ctx.root);
    let generic = describe::is_generic_dir_name(&dir);
    if !dir.is_empty() && !generic {
        ctx.add(
            "descriptor.name",
            json!(dir),
            Source::Heuristic,
            "directory name",
        );
    }
    ctx.candidates.extend(conv.candidates);
    if !dir.is_empty() && generic {
        ctx.add(
            "descriptor.name",
            json!(dir),
            Source::Heuristic,
            "directory name",
        );
    }
    Ok(())
}

/// The config fields the model's weight files declare (GGUF `general.*`…), as their plugins
/// offered them: JSON pointer, JSON value, source class, origin, note. Unknown fields and
/// values of the wrong JSON type are dropped with a warning naming the plugin's file; SPDX
/// licence ids get the spec's canonical spelling.
fn plugin_candidates(ctx: &mut Context<'_>, facts: &weights::WeightFacts) {
    use super::fields::{FieldType, lookup};
    for (file, c) in &facts.candidates {
        let dotted = c.field.trim_start_matches('/').replace('/', ".");
        let Ok((field, ty)) = lookup(&dotted) else {
            ctx.warnings.push(format!(
                "{file}: its plugin offered a value for {}, which is not a ModelPack config field; ignored",
                c.field
            ));
            continue;
        };
        let mut value = c.value.clone();
        let fits = match ty {
            FieldType::Text => value.is_string(),
            FieldType::Bool => value.is_boolean(),
            FieldType::List => value
                .as_array()
                .is_some_and(|a| a.iter().all(Value::is_string)),
        } || value.is_null();
        if !fits {
            ctx.warnings.push(format!(
                "{file}: its plugin offered {value} for {}, of the wrong type; ignored",
                c.field
            ));
            continue;
        }
        if field == "descriptor.licenses"
            && let Some(items) = value.as_array_mut()
        {
            for item in items.iter_mut() {
                if let Some(canonical) = item
                    .as_str()
                    .and_then(|l| crate::validate::rules::canonical_license(l).ok())
                {
                    *item = Value::String(canonical);
                }
            }
        }
        let source = match c.source {
            "convention-files" => Source::HfFiles,
            "heuristic" => Source::Heuristic,
            _ => Source::WeightHeaders,
        };
        let from = match &c.key {
            Some(k) => format!("{file}: {k}"),
            None => file.clone(),
        };
        ctx.candidates.push(Candidate {
            field,
            value,
            source,
            from,
            note: c.note.clone(),
        });
    }
}

fn format_and_counts(
    ctx: &mut Context<'_>,
    facts: &weights::WeightFacts,
    quant: Option<&Declared>,
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
    let packed = quant.is_some_and(|q| q.packed);
    if !facts.quantizations.is_empty() {
        ctx.add_noted(
            "config.quantization",
            json!(facts.quantizations.join(",")),
            Source::WeightHeaders,
            facts
                .quantization_from
                .clone()
                .unwrap_or_else(|| "weight files".into()),
            "the quantisation the format plugin recognised in the weights",
        );
    }

    let read_any = facts.params > 0;
    // Packed weights count only when their packing was recognised and expanded.
    let countable = (!packed || facts.unpacked > 0) && facts.unresolved == 0;
    if facts.unresolved > 0 {
        ctx.notes.push(format!(
            "config.paramSize: left out of the weight facts: {} elements are packed quantised \
             weights whose bit width neither the files nor a convention file state",
            facts.unresolved
        ));
    }
    if read_any && countable {
        if let Some(s) = weights::param_size(facts.params) {
            let files: usize = facts.units.iter().map(|u| u.files.len()).sum();
            let mut note = format!("{} parameters in {files} file(s)", facts.params);
            if facts.unpacked > 0 {
                note.push_str(&format!(
                    "; {} of them unpacked from {} storage",
                    facts.unpacked,
                    quant.map(|q| q.method.as_str()).unwrap_or("packed")
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
        match weights::precision(&facts.dtypes, &facts.words) {
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
            quant.map(|q| q.method.as_str()).unwrap_or("quantisation"),
            hist(&facts.dtypes)
        ));
    }
}

fn hist(d: &std::collections::BTreeMap<String, u64>) -> String {
    let mut v: Vec<_> = d.iter().collect();
    v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    v.iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}
