//! Text rendering of `inspect`: one compact block per file.

use std::fmt::Write as _;

use super::report::{FileReport, Status, ValueOut};
use crate::units::{human_bytes, human_count};

fn shape(v: &ValueOut) -> String {
    match &v.shape {
        None => "?".into(),
        Some(dims) => {
            let d: Vec<String> = dims
                .iter()
                .map(|d| match d {
                    serde_json::Value::Null => "?".into(),
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect();
            format!("[{}]", d.join(", "))
        }
    }
}

/// Renders one file's block.
pub fn render(r: &FileReport, tensors: bool) -> String {
    let mut s = String::new();
    match r.status {
        Status::Unrecognised => {
            let _ = writeln!(s, "{}  unrecognised ({})", r.path, human_bytes(r.size));
            return s;
        }
        Status::Error => {
            let _ = writeln!(s, "{}  ERROR", r.path);
            let _ = writeln!(s, "  {}", r.error.as_deref().unwrap_or("unknown error"));
            return s;
        }
        Status::Ok => {}
    }
    let _ = writeln!(
        s,
        "{}  {} via {} ({})",
        r.path,
        r.format.as_deref().unwrap_or("?"),
        r.plugin.as_deref().unwrap_or("?"),
        human_bytes(r.size)
    );
    let _ = writeln!(
        s,
        "  tensors {}  parameters {} ({})",
        r.tensor_count,
        human_count(r.parameter_count),
        r.parameter_count
    );
    if !r.dtypes.is_empty() {
        let mut d: Vec<_> = r.dtypes.iter().collect();
        d.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let list: Vec<String> = d
            .iter()
            .map(|(k, v)| format!("{k} {}", human_count(**v)))
            .collect();
        let _ = writeln!(s, "  dtypes  {}", list.join(", "));
    }
    for g in &r.groups {
        let _ = writeln!(
            s,
            "  group   {} ({}): {} tensors, {} parameters",
            g.name,
            g.role,
            g.tensor_count,
            human_count(g.parameter_count)
        );
    }
    for (label, list) in [("input ", &r.inputs), ("output", &r.outputs)] {
        for v in list {
            let _ = writeln!(s, "  {label}  {} {} {}", v.name, v.dtype, shape(v));
        }
    }
    if !r.covers.is_empty() {
        let _ = writeln!(s, "  covers  {}", r.covers.join(", "));
    }
    for f in &r.findings {
        let _ = writeln!(s, "  {:<7} {}: {}", f.severity, f.id, f.message);
    }
    if tensors {
        for t in &r.tensors {
            let dims: Vec<String> = t.shape.iter().map(u64::to_string).collect();
            let _ = writeln!(s, "    {}  {}  [{}]", t.name, t.dtype, dims.join(", "));
        }
    }
    s
}
