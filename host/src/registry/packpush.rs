//! `pack DIR --push REGISTRY/REPO:TAG`: a model directory straight to a registry, with no
//! layout on disk and every byte read once.
//!
//! A layer's digest is known only once all its bytes were read, so each layer goes up as an
//! upload session whose digest is given at the end (distribution spec, "Pushing a blob in
//! chunks"): `POST …/blobs/uploads/`, then the bytes, then `PUT <location>?digest=`. A
//! blocking thread reads the files (or builds the tar), hashing as it writes into a bounded
//! channel; the request body drains the channel. By default the bytes go in one streamed
//! `PATCH`; with `--chunk-size` (or when a registry refuses the streamed one) in `PATCH`es
//! of that size with `Content-Range`, halved on 413. The `PUT` that commits a layer names
//! the digest the reading thread computed, so the registry checks the bytes it got against
//! it: nothing wrong is ever committed.
//!
//! A file pushed before is not read again when the registry already has its blob: the
//! digest remembered for the file ([`super::file_digests`]: same inode, size, mtime and ctime)
//! is looked up first, and a HEAD in the target repository, then a cross-repository mount from
//! where the blob was last pushed ([`super::cache`]), end the layer without a byte read or
//! sent. The config goes the same way. A second `pack --push` of a model to another repository
//! so transfers no blob bytes.
//!
//! Config and manifest are the bytes `pack` would store ([`crate::oci::pack::assemble`]), so
//! the manifest digest is the one `pack` + `push` gives. The manifest (and so the tag) is
//! pushed last, once every blob is committed: an interrupted or failed `pack --push` leaves
//! at most unreferenced blobs, which the registry's garbage collection removes, never a tag.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt, stream};
use oci_client::RegistryOperation;
use oci_client::errors::OciDistributionError;
use reqwest::{Method, StatusCode, Url, header};
use serde_json::Value;
use tokio::sync::mpsc;

use super::file_digests::{self, FileDigests, Stamp};
use super::session::{Activity, Session, idle, status_error};
use super::transfer::{DEFAULT_CHUNK, MIN_CHUNK, location, with_digest};
use super::{PARALLEL, PushOutcome, RegistryOptions, auth, cache, invalid, retry};
use crate::model::{LayerFormat, PlannedFile};
use crate::oci::digest::Digest;
use crate::oci::layers::{self, BuiltLayer, LayerPlan, LayerSettings};
use crate::oci::pack::{Assembled, assemble};
use crate::oci::progress::{ItemBar, Progress};

/// Bytes per message from the reading thread to the request body.
const MESSAGE: usize = 1 << 20;
/// Messages in flight per layer: the memory bound of one upload is `MESSAGE * DEPTH`.
const DEPTH: usize = 8;

/// What `pack --push` did.
pub struct Pushed {
    /// Counts and bytes, as `push` reports them.
    pub outcome: PushOutcome,
    /// The config and manifest pushed.
    pub assembled: Assembled,
    /// The layers in manifest order.
    pub layers: Vec<BuiltLayer>,
}

/// Packs `files` with `config` and pushes the artifact to `target` (see the module doc);
/// `check` sees the built layers before the config and manifest go up.
pub fn pack_push(
    files: &[PlannedFile],
    config: Value,
    format: LayerFormat,
    check: &dyn Fn(&[BuiltLayer]) -> Result<()>,
    target: &str,
    opts: &RegistryOptions,
) -> Result<Pushed> {
    let plans = layers::plan_layers(files, format)?;
    if plans.is_empty() {
        bail!("nothing to pack: no files");
    }
    let settings = LayerSettings::from_env()?;
    let reference = super::parse_reference(target)?;
    let creds = auth::credentials(reference.resolve_registry())?;
    let timeout = opts.timeout;
    let rt = super::runtime()?;
    rt.block_on(async {
        let session = Session::open(
            &reference,
            &creds,
            RegistryOperation::Push,
            opts.plain_http,
            timeout,
        )
        .await?;
        let total: u64 = plans.iter().map(LayerPlan::content_size).sum();
        let progress = Progress::stderr(opts.progress, "pushing", total);
        let known = FileDigests::load();
        let client = session.client().await?;
        let reuse = Reuse {
            session: &session,
            client: &client,
            reference: &reference,
            registry: reference.resolve_registry().to_string(),
            repo: reference.repository().to_string(),
            timeout,
            verbose: opts.verbose,
        };
        let layers: Result<Vec<LayerPushed>> = stream::iter(plans.iter())
            .map(|plan| {
                let (session, progress, known, reuse) = (&session, &progress, &known, &reuse);
                async move {
                    let bar = Arc::new(progress.item(&plan.filepath(), plan.content_size()));
                    let up = LayerUpload {
                        session,
                        plan,
                        settings,
                        bar,
                        timeout,
                        verbose: opts.verbose,
                    };
                    up.push(opts.chunk_size, known, reuse).await
                }
            })
            // In order: the manifest lists the layers as planned.
            .buffered(PARALLEL)
            .try_collect()
            .await;
        progress.finish();
        let layers = layers?;
        // The digests hold whatever happens next (a refused check, a failed manifest push).
        let hashed: Vec<(Stamp, Stamp, Digest)> = layers
            .iter()
            .filter_map(|l| l.stamps.map(|(a, b)| (a, b, l.built.descriptor.digest)))
            .collect();
        file_digests::remember(&hashed);
        let built: Vec<BuiltLayer> = layers.iter().map(|l| l.built.clone()).collect();
        check(&built)?;
        let assembled = assemble(config, &built)?;
        let config_digest = assembled.config.digest;
        let config_sent = match reuse.find(&config_digest).await? {
            Some(how) => how,
            None => {
                retry("uploading the config", || {
                    put_small(&session, &assembled.config_bytes, &config_digest, timeout)
                })
                .await?;
                Reused::Uploaded
            }
        };
        let content_type = header::HeaderValue::from_static(crate::model::MANIFEST_MEDIA_TYPE);
        // The tag appears only here, once every blob it names is committed.
        retry("pushing the manifest", || {
            idle(
                timeout,
                Activity::new(),
                client.push_manifest_raw(
                    &reference,
                    assembled.manifest_bytes.clone(),
                    content_type.clone(),
                ),
            )
        })
        .await?;
        let mut digests: Vec<Digest> = built.iter().map(|l| l.descriptor.digest).collect();
        digests.push(config_digest);
        cache::remember(&reuse.registry, &reuse.repo, &digests);
        let mut outcome = PushOutcome {
            manifest: assembled.manifest.digest,
            uploaded: 0,
            skipped: 0,
            mounted: 0,
            bytes: 0,
        };
        let sent = layers
            .iter()
            .map(|l| (l.how, l.built.descriptor.size))
            .chain([(config_sent, assembled.config.size)]);
        for (how, size) in sent {
            match how {
                Reused::Uploaded => {
                    outcome.uploaded += 1;
                    outcome.bytes += size;
                }
                Reused::Skipped => outcome.skipped += 1,
                Reused::Mounted => outcome.mounted += 1,
            }
        }
        Ok(Pushed {
            outcome,
            assembled,
            layers: built,
        })
    })
}

/// How a blob got into the target repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reused {
    /// Its bytes were sent.
    Uploaded,
    /// The repository had it already (HEAD).
    Skipped,
    /// Mounted from another repository of the registry.
    Mounted,
}

/// One layer pushed.
struct LayerPushed {
    built: BuiltLayer,
    how: Reused,
    /// The file's stamps before and after it was read in full (single-file raw layers).
    stamps: Option<(Stamp, Stamp)>,
}

/// Asks the registry for blobs it may already have.
struct Reuse<'a> {
    session: &'a Session,
    client: &'a oci_client::Client,
    reference: &'a oci_client::Reference,
    registry: String,
    repo: String,
    timeout: Duration,
    verbose: bool,
}

impl Reuse<'_> {
    /// A HEAD in the target repository, then a mount from (at most two) repositories the
    /// blob was last seen in; `None` when it has to be uploaded.
    async fn find(&self, d: &Digest) -> Result<Option<Reused>> {
        let ds = d.to_string();
        let exists = retry(&format!("checking blob {d}"), || {
            idle(
                self.timeout,
                Activity::new(),
                self.client.blob_exists(self.reference, &ds),
            )
        })
        .await?;
        if exists {
            if self.verbose {
                eprintln!("blob {d}: already in the repository, not read or sent");
            }
            return Ok(Some(Reused::Skipped));
        }
        for from in cache::locations(&self.registry, d)
            .into_iter()
            .filter(|r| *r != self.repo)
            .take(2)
        {
            // A hint only: a failed mount costs nothing but this request.
            let mounted = retry(&format!("mounting blob {d}"), || {
                idle(
                    self.timeout,
                    Activity::new(),
                    super::transfer::mount(self.session, d, &from),
                )
            })
            .await;
            if let Ok(true) = mounted {
                if self.verbose {
                    eprintln!("blob {d}: mounted from {from}, not read or sent");
                }
                return Ok(Some(Reused::Mounted));
            }
        }
        Ok(None)
    }
}

/// A small blob from memory: `POST` an upload, `PUT ?digest=` with the bytes.
async fn put_small(
    session: &Session,
    bytes: &[u8],
    digest: &Digest,
    timeout: Duration,
) -> Result<(), OciDistributionError> {
    idle(timeout, Activity::new(), async {
        let loc = start(session).await?;
        let resp = session
            .request(Method::PUT, with_digest(&loc, digest))
            .await?
            .header(header::CONTENT_LENGTH, bytes.len())
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .body(bytes.to_vec())
            .send()
            .await?;
        if resp.status() != StatusCode::CREATED {
            return Err(status_error(&resp));
        }
        Ok(())
    })
    .await
}

/// Opens an upload session; its location.
async fn start(session: &Session) -> Result<Url, OciDistributionError> {
    let url = session
        .repo_url("blobs/uploads/")
        .map_err(|e| OciDistributionError::GenericError(Some(e.to_string())))?;
    let resp = session
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
async fn cancel(session: &Session, loc: Url) {
    if let Ok(req) = session.request(Method::DELETE, loc).await {
        let _ = req.send().await;
    }
}

/// How a layer's bytes go up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// One streamed `PATCH`.
    Streamed,
    /// `PATCH`es of this many bytes with `Content-Range`.
    Chunked(u64),
}

/// How one attempt ended.
enum Attempt {
    Done(BuiltLayer),
    /// The registry refused this mode (status, why): try another.
    Refused(u16, String),
}

/// One layer's upload.
struct LayerUpload<'a> {
    session: &'a Session,
    plan: &'a LayerPlan,
    settings: LayerSettings,
    bar: Arc<ItemBar>,
    timeout: Duration,
    verbose: bool,
}

impl LayerUpload<'_> {
    /// Pushes the layer: without reading it when its file's digest is known and the registry
    /// has that blob (see the module doc), else by uploading it.
    async fn push(
        &self,
        chunk: Option<u64>,
        known: &FileDigests,
        reuse: &Reuse<'_>,
    ) -> Result<LayerPushed> {
        let file = match self.plan.files.as_slice() {
            [f] if self.plan.format == LayerFormat::Raw => Some(f),
            _ => None,
        };
        let before = file
            .and_then(|f| Stamp::of(&f.abs))
            .filter(|s| file.is_some_and(|f| s.size() == f.size));
        if let Some(d) = before.and_then(|s| known.lookup(&s))
            && let Some(how) = reuse.find(&d).await?
        {
            self.bar.inc(self.plan.content_size());
            let built = BuiltLayer {
                descriptor: crate::oci::Descriptor {
                    media_type: self.plan.media_type(),
                    artifact_type: None,
                    digest: d,
                    size: self.plan.content_size(),
                    annotations: self.plan.annotations(&self.settings),
                },
                diff_id: d,
                placed: None,
            };
            return Ok(LayerPushed {
                built,
                how,
                stamps: None,
            });
        }
        let built = self.run(chunk).await?;
        let after = file.and_then(|f| Stamp::of(&f.abs));
        Ok(LayerPushed {
            built,
            how: Reused::Uploaded,
            stamps: before.zip(after),
        })
    }

    async fn run(&self, chunk: Option<u64>) -> Result<BuiltLayer> {
        let what = format!("uploading layer {}", self.plan.filepath());
        let mut mode = chunk.map_or(Mode::Streamed, Mode::Chunked);
        loop {
            let (status, why) = match retry(&what, || self.attempt(mode)).await? {
                Attempt::Done(b) => return Ok(b),
                Attempt::Refused(status, why) => (status, why),
            };
            let next = match mode {
                Mode::Streamed => Some(Mode::Chunked(chunk.unwrap_or(DEFAULT_CHUNK))),
                Mode::Chunked(n) if status == 413 && n / 2 >= MIN_CHUNK => {
                    Some(Mode::Chunked(n / 2))
                }
                Mode::Chunked(_) => None,
            };
            let Some(next) = next else {
                bail!(
                    "{what}: the registry refused the upload ({why}); try another --chunk-size, \
                     or `pack -o LAYOUT` and `push` (which can upload in one request)"
                );
            };
            if self.verbose {
                eprintln!("{what}: {why}; trying {next:?}");
            }
            mode = next;
        }
    }

    /// Starts the reading thread and uploads what it writes; commits with its digest.
    async fn attempt(&self, mode: Mode) -> Result<Attempt, OciDistributionError> {
        let activity = Activity::new();
        let loc = idle(self.timeout, activity.clone(), start(self.session)).await?;
        let (tx, rx) = mpsc::channel::<Bytes>(DEPTH);
        let (plan, settings, bar) = (self.plan.clone(), self.settings, self.bar.clone());
        let reader = tokio::task::spawn_blocking(move || {
            let out = ChannelWriter {
                tx,
                buf: Vec::with_capacity(MESSAGE),
            };
            let (out, built) = layers::write_layer(&plan, &settings, out, &bar)?;
            out.finish()?;
            Ok::<_, anyhow::Error>(built)
        });
        let sent = idle(self.timeout, activity.clone(), async {
            match mode {
                Mode::Streamed => self.streamed(loc.clone(), rx, activity.clone()).await,
                Mode::Chunked(n) => self.chunked(loc.clone(), rx, n, activity.clone()).await,
            }
        })
        .await;
        // The reader ends on its own: at the end of its files, or when the body is dropped.
        let built = reader
            .await
            .map_err(|e| invalid(format!("reading {}: {e}", self.plan.filepath())));
        let loc = match sent {
            Ok(Ok(loc)) => loc,
            Ok(Err(refused)) => {
                cancel(self.session, loc).await;
                return Ok(refused);
            }
            Err(e) => {
                cancel(self.session, loc).await;
                // A reader's failure (a file that changed) explains a cut body best.
                if let Ok(Err(r)) = built {
                    return Err(invalid(format!("{r:#}")));
                }
                return Err(e);
            }
        };
        let built = match built? {
            Ok(b) => b,
            Err(e) => {
                cancel(self.session, loc).await;
                return Err(invalid(format!("{e:#}")));
            }
        };
        let resp = idle(self.timeout, activity, async {
            Ok(self
                .session
                .request(Method::PUT, with_digest(&loc, &built.descriptor.digest))
                .await?
                .header(header::CONTENT_LENGTH, 0)
                .send()
                .await?)
        })
        .await?;
        if resp.status() != StatusCode::CREATED {
            return Err(status_error(&resp));
        }
        Ok(Attempt::Done(built))
    }

    /// One `PATCH` whose body is everything the reader writes; the next location.
    async fn streamed(
        &self,
        loc: Url,
        rx: mpsc::Receiver<Bytes>,
        activity: Activity,
    ) -> Result<Result<Url, Attempt>, OciDistributionError> {
        let body = stream::unfold((rx, activity), |(mut rx, activity)| async move {
            let b = rx.recv().await?;
            activity.touch();
            Some((Ok::<_, std::io::Error>(b), (rx, activity)))
        });
        let mut req = self
            .session
            .request(Method::PATCH, loc.clone())
            .await?
            .header(header::CONTENT_TYPE, "application/octet-stream");
        if let [f] = self.plan.files.as_slice()
            && self.plan.format == LayerFormat::Raw
        {
            req = req.header(header::CONTENT_LENGTH, f.size);
        }
        let resp = req.body(reqwest::Body::wrap_stream(body)).send().await?;
        match resp.status().as_u16() {
            202 => Ok(Ok(location(&resp, &loc).unwrap_or(loc))),
            // 201 would end an upload without a digest: this registry does not take streams.
            c @ (201 | 400 | 405 | 411 | 413 | 416 | 501) => Ok(Err(Attempt::Refused(
                c,
                format!("a streamed upload was answered {c}"),
            ))),
            _ => Err(status_error(&resp)),
        }
    }

    /// `PATCH`es of `chunk` bytes with `Content-Range`; the last location.
    async fn chunked(
        &self,
        mut loc: Url,
        mut rx: mpsc::Receiver<Bytes>,
        chunk: u64,
        activity: Activity,
    ) -> Result<Result<Url, Attempt>, OciDistributionError> {
        let chunk = usize::try_from(chunk).unwrap_or(usize::MAX);
        let mut off = 0u64;
        let mut pending: Vec<u8> = Vec::new();
        let mut ended = false;
        loop {
            while !ended && pending.len() < chunk {
                match rx.recv().await {
                    Some(b) => pending.extend_from_slice(&b),
                    None => ended = true,
                }
            }
            if pending.is_empty() {
                break;
            }
            let rest = pending.split_off(pending.len().min(chunk));
            let part = std::mem::replace(&mut pending, rest);
            let len = part.len() as u64;
            let resp = self
                .session
                .request(Method::PATCH, loc.clone())
                .await?
                .header(header::CONTENT_RANGE, format!("{off}-{}", off + len - 1))
                .header(header::CONTENT_LENGTH, len)
                .header(header::CONTENT_TYPE, "application/octet-stream")
                .body(part)
                .send()
                .await?;
            match resp.status().as_u16() {
                202 => loc = location(&resp, &loc).unwrap_or(loc),
                c @ (201 | 400 | 405 | 411 | 413 | 416 | 501) => {
                    return Ok(Err(Attempt::Refused(
                        c,
                        format!("a chunk of {len} bytes was answered {c}"),
                    )));
                }
                _ => return Err(status_error(&resp)),
            }
            off += len;
            activity.touch();
        }
        Ok(Ok(loc))
    }
}

/// The reading thread's end of the channel: writes become messages of [`MESSAGE`] bytes.
struct ChannelWriter {
    tx: mpsc::Sender<Bytes>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let b = Bytes::from(std::mem::replace(
            &mut self.buf,
            Vec::with_capacity(MESSAGE),
        ));
        self.tx.blocking_send(b).map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::BrokenPipe,
                "the upload stopped taking bytes",
            )
        })
    }

    fn finish(mut self) -> Result<()> {
        self.send().context("uploading")
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let room = MESSAGE - self.buf.len();
        let n = room.min(data.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == MESSAGE {
            self.send()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        // Messages go when full or at the end: a flush (a tar or compressor's) would only
        // make small ones.
        Ok(())
    }
}
