//! SPDX 3.0.1 JSON-LD with the Core, Software, AI, Dataset and SimpleLicensing profiles: the
//! model as an `ai_AIPackage`, its files as `software_File` with SHA-256, data sets as
//! `dataset_DatasetPackage`, base models as `ai_AIPackage` the model `descendantOf`, and
//! declared licences as `simplelicensing_LicenseExpression`.
//!
//! Element ids are `urn:modelpack:sbom:<model digest>:<kind>/<name>`: the same model gives the
//! same ids, two different models never share one.

use serde_json::{Map, Value, json};

use super::facts::ModelFacts;
use super::{Created, Licences, licence_choices, url_ok};

const CREATION: &str = "_:creationinfo";

/// Percent-encodes what may not appear in a URN's name part.
fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn purpose(kind: &str) -> &'static str {
    match kind {
        "weight" => "model",
        "weight.config" => "configuration",
        "doc" => "documentation",
        "code" => "source",
        "dataset" => "data",
        _ => "other",
    }
}

fn element(kind: &str, id: &str, name: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("type".into(), json!(kind));
    m.insert("spdxId".into(), json!(id));
    m.insert("name".into(), json!(name));
    m.insert("creationInfo".into(), json!(CREATION));
    m
}

fn relationship(id: String, from: &str, kind: &str, to: Vec<String>) -> Value {
    json!({
        "type": "Relationship",
        "spdxId": id,
        "creationInfo": CREATION,
        "from": from,
        "relationshipType": kind,
        "to": to,
    })
}

/// The document.
pub fn document(f: &ModelFacts, created: &Created) -> Value {
    let ns = format!("urn:modelpack:sbom:{}:", &f.digest[..32]);
    let id = |s: &str| format!("{ns}{s}");
    let model_id = id("model");
    let agent_id = id("agent/modelpack");
    let tool_id = id(&format!("tool/modelpack-{}", env!("CARGO_PKG_VERSION")));
    let when = created
        .at
        .clone()
        .or_else(|| f.created_at.clone().filter(|t| super::is_utc_seconds(t)))
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".into());

    let mut graph = vec![json!({
        "type": "CreationInfo",
        "@id": CREATION,
        "specVersion": "3.0.1",
        "created": when,
        "createdBy": [agent_id],
        "createdUsing": [tool_id],
    })];
    let mut elements: Vec<String> = Vec::new();
    let mut push = |graph: &mut Vec<Value>, v: Value| {
        if let Some(i) = v.get("spdxId").and_then(Value::as_str) {
            elements.push(i.to_string());
        }
        graph.push(v);
    };
    push(
        &mut graph,
        Value::Object(element("SoftwareAgent", &agent_id, "modelpack")),
    );
    push(
        &mut graph,
        Value::Object(element(
            "Tool",
            &tool_id,
            &format!("modelpack {}", env!("CARGO_PKG_VERSION")),
        )),
    );

    let mut model = element("ai_AIPackage", &model_id, &f.name);
    model.insert("software_primaryPurpose".into(), json!("model"));
    if let Some(v) = &f.version {
        model.insert("software_packageVersion".into(), json!(v));
    }
    if let Some(d) = &f.description {
        model.insert("description".into(), json!(d));
    }
    if let Some(u) = f.source_url.as_deref().filter(|u| url_ok(u)) {
        model.insert("software_downloadLocation".into(), json!(u));
    }
    if let Some(u) = f.doc_url.as_deref().filter(|u| url_ok(u)) {
        model.insert("software_homePage".into(), json!(u));
    }
    if let Some(t) = f.created_at.as_deref().filter(|t| super::is_utc_seconds(t)) {
        model.insert("releaseTime".into(), json!(t));
    }
    let types: Vec<&String> = f
        .architecture
        .iter()
        .chain(
            f.family
                .iter()
                .filter(|x| Some(*x) != f.architecture.as_ref()),
        )
        .chain(f.model_class.iter())
        .collect();
    if !types.is_empty() {
        model.insert("ai_typeOfModel".into(), json!(types));
    }
    if let Some(t) = &f.task {
        model.insert("ai_domain".into(), json!([t]));
        model.insert("ai_informationAboutApplication".into(), json!(t));
    }
    let mut hyper = Vec::new();
    let mut entry = |k: &str, v: String| {
        hyper.push(json!({"type": "DictionaryEntry", "key": k, "value": v}));
    };
    if let Some(p) = &f.param_size {
        entry("paramSize", p.clone());
    }
    if f.parameters > 0 {
        entry("parameters", f.parameters.to_string());
    }
    if let Some(p) = &f.precision {
        entry("precision", p.clone());
    }
    if let Some(q) = &f.quantization {
        entry("quantization", q.clone());
    }
    if let Some(x) = &f.format {
        entry("format", x.clone());
    }
    for (i, x) in f.inputs.iter().enumerate() {
        entry(&format!("input.{i}"), x.clone());
    }
    for (i, x) in f.outputs.iter().enumerate() {
        entry(&format!("output.{i}"), x.clone());
    }
    if !hyper.is_empty() {
        model.insert("ai_hyperparameter".into(), json!(hyper));
    }
    push(&mut graph, Value::Object(model));

    let mut file_ids = Vec::new();
    for file in &f.files {
        let fid = id(&format!("file/{}", enc(&file.path)));
        let mut e = element("software_File", &fid, &file.path);
        e.insert("software_primaryPurpose".into(), json!(purpose(&file.kind)));
        e.insert("software_fileKind".into(), json!("file"));
        if let Some(h) = &file.sha256 {
            e.insert(
                "verifiedUsing".into(),
                json!([{"type": "Hash", "algorithm": "sha256", "hashValue": h}]),
            );
        }
        if let Some(m) = &file.missing {
            e.insert(
                "comment".into(),
                json!(format!("not in the directory: {m}")),
            );
        }
        file_ids.push(fid);
        push(&mut graph, Value::Object(e));
    }
    let mut dataset_ids = Vec::new();
    for d in &f.datasets {
        let did = id(&format!("dataset/{}", enc(&d.name)));
        let mut e = element("dataset_DatasetPackage", &did, &d.name);
        e.insert("software_primaryPurpose".into(), json!("data"));
        e.insert("dataset_datasetType".into(), json!(["noAssertion"]));
        if let Some(h) = &d.sha256 {
            e.insert(
                "verifiedUsing".into(),
                json!([{"type": "Hash", "algorithm": "sha256", "hashValue": h}]),
            );
        }
        if let Some(u) = d.url.as_deref().filter(|u| url_ok(u)) {
            e.insert("software_downloadLocation".into(), json!(u));
        }
        e.insert("comment".into(), json!(format!("from the {}", d.source)));
        dataset_ids.push(did);
        push(&mut graph, Value::Object(e));
    }
    let mut base_ids = Vec::new();
    for b in &f.base_models {
        let bid = id(&format!("base-model/{}", enc(&b.name)));
        let mut e = element("ai_AIPackage", &bid, &b.name);
        e.insert("software_primaryPurpose".into(), json!("model"));
        if let Some(v) = &b.version {
            e.insert("software_packageVersion".into(), json!(v));
        }
        if let Some(u) = b.url.as_deref().filter(|u| url_ok(u)) {
            e.insert("software_downloadLocation".into(), json!(u));
        }
        e.insert("comment".into(), json!(format!("from the {}", b.source)));
        base_ids.push(bid);
        push(&mut graph, Value::Object(e));
    }
    let mut licence_ids = Vec::new();
    let expressions: Vec<String> = match licence_choices(&f.licenses) {
        Licences::Expression(e) => vec![e],
        Licences::List(items) => items
            .into_iter()
            .map(|(id, name)| id.unwrap_or_else(|| spdx_ref(&name)))
            .collect(),
    };
    for (i, e) in expressions.iter().enumerate() {
        let lid = id(&format!("license/{i}"));
        push(
            &mut graph,
            json!({
                "type": "simplelicensing_LicenseExpression",
                "spdxId": lid,
                "creationInfo": CREATION,
                "simplelicensing_licenseExpression": e,
            }),
        );
        licence_ids.push(lid);
    }
    if !file_ids.is_empty() {
        push(
            &mut graph,
            relationship(id("relationship/contains"), &model_id, "contains", file_ids),
        );
    }
    if !dataset_ids.is_empty() {
        push(
            &mut graph,
            relationship(
                id("relationship/trainedOn"),
                &model_id,
                "trainedOn",
                dataset_ids,
            ),
        );
    }
    if !base_ids.is_empty() {
        push(
            &mut graph,
            relationship(
                id("relationship/descendantOf"),
                &model_id,
                "descendantOf",
                base_ids,
            ),
        );
    }
    if !licence_ids.is_empty() {
        push(
            &mut graph,
            relationship(
                id("relationship/hasDeclaredLicense"),
                &model_id,
                "hasDeclaredLicense",
                licence_ids,
            ),
        );
    }
    let sbom_id = id("sbom");
    let mut sbom = element("software_Sbom", &sbom_id, &format!("AI-BOM of {}", f.name));
    sbom.insert("software_sbomType".into(), json!(["analyzed"]));
    sbom.insert("rootElement".into(), json!([model_id]));
    sbom.insert("element".into(), json!(elements.clone()));
    let mut all = elements;
    all.push(sbom_id.clone());
    graph.push(Value::Object(sbom));
    let mut doc = element("SpdxDocument", &id("document"), &format!("{} SBOM", f.name));
    doc.insert(
        "profileConformance".into(),
        json!(["core", "software", "ai", "dataset", "simpleLicensing"]),
    );
    doc.insert("rootElement".into(), json!([sbom_id]));
    doc.insert("element".into(), json!(all));
    graph.push(Value::Object(doc));
    json!({
        "@context": "https://spdx.org/rdf/3.0.1/spdx-context.jsonld",
        "@graph": graph,
    })
}

/// A `LicenseRef-` for a licence outside the SPDX list.
fn spdx_ref(name: &str) -> String {
    format!("LicenseRef-{}", crate::validate::rules::sanitize_ref(name))
}
