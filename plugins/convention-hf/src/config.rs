//! Hugging Face files at the model root: `config.json` (family, architecture, quantisation,
//! declared dtype) and `*.index.json` (parameter and byte totals of sharded weights).
//!
//! `architecture` vs `family` (formats.md §6): `model_type` (`llama`, `granitemoe`, `molmo`)
//! is the **family**; ModelPack's `config.architecture` is the coarse kind of network, so it
//! gets `transformer` for Hugging Face transformers models, `cnn` for the known convolutional
//! model types, `rnn` for RWKV and `ssm` for Mamba; the head class (`LlamaForCausalLM`) has no
//! config field and is shown by `--explain` only.

use serde_json::Value;

/// What `config.json` says.
#[derive(Debug, Default, Clone)]
pub struct HfConfig {
    /// `model_type`.
    pub model_type: Option<String>,
    /// `architectures` (head classes).
    pub architectures: Vec<String>,
    /// `torch_dtype` or the newer `dtype`.
    pub dtype: Option<String>,
    /// Quantisation from `quantization_config` or MLX's `quantization`.
    pub quant: Option<Quant>,
    /// `_name_or_path`.
    pub name_or_path: Option<String>,
    /// `transformers_version` present.
    pub transformers: bool,
    /// `auto_map` present: loading needs custom code (`trust_remote_code`).
    pub auto_map: bool,
}

/// A quantisation method as the config states it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quant {
    /// The value for `config.quantization` (`gptq`, `bitsandbytes-nf4`, …).
    pub label: String,
    /// Where it came from (`quantization_config.quant_method`).
    pub key: String,
    /// Weights are packed into container dtypes (int4 in I32, nf4 in U8): the stored dtypes
    /// say nothing about precision and element counts undercount parameters.
    pub packed: bool,
    /// Bits per quantised weight, when the config says (`bits`, `w_bit`, `num_bits`).
    pub bits: Option<u32>,
}

fn parse_json(text: &[u8]) -> Result<Value, String> {
    serde_json::from_slice(text).map_err(|e| format!("not JSON: {e}"))
}

/// Reads `config.json`; `Ok(None)` when it is not a model config (no `model_type`,
/// `architectures` or quantisation, e.g. a sentence-transformers `1_Pooling` config).
pub fn read_config(text: &[u8]) -> Result<Option<HfConfig>, String> {
    let v = parse_json(text)?;
    let Some(obj) = v.as_object() else {
        return Err("not a JSON object".into());
    };
    let s = |k: &str| obj.get(k).and_then(Value::as_str).map(str::to_string);
    let cfg = HfConfig {
        model_type: s("model_type").filter(|t| !t.is_empty()),
        architectures: obj
            .get("architectures")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default(),
        dtype: s("dtype").or_else(|| s("torch_dtype")),
        quant: quantization(&v),
        name_or_path: s("_name_or_path").filter(|n| !n.is_empty()),
        transformers: obj.contains_key("transformers_version"),
        auto_map: obj.contains_key("auto_map"),
    };
    let is_model = cfg.model_type.is_some() || !cfg.architectures.is_empty() || cfg.quant.is_some();
    Ok(is_model.then_some(cfg))
}

/// Quantisation named by a config: `quantization_config.quant_method` (with the details
/// that change what the weights are: bitsandbytes 4-bit type, compressed-tensors format),
/// or MLX's `quantization: {bits, group_size}`.
pub fn quantization(cfg: &Value) -> Option<Quant> {
    let q = cfg.get("quantization_config");
    if let Some(q) = q.filter(|q| q.is_object()) {
        let get = |k: &str| q.get(k);
        let truthy = |k: &str| get(k).and_then(Value::as_bool).unwrap_or(false);
        let method = get("quant_method")
            .and_then(Value::as_str)
            .map(|m| m.to_ascii_lowercase());
        match method.as_deref() {
            Some("bitsandbytes") => {
                let (label, packed, bits) = if truthy("load_in_4bit") || truthy("_load_in_4bit") {
                    let t = get("bnb_4bit_quant_type")
                        .and_then(Value::as_str)
                        .unwrap_or("fp4");
                    (format!("bitsandbytes-{t}"), true, Some(4))
                } else if truthy("load_in_8bit") || truthy("_load_in_8bit") {
                    ("bitsandbytes-int8".to_string(), false, Some(8))
                } else {
                    ("bitsandbytes".to_string(), true, None)
                };
                return Some(Quant {
                    label,
                    key: "quantization_config.quant_method".into(),
                    packed,
                    bits,
                });
            }
            Some("compressed-tensors") => {
                let format = get("format")
                    .and_then(Value::as_str)
                    .map(String::from)
                    .or_else(|| {
                        get("config_groups")?
                            .as_object()?
                            .values()
                            .find_map(|g| g.get("format")?.as_str().map(String::from))
                    });
                let bits = get("config_groups")
                    .and_then(Value::as_object)
                    .and_then(|g| {
                        g.values()
                            .find_map(|g| g.get("weights")?.get("num_bits")?.as_u64())
                    })
                    .and_then(|b| u32::try_from(b).ok());
                let label = match &format {
                    Some(f) => format!("compressed-tensors-{f}"),
                    None => "compressed-tensors".into(),
                };
                return Some(Quant {
                    label,
                    key: "quantization_config.quant_method".into(),
                    packed: format.is_none_or(|f| f.contains("pack") || f.contains("fp4")),
                    bits,
                });
            }
            Some(m) if !m.is_empty() => {
                return Some(Quant {
                    label: m.to_string(),
                    key: "quantization_config.quant_method".into(),
                    // fp8 checkpoints store real float8 tensors; the rest pack or transform.
                    packed: !matches!(m, "fp8" | "fbgemm_fp8"),
                    bits: ["bits", "w_bit", "weight_bits"]
                        .iter()
                        .find_map(|k| get(k)?.as_u64())
                        .and_then(|b| u32::try_from(b).ok()),
                });
            }
            _ => {}
        }
    }
    // MLX writes `quantization` (and often a method-less `quantization_config`) as
    // {"group_size": 64, "bits": 4}.
    for key in ["quantization", "quantization_config"] {
        if let Some(bits) = cfg
            .get(key)
            .and_then(|q| q.get("bits"))
            .and_then(Value::as_u64)
        {
            return Some(Quant {
                label: format!("mlx-{bits}bit"),
                key: format!("{key}.bits"),
                packed: true,
                bits: u32::try_from(bits).ok(),
            });
        }
    }
    None
}

/// Convolutional model types among Hugging Face's.
const CNN_TYPES: &[&str] = &[
    "resnet",
    "convnext",
    "convnextv2",
    "efficientnet",
    "mobilenet_v1",
    "mobilenet_v2",
    "regnet",
    "bit",
    "van",
    "yolos_cnn",
];

/// The coarse `config.architecture` word for a model type, with the reason.
pub fn architecture_word(model_type: &str, transformers: bool) -> Option<&'static str> {
    let t = model_type.to_ascii_lowercase();
    if t.starts_with("rwkv") || t.starts_with("arwkv") {
        Some("rnn")
    } else if t.contains("mamba") {
        Some("ssm")
    } else if CNN_TYPES.contains(&t.as_str()) {
        Some("cnn")
    } else if transformers || !t.is_empty() {
        Some("transformer")
    } else {
        None
    }
}

/// A sharded checkpoint's index file.
#[derive(Debug, Clone, Default)]
pub struct Index {
    /// Relative path of the index.
    pub rel: String,
    /// `metadata.total_parameters` (newer transformers write it).
    pub total_parameters: Option<u64>,
    /// `metadata.total_size`: bytes of tensor data in all shards.
    pub total_size: Option<u64>,
    /// Shard file names from `weight_map`, sorted, deduplicated.
    pub shards: Vec<String>,
}

/// Reads a `*.index.json` (safetensors or PyTorch `.bin` shards).
pub fn read_index(text: &[u8], rel: &str) -> Result<Index, String> {
    let v = parse_json(text)?;
    let meta = v.get("metadata");
    let num = |k: &str| {
        meta.and_then(|m| m.get(k)).and_then(|x| {
            x.as_u64().or_else(|| {
                x.as_f64()
                    .filter(|f| *f >= 0.0 && f.fract() == 0.0)
                    .map(|f| f as u64)
            })
        })
    };
    let mut shards: Vec<String> = v
        .get("weight_map")
        .and_then(Value::as_object)
        .ok_or("no weight_map")?
        .values()
        .filter_map(|s| s.as_str().map(String::from))
        .collect();
    shards.sort();
    shards.dedup();
    Ok(Index {
        rel: rel.to_string(),
        total_parameters: num("total_parameters"),
        total_size: num("total_size"),
        shards,
    })
}

/// Bytes per element of a declared dtype, when it is a plain float type.
pub fn dtype_bytes(dtype: &str) -> Option<u64> {
    match dtype {
        "float32" | "fp32" => Some(4),
        "float16" | "fp16" | "bfloat16" | "bf16" => Some(2),
        "float64" => Some(8),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn quantization_methods() {
        let bnb = json!({"quantization_config": {"quant_method": "bitsandbytes", "load_in_4bit": true,
                         "bnb_4bit_quant_type": "nf4"}});
        assert_eq!(quantization(&bnb).unwrap().label, "bitsandbytes-nf4");
        assert!(quantization(&bnb).unwrap().packed);
        let int8 =
            json!({"quantization_config": {"quant_method": "bitsandbytes", "load_in_8bit": true}});
        assert_eq!(quantization(&int8).unwrap().label, "bitsandbytes-int8");
        let gptq = json!({"quantization_config": {"quant_method": "gptq", "bits": 4}});
        assert_eq!(quantization(&gptq).unwrap().label, "gptq");
        assert_eq!(quantization(&gptq).unwrap().bits, Some(4));
        let awq = json!({"quantization_config": {"quant_method": "awq", "w_bit": 4}});
        assert_eq!(quantization(&awq).unwrap().bits, Some(4));
        let fp8 = json!({"quantization_config": {"quant_method": "fp8"}});
        assert!(!quantization(&fp8).unwrap().packed);
        let ct = json!({"quantization_config": {"quant_method": "compressed-tensors",
                        "config_groups": {"group_0": {"format": "float-quantized"}}}});
        let q = quantization(&ct).unwrap();
        assert_eq!(q.label, "compressed-tensors-float-quantized");
        assert!(!q.packed);
        let mlx = json!({"quantization": {"group_size": 64, "bits": 4}});
        assert_eq!(quantization(&mlx).unwrap().label, "mlx-4bit");
        assert_eq!(quantization(&json!({"torch_dtype": "bfloat16"})), None);
    }

    #[test]
    fn architecture_words() {
        assert_eq!(architecture_word("llama", true), Some("transformer"));
        assert_eq!(architecture_word("resnet", true), Some("cnn"));
        assert_eq!(architecture_word("rwkv6", true), Some("rnn"));
        assert_eq!(architecture_word("falcon_mamba", true), Some("ssm"));
        assert_eq!(architecture_word("", false), None);
    }
}
