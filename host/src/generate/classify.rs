//! Which layer kind a file goes to, and whether that was confirmed or guessed.
//!
//! The host knows no weight format and no model-directory convention: `tokenizer.json`,
//! `adapter_config.json`, `training_args.bin` or `USE_POLICY.md` mean something only to the
//! convention plugin that owns them, which says so with a file-kind hint. What is here is
//! generic: extensions of documentation, code, data and configuration formats, the README /
//! LICENSE / NOTICE family of names, build files, data folders and a size fallback.
//!
//! Order (first match wins):
//! 1. a file a weight report names as part of itself (index shards, ONNX external data,
//!    split GGUF parts) is a **weight**, confirmed;
//! 2. a file a format plugin read is a **weight**, confirmed; except a file its plugin says
//!    configures weights held in the files it covers (WIT `model-report.layer-kind`: a
//!    safetensors index, an OpenVINO `.xml` topology beside its `.bin`), which is
//!    **weight.config**, and a claimed file in which the plugin found no tensors whose name
//!    an exact rule below knows (a `README.bin` is a doc);
//! 3. a file a plugin claimed but could not read goes by a confirmed name rule below if one
//!    knows it (`data/shards.tar` is a dataset), else it is a **weight**, guessed (and a
//!    warning says it could not be read);
//! 4. name rules on the base name, case-insensitive ([`by_name`]): exact names ([`exact`])
//!    and single-meaning extensions are confirmed; a file under a data-like folder (`data/`,
//!    `datasets/`, `train/`…) is a **dataset**, confirmed for data formats (parquet, arrow,
//!    jsonl, csv…); a JSON file with `config` in its name is **weight.config**, confirmed;
//!    other config-like or data-like extensions are guesses;
//! 5. anything else: **weight** when at least 10 MiB, otherwise **code** (modctl's fallback),
//!    guessed.
//!
//! Then the convention plugins' hints (`generate::apply_hints`): a hint replaces what rules 4
//! and 5 decided (but not an [`exact`] rule), and a hint that a file is *not* a weight also
//! replaces rule 2 for a file in which its format plugin found no tensors and rule 3's
//! unreadable guess (`training_args.bin`: a pickle the PyTorch plugin claims, a Trainer's
//! arguments to `convention-hf`). A hinted file is confirmed. So a directory with a
//! `tokenizer.json` gets it as confirmed weight.config from `convention-hf`, and without that
//! plugin as a guessed one (`.json` is a configuration format).
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
    if ext == "json" && name.contains("config") {
        return Classified::new(WeightConfig, false, "configuration file name");
    }
    if CONFIG_EXTS.contains(&ext) {
        return Classified::new(WeightConfig, true, format!("configuration format (.{ext})"));
    }
    if ext == "txt" {
        return Classified::new(Doc, true, "text file");
    }
    if size >= LARGE_FILE {
        Classified::new(Weight, true, "unknown file of 10 MiB or more")
    } else {
        Classified::new(Code, true, "unknown file (modctl's fallback: code)")
    }
}

/// Exact-name rules: the ones that also win over a plugin that found no tensors, and over a
/// convention plugin's hint.
pub fn exact(name: &str) -> Option<Classified> {
    use LayerKind::*;
    let name = name.to_ascii_lowercase();
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
        assert_eq!(k("README.md"), (Doc, false));
        assert_eq!(k("LICENSE"), (Doc, false));
        assert_eq!(k("model.sig"), (Doc, false));
        assert_eq!(k("LICENSE-MIT.txt"), (Doc, false));
        assert_eq!(k("USE_POLICY.md"), (Doc, false));
        assert_eq!(k("figures/arch.png"), (Doc, false));
        assert_eq!(k("requirements-dev.txt"), (Code, false));
        assert_eq!(k("Dockerfile.gpu"), (Code, false));
        assert_eq!(k("modeling_molmo.py"), (Code, false));
        assert_eq!(k("preprocessor_config.json"), (WeightConfig, false));
        assert_eq!(k("quantize_config.json"), (WeightConfig, false));
    }

    #[test]
    fn convention_names_are_not_known_here() {
        // Their convention plugins confirm them with hints; the host only guesses.
        assert_eq!(k("tokenizer.json"), (WeightConfig, true));
        assert_eq!(k("Tokenizer.JSON"), (WeightConfig, true));
        assert_eq!(k("modules.json"), (WeightConfig, true));
        assert_eq!(k("model.safetensors.index.json"), (WeightConfig, true));
        assert_eq!(k("params.json"), (WeightConfig, true));
        assert_eq!(k("merges.txt"), (Doc, true));
        assert_eq!(k("tokenizer.model"), (Code, true));
        assert_eq!(k("chat_template.jinja"), (Code, true));
        assert_eq!(k("cl100k_base.tiktoken"), (Code, true));
        assert_eq!(k("training_args.bin"), (Code, true));
        assert_eq!(k("USE_POLICY"), (Code, true));
        assert_eq!(k("MODEL_CARD"), (Code, true));
        assert!(exact("tokenizer.json").is_none());
        assert!(exact("training_args.bin").is_none());
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
        // The host knows no weight format: a small file no plugin read and no convention
        // hinted is code, a large one a weight.
        assert_eq!(k("model.h5"), (Code, true));
        assert_eq!(by_name("model.h5", LARGE_FILE).kind, Weight);
        assert_eq!(k("weights.unknownext"), (Code, true));
        assert_eq!(by_name("blob.unknownext", LARGE_FILE).kind, Weight);
        assert!(by_name("blob.unknownext", LARGE_FILE).untested);
    }
}
