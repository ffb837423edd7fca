//! Convention plugin `convention-hf`: Hugging Face transformers files at the model root.
//!
//! - `config.json` ([`config`]): `model_type` is the family and gives the coarse
//!   architecture word; `architectures` (head classes) are shown in the note;
//!   `quantization_config` / MLX `quantization` is the declared quantisation (and tells the
//!   host whether weight dtypes are containers); `_name_or_path` is a late name heuristic;
//!   `auto_map` is noted (loading runs the repo's code).
//! - `*.index.json`: `metadata.total_parameters` is a stated `paramSize`; shards the
//!   `weight_map` names but the directory lacks are reported missing.
//! - With no weights readable (Git LFS pointers only): `torch_dtype`/`dtype` as a precision
//!   heuristic, and `paramSize` **estimated** from the index's `total_size` or the pointers'
//!   sizes divided by the dtype's bytes (only for plain float dtypes and no quantisation).
//!
//! - Tokenizer, processor, generation, quantisation, Trainer and shard-index files, and
//!   TensorFlow/Keras/Flax weights, anywhere in the tree: layer-kind hints ([`files`]).
//!
//! The parsing is plain Rust in [`config`]; [`answer`] runs natively in the unit tests.

pub mod config;
pub mod files;

use std::collections::BTreeSet;

use modelpack_plugin_sdk::convention::*;
use serde_json::json;

/// The plugin.
pub struct Hf;

/// Largest JSON file read (real configs and indexes are kilobytes to a few MiB).
const MAX_JSON: u64 = 64 << 20;

impl ConventionPlugin for Hf {
    const INFO: &'static str = r#"{"name":"convention-hf","version":"0.1.0","description":"Hugging Face transformers: config.json (family, architecture, quantization, dtype), *.index.json (totals, shards), tokenizer, processor, quantisation and Trainer files","file_names":["config.json","*.index.json","tokenizer.json","generation_config.json","preprocessor_config.json","processor_config.json","video_preprocessor_config.json","feature_extractor_config.json","tokenizer_config.json","special_tokens_map.json","added_tokens.json","vocab.json","vocab.txt","merges.txt","tokenizer.model","spiece.model","sentencepiece*.model","*.tiktoken","chat_template.json","*template*.jinja","quantize_config.json","quant_config.json","quantization_config.json","params.json","training_args.bin","trainer_state.json"]}"#;

    fn run(files: &dyn Files, input: &ConventionInput) -> Result<ConventionReport, String> {
        let mut out = empty_report();
        answer(files, input, &mut out);
        Ok(out)
    }
}

modelpack_plugin_sdk::export_convention_plugin!(Hf);

fn warn(out: &mut ConventionReport, rel: &str, text: String) {
    out.findings
        .push(message(Severity::Warning, "unreadable", Some(rel), text));
}

fn note(out: &mut ConventionReport, rel: &str, text: String) {
    out.findings
        .push(message(Severity::Info, "note", Some(rel), text));
}

/// The spec's precision word for a declared `torch_dtype`.
fn precision_word(dtype: &str) -> Option<&'static str> {
    Some(match dtype.to_ascii_uppercase().as_str() {
        "F32" | "FLOAT" | "FLOAT32" => "float32",
        "F64" | "DOUBLE" | "FLOAT64" => "float64",
        "F16" | "FLOAT16" => "float16",
        "BF16" | "BFLOAT16" => "bfloat16",
        "F8_E4M3" | "FLOAT8E4M3FN" | "FLOAT8_E4M3FN" => "float8_e4m3",
        "F8_E5M2" | "FLOAT8E5M2" | "FLOAT8_E5M2" => "float8_e5m2",
        "C64" | "COMPLEX64" => "complex64",
        "C128" | "COMPLEX128" => "complex128",
        "I8" | "INT8" => "int8",
        "I16" | "INT16" => "int16",
        "I32" | "INT32" => "int32",
        "I64" | "INT64" => "int64",
        "U8" | "UINT8" => "uint8",
        "U16" | "UINT16" => "uint16",
        "U32" | "UINT32" => "uint32",
        "U64" | "UINT64" => "uint64",
        "BOOL" => "bool",
        _ => return None,
    })
}

fn is_weight_name(path: &str) -> bool {
    let l = path.to_ascii_lowercase();
    [
        ".safetensors",
        ".bin",
        ".pt",
        ".pth",
        ".gguf",
        ".onnx",
        ".ckpt",
        ".h5",
        ".msgpack",
    ]
    .iter()
    .any(|x| l.ends_with(x))
}

/// TensorFlow, Keras and Flax weights as Hugging Face repos ship them beside the PyTorch ones
/// (`tf_model.h5`, `flax_model.msgpack`, `model.ckpt.index` + `model.ckpt.data-*`): no
/// bundled format plugin reads them, so without this hint a small one would be taken for code.
fn other_framework_weights(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path).to_ascii_lowercase();
    [".h5", ".hdf5", ".keras", ".msgpack", ".ckpt.index"]
        .iter()
        .any(|x| name.ends_with(x))
        || name.contains(".ckpt.data-")
}

/// Everything the Hugging Face files of a directory say.
pub fn answer(files: &dyn Files, input: &ConventionInput, out: &mut ConventionReport) {
    let cf = SourceClass::ConventionFiles;
    files::hints(input, out);
    for e in &input.entries {
        if matches!(e.kind, EntryKind::File | EntryKind::Symlink)
            && other_framework_weights(&e.path)
        {
            out.hints.push(FileHint {
                path: e.path.clone(),
                kind: FileKind::Weight,
                reason: "TensorFlow/Keras/Flax weights of a Hugging Face repo".into(),
            });
        }
    }
    let roots: Vec<&str> = root_files(input).collect();
    let lfs: BTreeSet<&str> = input.missing.iter().map(|m| m.path.as_str()).collect();

    let cfg = if roots.contains(&"config.json") {
        match files
            .read("config.json", MAX_JSON)
            .and_then(|b| config::read_config(&b))
        {
            Ok(c) => c,
            Err(e) => {
                warn(out, "config.json", format!("config.json: {e}; ignored"));
                None
            }
        }
    } else {
        None
    };

    let mut indexes = Vec::new();
    for rel in roots
        .iter()
        .filter(|n| n.to_ascii_lowercase().ends_with(".index.json"))
    {
        if lfs.contains(rel) {
            continue;
        }
        match files
            .read(rel, MAX_JSON)
            .and_then(|b| config::read_index(&b, rel))
        {
            Ok(i) => indexes.push(i),
            Err(e) => warn(out, rel, format!("{rel}: {e}; ignored")),
        }
    }
    let present: BTreeSet<&str> = input.entries.iter().map(|e| e.path.as_str()).collect();
    for i in &indexes {
        for s in &i.shards {
            if !present.contains(s.as_str())
                && !lfs.contains(s.as_str())
                && !out.missing.iter().any(|m| &m.path == s)
            {
                out.missing.push(MissingFile {
                    path: s.clone(),
                    reason: format!("named by {} but not in the directory", i.rel),
                    lfs_size: None,
                });
            }
        }
    }

    let quant = cfg.as_ref().and_then(|c| c.quant.clone());
    if let Some(q) = &quant {
        out.candidates.push(candidate(
            "/config/quantization",
            json!(q.label),
            cf,
            origin("config.json", Some(&q.key)),
            None,
        ));
        out.quantization = Some(Quantization {
            method: q.label.clone(),
            bits: q.bits.and_then(|b| u8::try_from(b).ok()),
            origin: origin("config.json", Some(&q.key)),
        });
        out.packed_weights = q.packed;
    }
    for i in &indexes {
        if let Some(n) = i.total_parameters {
            out.candidates.push(candidate(
                "/config/paramSize",
                json!(n),
                cf,
                origin(&i.rel, Some("metadata.total_parameters")),
                Some(format!("{n} parameters")),
            ));
        }
    }

    if let Some(c) = &cfg {
        architecture(c, out);
        if let Some(p) = c.name_or_path.as_deref() {
            let local =
                p.starts_with('/') || p.starts_with('.') || p.starts_with('~') || p.contains('\\');
            let last = p.trim_end_matches('/').rsplit('/').next().unwrap_or("");
            if !local && !last.is_empty() {
                out.candidates.push(candidate(
                    "/descriptor/name",
                    json!(last),
                    SourceClass::Heuristic,
                    origin("config.json", Some("_name_or_path")),
                    None,
                ));
            }
        }
    }

    let read_any = input.weights.iter().any(|w| w.parameter_count > 0);
    if !read_any {
        estimates(cfg.as_ref(), &indexes, input, out);
    }
}

fn architecture(c: &config::HfConfig, out: &mut ConventionReport) {
    let cf = SourceClass::ConventionFiles;
    let head = c.architectures.join(", ");
    if let Some(t) = &c.model_type {
        out.candidates.push(candidate(
            "/descriptor/family",
            json!(t),
            cf,
            origin("config.json", Some("model_type")),
            None,
        ));
        if let Some(word) = config::architecture_word(t, c.transformers) {
            let note = if head.is_empty() {
                format!("model_type {t}")
            } else {
                format!("model_type {t}, head class {head}")
            };
            out.candidates.push(candidate(
                "/config/architecture",
                json!(word),
                cf,
                origin("config.json", Some("model_type")),
                Some(note),
            ));
        }
    } else if !head.is_empty() {
        out.candidates.push(candidate(
            "/config/architecture",
            json!("transformer"),
            cf,
            origin("config.json", Some("architectures")),
            Some(format!("head class {head}")),
        ));
    }
    if c.auto_map {
        note(
            out,
            "config.json",
            "config.json has auto_map: loading the model runs its own code (trust_remote_code)"
                .into(),
        );
    }
}

/// No weights could be read: what config.json and byte sizes let us estimate.
fn estimates(
    cfg: Option<&config::HfConfig>,
    indexes: &[config::Index],
    input: &ConventionInput,
    out: &mut ConventionReport,
) {
    let Some(dtype) = cfg.and_then(|c| c.dtype.clone()) else {
        return;
    };
    let quant = cfg.and_then(|c| c.quant.as_ref());
    if let Some(q) = quant.filter(|q| q.packed) {
        note(
            out,
            "config.json",
            format!(
                "config.precision: left out: torch_dtype {dtype} is the compute dtype of packed {} weights",
                q.label
            ),
        );
        return;
    }
    let word = precision_word(match dtype.as_str() {
        "float32" => "F32",
        "float16" => "F16",
        "bfloat16" => "BF16",
        "float64" => "F64",
        other => other,
    });
    if let Some(word) = word {
        out.candidates.push(candidate(
            "/config/precision",
            json!(word),
            SourceClass::Heuristic,
            origin("config.json", Some("torch_dtype")),
            Some("the declared dtype; no weights could be read to confirm it".into()),
        ));
    }
    let Some(per) = config::dtype_bytes(&dtype).filter(|_| quant.is_none()) else {
        return;
    };
    let (bytes, from) = if let Some(i) = indexes.iter().find(|i| i.total_size.is_some()) {
        (
            i.total_size.unwrap_or(0),
            origin(&i.rel, Some("metadata.total_size")),
        )
    } else {
        let lfs: u64 = input
            .missing
            .iter()
            .filter(|m| is_weight_name(&m.path))
            .filter_map(|m| m.lfs_size)
            .sum();
        (
            lfs,
            Origin {
                file: None,
                key: Some("Git LFS pointer sizes".into()),
            },
        )
    };
    if bytes > 0 {
        out.candidates.push(candidate(
            "/config/paramSize",
            json!(bytes / per),
            SourceClass::Heuristic,
            from,
            Some(format!(
                "estimated: {bytes} bytes / {per} bytes per {dtype} parameter"
            )),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(files: &[(&str, &str)], weights: Vec<WeightSummary>) -> ConventionReport {
        let files = MemFiles::new(files.iter().copied());
        let input = ConventionInput {
            root_names: vec![],
            locate: false,
            entries: files.entries(),
            weights,
            missing: vec![],
        };
        Hf::run(&files, &input).unwrap()
    }

    fn value(r: &ConventionReport, field: &str) -> Option<String> {
        r.candidates
            .iter()
            .find(|c| c.field == field)
            .map(|c| c.value.clone())
    }

    fn weights(n: u64) -> Vec<WeightSummary> {
        vec![WeightSummary {
            path: "model.safetensors".into(),
            format: "safetensors".into(),
            tensor_count: 1,
            parameter_count: n,
            dtypes: vec![("BF16".into(), n)],
            covers: vec![],
        }]
    }

    #[test]
    fn llama_config_and_index() {
        let r = run(
            &[
                (
                    "config.json",
                    r#"{"model_type":"llama","architectures":["LlamaForCausalLM"],"torch_dtype":"bfloat16",
                        "transformers_version":"4.40","_name_or_path":"meta-llama/Llama-3-8B","auto_map":{}}"#,
                ),
                (
                    "model.safetensors.index.json",
                    r#"{"metadata":{"total_parameters":8030261248,"total_size":16060522496},
                        "weight_map":{"a":"model-00001-of-00002.safetensors","b":"model-00002-of-00002.safetensors"}}"#,
                ),
                ("model-00001-of-00002.safetensors", "x"),
            ],
            weights(1000),
        );
        assert_eq!(
            value(&r, "/descriptor/family").as_deref(),
            Some(r#""llama""#)
        );
        let arch = r
            .candidates
            .iter()
            .find(|c| c.field == "/config/architecture")
            .unwrap();
        assert_eq!(arch.value, r#""transformer""#);
        assert_eq!(
            arch.note.as_deref(),
            Some("model_type llama, head class LlamaForCausalLM")
        );
        assert_eq!(
            value(&r, "/config/paramSize").as_deref(),
            Some("8030261248")
        );
        assert_eq!(
            value(&r, "/descriptor/name").as_deref(),
            Some(r#""Llama-3-8B""#)
        );
        assert_eq!(r.missing.len(), 1);
        assert_eq!(r.missing[0].path, "model-00002-of-00002.safetensors");
        assert_eq!(
            r.missing[0].reason,
            "named by model.safetensors.index.json but not in the directory"
        );
        assert!(r.findings[0].message.contains("auto_map"));
        // Weights were read: no precision heuristic, no estimate.
        assert_eq!(value(&r, "/config/precision"), None);
    }

    #[test]
    fn lfs_only_directory_is_estimated() {
        let files = MemFiles::new([
            (
                "config.json",
                r#"{"model_type":"llama","torch_dtype":"float16"}"#,
            ),
            ("model.safetensors", "version https://git-lfs..."),
        ]);
        let input = ConventionInput {
            root_names: vec![],
            locate: false,
            entries: files.entries(),
            weights: vec![],
            missing: vec![MissingFile {
                path: "model.safetensors".into(),
                reason: "Git LFS pointer".into(),
                lfs_size: Some(14_000_000_000),
            }],
        };
        let r = Hf::run(&files, &input).unwrap();
        let ps = r
            .candidates
            .iter()
            .find(|c| c.field == "/config/paramSize")
            .unwrap();
        assert_eq!(ps.value, "7000000000");
        assert!(matches!(ps.source, SourceClass::Heuristic));
        assert_eq!(ps.origin.key.as_deref(), Some("Git LFS pointer sizes"));
        assert_eq!(
            value(&r, "/config/precision").as_deref(),
            Some(r#""float16""#)
        );
    }

    #[test]
    fn packed_quantisation_is_declared_and_blocks_the_dtype() {
        let r = run(
            &[(
                "config.json",
                r#"{"model_type":"molmo","torch_dtype":"float32","quantization_config":
                    {"quant_method":"bitsandbytes","load_in_4bit":true,"bnb_4bit_quant_type":"nf4"}}"#,
            )],
            vec![],
        );
        let q = r.quantization.as_ref().unwrap();
        assert_eq!((q.method.as_str(), q.bits), ("bitsandbytes-nf4", Some(4)));
        assert!(r.packed_weights);
        assert_eq!(
            value(&r, "/config/quantization").as_deref(),
            Some(r#""bitsandbytes-nf4""#)
        );
        assert_eq!(value(&r, "/config/precision"), None);
        assert!(
            r.findings
                .iter()
                .any(|f| f.message.contains("compute dtype of packed"))
        );
    }

    #[test]
    fn broken_config_is_a_warning() {
        let r = run(&[("config.json", "{not json")], vec![]);
        assert_eq!(r.findings.len(), 1);
        assert!(matches!(r.findings[0].severity, Severity::Warning));
        assert!(
            r.findings[0].message.starts_with("config.json: not JSON: "),
            "{}",
            r.findings[0].message
        );
        assert!(r.findings[0].message.ends_with("; ignored"));
        assert!(r.candidates.is_empty());
    }

    #[test]
    fn every_hinted_name_makes_the_plugin_run() {
        let info: serde_json::Value = serde_json::from_str(Hf::INFO).unwrap();
        let claims: Vec<&str> = info["file_names"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        for (glob, _) in files::NAMES {
            assert!(claims.contains(glob), "{glob} not in file_names");
        }
    }

    #[test]
    fn convention_files_anywhere_are_hinted() {
        let r = run(
            &[
                ("tokenizer.json", "{}"),
                ("model.safetensors", "x"),
                ("Tokenizer.Model", "x"),
                ("cl100k_base.tiktoken", "x"),
                ("tool_use_template.jinja", "x"),
                ("training_args.bin", "x"),
                ("original/params.json", "{}"),
                ("tokenizer/merges.txt", "x"),
                ("pytorch_model.bin.index.json", "{}"),
                ("1_Pooling/config.json", "{}"),
                ("notes.txt", "x"),
            ],
            vec![],
        );
        let hints: Vec<(&str, &str)> = r
            .hints
            .iter()
            .inspect(|h| assert!(matches!(h.kind, FileKind::WeightConfig)))
            .map(|h| (h.path.as_str(), h.reason.as_str()))
            .collect();
        assert_eq!(
            hints,
            [
                ("tokenizer.json", "tokenizer file"),
                ("tokenizer/merges.txt", "tokenizer file"),
                ("Tokenizer.Model", "SentencePiece tokenizer model"),
                ("cl100k_base.tiktoken", "tiktoken vocabulary"),
                ("tool_use_template.jinja", "chat template"),
                ("pytorch_model.bin.index.json", "checkpoint shard index"),
                (
                    "original/params.json",
                    "Meta Llama / Mistral reference checkpoint parameters"
                ),
                ("training_args.bin", "Hugging Face Trainer arguments"),
            ]
        );
    }

    #[test]
    fn sentence_transformers_pooling_config_is_not_a_model_config() {
        let r = run(
            &[("config.json", r#"{"word_embedding_dimension":384}"#)],
            vec![],
        );
        assert!(r.candidates.is_empty() && r.findings.is_empty());
    }
}
