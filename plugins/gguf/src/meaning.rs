//! What a GGUF model means for ModelPack: every tensor is a weight (GGUF files hold no
//! optimizer state), the precision word of each ggml type, the quantisation named by
//! `general.file_type` (or, without it, the quantised type holding most parameters), and the
//! descriptor facts of the `general.*` keys.
//!
//! A multimodal projector (`general.architecture = clip`, llama.cpp's `mmproj` files) declares
//! the *projector's* name and licence, not the model's: it offers no descriptor candidates.

use modelpack_plugin_sdk::prelude::*;
use serde_json::json;

use crate::header::Header;

/// The precision word of a ggml type; `None` for the block-quantised types.
pub fn precision_of(ty: &str) -> Option<Precision> {
    Some(match ty {
        "F32" => Precision::Float32,
        "F16" => Precision::Float16,
        "BF16" => Precision::Bfloat16,
        "F64" => Precision::Float64,
        "I8" => Precision::Int8,
        "I16" => Precision::Int16,
        "I32" => Precision::Int32,
        "I64" => Precision::Int64,
        _ => return None,
    })
}

/// The quantisation name of a `llama_ftype` name: `MOSTLY_Q4_K_M` → `Q4_K_M`; `None` for
/// the unquantised types (F32, F16, BF16) and `GUESSED`.
pub fn quant_name(ftype: &str) -> Option<String> {
    let t = ftype
        .strip_prefix("MOSTLY_")
        .or_else(|| ftype.strip_prefix("ALL_"))
        .unwrap_or(ftype);
    (!matches!(t, "F32" | "F16" | "BF16" | "GUESSED")).then(|| t.to_string())
}

/// The quantised type holding most weights, when quantised types hold at least half of them.
fn dominant_quant(dtypes: &[DtypeInfo]) -> Option<String> {
    let total = dtypes
        .iter()
        .fold(0u64, |a, d| a.saturating_add(d.weight_parameters));
    let quant: Vec<&DtypeInfo> = dtypes.iter().filter(|d| d.precision.is_none()).collect();
    let q_total = quant
        .iter()
        .fold(0u64, |a, d| a.saturating_add(d.weight_parameters));
    if total == 0 || q_total.saturating_mul(2) < total {
        return None;
    }
    quant
        .into_iter()
        .max_by(|a, b| {
            a.weight_parameters
                .cmp(&b.weight_parameters)
                .then(b.dtype.cmp(&a.dtype))
        })
        .map(|d| d.dtype.clone())
}

/// The coarse ModelPack `config.architecture` of a llama.cpp architecture name.
fn architecture_word(arch: &str) -> &'static str {
    let a = arch.to_ascii_lowercase();
    if a.starts_with("rwkv") || a.starts_with("arwkv") {
        "rnn"
    } else if a.contains("mamba") {
        "ssm"
    } else {
        "transformer"
    }
}

/// Fills weights, dtypes, quantisation and candidates of a report built from `lead`.
pub fn apply(r: &mut ModelReport, lead: &Header) {
    finish_report(r, &[], precision_of);
    let ftype = lead
        .uint("general.file_type")
        .and_then(crate::file_type::name);
    r.quantization = match ftype {
        Some(name) => quant_name(name).map(|method| Quantization {
            method,
            bits: None,
            origin: Origin {
                file: None,
                key: Some("general.file_type".into()),
            },
        }),
        None => dominant_quant(&r.dtypes).map(|method| Quantization {
            method,
            bits: None,
            origin: Origin {
                file: None,
                key: Some("tensor types".into()),
            },
        }),
    };
    let text = |k: &str| lead.text(k).map(str::trim).filter(|s| !s.is_empty());
    let arch = text("general.architecture");
    if arch == Some("clip") {
        return;
    }
    r.lineage = lineage(lead);
    let mut add = |field: &str, value: serde_json::Value, key: &str, note: Option<String>| {
        r.candidates.push(header_candidate(field, value, key, note));
    };
    if let Some(a) = arch {
        add("/descriptor/family", json!(a), "general.architecture", None);
        add(
            "/config/architecture",
            json!(architecture_word(a)),
            "general.architecture",
            Some(format!("llama.cpp architecture {a}")),
        );
    }
    if let Some(v) = text("general.version") {
        add("/descriptor/version", json!(v), "general.version", None);
    }
    if let Some(a) = text("general.author") {
        add("/descriptor/authors", json!([a]), "general.author", None);
    }
    if let Some(n) = text("general.name") {
        add("/descriptor/name", json!(n), "general.name", None);
    }
    if let Some(l) = text("general.license") {
        add(
            "/descriptor/licenses",
            json!([l]),
            "general.license",
            Some(format!("general.license {l}")),
        );
    }
}

/// Hard cap on the lineage entries read from one file (a hostile count is not a loop bound).
const MAX_LINEAGE: u64 = 256;

/// `general.base_model.N.*` and `general.dataset.N.*` (llama.cpp's `gguf_writer` keys):
/// each entry needs a `name` or a `repo_url`.
pub fn lineage(lead: &Header) -> Vec<Lineage> {
    let text = |k: &str| {
        lead.text(k)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let mut out = Vec::new();
    for (prefix, kind) in [
        ("general.base_model", LineageKind::BaseModel),
        ("general.dataset", LineageKind::Dataset),
    ] {
        let n = lead.uint(&format!("{prefix}.count")).unwrap_or(0);
        for i in 0..n.min(MAX_LINEAGE) {
            let k = |s: &str| format!("{prefix}.{i}.{s}");
            let url = text(&k("repo_url")).or_else(|| text(&k("url")));
            let Some(name) = text(&k("name")).or_else(|| url.clone()) else {
                continue;
            };
            out.push(Lineage {
                kind,
                name,
                organization: text(&k("organization")),
                version: text(&k("version")),
                url,
                origin: Origin {
                    file: None,
                    key: Some(format!("{prefix}.{i}")),
                },
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quant_names_and_words() {
        assert_eq!(quant_name("MOSTLY_Q4_K_M").as_deref(), Some("Q4_K_M"));
        assert_eq!(quant_name("MOSTLY_F16"), None);
        assert_eq!(quant_name("ALL_F32"), None);
        assert_eq!(precision_of("Q4_K"), None);
        assert_eq!(precision_of("BF16"), Some(Precision::Bfloat16));
        assert_eq!(architecture_word("rwkv6"), "rnn");
        assert_eq!(architecture_word("falcon_mamba"), "ssm");
        let d = vec![
            DtypeInfo {
                dtype: "Q4_K".into(),
                precision: None,
                weight_parameters: 90,
            },
            DtypeInfo {
                dtype: "F32".into(),
                precision: Some(Precision::Float32),
                weight_parameters: 10,
            },
        ];
        assert_eq!(dominant_quant(&d).as_deref(), Some("Q4_K"));
    }
}
