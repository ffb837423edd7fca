//! Decoders for the parts of `onnx.proto` (onnx 1.23.2) this plugin reports.
//!
//! Only the fields listed in formats.md section 3 are decoded; everything else, above all
//! the tensor payloads (`raw_data`, `float_data`, …), is skipped by its length without being
//! read. A known field with the wrong wire type is an error (the file is corrupt), an unknown
//! field is skipped. Repeated occurrences of a singular message field (`graph`, `shape`) are
//! merged as protobuf does; for singular scalars the last occurrence wins.

use crate::wire::{FIXED32, LEN, Reader, VARINT};
use modelpack_plugin_sdk::prelude::*;
use std::collections::BTreeMap;

/// Longest name, key or value kept (longer ones are truncated, not rejected).
const STRING_CAP: u64 = 64 << 10;
/// Longest model `doc_string` kept in the report.
pub const DOC_CAP: u64 = 1 << 10;
/// Most dimensions accepted for one tensor or shape.
pub const MAX_DIMS: usize = 4096;
/// Most `external_data` entries accepted for one tensor.
const MAX_EXTERNAL_ENTRIES: usize = 256;

/// The `ModelProto` fields this plugin reports.
#[derive(Debug, Default)]
pub struct Model {
    /// `ir_version` (field 1), when present.
    pub ir_version: Option<i64>,
    /// `(domain, version)` of each `opset_import`, in file order.
    pub opsets: Vec<(String, i64)>,
    /// `producer_name` (field 2).
    pub producer_name: Option<String>,
    /// `producer_version` (field 3).
    pub producer_version: Option<String>,
    /// `domain` (field 4).
    pub domain: Option<String>,
    /// `model_version` (field 5).
    pub model_version: Option<i64>,
    /// At most [`DOC_CAP`] bytes of the model's `doc_string`.
    pub doc_string: Option<String>,
    /// `metadata_props` (field 14) as key/value pairs, in file order.
    pub metadata_props: Vec<(String, String)>,
    /// The main graph (field 7).
    pub graph: Option<Graph>,
    /// Number of local functions (field 25), which are not decoded.
    pub function_count: u64,
    /// Number of `training_info` entries (field 20), which are not decoded.
    pub training_info_count: u64,
}

/// The `GraphProto` fields this plugin reports (inputs and initializers of the main graph only).
#[derive(Debug, Default)]
pub struct Graph {
    /// `name` (field 2).
    pub name: Option<String>,
    /// `initializer` (field 5), in file order.
    pub initializers: Vec<TensorInfo>,
    /// `sparse_initializer` (field 15): logical dims, values' name and dtype.
    pub sparse_initializers: Vec<TensorInfo>,
    /// `input` (field 11), initializers included.
    pub inputs: Vec<IoInfo>,
    /// `output` (field 12).
    pub outputs: Vec<IoInfo>,
    /// Nodes of this graph (not of its subgraphs).
    pub node_count: u64,
    /// Weights held in `Constant` nodes of this graph and of all its subgraphs.
    pub constants: Constants,
}

/// The header of a `TensorProto` (or of a `SparseTensorProto`, with its values' dtype).
#[derive(Debug, Default, Clone)]
pub struct TensorInfo {
    /// `name` (field 8).
    pub name: String,
    /// `dims` (field 1), outermost first.
    pub dims: Vec<i64>,
    /// `data_type` (field 2), a `TensorProto.DataType`.
    pub data_type: i32,
    /// 0 DEFAULT, 1 EXTERNAL.
    pub data_location: i32,
    /// `external_data` key/value pairs, in file order.
    pub external_data: Vec<(String, String)>,
}

/// A graph input or output.
#[derive(Debug, Clone, PartialEq)]
pub struct IoInfo {
    /// `name` (field 1).
    pub name: String,
    /// What `type` (field 2) says.
    pub ty: TypeInfo,
}

/// Which `TypeProto` alternative a value has.
#[derive(Debug, Clone, PartialEq)]
pub enum TypeInfo {
    /// No `type` field, or a `TypeProto` with no alternative set.
    Missing,
    /// A dense tensor: element type and shape (`None` when the shape field is absent).
    Tensor {
        elem: i32,
        shape: Option<Vec<DimInfo>>,
    },
    /// A sparse tensor, described like a dense one.
    Sparse {
        elem: i32,
        shape: Option<Vec<DimInfo>>,
    },
    /// `sequence_type`.
    Sequence,
    /// `map_type`.
    Map,
    /// `optional_type`.
    Optional,
    /// `opaque_type`.
    Opaque,
}

/// One `TensorShapeProto.Dimension`.
#[derive(Debug, Clone, PartialEq)]
pub enum DimInfo {
    /// `dim_value` (may be 0 or, from some exporters, negative).
    Value(i64),
    /// `dim_param`, a symbolic name.
    Param(String),
    /// Neither field set.
    Unknown,
}

/// Weights held in `Constant` nodes (all graphs, including If/Loop/Scan bodies).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Constants {
    /// `Constant` nodes whose `value` attribute is a tensor, and their elements.
    pub tensors: u64,
    /// Elements of those `value` tensors.
    pub tensor_elements: u64,
    /// `value_float(s)` / `value_int(s)` constants and their elements.
    pub scalars: u64,
    /// Elements of those scalar constants.
    pub scalar_elements: u64,
    /// Elements per dtype name, both kinds together.
    pub by_dtype: BTreeMap<String, u64>,
}

impl Constants {
    fn add(&mut self, c: Constant) -> Result<(), String> {
        let (n, dtype, tensor) = match c {
            Constant::Tensor {
                elements,
                data_type,
            } => (elements, crate::dtype::label(data_type), true),
            Constant::Floats(n) => (n, "FLOAT".to_string(), false),
            Constant::Ints(n) => (n, "INT64".to_string(), false),
        };
        let overflow = || "constant element count overflows u64".to_string();
        if tensor {
            self.tensors += 1;
            self.tensor_elements = self.tensor_elements.checked_add(n).ok_or_else(overflow)?;
        } else {
            self.scalars += 1;
            self.scalar_elements = self.scalar_elements.checked_add(n).ok_or_else(overflow)?;
        }
        let slot = self.by_dtype.entry(dtype).or_default();
        *slot = slot.checked_add(n).ok_or_else(overflow)?;
        Ok(())
    }

    fn merge(&mut self, o: Constants) -> Result<(), String> {
        let overflow = || "constant element count overflows u64".to_string();
        self.tensors += o.tensors;
        self.scalars += o.scalars;
        self.tensor_elements = self
            .tensor_elements
            .checked_add(o.tensor_elements)
            .ok_or_else(overflow)?;
        self.scalar_elements = self
            .scalar_elements
            .checked_add(o.scalar_elements)
            .ok_or_else(overflow)?;
        for (k, v) in o.by_dtype {
            let slot = self.by_dtype.entry(k).or_default();
            *slot = slot.checked_add(v).ok_or_else(overflow)?;
        }
        Ok(())
    }

    /// All constant elements, tensors and scalar lists together.
    pub fn elements(&self) -> u64 {
        self.tensor_elements.saturating_add(self.scalar_elements)
    }

    /// All constants, tensors and scalar lists together.
    pub fn count(&self) -> u64 {
        self.tensors + self.scalars
    }
}

/// One weight held by a `Constant` node.
enum Constant {
    Tensor { elements: u64, data_type: i32 },
    Floats(u64),
    Ints(u64),
}

/// Logical element count of `dims`: their product (1 for a scalar); negative dims and
/// overflow are errors.
pub fn elements(dims: &[i64]) -> Result<u64, String> {
    let mut n: u64 = 1;
    for &d in dims {
        let d = u64::try_from(d).map_err(|_| format!("negative dimension {d} in {dims:?}"))?;
        n = n
            .checked_mul(d)
            .ok_or_else(|| format!("element count of dims {dims:?} overflows u64"))?;
    }
    Ok(n)
}

/// An int32 / enum field: protobuf keeps the low 32 bits of the varint.
fn int32(v: u64) -> i32 {
    v as u32 as i32
}

/// Decodes a whole file as a `ModelProto`.
pub fn model(r: &mut Reader) -> Result<Model, Error> {
    let mut m = Model::default();
    while let Some((field, wt)) = r.next_field()? {
        match field {
            1 => {
                r.expect("ModelProto.ir_version", wt, VARINT)?;
                m.ir_version = Some(r.varint()? as i64);
            }
            2 => {
                r.expect("ModelProto.producer_name", wt, LEN)?;
                m.producer_name = Some(r.string(STRING_CAP)?);
            }
            3 => {
                r.expect("ModelProto.producer_version", wt, LEN)?;
                m.producer_version = Some(r.string(STRING_CAP)?);
            }
            4 => {
                r.expect("ModelProto.domain", wt, LEN)?;
                m.domain = Some(r.string(STRING_CAP)?);
            }
            5 => {
                r.expect("ModelProto.model_version", wt, VARINT)?;
                m.model_version = Some(r.varint()? as i64);
            }
            6 => {
                r.expect("ModelProto.doc_string", wt, LEN)?;
                m.doc_string = Some(r.string(DOC_CAP)?);
            }
            7 => {
                r.expect("ModelProto.graph", wt, LEN)?;
                let g = m.graph.get_or_insert_with(Graph::default);
                r.nested("GraphProto", |r| graph(r, g, true))?;
            }
            8 => {
                r.expect("ModelProto.opset_import", wt, LEN)?;
                let o = r.nested("OperatorSetIdProto", opset)?;
                m.opsets.push(o);
            }
            14 => {
                r.expect("ModelProto.metadata_props", wt, LEN)?;
                let kv = r.nested("StringStringEntryProto", string_pair)?;
                m.metadata_props.push(kv);
            }
            20 => {
                r.expect("ModelProto.training_info", wt, LEN)?;
                r.skip_field(field, wt)?;
                m.training_info_count += 1;
            }
            25 => {
                r.expect("ModelProto.functions", wt, LEN)?;
                r.skip_field(field, wt)?;
                m.function_count += 1;
            }
            _ => r.skip_field(field, wt)?,
        }
    }
    Ok(m)
}

/// `OperatorSetIdProto`: `(domain, version)`.
fn opset(r: &mut Reader) -> Result<(String, i64), Error> {
    let (mut domain, mut version) = (String::new(), 0);
    while let Some((field, wt)) = r.next_field()? {
        match field {
            1 => {
                r.expect("OperatorSetIdProto.domain", wt, LEN)?;
                domain = r.string(STRING_CAP)?;
            }
            2 => {
                r.expect("OperatorSetIdProto.version", wt, VARINT)?;
                version = r.varint()? as i64;
            }
            _ => r.skip_field(field, wt)?,
        }
    }
    Ok((domain, version))
}

/// `StringStringEntryProto`: `(key, value)`.
fn string_pair(r: &mut Reader) -> Result<(String, String), Error> {
    let (mut key, mut value) = (String::new(), String::new());
    while let Some((field, wt)) = r.next_field()? {
        match field {
            1 => {
                r.expect("StringStringEntryProto.key", wt, LEN)?;
                key = r.string(STRING_CAP)?;
            }
            2 => {
                r.expect("StringStringEntryProto.value", wt, LEN)?;
                value = r.string(STRING_CAP)?;
            }
            _ => r.skip_field(field, wt)?,
        }
    }
    Ok((key, value))
}

/// `GraphProto`, merged into `g`. For subgraphs (`main == false`) only the nodes are decoded,
/// to collect their `Constant` weights.
fn graph(r: &mut Reader, g: &mut Graph, main: bool) -> Result<(), Error> {
    while let Some((field, wt)) = r.next_field()? {
        match field {
            1 => {
                r.expect("GraphProto.node", wt, LEN)?;
                let consts = &mut g.constants;
                r.nested("NodeProto", |r| node(r, consts))?;
                g.node_count += 1;
            }
            2 if main => {
                r.expect("GraphProto.name", wt, LEN)?;
                g.name = Some(r.string(STRING_CAP)?);
            }
            5 if main => {
                r.expect("GraphProto.initializer", wt, LEN)?;
                let t = r.nested("TensorProto", tensor)?;
                g.initializers.push(t);
            }
            11 | 12 if main => {
                let what = if field == 11 {
                    "GraphProto.input"
                } else {
                    "GraphProto.output"
                };
                r.expect(what, wt, LEN)?;
                let v = r.nested("ValueInfoProto", value_info)?;
                if field == 11 {
                    g.inputs.push(v);
                } else {
                    g.outputs.push(v);
                }
            }
            15 if main => {
                r.expect("GraphProto.sparse_initializer", wt, LEN)?;
                let t = r.nested("SparseTensorProto", sparse_tensor)?;
                g.sparse_initializers.push(t);
            }
            _ => r.skip_field(field, wt)?,
        }
    }
    Ok(())
}

/// `TensorProto` header: payload fields are skipped.
fn tensor(r: &mut Reader) -> Result<TensorInfo, Error> {
    let mut t = TensorInfo::default();
    let mut dims: Vec<u64> = Vec::new();
    while let Some((field, wt)) = r.next_field()? {
        match field {
            1 => r.varints("TensorProto.dims", wt, &mut dims, MAX_DIMS)?,
            2 => {
                r.expect("TensorProto.data_type", wt, VARINT)?;
                t.data_type = int32(r.varint()?);
            }
            8 => {
                r.expect("TensorProto.name", wt, LEN)?;
                t.name = r.string(STRING_CAP)?;
            }
            13 => {
                r.expect("TensorProto.external_data", wt, LEN)?;
                if t.external_data.len() >= MAX_EXTERNAL_ENTRIES {
                    return Err(r.err(format_args!(
                        "more than {MAX_EXTERNAL_ENTRIES} external_data entries"
                    )));
                }
                let kv = r.nested("StringStringEntryProto", string_pair)?;
                t.external_data.push(kv);
            }
            14 => {
                r.expect("TensorProto.data_location", wt, VARINT)?;
                t.data_location = int32(r.varint()?);
            }
            _ => r.skip_field(field, wt)?,
        }
    }
    t.dims = dims.into_iter().map(|d| d as i64).collect();
    Ok(t)
}

/// `SparseTensorProto`: the logical `dims` and the name and dtype of its `values`.
fn sparse_tensor(r: &mut Reader) -> Result<TensorInfo, Error> {
    let mut t = TensorInfo::default();
    let mut dims: Vec<u64> = Vec::new();
    while let Some((field, wt)) = r.next_field()? {
        match field {
            1 => {
                r.expect("SparseTensorProto.values", wt, LEN)?;
                let v = r.nested("TensorProto", tensor)?;
                t.name = v.name;
                t.data_type = v.data_type;
            }
            3 => r.varints("SparseTensorProto.dims", wt, &mut dims, MAX_DIMS)?,
            _ => r.skip_field(field, wt)?,
        }
    }
    t.dims = dims.into_iter().map(|d| d as i64).collect();
    Ok(t)
}

/// `ValueInfoProto`: name and type.
fn value_info(r: &mut Reader) -> Result<IoInfo, Error> {
    let mut v = IoInfo {
        name: String::new(),
        ty: TypeInfo::Missing,
    };
    while let Some((field, wt)) = r.next_field()? {
        match field {
            1 => {
                r.expect("ValueInfoProto.name", wt, LEN)?;
                v.name = r.string(STRING_CAP)?;
            }
            2 => {
                r.expect("ValueInfoProto.type", wt, LEN)?;
                let mut ty = std::mem::replace(&mut v.ty, TypeInfo::Missing);
                r.nested("TypeProto", |r| type_proto(r, &mut ty))?;
                v.ty = ty;
            }
            _ => r.skip_field(field, wt)?,
        }
    }
    Ok(v)
}

/// `TypeProto` (a oneof: the last alternative present wins). Element types of sequences,
/// maps and optionals are not decoded: the report only names the kind.
fn type_proto(r: &mut Reader, ty: &mut TypeInfo) -> Result<(), Error> {
    while let Some((field, wt)) = r.next_field()? {
        match field {
            1 | 8 => {
                let what = if field == 1 {
                    "TypeProto.tensor_type"
                } else {
                    "TypeProto.sparse_tensor_type"
                };
                r.expect(what, wt, LEN)?;
                // Merge into an earlier occurrence of the same alternative, as protobuf does.
                let (mut elem, mut shape) = match std::mem::replace(ty, TypeInfo::Missing) {
                    TypeInfo::Tensor { elem, shape } if field == 1 => (elem, shape),
                    TypeInfo::Sparse { elem, shape } if field == 8 => (elem, shape),
                    _ => (0, None),
                };
                r.nested("TypeProto.Tensor", |r| {
                    tensor_type(r, &mut elem, &mut shape)
                })?;
                *ty = if field == 1 {
                    TypeInfo::Tensor { elem, shape }
                } else {
                    TypeInfo::Sparse { elem, shape }
                };
            }
            4 | 5 | 7 | 9 => {
                r.expect("TypeProto value", wt, LEN)?;
                r.skip_field(field, wt)?;
                *ty = match field {
                    4 => TypeInfo::Sequence,
                    5 => TypeInfo::Map,
                    7 => TypeInfo::Opaque,
                    _ => TypeInfo::Optional,
                };
            }
            _ => r.skip_field(field, wt)?,
        }
    }
    Ok(())
}

/// `TypeProto.Tensor` / `TypeProto.SparseTensor`: element type and shape.
fn tensor_type(
    r: &mut Reader,
    elem: &mut i32,
    shape: &mut Option<Vec<DimInfo>>,
) -> Result<(), Error> {
    while let Some((field, wt)) = r.next_field()? {
        match field {
            1 => {
                r.expect("TypeProto.Tensor.elem_type", wt, VARINT)?;
                *elem = int32(r.varint()?);
            }
            2 => {
                r.expect("TypeProto.Tensor.shape", wt, LEN)?;
                let dims = shape.get_or_insert_with(Vec::new);
                r.nested("TensorShapeProto", |r| tensor_shape(r, dims))?;
            }
            _ => r.skip_field(field, wt)?,
        }
    }
    Ok(())
}

/// `TensorShapeProto`: its dimensions, appended to `dims`.
fn tensor_shape(r: &mut Reader, dims: &mut Vec<DimInfo>) -> Result<(), Error> {
    while let Some((field, wt)) = r.next_field()? {
        match field {
            1 => {
                r.expect("TensorShapeProto.dim", wt, LEN)?;
                if dims.len() >= MAX_DIMS {
                    return Err(r.err(format_args!("shape has more than {MAX_DIMS} dimensions")));
                }
                let d = r.nested("TensorShapeProto.Dimension", dimension)?;
                dims.push(d);
            }
            _ => r.skip_field(field, wt)?,
        }
    }
    Ok(())
}

/// `TensorShapeProto.Dimension` (oneof `dim_value` / `dim_param`; neither = unknown).
fn dimension(r: &mut Reader) -> Result<DimInfo, Error> {
    let mut d = DimInfo::Unknown;
    while let Some((field, wt)) = r.next_field()? {
        match field {
            1 => {
                r.expect("Dimension.dim_value", wt, VARINT)?;
                d = DimInfo::Value(r.varint()? as i64);
            }
            2 => {
                r.expect("Dimension.dim_param", wt, LEN)?;
                d = DimInfo::Param(r.string(STRING_CAP)?);
            }
            _ => r.skip_field(field, wt)?,
        }
    }
    Ok(d)
}

/// `NodeProto`: adds the weights of a `Constant` node, and those of any subgraph in its
/// attributes, to `consts`.
fn node(r: &mut Reader, consts: &mut Constants) -> Result<(), Error> {
    let (mut op_type, mut domain) = (String::new(), String::new());
    let mut candidates = Vec::new();
    while let Some((field, wt)) = r.next_field()? {
        match field {
            4 => {
                r.expect("NodeProto.op_type", wt, LEN)?;
                op_type = r.string(STRING_CAP)?;
            }
            5 => {
                r.expect("NodeProto.attribute", wt, LEN)?;
                if let Some(c) = r.nested("AttributeProto", |r| attribute(r, consts))? {
                    candidates.push(c);
                }
            }
            7 => {
                r.expect("NodeProto.domain", wt, LEN)?;
                domain = r.string(STRING_CAP)?;
            }
            _ => r.skip_field(field, wt)?,
        }
    }
    // Fields may come in any order, so the op type is only known now.
    if op_type == "Constant" && (domain.is_empty() || domain == "ai.onnx") {
        for c in candidates {
            consts.add(c).map_err(|e| r.err(e))?;
        }
    }
    Ok(())
}

/// `AttributeType` values checked against the field actually present.
const ATTR_UNDEFINED: i32 = 0;
const ATTR_FLOAT: i32 = 1;
const ATTR_INT: i32 = 2;
const ATTR_TENSOR: i32 = 4;
const ATTR_FLOATS: i32 = 6;
const ATTR_INTS: i32 = 7;

/// `AttributeProto`: returns the weight it would hold as an attribute of a `Constant` node;
/// the `Constant` weights of subgraphs (`g`, `graphs`) go straight into `consts`.
fn attribute(r: &mut Reader, consts: &mut Constants) -> Result<Option<Constant>, Error> {
    let mut name = String::new();
    let mut ty = ATTR_UNDEFINED;
    let mut t: Option<TensorInfo> = None;
    let (mut has_f, mut has_i) = (false, false);
    let (mut floats, mut ints) = (0u64, 0u64);
    while let Some((field, wt)) = r.next_field()? {
        match field {
            1 => {
                r.expect("AttributeProto.name", wt, LEN)?;
                name = r.string(STRING_CAP)?;
            }
            2 => {
                r.expect("AttributeProto.f", wt, FIXED32)?;
                r.fixed32()?;
                has_f = true;
            }
            3 => {
                r.expect("AttributeProto.i", wt, VARINT)?;
                r.varint()?;
                has_i = true;
            }
            5 => {
                r.expect("AttributeProto.t", wt, LEN)?;
                t = Some(r.nested("TensorProto", tensor)?);
            }
            6 | 11 => {
                let what = if field == 6 {
                    "AttributeProto.g"
                } else {
                    "AttributeProto.graphs"
                };
                r.expect(what, wt, LEN)?;
                let mut sub = Graph::default();
                r.nested("GraphProto", |r| graph(r, &mut sub, false))?;
                consts.merge(sub.constants).map_err(|e| r.err(e))?;
            }
            7 => floats += r.count_scalars("AttributeProto.floats", wt, FIXED32)?,
            8 => ints += r.count_scalars("AttributeProto.ints", wt, VARINT)?,
            20 => {
                r.expect("AttributeProto.type", wt, VARINT)?;
                ty = int32(r.varint()?);
            }
            _ => r.skip_field(field, wt)?,
        }
    }
    // Like onnx's own tools, trust `type` when set; files from IR 0.0.1 leave it unset.
    let is = |want: i32| ty == want || ty == ATTR_UNDEFINED;
    let c = match name.as_str() {
        "value" if is(ATTR_TENSOR) => match t {
            Some(t) => Some(Constant::Tensor {
                elements: elements(&t.dims)
                    .map_err(|e| r.err(format_args!("Constant value: {e}")))?,
                data_type: t.data_type,
            }),
            None => None,
        },
        "value_float" if has_f && is(ATTR_FLOAT) => Some(Constant::Floats(1)),
        "value_floats" if is(ATTR_FLOATS) && (ty == ATTR_FLOATS || floats > 0) => {
            Some(Constant::Floats(floats))
        }
        "value_int" if has_i && is(ATTR_INT) => Some(Constant::Ints(1)),
        "value_ints" if is(ATTR_INTS) && (ty == ATTR_INTS || ints > 0) => {
            Some(Constant::Ints(ints))
        }
        _ => None,
    };
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testenc::*;
    use modelpack_plugin_sdk::MemSource;

    fn decode(bytes: Vec<u8>) -> Result<Model, Error> {
        let s = MemSource::new("m.onnx", bytes);
        model(&mut Reader::new(&s, "ModelProto"))
    }

    #[test]
    fn decodes_a_small_model() {
        let init = tensor_proto("w", 1, &[2, 3], &[]);
        let input = value_info_proto("x", 1, Some(&[D::V(1), D::P("batch"), D::N]));
        let out = value_info_proto("y", 7, None);
        let g = [
            field_bytes(2, b"g"),
            field_bytes(5, &init),
            field_bytes(11, &input),
            field_bytes(12, &out),
        ]
        .concat();
        let m = model_proto(8, &[("", 17)], &g);
        let m = decode(m).unwrap();
        assert_eq!(m.ir_version, Some(8));
        assert_eq!(m.opsets, vec![(String::new(), 17)]);
        let g = m.graph.unwrap();
        assert_eq!(g.name.as_deref(), Some("g"));
        assert_eq!(g.initializers[0].dims, vec![2, 3]);
        assert_eq!(
            g.inputs[0].ty,
            TypeInfo::Tensor {
                elem: 1,
                shape: Some(vec![
                    DimInfo::Value(1),
                    DimInfo::Param("batch".into()),
                    DimInfo::Unknown
                ])
            }
        );
        assert_eq!(
            g.outputs[0].ty,
            TypeInfo::Tensor {
                elem: 7,
                shape: None
            }
        );
    }

    #[test]
    fn wrong_wire_type_for_a_known_field_is_an_error() {
        // ir_version sent as a string.
        let m = [field_bytes(1, b"8"), field_bytes(7, b"")].concat();
        let e = decode(m).unwrap_err();
        assert!(
            matches!(&e, Error::Malformed(s) if s.contains("ModelProto.ir_version has wire type 2")),
            "{e:?}"
        );
        // data_type of an initializer sent as fixed32.
        let t = [field_varint(1, 4), vec![0x15, 1, 0, 0, 0]].concat();
        let g = field_bytes(5, &t);
        let e = decode(model_proto(8, &[], &g)).unwrap_err();
        assert!(
            matches!(&e, Error::Malformed(s) if s.contains("TensorProto.data_type has wire type 5")),
            "{e:?}"
        );
    }

    #[test]
    fn deep_subgraph_nesting_hits_the_limit() {
        // Graph → node → attribute(g) → graph → … far beyond the depth limit.
        let mut g = Vec::new();
        for _ in 0..60 {
            let attr = [
                field_bytes(1, b"body"),
                field_bytes(6, &g),
                field_varint(20, 5),
            ]
            .concat();
            let node = [field_bytes(4, b"If"), field_bytes(5, &attr)].concat();
            g = field_bytes(1, &node);
        }
        let e = decode(model_proto(8, &[], &g)).unwrap_err();
        assert!(
            matches!(&e, Error::Malformed(s) if s.contains("nested deeper than")),
            "{e:?}"
        );
    }

    #[test]
    fn counts_constant_nodes_in_subgraphs() {
        let value = tensor_proto("", 1, &[4, 5], &[]);
        let c1 = constant_node("value", 4, &field_bytes(5, &value));
        let c2 = constant_node("value_ints", 7, &field_bytes(8, &[1, 2, 3]));
        let c3 = constant_node("value_float", 1, &[0x15, 0, 0, 0, 0]);
        let sub = [field_bytes(1, &c1), field_bytes(1, &c2)].concat();
        let attr = [
            field_bytes(1, b"then_branch"),
            field_varint(20, 5),
            field_bytes(6, &sub),
        ]
        .concat();
        let if_node = [field_bytes(4, b"If"), field_bytes(5, &attr)].concat();
        let g = [
            field_bytes(1, &if_node),
            field_bytes(1, &c3),
            field_bytes(1, &c1),
        ]
        .concat();
        let m = decode(model_proto(8, &[], &g)).unwrap();
        let c = m.graph.unwrap().constants;
        assert_eq!((c.tensors, c.tensor_elements), (2, 40));
        assert_eq!((c.scalars, c.scalar_elements), (2, 4));
        assert_eq!(c.by_dtype.get("FLOAT"), Some(&41));
        assert_eq!(c.by_dtype.get("INT64"), Some(&3));
    }
}
