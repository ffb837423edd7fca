//! Facts from the weight files, aggregated from what the format plugins said they *mean*
//! (contract 0.2): format, the `paramSize` basis, precision words, quantisation, and the
//! descriptor candidates the files declare.
//!
//! This module knows no format. Each plugin marks its tensors' roles (weights, buffers,
//! training state, quantisation side data, other), counts each tensor's parameters with
//! packed quantisation expanded where the file says how, and names each dtype's word in the
//! spec's precision vocabulary. The host only does what needs the whole directory:
//! * expanding packed weights whose width only a convention declared (`packing` without
//!   `weight-bits`, e.g. MLX or compressed-tensors): `elements × container / declared bits`;
//! * grouping files into *units*: an index and its shards (or shards named `-0000N-of-0000M`
//!   without an index), a split GGUF and its parts, an ONNX file and its external data;
//! * choosing the model's format when a directory holds several (Hugging Face repos often
//!   ship safetensors, a `pytorch_model.bin` and ONNX exports of the same model): among the
//!   formats with readable weights, the one whose plugin declares the highest `preference`
//!   (WIT `plugin-info`; ties by parameters), and only its units are counted;
//! * copy clustering: units of that format whose counts are within 2% of each other are
//!   copies (a GGUF in several quantisations, `consolidated.safetensors` beside shards,
//!   optimised ONNX re-exports): counted once, at the largest.
//!
//! Every sum is checked: a count that overflows 64 bits is an error, never a small number.

use std::collections::{BTreeMap, BTreeSet};

use crate::inspect::FileReport;
use crate::inspect::report::CandidateOut;

/// The count overflowed 64 bits (a hostile or corrupt file): the message names where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("parameter count overflows 64 bits at {0}")]
pub struct Overflow(pub String);

fn add(a: u64, b: u64, at: &str) -> Result<u64, Overflow> {
    a.checked_add(b).ok_or_else(|| Overflow(at.to_string()))
}

/// Parameters and dtype histogram of one file's own model weights.
#[derive(Debug, Default, Clone)]
pub struct Counted {
    /// Parameters counted.
    pub params: u64,
    /// Counted parameters per dtype (format spelling).
    pub dtypes: BTreeMap<String, u64>,
    /// Each dtype's word in the spec's precision vocabulary (`None`: quantised storage).
    pub words: BTreeMap<String, Option<&'static str>>,
    /// Elements left out (buffers, training state, side tensors, shapes).
    pub left_out: u64,
    /// Weights counted inside packed tensors (after expanding them).
    pub unpacked: u64,
    /// Elements of packed tensors whose width neither the file nor a convention said
    /// (counted as stored).
    pub unresolved: u64,
}

/// Counts the model weights of one report; `declared_bits` is the width of packed weights a
/// convention declared (config.json `quantization_config`), used only for packed tensors
/// whose width the file itself does not state.
pub fn count(r: &FileReport, declared_bits: Option<u32>) -> Result<Counted, Overflow> {
    let at = |what: &str| format!("{}{what}", r.path);
    if r.weight_parameters == u64::MAX {
        return Err(Overflow(at(" (as its plugin reports it)")));
    }
    let mut c = Counted {
        params: r.weight_parameters,
        ..Counted::default()
    };
    for d in &r.weight_dtypes {
        let n = c.dtypes.entry(d.dtype.clone()).or_default();
        *n = add(*n, d.weight_parameters, &at(""))?;
        c.words.insert(d.dtype.clone(), d.precision);
    }
    for t in &r.tensors {
        if t.role != "weights" {
            let n = t
                .shape
                .iter()
                .try_fold(1u64, |a, d| a.checked_mul(*d))
                .unwrap_or(u64::MAX);
            c.left_out = c.left_out.saturating_add(n);
            continue;
        }
        let Some(p) = t.packing else {
            continue;
        };
        match (p.weight_bits, declared_bits) {
            (Some(_), _) => c.unpacked = add(c.unpacked, t.parameters, &at(""))?,
            (None, Some(b)) if b > 0 && b < u32::from(p.container_bits) => {
                let factor = u64::from(u32::from(p.container_bits) / b);
                let total = t
                    .parameters
                    .checked_mul(factor)
                    .ok_or_else(|| Overflow(at(&format!(": tensor {}", t.name))))?;
                let extra = total - t.parameters;
                c.params = add(c.params, extra, &at(&format!(": tensor {}", t.name)))?;
                let n = c.dtypes.entry(t.dtype.clone()).or_default();
                *n = add(*n, extra, &at(""))?;
                c.unpacked = add(c.unpacked, total, &at(""))?;
            }
            (None, _) => c.unresolved = c.unresolved.saturating_add(t.parameters),
        }
    }
    Ok(c)
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
    /// Each dtype's precision word, as the plugins gave it.
    pub words: BTreeMap<String, Option<&'static str>>,
    /// Units that are copies of another unit's model (counted once), 0 when none.
    pub copies: usize,
    /// Elements left out (buffers, training state…).
    pub left_out: u64,
    /// Weights counted inside packed quantised tensors.
    pub unpacked: u64,
    /// Packed elements whose width nobody stated (counted as stored).
    pub unresolved: u64,
    /// Quantisation methods the model's units show, sorted, with the file and key of the first.
    pub quantizations: Vec<String>,
    /// Where the first quantisation was seen (`file: key`).
    pub quantization_from: Option<String>,
    /// Field candidates the model's weight files declare, in file order, with their file.
    pub candidates: Vec<(String, CandidateOut)>,
}

/// Aggregates the reports of the weight files (`rel` → report, status ok); `bits` as for
/// [`count`].
pub fn aggregate(
    reports: &[(String, &FileReport)],
    bits: Option<u32>,
) -> Result<WeightFacts, Overflow> {
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
            let c = count(r, bits)?;
            u.counted.params = add(u.counted.params, c.params, rel)?;
            u.counted.left_out = u.counted.left_out.saturating_add(c.left_out);
            u.counted.unpacked = add(u.counted.unpacked, c.unpacked, rel)?;
            u.counted.unresolved = u.counted.unresolved.saturating_add(c.unresolved);
            for (d, n) in c.dtypes {
                let slot = u.counted.dtypes.entry(d).or_default();
                *slot = add(*slot, n, rel)?;
            }
            for (d, w) in c.words {
                // A dtype that is a container anywhere is no precision anywhere.
                let slot = u.counted.words.entry(d).or_insert(w);
                if w.is_none() {
                    *slot = None;
                }
            }
        }
    }
    // Each format's declared preference (the highest of its readers, should two differ).
    let mut preference: BTreeMap<&str, u8> = BTreeMap::new();
    for (_, r) in reports {
        if let Some(f) = &r.format {
            let p = preference.entry(f.as_str()).or_default();
            *p = (*p).max(r.preference);
        }
    }
    let rank = |f: &str| preference.get(f).copied().unwrap_or(0);
    let mut by_format: BTreeMap<&str, u64> = BTreeMap::new();
    for u in units.values() {
        let slot = by_format.entry(u.format.as_str()).or_default();
        *slot = add(*slot, u.counted.params, &u.files[0])?;
    }
    facts.format = by_format
        .iter()
        .filter(|(f, _)| !f.is_empty())
        .max_by(|a, b| {
            // Formats with weights first; then the canonical one; then most parameters.
            (*a.1 > 0)
                .cmp(&(*b.1 > 0))
                .then(rank(a.0).cmp(&rank(b.0)))
                .then(a.1.cmp(b.1))
                .then(facts.formats.get(*a.0).cmp(&facts.formats.get(*b.0)))
                .then(b.0.cmp(a.0))
        })
        .map(|(f, _)| f.to_string());
    let Some(format) = facts.format.clone() else {
        return Ok(facts);
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
            // u128: saturating products would make every huge count a "copy" of the largest.
            .find(|(m, _)| u128::from(p) * 100 >= u128::from(*m) * 98)
        {
            Some((_, n)) => *n += 1,
            None => {
                clusters.push((p, 1));
                facts.params = add(facts.params, p, &u.files[0])?;
                facts.unpacked = add(facts.unpacked, u.counted.unpacked, &u.files[0])?;
                facts.unresolved = facts.unresolved.saturating_add(u.counted.unresolved);
            }
        }
        facts.left_out = facts.left_out.saturating_add(u.counted.left_out);
        for (d, n) in &u.counted.dtypes {
            let slot = facts.dtypes.entry(d.clone()).or_default();
            *slot = add(*slot, *n, &u.files[0])?;
        }
        for (d, w) in &u.counted.words {
            let slot = facts.words.entry(d.clone()).or_insert(*w);
            if w.is_none() {
                *slot = None;
            }
        }
    }
    // Files (units) that hold a model some other unit holds too.
    facts.copies = clusters
        .iter()
        .filter(|(_, n)| *n > 1)
        .map(|(_, n)| n)
        .sum();
    model.sort_by(|a, b| a.files.cmp(&b.files));
    let mut methods = BTreeSet::new();
    for u in &model {
        for f in &u.files {
            let Some((_, r)) = reports.iter().find(|(rel, _)| rel == f) else {
                continue;
            };
            if let Some(q) = &r.quantization {
                methods.insert(q.method.clone());
                if facts.quantization_from.is_none() {
                    facts.quantization_from = Some(match &q.key {
                        Some(k) => format!("{f}: {k}"),
                        None => f.clone(),
                    });
                }
            }
            facts
                .candidates
                .extend(r.candidates.iter().map(|c| (f.clone(), c.clone())));
        }
    }
    facts.quantizations = methods.into_iter().collect();
    facts.units = model;
    Ok(facts)
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

/// `precision` from a histogram and the plugins' words: the words ordered by share (ties by
/// name), or the dtypes that have no word.
pub fn precision(
    dtypes: &BTreeMap<String, u64>,
    words: &BTreeMap<String, Option<&'static str>>,
) -> Result<String, Vec<String>> {
    let mut by_word: BTreeMap<&str, u64> = BTreeMap::new();
    let mut unmapped = Vec::new();
    for (d, n) in dtypes {
        match words.get(d).copied().flatten() {
            Some(w) => {
                let slot = by_word.entry(w).or_default();
                *slot = slot.saturating_add(*n);
            }
            None => unmapped.push(d.clone()),
        }
    }
    if !unmapped.is_empty() {
        return Err(unmapped);
    }
    let mut v: Vec<(&str, u64)> = by_word.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    Ok(v.iter().map(|(w, _)| *w).collect::<Vec<_>>().join(","))
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
    use crate::inspect::report::{PackingOut, TensorOut, WeightDtype};

    /// A report as a plugin would send it: roles and words given, totals summed here.
    fn rep(format: &str, tensors: Vec<TensorOut>, words: &[(&str, &'static str)]) -> FileReport {
        let mut weight_dtypes: Vec<WeightDtype> = Vec::new();
        for t in tensors.iter().filter(|t| t.role == "weights") {
            match weight_dtypes.iter_mut().find(|d| d.dtype == t.dtype) {
                Some(d) => d.weight_parameters += t.parameters,
                None => weight_dtypes.push(WeightDtype {
                    dtype: t.dtype.clone(),
                    precision: words
                        .iter()
                        .find(|(d, _)| *d == t.dtype)
                        .map(|(_, w)| *w)
                        .filter(|_| t.packing.is_none()),
                    weight_parameters: t.parameters,
                }),
            }
        }
        FileReport {
            format: Some(format.into()),
            weight_parameters: weight_dtypes.iter().map(|d| d.weight_parameters).sum(),
            weight_dtypes,
            tensors,
            ..FileReport::default()
        }
    }

    fn w(name: &str, dtype: &str, shape: &[u64]) -> TensorOut {
        TensorOut::weight(name, dtype, shape)
    }

    fn with_role(mut t: TensorOut, role: &'static str) -> TensorOut {
        t.role = role;
        t
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
    fn precision_by_share_from_the_plugins_words() {
        let words: BTreeMap<String, Option<&'static str>> = [
            ("F32".to_string(), Some("float32")),
            ("BF16".to_string(), Some("bfloat16")),
            ("F8_E4M3".to_string(), Some("float8_e4m3")),
            ("Q4_K".to_string(), None),
        ]
        .into();
        let h: BTreeMap<String, u64> =
            [("F32".to_string(), 528), ("BF16".to_string(), 1792)].into();
        assert_eq!(precision(&h, &words).unwrap(), "bfloat16,float32");
        let h: BTreeMap<String, u64> =
            [("F8_E4M3".to_string(), 10), ("BF16".to_string(), 5)].into();
        assert_eq!(precision(&h, &words).unwrap(), "float8_e4m3,bfloat16");
        let h: BTreeMap<String, u64> = [("Q4_K".to_string(), 90), ("F32".to_string(), 10)].into();
        assert_eq!(precision(&h, &words).unwrap_err(), ["Q4_K"]);
        let h: BTreeMap<String, u64> = [("NEW_TYPE".to_string(), 1)].into();
        assert_eq!(
            precision(&h, &words).unwrap_err(),
            ["NEW_TYPE"],
            "no word given"
        );
    }

    #[test]
    fn only_role_weights_count() {
        let r = rep(
            "pt",
            vec![
                w("model.layer.weight", "F32", &[10, 10]),
                with_role(w("model.emb.position_ids", "I64", &[1, 512]), "buffers"),
                with_role(
                    w("optimizer.state.0.exp_avg", "F32", &[10, 10]),
                    "training-state",
                ),
                with_role(w("model.q.weight.absmax", "F32", &[4]), "quantization-aux"),
            ],
            &[("F32", "float32")],
        );
        let c = count(&r, None).unwrap();
        assert_eq!(c.params, 100);
        assert_eq!(c.dtypes, [("F32".to_string(), 100)].into());
        assert_eq!(c.left_out, 616);
    }

    #[test]
    fn declared_bits_expand_packing_the_file_left_open() {
        let mut packed = w("l.weight", "U32", &[64, 8]);
        packed.packing = Some(PackingOut {
            container_bits: 32,
            weight_bits: None,
        });
        let r = rep(
            "safetensors",
            vec![
                packed,
                with_role(w("l.scales", "BF16", &[64, 1]), "quantization-aux"),
                w("norm", "BF16", &[64]),
            ],
            &[("BF16", "bfloat16"), ("U32", "uint32")],
        );
        let c = count(&r, Some(4)).unwrap();
        assert_eq!(c.params, 64 * 64 + 64);
        assert_eq!(c.unpacked, 64 * 64);
        assert_eq!(c.words.get("U32"), Some(&None), "a container has no word");
        let c = count(&r, None).unwrap();
        assert_eq!((c.params, c.unresolved), (512 + 64, 512));
        // Known width: the plugin already expanded it; nothing to add.
        let mut gptq = w("l.qweight", "I32", &[512, 4096]);
        gptq.parameters = 4096 * 4096;
        gptq.packing = Some(PackingOut {
            container_bits: 32,
            weight_bits: Some(4),
        });
        let r = rep("safetensors", vec![gptq], &[]);
        let c = count(&r, Some(8)).unwrap();
        assert_eq!((c.params, c.unpacked), (4096 * 4096, 4096 * 4096));
    }

    #[test]
    fn overflow_is_an_error_never_a_small_number() {
        let mut huge = w("w", "F32", &[1 << 63]);
        huge.parameters = 1 << 63;
        let a = rep("evil", vec![huge.clone()], &[("F32", "float32")]);
        let b = rep("evil", vec![huge], &[("F32", "float32")]);
        assert_eq!(
            aggregate(&[("a.evil".into(), &a)], None).unwrap().params,
            1 << 63
        );
        let e = aggregate(&[("a.evil".into(), &a), ("b.evil".into(), &b)], None).unwrap_err();
        assert!(e.to_string().contains("overflows 64 bits"), "{e}");
        let mut max = rep("evil", vec![], &[]);
        max.weight_parameters = u64::MAX;
        assert!(count(&max, None).is_err());
    }

    #[test]
    fn copies_counted_once_and_index_units() {
        let a = rep("gguf", vec![w("w", "Q4_K", &[100])], &[]);
        let b = rep("gguf", vec![w("w", "Q8_0", &[100])], &[]);
        let proj = rep("gguf", vec![w("p", "F16", &[30])], &[("F16", "float16")]);
        let f = aggregate(&[("a.gguf".into(), &a), ("b.gguf".into(), &b)], None).unwrap();
        assert_eq!((f.params, f.copies), (100, 2));
        let f = aggregate(
            &[
                ("a.gguf".into(), &a),
                ("b.gguf".into(), &b),
                ("mmproj.gguf".into(), &proj),
            ],
            None,
        )
        .unwrap();
        assert_eq!(
            (f.params, f.copies),
            (130, 2),
            "quantisations once, projector added"
        );
        let mut pt = rep("pt", vec![w("w", "F32", &[500])], &[("F32", "float32")]);
        let mut st = rep(
            "safetensors",
            vec![w("w", "F32", &[100])],
            &[("F32", "float32")],
        );
        let pick = |pt: &FileReport, st: &FileReport| {
            let f = aggregate(&[("a.bin".into(), pt), ("b.safetensors".into(), st)], None).unwrap();
            (f.format, f.params)
        };
        // The host ranks no format by name: without declared preferences, most parameters.
        assert_eq!(pick(&pt, &st), (Some("pt".into()), 500));
        // The plugins' declared preferences decide, whatever the counts.
        (pt.preference, st.preference) = (10, 40);
        assert_eq!(pick(&pt, &st), (Some("safetensors".into()), 100));
        (pt.preference, st.preference) = (200, 40);
        assert_eq!(pick(&pt, &st), (Some("pt".into()), 500));
        let idx = FileReport {
            format: Some("safetensors".into()),
            covers: vec!["m-1.safetensors".into(), "m-2.safetensors".into()],
            ..FileReport::default()
        };
        let s1 = rep(
            "safetensors",
            vec![w("x", "BF16", &[60])],
            &[("BF16", "bfloat16")],
        );
        let s2 = rep(
            "safetensors",
            vec![w("y", "BF16", &[40])],
            &[("BF16", "bfloat16")],
        );
        let f = aggregate(
            &[
                ("m-1.safetensors".into(), &s1),
                ("m-2.safetensors".into(), &s2),
                ("m.safetensors.index.json".into(), &idx),
            ],
            None,
        )
        .unwrap();
        assert_eq!((f.params, f.copies, f.units.len()), (100, 0, 1));
        assert_eq!(f.format.as_deref(), Some("safetensors"));
        // Equal shards without an index are one model, not copies.
        let f = aggregate(
            &[
                ("model-00001-of-00002.safetensors".into(), &s1),
                ("model-00002-of-00002.safetensors".into(), &s1),
            ],
            None,
        )
        .unwrap();
        assert_eq!((f.params, f.copies, f.units.len()), (120, 0, 1));
        assert_eq!(
            shard_key("a/m-00001-of-00002.gguf").as_deref(),
            Some("a/m-of-00002.gguf")
        );
        assert_eq!(shard_key("model.safetensors"), None);
    }
}
