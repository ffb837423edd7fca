//! Reading an artifact where it lives: `inspect REGISTRY/REPO:TAG` fetches the manifest and
//! the config (both verified against their digests) and hands the format plugins the weight
//! layers as blobs whose reads are HTTP Range requests, so a header-only inspection of a
//! 100 GB model moves kilobytes.
//!
//! Reads go through a small read-ahead cache per layer: a miss fetches whole aligned blocks
//! of [`BLOCK`] bytes (plugins read headers in many small pieces: a length, then the header
//! it gives), and the last [`BLOCKS`] blocks are kept. What the plugins read this way is not
//! verified against the layer's digest (that needs every byte): the report describes the
//! bytes the registry served, as `inspect` of a local file describes the file as it is.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use oci_client::RegistryOperation;
use oci_client::errors::OciDistributionError;
use reqwest::{Method, StatusCode, header};
use serde_json::Value;

use super::session::{Activity, Session, idle, status_error};
use super::{RegistryOptions, auth, retry};
use crate::model::MANIFEST_MEDIA_TYPE;
use crate::oci::digest::Digest;
use crate::oci::layout::{MAX_JSON_SIZE, MAX_MANIFEST_SIZE};
use crate::plugin::blob::RangeSource;

/// Bytes fetched per read-ahead block.
pub const BLOCK: u64 = 64 << 10;
/// Blocks kept per layer.
const BLOCKS: usize = 16;

/// An artifact in a registry, opened for reading.
pub struct RemoteArtifact {
    rt: Arc<tokio::runtime::Runtime>,
    session: Arc<Session>,
    timeout: Duration,
    /// The manifest's digest (computed from the bytes; checked when the reference named one).
    pub manifest_digest: Digest,
    /// Its size in bytes.
    pub manifest_size: u64,
    /// The manifest.
    pub manifest: Value,
    /// The config's bytes, verified against the manifest's config descriptor.
    pub config: Vec<u8>,
}

impl RemoteArtifact {
    /// Fetches and verifies the manifest and config of `reference`.
    pub fn open(reference: &str, opts: &RegistryOptions) -> Result<RemoteArtifact> {
        let r = super::parse_reference(reference)?;
        let creds = auth::credentials(r.resolve_registry())?;
        let rt = Arc::new(super::runtime()?);
        let timeout = opts.timeout;
        let (session, bytes, config) = rt.block_on(async {
            let session = Session::open(
                &r,
                &creds,
                RegistryOperation::Pull,
                opts.plain_http,
                timeout,
            )
            .await?;
            let bytes = session
                .manifest(MANIFEST_MEDIA_TYPE, MAX_MANIFEST_SIZE as usize)
                .await?;
            let d = Digest::of(&bytes);
            if let Some(want) = r.digest()
                && want != d.to_string()
            {
                bail!("the manifest's digest is {d}, not {want} as requested");
            }
            let manifest: Value =
                serde_json::from_slice(&bytes).context("the manifest is not JSON")?;
            let cfg = &manifest["config"];
            let cd = cfg["digest"].as_str().unwrap_or("");
            let cd = Digest::parse(cd).with_context(|| format!("manifest config digest {cd:?}"))?;
            let size = cfg["size"]
                .as_u64()
                .context("manifest config: size is not a non-negative integer")?;
            if size > MAX_JSON_SIZE {
                bail!("config {cd}: {size} bytes, more than the {MAX_JSON_SIZE} read for a config");
            }
            let config = retry(&format!("fetching config {cd}"), || {
                range(&session, &cd, 0, size, timeout)
            })
            .await?;
            if Digest::of(&config) != cd {
                bail!("config {cd}: the registry's bytes do not match its digest");
            }
            Ok((session, (bytes, manifest, d), config))
        })?;
        let (bytes, manifest, manifest_digest) = bytes;
        Ok(RemoteArtifact {
            rt,
            session: Arc::new(session),
            timeout,
            manifest_digest,
            manifest_size: bytes.len() as u64,
            manifest,
            config,
        })
    }

    /// A layer as a plugin blob whose reads are Range requests.
    pub fn layer(&self, digest: Digest, size: u64) -> Arc<dyn RangeSource> {
        Arc::new(RemoteBlob {
            rt: self.rt.clone(),
            session: self.session.clone(),
            timeout: self.timeout,
            digest,
            size,
            blocks: Mutex::new(VecDeque::new()),
        })
    }
}

/// `GET …/blobs/<digest>` with `Range: bytes=<offset>-<offset+len-1>`: exactly `len` bytes.
/// A registry that ignores Range (200) is read only up to what was asked, then dropped.
async fn range(
    session: &Session,
    d: &Digest,
    offset: u64,
    len: u64,
    timeout: Duration,
) -> Result<Vec<u8>, OciDistributionError> {
    if len == 0 {
        return Ok(Vec::new());
    }
    let activity = Activity::new();
    idle(timeout, activity.clone(), async {
        let url = session
            .repo_url(&format!("blobs/{d}"))
            .map_err(|e| OciDistributionError::GenericError(Some(e.to_string())))?;
        let mut resp = session
            .request(Method::GET, url)
            .await?
            .header(
                header::RANGE,
                format!("bytes={offset}-{}", offset + len - 1),
            )
            .send()
            .await?;
        let skip = match resp.status() {
            StatusCode::PARTIAL_CONTENT => 0,
            StatusCode::OK => offset,
            _ => return Err(status_error(&resp)),
        };
        let mut out = Vec::with_capacity(len as usize);
        let mut skipped = 0u64;
        while (out.len() as u64) < len {
            let Some(chunk) = resp.chunk().await? else {
                break;
            };
            activity.touch();
            let mut c = &chunk[..];
            if skipped < skip {
                let n = (skip - skipped).min(c.len() as u64) as usize;
                skipped += n as u64;
                c = &c[n..];
            }
            let want = (len - out.len() as u64).min(c.len() as u64) as usize;
            out.extend_from_slice(&c[..want]);
        }
        if (out.len() as u64) < len {
            return Err(super::invalid(format!(
                "blob {d}: the registry sent {} bytes at offset {offset}, {len} were asked for",
                out.len()
            )));
        }
        Ok(out)
    })
    .await
}

/// One layer read through the registry, with its read-ahead blocks.
struct RemoteBlob {
    rt: Arc<tokio::runtime::Runtime>,
    session: Arc<Session>,
    timeout: Duration,
    digest: Digest,
    size: u64,
    /// (block index, bytes), most recently used last.
    blocks: Mutex<VecDeque<(u64, Arc<Vec<u8>>)>>,
}

impl RemoteBlob {
    fn cached(&self, index: u64) -> Option<Arc<Vec<u8>>> {
        let mut blocks = self.blocks.lock().unwrap_or_else(|p| p.into_inner());
        let pos = blocks.iter().position(|(i, _)| *i == index)?;
        let hit = blocks.remove(pos)?;
        let bytes = hit.1.clone();
        blocks.push_back(hit);
        Some(bytes)
    }

    /// Fetches blocks `first..=last` in one request and keeps them.
    fn fetch(&self, first: u64, last: u64) -> std::io::Result<()> {
        let start = first * BLOCK;
        let end = ((last + 1) * BLOCK).min(self.size);
        let d = self.digest;
        let bytes = self
            .rt
            .block_on(retry(&format!("reading blob {d}"), || {
                range(&self.session, &d, start, end - start, self.timeout)
            }))
            .map_err(|e| std::io::Error::other(format!("{e:#}")))?;
        let mut blocks = self.blocks.lock().unwrap_or_else(|p| p.into_inner());
        for (k, chunk) in bytes.chunks(BLOCK as usize).enumerate() {
            let index = first + k as u64;
            blocks.retain(|(i, _)| *i != index);
            blocks.push_back((index, Arc::new(chunk.to_vec())));
        }
        while blocks.len() > BLOCKS.max((last - first + 1) as usize) {
            blocks.pop_front();
        }
        Ok(())
    }
}

impl RangeSource for RemoteBlob {
    fn read_at(&self, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
        let end = offset.saturating_add(len as u64).min(self.size);
        if offset >= end {
            return Ok(Vec::new());
        }
        let (first, last) = (offset / BLOCK, (end - 1) / BLOCK);
        // The blocks missing from the range, fetched as one request from the first missing.
        let missing: Vec<u64> = (first..=last)
            .filter(|i| self.cached(*i).is_none())
            .collect();
        if let (Some(&a), Some(&b)) = (missing.first(), missing.last()) {
            self.fetch(a, b)?;
        }
        let mut out = Vec::with_capacity((end - offset) as usize);
        for i in first..=last {
            let block = match self.cached(i) {
                Some(b) => b,
                // Evicted by a concurrent read: fetch it again.
                None => {
                    self.fetch(i, i)?;
                    self.cached(i)
                        .ok_or_else(|| std::io::Error::other("read-ahead block lost"))?
                }
            };
            let base = i * BLOCK;
            let from = offset.max(base) - base;
            let to = end.min(base + block.len() as u64) - base;
            out.extend_from_slice(&block[from as usize..to as usize]);
        }
        Ok(out)
    }
}
