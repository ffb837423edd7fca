//! OCI image layouts holding ModelPack artifacts: `oci-layout` and `index.json` well formed,
//! every referenced blob present with the right size and digest, every manifest and config
//! valid, and the config's `modelfs.diffIds` matching the layers (count, order, values: the
//! blob digest for raw and tar layers, the digest of the decompressed stream for compressed
//! ones). Blobs are streamed (never held in memory) and checked on all cores.

use std::collections::{BTreeMap, HashMap};
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
use crate::oci::layout::{
    ANNOTATION_PARTIAL, IMAGE_LAYOUT_VERSION, INDEX_FILE, MAX_JSON_SIZE, MAX_MANIFEST_SIZE,
    OCI_LAYOUT_FILE, OpenError, REF_NAME, open_blob_file, read_capped,
};
use crate::oci::pool;
use crate::oci::rules::{self, Action, Tree, layer_ref};

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
    /// Tar entries unpack would refuse on their own (see `oci::rules`).
    unsafe_entries: Vec<String>,
    /// What unpack would write for the other entries, for the per-manifest tree check.
    actions: Vec<Action>,
}

struct LayerJob {
    digest: Digest,
    format: LayerFormat,
    /// The largest size any descriptor claims: no more than this (+1) is ever read.
    max_size: u64,
}

/// A layer as the per-manifest tree check (`rules::Tree`) sees it.
enum TreeLayer {
    /// A raw layer's file.
    Raw(Action),
    /// A tar layer: the actions of its blob job, if its blob was checked.
    Tar(Option<usize>),
    /// Refused already (reported).
    Refused,
}

struct LayerUse {
    document: String,
    pointer: String,
    job: usize,
    size: u64,
    /// Named by a manifest pulled partially (`pull --include/--kind`).
    partial: bool,
}

struct ManifestUse {
    document: String,
    config_document: Option<String>,
    diff_ids: Option<Value>,
    layers: Vec<Option<usize>>,
    tree: Vec<TreeLayer>,
}

/// What reading a JSON blob found (kept per digest: each blob is read once).
enum JsonSeen {
    /// Missing or not a regular file (the message says which).
    Unreadable(String),
    /// Its length on disk and, if that length was within the cap, its content.
    Read { len: u64, parsed: Parsed },
}

enum Parsed {
    /// Not read (longer than the cap), or already handed to its first user.
    Pending,
    WrongDigest(Digest),
    NotJson(String),
    Json(Value),
}

/// Reads a JSON blob once: only a regular file inside the layout, at most `cap` bytes.
fn read_json_blob(root: &Path, digest: &Digest, cap: u64) -> JsonSeen {
    let file = match open_blob_file(root, digest) {
        Ok(f) => f,
        Err(OpenError::Missing(_)) => {
            return JsonSeen::Unreadable(format!("blob {} is missing", blob_doc(digest)));
        }
        Err(e) => return JsonSeen::Unreadable(e.to_string()),
    };
    let len = match file.metadata() {
        Ok(m) => m.len(),
        Err(e) => return JsonSeen::Unreadable(format!("blob {}: {e}", blob_doc(digest))),
    };
    if len > cap {
        return JsonSeen::Read {
            len,
            parsed: Parsed::Pending,
        };
    }
    let mut bytes = Vec::new();
    if let Err(e) = file.take(len + 1).read_to_end(&mut bytes) {
        return JsonSeen::Unreadable(format!("blob {}: {e}", blob_doc(digest)));
    }
    if bytes.len() as u64 != len {
        return JsonSeen::Unreadable(format!(
            "blob {} changed size while being read",
            blob_doc(digest)
        ));
    }
    let actual = Digest::of(&bytes);
    let parsed = if actual != *digest {
        Parsed::WrongDigest(actual)
    } else {
        match serde_json::from_slice(&bytes) {
            Ok(v) => Parsed::Json(v),
            Err(e) => Parsed::NotJson(e.to_string()),
        }
    };
    JsonSeen::Read { len, parsed }
}

struct Ctx<'a> {
    root: &'a Path,
    json_seen: HashMap<Digest, JsonSeen>,
    strict: bool,
    out: Vec<Located>,
    jobs: Vec<LayerJob>,
    job_of: BTreeMap<(Digest, &'static str), usize>,
    layer_uses: Vec<LayerUse>,
    manifests: Vec<ManifestUse>,
    /// The manifest being read was pulled partially: its absent layers are not errors.
    partial: bool,
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
    /// a missing blob, a wrong size or digest, and (against the blob) invalid JSON. Each blob
    /// is read and parsed once: a digest seen before gives its size check against this
    /// descriptor and `None` (its content was already checked), so thousands of index entries
    /// naming one large manifest cost one read and one validation.
    fn json_blob(
        &mut self,
        desc: &Value,
        doc: &str,
        ptr: &str,
        cap: u64,
    ) -> Option<(Digest, Value)> {
        let digest_str = desc.get("digest").and_then(Value::as_str)?;
        let Some(digest) = Digest::parse(digest_str) else {
            self.one(
                doc,
                Level::Error,
                &format!("{ptr}/digest"),
                "digest",
                format!(
                    "{digest_str}: only sha256 blobs can be verified (unpack and push refuse others)"
                ),
            );
            return None;
        };
        let size = desc.get("size").and_then(Value::as_u64)?;
        let first = !self.json_seen.contains_key(&digest);
        if first {
            let seen = read_json_blob(self.root, &digest, cap);
            self.json_seen.insert(digest, seen);
        }
        let (len, wrong, not_json) = match &self.json_seen[&digest] {
            JsonSeen::Unreadable(msg) => {
                let msg = msg.clone();
                self.one(
                    doc,
                    Level::Error,
                    &format!("{ptr}/digest"),
                    "blob-missing",
                    msg,
                );
                return None;
            }
            JsonSeen::Read { len, parsed } => (
                *len,
                match parsed {
                    Parsed::WrongDigest(d) => Some(*d),
                    _ => None,
                },
                match parsed {
                    Parsed::NotJson(e) => Some(e.clone()),
                    _ => None,
                },
            ),
        };
        if len != size {
            self.one(
                doc,
                Level::Error,
                &format!("{ptr}/size"),
                "blob-size",
                format!("size is {size}, blob {} has {len} bytes", blob_doc(&digest)),
            );
            return None;
        }
        if len > cap {
            self.one(
                doc,
                Level::Error,
                &format!("{ptr}/size"),
                "blob-size",
                format!(
                    "blob {} has {len} bytes, more than the {cap} accepted here (registries, push and unpack take manifests up to {MAX_MANIFEST_SIZE})",
                    blob_doc(&digest)
                ),
            );
            return None;
        }
        if let Some(actual) = wrong {
            self.one(
                doc,
                Level::Error,
                &format!("{ptr}/digest"),
                "blob-digest",
                format!("blob {} hashes to {actual}", blob_doc(&digest)),
            );
            return None;
        }
        if let Some(e) = not_json {
            if first {
                self.one(
                    &blob_doc(&digest),
                    Level::Error,
                    "",
                    "json",
                    format!("not JSON: {e}"),
                );
            }
            return None;
        }
        // The value goes to its first user only (later ones were already validated through
        // it); taking it out also bounds memory to the blob being checked.
        match self.json_seen.get_mut(&digest) {
            Some(JsonSeen::Read { parsed, .. }) => match std::mem::replace(parsed, Parsed::Pending)
            {
                Parsed::Json(v) => Some((digest, v)),
                _ => None,
            },
            _ => None,
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
            Some(&j) => {
                self.jobs[j].max_size = self.jobs[j].max_size.max(size);
                j
            }
            None => {
                self.jobs.push(LayerJob {
                    digest,
                    format,
                    max_size: size,
                });
                self.job_of.insert(key, self.jobs.len() - 1);
                self.jobs.len() - 1
            }
        };
        self.layer_uses.push(LayerUse {
            document: doc.to_string(),
            pointer: ptr.to_string(),
            job,
            size,
            partial: self.partial,
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
                    if let Some((digest, m)) = self.json_blob(d, doc, &ptr, MAX_MANIFEST_SIZE) {
                        self.partial = d["annotations"][ANNOTATION_PARTIAL] == "true";
                        self.manifest(&m, &blob_doc(&digest));
                        self.partial = false;
                    }
                }
                Some(INDEX_MEDIA_TYPE) if depth < MAX_INDEX_DEPTH => {
                    if let Some((digest, m)) = self.json_blob(d, doc, &ptr, MAX_JSON_SIZE) {
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
            tree: Vec::new(),
        };
        if let Some(c) = m.get("config").filter(|c| c.is_object())
            && let Some((digest, config)) = self.json_blob(c, doc, "/config", MAX_JSON_SIZE)
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
                let ptr = format!("/layers/{i}");
                let job = self.layer_job(l, format, doc, &ptr);
                usage.layers.push(job);
                // A foreign layer (warned about by the manifest rules) is skipped by unpack.
                if modelpack && !rules::is_foreign_layer(l) {
                    // Unpack's own reading of the descriptor; a refusal already explained
                    // by a schema error at this layer is not repeated.
                    let tree_layer = match layer_ref(l, i) {
                        Ok(r) => match (r.format, r.filepath) {
                            (LayerFormat::Raw, Some(path)) => TreeLayer::Raw(Action::File {
                                path,
                                mode: r.mode.unwrap_or(0o644),
                            }),
                            _ => TreeLayer::Tar(job),
                        },
                        Err(e) => {
                            let explained = self.out.iter().any(|x| {
                                x.document == doc
                                    && x.problem.level == Level::Error
                                    && (x.problem.pointer == ptr
                                        || x.problem.pointer.starts_with(&format!("{ptr}/")))
                            });
                            if !explained {
                                self.one(
                                    doc,
                                    Level::Error,
                                    &ptr,
                                    "unpack",
                                    format!("unpack would refuse it: {e:#}"),
                                );
                            }
                            TreeLayer::Refused
                        }
                    };
                    usage.tree.push(tree_layer);
                }
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
            if c.missing && u.partial {
                self.one(
                    &u.document,
                    Level::Warning,
                    &format!("{}/digest", u.pointer),
                    "layer-not-pulled",
                    format!(
                        "blob {blob} was not pulled (a partial pull: `modelpack pull` without \
                         --include/--kind fetches it)"
                    ),
                );
                continue;
            }
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
            // A blob that could not be read has no size to compare (its error says why).
            let unread = c.digest.is_none() && c.content_error.is_some();
            if !unread && c.size != u.size {
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
                    format!("blob {blob}: unpack would refuse it: {e}"),
                );
            }
        }
        self.layer_uses = uses;
    }

    /// Lays out every ModelPack manifest's layers as unpack would (`rules::Tree`): paths
    /// written twice, files where directories are needed, hard links to nothing.
    fn check_trees(&mut self, checks: &[LayerCheck]) {
        let manifests = std::mem::take(&mut self.manifests);
        for m in &manifests {
            let mut tree = Tree::default();
            let mut found = Vec::new();
            for (i, layer) in m.tree.iter().enumerate() {
                let result = match layer {
                    TreeLayer::Raw(a) => tree.add(a),
                    TreeLayer::Tar(Some(job)) => {
                        checks[*job].actions.iter().try_for_each(|a| tree.add(a))
                    }
                    TreeLayer::Tar(None) | TreeLayer::Refused => Ok(()),
                };
                if let Err(e) = result {
                    found.push((format!("/layers/{i}"), format!("{e:#}")));
                }
            }
            if let Err(e) = tree.finish() {
                found.push(("/layers".to_string(), format!("{e:#}")));
            }
            for (ptr, e) in found {
                self.one(
                    &m.document,
                    Level::Error,
                    &ptr,
                    "unpack",
                    format!("unpack would refuse it: {e}"),
                );
            }
        }
        self.manifests = manifests;
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
/// tar layers are also parsed and each entry judged by unpack's rules. Only a regular file
/// inside the layout is read, and no more of it than the largest size a descriptor claims.
fn check_layer_blob(root: &Path, job: &LayerJob) -> LayerCheck {
    let mut check = LayerCheck::default();
    let file = match open_blob_file(root, &job.digest) {
        Ok(f) => f,
        Err(OpenError::Missing(_)) => {
            check.missing = true;
            return check;
        }
        Err(e) => {
            check.content_error = Some(format!("{e}"));
            return check;
        }
    };
    match file.metadata() {
        Ok(m) if m.len() > job.max_size => {
            // Every descriptor gets its size error; the content is not worth reading.
            check.size = m.len();
            return check;
        }
        Ok(_) => {}
        Err(e) => {
            check.content_error = Some(format!("unreadable: {e}"));
            return check;
        }
    }
    let mut outer = HashReader::new(file.take(job.max_size + 1));
    if job.format != LayerFormat::Raw {
        let inner_result = (|| -> std::io::Result<Digest> {
            let dec = decompressor(job.format, &mut outer)?;
            let mut inner = HashReader::new(dec);
            {
                let mut archive = tar::Archive::new(&mut inner);
                for entry in archive.entries()? {
                    let entry = entry?;
                    let link = entry.link_name_bytes();
                    let judged = rules::tar_entry(
                        &entry.path_bytes(),
                        entry.header().entry_type(),
                        link.as_deref(),
                        entry.header().mode().unwrap_or(0o644),
                    );
                    match judged {
                        Ok(Action::Skip) => {}
                        Ok(a) => check.actions.push(a),
                        Err(e) => check.unsafe_entries.push(format!("{e:#}")),
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
        json_seen: HashMap::new(),
        jobs: Vec::new(),
        job_of: BTreeMap::new(),
        layer_uses: Vec::new(),
        manifests: Vec::new(),
        partial: false,
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
    ctx.check_trees(&checks);
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
