//! `pack`: classified files and a config in, an OCI image layout out.
//!
//! Atomicity: a new layout is built in a locked staging directory beside the target
//! (`staging`) and renamed into place. Adding to an existing layout builds the new blobs the
//! same way, then moves the blobs the layout lacks in and replaces `index.json` under the
//! layout lock, with a journal so a writer killed midway is rolled back by the next one
//! (`append`). A failed or interrupted pack leaves no target, no temp files and no parent
//! directories it created.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use super::append::commit_append;
use super::blob::{BlobDir, LinkMode};
use super::layers::{self, BuiltLayer, LayerSettings, Sink};
use super::layout::{self, INDEX_FILE, Layout, MAX_MANIFEST_SIZE, OCI_LAYOUT_FILE};
use super::progress::Progress;
use super::staging::Staging;
use super::{Descriptor, canonical_json};
use crate::model::{
    ARTIFACT_TYPE, CONFIG_MEDIA_TYPE, LayerFormat, MANIFEST_MEDIA_TYPE, PlannedFile,
};

/// How to pack.
#[derive(Debug, Clone)]
pub struct PackOptions {
    /// The layout directory (created, or appended to when it is already a layout).
    pub output: PathBuf,
    /// The tag (`org.opencontainers.image.ref.name`).
    pub tag: String,
    /// Encoding of the non-weight layers (weights are always raw).
    pub layer_format: LayerFormat,
    /// How raw files get into `blobs/`.
    pub link: LinkMode,
    /// Reproducibility settings (mtime).
    pub settings: LayerSettings,
    /// Worker threads.
    pub jobs: usize,
    /// Progress bars on stderr (only drawn when it is a terminal).
    pub progress: bool,
}

impl PackOptions {
    /// Defaults: tag `latest`, raw layers, link auto, mtime from `SOURCE_DATE_EPOCH`, one job
    /// per core, no progress bars.
    pub fn new(output: impl Into<PathBuf>) -> Result<PackOptions> {
        Ok(PackOptions {
            output: output.into(),
            tag: layout::DEFAULT_TAG.to_string(),
            layer_format: LayerFormat::Raw,
            link: LinkMode::Auto,
            settings: LayerSettings::from_env()?,
            jobs: super::pool::default_jobs(),
            progress: false,
        })
    }
}

/// What `pack` wrote.
#[derive(Debug, Clone)]
pub struct PackOutcome {
    /// The layout directory.
    pub layout: PathBuf,
    /// The tag.
    pub tag: String,
    /// The manifest descriptor as listed in `index.json` (without the tag annotation).
    pub manifest: Descriptor,
    /// The config descriptor.
    pub config: Descriptor,
    /// The config as stored, with `modelfs.diffIds` filled in.
    pub config_json: Value,
    /// Layers in manifest order.
    pub layers: Vec<BuiltLayer>,
    /// Whether the manifest was added to a layout that existed.
    pub appended: bool,
    /// Digest of the manifest that had the same tag before, now untagged.
    pub replaced: Option<String>,
}

/// Fills `modelfs` in a config: `type: layers` and `diffIds` in layer order.
pub fn with_diff_ids(mut config: Value, layers: &[BuiltLayer]) -> Result<Value> {
    let Some(obj) = config.as_object_mut() else {
        bail!("the config must be a JSON object");
    };
    let modelfs = obj.entry("modelfs").or_insert_with(|| json!({}));
    let Some(modelfs) = modelfs.as_object_mut() else {
        bail!("config modelfs must be a JSON object");
    };
    modelfs.insert("type".into(), json!("layers"));
    modelfs.insert(
        "diffIds".into(),
        Value::Array(
            layers
                .iter()
                .map(|l| json!(l.diff_id.to_string()))
                .collect(),
        ),
    );
    Ok(config)
}

/// The manifest of a ModelPack artifact, as canonical JSON bytes.
pub fn manifest_bytes(config: &Descriptor, layers: &[BuiltLayer]) -> Vec<u8> {
    let layers: Vec<&Descriptor> = layers.iter().map(|l| &l.descriptor).collect();
    canonical_json(&json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "artifactType": ARTIFACT_TYPE,
        "config": config,
        "layers": layers,
    }))
}

enum Target {
    New,
    Append,
}

fn target_state(output: &Path) -> Result<Target> {
    match std::fs::metadata(output) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Target::New),
        Err(e) => Err(e).with_context(|| format!("{}", output.display())),
        Ok(m) if m.is_dir() && layout::is_layout(output) => {
            Layout::open(output)?;
            Ok(Target::Append)
        }
        Ok(m)
            if m.is_dir()
                && !std::fs::symlink_metadata(output)?.is_symlink()
                && std::fs::read_dir(output)?.next().is_none() =>
        {
            Ok(Target::New)
        }
        Ok(_) => bail!(
            "{} exists and is neither an OCI image layout nor an empty directory",
            output.display()
        ),
    }
}

/// The config (with `modelfs.diffIds` filled in) and the manifest of built layers, as the
/// bytes `pack` stores and `pack --push` uploads: one function, so both give the same digests.
pub struct Assembled {
    /// The config as stored.
    pub config_json: Value,
    /// Its canonical bytes.
    pub config_bytes: Vec<u8>,
    /// Its descriptor.
    pub config: Descriptor,
    /// The manifest's canonical bytes.
    pub manifest_bytes: Vec<u8>,
    /// Its descriptor (as listed in `index.json`, without the tag annotation).
    pub manifest: Descriptor,
}

/// Fills in the diffIds, serialises config and manifest, refuses a manifest registries would.
pub fn assemble(config: Value, built: &[BuiltLayer]) -> Result<Assembled> {
    let config_json = with_diff_ids(config, built)?;
    let config_bytes = canonical_json(&config_json);
    let config = Descriptor {
        media_type: CONFIG_MEDIA_TYPE.to_string(),
        artifact_type: None,
        digest: super::digest::Digest::of(&config_bytes),
        size: config_bytes.len() as u64,
        annotations: BTreeMap::new(),
    };
    let manifest_bytes = manifest_bytes(&config, built);
    if manifest_bytes.len() as u64 > MAX_MANIFEST_SIZE {
        bail!(
            "the manifest would be {} bytes, more than registries accept ({MAX_MANIFEST_SIZE}); \
             use --layer-format tar to put the non-weight files in fewer layers",
            manifest_bytes.len()
        );
    }
    let manifest = Descriptor {
        media_type: MANIFEST_MEDIA_TYPE.to_string(),
        artifact_type: Some(ARTIFACT_TYPE.to_string()),
        digest: super::digest::Digest::of(&manifest_bytes),
        size: manifest_bytes.len() as u64,
        annotations: BTreeMap::new(),
    };
    Ok(Assembled {
        config_json,
        config_bytes,
        config,
        manifest_bytes,
        manifest,
    })
}

/// Packs `files` with `config` (whose `modelfs.diffIds` is filled in here) into the layout
/// `opts.output` under `opts.tag`.
pub fn pack(files: &[PlannedFile], config: Value, opts: &PackOptions) -> Result<PackOutcome> {
    pack_checked(files, config, opts, &|_| Ok(()))
}

/// [`pack`], with `check` run on the built layers (their diffIds computed in the one pass
/// that stores them) before anything is committed: a refusal leaves nothing behind.
pub fn pack_checked(
    files: &[PlannedFile],
    config: Value,
    opts: &PackOptions,
    check: &dyn Fn(&[BuiltLayer]) -> Result<()>,
) -> Result<PackOutcome> {
    layout::check_tag(&opts.tag)?;
    let plans = layers::plan_layers(files, opts.layer_format)?;
    if plans.is_empty() {
        bail!("nothing to pack: no files");
    }
    let target = target_state(&opts.output)?;
    if let Ok(out) = opts.output.canonicalize()
        && let Some(f) = files.iter().find(|f| f.abs.starts_with(&out))
    {
        bail!("{} is inside the output layout {}", f.path, out.display());
    }
    let staging = super::staging::beside(&opts.output, "pack")?;
    let blobs = BlobDir::create(staging.path())?;

    let total: u64 = plans.iter().map(|p| p.content_size()).sum();
    let progress = Progress::stderr(opts.progress, "packing", total);
    let built = layers::build_layers(
        &plans,
        &opts.settings,
        Sink::Store(&blobs, opts.link),
        opts.jobs,
        &progress,
    );
    progress.finish();
    let built = built?;
    // Test hook: fail once every layer is stored, to prove a failed pack leaves nothing behind.
    if std::env::var_os("MODELPACK_TEST_FAIL_AFTER_LAYERS").is_some() {
        bail!("injected failure after storing the layers (MODELPACK_TEST_FAIL_AFTER_LAYERS)");
    }
    check(&built)?;

    let a = assemble(config, &built)?;
    let stored = blobs.put_bytes(&a.config_bytes)?;
    debug_assert_eq!(stored, a.config.digest);
    let stored = blobs.put_bytes(&a.manifest_bytes)?;
    debug_assert_eq!(stored, a.manifest.digest);
    let (config_json, config, manifest) = (a.config_json, a.config, a.manifest);

    let mut outcome = PackOutcome {
        layout: opts.output.clone(),
        tag: opts.tag.clone(),
        manifest,
        config,
        config_json,
        layers: built,
        appended: false,
        replaced: None,
    };
    match target {
        Target::New => match commit_new(staging, &opts.output, &outcome.manifest, &opts.tag)? {
            None => {}
            // Someone created a layout there meanwhile: add to it instead.
            Some(staging) => {
                outcome.replaced =
                    commit_append(blobs.dir(), &opts.output, &outcome.manifest, &opts.tag)?;
                drop(staging);
                outcome.appended = true;
            }
        },
        Target::Append => {
            outcome.replaced =
                commit_append(blobs.dir(), &opts.output, &outcome.manifest, &opts.tag)?;
            drop(staging);
            outcome.appended = true;
        }
    }
    Ok(outcome)
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut f =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("writing {}", path.display()))
}

/// Renames the staging directory into place; gives it back if a layout appeared there.
fn commit_new(
    mut staging: Staging,
    output: &Path,
    manifest: &Descriptor,
    tag: &str,
) -> Result<Option<Staging>> {
    let root = staging.path();
    write_synced(&root.join(OCI_LAYOUT_FILE), &layout::oci_layout_bytes())?;
    let (index, _) = layout::index_with(None, manifest, tag)?;
    write_synced(&root.join(INDEX_FILE), &canonical_json(&index))?;
    match staging.commit(output) {
        Ok(()) => Ok(None),
        Err(_) if layout::is_layout(output) => Ok(Some(staging)),
        Err(e) => {
            Err(e).with_context(|| format!("renaming the new layout to {}", output.display()))
        }
    }
}
