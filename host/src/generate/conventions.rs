//! Runs the convention plugins over a model directory and turns their answers into field
//! candidates, missing files, layer hints, warnings and notes.
//!
//! The host knows no convention: it lists the directory, summarises the format plugins'
//! reports, lets each convention plugin open the listed files it asks for, and checks what
//! comes back against the spec (field names, value types, RFC 3339 times, the `paramSize`
//! grammar). Plugins run in name order; within a source class, earlier candidates win, so
//! ties between plugins go to the first by name. A plugin that fails (trap, deadline, memory
//! cap, oversized answer, `err`) costs its own answer and a warning, nothing else.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::Value;

use super::MissingFile;
use super::fields::{self, Candidate, FieldType, Source};
use super::walk::Entry;
use crate::inspect::FileReport;
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

/// Runs every applicable convention plugin.
pub fn run(
    plugins: &PluginSet,
    confine: &Arc<PathBuf>,
    entries: &[Entry],
    read: &[(String, &FileReport)],
    missing: &[MissingFile],
) -> ConventionFacts {
    let mut out = ConventionFacts::default();
    let mut conv: Vec<_> = plugins
        .entries()
        .iter()
        .filter(|e| e.info.kind == Kind::Convention)
        .collect();
    conv.sort_by(|a, b| a.info.name.cmp(&b.info.name));
    let roots: Vec<&str> = entries
        .iter()
        .filter(|e| !e.rel.contains('/'))
        .map(|e| e.rel.as_str())
        .collect();
    let conv: Vec<_> = conv
        .into_iter()
        .filter(|e| e.info.file_names.is_empty() || roots.iter().any(|n| e.info.claims(n, &[])))
        .collect();
    if conv.is_empty() {
        return out;
    }
    let input = input(entries, read, missing);
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
        let report = match loaded.run_convention(rt, dir, &input) {
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
        absorb(name, report, &mut out);
    }
    out
}

/// Checks one plugin's answer and adds it.
fn absorb(plugin: &str, r: ch::ConventionReport, out: &mut ConventionFacts) {
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
            _ => out.warnings.push(f.message),
        }
    }
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
    if let Some(root) = r.model_root {
        out.warnings.push(format!(
            "convention plugin {plugin} says the model is in {root}/; run generate on that directory"
        ));
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
