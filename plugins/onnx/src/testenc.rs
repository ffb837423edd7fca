//! A tiny protobuf encoder for building ONNX models in unit tests.

/// A varint.
pub fn varint(mut v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    while v >= 0x80 {
        out.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
    out
}

/// A varint field.
pub fn field_varint(field: u32, v: u64) -> Vec<u8> {
    [varint(u64::from(field) << 3), varint(v)].concat()
}

/// A length-delimited field.
pub fn field_bytes(field: u32, b: &[u8]) -> Vec<u8> {
    [
        varint((u64::from(field) << 3) | 2),
        varint(b.len() as u64),
        b.to_vec(),
    ]
    .concat()
}

/// A `TensorProto` header followed by `extra` encoded fields.
pub fn tensor_proto(name: &str, dtype: u64, dims: &[i64], extra: &[u8]) -> Vec<u8> {
    let mut t = Vec::new();
    for &d in dims {
        t.extend(field_varint(1, d as u64));
    }
    t.extend(field_varint(2, dtype));
    if !name.is_empty() {
        t.extend(field_bytes(8, name.as_bytes()));
    }
    t.extend_from_slice(extra);
    t
}

/// A shape dimension for [`value_info_proto`].
pub enum D {
    V(i64),
    P(&'static str),
    N,
}

/// A tensor-typed `ValueInfoProto`.
pub fn value_info_proto(name: &str, elem: u64, shape: Option<&[D]>) -> Vec<u8> {
    let mut tt = field_varint(1, elem);
    if let Some(dims) = shape {
        let mut s = Vec::new();
        for d in dims {
            let dim = match d {
                D::V(v) => field_varint(1, *v as u64),
                D::P(p) => field_bytes(2, p.as_bytes()),
                D::N => Vec::new(),
            };
            s.extend(field_bytes(1, &dim));
        }
        tt.extend(field_bytes(2, &s));
    }
    [
        field_bytes(1, name.as_bytes()),
        field_bytes(2, &field_bytes(1, &tt)),
    ]
    .concat()
}

/// A `ModelProto` with an IR version, opsets and a graph body.
pub fn model_proto(ir: u64, opsets: &[(&str, u64)], graph: &[u8]) -> Vec<u8> {
    let mut m = field_varint(1, ir);
    m.extend(field_bytes(2, b"test"));
    for (d, v) in opsets {
        let o = [field_bytes(1, d.as_bytes()), field_varint(2, *v)].concat();
        m.extend(field_bytes(8, &o));
    }
    m.extend(field_bytes(7, graph));
    m
}

/// A `Constant` node with one attribute `name` of AttributeType `ty` holding `payload` fields.
pub fn constant_node(name: &str, ty: u64, payload: &[u8]) -> Vec<u8> {
    let attr = [
        field_bytes(1, name.as_bytes()),
        field_varint(20, ty),
        payload.to_vec(),
    ]
    .concat();
    [field_bytes(4, b"Constant"), field_bytes(5, &attr)].concat()
}
