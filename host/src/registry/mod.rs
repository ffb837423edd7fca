//! Pushing and pulling ModelPack artifacts to and from OCI registries (distribution spec),
//! built on `oci-client` with a current-thread tokio runtime created per command.
//!
//! Push: blobs the registry already has are skipped (HEAD first), the rest stream from the
//! layout's files (monolithic PUT, 4 MiB reads), a bounded number at a time, each retried on
//! transient failures; the manifest goes up byte for byte so its digest never changes.
//! Pull: every blob is hashed while it streams to disk and checked against its descriptor; the
//! layout is built in a hidden directory beside the output and renamed into place at the end.

pub mod auth;
pub mod credhelper;
pub mod dockerconfig;
pub mod login;

use std::future::Future;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use futures_util::{StreamExt, TryStreamExt, stream};
use oci_client::errors::OciDistributionError;
use oci_client::manifest::OciDescriptor;
use oci_client::{
    Client, Reference, RegistryOperation, client::ClientConfig, client::ClientProtocol,
};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::model::MANIFEST_MEDIA_TYPE;
use crate::oci::digest::{Digest, Hasher};
use crate::oci::layout::{
    INDEX_FILE, Layout, MAX_MANIFEST_SIZE, OCI_LAYOUT_FILE, check_tag, index_with, oci_layout_bytes,
};
use crate::oci::progress::Progress;
use crate::oci::{Descriptor, canonical_json};

/// Blobs uploaded or downloaded at once.
pub const PARALLEL: usize = 4;
/// Attempts per request before a transient failure is reported.
pub const ATTEMPTS: u32 = 3;
/// Bytes read from a layout file per upload chunk.
const READ_CHUNK: usize = 4 << 20;

/// How to reach a registry.
#[derive(Debug, Clone, Default)]
pub struct RegistryOptions {
    /// Use plain HTTP even for a non-loopback host.
    pub plain_http: bool,
    /// Progress bars on stderr (only drawn when it is a terminal).
    pub progress: bool,
    /// Log per-blob decisions on stderr.
    pub verbose: bool,
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
    /// Bytes downloaded.
    pub bytes: u64,
    /// The tag written into the layout's `index.json`.
    pub tag: String,
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

fn client(reference: &Reference, opts: &RegistryOptions) -> Client {
    // rustls is built without a default provider (no aws-lc C build): install ring once.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let registry = reference.resolve_registry().to_string();
    let protocol = if opts.plain_http || is_loopback(&registry) {
        ClientProtocol::HttpsExcept(vec![registry])
    } else {
        ClientProtocol::Https
    };
    Client::new(ClientConfig {
        protocol,
        use_monolithic_push: true,
        max_concurrent_upload: PARALLEL,
        max_concurrent_download: PARALLEL,
        connect_timeout: Some(Duration::from_secs(30)),
        user_agent: concat!("modelpack/", env!("CARGO_PKG_VERSION")),
        ..Default::default()
    })
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
        OciDistributionError::RequestError(r) => {
            r.is_connect()
                || r.is_timeout()
                || r.is_request()
                || r.is_body()
                || r.status().is_some_and(|s| s.is_server_error())
        }
        OciDistributionError::IoError(_) => true,
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

/// The config and layer descriptors of a manifest.
fn blobs_of(manifest: &Value) -> Result<Vec<(Digest, u64, String)>> {
    let mut out = Vec::new();
    let config = manifest.get("config").context("manifest has no config")?;
    out.push(descriptor_of(config, "manifest config")?);
    for (i, l) in manifest
        .get("layers")
        .and_then(Value::as_array)
        .context("manifest has no layers array")?
        .iter()
        .enumerate()
    {
        out.push(descriptor_of(l, &format!("manifest layers[{i}]"))?);
    }
    Ok(out)
}

fn oci_desc(digest: &Digest, size: u64, media_type: &str) -> OciDescriptor {
    OciDescriptor {
        media_type: media_type.to_string(),
        digest: digest.to_string(),
        size: size as i64,
        ..Default::default()
    }
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
    for (d, size, _) in &blobs {
        let p = layout.blob_path(d);
        let m =
            std::fs::metadata(&p).with_context(|| format!("blob {d} is missing or unreadable"))?;
        if m.len() != *size {
            bail!(
                "blob {d}: {} bytes on disk, descriptor says {size}",
                m.len()
            );
        }
    }
    let media_type = manifest
        .get("mediaType")
        .and_then(Value::as_str)
        .unwrap_or(MANIFEST_MEDIA_TYPE)
        .to_string();
    let reference = parse_reference(target)?;
    let creds = auth::credentials(reference.resolve_registry())?;
    let client = client(&reference, opts);
    let rt = runtime()?;
    rt.block_on(async {
        retry("authenticating with the registry", || {
            client.auth(&reference, &creds, RegistryOperation::Push)
        })
        .await?;
        let total: u64 = blobs.iter().map(|b| b.1).sum();
        let progress = Progress::stderr(opts.progress, "pushing", total);
        let results: Vec<(bool, u64)> = stream::iter(blobs.iter().cloned())
            .map(|(d, size, _)| {
                let client = &client;
                let reference = &reference;
                let progress = &progress;
                let path = layout.blob_path(&d);
                async move {
                    let ds = d.to_string();
                    let exists = retry(&format!("checking blob {d}"), || {
                        client.blob_exists(reference, &ds)
                    })
                    .await?;
                    if exists {
                        if opts.verbose {
                            eprintln!("blob {d}: already in the registry, skipped");
                        }
                        return Ok::<_, anyhow::Error>((false, 0));
                    }
                    let bar = std::sync::Arc::new(progress.item(&ds[..19], size));
                    retry(&format!("uploading blob {d}"), || {
                        let path = path.clone();
                        let bar = bar.clone();
                        let ds = ds.clone();
                        async move {
                            let file = tokio::fs::File::open(&path).await?;
                            let s = stream::try_unfold(file, move |mut f| {
                                let bar = bar.clone();
                                async move {
                                    let mut buf = vec![0u8; READ_CHUNK];
                                    let n = f.read(&mut buf).await?;
                                    if n == 0 {
                                        return Ok(None);
                                    }
                                    buf.truncate(n);
                                    bar.inc(n as u64);
                                    Ok(Some((bytes::Bytes::from(buf), f)))
                                }
                            });
                            client.push_blob_stream(reference, s, &ds, Some(size)).await
                        }
                    })
                    .await?;
                    if opts.verbose {
                        eprintln!("blob {d}: uploaded ({size} bytes)");
                    }
                    Ok((true, size))
                }
            })
            .buffer_unordered(PARALLEL)
            .try_collect()
            .await?;
        progress.finish();
        let content_type = reqwest_header(&media_type)?;
        retry("pushing the manifest", || {
            client.push_manifest_raw(&reference, manifest_bytes.clone(), content_type.clone())
        })
        .await?;
        Ok(PushOutcome {
            manifest: entry.digest,
            uploaded: results.iter().filter(|r| r.0).count() as u64,
            skipped: results.iter().filter(|r| !r.0).count() as u64,
            bytes: results.iter().map(|r| r.1).sum(),
        })
    })
}

fn reqwest_header(media_type: &str) -> Result<http::HeaderValue> {
    http::HeaderValue::from_str(media_type)
        .with_context(|| format!("manifest media type {media_type:?} is not a valid header value"))
}

/// Pulls `source` into a new layout at `output` (which must not exist or be empty).
pub fn pull(source: &str, output: &Path, opts: &RegistryOptions) -> Result<PullOutcome> {
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
    let client = client(&reference, opts);
    let rt = runtime()?;
    let outcome = rt.block_on(async {
        retry("authenticating with the registry", || {
            client.auth(&reference, &creds, RegistryOperation::Pull)
        })
        .await?;
        let (bytes, _) = retry("fetching the manifest", || {
            client.pull_manifest_raw(&reference, &creds, &[MANIFEST_MEDIA_TYPE])
        })
        .await?;
        if bytes.len() as u64 > MAX_MANIFEST_SIZE {
            bail!("the manifest is larger than {MAX_MANIFEST_SIZE} bytes");
        }
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
        let blobs = blobs_of(&manifest)?;
        let total: u64 = blobs.iter().map(|b| b.1).sum();
        let progress = Progress::stderr(opts.progress, "pulling", total);
        let mut unique = blobs.clone();
        unique.sort_by_key(|b| b.0.hex());
        unique.dedup_by(|a, b| a.0 == b.0);
        let n = unique.len() as u64;
        stream::iter(unique)
            .map(|(d, size, mt)| {
                let client = &client;
                let reference = &reference;
                let progress = &progress;
                let path = blob_dir.join(d.hex());
                async move {
                    let bar = progress.item(&d.to_string()[..19], size);
                    retry(&format!("downloading blob {d}"), || async {
                        let mut s = client.pull_blob_stream(reference, &oci_desc(&d, size, &mt)).await?;
                        let mut f = tokio::fs::File::create(&path).await?;
                        let mut h = Hasher::new();
                        while let Some(chunk) = s.next().await {
                            let chunk = chunk?;
                            h.update(&chunk);
                            if h.len() > size {
                                break;
                            }
                            f.write_all(&chunk).await?;
                            bar.inc(chunk.len() as u64);
                        }
                        f.flush().await?;
                        Ok(h.finish())
                    })
                    .await
                    .and_then(|(got, n)| {
                        if n != size {
                            bail!("blob {d}: the registry sent {n}+ bytes, the descriptor says {size}");
                        }
                        if got != d {
                            bail!("blob {d}: content from the registry does not match its digest (it is {got})");
                        }
                        Ok(())
                    })
                }
            })
            .buffer_unordered(PARALLEL)
            .try_collect::<Vec<()>>()
            .await?;
        progress.finish();
        std::fs::write(blob_dir.join(manifest_digest.hex()), &bytes)?;
        let desc = Descriptor {
            media_type,
            artifact_type: manifest.get("artifactType").and_then(Value::as_str).map(str::to_string),
            digest: manifest_digest,
            size: bytes.len() as u64,
            annotations: Default::default(),
        };
        let (index, _) = index_with(None, &desc, &tag)?;
        std::fs::write(staging.path().join(INDEX_FILE), canonical_json(&index))?;
        std::fs::write(staging.path().join(OCI_LAYOUT_FILE), oci_layout_bytes())?;
        Ok(PullOutcome {
            manifest: manifest_digest,
            blobs: n,
            bytes: total,
            tag: tag.clone(),
        })
    })?;
    // An empty output directory is replaced; rename refuses a non-empty one, which is right.
    if output.is_dir() {
        std::fs::remove_dir(output).with_context(|| format!("{}", output.display()))?;
    }
    let staged = staging.keep();
    std::fs::rename(&staged, output)
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
