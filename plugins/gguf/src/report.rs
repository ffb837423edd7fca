//! Turns parsed GGUF headers (one file, or the parts of a split model) into a [`ModelReport`].

use crate::file_type;
use crate::split::{self, Part};
use modelpack_plugin_sdk::prelude::*;

/// Builds the report; `extra` holds findings made while gathering the parts.
pub fn build(parts: &[Part], extra: Vec<Finding>) -> Result<ModelReport, Error> {
    let Some(lead) = parts.first() else {
        return Err(Error::Malformed("no GGUF file to report on".into()));
    };
    let located = parts.len() > 1;
    let mut tensors = Vec::new();
    let mut parameter_count = 0u64;
    let mut findings = Vec::new();
    for p in parts {
        for t in &p.header.tensors {
            // GGUF stores ne[0] (innermost) first; reports give the outermost dimension first,
            // as gguf-py's reference `shape` does.
            let mut tensor = weight_tensor(
                t.name.clone(),
                t.ty.name,
                t.ne.iter().rev().copied().collect(),
            );
            tensor.parameters = t.n_elements;
            tensors.push(tensor);
            parameter_count = parameter_count.checked_add(t.n_elements).ok_or_else(|| {
                Error::Malformed(format!("{}: total parameter count overflows u64", p.name))
            })?;
        }
        for f in &p.header.findings {
            let mut f = f.clone();
            if located {
                f.location.file = Some(p.name.clone());
            }
            findings.push(f);
        }
    }
    findings.extend(extra);
    findings.extend(split::findings(parts, located));
    findings.extend(model_findings(lead, parts));
    let mut r = ModelReport {
        format: "gguf".into(),
        tensors,
        parameter_count,
        weight_parameters: 0,
        dtypes: vec![],
        quantization: None,
        candidates: vec![],
        lineage: vec![],
        groups: vec![],
        inputs: vec![],
        outputs: vec![],
        metadata: metadata(lead),
        findings,
        covers: parts.iter().skip(1).map(|p| p.name.clone()).collect(),
        layer_kind: None,
    };
    crate::meaning::apply(&mut r, &lead.header);
    Ok(r)
}

/// The lead file's metadata in file order, then the keys this plugin adds.
fn metadata(lead: &Part) -> Vec<MetaEntry> {
    let h = &lead.header;
    let mut out: Vec<MetaEntry> = h
        .kvs
        .iter()
        .map(|kv| MetaEntry {
            key: kv.key.clone(),
            value: kv.value.clone(),
        })
        .collect();
    if let Some(name) = h.uint("general.file_type").and_then(file_type::name) {
        out.push(MetaEntry {
            key: "general.file_type_name".into(),
            value: MetaValue::Text(name.into()),
        });
    }
    out.push(MetaEntry {
        key: "gguf.version".into(),
        value: MetaValue::Uint(h.version.into()),
    });
    out
}

/// Facts about the model as a whole.
fn model_findings(lead: &Part, parts: &[Part]) -> Vec<Finding> {
    let mut out = Vec::new();
    if parts.iter().all(|p| p.header.tensors.is_empty()) {
        out.push(finding(
            "no-tensors",
            Severity::Info,
            format!(
                "{} holds no tensors (a vocabulary-only or metadata-only GGUF)",
                lead.name
            ),
            None,
        ));
    }
    if lead.header.text("general.architecture").is_none() {
        out.push(finding(
            "missing-architecture",
            Severity::Warning,
            format!(
                "{} has no general.architecture string, which llama.cpp requires",
                lead.name
            ),
            Some("general.architecture".into()),
        ));
    }
    out
}
