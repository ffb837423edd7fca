//! The files of a Hugging Face repository that are not weights, by name, as layer-kind
//! hints: wherever they sit (a diffusers pipeline keeps its tokenizer in `tokenizer/`, a
//! Llama repo Meta's originals in `original/`).
//!
//! The host knows none of these names: without this plugin `tokenizer.json` is only a
//! guessed configuration file and `tokenizer.model` or `training_args.bin` (a pickle the
//! PyTorch plugin claims and finds no tensors in) would be taken for code or weights.

use modelpack_plugin_sdk::convention::*;

/// `*`-globs of file names (lowercase) and what such a file is; every one is also in the
/// plugin's `file_names`, so that the plugin runs when only that file is present. A
/// `config.json` below the root is left to the convention that put it there (a
/// sentence-transformers module, a diffusers component) or the host's generic rule for
/// JSON configuration files.
pub const NAMES: &[(&str, &str)] = &[
    ("config.json", "Hugging Face model config"),
    ("generation_config.json", "Hugging Face generation config"),
    ("preprocessor_config.json", "Hugging Face processor config"),
    ("processor_config.json", "Hugging Face processor config"),
    (
        "video_preprocessor_config.json",
        "Hugging Face processor config",
    ),
    (
        "feature_extractor_config.json",
        "Hugging Face processor config",
    ),
    ("tokenizer.json", "tokenizer file"),
    ("tokenizer_config.json", "tokenizer file"),
    ("special_tokens_map.json", "tokenizer file"),
    ("added_tokens.json", "tokenizer file"),
    ("vocab.json", "tokenizer file"),
    ("vocab.txt", "tokenizer file"),
    ("merges.txt", "tokenizer file"),
    ("tokenizer.model", "SentencePiece tokenizer model"),
    ("spiece.model", "SentencePiece tokenizer model"),
    ("sentencepiece*.model", "SentencePiece tokenizer model"),
    ("*.tiktoken", "tiktoken vocabulary"),
    ("chat_template.json", "chat template"),
    ("*template*.jinja", "chat template"),
    ("quantize_config.json", "AutoGPTQ quantisation config"),
    ("quant_config.json", "quantisation config"),
    ("quantization_config.json", "quantisation config"),
    ("*.index.json", "checkpoint shard index"),
    (
        "params.json",
        "Meta Llama / Mistral reference checkpoint parameters",
    ),
    ("training_args.bin", "Hugging Face Trainer arguments"),
    ("trainer_state.json", "Hugging Face Trainer state"),
];

/// A weight.config hint for every listed file `NAMES` knows.
pub fn hints(input: &ConventionInput, out: &mut ConventionReport) {
    for (glob, reason) in NAMES {
        for path in files_named(input, &[glob]) {
            let nested_model_config = *glob == "config.json" && path.contains('/');
            if !nested_model_config && !out.hints.iter().any(|h| h.path == path) {
                out.hints.push(FileHint {
                    path: path.to_string(),
                    kind: FileKind::WeightConfig,
                    reason: (*reason).into(),
                });
            }
        }
    }
}
