//! OCI image layouts holding ModelPack artifacts: `oci-layout` and `index.json` well formed,
//! every referenced blob present with the right size and digest, every manifest and config
//! valid, and the config's `modelfs.diffIds` matching the layers (count, order, values: the
//! blob digest for raw and tar layers, the digest of the decompressed stream for compressed
//! ones). Blobs are streamed (never held in memory) and checked on all cores.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::io::Read;
use std::path::Path;

use anyhow::{Result, bail};
use serde::Serialize;
use serde_json::Value;

use super::descriptor::{Problems, check_descriptor};
use super::manifest::{is_modelpack, validate_manifest};
use super::{Level, Problem, config::validate_config};
use crate::model::{INDEX_MEDIA_TYPE, LayerFormat, MANIFEST_MEDIA_TYPE, parse_layer_media_type};
use crate::oci::archive::decompressor;
use crate::oci::digest::{Digest, HashReader};
use crate::oci::layers::check_relative_path;
use crate::oci::layout::{
    IMAGE_LAYOUT_VERSION, INDEX_FILE, MAX_JSON_SIZE, OCI_LAYOUT_FILE, REF_NAME, read_capped,
};
use crate::oci::pool;

/// How deep nested indexes are followed.
const MAX_INDEX_DEPTH: usize = 8;

/// A problem and the file its pointer points into (`index.json`, `blobs/sha256/<hex>`…).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Located {
    /// Layout-relative path of the document.
    pub document: String,
    /// The problem.
    #[serde(flatten)]
    pub problem: Problem,
}

/// What streaming a layer blob found.
#[derive(Debug, Clone, Default)]
struct LayerCheck {
    missing: bool,
    size: u64,
    digest: Option<Digest>,
    diff_id: Option<Digest>,
    /// Undecodable compression or tar stream.
    content_error: Option<String>,
    /// Tar entries unpack would refuse.
    unsafe_entries: Vec<String>,
}

struct LayerJob {
    digest: Digest,
    format: LayerFormat,
}

struct LayerUse {
    document: String,
    pointer: String,
    job: usize,
    size: u64,
}

struct ManifestUse {
    document: String,
    config_document: Option<String>,
    diff_ids: Option<Value>,
    layers: Vec<Option<usize>>,
}

struct Ctx<'a> {
    root: &'a Path,
    strict: bool,
    out: Vec<Located>,
    jobs: Vec<LayerJob>,
    job_of: BTreeMap<(Digest, &'static str), usize>,
    layer_uses: Vec<LayerUse>,
    manifests: Vec<ManifestUse>,
}

fn blob_doc(d: &Digest) -> String {
    format!("blobs/sha256/{}", d.hex())
}

impl Ctx<'_> {
    fn add(&mut self, document: &str, problems: Vec<Problem>) {
        self.out.extend(problems.into_iter().map(|problem| Located {
            document: document.to_string(),
            problem,
        }));
    }

    fn one(&mut self, document: &str, level: Level, pointer: &str, keyword: &str, message: String) {
        self.add(
            document,
            vec![Problem {
                level,
                pointer: pointer.to_string(),
                keyword: keyword.to_string(),
                message,
            }],
        );
    }

    /// Reads a JSON blob a descriptor points to, reporting (against the referring document)
    /// a missing blob, a wrong size or digest, and (against the blob) invalid JSON.
    fn json_blob(&mut self, desc: &Value, doc: &str, ptr: &str) -> Option<(Digest, Value)> {
        let digest_str = desc.get("digest").and_then(Value::as_str)?;
        let Some(digest) = Digest::parse(digest_str) else {
            self.one(
                doc,
                Level::Warning,
                &format!("{ptr}/digest"),
                "digest",
                format!("{digest_str}: only sha256 blobs are verified"),
            );
            return None;
        };
        let size = desc.get("size").and_then(Value::as_u64)?;
        let path = self.root.join(blob_doc(&digest));
        let bytes = match read_capped(&path, MAX_JSON_SIZE) {
            Ok(b) => b,
            Err(e) => {
                let msg = if path.exists() {
                    format!("{e:#}")
                } else {
                    format!("blob {} is missing", blob_doc(&digest))
                };
                self.one(
                    doc,
                    Level::Error,
                    &format!("{ptr}/digest"),
                    "blob-missing",
                    msg,
                );
                return None;
            }
        };
        let mut ok = true;
        if bytes.len() as u64 != size {
            self.one(
                doc,
                Level::Error,
                &format!("{ptr}/size"),
                "blob-size",
                format!(
                    "size is {size}, blob {} has {} bytes",
                    blob_doc(&digest),
                    bytes.len()
                ),
            );
            ok = false;
        }
        let actual = Digest::of(&bytes);
        if actual != digest {
            self.one(
                doc,
                Level::Error,
                &format!("{ptr}/digest"),
                "blob-digest",
                format!("blob {} hashes to {actual}", blob_doc(&digest)),
            );
            ok = false;
        }
        if !ok {
            return None;
        }
        match serde_json::from_slice(&bytes) {
            Ok(v) => Some((digest, v)),
            Err(e) => {
                self.one(
                    &blob_doc(&digest),
                    Level::Error,
                    "",
                    "json",
                    format!("not JSON: {e}"),
                );
                None
            }
        }
    }

    fn layer_job(
        &mut self,
        desc: &Value,
        format: LayerFormat,
        doc: &str,
        ptr: &str,
    ) -> Option<usize> {
        let digest_str = desc.get("digest").and_then(Value::as_str)?;
        let Some(digest) = Digest::parse(digest_str) else {
            self.one(
                doc,
                Level::Warning,
                &format!("{ptr}/digest"),
                "digest",
                format!("{digest_str}: only sha256 blobs are verified"),
            );
            return None;
        };
        let size = desc.get("size").and_then(Value::as_u64)?;
        let key = (digest, format.as_str());
        let job = match self.job_of.get(&key) {
            Some(&j) => j,
            None => {
                self.jobs.push(LayerJob { digest, format });
                self.job_of.insert(key, self.jobs.len() - 1);
                self.jobs.len() - 1
            }
        };
        self.layer_uses.push(LayerUse {
            document: doc.to_string(),
            pointer: ptr.to_string(),
            job,
            size,
        });
        Some(job)
    }

    fn index(&mut self, index: &Value, doc: &str, depth: usize) {
        let mut p = Problems::default();
        let Some(obj) = index.as_object() else {
            p.error("", "type", "not a JSON object");
            self.add(doc, p.0);
            return;
        };
        if obj.get("schemaVersion").and_then(Value::as_u64) != Some(2) {
            p.error(
                "/schemaVersion",
                "schema-version",
                "schemaVersion must be 2",
            );
        }
        match obj.get("mediaType").and_then(Value::as_str) {
            Some(INDEX_MEDIA_TYPE) => {}
            None if !self.strict => p.warn(
                "",
                "media-type",
                format!("mediaType is missing (SHOULD be {INDEX_MEDIA_TYPE})"),
            ),
            other => p.error(
                "/mediaType",
                "media-type",
                format!("mediaType is {other:?}, must be {INDEX_MEDIA_TYPE}"),
            ),
        }
        let manifests = match obj.get("manifests") {
            Some(Value::Array(m)) => m.clone(),
            _ => {
                p.error("", "required", "manifests must be an array");
                self.add(doc, p.0);
                return;
            }
        };
        if manifests.is_empty() && depth == 0 {
            p.error("/manifests", "manifests", "the layout holds no manifest");
        }
        let mut tags: BTreeMap<String, usize> = BTreeMap::new();
        for (i, d) in manifests.iter().enumerate() {
            let ptr = format!("/manifests/{i}");
            check_descriptor(d, &ptr, &mut p);
            if let Some(t) = d
                .get("annotations")
                .and_then(|a| a.get(REF_NAME))
                .and_then(Value::as_str)
                && let Some(first) = tags.insert(t.to_string(), i)
            {
                p.warn(
                    &ptr,
                    "ref-name",
                    format!("tag {t:?} also names manifests/{first}"),
                );
            }
        }
        self.add(doc, p.0);
        for (i, d) in manifests.iter().enumerate() {
            let ptr = format!("/manifests/{i}");
            match d.get("mediaType").and_then(Value::as_str) {
                Some(MANIFEST_MEDIA_TYPE) => {
                    if let Some((digest, m)) = self.json_blob(d, doc, &ptr) {
                        self.manifest(&m, &blob_doc(&digest));
                    }
                }
                Some(INDEX_MEDIA_TYPE) if depth < MAX_INDEX_DEPTH => {
                    if let Some((digest, m)) = self.json_blob(d, doc, &ptr) {
                        self.index(&m, &blob_doc(&digest), depth + 1);
                    }
                }
                _ => {
                    self.layer_job(d, LayerFormat::Raw, doc, &ptr);
                }
            }
        }
    }

    fn manifest(&mut self, m: &Value, doc: &str) {
        let modelpack = is_modelpack(m);
        if modelpack {
            let problems = validate_manifest(m, self.strict);
            self.add(doc, problems);
        } else {
            self.one(
                doc,
                Level::Warning,
                "",
                "artifact-type",
                "not a ModelPack artifact: only its blobs were checked".into(),
            );
        }
        let mut usage = ManifestUse {
            document: doc.to_string(),
            config_document: None,
            diff_ids: None,
            layers: Vec::new(),
        };
        if let Some(c) = m.get("config").filter(|c| c.is_object())
            && let Some((digest, config)) = self.json_blob(c, doc, "/config")
        {
            let cdoc = blob_doc(&digest);
            if modelpack {
                let problems = validate_config(&config, self.strict);
                self.add(&cdoc, problems);
                usage.diff_ids = config.pointer("/modelfs/diffIds").cloned();
            }
            usage.config_document = Some(cdoc);
        }
        if let Some(layers) = m.get("layers").and_then(Value::as_array) {
            for (i, l) in layers.iter().enumerate() {
                let mt = l.get("mediaType").and_then(Value::as_str).unwrap_or("");
                let format = parse_layer_media_type(mt).map_or(LayerFormat::Raw, |(_, f, _)| f);
                usage
                    .layers
                    .push(self.layer_job(l, format, doc, &format!("/layers/{i}")));
            }
        }
        if modelpack {
            self.manifests.push(usage);
        }
    }

    fn report_layers(&mut self, checks: &[LayerCheck]) {
        let uses = std::mem::take(&mut self.layer_uses);
        for u in &uses {
            let c = &checks[u.job];
            let blob = blob_doc(&self.jobs[u.job].digest);
            if c.missing {
                self.one(
                    &u.document,
                    Level::Error,
                    &format!("{}/digest", u.pointer),
                    "blob-missing",
                    format!("blob {blob} is missing"),
                );
                continue;
            }
            if c.size != u.size {
                self.one(
                    &u.document,
                    Level::Error,
                    &format!("{}/size", u.pointer),
                    "blob-size",
                    format!("size is {}, blob {blob} has {} bytes", u.size, c.size),
                );
            }
            if let Some(d) = c.digest
                && d != self.jobs[u.job].digest
            {
                self.one(
                    &u.document,
                    Level::Error,
                    &format!("{}/digest", u.pointer),
                    "blob-digest",
                    format!("blob {blob} hashes to {d}"),
                );
            }
            if let Some(e) = &c.content_error {
                self.one(
                    &u.document,
                    Level::Error,
                    &u.pointer,
                    "layer-content",
                    format!("blob {blob}: {e}"),
                );
            }
            for e in &c.unsafe_entries {
                self.one(
                    &u.document,
                    Level::Error,
                    &u.pointer,
                    "layer-content",
                    format!("blob {blob}: tar entry {e}"),
                );
            }
        }
        self.layer_uses = uses;
    }

    fn check_diff_ids(&mut self, checks: &[LayerCheck]) {
        for m in std::mem::take(&mut self.manifests) {
            let (Some(cdoc), Some(ids)) = (&m.config_document, &m.diff_ids) else {
                continue;
            };
            let Some(ids) = ids.as_array() else {
                self.one(
                    cdoc,
                    Level::Error,
                    "/modelfs/diffIds",
                    "diff-ids",
                    "diffIds is not an array".into(),
                );
                continue;
            };
            if ids.len() != m.layers.len() {
                self.one(
                    cdoc,
                    Level::Error,
                    "/modelfs/diffIds",
                    "diff-ids",
                    format!(
                        "{} diffIds for {} layers in manifest {}",
                        ids.len(),
                        m.layers.len(),
                        m.document
                    ),
                );
            }
            for (i, (id, job)) in ids.iter().zip(&m.layers).enumerate() {
                let ptr = format!("/modelfs/diffIds/{i}");
                let Some(s) = id.as_str() else {
                    self.one(
                        cdoc,
                        Level::Error,
                        &ptr,
                        "diff-ids",
                        format!("{id} is not a string"),
                    );
                    continue;
                };
                if let Err(e) = crate::oci::digest::check_digest_grammar(s) {
                    self.one(cdoc, Level::Error, &ptr, "digest", e);
                    continue;
                }
                let Some(expected) = job.and_then(|j| checks[j].diff_id) else {
                    continue;
                };
                if Digest::parse(s) != Some(expected) {
                    self.one(cdoc, Level::Error, &ptr, "diff-ids", format!("diffId {s} does not match layer {i}, whose uncompressed content hashes to {expected}"));
                }
            }
        }
    }
}

/// Streams one layer blob: its digest and size, and its diffId (decompressing if needed);
/// tar layers are also parsed and their entry paths checked.
fn check_layer_blob(root: &Path, job: &LayerJob) -> LayerCheck {
    let path = root.join(blob_doc(&job.digest));
    let Ok(file) = std::fs::File::open(&path) else {
        return LayerCheck {
            missing: true,
            ..LayerCheck::default()
        };
    };
    let mut outer = HashReader::new(file);
    let mut check = LayerCheck::default();
    if job.format != LayerFormat::Raw {
        let inner_result = (|| -> std::io::Result<Digest> {
            let dec = decompressor(job.format, &mut outer)?;
            let mut inner = HashReader::new(dec);
            {
                let mut archive = tar::Archive::new(&mut inner);
                for entry in archive.entries()? {
                    let entry = entry?;
                    let raw = entry.path_bytes();
                    let name = String::from_utf8_lossy(&raw).into_owned();
                    let mut norm = name.as_str();
                    while let Some(rest) = norm.strip_prefix("./") {
                        norm = rest;
                    }
                    let norm = norm.trim_end_matches('/');
                    if !norm.is_empty()
                        && let Err(e) = check_relative_path(norm)
                    {
                        check.unsafe_entries.push(format!("{e}: unpack refuses it"));
                    }
                }
            }
            Ok(inner.drain()?.0)
        })();
        match inner_result {
            Ok(d) => check.diff_id = Some(d),
            Err(e) => {
                check.content_error =
                    Some(format!("not a valid {} stream: {e}", job.format.as_str()))
            }
        }
    }
    match outer.drain() {
        Ok((d, n)) => {
            check.digest = Some(d);
            check.size = n;
            if job.format == LayerFormat::Raw {
                check.diff_id = Some(d);
            }
        }
        Err(e) => check.content_error = Some(format!("unreadable: {e}")),
    }
    check
}

/// Validates the layout at `root`. Errors are returned only when `root` is not a directory;
/// everything wrong inside it is a problem.
pub fn validate_layout(root: &Path, strict: bool, jobs: usize) -> Result<Vec<Located>> {
    if !root.is_dir() {
        bail!("{}: not a directory", root.display());
    }
    let mut ctx = Ctx {
        root,
        strict,
        out: Vec::new(),
        jobs: Vec::new(),
        job_of: BTreeMap::new(),
        layer_uses: Vec::new(),
        manifests: Vec::new(),
    };
    match read_capped(&root.join(OCI_LAYOUT_FILE), 1 << 20) {
        Err(_) => ctx.one(
            OCI_LAYOUT_FILE,
            Level::Error,
            "",
            "oci-layout",
            "the oci-layout file is missing".into(),
        ),
        Ok(bytes) => match serde_json::from_slice::<Value>(&bytes) {
            Err(e) => ctx.one(
                OCI_LAYOUT_FILE,
                Level::Error,
                "",
                "json",
                format!("not JSON: {e}"),
            ),
            Ok(v) => match v.get("imageLayoutVersion").and_then(Value::as_str) {
                Some(IMAGE_LAYOUT_VERSION) => {}
                Some(other) => ctx.one(
                    OCI_LAYOUT_FILE,
                    Level::Warning,
                    "/imageLayoutVersion",
                    "oci-layout",
                    format!("unknown imageLayoutVersion {other:?}"),
                ),
                None => ctx.one(
                    OCI_LAYOUT_FILE,
                    Level::Error,
                    "/imageLayoutVersion",
                    "oci-layout",
                    "imageLayoutVersion must be a string".into(),
                ),
            },
        },
    }
    let index_path = root.join(INDEX_FILE);
    match read_capped(&index_path, MAX_JSON_SIZE) {
        Err(e) => {
            let msg = if index_path.exists() {
                format!("{e:#}")
            } else {
                "index.json is missing".into()
            };
            ctx.one(INDEX_FILE, Level::Error, "", "index", msg);
        }
        Ok(bytes) => match serde_json::from_slice::<Value>(&bytes) {
            Err(e) => ctx.one(
                INDEX_FILE,
                Level::Error,
                "",
                "json",
                format!("not JSON: {e}"),
            ),
            Ok(index) => ctx.index(&index, INDEX_FILE, 0),
        },
    }
    let checks: Vec<LayerCheck> = pool::try_map(
        &ctx.jobs,
        jobs,
        |_| 0,
        |j| Ok::<_, Infallible>(check_layer_blob(root, j)),
    )
    .unwrap_or_else(|never| match never {});
    ctx.report_layers(&checks);
    if ctx.manifests.is_empty() && !ctx.out.iter().any(|l| l.problem.level == Level::Error) {
        ctx.one(
            INDEX_FILE,
            Level::Error,
            "/manifests",
            "manifests",
            "the layout holds no ModelPack manifest".into(),
        );
    }
    ctx.check_diff_ids(&checks);
    interrupted_append(&mut ctx);
    Ok(ctx.out)
}

/// A journal left by a `pack` killed while adding to the layout: the layout is still valid,
/// but may hold blobs no manifest uses until the next `pack` into it removes them.
fn interrupted_append(ctx: &mut Ctx) {
    let what = match crate::oci::append::interrupted(ctx.root) {
        None => return,
        Some(Ok(n)) => format!("up to {n} blobs no manifest may use"),
        Some(Err(e)) => format!("an unreadable journal ({e:#})"),
    };
    ctx.one(
        crate::oci::append::JOURNAL,
        Level::Warning,
        "",
        "interrupted-append",
        format!(
            "a pack adding to this layout was killed and left {what}; \
             the next `modelpack pack` into it removes them"
        ),
    );
}

/// Reads a file for `validate PATH` (config or manifest), capped like every JSON document.
pub fn read_document(path: &Path) -> Result<Vec<u8>> {
    let mut f =
        std::fs::File::open(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let mut bytes = Vec::new();
    (&mut f).take(MAX_JSON_SIZE + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_JSON_SIZE {
        bail!("{}: larger than {MAX_JSON_SIZE} bytes", path.display());
    }
    Ok(bytes)
}
