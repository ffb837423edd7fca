//! `modelpack generate`: a spec-valid ModelPack config and layer plan from a raw model
//! directory, from what the files themselves say.
//!
//! Pipeline: walk the directory ([`walk`]) → hand every file to the format plugins (as
//! `inspect` does) → classify each file into a layer kind ([`classify`]) → ask the convention
//! plugins what the directory's files say ([`conventions`]: config.json, model cards, licence
//! texts… all in plugins) → gather facts from the weights ([`weights`]) and the user (flags,
//! override file) → pick each field by precedence ([`fields`]) → hash the layers
//! ([`plan`]: pack's own layer code, without writing blobs) → validate against the schema before anything is written.
//!
//! Files that are Git LFS pointers (a clone without `git lfs pull`) or shards an index names
//! but the directory lacks are **missing**: they are not planned as layers, a warning names
//! them, and the config is still generated from config.json and the index.

pub mod classify;
pub mod conventions;
mod describe;
pub mod facts;
pub mod fields;
mod hints;
pub mod plan;
pub mod walk;
pub mod weights;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Result, bail};
use serde::Serialize;
use serde_json::Value;

use crate::inspect::{self, FileReport, Status, Target};
use crate::model::{LayerFormat, LayerKind, PlannedFile};
use crate::plugin::PluginSet;
use crate::validate::{Level, config::validate_config, rules};
pub use fields::{Candidate, FieldExplain, Source, render_config};
pub use plan::PlannedLayer;

/// What `generate` is asked to do besides detecting.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    /// `--name`: `descriptor.name`.
    pub name: Option<String>,
    /// `--set FIELD=VALUE`, in order.
    pub sets: Vec<String>,
    /// `--config-override FILE`: a partial config in JSON.
    pub override_file: Option<PathBuf>,
    /// `--include` globs.
    pub include: Vec<String>,
    /// `--exclude` globs.
    pub exclude: Vec<String>,
    /// `--created`: `descriptor.createdAt` (RFC 3339).
    pub created: Option<String>,
    /// The value of `SOURCE_DATE_EPOCH`, if set.
    pub source_date_epoch: Option<String>,
    /// Files never taken (the output file when it is inside the directory).
    pub leave_out: Vec<PathBuf>,
    /// How layers will be encoded (diffIds depend on it).
    pub layer_format: LayerFormat,
    /// `--strict`: a precision outside the spec's list is refused, not warned about.
    pub strict: bool,
    /// Compute the layers' diffIds (reads every byte). Without, the layers and
    /// `modelfs.diffIds` carry [`plan::UNCOMPUTED_DIGEST`] (see [`plan::outline`]).
    pub digests: bool,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            name: None,
            sets: Vec::new(),
            override_file: None,
            include: Vec::new(),
            exclude: Vec::new(),
            created: None,
            source_date_epoch: None,
            leave_out: Vec::new(),
            layer_format: LayerFormat::Raw,
            strict: false,
            digests: true,
        }
    }
}

/// A file the model needs but the directory does not hold.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MissingFile {
    /// Path relative to the model root.
    pub path: String,
    /// Why it is missing.
    pub reason: String,
    /// Git LFS object id, for pointer files.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lfs_oid: Option<String>,
    /// Size of the real file, for pointer files.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lfs_size: Option<u64>,
}

/// How one file was classified.
#[derive(Debug, Clone, Serialize)]
pub struct FileClass {
    /// Path relative to the model root.
    pub path: String,
    /// Layer kind.
    pub kind: String,
    /// Guessed rather than confirmed.
    pub untested: bool,
    /// The rule that decided.
    pub rule: String,
}

/// Everything `generate` found and decided.
#[derive(Debug)]
pub struct Generated {
    /// Canonical model directory.
    pub root: PathBuf,
    /// Files to pack, sorted by path.
    pub files: Vec<PlannedFile>,
    /// The layers in manifest order, with diffIds.
    pub layers: Vec<PlannedLayer>,
    /// The ModelPack config (validated).
    pub config: Value,
    /// Each field's value and source.
    pub explain: Vec<FieldExplain>,
    /// Why fields were left out or how they were derived, beyond `explain`.
    pub notes: Vec<String>,
    /// How each file was classified, sorted by path.
    pub classes: Vec<FileClass>,
    /// Weight files the directory lacks (LFS pointers, absent shards).
    pub missing: Vec<MissingFile>,
    /// Weight files a plugin claimed but could not read (`path: error`).
    pub unreadable: Vec<String>,
    /// Everything worth telling the user, one line each.
    pub warnings: Vec<String>,
    /// The plugin reports of the files plugins read (weights and indexes), by path, then those
    /// of the weights a plugin claimed but could not read (status `error`).
    pub reports: Vec<FileReport>,
    /// The model's weight parameters as counted from the weights (the `paramSize` basis;
    /// 0 when no weights could be read), so `check` uses the very same number.
    pub weight_parameters: u64,
    /// Files holding copies of weights another file holds (counted once).
    pub weight_copies: usize,
    /// Base models and data sets the convention plugins found (model card); the weight
    /// files' own are in their reports.
    pub lineage: Vec<crate::inspect::report::LineageOut>,
}

/// Parsed Git LFS pointer.
struct LfsPointer {
    oid: String,
    size: Option<u64>,
}

fn lfs_pointer(path: &Path, size: u64) -> Option<LfsPointer> {
    if size > 1024 {
        return None;
    }
    let bytes = crate::regular::read(path).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    if !text.starts_with("version https://git-lfs") {
        return None;
    }
    let field = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(k).map(|v| v.trim().to_string()))
    };
    Some(LfsPointer {
        oid: field("oid ")?,
        size: field("size ").and_then(|s| s.parse().ok()),
    })
}

/// Generates the config and layer plan for a model directory.
pub fn generate(dir: &Path, opts: &GenerateOptions, plugins: &PluginSet) -> Result<Generated> {
    let filters = walk::Filters {
        include: walk::Patterns::new(&opts.include, "--include")?,
        exclude: walk::Patterns::new(&opts.exclude, "--exclude")?,
        leave_out: opts.leave_out.clone(),
    };
    let single = std::fs::metadata(dir).is_ok_and(|m| m.is_file());
    let mut located = conventions::ConventionFacts::default();
    let mut moved: Option<PathBuf> = None;
    let walked = if single {
        single_file(dir)?
    } else {
        let walked = walk::walk(dir, &filters)?;
        // Locate plugins (a cache layout) may say the model lives in a subdirectory.
        let names = conventions::root_names(&walked.root);
        let confine = Arc::new(walked.confine.clone());
        located = conventions::locate(plugins, &confine, &walked.entries, &names);
        if let Some(e) = located.errors.first() {
            bail!("{}: {e}", dir.display());
        }
        match located.model_root.take() {
            Some((sub, plugin)) => {
                let inner = confined_subdir(&walked.root, &sub).map_err(|e| {
                    anyhow::anyhow!("{}: convention plugin {plugin} {e}", dir.display())
                })?;
                let w = walk::walk(&inner, &filters)?;
                moved = Some(dir.join(&sub));
                w
            }
            None => walked,
        }
    };
    let dir = moved.as_deref().unwrap_or(dir);
    if walked.entries.is_empty() {
        bail!(
            "{}: no files to pack (empty, or everything hidden, ignored or excluded)",
            dir.display()
        );
    }
    let mut warnings = walked.warnings.clone();
    let confine = Arc::new(walked.confine.clone());
    let targets: Vec<Target> = walked
        .entries
        .iter()
        .map(|e| Target {
            path: e.path.clone(),
            display: e.rel.clone(),
            name: e
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            root: confine.clone(),
        })
        .collect();
    let log = plugins.runtime().log.clone();
    let verbose = move |m: &str| log(m);
    let reports = inspect::inspect_all(plugins, &targets, &verbose);

    // Files that a weight report names as part of itself.
    let mut covered: Vec<(String, String)> = Vec::new();
    for (e, r) in walked.entries.iter().zip(&reports) {
        if r.status == Status::Ok {
            for c in &r.covers {
                if let Some(p) = weights::resolve(&e.rel, c) {
                    covered.push((p, e.rel.clone()));
                }
            }
        }
    }

    let mut files = Vec::new();
    let mut classes = Vec::new();
    let mut missing = Vec::new();
    let mut unreadable = Vec::new();
    let mut read: Vec<(String, &FileReport)> = Vec::new();
    // Weights a plugin claimed but could not read: policies are told (see policy::input).
    let mut failed: Vec<&FileReport> = Vec::new();
    // Files a convention plugin's hint may classify better (see hints).
    let mut hintable = std::collections::BTreeMap::new();
    for (e, r) in walked.entries.iter().zip(&reports) {
        let plugin = r.plugin.clone().unwrap_or_default();
        let name = e.rel.rsplit('/').next().unwrap_or(&e.rel);
        if let Some(p) = lfs_pointer(&e.abs, e.size) {
            missing.push(MissingFile {
                path: e.rel.clone(),
                reason: "Git LFS pointer, not the file: run `git lfs pull`".into(),
                lfs_oid: Some(p.oid),
                lfs_size: p.size,
            });
            if r.status == Status::Ok {
                read.push((e.rel.clone(), r));
            }
            continue;
        }
        let c = if let Some((_, by)) = covered.iter().find(|(c, _)| *c == e.rel) {
            match r.status {
                Status::Ok => read.push((e.rel.clone(), r)),
                Status::Error => {
                    unreadable.push(r.error.clone().unwrap_or_default());
                    failed.push(r);
                }
                Status::Unrecognised => {}
            }
            classify::Classified {
                kind: LayerKind::Weight,
                untested: false,
                rule: format!("part of the model {by} describes"),
            }
        } else {
            match r.status {
                Status::Ok => {
                    let fmt = r.format.clone().unwrap_or_default();
                    let no_tensors = r.tensors.is_empty() && r.parameter_count == 0;
                    let exact = classify::exact(name).filter(|_| no_tensors);
                    if exact.is_none() {
                        // Weights and indexes feed the weight facts; a claimed file that an
                        // exact name rule takes (a README.bin) does not, nor one a convention
                        // hint takes (training_args.bin: see hints).
                        read.push((e.rel.clone(), r));
                    }
                    // The plugin says the file configures weights held elsewhere (an index
                    // naming shards, a topology beside its weights): it holds none.
                    if r.configures_weights {
                        classify::Classified {
                            kind: LayerKind::WeightConfig,
                            untested: false,
                            rule: format!("describes {fmt} weights, read by {plugin}"),
                        }
                    } else if let Some(exact) = exact {
                        exact
                    } else {
                        if no_tensors {
                            hintable.insert(
                                e.rel.clone(),
                                hints::Hintable::NoTensors {
                                    plugin: plugin.clone(),
                                },
                            );
                        }
                        classify::Classified {
                            kind: LayerKind::Weight,
                            untested: false,
                            rule: format!("{fmt} weights read by {plugin}"),
                        }
                    }
                }
                Status::Error if r.plugin.is_none() => {
                    // Not a plugin's verdict: the file itself could not be opened (permissions,
                    // a file replaced since the walk). It cannot be hashed or packed, so it is
                    // left out like a missing file; the config is still written, exit 1.
                    missing.push(MissingFile {
                        path: e.rel.clone(),
                        reason: format!(
                            "cannot be read: {}",
                            r.error.clone().unwrap_or_else(|| "unreadable".into())
                        ),
                        lfs_oid: None,
                        lfs_size: None,
                    });
                    continue;
                }
                Status::Error => {
                    // A plugin claimed it (by extension or magic) but could not read it. A
                    // name rule that knows the file (a .tar in a data folder) wins; otherwise
                    // it is a weight nobody could confirm, and a warning says why.
                    let by_name = classify::by_name(&e.rel, e.size);
                    if by_name.untested {
                        let error = r.error.clone().unwrap_or_default();
                        hintable.insert(
                            e.rel.clone(),
                            hints::Hintable::Unreadable {
                                plugin: plugin.clone(),
                                error: error.clone(),
                            },
                        );
                        unreadable.push(error);
                        failed.push(r);
                        classify::Classified {
                            kind: LayerKind::Weight,
                            untested: true,
                            rule: format!("claimed by {plugin} but unreadable"),
                        }
                    } else {
                        by_name
                    }
                }
                Status::Unrecognised => {
                    if classify::exact(name).is_none() {
                        hintable.insert(e.rel.clone(), hints::Hintable::Name);
                    }
                    classify::by_name(&e.rel, e.size)
                }
            }
        };
        classes.push(FileClass {
            path: e.rel.clone(),
            kind: c.kind.as_str().to_string(),
            untested: c.untested,
            rule: c.rule,
        });
        files.push(PlannedFile {
            path: e.rel.clone(),
            abs: e.abs.clone(),
            kind: c.kind,
            size: e.size,
            mode: e.mode,
            untested: c.untested,
        });
    }

    let conv = conventions::run(plugins, &confine, &walked.entries, &read, &missing, located);
    let lineage = conv.lineage.clone();
    hints::apply(&conv, &hintable, &mut files, &mut classes).forget(
        &mut read,
        &mut unreadable,
        &mut failed,
    );
    unreadable.extend(conv.failures.iter().cloned());
    let mut ctx = facts::Context {
        root: &walked.root,
        read: &read,
        missing: &mut missing,
        warnings: &mut warnings,
        notes: Vec::new(),
        candidates: Vec::new(),
        weight_parameters: 0,
        weight_copies: 0,
    };
    facts::detect(&mut ctx, conv)?;
    let (weight_parameters, weight_copies) = (ctx.weight_parameters, ctx.weight_copies);
    let mut notes = std::mem::take(&mut ctx.notes);
    let mut candidates = std::mem::take(&mut ctx.candidates);
    if single && let Some(stem) = dir.file_stem() {
        // The file's name says more than its folder's (`~/Downloads`); first heuristic wins.
        candidates.insert(
            0,
            Candidate {
                field: "descriptor.name",
                value: Value::String(stem.to_string_lossy().into_owned()),
                source: Source::Heuristic,
                from: "the file name".into(),
                note: None,
            },
        );
    }
    user_candidates(opts, &mut candidates)?;

    for m in &missing {
        warnings.push(format!("{}: missing: {}", m.path, m.reason));
    }
    for u in &unreadable {
        warnings.push(format!("{u} (its facts are not in the config)"));
    }
    if !files.iter().any(|f| f.kind == LayerKind::Weight) {
        warnings.push(if missing.is_empty() {
            "no weight files found".to_string()
        } else {
            "no weight files present; the config comes from the other files".to_string()
        });
    }

    let (mut config, explain) = fields::decide(&candidates);
    warnings.extend(licence_conflicts(&explain));
    let layers = if opts.digests {
        plan::layers(&files, opts.layer_format)?
    } else {
        plan::outline(&files, opts.layer_format)?
    };
    let diff_ids: Vec<&str> = layers.iter().map(|l| l.diff_id.as_str()).collect();
    config.as_object_mut().expect("config is an object").insert(
        "modelfs".into(),
        serde_json::json!({"type": "layers", "diffIds": diff_ids}),
    );
    check(&config, &explain, opts.strict, &mut warnings)?;
    for e in &explain {
        if let Some(n) = &e.note {
            notes.push(format!("{}: {n}", e.field));
        }
    }
    notes.sort();
    notes.dedup();
    let reports = read
        .iter()
        .map(|(_, r)| *r)
        .chain(failed)
        .cloned()
        .collect();
    Ok(Generated {
        root: walked.root,
        files,
        layers,
        config,
        explain,
        notes,
        classes,
        missing,
        unreadable,
        warnings,
        reports,
        weight_parameters,
        weight_copies,
        lineage,
    })
}

/// `pack model.gguf`: one file as the whole model, its folder as the root (nothing else of the
/// folder is looked at).
fn single_file(path: &Path) -> Result<walk::Walked> {
    let abs = path
        .canonicalize()
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let meta = std::fs::metadata(&abs).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let root = abs
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("/"));
    let rel = abs
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    #[cfg(unix)]
    let mode = std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777;
    #[cfg(not(unix))]
    let mode = 0o644;
    Ok(walk::Walked {
        confine: root.clone(),
        entries: vec![walk::Entry {
            rel,
            path: path.to_path_buf(),
            abs,
            size: meta.len(),
            mode,
        }],
        root,
        warnings: Vec::new(),
    })
}

/// `root/sub` for a locate plugin's `model-root` answer: relative, no `..`, a directory
/// inside `root` after links are resolved.
fn confined_subdir(root: &Path, sub: &str) -> std::result::Result<PathBuf, String> {
    let bad = sub.is_empty()
        || sub.starts_with('/')
        || sub.contains('\\')
        || sub
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..");
    if bad {
        return Err(format!(
            "located the model at {sub:?}, which is not a path inside the directory"
        ));
    }
    let path = root.join(sub);
    let canon = path
        .canonicalize()
        .map_err(|e| format!("located the model at {sub}/, which cannot be opened: {e}"))?;
    if !canon.starts_with(root) || !canon.is_dir() {
        return Err(format!(
            "located the model at {sub}/, which is not a directory inside it"
        ));
    }
    Ok(canon)
}

/// A licence the model card states that another file (LICENSE) contradicts: the card wins by
/// precedence, but a silent choice between two licences is a legal risk, so say so.
fn licence_conflicts(explain: &[FieldExplain]) -> Vec<String> {
    let Some(e) = explain.iter().find(|e| e.field == "descriptor.licenses") else {
        return Vec::new();
    };
    if e.source <= Source::OverrideFile {
        return Vec::new();
    }
    let norm = |v: &Value| -> Vec<String> {
        let mut l: Vec<String> = match v {
            Value::Array(a) => a
                .iter()
                .filter_map(Value::as_str)
                .map(|s| s.to_ascii_lowercase())
                .collect(),
            Value::String(s) => vec![s.to_ascii_lowercase()],
            _ => Vec::new(),
        };
        l.sort();
        l
    };
    let shown = |v: &Value| match v {
        Value::Array(a) => a
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    };
    let won = norm(&e.value);
    e.overridden
        .iter()
        .filter(|c| !c.value.is_null() && !norm(&c.value).is_empty() && norm(&c.value) != won)
        .map(|c| {
            format!(
                "licence conflict: {} says {}, but {} says {}; using {} (choose with --set licenses=…)",
                e.from,
                shown(&e.value),
                c.from,
                shown(&c.value),
                shown(&e.value)
            )
        })
        .collect()
}

/// `--config-override`, `--created`, `--name`, `--set`, `SOURCE_DATE_EPOCH`.
fn user_candidates(opts: &GenerateOptions, out: &mut Vec<Candidate>) -> Result<()> {
    if let Some(path) = &opts.override_file {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("{shown}: {e}"))?;
        let v: Value =
            serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{shown}: not JSON: {e}"))?;
        out.extend(fields::parse_override(&v, &shown)?);
    }
    if let Some(epoch) = &opts.source_date_epoch {
        let secs: u64 = epoch
            .trim()
            .parse()
            .map_err(|_| anyhow::anyhow!("SOURCE_DATE_EPOCH={epoch:?}: not a number of seconds"))?;
        let t = crate::validate::datetime::from_unix(secs)
            .ok_or_else(|| anyhow::anyhow!("SOURCE_DATE_EPOCH={epoch}: out of range"))?;
        out.push(Candidate {
            field: "descriptor.createdAt",
            value: Value::String(t),
            source: Source::Environment,
            from: format!("SOURCE_DATE_EPOCH={epoch}"),
            note: None,
        });
    }
    if let Some(c) = &opts.created {
        crate::validate::datetime::check(c).map_err(|e| anyhow::anyhow!("--created: {e}"))?;
        out.push(Candidate {
            field: "descriptor.createdAt",
            value: Value::String(c.clone()),
            source: Source::Flag,
            from: "--created".into(),
            note: None,
        });
    }
    if let Some(n) = &opts.name {
        out.push(Candidate {
            field: "descriptor.name",
            value: Value::String(n.clone()),
            source: Source::Flag,
            from: "--name".into(),
            note: None,
        });
    }
    for s in &opts.sets {
        out.push(fields::parse_set(s)?);
    }
    Ok(())
}

/// Refuses an invalid config, naming the field, the reason and where the value came from.
/// Schema errors and generate's own paramSize/precision rules refuse; the other strict rules
/// (SPDX, ISO 639-1) only warn, since users may set such values on purpose.
fn check(
    config: &Value,
    explain: &[FieldExplain],
    strict: bool,
    warnings: &mut Vec<String>,
) -> Result<()> {
    let mut errors = Vec::new();
    let origin = |pointer: &str| {
        explain
            .iter()
            .find(|e| pointer.starts_with(&format!("/{}", e.field.replace('.', "/"))))
            .map(|e| format!(" [from {}]", e.from))
            .unwrap_or_default()
    };
    for p in validate_config(config, false) {
        if p.level == Level::Error {
            errors.push(format!("{}{}", p, origin(&p.pointer)));
        }
    }
    let text = |ptr: &str| config.pointer(ptr).and_then(Value::as_str);
    if let Some(s) = text("/config/paramSize")
        && let Err(e) = rules::param_size(s)
    {
        errors.push(format!(
            "/config/paramSize: {e}{}",
            origin("/config/paramSize")
        ));
    }
    if let Some(s) = text("/config/precision")
        && let Err(e) = rules::precision(s)
    {
        // The spec's list is open ("supported values include"): a value outside it is a
        // warning unless --strict, while a malformed list is always refused.
        if !strict && e.contains("not a precision the spec allows") {
            warnings.push(format!(
                "/config/precision: {e}{} (kept; --strict refuses it)",
                origin("/config/precision")
            ));
        } else {
            errors.push(format!(
                "/config/precision: {e}{}",
                origin("/config/precision")
            ));
        }
    }
    if !errors.is_empty() {
        bail!("refusing to write an invalid config: {}", errors.join("; "));
    }
    for p in crate::validate::config::strict_problems(config) {
        if !matches!(p.keyword.as_str(), "paramSize" | "precision") {
            warnings.push(format!("config {p}"));
        }
    }
    Ok(())
}
