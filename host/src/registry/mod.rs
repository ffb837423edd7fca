//! Pushing and pulling ModelPack artifacts to and from OCI registries (distribution spec),
//! with a current-thread tokio runtime created per command.
//!
//! Push: blobs the registry already has are skipped (HEAD first), blobs it has in another
//! repository are mounted, the rest stream from the layout's files (one request, or chunks),
//! a bounded number at a time, each retried on transient failures; the manifest goes up byte
//! for byte so its digest never changes. Pull: every blob is hashed while it streams to disk
//! (resuming a prefix kept by an earlier attempt) and checked against its descriptor; the
//! layout is built in a hidden directory beside the output and renamed into place at the end.
//!
//! Authentication, the idle timeout and the capped manifest download live in [`session`];
//! blob transfers in [`transfer`]; what is kept between runs in [`cache`]. A pushed blob is
//! read only from a regular file inside the layout (never through a symlink), of exactly its
//! descriptor's size, and hashed while it streams: the last chunk (or the commit of a chunked
//! upload) is sent only once the digest checked out, so a wrong file never completes an upload.

pub mod auth;
pub mod cache;
pub mod credhelper;
pub mod dockerconfig;
pub mod file_digests;
pub mod login;
pub mod packpush;
pub mod plugin_artifact;
pub mod referrers;
pub mod remote;
pub mod session;
mod transfer;

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use futures_util::{StreamExt, TryStreamExt, stream};
use oci_client::errors::OciDistributionError;
use oci_client::{Reference, RegistryOperation};
use serde_json::Value;

use session::{Activity, Session, idle};

use crate::model::MANIFEST_MEDIA_TYPE;
use crate::oci::digest::Digest;
use crate::oci::layout::{
    ANNOTATION_PARTIAL, INDEX_FILE, Layout, MAX_MANIFEST_SIZE, OCI_LAYOUT_FILE, check_tag,
    index_with, oci_layout_bytes,
};
use crate::oci::progress::Progress;
use crate::oci::{Descriptor, canonical_json};

/// Blobs uploaded or downloaded at once.
pub const PARALLEL: usize = 4;
/// Attempts per request before a transient failure is reported.
pub const ATTEMPTS: u32 = 3;
/// Bytes read from a layout file per upload chunk.
pub(crate) const READ_CHUNK: usize = 4 << 20;

/// Default idle timeout: how long the registry may stay silent (no byte accepted or sent).
pub const DEFAULT_TIMEOUT_SECS: u64 = 120;

/// How to reach a registry.
#[derive(Debug, Clone)]
pub struct RegistryOptions {
    /// Use plain HTTP even for a non-loopback host.
    pub plain_http: bool,
    /// Progress bars on stderr (only drawn when it is a terminal).
    pub progress: bool,
    /// Log per-blob decisions on stderr.
    pub verbose: bool,
    /// Idle timeout: a registry silent this long fails the command (not retried).
    pub timeout: Duration,
    /// Upload in chunks of this many bytes (else one request per blob); either way the other
    /// mode is tried when the registry refuses one.
    pub chunk_size: Option<u64>,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        RegistryOptions {
            plain_http: false,
            progress: false,
            verbose: false,
            timeout: Duration::from_secs(DEFAULT_TIMEOUT_SECS),
            chunk_size: None,
        }
    }
}

/// What `push` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushOutcome {
    /// The manifest pushed.
    pub manifest: Digest,
    /// Blobs uploaded.
    pub uploaded: u64,
    /// Blobs the registry already had.
    pub skipped: u64,
    /// Blobs mounted from another repository of the registry (no bytes sent).
    pub mounted: u64,
    /// Bytes uploaded.
    pub bytes: u64,
}

/// What `pull` wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullOutcome {
    /// The manifest pulled.
    pub manifest: Digest,
    /// Blobs downloaded (config included).
    pub blobs: u64,
    /// Bytes of the artifact's blobs.
    pub bytes: u64,
    /// Bytes that came over the network (less than `bytes` when partial downloads resumed).
    pub fetched: u64,
    /// The tag written into the layout's `index.json`.
    pub tag: String,
    /// File paths of the layers a partial pull left out.
    pub not_pulled: Vec<String>,
}

/// The blobs a partial pull fetches (the config, and the layers `keep` accepts, plus any
/// blob a kept layer shares), and the file paths of the layers it leaves out.
fn chosen(
    manifest: &Value,
    all: Vec<Blob>,
    keep: &dyn Fn(Option<&str>, Option<&str>) -> bool,
) -> (Vec<Blob>, Vec<String>) {
    let layers = manifest["layers"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut kept = vec![true; all.len()];
    for (i, l) in layers.iter().enumerate() {
        let path = l["annotations"][FILEPATH_ANNOTATION].as_str();
        let kind = l["mediaType"]
            .as_str()
            .and_then(crate::model::parse_layer_media_type)
            .map(|(k, _, _)| k.as_str());
        if let Some(k) = kept.get_mut(i + 1) {
            *k = keep(path, kind);
        }
    }
    let wanted: std::collections::HashSet<Digest> = all
        .iter()
        .zip(&kept)
        .filter(|(_, k)| **k)
        .map(|(b, _)| b.digest)
        .collect();
    let mut not_pulled = Vec::new();
    let mut blobs = Vec::new();
    for (b, k) in all.into_iter().zip(kept) {
        if k || wanted.contains(&b.digest) {
            blobs.push(b);
        } else {
            not_pulled.push(b.label);
        }
    }
    (blobs, not_pulled)
}

/// Parses `REGISTRY/REPO:TAG`; the registry part is required (no implicit docker.io).
pub fn parse_reference(s: &str) -> Result<Reference> {
    let r: Reference = s
        .parse()
        .map_err(|e| anyhow!("invalid registry reference {s:?}: {e}"))?;
    if !s.contains('/') || r.registry() != s.split('/').next().unwrap_or("") {
        bail!(
            "invalid registry reference {s:?}: expected REGISTRY/REPO:TAG, e.g. localhost:5000/models/tiny:v1"
        );
    }
    Ok(r)
}

/// Whether a registry host is loopback (plain HTTP is allowed there).
pub fn is_loopback(registry: &str) -> bool {
    let host = if let Some(rest) = registry.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        registry.rsplit_once(':').map_or(registry, |(h, _)| h)
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the network runtime")
}

/// Runs one future on a fresh current-thread runtime (for commands outside push/pull).
pub fn block_on<F: Future>(f: F) -> Result<F::Output> {
    Ok(runtime()?.block_on(f))
}

/// Whether an error is worth retrying: server errors, connection failures, timeouts.
fn transient(e: &OciDistributionError) -> bool {
    match e {
        OciDistributionError::ServerError { code, .. } => *code >= 500,
        // A registry silent for the whole idle timeout is not retried: that would multiply
        // the wait. Connection timeouts are (they are also `is_connect`).
        OciDistributionError::RequestError(r) if r.is_timeout() && !r.is_connect() => false,
        OciDistributionError::RequestError(r) => {
            r.is_connect()
                || r.is_request()
                || r.is_body()
                || r.status().is_some_and(|s| s.is_server_error())
        }
        // TimedOut: see above; InvalidData: a blob or manifest that is wrong stays wrong.
        OciDistributionError::IoError(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::TimedOut | std::io::ErrorKind::InvalidData
        ),
        _ => false,
    }
}

/// Runs `op` up to [`ATTEMPTS`] times with exponential backoff on transient failures.
async fn retry<T, F, Fut>(what: &str, mut op: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = std::result::Result<T, OciDistributionError>>,
{
    let mut delay = Duration::from_millis(500);
    for attempt in 1..=ATTEMPTS {
        match op().await {
            Ok(v) => return Ok(v),
            Err(e) if attempt < ATTEMPTS && transient(&e) => {
                tokio::time::sleep(delay).await;
                delay *= 4;
            }
            Err(e) => return Err(describe(e)).with_context(|| what.to_string()),
        }
    }
    unreachable!("the last attempt always returns")
}

/// One-line error text; refused credentials become a plain statement. Credentials are never
/// part of oci-client's errors (URLs carry none), so the text is safe to print.
fn describe(e: OciDistributionError) -> anyhow::Error {
    use oci_client::errors::OciErrorCode;
    let status = match &e {
        OciDistributionError::RequestError(r) => r.status().map(|s| s.as_u16()),
        OciDistributionError::ServerError { code, .. } => Some(*code),
        OciDistributionError::UnauthorizedError { .. }
        | OciDistributionError::AuthenticationFailure(_) => Some(401),
        OciDistributionError::RegistryError { envelope, .. } => {
            envelope.errors.iter().find_map(|err| match err.code {
                OciErrorCode::Unauthorized => Some(401),
                OciErrorCode::Denied => Some(403),
                _ => None,
            })
        }
        _ => None,
    };
    match status {
        Some(401) => anyhow!(
            "the registry refused the credentials (401 Unauthorized); set {} / {} or log in \
             (~/.docker/config.json)",
            auth::USERNAME_ENV,
            auth::PASSWORD_ENV
        ),
        Some(403) => anyhow!("the registry denied access (403 Forbidden)"),
        _ => plain(e),
    }
}

/// One line a user can act on, without the library's wrapping (`Registry error: url …,
/// envelope: OCI API errors: [...]`): what the registry said, or why it could not be reached.
fn plain(e: OciDistributionError) -> anyhow::Error {
    match &e {
        OciDistributionError::RegistryError { envelope, .. } if !envelope.errors.is_empty() => {
            let said: Vec<String> = envelope
                .errors
                .iter()
                .map(|x| {
                    let code = format!("{:?}", x.code);
                    let msg = x.message.trim();
                    let known = match code.as_str() {
                        "ManifestUnknown" => "no such tag or digest in the repository",
                        "NameUnknown" => "no such repository",
                        "BlobUnknown" => "a blob is missing in the registry",
                        "NameInvalid" => "invalid repository name",
                        "TagInvalid" => "invalid tag",
                        _ => "",
                    };
                    match (known.is_empty(), msg.is_empty()) {
                        (false, _) => known.to_string(),
                        (true, false) => msg.to_string(),
                        (true, true) => code,
                    }
                })
                .collect();
            anyhow!("the registry says: {}", said.join("; "))
        }
        OciDistributionError::ImageManifestNotFoundError(_) => {
            anyhow!("the registry says: no such tag or digest in the repository")
        }
        OciDistributionError::ServerError { code, message, .. } => {
            let m = message.trim().replace('\n', " ");
            if m.is_empty() {
                anyhow!("the registry answered HTTP {code}")
            } else {
                anyhow!("the registry answered HTTP {code}: {m}")
            }
        }
        OciDistributionError::RequestError(r) if r.is_connect() || r.is_timeout() => {
            // The innermost cause is the operating system's word ("Connection refused").
            let mut cause = r.to_string();
            let mut source = std::error::Error::source(r);
            while let Some(c) = source {
                cause = c.to_string();
                source = c.source();
            }
            let what = if r.is_timeout() {
                "did not answer in time"
            } else {
                "could not be reached"
            };
            anyhow!(
                "the registry {what} ({}); check the address and that it is running (no credentials were tried)",
                cause.replace('\n', " ")
            )
        }
        _ => {
            // reqwest's top-level text ("error sending request") hides the cause; add the chain.
            let mut text = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                let c = cause.to_string();
                if !text.contains(&c) {
                    text = format!("{text}: {c}");
                }
                source = cause.source();
            }
            anyhow!(text.replace('\n', " "))
        }
    }
}

fn descriptor_of(v: &Value, what: &str) -> Result<(Digest, u64, String)> {
    let d = v.get("digest").and_then(Value::as_str).unwrap_or("");
    let digest = Digest::parse(d).with_context(|| format!("{what}: unsupported digest {d:?}"))?;
    let size = v
        .get("size")
        .and_then(Value::as_u64)
        .with_context(|| format!("{what}: size is not a non-negative integer"))?;
    let mt = v
        .get("mediaType")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    Ok((digest, size, mt))
}

/// The layer annotation naming the file a layer holds (progress is shown per file name).
const FILEPATH_ANNOTATION: &str = "org.cncf.model.filepath";

/// A blob of a manifest and the name its progress bar shows.
#[derive(Debug, Clone)]
struct Blob {
    digest: Digest,
    size: u64,
    label: String,
}

/// The config and layer descriptors of a manifest, labelled by file path where known.
fn blobs_of(manifest: &Value) -> Result<Vec<Blob>> {
    let mut out = Vec::new();
    let config = manifest.get("config").context("manifest has no config")?;
    let (digest, size, _) = descriptor_of(config, "manifest config")?;
    out.push(Blob {
        digest,
        size,
        label: "config".into(),
    });
    for (i, l) in manifest
        .get("layers")
        .and_then(Value::as_array)
        .context("manifest has no layers array")?
        .iter()
        .enumerate()
    {
        let (digest, size, _) = descriptor_of(l, &format!("manifest layers[{i}]"))?;
        let label = l
            .get("annotations")
            .and_then(|a| a.get(FILEPATH_ANNOTATION))
            .and_then(Value::as_str)
            // Shown on a terminal: no control characters from a registry's manifest.
            .map(|p| {
                p.chars()
                    .map(|c| if c.is_control() { '?' } else { c })
                    .collect()
            })
            .unwrap_or_else(|| digest.to_string()[..19].to_string());
        out.push(Blob {
            digest,
            size,
            label,
        });
    }
    Ok(out)
}

/// Pushes the manifest `tag` of `layout_dir` to `target`.
pub fn push(
    layout_dir: &Path,
    tag: Option<&str>,
    target: &str,
    opts: &RegistryOptions,
) -> Result<PushOutcome> {
    let layout = Layout::open(layout_dir)?;
    let entry = layout.resolve(tag)?;
    let manifest_bytes = layout.read_blob(&entry.digest, entry.size, MAX_MANIFEST_SIZE)?;
    let manifest: Value = serde_json::from_slice(&manifest_bytes)
        .with_context(|| format!("manifest {}: not JSON", entry.digest))?;
    let blobs = blobs_of(&manifest).with_context(|| format!("manifest {}", entry.digest))?;
    for b in &blobs {
        // A regular file inside the layout, of the descriptor's size (content: while streaming).
        layout.open_blob(&b.digest, b.size)?;
    }
    let media_type = manifest
        .get("mediaType")
        .and_then(Value::as_str)
        .unwrap_or(MANIFEST_MEDIA_TYPE)
        .to_string();
    let reference = parse_reference(target)?;
    let creds = auth::credentials(reference.resolve_registry())?;
    let rt = runtime()?;
    let timeout = opts.timeout;
    rt.block_on(async {
        let session = Session::open(
            &reference,
            &creds,
            RegistryOperation::Push,
            opts.plain_http,
            timeout,
        )
        .await?;
        let total: u64 = blobs.iter().map(|b| b.size).sum();
        let progress = Progress::stderr(opts.progress, "pushing", total);
        let registry = reference.resolve_registry().to_string();
        let repo = reference.repository().to_string();
        let results: Vec<(Option<transfer::Sent>, u64)> = stream::iter(blobs.iter().cloned())
            .map(|b| {
                let session = &session;
                let reference = &reference;
                let progress = &progress;
                let root = &layout.root;
                let (registry, repo) = (&registry, &repo);
                async move {
                    let d = b.digest;
                    let ds = d.to_string();
                    let client = session.client().await?;
                    let exists = retry(&format!("checking blob {d}"), || {
                        idle(timeout, Activity::new(), client.blob_exists(reference, &ds))
                    })
                    .await?;
                    if exists {
                        if opts.verbose {
                            eprintln!("blob {d} ({}): already in the registry, skipped", b.label);
                        }
                        // Counted as done at once, so the overall bar reaches its total.
                        drop(progress.item(&b.label, b.size));
                        return Ok::<_, anyhow::Error>((None, 0));
                    }
                    let bar = Arc::new(progress.item(&b.label, b.size));
                    let sent = transfer::BlobUpload {
                        session,
                        registry,
                        repo,
                        root,
                        digest: d,
                        size: b.size,
                        bar,
                        timeout,
                        chunk: opts.chunk_size,
                        verbose: opts.verbose,
                    }
                    .run()
                    .await?;
                    let bytes = match sent {
                        transfer::Sent::Mounted => 0,
                        transfer::Sent::Uploaded => b.size,
                    };
                    if opts.verbose && sent == transfer::Sent::Uploaded {
                        eprintln!("blob {d} ({}): uploaded ({} bytes)", b.label, b.size);
                    }
                    Ok((Some(sent), bytes))
                }
            })
            .buffer_unordered(PARALLEL)
            .try_collect()
            .await?;
        progress.finish();
        let content_type = reqwest_header(&media_type)?;
        let client = session.client().await?;
        retry("pushing the manifest", || {
            idle(
                timeout,
                Activity::new(),
                client.push_manifest_raw(&reference, manifest_bytes.clone(), content_type.clone()),
            )
        })
        .await?;
        let digests: Vec<Digest> = blobs.iter().map(|b| b.digest).collect();
        cache::remember(&registry, &repo, &digests);
        let count =
            |want: Option<transfer::Sent>| results.iter().filter(|r| r.0 == want).count() as u64;
        Ok(PushOutcome {
            manifest: entry.digest,
            uploaded: count(Some(transfer::Sent::Uploaded)),
            skipped: count(None),
            mounted: count(Some(transfer::Sent::Mounted)),
            bytes: results.iter().map(|r| r.1).sum(),
        })
    })
}

/// A refusal that no retry can fix (a wrong blob, an oversized manifest).
fn invalid(msg: String) -> OciDistributionError {
    OciDistributionError::IoError(std::io::Error::new(std::io::ErrorKind::InvalidData, msg))
}

fn reqwest_header(media_type: &str) -> Result<http::HeaderValue> {
    http::HeaderValue::from_str(media_type)
        .with_context(|| format!("manifest media type {media_type:?} is not a valid header value"))
}

/// Pulls `source` into a new layout at `output` (which must not exist or be empty).
pub fn pull(source: &str, output: &Path, opts: &RegistryOptions) -> Result<PullOutcome> {
    pull_some(source, output, opts, &|_, _| true)
}

/// [`pull`], fetching only the layers `keep(filepath, kind)` accepts (the config always).
/// When some are left out, the index entry carries [`ANNOTATION_PARTIAL`], so `validate`
/// reports the absent blobs as not pulled rather than missing, and `unpack` skips them.
pub fn pull_some(
    source: &str,
    output: &Path,
    opts: &RegistryOptions,
    keep: &dyn Fn(Option<&str>, Option<&str>) -> bool,
) -> Result<PullOutcome> {
    let reference = parse_reference(source)?;
    let tag = reference
        .tag()
        .unwrap_or(crate::oci::layout::DEFAULT_TAG)
        .to_string();
    check_tag(&tag)?;
    crate::oci::staging::require_absent_or_empty(output)?;
    let staging = crate::oci::staging::beside(output, "pull")?;
    let blob_dir = staging.path().join("blobs").join("sha256");
    std::fs::create_dir_all(&blob_dir)?;

    let creds = auth::credentials(reference.resolve_registry())?;
    let rt = runtime()?;
    let timeout = opts.timeout;
    let outcome = rt.block_on(async {
        let session = Session::open(
            &reference,
            &creds,
            RegistryOperation::Pull,
            opts.plain_http,
            timeout,
        )
        .await?;
        // Streamed and capped: a larger manifest is refused without being read.
        let bytes = session
            .manifest(MANIFEST_MEDIA_TYPE, MAX_MANIFEST_SIZE as usize)
            .await?;
        let manifest_digest = Digest::of(&bytes);
        if let Some(d) = reference.digest()
            && d != manifest_digest.to_string()
        {
            bail!("the manifest's digest is {manifest_digest}, not {d} as requested");
        }
        let manifest: Value = serde_json::from_slice(&bytes).context("the manifest is not JSON")?;
        let media_type = manifest
            .get("mediaType")
            .and_then(Value::as_str)
            .unwrap_or(MANIFEST_MEDIA_TYPE)
            .to_string();
        let all = blobs_of(&manifest)?;
        let (blobs, not_pulled) = chosen(&manifest, all, keep);
        let total: u64 = blobs.iter().map(|b| b.size).sum();
        let progress = Progress::stderr(opts.progress, "pulling", total);
        let mut unique = blobs.clone();
        unique.sort_by_key(|b| b.digest.hex());
        unique.dedup_by(|a, b| a.digest == b.digest);
        let n = unique.len() as u64;
        let fetched: Vec<u64> = stream::iter(unique)
            .map(|b| {
                let session = &session;
                let progress = &progress;
                let path = blob_dir.join(b.digest.hex());
                async move {
                    let bar = progress.item(&b.label, b.size);
                    transfer::download(
                        session,
                        &b.digest,
                        b.size,
                        &path,
                        &bar,
                        timeout,
                        opts.verbose,
                    )
                    .await
                }
            })
            .buffer_unordered(PARALLEL)
            .try_collect()
            .await?;
        progress.finish();
        std::fs::write(blob_dir.join(manifest_digest.hex()), &bytes)?;
        let desc = Descriptor {
            media_type,
            artifact_type: manifest
                .get("artifactType")
                .and_then(Value::as_str)
                .map(str::to_string),
            digest: manifest_digest,
            size: bytes.len() as u64,
            annotations: if not_pulled.is_empty() {
                Default::default()
            } else {
                [(ANNOTATION_PARTIAL.to_string(), "true".to_string())].into()
            },
        };
        let digests: Vec<Digest> = blobs.iter().map(|b| b.digest).collect();
        cache::remember(
            reference.resolve_registry(),
            reference.repository(),
            &digests,
        );
        let (index, _) = index_with(None, &desc, &tag)?;
        std::fs::write(staging.path().join(INDEX_FILE), canonical_json(&index))?;
        std::fs::write(staging.path().join(OCI_LAYOUT_FILE), oci_layout_bytes())?;
        Ok(PullOutcome {
            manifest: manifest_digest,
            blobs: n,
            bytes: total,
            fetched: fetched.iter().sum(),
            tag: tag.clone(),
            not_pulled,
        })
    })?;
    // rename replaces an empty output directory and refuses a non-empty one, which is right.
    let mut staging = staging;
    staging
        .commit(output)
        .with_context(|| format!("moving the layout into {}", output.display()))?;
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for h in [
            "localhost:5000",
            "127.0.0.1:5000",
            "127.1.2.3",
            "[::1]:5000",
            "localhost",
        ] {
            assert!(is_loopback(h), "{h}");
        }
        for h in [
            "registry.example:5000",
            "10.0.0.1:5000",
            "ghcr.io",
            "[::2]:80",
        ] {
            assert!(!is_loopback(h), "{h}");
        }
    }

    #[test]
    fn references_need_a_registry() {
        assert!(parse_reference("127.0.0.1:5000/models/tiny:v1").is_ok());
        assert!(parse_reference("tiny:v1").is_err());
        assert!(parse_reference("models/tiny:v1").is_err());
    }
}
