//! The KitOps rules on hand-built kits: a pre-v0.5 kit (no digests), a 1.x kit with digests,
//! prompts and a remote dataset, parents, loops and broken Kitfiles.

use modelpack_plugin_sdk::converter_prelude::*;

use crate::kitfile::is_reference;
use crate::rules::{detect, parse_layer_type, plan};

fn layer(base: &str, enc: &str, digest: &str, extra: &str) -> String {
    format!(
        r#"{{"mediaType":"application/vnd.kitops.modelkit.{base}.v1.{enc}","digest":"{digest}","size":10{extra}}}"#
    )
}

fn manifest(layers: &[String]) -> String {
    format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
          "config":{{"mediaType":"application/vnd.kitops.modelkit.config.v1+json","digest":"sha256:cf","size":100}},
          "layers":[{}]}}"#,
        layers.join(",")
    )
}

/// A kit as KitOps wrote them before v0.5: gzip layers, no digests in the Kitfile.
fn old_kit() -> (String, String) {
    let m = manifest(&[
        layer("code", "tar+gzip", "sha256:c1", ""),
        layer("dataset", "tar+gzip", "sha256:d1", ""),
        layer("model", "tar+gzip", "sha256:m1", ""),
        layer("modelpart", "tar+gzip", "sha256:p1", ""),
        layer("modelpart", "tar+gzip", "sha256:p2", ""),
    ]);
    let k = r#"{"manifestVersion":"1.0","package":{"name":"flights","version":"1.0.0","authors":["Jozu"],"license":"Apache-2.0"},
      "model":{"name":"m","path":"./model.gguf","format":"GGUF","license":"MIT",
               "parts":[{"path":"tokenizer.json"},{"path":"adapters/lora.gguf"}]},
      "code":[{"path":"./notebooks"}],
      "datasets":[{"name":"train","path":"./data/train.csv","license":"CC-BY-4.0"}]}"#;
    (m, k.to_string())
}

fn paths(p: &ArtifactPlan) -> Vec<(String, String)> {
    p.layers
        .iter()
        .map(|l| (l.source_digest.clone(), l.path.clone().unwrap_or_default()))
        .collect()
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn an_old_kit_is_matched_by_order_within_each_type() {
    let (m, k) = old_kit();
    let p = plan(&m, &k, &[]).unwrap();
    assert_eq!(
        paths(&p),
        pairs(&[
            ("sha256:c1", "notebooks"),
            ("sha256:d1", "data/train.csv"),
            ("sha256:m1", "model.gguf"),
            ("sha256:p1", "tokenizer.json"),
            ("sha256:p2", "adapters/lora.gguf"),
        ])
    );
    let kinds: Vec<FileKind> = p.layers.iter().map(|l| l.kind).collect();
    assert!(matches!(
        kinds[..],
        [
            FileKind::Code,
            FileKind::Dataset,
            FileKind::Weight,
            FileKind::Weight,
            FileKind::Weight
        ]
    ));
    assert!(
        p.layers
            .iter()
            .all(|l| l.encoding == "tar+gzip" && matches!(l.action, LayerAction::Reuse))
    );
    let c: Vec<(&str, &str)> = p
        .candidates
        .iter()
        .map(|c| (c.field.as_str(), c.value.as_str()))
        .collect();
    assert!(c.contains(&("/descriptor/name", "\"flights\"")), "{c:?}");
    assert!(
        c.contains(&(
            "/descriptor/licenses",
            "[\"Apache-2.0\",\"CC-BY-4.0\",\"MIT\"]"
        )),
        "{c:?}"
    );
    assert!(c.contains(&("/config/format", "\"gguf\"")), "{c:?}");
    assert!(c.contains(&("/descriptor/authors", "[\"Jozu\"]")), "{c:?}");
}

#[test]
fn a_new_kit_checks_recorded_digests_and_knows_prompts_and_remote_datasets() {
    let m = manifest(&[
        layer("model", "tar", "sha256:m1", ""),
        layer(
            "code",
            "tar+zstd",
            "sha256:pr",
            r#","annotations":{"ml.kitops.modelkit.layer-subtype":"prompt"}"#,
        ),
        layer("dataset", "tar", "sha256:d2", ""),
        layer("docs", "tar", "sha256:doc", ""),
    ]);
    let k = r#"{"manifestVersion":"1.0","package":{"name":"x"},
      "model":{"path":"model.onnx","digest":"sha256:m1"},
      "prompts":[{"path":"prompts/system.md","digest":"sha256:pr"}],
      "datasets":[{"name":"big","path":"big","remotePath":"s3://bucket/big.parquet"},{"name":"small","path":"small.csv","digest":"sha256:d2"}],
      "docs":[{"path":"README.md","digest":"sha256:doc"}]}"#;
    let p = plan(&m, k, &[]).unwrap();
    assert_eq!(
        paths(&p),
        pairs(&[
            ("sha256:m1", "model.onnx"),
            ("sha256:pr", "prompts/system.md"),
            ("sha256:d2", "small.csv"),
            ("sha256:doc", "README.md"),
        ])
    );
    assert!(matches!(p.layers[1].kind, FileKind::Code));
    assert_eq!(p.layers[1].encoding, "tar+zstd");
    assert_eq!(
        p.layers[1].annotations,
        vec![(
            "ml.kitops.modelkit.layer-subtype".to_string(),
            "prompt".to_string()
        )]
    );
    let urls = p
        .candidates
        .iter()
        .find(|c| c.field == "/descriptor/datasetsURL")
        .unwrap();
    assert_eq!(urls.value, "[\"s3://bucket/big.parquet\"]");
    assert!(p.findings.iter().any(|f| f.id == "remote-dataset"));

    let wrong = k.replace("\"digest\":\"sha256:doc\"", "\"digest\":\"sha256:other\"");
    assert_eq!(
        plan(&m, &wrong, &[]).unwrap_err(),
        "ModelKit: Kitfile docs[0] records layer sha256:other, but the manifest has sha256:doc in its place (layers[3])"
    );
}

#[test]
fn a_kitfile_naming_missing_layers_is_refused() {
    let (m, k) = old_kit();
    let more = k.replace(
        r#"{"path":"adapters/lora.gguf"}"#,
        r#"{"path":"adapters/lora.gguf"},{"path":"extra.bin"}"#,
    );
    assert_eq!(
        plan(&m, &more, &[]).unwrap_err(),
        "ModelKit: the Kitfile lists 3 model parts but the manifest has 2 such layers"
    );
    let fewer = k.replace(r#",{"path":"adapters/lora.gguf"}"#, "");
    assert_eq!(
        plan(&m, &fewer, &[]).unwrap_err(),
        "ModelKit: manifest layers[4] is model part 2 but the Kitfile lists 1"
    );
    let escape = k.replace("./data/train.csv", "../../etc/passwd");
    assert!(
        plan(&m, &escape, &[])
            .unwrap_err()
            .contains("datasets[0].path \"../../etc/passwd\" is not a relative path")
    );
    assert!(
        plan(&m, "{not json", &[])
            .unwrap_err()
            .starts_with("ModelKit: the Kitfile is not valid")
    );
}

fn child() -> (String, String) {
    let m = manifest(&[layer("docs", "tar", "sha256:cdoc", "")]);
    let k = r#"{"manifestVersion":"1.0","package":{"name":"child"},
      "model":{"path":"registry.example.com/org/base:v1"},"docs":[{"path":"README.md"}]}"#;
    (m, k.to_string())
}

#[test]
fn a_parent_kit_is_asked_for_then_its_model_layers_reused() {
    let (m, k) = child();
    let p = plan(&m, &k, &[]).unwrap();
    assert_eq!(
        p.needs,
        vec!["registry.example.com/org/base:v1".to_string()]
    );
    assert!(p.layers.is_empty());

    let pm = manifest(&[
        layer("model", "tar", "sha256:pm", ""),
        layer("code", "tar", "sha256:pcode", ""),
    ]);
    let pk = r#"{"manifestVersion":"1.0","model":{"path":"base.gguf"},"code":[{"path":"src"}]}"#;
    let refs = vec![(
        "registry.example.com/org/base:v1".to_string(),
        pm,
        pk.to_string(),
    )];
    let p = plan(&m, &k, &refs).unwrap();
    assert!(p.needs.is_empty());
    // The parent's model only (its code stays in the parent), then the child's own layers.
    assert_eq!(
        paths(&p),
        pairs(&[("sha256:pm", "base.gguf"), ("sha256:cdoc", "README.md")])
    );
    assert!(p.findings.iter().any(|f| f.id == "parent-model-reused"));
}

#[test]
fn a_parent_loop_is_refused() {
    let (m, k) = child();
    let loop_kit = |to: &str| {
        (
            manifest(&[layer("docs", "tar", "sha256:x", "")]),
            format!(r#"{{"model":{{"path":"{to}"}},"docs":[{{"path":"d"}}]}}"#),
        )
    };
    let (am, ak) = loop_kit("registry.example.com/org/other:v2");
    let (bm, bk) = loop_kit("registry.example.com/org/base:v1");
    let refs = vec![
        ("registry.example.com/org/base:v1".to_string(), am, ak),
        ("registry.example.com/org/other:v2".to_string(), bm, bk),
    ];
    assert_eq!(
        plan(&m, &k, &refs).unwrap_err(),
        "found cycle in modelkit references: [registry.example.com/org/base:v1=>registry.example.com/org/other:v2=>registry.example.com/org/base:v1]"
    );
}

#[test]
fn references_media_types_and_detection() {
    assert!(is_reference("registry.example.com/org/base:v1"));
    assert!(is_reference("localhost:5000/base@sha256:aa"));
    assert!(!is_reference("./model.gguf"));
    assert!(!is_reference("models/model.gguf"));
    assert!(!is_reference("model.gguf"));
    assert_eq!(
        parse_layer_type("application/vnd.kitops.modelkit.modelpart.v1.tar+gzip"),
        Some(("modelpart", "tar+gzip"))
    );
    assert_eq!(
        parse_layer_type("application/vnd.kitops.modelkit.model.v1.raw"),
        Some(("model", "raw"))
    );
    assert_eq!(
        parse_layer_type("application/vnd.kitops.modelkit.config.v1+json"),
        None
    );
    assert_eq!(
        parse_layer_type("application/vnd.kitops.modelkit.model.v1.tar+xz"),
        None
    );
    assert_eq!(
        detect("", "application/vnd.kitops.modelkit.config.v1+json", &[]),
        1.0
    );
    assert_eq!(
        detect(
            "",
            "application/vnd.oci.image.config.v1+json",
            &["application/vnd.oci.image.layer.v1.tar".into()]
        ),
        0.0
    );
}
