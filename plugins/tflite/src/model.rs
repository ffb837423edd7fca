//! The parts of the TFLite schema (`tensorflow/compiler/mlir/lite/schema/schema.fbs`, file
//! identifier `TFL3`) that describe a model without running it, decoded with [`crate::fb`].
//!
//! Field numbers are the schema's field order (a table's vtable slot). Tensor data (the
//! `Buffer.data` bytes, or the bytes an external `Buffer.offset/size` points at) is never read:
//! only the vector length or the offset/size pair, to know whether a tensor is a constant.

use crate::fb::{Fb, Table, Vector};
use modelpack_plugin_sdk::prelude::*;

/// The file identifier at bytes 4..8.
pub const IDENTIFIER: &[u8; 4] = b"TFL3";
/// Most tensors (all subgraphs together) decoded; a bound on memory and on the report.
pub const MAX_TENSORS: u64 = 500_000;
/// Longest name or description kept (longer ones are cut).
const MAX_STR: u32 = 4096;
/// Most dimensions of a shape.
const MAX_RANK: u32 = 64;
/// Quantisation scales and zero points kept per tensor (the count is always kept).
pub const MAX_QUANT_VALUES: u32 = 8;

/// One tensor of a subgraph.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorDef {
    /// Tensor name as stored.
    pub name: String,
    /// The `TensorType` code.
    pub dtype: i8,
    /// Shape as stored (`-1` may appear only in `shape_signature`).
    pub shape: Vec<i32>,
    /// `shape_signature`: the shape with `-1` for dynamic dimensions, when present.
    pub shape_signature: Option<Vec<i32>>,
    /// Index into `Model.buffers`; 0 is the schema's empty sentinel.
    pub buffer: u32,
    /// Quantisation parameters, when the tensor has a scale.
    pub quantization: Option<Quantization>,
    /// Declared a variable (state) tensor.
    pub is_variable: bool,
    /// Stored in a sparse encoding (`sparsity` present); `shape` is the dense shape.
    pub sparse: bool,
}

/// Affine quantisation parameters: `real = scale * (q - zero_point)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Quantization {
    /// Number of scales (1 per tensor, or one per channel).
    pub scale_count: u32,
    /// The first scales.
    pub scale: Vec<f32>,
    /// The first zero points.
    pub zero_point: Vec<i64>,
    /// The channel dimension of per-channel quantisation.
    pub quantized_dimension: i32,
}

/// One subgraph: its tensors and the indices of its inputs and outputs.
#[derive(Debug, Clone, PartialEq)]
pub struct Subgraph {
    /// Subgraph name, when present.
    pub name: Option<String>,
    /// Tensors in file order.
    pub tensors: Vec<TensorDef>,
    /// Tensor indices of the inputs.
    pub inputs: Vec<i32>,
    /// Tensor indices of the outputs.
    pub outputs: Vec<i32>,
    /// Number of operators.
    pub operators: u32,
}

/// What a buffer holds, without its bytes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BufferDef {
    /// Bytes of inline data (`Buffer.data` length).
    pub inline_len: u32,
    /// External data: absolute `offset` and `size` (models over 2 GiB), when set.
    pub external: Option<(u64, u64)>,
    /// Where the buffer's data starts in the file (inline vector or external offset).
    pub data_pos: u64,
}

impl BufferDef {
    /// True when the buffer holds data: the tensors it backs are constants.
    pub fn is_empty(&self) -> bool {
        self.inline_len == 0 && self.external.is_none_or(|(_, size)| size == 0)
    }
}

/// A `Model.metadata` entry: a name and the index of the buffer holding its value.
#[derive(Debug, Clone, PartialEq)]
pub struct MetadataDef {
    /// Entry name (`min_runtime_version`, `TFLITE_METADATA`, `CONVERSION_METADATA`…).
    pub name: String,
    /// Buffer index.
    pub buffer: u32,
}

/// A `SignatureDef`: named entry points mapping names to tensor indices.
#[derive(Debug, Clone, PartialEq)]
pub struct Signature {
    /// `signature_key`, e.g. `serving_default`.
    pub key: String,
    /// Index of the subgraph it runs.
    pub subgraph: u32,
    /// Input names and tensor indices.
    pub inputs: Vec<(String, u32)>,
    /// Output names and tensor indices.
    pub outputs: Vec<(String, u32)>,
}

/// An operator code: builtin (by number) or custom (by name).
#[derive(Debug, Clone, PartialEq)]
pub struct OperatorCode {
    /// `max(deprecated_builtin_code, builtin_code)`, as the schema says to read it.
    pub builtin: i32,
    /// `custom_code` for custom operators.
    pub custom: Option<String>,
}

/// The decoded model.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    /// Schema version (3 for every current file).
    pub version: u32,
    /// `Model.description`.
    pub description: Option<String>,
    /// Operator codes, in order.
    pub operator_codes: Vec<OperatorCode>,
    /// Subgraphs; the first one is the main graph.
    pub subgraphs: Vec<Subgraph>,
    /// Buffers, in order.
    pub buffers: Vec<BufferDef>,
    /// Metadata entries.
    pub metadata: Vec<MetadataDef>,
    /// Signature definitions.
    pub signatures: Vec<Signature>,
}

/// Checks the file identifier and decodes the model.
pub fn read(fb: &mut Fb) -> Result<Model, Error> {
    let name = fb.name().to_string();
    if fb.size() < 8 {
        return Err(Error::Malformed(format!(
            "{name}: {} bytes is too short for a TFLite flatbuffer",
            fb.size()
        )));
    }
    let mut ident = [0u8; 4];
    fb.bytes_into(4, &mut ident, "file identifier")?;
    if &ident != IDENTIFIER {
        return Err(Error::Malformed(format!(
            "{name}: file identifier {:?} is not \"TFL3\"",
            String::from_utf8_lossy(&ident)
        )));
    }
    let root = fb.root()?;
    let version = match fb.field(root, 0, "Model.version")? {
        Some(p) => fb.u32(p, "Model.version")?,
        None => 0,
    };
    let description = fb.string_field(root, 3, MAX_STR, "Model.description")?;
    let operator_codes = match fb.vector_field(root, 1, 4, "Model.operator_codes")? {
        Some(v) => (0..v.len)
            .map(|i| operator_code(fb, v, i))
            .collect::<Result<_, _>>()?,
        None => Vec::new(),
    };
    let mut subgraphs = Vec::new();
    let mut total = 0u64;
    if let Some(v) = fb.vector_field(root, 2, 4, "Model.subgraphs")? {
        for i in 0..v.len {
            let sg = subgraph(fb, v, i, &mut total)?;
            subgraphs.push(sg);
        }
    }
    let buffers = match fb.vector_field(root, 4, 4, "Model.buffers")? {
        Some(v) => (0..v.len)
            .map(|i| buffer(fb, v, i))
            .collect::<Result<_, _>>()?,
        None => Vec::new(),
    };
    let metadata = match fb.vector_field(root, 6, 4, "Model.metadata")? {
        Some(v) => (0..v.len)
            .map(|i| {
                let t = fb.table_at(v, i, "Model.metadata")?;
                Ok(MetadataDef {
                    name: fb
                        .string_field(t, 0, MAX_STR, "Metadata.name")?
                        .unwrap_or_default(),
                    buffer: uint_field(fb, t, 1, "Metadata.buffer")?,
                })
            })
            .collect::<Result<_, Error>>()?,
        None => Vec::new(),
    };
    let signatures = match fb.vector_field(root, 7, 4, "Model.signature_defs")? {
        Some(v) => (0..v.len)
            .map(|i| signature(fb, v, i))
            .collect::<Result<_, _>>()?,
        None => Vec::new(),
    };
    Ok(Model {
        version,
        description,
        operator_codes,
        subgraphs,
        buffers,
        metadata,
        signatures,
    })
}

fn uint_field(fb: &mut Fb, t: Table, field: u16, what: &str) -> Result<u32, Error> {
    match fb.field(t, field, what)? {
        Some(p) => fb.u32(p, what),
        None => Ok(0),
    }
}

fn int_field(fb: &mut Fb, t: Table, field: u16, what: &str) -> Result<i32, Error> {
    match fb.field(t, field, what)? {
        Some(p) => fb.i32(p, what),
        None => Ok(0),
    }
}

fn operator_code(fb: &mut Fb, v: Vector, i: u32) -> Result<OperatorCode, Error> {
    let t = fb.table_at(v, i, "OperatorCode")?;
    let deprecated = match fb.field(t, 0, "OperatorCode.deprecated_builtin_code")? {
        Some(p) => fb.u8(p, "OperatorCode.deprecated_builtin_code")? as i8 as i32,
        None => 0,
    };
    let builtin = int_field(fb, t, 3, "OperatorCode.builtin_code")?;
    Ok(OperatorCode {
        builtin: deprecated.max(builtin),
        custom: fb.string_field(t, 1, MAX_STR, "OperatorCode.custom_code")?,
    })
}

fn ints(
    fb: &mut Fb,
    t: Table,
    field: u16,
    max: u32,
    what: &str,
) -> Result<Option<Vec<i32>>, Error> {
    match fb.vector_field(t, field, 4, what)? {
        Some(v) => {
            if v.len > max {
                return Err(Error::TooLarge(format!(
                    "{}: {what} has {} entries (at most {max} are read)",
                    fb.name(),
                    v.len
                )));
            }
            Ok(Some(fb.i32s(v, max, what)?))
        }
        None => Ok(None),
    }
}

fn subgraph(fb: &mut Fb, v: Vector, i: u32, total: &mut u64) -> Result<Subgraph, Error> {
    let t = fb.table_at(v, i, "SubGraph")?;
    let mut tensors = Vec::new();
    if let Some(tv) = fb.vector_field(t, 0, 4, "SubGraph.tensors")? {
        *total += tv.len as u64;
        if *total > MAX_TENSORS {
            return Err(Error::TooLarge(format!(
                "{}: more than {MAX_TENSORS} tensors",
                fb.name()
            )));
        }
        tensors.reserve(tv.len as usize);
        for j in 0..tv.len {
            tensors.push(tensor(fb, tv, j).map_err(|e| in_tensor(e, i, j))?);
        }
    }
    let io_max = tensors.len() as u32;
    Ok(Subgraph {
        name: fb.string_field(t, 4, MAX_STR, "SubGraph.name")?,
        inputs: ints(fb, t, 1, io_max.max(1), "SubGraph.inputs")?.unwrap_or_default(),
        outputs: ints(fb, t, 2, io_max.max(1), "SubGraph.outputs")?.unwrap_or_default(),
        operators: fb
            .vector_field(t, 3, 4, "SubGraph.operators")?
            .map_or(0, |v| v.len),
        tensors,
    })
}

/// Adds "subgraph i, tensor j" to an error.
fn in_tensor(e: Error, sg: u32, j: u32) -> Error {
    let at = |m: String| format!("{m} (subgraph {sg}, tensor {j})");
    match e {
        Error::Malformed(m) => Error::Malformed(at(m)),
        Error::TooLarge(m) => Error::TooLarge(at(m)),
        other => other,
    }
}

fn tensor(fb: &mut Fb, v: Vector, i: u32) -> Result<TensorDef, Error> {
    let t = fb.table_at(v, i, "Tensor")?;
    let shape = ints(fb, t, 0, MAX_RANK, "Tensor.shape")?.unwrap_or_default();
    let dtype = match fb.field(t, 1, "Tensor.type")? {
        Some(p) => fb.u8(p, "Tensor.type")? as i8,
        None => 0,
    };
    let buffer = uint_field(fb, t, 2, "Tensor.buffer")?;
    let name = fb
        .string_field(t, 3, MAX_STR, "Tensor.name")?
        .unwrap_or_default();
    let quantization = match fb.table_field(t, 4, "Tensor.quantization")? {
        Some(q) => quantization(fb, q)?,
        None => None,
    };
    let is_variable = match fb.field(t, 5, "Tensor.is_variable")? {
        Some(p) => fb.u8(p, "Tensor.is_variable")? != 0,
        None => false,
    };
    let sparse = fb.field(t, 6, "Tensor.sparsity")?.is_some();
    let shape_signature = ints(fb, t, 7, MAX_RANK, "Tensor.shape_signature")?;
    Ok(TensorDef {
        name,
        dtype,
        shape,
        shape_signature,
        buffer,
        quantization,
        is_variable,
        sparse,
    })
}

fn quantization(fb: &mut Fb, q: Table) -> Result<Option<Quantization>, Error> {
    let Some(scale) = fb.vector_field(q, 2, 4, "QuantizationParameters.scale")? else {
        return Ok(None);
    };
    if scale.len == 0 {
        return Ok(None);
    }
    let zero_point = match fb.vector_field(q, 3, 8, "QuantizationParameters.zero_point")? {
        Some(z) => fb.i64s(z, MAX_QUANT_VALUES, "QuantizationParameters.zero_point")?,
        None => Vec::new(),
    };
    Ok(Some(Quantization {
        scale_count: scale.len,
        scale: fb.f32s(scale, MAX_QUANT_VALUES, "QuantizationParameters.scale")?,
        zero_point,
        quantized_dimension: int_field(fb, q, 6, "QuantizationParameters.quantized_dimension")?,
    }))
}

fn buffer(fb: &mut Fb, v: Vector, i: u32) -> Result<BufferDef, Error> {
    let t = fb.table_at(v, i, "Buffer")?;
    let (inline_len, inline_pos) = match fb.vector_field(t, 0, 1, "Buffer.data")? {
        Some(d) => (d.len, d.start),
        None => (0, 0),
    };
    let offset = match fb.field(t, 1, "Buffer.offset")? {
        Some(p) => fb.u64(p, "Buffer.offset")?,
        None => 0,
    };
    let size = match fb.field(t, 2, "Buffer.size")? {
        Some(p) => fb.u64(p, "Buffer.size")?,
        None => 0,
    };
    // The schema: offset 0 or 1 means "no external data" (1 is a placeholder some writers use).
    let external = (offset > 1).then_some((offset, size));
    Ok(BufferDef {
        inline_len,
        external,
        data_pos: external.map_or(inline_pos, |(o, _)| o),
    })
}

fn tensor_maps(fb: &mut Fb, t: Table, field: u16, what: &str) -> Result<Vec<(String, u32)>, Error> {
    let Some(v) = fb.vector_field(t, field, 4, what)? else {
        return Ok(Vec::new());
    };
    (0..v.len)
        .map(|i| {
            let m = fb.table_at(v, i, what)?;
            Ok((
                fb.string_field(m, 0, MAX_STR, "TensorMap.name")?
                    .unwrap_or_default(),
                uint_field(fb, m, 1, "TensorMap.tensor_index")?,
            ))
        })
        .collect()
}

fn signature(fb: &mut Fb, v: Vector, i: u32) -> Result<Signature, Error> {
    let t = fb.table_at(v, i, "SignatureDef")?;
    Ok(Signature {
        inputs: tensor_maps(fb, t, 0, "SignatureDef.inputs")?,
        outputs: tensor_maps(fb, t, 1, "SignatureDef.outputs")?,
        key: fb
            .string_field(t, 2, MAX_STR, "SignatureDef.signature_key")?
            .unwrap_or_default(),
        subgraph: uint_field(fb, t, 4, "SignatureDef.subgraph_index")?,
    })
}

/// Reads a small metadata buffer's bytes (at most `max`), for `min_runtime_version` and the
/// TFLite Support metadata. These are model descriptions, never tensor data.
pub fn metadata_bytes(fb: &mut Fb, b: &BufferDef, max: u32) -> Result<Vec<u8>, Error> {
    let len = match b.external {
        Some((_, size)) => size,
        None => b.inline_len as u64,
    };
    if len > max as u64 {
        return Ok(Vec::new());
    }
    let mut out = vec![0u8; len as usize];
    fb.bytes_into(b.data_pos, &mut out, "metadata buffer")?;
    Ok(out)
}

/// `ModelMetadata` of the TFLite Support library (file identifier `M001`), from its own
/// flatbuffer: name, description, version, author, licence and min parser version.
pub fn support_metadata(fb: &mut Fb) -> Result<Vec<(&'static str, String)>, Error> {
    let root = fb.root()?;
    let mut out = Vec::new();
    for (field, key) in [
        (0u16, "name"),
        (1, "description"),
        (2, "version"),
        (4, "author"),
        (5, "license"),
        (7, "min_parser_version"),
    ] {
        if let Some(s) = fb.string_field(root, field, MAX_STR, "ModelMetadata")?
            && !s.is_empty()
        {
            out.push((key, s));
        }
    }
    Ok(out)
}
