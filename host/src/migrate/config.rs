//! The ModelPack config of a converted artifact: the converter's candidates (what the source's
//! metadata says) plus what the format plugins read from the raw weight layers themselves — a
//! GGUF blob is inspected exactly like a `.gguf` file, routed by its planned file path —
//! decided by `generate`'s precedence ([`fields::decide`]), so `--explain` shows the same
//! provenance.

use std::path::Path;
use std::sync::Arc;

use anyhow::Result;
use serde_json::Value;

use super::plan::Checked;
use super::source::Store;
use crate::generate::conventions::ConventionFacts;
use crate::generate::facts;
use crate::generate::fields::{self, Candidate, FieldExplain, FieldType, Source};
use crate::inspect::{FileReport, Target, inspect_one, report::Status};
use crate::model::{LayerFormat, LayerKind};
use crate::plugin::PluginSet;
use crate::plugin::runtime::ac;
use crate::plugin::runtime::bindings::converter::modelpack::plugin::types::SourceClass;

/// The decided config (without `modelfs`) and how.
pub struct Decided {
    /// `descriptor` and `config`.
    pub config: Value,
    /// Per field, the winner and the losers.
    pub explain: Vec<FieldExplain>,
    /// Candidates dropped and other remarks.
    pub warnings: Vec<String>,
    /// Raw weight layers a format plugin read.
    pub inspected: usize,
}

/// Decides the config of the checked layers with the converter's `candidates`.
pub fn decide(
    plugins: &PluginSet,
    plugin: &str,
    store: &Store,
    layers: &[Checked],
    candidates: &[ac::FieldCandidate],
    created: Option<Candidate>,
    log: &dyn Fn(&str),
) -> Result<Decided> {
    let mut warnings = Vec::new();
    let root = Arc::new(store.blob_dir().canonicalize()?);
    let mut reports: Vec<(String, FileReport)> = Vec::new();
    for l in layers
        .iter()
        .filter(|l| l.kind == LayerKind::Weight && l.format == LayerFormat::Raw)
    {
        let name = Path::new(&l.path)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let target = Target {
            path: store.blob_path(&l.source.digest),
            display: l.path.clone(),
            name,
            root: root.clone(),
        };
        let r = inspect_one(plugins, &target, log);
        match r.status {
            Status::Unrecognised => {}
            Status::Error => warnings.push(format!(
                "{}: {}",
                l.path,
                r.error.clone().unwrap_or_default()
            )),
            _ => reports.push((l.path.clone(), r)),
        }
    }
    let read: Vec<(String, &FileReport)> = reports.iter().map(|(p, r)| (p.clone(), r)).collect();
    let mut missing = Vec::new();
    let mut ctx = facts::Context {
        root: &root,
        read: &read,
        missing: &mut missing,
        warnings: &mut warnings,
        notes: Vec::new(),
        candidates: Vec::new(),
        weight_parameters: 0,
        weight_copies: 0,
    };
    facts::detect(&mut ctx, ConventionFacts::default())?;
    // The blob store's directory name says nothing about the model.
    let mut all: Vec<Candidate> = std::mem::take(&mut ctx.candidates)
        .into_iter()
        .filter(|c| c.from != "directory name")
        .collect();
    drop(ctx);
    for c in candidates {
        match candidate(plugin, c) {
            Ok(c) => all.push(c),
            Err(w) => warnings.push(w),
        }
    }
    all.extend(created);
    let (config, explain) = fields::decide(&all);
    Ok(Decided {
        config,
        explain,
        warnings,
        inspected: reports.len(),
    })
}

/// A converter's candidate as `generate` ranks it, or why it is dropped: an unknown field, a
/// value of the wrong JSON type, or one the spec's strict rules refuse (`paramSize` "1.10 B").
fn candidate(plugin: &str, c: &ac::FieldCandidate) -> Result<Candidate, String> {
    let dotted = c.field.trim_start_matches('/').replace('/', ".");
    let (field, ty) = fields::lookup(&dotted).map_err(|_| {
        format!(
            "converter {plugin} offered {}, which is not a ModelPack config field; ignored",
            c.field
        )
    })?;
    let value: Value = serde_json::from_str(&c.value).map_err(|e| {
        format!(
            "converter {plugin}: {}: value {:?} is not JSON ({e}); ignored",
            c.field, c.value
        )
    })?;
    let fits = match ty {
        FieldType::Text => value.is_string(),
        FieldType::Bool => value.is_boolean(),
        FieldType::List => value
            .as_array()
            .is_some_and(|a| a.iter().all(Value::is_string)),
    } || value.is_null();
    if !fits {
        return Err(format!(
            "converter {plugin}: {}: {value} is not of the field's type; ignored",
            c.field
        ));
    }
    let mut probe = serde_json::json!({"descriptor": {}, "config": {"capabilities": {}}});
    if let Some(slot) = probe.pointer_mut(
        &c.field
            .rsplit_once('/')
            .map(|(p, _)| p.to_string())
            .unwrap_or_default(),
    ) && let Some(obj) = slot.as_object_mut()
    {
        obj.insert(
            c.field.rsplit('/').next().unwrap_or("").to_string(),
            value.clone(),
        );
    }
    if let Some(p) = crate::validate::config::strict_problems(&probe)
        .into_iter()
        .find(|p| p.level == crate::validate::Level::Error)
    {
        return Err(format!(
            "converter {plugin}: {}: {}; ignored",
            c.field, p.message
        ));
    }
    let source = match c.source {
        SourceClass::ConventionFiles => Source::HfFiles,
        SourceClass::WeightHeaders => Source::WeightHeaders,
        SourceClass::Heuristic => Source::Heuristic,
    };
    let from = match (&c.origin.file, &c.origin.key) {
        (Some(f), Some(k)) => format!("{plugin}: {f}: {k}"),
        (Some(f), None) => format!("{plugin}: {f}"),
        (None, Some(k)) => format!("{plugin}: {k}"),
        (None, None) => format!("converter {plugin}"),
    };
    Ok(Candidate {
        field,
        value,
        source,
        from,
        note: c.note.clone(),
    })
}
