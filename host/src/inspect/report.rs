//! The stable JSON shape of `modelpack inspect` (documented in the README), and its
//! conversion from what plugins return.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::plugin::runtime::fh;

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

fn role_name(r: fh::GroupRole) -> &'static str {
    match r {
        fh::GroupRole::Weights => "weights",
        fh::GroupRole::Buffers => "buffers",
        fh::GroupRole::TrainingState => "training-state",
        fh::GroupRole::Other => "other",
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
        self.tensors = r
            .tensors
            .into_iter()
            .map(|t| TensorOut {
                name: t.name,
                dtype: t.dtype,
                shape: t.shape,
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
pub fn format_error(e: &fh::Error) -> String {
    match e {
        fh::Error::Io(m) => format!("I/O error: {m}"),
        fh::Error::Malformed(m) => format!("malformed: {m}"),
        fh::Error::Unsupported(m) => format!("unsupported: {m}"),
        fh::Error::TooLarge(m) => format!("too large: {m}"),
    }
}
