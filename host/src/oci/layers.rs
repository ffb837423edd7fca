//! From classified files to layers: which files go in which layer, the layer's media type and
//! annotations, and its bytes (written to a blob store, or only hashed).
//!
//! Layer plan:
//! - every weight file is its own raw layer (weights are never tarred or compressed: they
//!   barely compress and the spec asks for separate layers);
//! - with `--layer-format raw`, every other file is its own raw layer too;
//! - with `tar`, `tar+gzip` or `tar+zstd`, the files of each other kind share one tar layer.
//!
//! Order: weights, then weight.config, doc, code, dataset; files sorted by path within a kind.
//! The same code computes descriptors and diffIds for `pack` and for `generate`, so the
//! config a user generates names the same diffIds as the one packed.

use std::collections::BTreeMap;
use std::io::Write;

use anyhow::{Context, Result, bail};
use serde_json::json;

use super::archive::{BUF_LEN, Compressor, normalised_mode, write_tar};
use super::blob::{BlobDir, LinkMode, Placed, hash_file};
use super::digest::{Digest, HashWriter};
use super::progress::{ItemBar, Progress};
use super::time::format_rfc3339;
use super::{Descriptor, canonical_json, pool};
use crate::model::{
    ANNOTATION_FILE_METADATA, ANNOTATION_FILEPATH, ANNOTATION_TITLE, ANNOTATION_UNTESTED,
    LayerFormat, LayerKind, PlannedFile, layer_media_type,
};

/// The `typeflag` written in `file.metadata+json` for a regular file: the tar header byte
/// `'0'` (48), as Go's `tar.TypeReg`, KitOps and Python peers write it. Readers also accept 0.
pub const TYPEFLAG_REGULAR: u8 = b'0';

/// Environment variable fixing the mtime written in tar headers and file metadata.
pub const SOURCE_DATE_EPOCH: &str = "SOURCE_DATE_EPOCH";

/// What makes layer bytes reproducible.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayerSettings {
    /// mtime (Unix seconds) of every tar entry and every `file.metadata+json`.
    pub mtime: u64,
}

impl LayerSettings {
    /// mtime from `SOURCE_DATE_EPOCH` when set, else 0 (1970-01-01T00:00:00Z).
    pub fn from_env() -> Result<LayerSettings> {
        let mtime = match std::env::var(SOURCE_DATE_EPOCH) {
            Ok(v) if !v.trim().is_empty() => v.trim().parse::<u64>().map_err(|_| {
                anyhow::anyhow!("{SOURCE_DATE_EPOCH}={v:?} is not a non-negative integer")
            })?,
            _ => 0,
        };
        Ok(LayerSettings { mtime })
    }
}

/// One layer to build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerPlan {
    /// What the layer holds.
    pub kind: LayerKind,
    /// How its bytes are encoded.
    pub format: LayerFormat,
    /// Its files (exactly one for raw layers), sorted by path.
    pub files: Vec<PlannedFile>,
}

impl LayerPlan {
    /// `application/vnd.cncf.model.<kind>.v1.<format>`.
    pub fn media_type(&self) -> String {
        layer_media_type(self.kind, self.format)
    }

    /// The `org.cncf.model.filepath` value: the file's path for a single-file layer; for a
    /// multi-file tar, the deepest directory holding all its files (`.` for the root).
    pub fn filepath(&self) -> String {
        if let [only] = self.files.as_slice() {
            return only.path.clone();
        }
        let dirs: Vec<Vec<&str>> = self
            .files
            .iter()
            .map(|f| {
                let mut parts: Vec<&str> = f.path.split('/').collect();
                parts.pop();
                parts
            })
            .collect();
        let mut common: Vec<&str> = dirs.first().cloned().unwrap_or_default();
        for d in &dirs[1..] {
            let n = common.iter().zip(d).take_while(|(a, b)| a == b).count();
            common.truncate(n);
        }
        if common.is_empty() {
            ".".to_string()
        } else {
            common.join("/")
        }
    }

    /// The layer's annotations: filepath; `file.metadata+json` when it holds one file;
    /// `file.mediatype.untested` = "true" when any file's kind was guessed; for a raw layer,
    /// `org.opencontainers.image.title` = its path, so generic OCI tools name the file.
    pub fn annotations(&self, settings: &LayerSettings) -> BTreeMap<String, String> {
        let mut a = BTreeMap::new();
        a.insert(ANNOTATION_FILEPATH.to_string(), self.filepath());
        if self.format == LayerFormat::Raw {
            a.insert(ANNOTATION_TITLE.to_string(), self.filepath());
        }
        if let [only] = self.files.as_slice() {
            a.insert(
                ANNOTATION_FILE_METADATA.to_string(),
                file_metadata(only, settings),
            );
        }
        if self.files.iter().any(|f| f.untested) {
            a.insert(ANNOTATION_UNTESTED.to_string(), "true".to_string());
        }
        a
    }

    /// Bytes of file content the layer reads.
    pub fn content_size(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }
}

/// The `org.cncf.model.file.metadata+json` value of a file, as canonical JSON.
pub fn file_metadata(f: &PlannedFile, settings: &LayerSettings) -> String {
    let name = f.path.rsplit('/').next().unwrap_or(&f.path);
    let v = json!({
        "name": name,
        "mode": normalised_mode(f.mode),
        "uid": 0,
        "gid": 0,
        "size": f.size,
        "mtime": format_rfc3339(i64::try_from(settings.mtime).unwrap_or(i64::MAX)),
        "typeflag": TYPEFLAG_REGULAR,
    });
    String::from_utf8(canonical_json(&v)).expect("JSON is UTF-8")
}

/// Checks a root-relative path as it goes into `org.cncf.model.filepath` and tar headers.
pub fn check_relative_path(p: &str) -> Result<(), String> {
    if p.is_empty() {
        return Err("empty path".into());
    }
    if p.starts_with('/') {
        return Err(format!("{p:?} is absolute"));
    }
    if p.contains('\\') || p.contains('\0') {
        return Err(format!("{p:?} contains a backslash or NUL"));
    }
    if p.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
        return Err(format!("{p:?} has an empty, `.` or `..` component"));
    }
    Ok(())
}

/// Groups files into layers (see the module doc); errors on unsafe or duplicate paths.
pub fn plan_layers(files: &[PlannedFile], format: LayerFormat) -> Result<Vec<LayerPlan>> {
    let mut sorted: Vec<&PlannedFile> = files.iter().collect();
    sorted.sort_by(|a, b| (a.kind, &a.path).cmp(&(b.kind, &b.path)));
    let mut seen = std::collections::BTreeSet::new();
    for f in &sorted {
        check_relative_path(&f.path).map_err(|e| anyhow::anyhow!("cannot pack {e}"))?;
        if !seen.insert(f.path.as_str()) {
            bail!("{:?} is listed twice", f.path);
        }
    }
    let mut plans = Vec::new();
    for kind in LayerKind::ALL {
        let of_kind: Vec<PlannedFile> = sorted
            .iter()
            .filter(|f| f.kind == kind)
            .map(|f| (*f).clone())
            .collect();
        if of_kind.is_empty() {
            continue;
        }
        if kind == LayerKind::Weight || format == LayerFormat::Raw {
            plans.extend(of_kind.into_iter().map(|f| LayerPlan {
                kind,
                format: LayerFormat::Raw,
                files: vec![f],
            }));
        } else {
            plans.push(LayerPlan {
                kind,
                format,
                files: of_kind,
            });
        }
    }
    Ok(plans)
}

/// A layer's descriptor and diffId (digest of its uncompressed content).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltLayer {
    /// The manifest's layer descriptor.
    pub descriptor: Descriptor,
    /// The config's `modelfs.diffIds` entry.
    pub diff_id: Digest,
    /// How a raw file got into the store (`None` for tar layers and when only hashing).
    pub placed: Option<Placed>,
}

/// Where layer bytes go.
#[derive(Clone, Copy)]
pub enum Sink<'a> {
    /// Nowhere: only digests are computed.
    Discard,
    /// Into a blob store.
    Store(&'a BlobDir, LinkMode),
}

/// Builds one layer: reads its files once, stores (or discards) the blob, returns its
/// descriptor and diffId.
pub fn build_layer(
    plan: &LayerPlan,
    settings: &LayerSettings,
    sink: Sink<'_>,
    bar: &ItemBar,
) -> Result<BuiltLayer> {
    let (digest, size, diff_id, placed) = match plan.format {
        LayerFormat::Raw => {
            let [f] = plan.files.as_slice() else {
                bail!("a raw layer holds exactly one file");
            };
            let (d, placed) = match sink {
                Sink::Discard => (hash_file(&f.abs, f.size, bar)?, None),
                Sink::Store(blobs, link) => {
                    let (d, p) = blobs.put_file(&f.abs, f.size, link, bar)?;
                    (d, Some(p))
                }
            };
            (d, f.size, d, placed)
        }
        format => {
            let (d, n, diff) = match sink {
                Sink::Discard => {
                    let (_, d, n, diff) = stream_tar(plan, settings, format, std::io::sink(), bar)?;
                    (d, n, diff)
                }
                Sink::Store(blobs, _) => {
                    let (w, d, n, diff) = stream_tar(plan, settings, format, blobs.writer()?, bar)?;
                    w.commit(blobs, &d)?;
                    (d, n, diff)
                }
            };
            (d, n, diff, None)
        }
    };
    Ok(BuiltLayer {
        descriptor: Descriptor {
            media_type: plan.media_type(),
            artifact_type: None,
            digest,
            size,
            annotations: plan.annotations(settings),
        },
        diff_id,
        placed,
    })
}

/// Writes one layer's bytes to `out` (a registry upload, for `pack --push`), reading its
/// files once and hashing on the way; returns `out` and the layer's descriptor and diffId,
/// the same `build_layer` gives for the same plan.
pub fn write_layer<W: Write>(
    plan: &LayerPlan,
    settings: &LayerSettings,
    out: W,
    bar: &ItemBar,
) -> Result<(W, BuiltLayer)> {
    let (out, digest, size, diff_id) = match plan.format {
        LayerFormat::Raw => {
            let [f] = plan.files.as_slice() else {
                bail!("a raw layer holds exactly one file");
            };
            let mut reader = super::archive::ExactReader::open(&f.abs, f.size)?;
            let mut w = HashWriter::new(out);
            // Small enough to stay in L2 between the read, the hash and the copy out.
            let mut buf = vec![0u8; super::blob::COPY_BUF_LEN];
            loop {
                let n = std::io::Read::read(&mut reader, &mut buf)?;
                if n == 0 {
                    break;
                }
                w.write_all(&buf[..n])?;
                bar.inc(n as u64);
            }
            let (out, d, n) = w.finish();
            if n != f.size {
                bail!("{}: read {n} bytes, expected {}", f.abs.display(), f.size);
            }
            (out, d, n, d)
        }
        format => stream_tar(plan, settings, format, out, bar)?,
    };
    Ok((
        out,
        BuiltLayer {
            descriptor: Descriptor {
                media_type: plan.media_type(),
                artifact_type: None,
                digest,
                size,
                annotations: plan.annotations(settings),
            },
            diff_id,
            placed: None,
        },
    ))
}

/// tar → hash (diffId) → compress → hash (digest) → `out`, in one pass over the files.
fn stream_tar<W: Write>(
    plan: &LayerPlan,
    settings: &LayerSettings,
    format: LayerFormat,
    out: W,
    bar: &ItemBar,
) -> Result<(W, Digest, u64, Digest)> {
    let context = || format!("building the {} tar layer", plan.kind);
    let blob = HashWriter::new(out);
    let compressed = Compressor::new(format, blob).with_context(context)?;
    let uncompressed = HashWriter::new(std::io::BufWriter::with_capacity(BUF_LEN, compressed));
    let uncompressed = write_tar(uncompressed, &plan.files, settings.mtime, &|n| bar.inc(n))
        .with_context(context)?;
    let (buffered, diff_id, _) = uncompressed.finish();
    let compressed = buffered
        .into_inner()
        .map_err(|e| e.into_error())
        .with_context(context)?;
    let blob = compressed.finish().with_context(context)?;
    let (out, digest, size) = blob.finish();
    Ok((out, digest, size, diff_id))
}

/// Descriptors and diffIds of every layer without writing any blob (files are read and, for
/// compressed layers, compressed, exactly as `pack` would). Runs on `jobs` threads.
pub fn describe_layers(
    plans: &[LayerPlan],
    settings: &LayerSettings,
    jobs: usize,
    progress: &Progress,
) -> Result<Vec<BuiltLayer>> {
    build_layers(plans, settings, Sink::Discard, jobs, progress)
}

/// Plans and describes in one call: what `generate` uses to write the diffIds `pack` will
/// write for the same files (no blob is written).
pub fn describe_files(
    files: &[PlannedFile],
    format: LayerFormat,
    settings: &LayerSettings,
    jobs: usize,
) -> Result<Vec<BuiltLayer>> {
    describe_layers(
        &plan_layers(files, format)?,
        settings,
        jobs,
        &Progress::hidden(),
    )
}

/// Builds every layer on `jobs` threads, biggest first; results in plan order.
pub fn build_layers(
    plans: &[LayerPlan],
    settings: &LayerSettings,
    sink: Sink<'_>,
    jobs: usize,
    progress: &Progress,
) -> Result<Vec<BuiltLayer>> {
    pool::try_map(plans, jobs, LayerPlan::content_size, |plan| {
        let bar = progress.item(&plan.filepath(), plan.content_size());
        build_layer(plan, settings, sink, &bar)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn pf(path: &str, kind: LayerKind) -> PlannedFile {
        PlannedFile {
            path: path.into(),
            abs: PathBuf::from("/nonexistent").join(path),
            kind,
            size: 1,
            mode: 0o644,
            untested: false,
        }
    }

    #[test]
    fn plan_orders_kinds_and_paths() {
        let files = vec![
            pf("README.md", LayerKind::Doc),
            pf("b.safetensors", LayerKind::Weight),
            pf("docs/x.md", LayerKind::Doc),
            pf("a.safetensors", LayerKind::Weight),
            pf("config.json", LayerKind::WeightConfig),
        ];
        let raw = plan_layers(&files, LayerFormat::Raw).unwrap();
        let paths: Vec<String> = raw.iter().map(LayerPlan::filepath).collect();
        assert_eq!(
            paths,
            [
                "a.safetensors",
                "b.safetensors",
                "config.json",
                "README.md",
                "docs/x.md"
            ]
        );
        let tar = plan_layers(&files, LayerFormat::TarZstd).unwrap();
        let got: Vec<(String, String)> =
            tar.iter().map(|p| (p.media_type(), p.filepath())).collect();
        assert_eq!(
            got,
            [
                (
                    "application/vnd.cncf.model.weight.v1.raw".into(),
                    "a.safetensors".into()
                ),
                (
                    "application/vnd.cncf.model.weight.v1.raw".into(),
                    "b.safetensors".into()
                ),
                (
                    "application/vnd.cncf.model.weight.config.v1.tar+zstd".into(),
                    "config.json".into()
                ),
                (
                    "application/vnd.cncf.model.doc.v1.tar+zstd".into(),
                    ".".into()
                ),
            ]
        );
        let nested = [pf("d/a/x", LayerKind::Code), pf("d/a/y/z", LayerKind::Code)];
        assert_eq!(
            plan_layers(&nested, LayerFormat::Tar).unwrap()[0].filepath(),
            "d/a"
        );
    }

    #[test]
    fn plan_refuses_unsafe_and_duplicate_paths() {
        for bad in ["../x", "/etc/passwd", "a//b", "a/./b", "", "a\\b"] {
            assert!(
                plan_layers(&[pf(bad, LayerKind::Doc)], LayerFormat::Raw).is_err(),
                "{bad}"
            );
        }
        let dup = [pf("a", LayerKind::Doc), pf("a", LayerKind::Code)];
        assert!(plan_layers(&dup, LayerFormat::Raw).is_err());
    }

    #[test]
    fn describing_gives_what_building_stores() {
        let dir = tempfile::tempdir().unwrap();
        let mut files = Vec::new();
        for (path, kind, data) in [
            ("w.bin", LayerKind::Weight, vec![1u8; 300_000]),
            ("README.md", LayerKind::Doc, b"# hi\n".repeat(100)),
            ("docs/x.md", LayerKind::Doc, b"x".to_vec()),
            ("config.json", LayerKind::WeightConfig, b"{}".to_vec()),
        ] {
            let abs = dir.path().join(path.replace('/', "_"));
            std::fs::write(&abs, &data).unwrap();
            files.push(PlannedFile {
                path: path.into(),
                abs,
                kind,
                size: data.len() as u64,
                mode: 0o644,
                untested: false,
            });
        }
        let settings = LayerSettings { mtime: 7 };
        let progress = Progress::hidden();
        for format in [
            LayerFormat::Raw,
            LayerFormat::Tar,
            LayerFormat::TarGzip,
            LayerFormat::TarZstd,
        ] {
            let plans = plan_layers(&files, format).unwrap();
            let described = describe_layers(&plans, &settings, 2, &progress).unwrap();
            let store = BlobDir::create(&dir.path().join(format.as_str())).unwrap();
            let built = build_layers(
                &plans,
                &settings,
                Sink::Store(&store, LinkMode::Copy),
                2,
                &progress,
            )
            .unwrap();
            assert_eq!(described.len(), built.len());
            for (d, b) in described.iter().zip(&built) {
                assert_eq!(d.descriptor, b.descriptor, "{format:?}");
                assert_eq!(d.diff_id, b.diff_id, "{format:?}");
                let stored = std::fs::read(store.path_of(&b.descriptor.digest)).unwrap();
                assert_eq!(Digest::of(&stored), b.descriptor.digest);
                assert_eq!(stored.len() as u64, b.descriptor.size);
                if matches!(format, LayerFormat::Raw | LayerFormat::Tar) {
                    assert_eq!(b.diff_id, b.descriptor.digest);
                } else if b.descriptor.media_type.contains(".doc.") {
                    assert_ne!(b.diff_id, b.descriptor.digest, "{format:?}");
                }
            }
        }
    }

    #[test]
    fn metadata_is_canonical() {
        let mut f = pf("dir/model.gguf", LayerKind::Weight);
        f.mode = 0o750;
        f.size = 42;
        assert_eq!(
            file_metadata(&f, &LayerSettings { mtime: 0 }),
            r#"{"gid":0,"mode":493,"mtime":"1970-01-01T00:00:00Z","name":"model.gguf","size":42,"typeflag":48,"uid":0}"#
        );
    }
}
