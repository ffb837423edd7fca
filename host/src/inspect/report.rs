//! The stable JSON shape of `modelpack inspect` (documented in the README), and its
//! conversion from what plugins return.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::model::Precision;
use crate::plugin::runtime::{fh, ft};

/// Result of inspecting one file.
#[derive(Debug, Clone, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct FileReport {
    /// Path as the user would write it.
    pub path: String,
    /// `ok`, `unrecognised` or `error`.
    pub status: Status,
    /// Format name from the plugin (`safetensors`, `gguf`, `onnx`, `pt`, …).
    pub format: Option<String>,
    /// `name@version` of the plugin that read the file.
    pub plugin: Option<String>,
    /// File size in bytes.
    pub size: u64,
    /// Number of tensors (ONNX: initializers).
    pub tensor_count: u64,
    /// Logical element count.
    pub parameter_count: u64,
    /// Parameters per dtype as the format spells it.
    pub dtypes: BTreeMap<String, u64>,
    /// The `paramSize` basis the plugin computed: parameters of role `weights`, packing
    /// expanded where the file says how (contract 0.2).
    #[serde(rename = "weightParameters")]
    pub weight_parameters: u64,
    /// Weight parameters per dtype, with the dtype's word in the spec's precision vocabulary.
    #[serde(rename = "weightDtypes")]
    pub weight_dtypes: Vec<WeightDtype>,
    /// The quantisation the plugin recognised in the file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quantization: Option<QuantOut>,
    /// Config fields the file declares (GGUF `general.name`…), with their origin.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub candidates: Vec<CandidateOut>,
    /// Base models and data sets the file names (GGUF `general.base_model.N.*`…).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lineage: Vec<LineageOut>,
    /// The reading plugin's declared `preference` (how canonical its format is when a
    /// directory holds several); not output.
    #[serde(skip)]
    pub preference: u8,
    /// The plugin says the file configures weights held in the files it covers (an index,
    /// a topology) rather than holding them: a `weight.config` layer. Not output.
    #[serde(skip)]
    pub configures_weights: bool,
    /// Every tensor.
    pub tensors: Vec<TensorOut>,
    /// Parameter groups (model vs optimizer state, ONNX constants…).
    pub groups: Vec<GroupOut>,
    /// Graph inputs (ONNX).
    pub inputs: Vec<ValueOut>,
    /// Graph outputs (ONNX).
    pub outputs: Vec<ValueOut>,
    /// Format metadata.
    pub metadata: BTreeMap<String, Value>,
    /// Findings of the format plugin.
    pub findings: Vec<FindingOut>,
    /// Other files this report covers (shards of an index).
    pub covers: Vec<String>,
    /// Why the file could not be read, if it could not.
    pub error: Option<String>,
}

/// Outcome of one file.
#[derive(Debug, Clone, Copy, Serialize, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Read by a plugin.
    #[default]
    Ok,
    /// No plugin claims it.
    Unrecognised,
    /// A plugin claims it but reading failed.
    Error,
}

/// One tensor.
#[derive(Debug, Clone, Serialize)]
pub struct TensorOut {
    /// Name as stored.
    pub name: String,
    /// Format-native dtype.
    pub dtype: String,
    /// Shape in elements.
    pub shape: Vec<u64>,
    /// `weights`, `buffers`, `training-state`, `quantization-aux` or `other`.
    pub role: &'static str,
    /// Parameters the plugin counts for it (packing expanded when known).
    #[serde(skip)]
    pub parameters: u64,
    /// Packed sub-byte weights: (container bits, weight bits when the file says).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub packing: Option<PackingOut>,
}

impl TensorOut {
    /// A plain weight tensor (tests and hand-built reports).
    pub fn weight(name: &str, dtype: &str, shape: &[u64]) -> TensorOut {
        TensorOut {
            name: name.into(),
            dtype: dtype.into(),
            shape: shape.to_vec(),
            role: "weights",
            parameters: shape
                .iter()
                .try_fold(1u64, |a, d| a.checked_mul(*d))
                .unwrap_or(u64::MAX),
            packing: None,
        }
    }
}

/// How a tensor packs sub-byte weights.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct PackingOut {
    /// Bits of one stored element.
    #[serde(rename = "containerBits")]
    pub container_bits: u8,
    /// Bits per weight, when the file says.
    #[serde(rename = "weightBits")]
    pub weight_bits: Option<u8>,
}

/// One dtype of the weights and its precision word.
#[derive(Debug, Clone, Serialize)]
pub struct WeightDtype {
    /// Format-native dtype.
    pub dtype: String,
    /// Its word in the spec's vocabulary; `null` for quantised or packed storage.
    pub precision: Option<&'static str>,
    /// Weight parameters stored in it.
    #[serde(rename = "weightParameters")]
    pub weight_parameters: u64,
}

/// A quantisation the plugin recognised.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct QuantOut {
    /// `gptq`, `Q4_K_M`, `bitsandbytes-nf4`…
    pub method: String,
    /// Bits per weight, when known.
    pub bits: Option<u8>,
    /// Where in the file it was seen.
    pub key: Option<String>,
}

/// A config field candidate a plugin offered.
#[derive(Debug, Clone, Serialize)]
pub struct CandidateOut {
    /// JSON pointer into the config (`/descriptor/name`).
    pub field: String,
    /// The value.
    pub value: Value,
    /// `convention-files`, `weight-headers` or `heuristic`.
    pub source: &'static str,
    /// Key inside the file.
    pub key: Option<String>,
    /// How it was derived.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// What a lineage entry names.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "camelCase")]
pub enum LineageKind {
    /// A model this one derives from.
    BaseModel,
    /// A data set it was trained, tuned or evaluated on.
    Dataset,
}

/// A base model or data set a file names, as its plugin read it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct LineageOut {
    /// Base model or data set.
    pub kind: LineageKind,
    /// Name or hub id.
    pub name: String,
    /// Organisation, when stated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    /// Version, when stated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// A URL, when stated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// File (when not the report's own) and key it came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Key inside the file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

impl LineageOut {
    /// The host's copy of a plugin's lineage entry.
    pub fn from_wit(l: ft::Lineage) -> LineageOut {
        LineageOut {
            kind: match l.kind {
                ft::LineageKind::BaseModel => LineageKind::BaseModel,
                ft::LineageKind::Dataset => LineageKind::Dataset,
            },
            name: l.name,
            organization: l.organization,
            version: l.version,
            url: l.url,
            file: l.origin.file,
            key: l.origin.key,
        }
    }
}

/// A parameter group.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupOut {
    /// Group name (e.g. `optimizer`).
    pub name: String,
    /// `weights`, `buffers`, `training-state` or `other`.
    pub role: &'static str,
    /// Tensors in the group.
    pub tensor_count: u64,
    /// Parameters in the group.
    pub parameter_count: u64,
}

/// A graph input or output.
#[derive(Debug, Clone, Serialize)]
pub struct ValueOut {
    /// Name.
    pub name: String,
    /// Element type as the format spells it.
    pub dtype: String,
    /// Dimensions: numbers, symbolic names, or `null` for unknown; `null` when no shape.
    pub shape: Option<Vec<Value>>,
}

/// A finding.
#[derive(Debug, Clone, Serialize)]
pub struct FindingOut {
    /// Stable id.
    pub id: String,
    /// `error`, `warning` or `info`.
    pub severity: &'static str,
    /// One line.
    pub message: String,
    /// Tensor, member or field concerned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// The whole `inspect` output.
#[derive(Debug, Serialize)]
pub struct InspectOutput {
    /// One entry per file, in walk order.
    pub files: Vec<FileReport>,
    /// One entry per manifest of the OCI layouts named (absent when none was).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub artifacts: Vec<super::artifact::ArtifactView>,
    /// The files taken together as one model, counted as `generate` and `check` count it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<ModelSummary>,
}

/// What the inspected weight files hold as one model.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct ModelSummary {
    /// The model's format, chosen as `generate` chooses `config.format`.
    pub format: Option<String>,
    /// The `paramSize` basis: weight parameters, copies counted once.
    #[serde(rename = "weightParameters")]
    pub weight_parameters: u64,
    /// Files that hold copies of weights other files hold.
    pub copies: usize,
}

/// Severity as a lowercase word.
pub fn severity_name(
    s: crate::plugin::runtime::bindings::format::modelpack::plugin::types::Severity,
) -> &'static str {
    use crate::plugin::runtime::bindings::format::modelpack::plugin::types::Severity as S;
    match s {
        S::Error => "error",
        S::Warning => "warning",
        S::Info => "info",
    }
}

fn role_name(r: ft::TensorRole) -> &'static str {
    match r {
        ft::TensorRole::Weights => "weights",
        ft::TensorRole::Buffers => "buffers",
        ft::TensorRole::TrainingState => "training-state",
        ft::TensorRole::QuantizationAux => "quantization-aux",
        ft::TensorRole::Other => "other",
    }
}

/// The spec-module precision of the contract's enum (one to one by construction).
pub fn precision(p: ft::Precision) -> Precision {
    use ft::Precision as P;
    match p {
        P::Float32 => Precision::Float32,
        P::Float64 => Precision::Float64,
        P::Float16 => Precision::Float16,
        P::Bfloat16 => Precision::Bfloat16,
        P::Float8E4m3 => Precision::Float8E4m3,
        P::Float8E5m2 => Precision::Float8E5m2,
        P::Complex32 => Precision::Complex32,
        P::Complex64 => Precision::Complex64,
        P::Complex128 => Precision::Complex128,
        P::Int8 => Precision::Int8,
        P::Int16 => Precision::Int16,
        P::Int32 => Precision::Int32,
        P::Int64 => Precision::Int64,
        P::Uint8 => Precision::Uint8,
        P::Uint16 => Precision::Uint16,
        P::Uint32 => Precision::Uint32,
        P::Uint64 => Precision::Uint64,
        P::Bool => Precision::Bool,
    }
}

fn source_name(s: ft::SourceClass) -> &'static str {
    match s {
        ft::SourceClass::ConventionFiles => "convention-files",
        ft::SourceClass::WeightHeaders => "weight-headers",
        ft::SourceClass::Heuristic => "heuristic",
    }
}

fn meta_json(v: fh::MetaValue) -> Value {
    match v {
        fh::MetaValue::Text(s) => Value::String(s),
        fh::MetaValue::Int(i) => Value::from(i),
        fh::MetaValue::Uint(u) => Value::from(u),
        fh::MetaValue::Float(f) => serde_json::Number::from_f64(f)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        fh::MetaValue::Boolean(b) => Value::Bool(b),
        fh::MetaValue::Json(s) => serde_json::from_str(&s).unwrap_or(Value::String(s)),
        fh::MetaValue::Array(a) => serde_json::json!({
            "type": a.element_type,
            "length": a.length,
            "head": serde_json::from_str::<Value>(&a.head).unwrap_or(Value::String(a.head)),
        }),
    }
}

impl FileReport {
    /// Fills the report from a plugin's answer.
    pub fn absorb(&mut self, r: fh::ModelReport) {
        self.format = Some(r.format);
        self.tensor_count = r.tensors.len() as u64;
        self.parameter_count = r.parameter_count;
        for t in &r.tensors {
            let n = t
                .shape
                .iter()
                .try_fold(1u64, |acc, d| acc.checked_mul(*d))
                .unwrap_or(u64::MAX);
            let e = self.dtypes.entry(t.dtype.clone()).or_default();
            *e = e.saturating_add(n);
        }
        self.weight_parameters = r.weight_parameters;
        self.weight_dtypes = r
            .dtypes
            .into_iter()
            .map(|d| WeightDtype {
                dtype: d.dtype,
                precision: d.precision.map(|p| precision(p).as_str()),
                weight_parameters: d.weight_parameters,
            })
            .collect();
        self.quantization = r.quantization.map(|q| QuantOut {
            method: q.method,
            bits: q.bits,
            key: q.origin.key,
        });
        self.candidates = r
            .candidates
            .into_iter()
            .map(|c| CandidateOut {
                value: serde_json::from_str(&c.value).unwrap_or(Value::String(c.value)),
                field: c.field,
                source: source_name(c.source),
                key: c.origin.key,
                note: c.note,
            })
            .collect();
        self.lineage = r.lineage.into_iter().map(LineageOut::from_wit).collect();
        self.tensors = r
            .tensors
            .into_iter()
            .map(|t| TensorOut {
                name: t.name,
                dtype: t.dtype,
                shape: t.shape,
                role: role_name(t.role),
                parameters: t.parameters,
                packing: t.packing.map(|p| PackingOut {
                    container_bits: p.container_bits,
                    weight_bits: p.weight_bits,
                }),
            })
            .collect();
        self.groups = r
            .groups
            .into_iter()
            .map(|g| GroupOut {
                name: g.name,
                role: role_name(g.role),
                tensor_count: g.tensor_count,
                parameter_count: g.parameter_count,
            })
            .collect();
        let value_out = |v: fh::ValueInfo| ValueOut {
            name: v.name,
            dtype: v.dtype,
            shape: v.shape.map(|dims| {
                dims.into_iter()
                    .map(|d| match d {
                        fh::Dim::Fixed(n) => Value::from(n),
                        fh::Dim::Symbolic(s) => Value::String(s),
                        fh::Dim::Unknown => Value::Null,
                    })
                    .collect()
            }),
        };
        self.inputs = r.inputs.into_iter().map(value_out).collect();
        self.outputs = r.outputs.into_iter().map(value_out).collect();
        self.metadata = r
            .metadata
            .into_iter()
            .map(|m| (m.key, meta_json(m.value)))
            .collect();
        self.findings = r
            .findings
            .into_iter()
            .map(|f| FindingOut {
                id: f.id,
                severity: severity_name(f.severity),
                message: f.message,
                field: f.location.field,
            })
            .collect();
        self.covers = r.covers;
        self.configures_weights = matches!(r.layer_kind, Some(ft::FileKind::WeightConfig));
    }

    /// Parameters held by ONNX Constant nodes (their own field, as the README documents).
    pub fn group_parameters(&self, name: &str) -> Option<u64> {
        self.groups
            .iter()
            .find(|g| g.name == name)
            .map(|g| g.parameter_count)
    }
}

/// One line for a plugin's own `error` value.
pub fn format_error(e: &ft::Error) -> String {
    match e {
        ft::Error::Io(m) => format!("I/O error: {m}"),
        ft::Error::Malformed(m) => format!("malformed: {m}"),
        ft::Error::Unsupported(m) => format!("unsupported: {m}"),
        ft::Error::TooLarge(m) => format!("too large: {m}"),
    }
}
