//! Facts from the weight files themselves, as the format plugins reported them: format,
//! exact parameter count, dtype histogram, GGUF metadata.
//!
//! What counts as a parameter: every tensor of the model's weights, **not** optimizer or
//! other training state (PyTorch groups with role `training-state`/`other`), **not** buffers
//! (`position_ids`, `running_mean`, `inv_freq`… by name), **not** quantisation side tensors
//! (`*.absmax`, `*.quant_map`, `*.scales`, `*.qzeros`, `*.g_idx`, `*.weight_scale`…), and for
//! ONNX not the INT64 tensors (shapes and indices); ONNX Constant-node data counts, since
//! some exporters keep all weights there.
//!
//! Files of one model are one *unit*: an index and its shards (or shards named
//! `-0000N-of-0000M` without an index), a split GGUF and its parts, an ONNX file and its
//! external data. When a directory holds several formats (Hugging Face repos often ship
//! safetensors, a `pytorch_model.bin` and ONNX exports of the same model), the model's format
//! (`config.format`) is the first with readable weights in the order safetensors, GGUF, ONNX,
//! PyTorch, others (by parameters among the others), and only its units are counted. Units of
//! that format whose counts are within 2% of each other are copies (a GGUF in several
//! quantisations, `consolidated.safetensors` beside shards, `model.fp16.safetensors`,
//! optimised ONNX re-exports): counted once, at the largest.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::inspect::FileReport;

/// Tensor-name endings of registered buffers (not parameters).
const BUFFER_NAMES: &[&str] = &[
    "running_mean",
    "running_var",
    "num_batches_tracked",
    "position_ids",
    "token_type_ids",
    "inv_freq",
    "masked_bias",
    "relative_position_index",
    "_float_tensor",
];

/// Tensor-name endings of quantisation side data (scales, zero points, code books).
const QUANT_AUX: &[&str] = &[
    "absmax",
    "quant_map",
    "nested_absmax",
    "nested_quant_map",
    "scales",
    "qzeros",
    "g_idx",
    "weight_scale",
    "input_scale",
    "weight_zero_point",
    "weight_global_scale",
    "input_global_scale",
    "weight_shape",
    "SCB",
    "weight_format",
];

/// Why a tensor does not count.
fn excluded(name: &str) -> bool {
    let last = name.rsplit('.').next().unwrap_or(name);
    BUFFER_NAMES.contains(&last)
        || last.ends_with("_buffer")
        || QUANT_AUX.contains(&last)
        || name.contains(".quant_state.")
}

/// Storage width in bits of the integer dtypes packed quantisation uses as containers.
fn container_bits(dtype: &str) -> Option<u32> {
    match dtype {
        "I32" | "U32" => Some(32),
        "I16" | "U16" => Some(16),
        "I8" | "U8" => Some(8),
        _ => None,
    }
}

/// How many weights one stored element of a tensor holds, under packed quantisation of
/// `bits` bits: GPTQ/AWQ `*.qweight` and compressed-tensors `*.weight_packed` (int32 words),
/// bitsandbytes 4-bit weights (uint8 bytes with an `.absmax`/`.quant_state.*` sibling), MLX
/// weights (uint32 words with a `.scales` sibling). 1 for everything else.
fn packing_factor(name: &str, dtype: &str, bits: u32, names: &BTreeSet<&str>) -> u64 {
    let Some(width) = container_bits(dtype) else {
        return 1;
    };
    if bits == 0 || bits >= width {
        return 1;
    }
    let factor = u64::from(width / bits);
    let sibling = |suffix: &str| names.contains(format!("{name}{suffix}").as_str());
    let mlx = name
        .strip_suffix(".weight")
        .is_some_and(|p| names.contains(format!("{p}.scales").as_str()));
    let packed = name.ends_with(".qweight")
        || name.ends_with(".weight_packed")
        || sibling(".absmax")
        || sibling(".quant_state.bitsandbytes__nf4")
        || sibling(".quant_state.bitsandbytes__fp4")
        || mlx;
    if packed { factor } else { 1 }
}

/// Parameters and dtype histogram of one file's own model weights.
#[derive(Debug, Default, Clone)]
pub struct Counted {
    /// Parameters counted.
    pub params: u64,
    /// Counted parameters per dtype (format spelling).
    pub dtypes: BTreeMap<String, u64>,
    /// Elements left out (buffers, training state, side tensors, shapes).
    pub left_out: u64,
    /// Weights counted inside packed tensors (after expanding them).
    pub unpacked: u64,
}

/// Counts the model weights of one report; `bits` is the width of packed quantised weights,
/// when the config declares packed quantisation.
pub fn count(r: &FileReport, bits: Option<u32>) -> Counted {
    let mut c = Counted::default();
    let onnx = r.format.as_deref() == Some("onnx");
    let names: BTreeSet<&str> = match bits {
        Some(_) => r.tensors.iter().map(|t| t.name.as_str()).collect(),
        None => BTreeSet::new(),
    };
    for t in &r.tensors {
        let n = t
            .shape
            .iter()
            .try_fold(1u64, |a, d| a.checked_mul(*d))
            .unwrap_or(u64::MAX);
        let top = t.name.split('.').next().unwrap_or("");
        let group_role = r.groups.iter().find(|g| g.name == top).map(|g| g.role);
        let skip = excluded(&t.name)
            || matches!(group_role, Some("training-state" | "other" | "buffers"))
            || (onnx && t.dtype == "INT64");
        if skip {
            c.left_out = c.left_out.saturating_add(n);
            continue;
        }
        let factor = bits.map_or(1, |b| packing_factor(&t.name, &t.dtype, b, &names));
        let n = n.saturating_mul(factor);
        if factor > 1 {
            c.unpacked = c.unpacked.saturating_add(n);
        }
        c.params = c.params.saturating_add(n);
        let slot = c.dtypes.entry(t.dtype.clone()).or_default();
        *slot = slot.saturating_add(n);
    }
    if onnx && let Some(Value::Object(m)) = r.metadata.get("onnx.constant_dtype_parameters") {
        for (dtype, n) in m {
            let n = n.as_u64().unwrap_or(0);
            if dtype == "INT64" {
                c.left_out = c.left_out.saturating_add(n);
            } else {
                c.params = c.params.saturating_add(n);
                let slot = c.dtypes.entry(dtype.clone()).or_default();
                *slot = slot.saturating_add(n);
            }
        }
    }
    c
}

/// One model's files and what they hold.
#[derive(Debug, Clone, Default)]
pub struct Unit {
    /// Relative paths, the first is the one that names the others.
    pub files: Vec<String>,
    /// Format of the unit.
    pub format: String,
    /// Counted parameters and dtypes.
    pub counted: Counted,
}

/// What the weights say, over all weight files.
#[derive(Debug, Default)]
pub struct WeightFacts {
    /// The model's format (most parameters; ties by file count, then name).
    pub format: Option<String>,
    /// Every format with its file count, for `--explain`.
    pub formats: BTreeMap<String, usize>,
    /// Units of the chosen format that count.
    pub units: Vec<Unit>,
    /// Parameters of the model.
    pub params: u64,
    /// Dtype histogram of the model.
    pub dtypes: BTreeMap<String, u64>,
    /// Units that are copies of another unit's model (counted once), 0 when none.
    pub copies: usize,
    /// Elements left out (buffers, training state…).
    pub left_out: u64,
    /// Weights counted inside packed quantised tensors.
    pub unpacked: u64,
    /// GGUF metadata of the first non-projector GGUF of the model.
    pub gguf: BTreeMap<String, Value>,
    /// GGUF file types of all the model's GGUF units (e.g. `Q4_K_M`), sorted.
    pub gguf_file_types: Vec<String>,
}

/// Aggregates the reports of the weight files (`rel` → report, status ok); `bits` as for
/// [`count`].
pub fn aggregate(reports: &[(String, &FileReport)], bits: Option<u32>) -> WeightFacts {
    let mut facts = WeightFacts::default();
    let index_of: BTreeMap<&str, usize> = reports
        .iter()
        .enumerate()
        .map(|(i, (rel, _))| (rel.as_str(), i))
        .collect();
    // unit[i] = index of the report whose unit file i belongs to; absorbed[i] = its tensors
    // are already in the covering report.
    let mut unit: Vec<usize> = (0..reports.len()).collect();
    let mut absorbed = vec![false; reports.len()];
    // Shards named `<stem>-00001-of-00004.<ext>` are one model even without an index (or
    // when the index's names cannot be matched, as in a Hugging Face cache tree).
    let mut first_of: BTreeMap<String, usize> = BTreeMap::new();
    for (i, (rel, _)) in reports.iter().enumerate() {
        if let Some(key) = shard_key(rel) {
            unit[i] = *first_of.entry(key).or_insert(i);
        }
    }
    for (i, (rel, r)) in reports.iter().enumerate() {
        for c in &r.covers {
            let Some(&j) = resolve(rel, c).and_then(|p| index_of.get(p.as_str())) else {
                continue;
            };
            if j != i && (unit[j] == j || unit[j] == unit[i] || shard_key(&reports[j].0).is_some())
            {
                unit[j] = unit[i];
                absorbed[j] = !r.tensors.is_empty();
            }
        }
    }
    let root = |mut k: usize| {
        // Follow the links (a shard grouped by name, then under its index), bounded.
        for _ in 0..reports.len() {
            if unit[k] == k {
                break;
            }
            k = unit[k];
        }
        k
    };
    let mut units: BTreeMap<usize, Unit> = BTreeMap::new();
    for (i, (rel, r)) in reports.iter().enumerate() {
        let u = units.entry(root(i)).or_default();
        u.files.push(rel.clone());
        if let Some(f) = &r.format {
            *facts.formats.entry(f.clone()).or_default() += 1;
            if u.format.is_empty() || root(i) == i {
                u.format = f.clone();
            }
        }
        if !absorbed[i] {
            let c = count(r, bits);
            u.counted.params = u.counted.params.saturating_add(c.params);
            u.counted.left_out = u.counted.left_out.saturating_add(c.left_out);
            u.counted.unpacked = u.counted.unpacked.saturating_add(c.unpacked);
            for (d, n) in c.dtypes {
                let slot = u.counted.dtypes.entry(d).or_default();
                *slot = slot.saturating_add(n);
            }
        }
    }
    let mut by_format: BTreeMap<&str, u64> = BTreeMap::new();
    for u in units.values() {
        let slot = by_format.entry(u.format.as_str()).or_default();
        *slot = slot.saturating_add(u.counted.params);
    }
    facts.format = by_format
        .iter()
        .filter(|(f, _)| !f.is_empty())
        .max_by(|a, b| {
            // Formats with weights first; then the canonical one; then most parameters.
            (*a.1 > 0)
                .cmp(&(*b.1 > 0))
                .then(preference(a.0).cmp(&preference(b.0)))
                .then(a.1.cmp(b.1))
                .then(facts.formats.get(*a.0).cmp(&facts.formats.get(*b.0)))
                .then(b.0.cmp(a.0))
        })
        .map(|(f, _)| f.to_string());
    let Some(format) = facts.format.clone() else {
        return facts;
    };
    let mut model: Vec<Unit> = units
        .into_values()
        .filter(|u| u.format == format && u.counted.params > 0)
        .collect();
    // Copies: units within 2% of each other's count (the same weights in other dtypes or
    // quantisations, re-exported graphs) form one cluster, counted once at its largest.
    model.sort_by(|a, b| {
        b.counted
            .params
            .cmp(&a.counted.params)
            .then(a.files.cmp(&b.files))
    });
    let mut clusters: Vec<(u64, usize)> = Vec::new();
    for u in &model {
        let p = u.counted.params;
        match clusters
            .iter_mut()
            .find(|(m, _)| u128::from(p) * 100 >= u128::from(*m) * 98)
        {
            Some((_, n)) => *n += 1,
            None => {
                clusters.push((p, 1));
                facts.params = facts.params.saturating_add(p);
                facts.unpacked = facts.unpacked.saturating_add(u.counted.unpacked);
            }
        }
        facts.left_out = facts.left_out.saturating_add(u.counted.left_out);
        for (d, n) in &u.counted.dtypes {
            let slot = facts.dtypes.entry(d.clone()).or_default();
            *slot = slot.saturating_add(*n);
        }
    }
    // Files (units) that hold a model some other unit holds too.
    facts.copies = clusters
        .iter()
        .filter(|(_, n)| *n > 1)
        .map(|(_, n)| n)
        .sum();
    model.sort_by(|a, b| a.files.cmp(&b.files));
    if format == "gguf" {
        let mut types = BTreeSet::new();
        for u in &model {
            let Some((_, r)) = reports.iter().find(|(rel, _)| *rel == u.files[0]) else {
                continue;
            };
            let arch = r
                .metadata
                .get("general.architecture")
                .and_then(Value::as_str);
            if facts.gguf.is_empty() && arch != Some("clip") {
                facts.gguf = r.metadata.clone();
            }
            if let Some(t) = r
                .metadata
                .get("general.file_type_name")
                .and_then(Value::as_str)
                .and_then(gguf_quant_name)
            {
                types.insert(t);
            }
        }
        facts.gguf_file_types = types.into_iter().collect();
    }
    facts.units = model;
    facts
}

/// Rank of a format when a directory holds several: safetensors (the canonical Hugging Face
/// format), GGUF, ONNX, PyTorch, then the rest.
fn preference(format: &str) -> usize {
    ["safetensors", "gguf", "onnx", "pt"]
        .iter()
        .position(|p| *p == format)
        .map_or(0, |i| 4 - i)
}

/// `dir/model-of.safetensors` for `dir/model-00002-of-00003.safetensors`: what the shards of
/// one checkpoint share.
fn shard_key(rel: &str) -> Option<String> {
    let (stem, ext) = rel.rsplit_once('.')?;
    let (before, total) = stem.rsplit_once("-of-")?;
    let (prefix, part) = before.rsplit_once('-')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    (digits(part) && digits(total)).then(|| format!("{prefix}-of-{total}.{ext}"))
}

/// A covered file's path relative to the root: covers are relative to the root, or to the
/// covering file's directory.
pub fn resolve(rel: &str, cover: &str) -> Option<String> {
    if cover.starts_with('/') || cover.split('/').any(|c| c == "..") {
        return None;
    }
    match rel.rsplit_once('/') {
        Some((dir, _)) if !cover.starts_with(&format!("{dir}/")) => Some(format!("{dir}/{cover}")),
        _ => Some(cover.to_string()),
    }
}

/// The quantisation name of a GGUF `llama_ftype` name: `MOSTLY_Q4_K_M` → `Q4_K_M`; `None`
/// for the unquantised types (F32, F16, BF16).
pub fn gguf_quant_name(ftype: &str) -> Option<String> {
    let t = ftype
        .strip_prefix("MOSTLY_")
        .or_else(|| ftype.strip_prefix("ALL_"))
        .unwrap_or(ftype);
    (!matches!(t, "F32" | "F16" | "BF16" | "GUESSED")).then(|| t.to_string())
}

/// The spec's precision word for a dtype as a format spells it, if there is one.
pub fn precision_word(dtype: &str) -> Option<&'static str> {
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

/// `precision` from a histogram: the words ordered by share (ties by name), or the dtypes
/// that have no word.
pub fn precision(dtypes: &BTreeMap<String, u64>) -> Result<String, Vec<String>> {
    let mut words: BTreeMap<&str, u64> = BTreeMap::new();
    let mut unmapped = Vec::new();
    for (d, n) in dtypes {
        match precision_word(d) {
            Some(w) => {
                let slot = words.entry(w).or_default();
                *slot = slot.saturating_add(*n);
            }
            None => unmapped.push(d.clone()),
        }
    }
    if !unmapped.is_empty() {
        return Err(unmapped);
    }
    let mut v: Vec<(&str, u64)> = words.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    Ok(v.iter().map(|(w, _)| *w).collect::<Vec<_>>().join(","))
}

/// The dominant quantised dtype of a GGUF histogram (`Q4_K`), when most parameters are in
/// quantised types.
pub fn dominant_quant_type(dtypes: &BTreeMap<String, u64>) -> Option<String> {
    let total: u64 = dtypes.values().fold(0, |a, n| a.saturating_add(*n));
    let quant: Vec<(&String, &u64)> = dtypes
        .iter()
        .filter(|(d, _)| precision_word(d).is_none())
        .collect();
    let q_total: u64 = quant.iter().fold(0, |a, (_, n)| a.saturating_add(**n));
    if total == 0 || q_total.saturating_mul(2) < total {
        return None;
    }
    quant
        .into_iter()
        .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
        .map(|(d, _)| d.clone())
}

/// `paramSize` in the spec grammar: one decimal and the largest scale that keeps the number
/// at least 1 (`2320` → `2.3K`, `6738415616` → `6.7B`). Counts under 50 round to `0.0K` and
/// are not written (`None`).
pub fn param_size(n: u64) -> Option<String> {
    if n < 50 {
        return None;
    }
    const SCALES: [(u128, char); 5] = [
        (1_000_000_000_000_000, 'Q'),
        (1_000_000_000_000, 'T'),
        (1_000_000_000, 'B'),
        (1_000_000, 'M'),
        (1_000, 'K'),
    ];
    let n = u128::from(n);
    for (i, (scale, letter)) in SCALES.iter().enumerate() {
        let tenths = (n * 10 + scale / 2) / scale;
        if tenths >= 10 || i == SCALES.len() - 1 {
            // 999_950 rounds to 1000.0K: move up a scale instead.
            if tenths >= 10_000 && i > 0 {
                let (up, l) = SCALES[i - 1];
                let t = (n * 10 + up / 2) / up;
                return Some(format!("{}.{}{l}", t / 10, t % 10));
            }
            return Some(format!("{}.{}{letter}", tenths / 10, tenths % 10));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inspect::report::{GroupOut, TensorOut};

    fn tensor(name: &str, dtype: &str, shape: &[u64]) -> TensorOut {
        TensorOut {
            name: name.into(),
            dtype: dtype.into(),
            shape: shape.to_vec(),
        }
    }

    #[test]
    fn param_sizes() {
        assert_eq!(param_size(2320).as_deref(), Some("2.3K"));
        assert_eq!(param_size(513_048).as_deref(), Some("513.0K"));
        assert_eq!(param_size(6_738_415_616).as_deref(), Some("6.7B"));
        assert_eq!(param_size(8_021_025_280).as_deref(), Some("8.0B"));
        assert_eq!(param_size(999_950).as_deref(), Some("1.0M"));
        assert_eq!(param_size(430).as_deref(), Some("0.4K"));
        assert_eq!(param_size(1_000_000_000_000).as_deref(), Some("1.0T"));
        assert_eq!(param_size(49), None);
        for n in [50u64, 999, 1_049_999, 22_700_000, u64::MAX] {
            let s = param_size(n).unwrap();
            assert_eq!(crate::validate::rules::param_size(&s), Ok(()), "{n} → {s}");
        }
    }

    #[test]
    fn precision_by_share() {
        let h: BTreeMap<String, u64> =
            [("F32".to_string(), 528), ("BF16".to_string(), 1792)].into();
        assert_eq!(precision(&h).unwrap(), "bfloat16,float32");
        let h: BTreeMap<String, u64> =
            [("F8_E4M3".to_string(), 10), ("BF16".to_string(), 5)].into();
        assert_eq!(precision(&h).unwrap(), "float8_e4m3,bfloat16");
        let h: BTreeMap<String, u64> = [("Q4_K".to_string(), 90), ("F32".to_string(), 10)].into();
        assert_eq!(precision(&h).unwrap_err(), ["Q4_K"]);
        assert_eq!(dominant_quant_type(&h).as_deref(), Some("Q4_K"));
    }

    #[test]
    fn buffers_training_state_and_side_tensors_left_out() {
        let r = FileReport {
            format: Some("pt".into()),
            tensors: vec![
                tensor("model.layer.weight", "F32", &[10, 10]),
                tensor("model.emb.position_ids", "I64", &[1, 512]),
                tensor("optimizer.state.0.exp_avg", "F32", &[10, 10]),
                tensor("model.q.weight.absmax", "F32", &[4]),
            ],
            groups: vec![
                GroupOut {
                    name: "model".into(),
                    role: "weights",
                    tensor_count: 3,
                    parameter_count: 616,
                },
                GroupOut {
                    name: "optimizer".into(),
                    role: "training-state",
                    tensor_count: 1,
                    parameter_count: 100,
                },
            ],
            ..FileReport::default()
        };
        let c = count(&r, None);
        assert_eq!(c.params, 100);
        assert_eq!(c.dtypes, [("F32".to_string(), 100)].into());
        assert_eq!(c.left_out, 616);
    }

    #[test]
    fn packed_quantised_tensors_expanded() {
        let gptq = FileReport {
            format: Some("safetensors".into()),
            tensors: vec![
                tensor("l.q_proj.qweight", "I32", &[512, 4096]),
                tensor("l.q_proj.qzeros", "I32", &[32, 512]),
                tensor("l.q_proj.scales", "F16", &[32, 4096]),
                tensor("l.q_proj.g_idx", "I32", &[4096]),
                tensor("embed.weight", "F16", &[100, 4096]),
            ],
            ..FileReport::default()
        };
        let c = count(&gptq, Some(4));
        assert_eq!(c.params, 4096 * 4096 + 100 * 4096);
        assert_eq!(c.unpacked, 4096 * 4096);
        let bnb = FileReport {
            format: Some("safetensors".into()),
            tensors: vec![
                tensor("l.w.weight", "U8", &[8192, 1]),
                tensor("l.w.weight.absmax", "F32", &[256]),
                tensor("l.w.weight.quant_map", "F32", &[16]),
                tensor("l.w.weight.quant_state.bitsandbytes__nf4", "U8", &[100]),
                tensor("norm.weight", "F16", &[128]),
            ],
            ..FileReport::default()
        };
        assert_eq!(count(&bnb, Some(4)).params, 16384 + 128);
        assert_eq!(
            count(&bnb, None).params,
            8192 + 128,
            "no packing without a config"
        );
        let mlx = FileReport {
            format: Some("safetensors".into()),
            tensors: vec![
                tensor("l.weight", "U32", &[64, 8]),
                tensor("l.scales", "BF16", &[64, 1]),
                tensor("l.biases", "BF16", &[64, 1]),
            ],
            ..FileReport::default()
        };
        assert_eq!(count(&mlx, Some(4)).params, 64 * 64 + 64);
    }

    #[test]
    fn copies_counted_once_and_index_units() {
        let a = FileReport {
            format: Some("gguf".into()),
            tensors: vec![tensor("w", "Q4_K", &[100])],
            ..FileReport::default()
        };
        let b = FileReport {
            format: Some("gguf".into()),
            tensors: vec![tensor("w", "Q8_0", &[100])],
            ..FileReport::default()
        };
        let proj = FileReport {
            format: Some("gguf".into()),
            tensors: vec![tensor("p", "F16", &[30])],
            ..FileReport::default()
        };
        let f = aggregate(&[("a.gguf".into(), &a), ("b.gguf".into(), &b)], None);
        assert_eq!((f.params, f.copies), (100, 2));
        let f = aggregate(
            &[
                ("a.gguf".into(), &a),
                ("b.gguf".into(), &b),
                ("mmproj.gguf".into(), &proj),
            ],
            None,
        );
        assert_eq!(
            (f.params, f.copies),
            (130, 2),
            "quantisations once, projector added"
        );
        let pt = FileReport {
            format: Some("pt".into()),
            tensors: vec![tensor("w", "F32", &[500])],
            ..FileReport::default()
        };
        let st = FileReport {
            format: Some("safetensors".into()),
            tensors: vec![tensor("w", "F32", &[100])],
            ..FileReport::default()
        };
        let f = aggregate(
            &[("a.bin".into(), &pt), ("b.safetensors".into(), &st)],
            None,
        );
        assert_eq!((f.format.as_deref(), f.params), (Some("safetensors"), 100));
        let idx = FileReport {
            format: Some("safetensors".into()),
            covers: vec!["m-1.safetensors".into(), "m-2.safetensors".into()],
            ..FileReport::default()
        };
        let s1 = FileReport {
            format: Some("safetensors".into()),
            tensors: vec![tensor("x", "BF16", &[60])],
            ..FileReport::default()
        };
        let s2 = FileReport {
            format: Some("safetensors".into()),
            tensors: vec![tensor("y", "BF16", &[40])],
            ..FileReport::default()
        };
        let f = aggregate(
            &[
                ("m-1.safetensors".into(), &s1),
                ("m-2.safetensors".into(), &s2),
                ("m.safetensors.index.json".into(), &idx),
            ],
            None,
        );
        assert_eq!((f.params, f.copies, f.units.len()), (100, 0, 1));
        assert_eq!(f.format.as_deref(), Some("safetensors"));
        // Equal shards without an index are one model, not copies.
        let f = aggregate(
            &[
                ("model-00001-of-00002.safetensors".into(), &s1),
                ("model-00002-of-00002.safetensors".into(), &s1),
            ],
            None,
        );
        assert_eq!((f.params, f.copies, f.units.len()), (120, 0, 1));
        assert_eq!(
            shard_key("a/m-00001-of-00002.gguf").as_deref(),
            Some("a/m-of-00002.gguf")
        );
        assert_eq!(shard_key("model.safetensors"), None);
    }
}
