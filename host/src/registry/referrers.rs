//! OCI 1.1 referrers: artifacts (signatures, SBOMs) whose manifest names another manifest as
//! its `subject`, listed, pushed and pulled along with that manifest.
//!
//! Listing asks the referrers API (`GET /v2/<name>/referrers/<digest>`); a registry without it
//! answers 404 (distribution 2.8 does), and then the tag schema of the distribution spec is
//! read instead: an image index tagged `sha256-<hex>` listing the referrers. Pushing a
//! referrer puts its blobs and its manifest (by digest); a registry that handles the subject
//! itself says so with the `OCI-Subject` header, otherwise the `sha256-<hex>` index is read,
//! the referrer added and the index put back (the spec's read-modify-write, racy by nature).
//!
//! Written on the session's plain HTTP requests rather than oci-client, which has no referrers
//! call and whose blob push would stream from disk what is here a few KiB in memory. Every
//! manifest and blob pulled is read capped and checked against its digest before it is
//! written; a referrer whose manifest names another subject is dropped (an index can lie).

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use oci_client::errors::OciDistributionError;
use oci_client::{Reference, RegistryOperation};
use serde::Serialize;
use serde_json::{Value, json};

use super::session::{Activity, Session, idle, status_error};
use super::{RegistryOptions, auth, parse_reference, retry, runtime};
use crate::model::{INDEX_MEDIA_TYPE, MANIFEST_MEDIA_TYPE};
use crate::oci::canonical_json;
use crate::oci::digest::Digest;
use crate::oci::layout::{INDEX_FILE, Layout, MAX_MANIFEST_SIZE};

/// Largest blob of a referrer that is pushed or pulled (signatures are KiB, SBOMs MiB).
pub const MAX_REFERRER_BLOB: u64 = 64 << 20;
/// Most referrers taken per subject (a registry could list millions).
pub const MAX_REFERRERS: usize = 1000;
/// Largest referrers list read (API answer or fallback index).
const MAX_LIST: usize = 4 << 20;

/// How a registry's referrers were found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Via {
    /// `GET /v2/<name>/referrers/<digest>`.
    ReferrersApi,
    /// The `sha256-<hex>` tag holding an index (registries without the API).
    TagSchema,
    /// An OCI image layout's `index.json`.
    Layout,
}

impl Via {
    /// How it is spelled in output.
    pub fn as_str(self) -> &'static str {
        match self {
            Via::ReferrersApi => "referrers-api",
            Via::TagSchema => "tag-schema",
            Via::Layout => "layout",
        }
    }
}

/// One referrer as a descriptor of its manifest (as the referrers API lists them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Referrer {
    /// The referrer manifest's media type.
    pub media_type: String,
    /// What it is (e.g. `application/vnd.dev.sigstore.bundle.v0.3+json`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// Digest of the referrer manifest.
    pub digest: Digest,
    /// Size of the referrer manifest.
    pub size: u64,
    /// The referrer manifest's annotations.
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    pub annotations: serde_json::Map<String, Value>,
}

impl Referrer {
    /// From a descriptor of an index (the API answer, the fallback index, `index.json`).
    fn from_descriptor(d: &Value) -> Option<Referrer> {
        Some(Referrer {
            media_type: d.get("mediaType")?.as_str()?.to_string(),
            artifact_type: d
                .get("artifactType")
                .and_then(Value::as_str)
                .map(str::to_string),
            digest: Digest::parse(d.get("digest")?.as_str()?)?,
            size: d.get("size")?.as_u64()?,
            annotations: d
                .get("annotations")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
        })
    }

    /// From the referrer manifest itself.
    fn of_manifest(bytes: &[u8], m: &Value) -> Referrer {
        let media_type = m
            .get("mediaType")
            .and_then(Value::as_str)
            .unwrap_or(MANIFEST_MEDIA_TYPE)
            .to_string();
        // The image spec: artifactType, else the config's media type.
        let artifact_type = m
            .get("artifactType")
            .or_else(|| m.pointer("/config/mediaType"))
            .and_then(Value::as_str)
            .map(str::to_string);
        Referrer {
            media_type,
            artifact_type,
            digest: Digest::of(bytes),
            size: bytes.len() as u64,
            annotations: m
                .get("annotations")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
        }
    }

    /// The descriptor written into an index.
    pub fn descriptor(&self) -> Value {
        let mut d = json!({
            "mediaType": self.media_type,
            "digest": self.digest.to_string(),
            "size": self.size,
        });
        if let Some(t) = &self.artifact_type {
            d["artifactType"] = json!(t);
        }
        if !self.annotations.is_empty() {
            d["annotations"] = Value::Object(self.annotations.clone());
        }
        d
    }
}

/// The fallback tag of a subject: `sha256-<hex>`.
pub fn fallback_tag(subject: &Digest) -> String {
    format!("sha256-{}", subject.hex())
}

/// The digest a manifest names as its subject, if it names one.
fn subject_of(m: &Value) -> Option<&str> {
    m.pointer("/subject/digest").and_then(Value::as_str)
}

/// The referrers of `subject` in a layout: manifests listed in `index.json` whose `subject`
/// is it, each with its manifest bytes (checked against their digest).
pub fn in_layout(layout: &Layout, subject: &Digest) -> Result<Vec<(Referrer, Vec<u8>)>> {
    let want = subject.to_string();
    let mut out = Vec::new();
    for e in layout.entries()? {
        if e.digest == *subject || e.size > MAX_MANIFEST_SIZE {
            continue;
        }
        let bytes = layout
            .read_blob(&e.digest, e.size, MAX_MANIFEST_SIZE)
            .with_context(|| {
                format!(
                    "{}: index.json manifests[{}]",
                    layout.root.display(),
                    e.index
                )
            })?;
        let Ok(m) = serde_json::from_slice::<Value>(&bytes) else {
            continue;
        };
        if subject_of(&m) == Some(&want) {
            out.push((Referrer::of_manifest(&bytes, &m), bytes));
        }
    }
    Ok(out)
}

/// Reads a response body, refusing more than `cap` bytes.
async fn body_capped(
    mut resp: reqwest::Response,
    cap: u64,
    what: &str,
) -> Result<Vec<u8>, OciDistributionError> {
    let too_big = || {
        OciDistributionError::IoError(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{what} is larger than {cap} bytes"),
        ))
    };
    if resp.content_length().is_some_and(|n| n > cap) {
        return Err(too_big());
    }
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        if (out.len() + chunk.len()) as u64 > cap {
            return Err(too_big());
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// `GET url` with `accept`: `Ok(None)` on 404, the body (capped) on success.
async fn get(
    session: &Session,
    url: &reqwest::Url,
    accept: &str,
    cap: u64,
    what: &str,
    timeout: Duration,
) -> Result<Option<Vec<u8>>> {
    retry(what, || async {
        idle(timeout, Activity::new(), async {
            let resp = session
                .request(reqwest::Method::GET, url.clone())
                .await?
                .header(reqwest::header::ACCEPT, accept)
                .send()
                .await?;
            // 405/501: a registry (or proxy) that has no such route at all.
            if matches!(resp.status().as_u16(), 404 | 405 | 501) {
                return Ok(None);
            }
            if !resp.status().is_success() {
                return Err(status_error(&resp));
            }
            body_capped(resp, cap, what).await.map(Some)
        })
        .await
    })
    .await
}

/// Lists the referrers of `subject` in the session's repository, optionally only those of
/// `artifact_type` (filtered here too: a registry may ignore the filter).
pub(crate) async fn list(
    session: &Session,
    subject: &Digest,
    artifact_type: Option<&str>,
    timeout: Duration,
) -> Result<(Vec<Referrer>, Via)> {
    let mut url = session.repo_url(&format!("referrers/{subject}"))?;
    if let Some(t) = artifact_type {
        url.query_pairs_mut().append_pair("artifactType", t);
    }
    let what = format!("listing the referrers of {subject}");
    let (body, via) = match get(
        session,
        &url,
        INDEX_MEDIA_TYPE,
        MAX_LIST as u64,
        &what,
        timeout,
    )
    .await?
    {
        Some(b) => (Some(b), Via::ReferrersApi),
        None => {
            let url = session.repo_url(&format!("manifests/{}", fallback_tag(subject)))?;
            let b = get(
                session,
                &url,
                INDEX_MEDIA_TYPE,
                MAX_LIST as u64,
                &what,
                timeout,
            )
            .await?;
            (b, Via::TagSchema)
        }
    };
    let Some(body) = body else {
        return Ok((Vec::new(), via));
    };
    let index: Value = serde_json::from_slice(&body)
        .with_context(|| format!("the referrers of {subject} ({}): not JSON", via.as_str()))?;
    let list = index
        .get("manifests")
        .and_then(Value::as_array)
        .with_context(|| {
            format!(
                "the referrers of {subject} ({}): an index without a manifests array",
                via.as_str()
            )
        })?;
    let mut out: Vec<Referrer> = list
        .iter()
        .filter_map(Referrer::from_descriptor)
        .filter(|r| artifact_type.is_none() || r.artifact_type.as_deref() == artifact_type)
        .collect();
    out.truncate(MAX_REFERRERS);
    Ok((out, via))
}

/// Puts a small blob unless the repository has it: POST an upload, PUT it with the digest.
async fn put_blob(session: &Session, bytes: &[u8], timeout: Duration) -> Result<()> {
    let digest = Digest::of(bytes);
    let what = format!("uploading referrer blob {digest}");
    retry(&what, || async {
        idle(timeout, Activity::new(), async {
            let head = session
                .request(
                    reqwest::Method::HEAD,
                    session
                        .repo_url(&format!("blobs/{digest}"))
                        .map_err(generic)?,
                )
                .await?
                .send()
                .await?;
            if head.status().is_success() {
                return Ok(());
            }
            let start = session
                .request(
                    reqwest::Method::POST,
                    session.repo_url("blobs/uploads/").map_err(generic)?,
                )
                .await?
                .send()
                .await?;
            if start.status().as_u16() != 202 {
                return Err(status_error(&start));
            }
            let location = start
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|h| h.to_str().ok())
                .ok_or_else(|| generic(anyhow::anyhow!("the upload answer has no Location")))?;
            let mut url = start
                .url()
                .join(location)
                .map_err(|e| generic(anyhow::anyhow!("bad upload Location {location:?}: {e}")))?;
            url.query_pairs_mut()
                .append_pair("digest", &digest.to_string());
            let put = session
                .request(reqwest::Method::PUT, url)
                .await?
                .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                .body(bytes.to_vec())
                .send()
                .await?;
            if put.status().as_u16() != 201 {
                return Err(status_error(&put));
            }
            Ok(())
        })
        .await
    })
    .await
}

fn generic(e: anyhow::Error) -> OciDistributionError {
    OciDistributionError::GenericError(Some(format!("{e:#}")))
}

/// PUTs a manifest (or index) at `reference` (a digest or tag); whether the registry took
/// care of its `subject` (the `OCI-Subject` header).
async fn put_manifest(
    session: &Session,
    reference: &str,
    bytes: &[u8],
    media_type: &str,
    timeout: Duration,
) -> Result<bool> {
    let what = format!("pushing manifest {reference}");
    retry(&what, || async {
        idle(timeout, Activity::new(), async {
            let resp = session
                .request(
                    reqwest::Method::PUT,
                    session
                        .repo_url(&format!("manifests/{reference}"))
                        .map_err(generic)?,
                )
                .await?
                .header(reqwest::header::CONTENT_TYPE, media_type)
                .body(bytes.to_vec())
                .send()
                .await?;
            if resp.status().as_u16() != 201 {
                return Err(status_error(&resp));
            }
            Ok(resp.headers().contains_key("oci-subject"))
        })
        .await
    })
    .await
}

/// What carrying referrers along did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Carried {
    /// The referrers pushed or pulled.
    pub referrers: Vec<Referrer>,
    /// How the registry lists them (`referrers-api` or `tag-schema`); none when there were
    /// none to carry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via: Option<Via>,
}

async fn open(
    target: &Reference,
    op: RegistryOperation,
    opts: &RegistryOptions,
) -> Result<Session> {
    let creds = auth::credentials(target.resolve_registry())?;
    Session::open(target, &creds, op, opts.plain_http, opts.timeout).await
}

/// Pushes every referrer of the manifest `tag` names in the layout to the repository of
/// `target` (after the manifest itself was pushed), keeping the tag-schema index up to date
/// for registries without the referrers API.
pub fn push_from_layout(
    layout_dir: &Path,
    tag: Option<&str>,
    target: &str,
    opts: &RegistryOptions,
) -> Result<Carried> {
    let layout = Layout::open(layout_dir)?;
    let subject = layout.resolve(tag)?;
    let found = in_layout(&layout, &subject.digest)?;
    if found.is_empty() {
        return Ok(Carried::default());
    }
    // Every blob read (and checked) before anything is sent.
    let mut payloads = Vec::new();
    for (r, bytes) in &found {
        let m: Value = serde_json::from_slice(bytes).expect("parsed by in_layout");
        let mut blobs = Vec::new();
        for d in m.get("config").into_iter().chain(
            m.get("layers")
                .and_then(Value::as_array)
                .into_iter()
                .flatten(),
        ) {
            let (Some(digest), Some(size)) = (
                d.get("digest")
                    .and_then(Value::as_str)
                    .and_then(Digest::parse),
                d.get("size").and_then(Value::as_u64),
            ) else {
                bail!(
                    "referrer {}: a descriptor without a sha256 digest or a size",
                    r.digest
                );
            };
            blobs.push(
                layout
                    .read_blob(&digest, size, MAX_REFERRER_BLOB)
                    .with_context(|| format!("referrer {}", r.digest))?,
            );
        }
        payloads.push((r.clone(), bytes.clone(), blobs));
    }
    let reference = parse_reference(target)?;
    let timeout = opts.timeout;
    runtime()?.block_on(async {
        let session = open(&reference, RegistryOperation::Push, opts).await?;
        let mut carried = Carried::default();
        let mut unhandled = Vec::new();
        for (r, bytes, blobs) in &payloads {
            for b in blobs {
                put_blob(&session, b, timeout).await?;
            }
            let handled = put_manifest(
                &session,
                &r.digest.to_string(),
                bytes,
                &r.media_type,
                timeout,
            )
            .await?;
            if !handled {
                unhandled.push(r.clone());
            }
            carried.referrers.push(r.clone());
        }
        carried.via = Some(if unhandled.is_empty() {
            Via::ReferrersApi
        } else {
            update_fallback(&session, &subject.digest, &unhandled, timeout).await?;
            Via::TagSchema
        });
        Ok(carried)
    })
}

/// Adds `referrers` to the `sha256-<hex>` index of `subject` (created when absent).
async fn update_fallback(
    session: &Session,
    subject: &Digest,
    referrers: &[Referrer],
    timeout: Duration,
) -> Result<()> {
    let tag = fallback_tag(subject);
    let url = session.repo_url(&format!("manifests/{tag}"))?;
    let what = format!("reading the referrers index {tag}");
    let mut index = match get(
        session,
        &url,
        INDEX_MEDIA_TYPE,
        MAX_LIST as u64,
        &what,
        timeout,
    )
    .await?
    {
        Some(b) => serde_json::from_slice::<Value>(&b)
            .ok()
            .filter(|v| v.get("manifests").is_some_and(Value::is_array))
            .with_context(|| format!("the registry's {tag} is not an image index"))?,
        None => json!({"schemaVersion": 2, "mediaType": INDEX_MEDIA_TYPE, "manifests": []}),
    };
    let list = index["manifests"]
        .as_array_mut()
        .expect("checked to be an array");
    if !add_descriptors(list, referrers) {
        return Ok(());
    }
    put_manifest(
        session,
        &tag,
        &canonical_json(&index),
        INDEX_MEDIA_TYPE,
        timeout,
    )
    .await?;
    Ok(())
}

/// Pulls the referrers of `subject` from the repository of `source` into the layout at
/// `layout_dir` (blobs, then untagged `index.json` entries), each manifest and blob checked
/// against its digest first.
pub fn pull_into_layout(
    source: &str,
    subject: &Digest,
    layout_dir: &Path,
    opts: &RegistryOptions,
) -> Result<Carried> {
    let reference = parse_reference(source)?;
    let timeout = opts.timeout;
    let blob_dir = layout_dir.join("blobs").join("sha256");
    let carried = runtime()?.block_on(async {
        let session = open(&reference, RegistryOperation::Pull, opts).await?;
        let (listed, via) = list(&session, subject, None, timeout).await?;
        let mut carried = Carried {
            referrers: Vec::new(),
            via: Some(via),
        };
        let want = subject.to_string();
        for r in listed {
            if r.size > MAX_MANIFEST_SIZE {
                continue;
            }
            let url = session.repo_url(&format!("manifests/{}", r.digest))?;
            let what = format!("fetching referrer {}", r.digest);
            let Some(bytes) =
                get(&session, &url, &r.media_type, MAX_MANIFEST_SIZE, &what, timeout).await?
            else {
                // Listed but gone (deleted since): nothing to carry.
                continue;
            };
            if Digest::of(&bytes) != r.digest {
                bail!("referrer {}: the registry sent a manifest with another digest", r.digest);
            }
            let m: Value = serde_json::from_slice(&bytes)
                .with_context(|| format!("referrer {}: not JSON", r.digest))?;
            if subject_of(&m) != Some(&want) {
                // An index entry pointing at a manifest about something else.
                continue;
            }
            for d in m.get("config").into_iter().chain(
                m.get("layers")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten(),
            ) {
                let (Some(digest), Some(size)) = (
                    d.get("digest").and_then(Value::as_str).and_then(Digest::parse),
                    d.get("size").and_then(Value::as_u64),
                ) else {
                    bail!("referrer {}: a descriptor without a sha256 digest or a size", r.digest);
                };
                let path = blob_dir.join(digest.hex());
                if path.exists() {
                    continue;
                }
                if size > MAX_REFERRER_BLOB {
                    bail!(
                        "referrer {}: blob {digest} is {size} bytes, more than the {MAX_REFERRER_BLOB} taken",
                        r.digest
                    );
                }
                let url = session.repo_url(&format!("blobs/{digest}"))?;
                let what = format!("fetching blob {digest} of referrer {}", r.digest);
                let blob = get(&session, &url, "*/*", size, &what, timeout)
                    .await?
                    .with_context(|| format!("{what}: the registry does not have it"))?;
                if blob.len() as u64 != size || Digest::of(&blob) != digest {
                    bail!("referrer {}: blob {digest} does not match its digest", r.digest);
                }
                std::fs::write(&path, &blob)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            std::fs::write(blob_dir.join(r.digest.hex()), &bytes)?;
            carried.referrers.push(Referrer::of_manifest(&bytes, &m));
        }
        Ok::<_, anyhow::Error>(carried)
    })?;
    if !carried.referrers.is_empty() {
        add_untagged(layout_dir, &carried.referrers)?;
    }
    Ok(carried)
}

/// Lists `referrers` (whose blobs are in place) untagged in the `index.json` of a layout,
/// skipping those it lists already: under the layout lock every modelpack writer takes,
/// written aside and renamed, so readers see the old index or the new one.
pub fn add_untagged(layout_dir: &Path, referrers: &[Referrer]) -> Result<()> {
    let lock = std::fs::File::open(layout_dir)
        .with_context(|| format!("opening {}", layout_dir.display()))?;
    lock.lock()
        .with_context(|| format!("locking {}", layout_dir.display()))?;
    let layout = Layout::open(layout_dir)?;
    let mut index = layout.index.clone();
    let list = index
        .get_mut("manifests")
        .and_then(Value::as_array_mut)
        .with_context(|| {
            format!(
                "{}: index.json has no manifests array",
                layout_dir.display()
            )
        })?;
    if !add_descriptors(list, referrers) {
        return Ok(());
    }
    let path = layout_dir.join(INDEX_FILE);
    let tmp = layout_dir.join(".modelpack-referrers-index.json.tmp");
    let _held = crate::signals::hold();
    std::fs::write(&tmp, canonical_json(&index))
        .and_then(|()| std::fs::rename(&tmp, &path))
        .with_context(|| format!("writing {}", path.display()))
}

/// The referrers of what `source` names in a registry: the subject's digest and the list.
pub fn list_remote(
    source: &str,
    artifact_type: Option<&str>,
    opts: &RegistryOptions,
) -> Result<(Digest, Vec<Referrer>, Via)> {
    let reference = parse_reference(source)?;
    let timeout = opts.timeout;
    runtime()?.block_on(async {
        let session = open(&reference, RegistryOperation::Pull, opts).await?;
        let subject = match reference.digest() {
            Some(d) => {
                Digest::parse(d).with_context(|| format!("{source}: unsupported digest {d:?}"))?
            }
            None => {
                let accept = format!("{MANIFEST_MEDIA_TYPE}, {INDEX_MEDIA_TYPE}");
                Digest::of(
                    &session
                        .manifest(&accept, MAX_MANIFEST_SIZE as usize)
                        .await?,
                )
            }
        };
        let (list, via) = list(&session, &subject, artifact_type, timeout).await?;
        Ok((subject, list, via))
    })
}

/// Adds the descriptors of `referrers` an index's `manifests` list lacks (by digest); whether
/// any was added (an unchanged index is not rewritten).
fn add_descriptors(list: &mut Vec<Value>, referrers: &[Referrer]) -> bool {
    let before = list.len();
    for r in referrers {
        let d = r.digest.to_string();
        if !list
            .iter()
            .any(|e| e.get("digest").and_then(Value::as_str) == Some(&d))
        {
            list.push(r.descriptor());
        }
    }
    list.len() != before
}
