//! Which layer kind a file goes to, and whether that was confirmed or guessed.
//!
//! Order (first match wins):
//! 1. a file a weight report names as part of itself (index shards, ONNX external data,
//!    split GGUF parts) is a **weight**, confirmed;
//! 2. a file a format plugin read is a **weight**, confirmed; except a weight index
//!    (`*.index.json`: tensor names → shard files; it holds no tensor data), which is
//!    **weight.config**, and a claimed file in which the plugin found no tensors but whose
//!    name an exact rule below knows (`training_args.bin` → weight.config);
//! 3. a file a plugin claimed but could not read goes by a confirmed name rule below if one
//!    knows it (`data/shards.tar` is a dataset), else it is a **weight**, guessed (and a
//!    warning says it could not be read);
//! 4. name rules on the base name, case-insensitive ([`by_name`]): exact names and
//!    single-meaning extensions are confirmed; a file under a data-like folder (`data/`,
//!    `datasets/`, `train/`…) is a **dataset**, confirmed for data formats (parquet, arrow,
//!    jsonl, csv…); other config-like, data-like or weight-like extensions are guesses;
//! 5. anything else: **weight** when at least 10 MiB, otherwise **code** (modctl's fallback),
//!    guessed.
//!
//! A guess becomes `org.cncf.model.file.mediatype.untested: "true"` on the layer.

use crate::model::LayerKind;

/// A classification and the rule that made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classified {
    /// The layer kind.
    pub kind: LayerKind,
    /// True when no plugin or exact rule confirmed it.
    pub untested: bool,
    /// Which rule decided, for `--explain`/`--plan`.
    pub rule: String,
}

impl Classified {
    fn new(kind: LayerKind, untested: bool, rule: impl Into<String>) -> Classified {
        Classified {
            kind,
            untested,
            rule: rule.into(),
        }
    }
}

/// Exact file names of weight configuration.
const CONFIG_NAMES: &[&str] = &[
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.json",
    "vocab.txt",
    "merges.txt",
    "tokenizer.model",
    "spiece.model",
    "sentencepiece.model",
    "sentencepiece.bpe.model",
    "chat_template.jinja",
    "chat_template.json",
    "preprocessor_config.json",
    "processor_config.json",
    "video_preprocessor_config.json",
    "feature_extractor_config.json",
    "modules.json",
    "config_sentence_transformers.json",
    "sentence_bert_config.json",
    "model_index.json",
    "scheduler_config.json",
    "adapter_config.json",
    "quantize_config.json",
    "quant_config.json",
    "quantization_config.json",
    "params.json",
    "training_args.bin",
    "trainer_state.json",
];

/// Prefixes of documentation file names (README.md, LICENSE-MIT, NOTICE.txt…).
const DOC_PREFIXES: &[&str] = &[
    "readme",
    "license",
    "licence",
    "copying",
    "notice",
    "authors",
    "contributors",
    "changelog",
    "changes",
    "history",
    "citation",
    "use_policy",
    "model_card",
    "modelcard",
];

/// Exact names of code and build files.
const CODE_NAMES: &[&str] = &[
    "makefile",
    "cmakelists.txt",
    "setup.py",
    "setup.cfg",
    "pyproject.toml",
    "pipfile",
    "pipfile.lock",
    "poetry.lock",
    "environment.yml",
    "environment.yaml",
    "conda.yaml",
    "cargo.toml",
    "package.json",
];

const DOC_EXTS: &[&str] = &[
    "md", "markdown", "rst", "adoc", "pdf", "html", "htm", "png", "jpg", "jpeg", "gif", "svg",
    "webp", "bmp", "ico", "tif", "tiff", "cff",
];
const CODE_EXTS: &[&str] = &[
    "py", "pyi", "ipynb", "sh", "bash", "zsh", "ps1", "bat", "js", "mjs", "cjs", "ts", "rs", "go",
    "c", "cc", "cpp", "cxx", "h", "hpp", "cu", "cuh", "java", "kt", "scala", "rb", "pl", "lua",
    "r", "jl", "swift", "m", "mm", "cs", "php", "sql", "proto", "so", "dll", "dylib", "a", "whl",
];
/// Data formats: confirmed datasets under a data-like folder, guessed elsewhere.
const DATA_EXTS: &[&str] = &[
    "parquet",
    "arrow",
    "feather",
    "jsonl",
    "ndjson",
    "csv",
    "tsv",
    "tfrecord",
    "tfrecords",
    "avro",
    "orc",
    "json",
    "txt",
    "npy",
    "npz",
    "wav",
    "flac",
    "mp3",
    "zip",
    "tar",
    "gz",
    "zst",
];
/// Only these count as datasets outside a data-like folder (still a guess).
const LOOSE_DATA_EXTS: &[&str] = &[
    "parquet",
    "arrow",
    "feather",
    "jsonl",
    "ndjson",
    "csv",
    "tsv",
    "tfrecord",
    "tfrecords",
    "avro",
    "orc",
];
const DATA_DIRS: &[&str] = &[
    "data",
    "dataset",
    "datasets",
    "train",
    "training_data",
    "test",
    "tests_data",
    "eval",
    "evaluation",
    "validation",
    "samples",
];
const CONFIG_EXTS: &[&str] = &[
    "json",
    "json5",
    "jsonc",
    "yaml",
    "yml",
    "toml",
    "ini",
    "cfg",
    "conf",
    "xml",
    "properties",
];
/// Weight formats no bundled plugin reads.
const WEIGHT_EXTS: &[&str] = &[
    "h5",
    "hdf5",
    "keras",
    "pb",
    "tflite",
    "ckpt",
    "msgpack",
    "joblib",
    "mlmodel",
    "engine",
    "trt",
    "plan",
    "caffemodel",
    "llamafile",
    "ggml",
    "params",
    "onnx_data",
    "nemo",
    "mar",
    "pt2",
];

/// Files this large that no rule knows are taken for weights.
pub const LARGE_FILE: u64 = 10 << 20;

/// The name rules (4 and 5 in the module doc) for a relative path.
pub fn by_name(rel: &str, size: u64) -> Classified {
    use LayerKind::*;
    let lower = rel.to_ascii_lowercase();
    let (dirs, name) = match lower.rsplit_once('/') {
        Some((d, n)) => (d, n),
        None => ("", lower.as_str()),
    };
    let ext = name.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    if let Some(c) = exact(name) {
        return c;
    }
    if name.ends_with(".tiktoken") || (ext == "jinja" && name.contains("template")) {
        return Classified::new(WeightConfig, false, "tokenizer or chat template");
    }
    if DOC_EXTS.contains(&ext) {
        return Classified::new(Doc, false, format!("documentation (.{ext})"));
    }
    if CODE_EXTS.contains(&ext) {
        return Classified::new(Code, false, format!("source code (.{ext})"));
    }
    let in_data_dir = !dirs.is_empty() && dirs.split('/').any(|d| DATA_DIRS.contains(&d));
    if in_data_dir {
        let confirmed = DATA_EXTS.contains(&ext);
        let why = if confirmed {
            format!("data file (.{ext}) in a data folder")
        } else {
            "file in a data folder".to_string()
        };
        return Classified::new(Dataset, !confirmed, why);
    }
    if LOOSE_DATA_EXTS.contains(&ext) {
        return Classified::new(Dataset, true, format!("data format (.{ext})"));
    }
    if (ext == "json" && (name.contains("config") || name.contains("tokenizer")))
        || name.ends_with(".index.json")
    {
        return Classified::new(WeightConfig, false, "configuration file name");
    }
    if CONFIG_EXTS.contains(&ext) {
        return Classified::new(WeightConfig, true, format!("configuration format (.{ext})"));
    }
    if ext == "txt" {
        return Classified::new(Doc, true, "text file");
    }
    if WEIGHT_EXTS.contains(&ext) || name.contains(".onnx.data") || name.contains(".ckpt.") {
        return Classified::new(
            Weight,
            true,
            format!("weight format no plugin reads (.{ext})"),
        );
    }
    if size >= LARGE_FILE {
        Classified::new(Weight, true, "unknown file of 10 MiB or more")
    } else {
        Classified::new(Code, true, "unknown file (modctl's fallback: code)")
    }
}

/// Exact-name rules: the ones that also win over a plugin that found no tensors.
pub fn exact(name: &str) -> Option<Classified> {
    use LayerKind::*;
    let name = name.to_ascii_lowercase();
    if CONFIG_NAMES.contains(&name.as_str()) {
        return Some(Classified::new(
            WeightConfig,
            false,
            "known configuration file",
        ));
    }
    if name.starts_with("requirements") && name.ends_with(".txt") || name.starts_with("dockerfile")
    {
        return Some(Classified::new(Code, false, "build or dependency file"));
    }
    if CODE_NAMES.contains(&name.as_str()) {
        return Some(Classified::new(Code, false, "build or dependency file"));
    }
    // `modelpack sign DIR` / model-signing's default signature: metadata, never code.
    if name == crate::sign::DEFAULT_SIGNATURE {
        return Some(Classified::new(
            Doc,
            false,
            "model signature (OpenSSF model-signing)",
        ));
    }
    let stem = name.split('.').next().unwrap_or(&name);
    if DOC_PREFIXES.iter().any(|p| {
        stem == *p || stem.starts_with(&format!("{p}-")) || stem.starts_with(&format!("{p}_"))
    }) {
        return Some(Classified::new(Doc, false, "documentation file name"));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use LayerKind::*;

    fn k(rel: &str) -> (LayerKind, bool) {
        let c = by_name(rel, 100);
        (c.kind, c.untested)
    }

    #[test]
    fn exact_names_confirmed() {
        assert_eq!(k("config.json"), (WeightConfig, false));
        assert_eq!(k("1_Pooling/config.json"), (WeightConfig, false));
        assert_eq!(k("Tokenizer.JSON"), (WeightConfig, false));
        assert_eq!(k("tokenizer.model"), (WeightConfig, false));
        assert_eq!(k("chat_template.jinja"), (WeightConfig, false));
        assert_eq!(k("cl100k_base.tiktoken"), (WeightConfig, false));
        assert_eq!(k("README.md"), (Doc, false));
        assert_eq!(k("LICENSE"), (Doc, false));
        assert_eq!(k("model.sig"), (Doc, false));
        assert_eq!(k("LICENSE-MIT.txt"), (Doc, false));
        assert_eq!(k("USE_POLICY.md"), (Doc, false));
        assert_eq!(k("figures/arch.png"), (Doc, false));
        assert_eq!(k("requirements-dev.txt"), (Code, false));
        assert_eq!(k("Dockerfile.gpu"), (Code, false));
        assert_eq!(k("modeling_molmo.py"), (Code, false));
        assert_eq!(k("model.safetensors.index.json"), (WeightConfig, false));
        assert_eq!(k("preprocessor_config.json"), (WeightConfig, false));
    }

    #[test]
    fn datasets_by_folder_and_format() {
        assert_eq!(k("data/train-00000.parquet"), (Dataset, false));
        assert_eq!(k("datasets/squad/dev.jsonl"), (Dataset, false));
        assert_eq!(k("data/blob.xyz"), (Dataset, true));
        assert_eq!(k("data/README.md"), (Doc, false));
        assert_eq!(k("data/prepare.py"), (Code, false));
        assert_eq!(k("eval.parquet"), (Dataset, true));
        assert_eq!(k("notes.csv"), (Dataset, true));
    }

    #[test]
    fn guesses_are_untested() {
        assert_eq!(k("hparams.yaml"), (WeightConfig, true));
        assert_eq!(k("notes.txt"), (Doc, true));
        assert_eq!(k("model.h5"), (Weight, true));
        assert_eq!(k("weights.unknownext"), (Code, true));
        assert_eq!(by_name("blob.unknownext", LARGE_FILE).kind, Weight);
        assert!(by_name("blob.unknownext", LARGE_FILE).untested);
    }
}
