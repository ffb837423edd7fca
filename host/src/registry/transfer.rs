//! Blob transfers done with the session's own HTTP client rather than oci-client, because
//! they need what oci-client does not offer together: Range requests resuming a kept prefix
//! (and a clean restart when a registry answers 200 instead of 206), chunked uploads with a
//! chosen chunk size, falling back between monolithic and chunked uploads when a registry
//! refuses one, and cross-repository mounts (distribution spec, "Pushing blobs").
//!
//! Every path keeps the guarantees of [`super`]: a download is trusted only once its full
//! digest matched (a kept prefix included); an upload is committed only once the bytes sent
//! hashed to the digest being committed.

use std::io::SeekFrom;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Result, bail};
use futures_util::{StreamExt, stream};
use oci_client::errors::OciDistributionError;
use reqwest::{Method, StatusCode, Url, header};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use super::cache::{self, Partial};
use super::session::{Activity, Session, idle, status_error};
use super::{READ_CHUNK, invalid, retry};
use crate::oci::digest::{Digest, Hasher};
use crate::oci::layout::open_blob_file;
use crate::oci::progress::ItemBar;

/// Chunk size when a monolithic upload was refused and no `--chunk-size` was given.
pub const DEFAULT_CHUNK: u64 = 8 << 20;
/// Smallest chunk tried when a registry keeps answering 413 to chunks.
pub(super) const MIN_CHUNK: u64 = 256 << 10;
/// Bytes buffered before a downloaded blob is written to its file.
const WRITE_BUF: usize = 256 << 10;
/// Bytes read at a time when re-hashing a kept prefix.
const HASH_READ: usize = 4 << 20;

fn generic(e: anyhow::Error) -> OciDistributionError {
    OciDistributionError::GenericError(Some(e.to_string()))
}

/// Downloads blob `d` (`size` bytes) into `dest`, resuming a prefix kept in the cache by an
/// earlier run; returns the bytes that came over the network.
pub(crate) async fn download(
    session: &Session,
    d: &Digest,
    size: u64,
    dest: &Path,
    bar: &ItemBar,
    timeout: Duration,
    verbose: bool,
) -> Result<u64> {
    let part = Partial::open(d);
    let file = match &part {
        Some(p) => p.file.try_clone()?,
        None => std::fs::File::create(dest)?,
    };
    let mut fetched = 0;
    let mut fresh_done = false;
    loop {
        let attempt = retry(&format!("downloading blob {d}"), || {
            let file = file.try_clone();
            async move { fetch(session, d, size, file?, bar, timeout).await }
        })
        .await;
        let (h, kept, got) = match attempt {
            Ok(v) => v,
            Err(e) => {
                // Keep a prefix for the next run; an empty part file is only clutter.
                if let Some(p) = part
                    && file.metadata().is_ok_and(|m| m.len() == 0)
                {
                    p.discard();
                }
                return Err(e);
            }
        };
        fetched += got;
        let (digest, n) = h.finish();
        if n == size && digest == *d {
            if verbose && kept > 0 {
                eprintln!("blob {d}: resumed after {kept} kept bytes, {got} fetched");
            }
            if let Some(p) = part {
                p.finish(dest)?;
            }
            return Ok(fetched);
        }
        // A kept prefix that did not verify gets one fresh download; a fresh one that does
        // not verify is the registry's fault.
        file.set_len(0)?;
        if kept > 0 && !fresh_done {
            fresh_done = true;
            if verbose {
                eprintln!("blob {d}: the kept partial download did not verify; starting again");
            }
            continue;
        }
        if let Some(p) = part {
            p.discard();
        }
        if n != size {
            bail!("blob {d}: the registry sent {n}+ bytes, the descriptor says {size}");
        }
        bail!("blob {d}: content from the registry does not match its digest (it is {digest})");
    }
}

/// One download attempt: re-hashes what `file` holds, asks for the rest, appends it.
/// Returns the hash over the whole file, the bytes kept from before, the bytes fetched.
async fn fetch(
    session: &Session,
    d: &Digest,
    size: u64,
    file: std::fs::File,
    bar: &ItemBar,
    timeout: Duration,
) -> Result<(Hasher, u64, u64), OciDistributionError> {
    let activity = Activity::new();
    idle(timeout, activity.clone(), async move {
        let mut f = tokio::fs::File::from_std(file);
        let mut have = f.metadata().await?.len();
        if have > size {
            f.set_len(0).await?;
            have = 0;
        }
        let mut h = Hasher::new();
        f.seek(SeekFrom::Start(0)).await?;
        let mut buf = vec![0u8; HASH_READ];
        while h.len() < have {
            let want = (have - h.len()).min(HASH_READ as u64) as usize;
            let n = f.read(&mut buf[..want]).await?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
            activity.touch();
        }
        have = h.len();
        if have == size {
            return Ok((h, have, 0));
        }
        let url = session.repo_url(&format!("blobs/{d}")).map_err(generic)?;
        let mut req = session.request(Method::GET, url).await?;
        if have > 0 {
            req = req.header(header::RANGE, format!("bytes={have}-"));
        }
        let resp = req.send().await?;
        let restart = match resp.status() {
            StatusCode::PARTIAL_CONTENT if have > 0 => {
                let range = resp
                    .headers()
                    .get(header::CONTENT_RANGE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                if !range.starts_with(&format!("bytes {have}-")) {
                    return Err(invalid(format!(
                        "blob {d}: asked for bytes {have}- and the registry sent {range:?}"
                    )));
                }
                false
            }
            // A registry that ignores Range sends it all: start again from zero.
            StatusCode::OK => true,
            _ => return Err(status_error(&resp)),
        };
        let kept = if restart {
            f.set_len(0).await?;
            f.seek(SeekFrom::Start(0)).await?;
            h = Hasher::new();
            0
        } else {
            f.seek(SeekFrom::Start(have)).await?;
            bar.inc(have);
            have
        };
        let mut fetched = 0u64;
        // The body arrives in pieces of a few KiB: buffered, the file gets one write (one
        // trip to tokio's blocking pool) per WRITE_BUF instead of one per piece.
        let mut f = tokio::io::BufWriter::with_capacity(WRITE_BUF, f);
        let mut s = resp.bytes_stream();
        while let Some(chunk) = s.next().await {
            // A connection cut mid-body is worth another attempt (which resumes); reqwest
            // calls it a decode error, which `transient` does not retry.
            let chunk = match chunk {
                Ok(c) => c,
                Err(e) => {
                    // What arrived is kept for the resume.
                    f.flush().await?;
                    return Err(if e.is_timeout() {
                        e.into()
                    } else {
                        OciDistributionError::IoError(std::io::Error::new(
                            std::io::ErrorKind::UnexpectedEof,
                            format!("blob {d}: the download broke off: {e}"),
                        ))
                    });
                }
            };
            activity.touch();
            h.update(&chunk);
            fetched += chunk.len() as u64;
            if h.len() > size {
                break;
            }
            f.write_all(&chunk).await?;
            bar.inc(chunk.len() as u64);
        }
        f.flush().await?;
        Ok((h, kept, fetched))
    })
    .await
}

/// How a blob reached the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sent {
    /// Mounted from another repository: no bytes moved.
    Mounted,
    /// Uploaded in full.
    Uploaded,
}

/// How one upload attempt sends its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Monolithic,
    Chunked(u64),
}

/// An attempt's end: done, or the registry refused the mode (not worth a retry, worth the
/// other mode).
enum Attempt {
    Done,
    Refused { status: u16, why: String },
}

/// Where a blob is and how to send it.
pub(crate) struct BlobUpload<'a> {
    pub session: &'a Session,
    pub registry: &'a str,
    pub repo: &'a str,
    pub root: &'a Path,
    pub digest: Digest,
    pub size: u64,
    pub bar: Arc<ItemBar>,
    pub timeout: Duration,
    pub chunk: Option<u64>,
    pub verbose: bool,
}

impl BlobUpload<'_> {
    /// Mounts the blob from a repository it was seen in, else uploads it, switching between
    /// monolithic and chunked uploads when the registry refuses one.
    pub async fn run(&self) -> Result<Sent> {
        let d = self.digest;
        for from in cache::locations(self.registry, &d)
            .into_iter()
            .filter(|r| r != self.repo)
            .take(2)
        {
            // A hint only: a failed mount costs nothing but this request.
            if let Ok(true) = retry(&format!("mounting blob {d}"), || self.mount(&from)).await {
                if self.verbose {
                    eprintln!("blob {d}: mounted from {from}");
                }
                return Ok(Sent::Mounted);
            }
        }
        let mut mode = match self.chunk {
            Some(n) => Mode::Chunked(n),
            None => Mode::Monolithic,
        };
        let (mut tried_mono, mut tried_chunked) = (false, false);
        loop {
            match mode {
                Mode::Monolithic => tried_mono = true,
                Mode::Chunked(_) => tried_chunked = true,
            }
            let what = format!("uploading blob {d}");
            let refusal = match retry(&what, || self.attempt(mode)).await? {
                Attempt::Done => return Ok(Sent::Uploaded),
                Attempt::Refused { status, why } => (status, why),
            };
            let next = match (mode, refusal.0) {
                (Mode::Chunked(n), 413) if n / 2 >= MIN_CHUNK => Some(Mode::Chunked(n / 2)),
                (Mode::Monolithic, _) if !tried_chunked => {
                    Some(Mode::Chunked(self.chunk.unwrap_or(DEFAULT_CHUNK)))
                }
                (Mode::Chunked(_), _) if !tried_mono => Some(Mode::Monolithic),
                _ => None,
            };
            let Some(next) = next else {
                bail!(
                    "blob {d}: the registry refused the upload ({}); try another --chunk-size",
                    refusal.1
                );
            };
            if self.verbose {
                eprintln!("blob {d}: {}; trying {next:?}", refusal.1);
            }
            mode = next;
        }
    }

    async fn mount(&self, from: &str) -> Result<bool, OciDistributionError> {
        mount(self.session, &self.digest, from).await
    }

    /// Opens an upload session; its location.
    async fn start(&self) -> Result<Url, OciDistributionError> {
        let url = self.session.repo_url("blobs/uploads/").map_err(generic)?;
        let resp = self
            .session
            .request(Method::POST, url.clone())
            .await?
            .header(header::CONTENT_LENGTH, 0)
            .send()
            .await?;
        if resp.status() != StatusCode::ACCEPTED {
            return Err(status_error(&resp));
        }
        location(&resp, &url)
            .ok_or_else(|| invalid("the registry opened an upload without a Location".into()))
    }

    /// Best effort: abandons an upload session.
    async fn cancel(&self, loc: Url) {
        if let Ok(req) = self.session.request(Method::DELETE, loc).await {
            let _ = req.send().await;
        }
    }

    async fn attempt(&self, mode: Mode) -> Result<Attempt, OciDistributionError> {
        let activity = Activity::new();
        idle(self.timeout, activity.clone(), async {
            let loc = self.start().await?;
            match mode {
                Mode::Monolithic => self.monolithic(loc, activity).await,
                Mode::Chunked(n) => self.chunked(loc, n, activity).await,
            }
        })
        .await
    }

    async fn monolithic(
        &self,
        loc: Url,
        activity: Activity,
    ) -> Result<Attempt, OciDistributionError> {
        let (stream, fatal) = Upload::open(
            self.root,
            self.digest,
            self.size,
            self.bar.clone(),
            activity,
        )?;
        let sent = self
            .session
            .request(Method::PUT, with_digest(&loc, &self.digest))
            .await?
            .header(header::CONTENT_LENGTH, self.size)
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .body(reqwest::Body::wrap_stream(stream))
            .send()
            .await;
        let resp = match sent {
            Ok(r) => r,
            // The stream's own refusal (a wrong file), not reqwest's wrapping of it.
            Err(e) => {
                let fatal = fatal.lock().unwrap_or_else(|p| p.into_inner()).take();
                return Err(fatal.map_or(e.into(), invalid));
            }
        };
        match resp.status().as_u16() {
            201 => Ok(Attempt::Done),
            c @ (400 | 405 | 411 | 413 | 501) => {
                self.cancel(loc).await;
                Ok(Attempt::Refused {
                    status: c,
                    why: format!(
                        "a single-request upload of {} bytes was answered {c}",
                        self.size
                    ),
                })
            }
            _ => Err(status_error(&resp)),
        }
    }

    async fn chunked(
        &self,
        mut loc: Url,
        chunk: u64,
        activity: Activity,
    ) -> Result<Attempt, OciDistributionError> {
        let d = self.digest;
        let file = open_blob_file(self.root, &d).map_err(|e| invalid(e.to_string()))?;
        let mut f = tokio::fs::File::from_std(file);
        let mut h = Hasher::new();
        let mut off = 0u64;
        while off < self.size {
            let len = chunk.min(self.size - off);
            let mut buf = vec![0u8; len as usize];
            f.read_exact(&mut buf).await.map_err(|e| {
                invalid(format!(
                    "blob {d}: {e} (the file ended before the descriptor's size)"
                ))
            })?;
            h.update(&buf);
            let resp = self
                .session
                .request(Method::PATCH, loc.clone())
                .await?
                .header(header::CONTENT_RANGE, format!("{off}-{}", off + len - 1))
                .header(header::CONTENT_LENGTH, len)
                .header(header::CONTENT_TYPE, "application/octet-stream")
                .body(buf)
                .send()
                .await?;
            match resp.status().as_u16() {
                202 => {
                    loc = location(&resp, &loc).unwrap_or(loc);
                }
                // 201 finishes an upload, which a PATCH cannot do (no digest given): this
                // registry does not take chunks.
                c @ (201 | 400 | 405 | 411 | 413 | 416 | 501) => {
                    self.cancel(loc).await;
                    return Ok(Attempt::Refused {
                        status: c,
                        why: format!("a chunk of {len} bytes was answered {c}"),
                    });
                }
                _ => return Err(status_error(&resp)),
            }
            off += len;
            self.bar.inc(len);
            activity.touch();
        }
        // Committed only once the bytes sent are the blob.
        let mut probe = [0u8; 1];
        let longer = f.read(&mut probe).await? != 0;
        let (got, _) = h.finish();
        if longer || got != d {
            self.cancel(loc).await;
            return Err(invalid(if longer {
                format!("blob {d}: the file is longer than its descriptor says")
            } else {
                format!(
                    "blob {d}: content does not match its digest (it is {got}); its upload was abandoned"
                )
            }));
        }
        let resp = self
            .session
            .request(Method::PUT, with_digest(&loc, &d))
            .await?
            .header(header::CONTENT_LENGTH, 0)
            .send()
            .await?;
        if resp.status() != StatusCode::CREATED {
            return Err(status_error(&resp));
        }
        Ok(Attempt::Done)
    }
}

/// `POST …/blobs/uploads/?mount=&from=`: true when the registry mounted blob `d` from
/// repository `from` (201).
pub(crate) async fn mount(
    session: &Session,
    d: &Digest,
    from: &str,
) -> Result<bool, OciDistributionError> {
    let mut url = session.repo_url("blobs/uploads/").map_err(generic)?;
    url.query_pairs_mut()
        .append_pair("mount", &d.to_string())
        .append_pair("from", from);
    let resp = session
        .mount_request(url.clone(), from)
        .await?
        .header(header::CONTENT_LENGTH, 0)
        .send()
        .await?;
    match resp.status().as_u16() {
        201 => Ok(true),
        // The registry opened an upload instead (it does not have the blob there, or we
        // may not read `from`): cancel it.
        202 => {
            if let Some(loc) = location(&resp, &url)
                && let Ok(req) = session.request(Method::DELETE, loc).await
            {
                let _ = req.send().await;
            }
            Ok(false)
        }
        c if c >= 500 => Err(status_error(&resp)),
        _ => Ok(false),
    }
}

/// The response's `Location`, resolved against the request's URL.
pub(super) fn location(resp: &reqwest::Response, base: &Url) -> Option<Url> {
    let l = resp.headers().get(header::LOCATION)?.to_str().ok()?;
    base.join(l).ok()
}

pub(super) fn with_digest(loc: &Url, d: &Digest) -> Url {
    let mut u = loc.clone();
    u.query_pairs_mut().append_pair("digest", &d.to_string());
    u
}

/// One blob upload's body: the layout file read in chunks, hashed as it goes; the chunk that
/// completes the blob is released only once the size and digest checked out.
struct Upload {
    file: tokio::fs::File,
    digest: Digest,
    hasher: Hasher,
    remaining: u64,
    bar: Arc<crate::oci::progress::ItemBar>,
    activity: Activity,
    fatal: Arc<Mutex<Option<String>>>,
}

type UploadStream = std::pin::Pin<
    Box<dyn futures_util::Stream<Item = Result<bytes::Bytes, OciDistributionError>> + Send>,
>;

impl Upload {
    #[allow(clippy::type_complexity)]
    fn open(
        root: &Path,
        digest: Digest,
        size: u64,
        bar: Arc<crate::oci::progress::ItemBar>,
        activity: Activity,
    ) -> Result<(UploadStream, Arc<Mutex<Option<String>>>), OciDistributionError> {
        let file = open_blob_file(root, &digest).map_err(|e| invalid(e.to_string()))?;
        let fatal = Arc::new(Mutex::new(None));
        let up = Upload {
            file: tokio::fs::File::from_std(file),
            digest,
            hasher: Hasher::new(),
            remaining: size,
            bar,
            activity,
            fatal: fatal.clone(),
        };
        let s = stream::try_unfold(up, |mut up| async move {
            if up.remaining == 0 {
                return Ok(None);
            }
            let n = up.chunk().await.map_err(|msg| {
                *up.fatal.lock().unwrap_or_else(|p| p.into_inner()) = Some(msg.clone());
                invalid(msg)
            })?;
            Ok(Some((n, up)))
        });
        Ok((Box::pin(s), fatal))
    }

    async fn chunk(&mut self) -> Result<bytes::Bytes, String> {
        let d = self.digest;
        let want = usize::try_from(self.remaining)
            .unwrap_or(usize::MAX)
            .min(READ_CHUNK);
        let mut buf = vec![0u8; want];
        let mut got = 0;
        while got < want {
            let n = self
                .file
                .read(&mut buf[got..])
                .await
                .map_err(|e| format!("blob {d}: {e}"))?;
            if n == 0 {
                return Err(format!(
                    "blob {d}: the file ended before the descriptor's size"
                ));
            }
            got += n;
        }
        self.hasher.update(&buf);
        self.remaining -= want as u64;
        if self.remaining == 0 {
            let mut probe = [0u8; 1];
            if self
                .file
                .read(&mut probe)
                .await
                .map_err(|e| e.to_string())?
                != 0
            {
                return Err(format!(
                    "blob {d}: the file is longer than its descriptor says"
                ));
            }
            let (got, _) = self.hasher.clone().finish();
            if got != d {
                return Err(format!(
                    "blob {d}: content does not match its digest (it is {got}); its upload was abandoned"
                ));
            }
        }
        self.bar.inc(want as u64);
        self.activity.touch();
        Ok(bytes::Bytes::from(buf))
    }
}
