//! Runs the convention plugins over a model directory and turns their answers into field
//! candidates, missing files, layer hints, warnings and notes.
//!
//! The host knows no convention: it lists the directory, summarises the format plugins'
//! reports, lets each convention plugin open the listed files it asks for, and checks what
//! comes back against the spec (field names, value types, RFC 3339 times, the `paramSize`
//! grammar). Plugins run in name order; within a source class, earlier candidates win, so
//! ties between plugins go to the first by name. A plugin that fails (trap, deadline, memory
//! cap, oversized answer, `err`) costs its own answer and a warning, nothing else.
//!
//! *Locate* plugins (a `file-names` pattern ending in `/`, such as the Hugging Face cache's
//! `snapshots/`) are asked first, before any weight is read, where the model lives
//! ([`locate`]); the host follows a `model-root` answer one hop, confined to the directory.
//! Their candidates come before every other convention's.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::Value;

use super::MissingFile;
use super::fields::{self, Candidate, FieldType, Source};
use super::walk::Entry;
use crate::inspect::FileReport;
use crate::inspect::report::LineageOut;
use crate::model::LayerKind;
use crate::plugin::blob::ModelDir;
use crate::plugin::convention::ch;
use crate::plugin::runtime::ft::{self, Severity};
use crate::plugin::{Kind, PluginSet};

/// A quantisation a convention declares for the weights.
#[derive(Debug, Clone)]
pub struct Declared {
    /// The `config.quantization` value (`gptq`, `bitsandbytes-nf4`).
    pub method: String,
    /// Bits per quantised weight, when declared.
    pub bits: Option<u32>,
    /// Weights are packed into container dtypes.
    pub packed: bool,
}

/// A convention plugin's layer-kind opinion about a file.
#[derive(Debug, Clone)]
pub struct Hint {
    /// `None`: leave the file out.
    pub kind: Option<LayerKind>,
    /// Why, with the plugin's name.
    pub reason: String,
}

/// Everything the convention plugins said.
#[derive(Debug, Default)]
pub struct ConventionFacts {
    /// Field candidates, checked, in plugin order.
    pub candidates: Vec<Candidate>,
    /// Files the conventions say the model needs but the directory lacks.
    pub missing: Vec<MissingFile>,
    /// Layer hints by path (the first plugin's hint wins).
    pub hints: BTreeMap<String, Hint>,
    /// The first declared quantisation.
    pub quantization: Option<Declared>,
    /// Problems to show.
    pub warnings: Vec<String>,
    /// `--explain` notes.
    pub notes: Vec<String>,
    /// Plugins that gave no answer (load error, trap, deadline, memory or result cap, `err`),
    /// one line each; `generate` exits 1 as for an unreadable file.
    pub failures: Vec<String>,
    /// Base models and data sets the conventions' files name, with their file.
    pub lineage: Vec<LineageOut>,
    /// Locate call: where the model lives, relative to the directory given (the first
    /// answer), and the plugin that said so.
    pub model_root: Option<(String, String)>,
    /// Locate call: `error` findings, which stop the run (the user named part of a layout).
    pub errors: Vec<String>,
}

/// `file: key`, as `--explain` shows an origin.
fn origin_text(o: &ft::Origin, plugin: &str) -> String {
    match (&o.file, &o.key) {
        (Some(f), Some(k)) => format!("{f}: {k}"),
        (Some(f), None) => f.clone(),
        (None, Some(k)) => k.clone(),
        (None, None) => format!("plugin {plugin}"),
    }
}

fn layer_kind(k: ft::FileKind) -> Option<LayerKind> {
    Some(match k {
        ft::FileKind::Weight => LayerKind::Weight,
        ft::FileKind::WeightConfig => LayerKind::WeightConfig,
        ft::FileKind::Doc => LayerKind::Doc,
        ft::FileKind::Code => LayerKind::Code,
        ft::FileKind::Dataset => LayerKind::Dataset,
        ft::FileKind::Ignore => return None,
    })
}

/// The listing, the weight summaries and the known-missing files, as plugins see them.
fn input(
    root_names: &[String],
    entries: &[Entry],
    read: &[(String, &FileReport)],
    missing: &[MissingFile],
) -> ch::ConventionInput {
    let mut listing: BTreeMap<String, ch::DirEntry> = BTreeMap::new();
    for e in entries {
        // Directories are implied by the files' paths.
        let mut dir = e.rel.as_str();
        while let Some((parent, _)) = dir.rsplit_once('/') {
            listing
                .entry(parent.to_string())
                .or_insert_with(|| ch::DirEntry {
                    path: parent.to_string(),
                    kind: ch::EntryKind::Dir,
                    size: 0,
                });
            dir = parent;
        }
        let link = std::fs::symlink_metadata(&e.path).is_ok_and(|m| m.file_type().is_symlink());
        listing.insert(
            e.rel.clone(),
            ch::DirEntry {
                path: e.rel.clone(),
                kind: if link {
                    ch::EntryKind::Symlink
                } else {
                    ch::EntryKind::File
                },
                size: e.size,
            },
        );
    }
    ch::ConventionInput {
        root_names: root_names.to_vec(),
        locate: false,
        entries: listing.into_values().collect(),
        weights: read
            .iter()
            .map(|(rel, r)| ch::WeightSummary {
                path: rel.clone(),
                format: r.format.clone().unwrap_or_default(),
                tensor_count: r.tensor_count,
                parameter_count: r.parameter_count,
                dtypes: r.dtypes.iter().map(|(k, v)| (k.clone(), *v)).collect(),
                covers: r.covers.clone(),
            })
            .collect(),
        missing: missing
            .iter()
            .map(|m| ch::MissingFile {
                path: m.path.clone(),
                reason: m.reason.clone(),
                lfs_size: m.lfs_size,
            })
            .collect(),
    }
}

/// The last (at most four) names of the model root's canonical path, outermost first: what
/// a locate plugin may learn of where the directory is.
pub fn root_names(root: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = root
        .components()
        .filter_map(|c| match c {
            std::path::Component::Normal(n) => Some(n.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    let skip = names.len().saturating_sub(4);
    names.drain(..skip);
    names
}

/// A plugin with a directory pattern (`snapshots/`) answers only the locate call.
fn is_locator(info: &crate::plugin::PluginInfo) -> bool {
    info.file_names.iter().any(|p| p.ends_with('/'))
}

/// The convention plugins, by name.
fn conventions(plugins: &PluginSet) -> Vec<&crate::plugin::Entry> {
    let mut conv: Vec<_> = plugins
        .entries()
        .iter()
        .filter(|e| e.info.kind == Kind::Convention)
        .collect();
    conv.sort_by(|a, b| a.info.name.cmp(&b.info.name));
    conv
}

/// Asks the locate plugins that apply (a directory pattern matching a directory at the root
/// or one of `root_names`) where the model lives, before anything is read.
pub fn locate(
    plugins: &PluginSet,
    confine: &Arc<PathBuf>,
    entries: &[Entry],
    root_names: &[String],
) -> ConventionFacts {
    let mut out = ConventionFacts::default();
    let dirs: std::collections::BTreeSet<String> = entries
        .iter()
        .filter_map(|e| e.rel.split_once('/').map(|(d, _)| d.to_ascii_lowercase()))
        .collect();
    let names: Vec<String> = root_names.iter().map(|n| n.to_ascii_lowercase()).collect();
    let conv: Vec<_> = conventions(plugins)
        .into_iter()
        .filter(|e| {
            e.info.file_names.iter().any(|p| {
                p.strip_suffix('/').is_some_and(|d| {
                    let d = d.to_ascii_lowercase();
                    dirs.iter()
                        .chain(&names)
                        .any(|n| crate::plugin::info::glob_match(&d, n))
                })
            })
        })
        .collect();
    if conv.is_empty() {
        return out;
    }
    let mut input = input(root_names, entries, &[], &[]);
    input.locate = true;
    call_all(plugins, &conv, confine, entries, &input, &mut out);
    out
}

/// Runs every applicable convention plugin (not the locate plugins: their locate answer is
/// their answer), adding to what the locate call found.
pub fn run(
    plugins: &PluginSet,
    confine: &Arc<PathBuf>,
    entries: &[Entry],
    read: &[(String, &FileReport)],
    missing: &[MissingFile],
    located: ConventionFacts,
) -> ConventionFacts {
    let mut out = located;
    // A convention applies when a file of its names is anywhere in the listing: its files
    // sit in subfolders too (a diffusers pipeline's `tokenizer/merges.txt`), and it hints them.
    let names: std::collections::BTreeSet<&str> = entries
        .iter()
        .map(|e| e.rel.rsplit('/').next().unwrap_or(&e.rel))
        .collect();
    let conv: Vec<_> = conventions(plugins)
        .into_iter()
        .filter(|e| !is_locator(&e.info))
        .filter(|e| e.info.file_names.is_empty() || names.iter().any(|n| e.info.claims(n, &[])))
        .collect();
    if conv.is_empty() {
        return out;
    }
    // Where the directory is is none of a describing plugin's business: no root names.
    let input = input(&[], entries, read, missing);
    call_all(plugins, &conv, confine, entries, &input, &mut out);
    out
}

/// Calls each plugin of `conv` with `input` and adds its answer to `out`.
fn call_all(
    plugins: &PluginSet,
    conv: &[&crate::plugin::Entry],
    confine: &Arc<PathBuf>,
    entries: &[Entry],
    input: &ch::ConventionInput,
    out: &mut ConventionFacts,
) {
    let files: Arc<BTreeMap<String, PathBuf>> = Arc::new(
        entries
            .iter()
            .map(|e| (e.rel.clone(), e.path.clone()))
            .collect(),
    );
    let rt = plugins.runtime();
    for entry in conv {
        let name = &entry.info.name;
        let loaded = match plugins.load(entry) {
            Ok(l) => l,
            Err(e) => {
                out.failures.push(format!("convention plugin {name}: {e}"));
                continue;
            }
        };
        let dir = ModelDir {
            files: files.clone(),
            root: confine.clone(),
        };
        let report = match loaded.run_convention(rt, dir, input) {
            Ok(c) => {
                if !c.output.trim().is_empty() {
                    (rt.log)(&format!("plugin {name} printed: {}", c.output.trim_end()));
                }
                match c.value {
                    Ok(r) => r,
                    Err(e) => {
                        out.failures.push(format!("plugin {name} failed: {e}"));
                        continue;
                    }
                }
            }
            Err(f) => {
                out.failures.push(f.message);
                continue;
            }
        };
        absorb(name, report, input.locate, out);
    }
}

/// Checks one plugin's answer and adds it.
fn absorb(plugin: &str, r: ch::ConventionReport, locate: bool, out: &mut ConventionFacts) {
    for c in r.candidates {
        let from = origin_text(&c.origin, plugin);
        match candidate(&c) {
            Ok(Some(cand)) => out.candidates.push(Candidate { from, ..cand }),
            Ok(None) => {}
            Err(Reject::Bug(why)) => out
                .warnings
                .push(format!("plugin {plugin}: {from}: {why}; ignored")),
            Err(Reject::Value(why)) => out.warnings.push(format!("{from}: {why}; ignored")),
        }
    }
    for f in r.findings {
        match f.severity {
            Severity::Info => out.notes.push(f.message),
            Severity::Error if locate => out.errors.push(f.message),
            _ => out.warnings.push(f.message),
        }
    }
    out.lineage.extend(r.lineage.into_iter().map(|l| {
        let mut l = LineageOut::from_wit(l);
        // Where a format plugin leaves the file out, the host fills it in; a convention names it.
        if l.file.is_none() {
            l.file = Some(format!("plugin {plugin}"));
        }
        l
    }));
    for m in r.missing {
        if !out.missing.iter().any(|x| x.path == m.path) {
            out.missing.push(MissingFile {
                path: m.path,
                reason: m.reason,
                lfs_oid: None,
                lfs_size: m.lfs_size,
            });
        }
    }
    for h in r.hints {
        out.hints.entry(h.path).or_insert(Hint {
            kind: layer_kind(h.kind),
            reason: format!("{} ({plugin})", h.reason),
        });
    }
    for p in r.ignored {
        out.hints.entry(p).or_insert(Hint {
            kind: None,
            reason: format!("not part of the model ({plugin})"),
        });
    }
    if locate && out.model_root.is_none() {
        out.model_root = r.model_root.map(|p| (p, plugin.to_string()));
    }
    if out.quantization.is_none()
        && let Some(q) = r.quantization
    {
        out.quantization = Some(Declared {
            method: q.method,
            bits: q.bits.map(u32::from),
            packed: r.packed_weights,
        });
    }
}

/// Why a candidate was refused.
#[derive(Debug, PartialEq)]
enum Reject {
    /// The plugin broke the contract (no such field, not JSON, wrong type).
    Bug(String),
    /// The file's value does not fit the spec (a date that is no RFC 3339 time).
    Value(String),
}

/// One plugin candidate as a host candidate: `Ok(None)` when it is dropped on purpose.
fn candidate(c: &ft::FieldCandidate) -> Result<Option<Candidate>, Reject> {
    let dotted = c
        .field
        .strip_prefix('/')
        .map(|p| p.replace('/', "."))
        .ok_or_else(|| Reject::Bug(format!("field {:?} is not a JSON pointer", c.field)))?;
    let Some(&(field, ty)) = fields::FIELDS.iter().find(|(p, _)| *p == dotted) else {
        return Err(Reject::Bug(format!(
            "{} is not a settable ModelPack config field",
            c.field
        )));
    };
    let mut value: Value = serde_json::from_str(&c.value)
        .map_err(|e| Reject::Bug(format!("{}: value is not JSON: {e}", c.field)))?;
    if field == "config.paramSize"
        && let Some(n) = value.as_u64()
    {
        match super::weights::param_size(n) {
            Some(s) => value = Value::String(s),
            None => return Ok(None),
        }
    }
    let fits = match ty {
        _ if value.is_null() => true,
        FieldType::Text => value.is_string(),
        FieldType::Bool => value.is_boolean(),
        FieldType::List => value
            .as_array()
            .is_some_and(|a| a.iter().all(Value::is_string)),
    };
    if !fits {
        return Err(Reject::Bug(format!("{} cannot be {value}", c.field)));
    }
    if field == "descriptor.createdAt"
        && let Some(t) = value.as_str()
    {
        crate::validate::datetime::check(t).map_err(Reject::Value)?;
    }
    Ok(Some(Candidate {
        field,
        value,
        source: match c.source {
            ft::SourceClass::ConventionFiles => Source::HfFiles,
            ft::SourceClass::WeightHeaders => Source::WeightHeaders,
            ft::SourceClass::Heuristic => Source::Heuristic,
        },
        from: String::new(),
        note: c.note.clone(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(field: &str, value: &str) -> ft::FieldCandidate {
        ft::FieldCandidate {
            field: field.into(),
            value: value.into(),
            source: ft::SourceClass::ConventionFiles,
            origin: ft::Origin {
                file: Some("config.json".into()),
                key: Some("k".into()),
            },
            note: None,
        }
    }

    #[test]
    fn candidates_are_checked_against_the_spec() {
        let ok = candidate(&cand("/config/paramSize", "7241732096"))
            .unwrap()
            .unwrap();
        assert_eq!(
            (ok.field, ok.value),
            ("config.paramSize", Value::from("7.2B"))
        );
        let ok = candidate(&cand("/config/capabilities/languages", r#"["en"]"#))
            .unwrap()
            .unwrap();
        assert_eq!(ok.field, "config.capabilities.languages");
        assert_eq!(
            candidate(&cand("/modelfs/type", r#""x""#)).unwrap_err(),
            Reject::Bug("/modelfs/type is not a settable ModelPack config field".into())
        );
        assert_eq!(
            candidate(&cand("/descriptor/licenses", r#""MIT""#)).unwrap_err(),
            Reject::Bug("/descriptor/licenses cannot be \"MIT\"".into())
        );
        assert!(matches!(
            candidate(&cand("/descriptor/createdAt", r#""2024-13-01""#)).unwrap_err(),
            Reject::Value(m) if m.contains("RFC 3339")
        ));
        assert!(candidate(&cand("descriptor/name", r#""x""#)).is_err());
        assert!(
            candidate(&cand("/config/paramSize", "3"))
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn origins_read_like_explain() {
        let o = |f: Option<&str>, k: Option<&str>| ft::Origin {
            file: f.map(String::from),
            key: k.map(String::from),
        };
        assert_eq!(
            origin_text(&o(Some("config.json"), Some("model_type")), "p"),
            "config.json: model_type"
        );
        assert_eq!(origin_text(&o(Some("LICENSE"), None), "p"), "LICENSE");
        assert_eq!(
            origin_text(&o(None, Some("Git LFS pointer sizes")), "p"),
            "Git LFS pointer sizes"
        );
        assert_eq!(origin_text(&o(None, None), "p"), "plugin p");
    }
}
