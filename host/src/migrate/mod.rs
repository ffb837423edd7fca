//! `convert SOURCE`: foreign artifacts (KitOps ModelKits, Ollama models, Docker model
//! artifacts, legacy `vnd.cnai` ModelPack) into ModelPack, blobs reused.
//!
//! The host knows OCI and ModelPack only. It reads the source ([`source`]), asks every
//! converter plugin (bundled or `--plugin`, the same way) whether it knows the artifact, lets
//! the most confident one plan in its sandbox, fetches the artifacts the plan `needs` from the
//! same source and plans again (at most [`MAX_ROUNDS`] rounds, a reference asked for twice is a
//! loop), checks the plan ([`plan`]), decides the config with the format plugins' reading of
//! the weight blobs ([`config`]) and writes the layout ([`write`]). Rules of each format:
//! docs/converters.md.

pub mod config;
pub mod plan;
pub mod source;
pub mod write;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use anyhow::{Result, bail};
use serde::Serialize;
use serde_json::Value;

use crate::generate::fields::{Candidate, FieldExplain, Source};
use crate::oci::Digest;
use crate::oci::blob::Placed;
use crate::plugin::PluginSet;
use crate::plugin::info::Kind;
use crate::plugin::runtime::{Loaded, ac};
use source::{Artifact, LayerDesc, SourceSpec, Store};

/// Most plan rounds (KitOps' own `MaxModelRefChain` is 10 parents).
pub const MAX_ROUNDS: usize = 11;
/// Largest layer inlined for the plugin, and the most bytes inlined in all.
const INLINE_MAX: u64 = 1 << 20;
const INLINE_TOTAL: u64 = 8 << 20;

/// What to convert, and where to.
#[derive(Debug, Clone)]
pub struct Request {
    /// The source.
    pub source: SourceSpec,
    /// Output layout and tag, link or copy.
    pub write: write::WriteOptions,
}

/// One layer written.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LayerOut {
    /// `org.cncf.model.filepath`.
    pub path: String,
    /// ModelPack media type.
    pub media_type: String,
    /// The digest (the source's).
    pub digest: String,
    /// Bytes.
    pub size: u64,
    /// `reflinked`, `hardlinked` or `copied`.
    pub placed: String,
}

/// What `convert` did.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    /// The source as read.
    pub source: String,
    /// The converter plugin (`name@version`).
    pub converter: String,
    /// Artifacts the converter asked for and the host fetched.
    pub referenced: Vec<String>,
    /// The output layout.
    pub output: String,
    /// Its tag.
    pub tag: String,
    /// The new manifest's digest.
    pub manifest: String,
    /// Layers written.
    pub layers: Vec<LayerOut>,
    /// Source layers the plan left out.
    pub dropped: usize,
    /// Bytes read from blobs (only copies and decompression for diffIds read any).
    pub bytes_read: u64,
    /// Raw weight layers a format plugin read.
    pub inspected: usize,
    /// The converter's findings, one line each.
    pub findings: Vec<String>,
    /// Candidates dropped, unreadable weights.
    pub warnings: Vec<String>,
    /// The config written.
    pub config: Value,
    /// How each field was decided.
    pub explain: Vec<FieldExplain>,
}

/// Whether any converter plugin is installed.
fn converters(plugins: &PluginSet) -> Vec<&crate::plugin::Entry> {
    plugins
        .entries()
        .iter()
        .filter(|e| e.info.kind == Kind::Converter)
        .collect()
}

/// The most confident converter, loaded.
fn choose(plugins: &PluginSet, a: &Artifact, log: &dyn Fn(&str)) -> Result<(String, Arc<Loaded>)> {
    let layer_types: Vec<String> = a.layers.iter().map(|l| l.media_type.clone()).collect();
    let mut best: Option<(f32, String, Arc<Loaded>)> = None;
    let all = converters(plugins);
    for e in &all {
        let loaded = match plugins.load(e) {
            Ok(l) => l,
            Err(msg) => {
                log(&format!("converter {}: {msg}", e.info.name));
                continue;
            }
        };
        let score = match loaded.detect_artifact(
            plugins.runtime(),
            &a.media_type,
            &a.artifact_type,
            &a.config_media_type,
            &layer_types,
        ) {
            Ok(s) => s,
            Err(f) => {
                log(&format!(
                    "converter {}: detect failed: {}",
                    e.info.name, f.message
                ));
                continue;
            }
        };
        log(&format!("converter {}: detect {score}", e.info.name));
        if score > 0.0 && best.as_ref().is_none_or(|(b, _, _)| score > *b) {
            best = Some((score, format!("{}@{}", e.info.name, e.info.version), loaded));
        }
    }
    match best {
        Some((_, name, l)) => Ok((name, l)),
        // The ModelPack types are the host's own vocabulary: say so rather than blame the
        // converters for not knowing the target format.
        None if a.artifact_type == crate::model::ARTIFACT_TYPE
            || a.config_media_type == crate::model::CONFIG_MEDIA_TYPE =>
        {
            bail!(
                "{}: already a ModelPack artifact (config {:?}): nothing to convert; `modelpack pull` fetches it and `modelpack validate` checks it",
                a.reference,
                a.config_media_type
            )
        }
        None => bail!(
            "{}: no converter plugin recognises this artifact (manifest {:?}, config {:?}); converters: {}",
            a.reference,
            a.media_type,
            a.config_media_type,
            all.iter()
                .map(|e| e.info.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The artifact as a plugin sees it: manifest and config text, small blobs inlined.
fn foreign(store: &Store, a: &Artifact, referenced: &[Artifact]) -> Result<ac::ForeignArtifact> {
    let mut small: Vec<&LayerDesc> = a.layers.iter().filter(|l| l.size <= INLINE_MAX).collect();
    small.sort_by_key(|l| l.size);
    let mut inline = Vec::new();
    let mut total = 0;
    for l in small {
        if total + l.size > INLINE_TOTAL || inline.iter().any(|(d, _)| *d == l.digest.to_string()) {
            continue;
        }
        total += l.size;
        inline.push((
            l.digest.to_string(),
            store.read_verified(&l.digest, l.size, INLINE_MAX)?,
        ));
    }
    let text = |b: &[u8]| String::from_utf8(b.to_vec()).unwrap_or_default();
    Ok(ac::ForeignArtifact {
        reference: a.reference.clone(),
        manifest: text(&a.manifest_bytes),
        media_type: a.media_type.clone(),
        config: text(&a.config),
        inline_blobs: inline,
        referenced: referenced
            .iter()
            .map(|r| ac::ForeignArtifactRef {
                reference: r.reference.clone(),
                manifest: text(&r.manifest_bytes),
                config: text(&r.config),
            })
            .collect(),
    })
}

fn finding_line(f: &ac::Finding) -> String {
    use crate::plugin::runtime::bindings::converter::modelpack::plugin::types::Severity;
    let sev = match f.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "info",
    };
    format!("{sev}: {} ({})", f.message, f.id)
}

/// `createdAt` from `SOURCE_DATE_EPOCH` or the source manifest's
/// `org.opencontainers.image.created`; none otherwise, so converting twice gives one digest.
fn created(a: &Artifact) -> Result<Option<Candidate>> {
    if let Some(epoch) = std::env::var_os("SOURCE_DATE_EPOCH") {
        let s = epoch.to_string_lossy();
        let secs: u64 = s
            .trim()
            .parse()
            .map_err(|_| anyhow::anyhow!("SOURCE_DATE_EPOCH={s:?}: not a number of seconds"))?;
        let t = crate::validate::datetime::from_unix(secs)
            .ok_or_else(|| anyhow::anyhow!("SOURCE_DATE_EPOCH={s}: out of range"))?;
        return Ok(Some(Candidate {
            field: "descriptor.createdAt",
            value: Value::String(t),
            source: Source::Environment,
            from: format!("SOURCE_DATE_EPOCH={s}"),
            note: None,
        }));
    }
    let m: Value = serde_json::from_slice(&a.manifest_bytes)?;
    Ok(m.pointer("/annotations/org.opencontainers.image.created")
        .and_then(Value::as_str)
        .filter(|t| crate::validate::datetime::check(t).is_ok())
        .map(|t| Candidate {
            field: "descriptor.createdAt",
            value: Value::String(t.to_string()),
            source: Source::HfFiles,
            from: "source manifest: org.opencontainers.image.created".into(),
            note: None,
        }))
}

/// Converts the source into a new layout.
pub fn convert(plugins: &PluginSet, req: &Request, log: &dyn Fn(&str)) -> Result<Outcome> {
    let (store, artifact) = source::open(&req.source)?;
    let (converter, loaded) = choose(plugins, &artifact, log)?;
    let mut referenced: Vec<Artifact> = Vec::new();
    let mut plan = None;
    for _ in 0..MAX_ROUNDS {
        let fa = foreign(&store, &artifact, &referenced)?;
        let called = loaded.plan_artifact(plugins.runtime(), &fa).map_err(|f| {
            anyhow::anyhow!(
                "{}: converter {converter}: {}",
                artifact.reference,
                f.message
            )
        })?;
        if !called.output.is_empty() {
            log(&format!(
                "[{converter} output]: {}",
                called.output.trim_end()
            ));
        }
        let p = called
            .value
            .map_err(|e| anyhow::anyhow!("{}: {converter}: {e}", artifact.reference))?;
        if p.needs.is_empty() {
            plan = Some(p);
            break;
        }
        for need in &p.needs {
            if need == &artifact.reference || referenced.iter().any(|r| &r.reference == need) {
                bail!(
                    "{}: converter {converter} asked for {need} again: a reference loop",
                    artifact.reference
                );
            }
            let Some(r) = source::resolve(&req.source, &store, need)? else {
                bail!(
                    "{}: converter {converter} needs {need}, which the source does not hold (put it in the same layout, tagged {need} or with its tag)",
                    artifact.reference
                );
            };
            log(&format!("resolved {need} in the source"));
            referenced.push(r);
        }
    }
    let Some(plan) = plan else {
        bail!(
            "{}: converter {converter} still needed more artifacts after {MAX_ROUNDS} rounds ({} fetched)",
            artifact.reference,
            referenced.len()
        );
    };
    let mut available: HashMap<Digest, LayerDesc> = HashMap::new();
    for l in artifact
        .layers
        .iter()
        .chain(referenced.iter().flat_map(|r| &r.layers))
    {
        available.insert(l.digest, l.clone());
    }
    let checked = plan::check(&converter, &plan, &available)?;
    let dropped = artifact
        .layers
        .iter()
        .filter(|l| !checked.iter().any(|c| c.source.digest == l.digest))
        .count();
    let decided = config::decide(
        plugins,
        &converter,
        &store,
        &checked,
        &plan.candidates,
        created(&artifact)?,
        log,
    )?;
    let annotations: BTreeMap<String, String> = plan.annotations.iter().cloned().collect();
    let written = write::write(&store, &checked, decided.config, &annotations, &req.write)?;
    let layers = written
        .layers
        .iter()
        .map(|l| LayerOut {
            path: l.descriptor.annotations[crate::model::ANNOTATION_FILEPATH].clone(),
            media_type: l.descriptor.media_type.clone(),
            digest: l.descriptor.digest.to_string(),
            size: l.descriptor.size,
            placed: match l.placed {
                Some(Placed::Reflinked) => "reflinked",
                Some(Placed::Hardlinked) => "hardlinked",
                _ => "copied",
            }
            .to_string(),
        })
        .collect();
    Ok(Outcome {
        source: artifact.reference.clone(),
        converter,
        referenced: referenced.iter().map(|r| r.reference.clone()).collect(),
        output: req.write.output.display().to_string(),
        tag: req.write.tag.clone(),
        manifest: written.manifest.digest.to_string(),
        layers,
        dropped,
        bytes_read: written.bytes_read,
        inspected: decided.inspected,
        findings: plan.findings.iter().map(finding_line).collect(),
        warnings: decided.warnings,
        config: written.config,
        explain: decided.explain,
    })
}
