//! ModelPack vocabulary shared by generate, pack, validate and check: layer kinds, layer
//! encodings, media types and annotation keys (model-spec `docs/spec.md`, `annotations.md`).

use std::fmt;

/// Manifest `artifactType` of a ModelPack artifact.
pub const ARTIFACT_TYPE: &str = "application/vnd.cncf.model.manifest.v1+json";
/// Media type of the ModelPack config blob.
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.cncf.model.config.v1+json";
/// OCI image manifest media type.
pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index media type.
pub const INDEX_MEDIA_TYPE: &str = "application/vnd.oci.image.index.v1+json";
/// Layer annotation: the file's path relative to the model root, `/`-separated.
pub const ANNOTATION_FILEPATH: &str = "org.cncf.model.filepath";
/// Layer annotation: JSON with name, mode, uid, gid, size, mtime, typeflag.
pub const ANNOTATION_FILE_METADATA: &str = "org.cncf.model.file.metadata+json";
/// Layer annotation: `"true"` when the layer kind was guessed, not confirmed.
pub const ANNOTATION_UNTESTED: &str = "org.cncf.model.file.mediatype.untested";
/// Layer annotation (OCI): the file name ORAS, CRI-O image volumes and other generic OCI
/// tools restore a raw layer under. modelpack writes the file's relative path, as `oras push`
/// does, so nested files of one model do not collide under one base name.
pub const ANNOTATION_TITLE: &str = "org.opencontainers.image.title";
/// Prefix of the media types written before the CNCF rename; accepted with a warning.
pub const LEGACY_PREFIX: &str = "application/vnd.cnai.model.";

/// What a layer holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LayerKind {
    /// Weight files.
    Weight,
    /// Files configuring the weights: config.json, tokenizer files, chat templates.
    WeightConfig,
    /// Documentation: README, LICENSE, images.
    Doc,
    /// Source code and scripts.
    Code,
    /// Data sets.
    Dataset,
}

impl LayerKind {
    /// Every kind, in the order layers are written.
    pub const ALL: [LayerKind; 5] = [
        LayerKind::Weight,
        LayerKind::WeightConfig,
        LayerKind::Doc,
        LayerKind::Code,
        LayerKind::Dataset,
    ];

    /// The kind as the media type spells it: `weight`, `weight.config`, `doc`, `code`, `dataset`.
    pub fn as_str(self) -> &'static str {
        match self {
            LayerKind::Weight => "weight",
            LayerKind::WeightConfig => "weight.config",
            LayerKind::Doc => "doc",
            LayerKind::Code => "code",
            LayerKind::Dataset => "dataset",
        }
    }

    /// Parses `weight`, `weight.config`, `doc`, `code` or `dataset`.
    pub fn parse(s: &str) -> Option<LayerKind> {
        LayerKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for LayerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a layer's bytes are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LayerFormat {
    /// The file itself.
    Raw,
    /// An uncompressed tar.
    Tar,
    /// A gzip-compressed tar.
    TarGzip,
    /// A zstd-compressed tar.
    TarZstd,
}

impl LayerFormat {
    /// The suffix of the media type: `raw`, `tar`, `tar+gzip`, `tar+zstd`.
    pub fn as_str(self) -> &'static str {
        match self {
            LayerFormat::Raw => "raw",
            LayerFormat::Tar => "tar",
            LayerFormat::TarGzip => "tar+gzip",
            LayerFormat::TarZstd => "tar+zstd",
        }
    }

    /// Parses `raw`, `tar`, `tar+gzip` or `tar+zstd`.
    pub fn parse(s: &str) -> Option<LayerFormat> {
        [
            LayerFormat::Raw,
            LayerFormat::Tar,
            LayerFormat::TarGzip,
            LayerFormat::TarZstd,
        ]
        .into_iter()
        .find(|f| f.as_str() == s)
    }
}

/// `application/vnd.cncf.model.<kind>.v1.<format>`.
pub fn layer_media_type(kind: LayerKind, format: LayerFormat) -> String {
    format!(
        "application/vnd.cncf.model.{}.v1.{}",
        kind.as_str(),
        format.as_str()
    )
}

/// Parses a ModelPack layer media type (current or legacy `vnd.cnai` prefix).
/// Returns the kind, the format and whether the legacy prefix was used.
pub fn parse_layer_media_type(mt: &str) -> Option<(LayerKind, LayerFormat, bool)> {
    let (rest, legacy) = match mt.strip_prefix("application/vnd.cncf.model.") {
        Some(r) => (r, false),
        None => (mt.strip_prefix(LEGACY_PREFIX)?, true),
    };
    let (kind, format) = rest.split_once(".v1.")?;
    Some((LayerKind::parse(kind)?, LayerFormat::parse(format)?, legacy))
}

/// The spec's precision vocabulary (`config.precision`, model-spec `docs/config.md`): the one
/// list `validate`, `generate` and the policy input use. The plugin contract's `precision`
/// enum (`wit/plugin.wit`) has exactly these cases, so format plugins name a dtype's
/// precision in this vocabulary and the host never maps a format's dtype spelling itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[allow(missing_docs)]
pub enum Precision {
    Float32,
    Float64,
    Float16,
    Bfloat16,
    Float8E4m3,
    Float8E5m2,
    Complex32,
    Complex64,
    Complex128,
    Int8,
    Int16,
    Int32,
    Int64,
    Uint8,
    Uint16,
    Uint32,
    Uint64,
    Bool,
}

/// The spec's spelling of every precision, in the spec's order.
pub use modelpack_spec::precision::PRECISIONS;

impl Precision {
    /// The word as `config.precision` spells it (`float8_e4m3`).
    pub fn as_str(self) -> &'static str {
        PRECISIONS[self as usize]
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_round_trip() {
        for k in LayerKind::ALL {
            for f in [
                LayerFormat::Raw,
                LayerFormat::Tar,
                LayerFormat::TarGzip,
                LayerFormat::TarZstd,
            ] {
                let mt = layer_media_type(k, f);
                assert_eq!(parse_layer_media_type(&mt), Some((k, f, false)));
            }
        }
        assert_eq!(
            parse_layer_media_type("application/vnd.cnai.model.weight.v1.raw"),
            Some((LayerKind::Weight, LayerFormat::Raw, true))
        );
        assert_eq!(
            layer_media_type(LayerKind::WeightConfig, LayerFormat::TarGzip),
            "application/vnd.cncf.model.weight.config.v1.tar+gzip"
        );
        assert!(parse_layer_media_type("application/vnd.cncf.model.weight.v1.raw+gzip").is_none());
    }
}

/// One file of a model directory, classified and ready to be packed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedFile {
    /// Path relative to the model root, `/`-separated (the `org.cncf.model.filepath` value).
    pub path: String,
    /// Where the content is read from (symlinks already resolved inside the root).
    pub abs: std::path::PathBuf,
    /// The layer kind it goes to.
    pub kind: LayerKind,
    /// Size in bytes.
    pub size: u64,
    /// Unix permission bits (e.g. 0o644).
    pub mode: u32,
    /// True when no plugin or exact rule confirmed the kind (heuristic guess).
    pub untested: bool,
}
