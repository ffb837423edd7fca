//! CycloneDX 1.6 JSON: the model as a `machine-learning-model` component with a `modelCard`,
//! its files as `file` components with SHA-256, data sets as `data` components, lineage as
//! the model's `pedigree.ancestors`.

use serde_json::{Map, Value, json};

use super::facts::ModelFacts;
use super::{Created, licence_choices, url_ok};

fn prop(name: &str, value: impl ToString) -> Value {
    json!({"name": format!("modelpack:{name}"), "value": value.to_string()})
}

fn file_ref(path: &str) -> String {
    format!("file:{path}")
}

fn dataset_ref(name: &str) -> String {
    format!("dataset:{name}")
}

/// The document (without `serialNumber`, which [`super::render`] derives from it).
pub fn document(f: &ModelFacts, created: &Created) -> Value {
    let mut model = Map::new();
    model.insert("type".into(), json!("machine-learning-model"));
    model.insert("bom-ref".into(), json!("model"));
    model.insert("name".into(), json!(f.name));
    if let Some(v) = &f.version {
        model.insert("version".into(), json!(v));
    }
    if let Some(d) = &f.description {
        model.insert("description".into(), json!(d));
    }
    if !f.authors.is_empty() {
        let a: Vec<Value> = f.authors.iter().map(|n| json!({"name": n})).collect();
        model.insert("authors".into(), json!(a));
    }
    if let Some(v) = &f.vendor {
        model.insert("supplier".into(), json!({"name": v}));
    }
    let licences = licence_choices(&f.licenses);
    if !licences.is_empty() {
        model.insert("licenses".into(), licences_json(&licences));
    }
    let mut refs = Vec::new();
    if let Some(u) = f.source_url.as_deref().filter(|u| url_ok(u)) {
        refs.push(json!({"type": "vcs", "url": u}));
    }
    if let Some(u) = f.doc_url.as_deref().filter(|u| url_ok(u)) {
        refs.push(json!({"type": "documentation", "url": u}));
    }
    if !refs.is_empty() {
        model.insert("externalReferences".into(), json!(refs));
    }

    let mut params = Map::new();
    if let Some(t) = &f.task {
        params.insert("task".into(), json!(t));
    }
    if let Some(a) = &f.family {
        params.insert("architectureFamily".into(), json!(a));
    }
    if let Some(a) = &f.model_class {
        params.insert("modelArchitecture".into(), json!(a));
    }
    if !f.datasets.is_empty() {
        let d: Vec<Value> = f
            .datasets
            .iter()
            .map(|d| json!({"ref": dataset_ref(&d.name)}))
            .collect();
        params.insert("datasets".into(), json!(d));
    }
    if !f.inputs.is_empty() {
        let v: Vec<Value> = f.inputs.iter().map(|x| json!({"format": x})).collect();
        params.insert("inputs".into(), json!(v));
    }
    if !f.outputs.is_empty() {
        let v: Vec<Value> = f.outputs.iter().map(|x| json!({"format": x})).collect();
        params.insert("outputs".into(), json!(v));
    }
    let mut card_props = Vec::new();
    if let Some(p) = &f.param_size {
        card_props.push(prop("paramSize", p));
    }
    if f.parameters > 0 {
        card_props.push(prop("parameters", f.parameters));
    }
    if let Some(p) = &f.precision {
        card_props.push(prop("precision", p));
    }
    if let Some(q) = &f.quantization {
        card_props.push(prop("quantization", q));
    }
    if let Some(a) = &f.architecture {
        card_props.push(prop("architecture", a));
    }
    if let Some(x) = &f.format {
        card_props.push(prop("format", x));
    }
    let mut card = Map::new();
    card.insert("bom-ref".into(), json!("model-card"));
    if !params.is_empty() {
        card.insert("modelParameters".into(), Value::Object(params));
    }
    if !card_props.is_empty() {
        card.insert("properties".into(), json!(card_props));
    }
    model.insert("modelCard".into(), Value::Object(card));

    if !f.base_models.is_empty() {
        let ancestors: Vec<Value> = f
            .base_models
            .iter()
            .map(|b| {
                let mut a = Map::new();
                a.insert("type".into(), json!("machine-learning-model"));
                a.insert("bom-ref".into(), json!(format!("base-model:{}", b.name)));
                a.insert("name".into(), json!(b.name));
                if let Some(v) = &b.version {
                    a.insert("version".into(), json!(v));
                }
                if let Some(o) = &b.organization {
                    a.insert("supplier".into(), json!({"name": o}));
                }
                if let Some(u) = b.url.as_deref().filter(|u| url_ok(u)) {
                    a.insert(
                        "externalReferences".into(),
                        json!([{"type": "website", "url": u}]),
                    );
                }
                a.insert("properties".into(), json!([prop("source", b.source)]));
                Value::Object(a)
            })
            .collect();
        model.insert("pedigree".into(), json!({"ancestors": ancestors}));
    }

    let mut components = Vec::new();
    for file in &f.files {
        let mut c = Map::new();
        c.insert("type".into(), json!("file"));
        c.insert("bom-ref".into(), json!(file_ref(&file.path)));
        c.insert("name".into(), json!(file.path));
        if let Some(h) = &file.sha256 {
            c.insert("hashes".into(), json!([{"alg": "SHA-256", "content": h}]));
        }
        let mut props = vec![prop("layerKind", &file.kind)];
        if let Some(s) = file.size {
            props.push(prop("size", s));
        }
        if let Some(m) = &file.missing {
            props.push(prop("missing", m));
        }
        c.insert("properties".into(), json!(props));
        components.push(Value::Object(c));
    }
    for d in &f.datasets {
        let mut data = Map::new();
        data.insert("type".into(), json!("dataset"));
        data.insert("name".into(), json!(d.name));
        let mut c = Map::new();
        c.insert("type".into(), json!("data"));
        c.insert("bom-ref".into(), json!(dataset_ref(&d.name)));
        c.insert("name".into(), json!(d.name));
        c.insert("data".into(), json!([data]));
        if let Some(h) = &d.sha256 {
            c.insert("hashes".into(), json!([{"alg": "SHA-256", "content": h}]));
        }
        if let Some(u) = d.url.as_deref().filter(|u| url_ok(u)) {
            c.insert(
                "externalReferences".into(),
                json!([{"type": "distribution", "url": u}]),
            );
        }
        c.insert("properties".into(), json!([prop("source", d.source)]));
        components.push(Value::Object(c));
    }
    let mut depends: Vec<String> = f.files.iter().map(|x| file_ref(&x.path)).collect();
    depends.extend(f.datasets.iter().map(|d| dataset_ref(&d.name)));
    depends.sort();
    depends.dedup();

    let mut metadata = Map::new();
    if let Some(t) = &created.at {
        metadata.insert("timestamp".into(), json!(t));
    }
    metadata.insert(
        "tools".into(),
        json!({"components": [{"type": "application", "name": "modelpack", "version": env!("CARGO_PKG_VERSION")}]}),
    );
    metadata.insert("component".into(), Value::Object(model));

    json!({
        "$schema": "http://cyclonedx.org/schema/bom-1.6.schema.json",
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "version": 1,
        "metadata": metadata,
        "components": components,
        "dependencies": [{"ref": "model", "dependsOn": depends}],
    })
}

fn licences_json(choices: &super::Licences) -> Value {
    match choices {
        super::Licences::Expression(e) => json!([{"expression": e}]),
        super::Licences::List(items) => {
            let v: Vec<Value> = items
                .iter()
                .map(|(id, name)| match id {
                    Some(id) => json!({"license": {"id": id}}),
                    None => json!({"license": {"name": name}}),
                })
                .collect();
            json!(v)
        }
    }
}
