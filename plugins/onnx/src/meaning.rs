//! What an ONNX model's tensors mean for ModelPack: initializers and Constant-node data are
//! weights (some exporters keep every weight in Constant nodes), except INT64 tensors, which
//! ONNX graphs use for shapes, axes and indices, and PyTorch buffers exported under their
//! `state_dict` names (`position_ids`). Precision words of the `TensorProto.DataType` names.

use modelpack_plugin_sdk::prelude::*;

/// The precision word of a `TensorProto.DataType` name.
pub fn precision_of(dtype: &str) -> Option<Precision> {
    Some(match dtype {
        "FLOAT" => Precision::Float32,
        "DOUBLE" => Precision::Float64,
        "FLOAT16" => Precision::Float16,
        "BFLOAT16" => Precision::Bfloat16,
        "FLOAT8E4M3FN" | "FLOAT8E4M3FNUZ" => Precision::Float8E4m3,
        "FLOAT8E5M2" | "FLOAT8E5M2FNUZ" => Precision::Float8E5m2,
        "COMPLEX64" => Precision::Complex64,
        "COMPLEX128" => Precision::Complex128,
        "INT8" => Precision::Int8,
        "INT16" => Precision::Int16,
        "INT32" => Precision::Int32,
        "INT64" => Precision::Int64,
        "UINT8" => Precision::Uint8,
        "UINT16" => Precision::Uint16,
        "UINT32" => Precision::Uint32,
        "UINT64" => Precision::Uint64,
        "BOOL" => Precision::Bool,
        _ => return None,
    })
}

/// Sets roles and the weight totals; `constants` are Constant-node elements per dtype.
pub fn apply(r: &mut ModelReport, constants: &std::collections::BTreeMap<String, u64>) {
    apply_state_dict_roles(&mut r.tensors);
    for t in r.tensors.iter_mut() {
        if t.dtype == "INT64" && t.role == TensorRole::Weights {
            t.role = TensorRole::Other;
        }
    }
    let extra: Vec<(String, u64)> = constants
        .iter()
        .filter(|(d, _)| d.as_str() != "INT64")
        .map(|(d, n)| (d.clone(), *n))
        .collect();
    finish_report(r, &extra, precision_of);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int64_and_buffers_are_not_weights_constants_are() {
        let mut r = ModelReport {
            format: "onnx".into(),
            tensors: vec![
                weight_tensor("w", "FLOAT", vec![10]),
                weight_tensor("shape", "INT64", vec![4]),
                weight_tensor("emb.position_ids", "FLOAT", vec![3]),
            ],
            parameter_count: 17,
            weight_parameters: 0,
            dtypes: vec![],
            quantization: None,
            candidates: vec![],
            lineage: vec![],
            groups: vec![],
            inputs: vec![],
            outputs: vec![],
            metadata: vec![],
            findings: vec![],
            covers: vec![],
            layer_kind: None,
        };
        let c = [("FLOAT".to_string(), 5), ("INT64".to_string(), 7)].into();
        apply(&mut r, &c);
        assert_eq!(r.weight_parameters, 15);
        assert_eq!(r.tensors[1].role, TensorRole::Other);
        assert_eq!(r.dtypes[0].precision, Some(Precision::Float32));
    }
}
