//! What the tensors of a safetensors checkpoint mean: roles, packed quantised layouts, the
//! `paramSize` basis and the precision word of each dtype.
//!
//! Recognised layouts (all by tensor names and shapes, header-only):
//! * GPTQ: `P.qweight` I32 `[in·bits/32, out]` with `P.qzeros` `[groups, out·bits/32]` and
//!   `P.scales` `[groups, out]`: bits = 32 · qzeros cols / scales cols;
//! * AWQ: `P.qweight` I32 `[in, out·bits/32]`, same siblings and formula; told apart from GPTQ
//!   by which dimension of `qweight` is packed;
//! * bitsandbytes 4-bit: `P.weight` U8 with `P.weight.quant_state.bitsandbytes__{nf4,fp4}`:
//!   two weights per byte; with only a `P.weight.absmax` sibling the width is left to the
//!   convention's declared bits;
//! * compressed-tensors `P.weight_packed` (int32 words) and MLX `P.weight` U32 with a
//!   `P.scales` sibling: packed, width from the declared bits (the header does not say).
//!
//! Everything else is a plain weight unless its name marks a PyTorch buffer or quantisation
//! side data (see the SDK's `state_dict_role`); MLX `P.biases` beside `P.scales` are side data.

use std::collections::BTreeMap;

use modelpack_plugin_sdk::prelude::*;

/// The precision word of a safetensors dtype; `None` for sub-byte and scale-only types.
pub fn precision_of(dtype: &str) -> Option<Precision> {
    Some(match dtype {
        "F32" => Precision::Float32,
        "F64" => Precision::Float64,
        "F16" => Precision::Float16,
        "BF16" => Precision::Bfloat16,
        "F8_E4M3" | "F8_E4M3FNUZ" => Precision::Float8E4m3,
        "F8_E5M2" | "F8_E5M2FNUZ" => Precision::Float8E5m2,
        "C64" => Precision::Complex64,
        "I8" => Precision::Int8,
        "I16" => Precision::Int16,
        "I32" => Precision::Int32,
        "I64" => Precision::Int64,
        "U8" => Precision::Uint8,
        "U16" => Precision::Uint16,
        "U32" => Precision::Uint32,
        "U64" => Precision::Uint64,
        "BOOL" => Precision::Bool,
        _ => return None,
    })
}

fn container_bits(dtype: &str) -> Option<u8> {
    match dtype {
        "I32" | "U32" => Some(32),
        "I16" | "U16" => Some(16),
        "I8" | "U8" => Some(8),
        _ => None,
    }
}

/// Sets roles, packing and parameters of every tensor, the quantisation the layout shows,
/// and the report's weight totals.
pub fn apply(r: &mut ModelReport) {
    let shapes: BTreeMap<String, (String, Vec<u64>)> = r
        .tensors
        .iter()
        .map(|t| (t.name.clone(), (t.dtype.clone(), t.shape.clone())))
        .collect();
    let shape = |n: &str| shapes.get(n).map(|(_, s)| s.as_slice());
    let has = |n: &str| shapes.contains_key(n);
    let mut quant: Option<Quantization> = None;
    let mut note = |method: &str, bits: Option<u8>, key: &str| {
        if quant.is_none() {
            quant = Some(Quantization {
                method: method.to_string(),
                bits,
                origin: Origin {
                    file: None,
                    key: Some(key.to_string()),
                },
            });
        }
    };
    apply_state_dict_roles(&mut r.tensors);
    for t in r.tensors.iter_mut() {
        let Some(container) = container_bits(&t.dtype) else {
            continue;
        };
        let name = t.name.as_str();
        if let Some(p) = name.strip_suffix(".qweight") {
            let (Some(z), Some(s)) = (shape(&format!("{p}.qzeros")), shape(&format!("{p}.scales")))
            else {
                t.packing = Some(Packing {
                    container_bits: container,
                    weight_bits: None,
                });
                continue;
            };
            let bits = match (z.get(1), s.get(1)) {
                (Some(&zc), Some(&sc)) if sc > 0 => {
                    u8::try_from(u64::from(container).saturating_mul(zc) / sc).ok()
                }
                _ => None,
            }
            .filter(|b| *b > 0 && *b < container);
            let awq = t.shape.get(1).zip(s.get(1)).is_some_and(|(q, s)| q < s);
            note(if awq { "awq" } else { "gptq" }, bits, name);
            t.packing = Some(Packing {
                container_bits: container,
                weight_bits: bits,
            });
        } else if name.ends_with(".weight_packed") {
            t.packing = Some(Packing {
                container_bits: container,
                weight_bits: None,
            });
        } else if name.ends_with(".weight") && t.role == TensorRole::Weights {
            let nf4 = has(&format!("{name}.quant_state.bitsandbytes__nf4"));
            let fp4 = has(&format!("{name}.quant_state.bitsandbytes__fp4"));
            let mlx = name
                .strip_suffix(".weight")
                .is_some_and(|p| has(&format!("{p}.scales")));
            if nf4 || fp4 {
                note(
                    if nf4 {
                        "bitsandbytes-nf4"
                    } else {
                        "bitsandbytes-fp4"
                    },
                    Some(4),
                    &format!("{name}.quant_state"),
                );
                t.packing = Some(Packing {
                    container_bits: container,
                    weight_bits: Some(4),
                });
            } else if has(&format!("{name}.absmax")) || mlx {
                t.packing = Some(Packing {
                    container_bits: container,
                    weight_bits: None,
                });
            }
        }
    }
    // MLX quantised layers keep per-group biases beside their scales.
    let mlx_biases: Vec<usize> = r
        .tensors
        .iter()
        .enumerate()
        .filter(|(_, t)| {
            t.name.strip_suffix(".biases").is_some_and(|p| {
                has(&format!("{p}.scales"))
                    && shapes
                        .get(&format!("{p}.weight"))
                        .is_some_and(|(d, _)| container_bits(d).is_some())
            })
        })
        .map(|(i, _)| i)
        .collect();
    for i in mlx_biases {
        r.tensors[i].role = TensorRole::QuantizationAux;
    }
    for t in r.tensors.iter_mut() {
        let n = elements(&t.shape);
        t.parameters = match &t.packing {
            Some(Packing {
                container_bits,
                weight_bits: Some(b),
            }) if *b > 0 => n.saturating_mul(u64::from(*container_bits / *b)),
            _ => n,
        };
    }
    r.parameter_count = total_elements(&r.tensors);
    r.quantization = quant;
    finish_report(r, &[], precision_of);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report;

    fn rep(t: &[(&str, &str, &[u64])]) -> ModelReport {
        let mut r = report::empty();
        r.tensors = t
            .iter()
            .map(|(n, d, s)| weight_tensor(*n, *d, s.to_vec()))
            .collect();
        apply(&mut r);
        r
    }

    #[test]
    fn gptq_and_awq_expanded_with_bits_from_shapes() {
        let r = rep(&[
            ("l.q_proj.qweight", "I32", &[512, 4096]),
            ("l.q_proj.qzeros", "I32", &[32, 512]),
            ("l.q_proj.scales", "F16", &[32, 4096]),
            ("l.q_proj.g_idx", "I32", &[4096]),
            ("embed.weight", "F16", &[100, 4096]),
        ]);
        assert_eq!(r.weight_parameters, 4096 * 4096 + 100 * 4096);
        let q = r.quantization.unwrap();
        assert_eq!((q.method.as_str(), q.bits), ("gptq", Some(4)));
        let i32 = r.dtypes.iter().find(|d| d.dtype == "I32").unwrap();
        assert_eq!(i32.precision, None, "a container is not a precision");
        let awq = rep(&[
            ("l.qweight", "I32", &[4096, 512]),
            ("l.qzeros", "I32", &[32, 512]),
            ("l.scales", "F16", &[32, 4096]),
        ]);
        assert_eq!(awq.weight_parameters, 4096 * 4096);
        assert_eq!(awq.quantization.unwrap().method, "awq");
    }

    #[test]
    fn bitsandbytes_and_mlx() {
        let bnb = rep(&[
            ("l.w.weight", "U8", &[8192, 1]),
            ("l.w.weight.absmax", "F32", &[256]),
            ("l.w.weight.quant_map", "F32", &[16]),
            ("l.w.weight.quant_state.bitsandbytes__nf4", "U8", &[100]),
            ("norm.weight", "F16", &[128]),
        ]);
        assert_eq!(bnb.weight_parameters, 16384 + 128);
        assert_eq!(bnb.quantization.unwrap().method, "bitsandbytes-nf4");
        let mlx = rep(&[
            ("l.weight", "U32", &[64, 8]),
            ("l.scales", "BF16", &[64, 1]),
            ("l.biases", "BF16", &[64, 1]),
        ]);
        let w = &mlx.tensors[0];
        assert_eq!(
            w.packing
                .as_ref()
                .map(|p| (p.container_bits, p.weight_bits)),
            Some((32, None))
        );
        assert_eq!(mlx.tensors[2].role, TensorRole::QuantizationAux);
        assert_eq!(mlx.weight_parameters, 512, "width unknown: elements only");
    }

    #[test]
    fn buffers_are_not_weights_and_precision_words() {
        let r = rep(&[
            ("bert.embeddings.position_ids", "I64", &[1, 512]),
            (
                "bert.embeddings.word_embeddings.weight",
                "F8_E4M3",
                &[10, 10],
            ),
        ]);
        assert_eq!(r.weight_parameters, 100);
        assert_eq!(r.parameter_count, 612);
        assert_eq!(r.dtypes.len(), 1);
        assert_eq!(r.dtypes[0].precision, Some(Precision::Float8E4m3));
    }
}
