//! Test-only converter plugin: claims artifacts whose config media type is
//! `application/vnd.example.evil.config+json` and answers the plan named by the manifest
//! annotation `evil.mode`, each one something the host must refuse:
//! `foreign-digest` (a layer the source does not have), `traversal` (a path leaving the
//! output), `huge` (20000 layers), `needs-forever` (a new reference every round),
//! `same-path` (two layers, one path), `split` (an action this host does not carry out).

use modelpack_plugin_sdk::converter_prelude::*;

/// The plugin.
pub struct Plugin;

fn layer(digest: &str, path: &str) -> PlannedLayer {
    PlannedLayer {
        source_digest: digest.to_string(),
        kind: FileKind::Weight,
        encoding: "raw".into(),
        path: Some(path.to_string()),
        action: LayerAction::Reuse,
        annotations: vec![],
    }
}

fn empty() -> ArtifactPlan {
    ArtifactPlan {
        candidates: vec![],
        layers: vec![],
        annotations: vec![],
        findings: vec![],
        needs: vec![],
    }
}

impl ConverterPlugin for Plugin {
    const INFO: &'static str = r#"{"name":"evil-converter","version":"0.1.0","description":"test plugin answering hostile conversion plans"}"#;

    fn detect(_m: &str, _a: &str, config_media_type: &str, _l: &[String]) -> f32 {
        if config_media_type == "application/vnd.example.evil.config+json" {
            1.0
        } else {
            0.0
        }
    }

    fn plan(artifact: ForeignArtifact) -> Result<ArtifactPlan, String> {
        let m: serde_json::Value =
            serde_json::from_str(&artifact.manifest).map_err(|e| e.to_string())?;
        let mode = m["annotations"]["evil.mode"].as_str().unwrap_or("");
        let first = m["layers"][0]["digest"].as_str().unwrap_or("").to_string();
        let mut plan = empty();
        match mode {
            "foreign-digest" => plan.layers.push(layer(
                "sha256:0000000000000000000000000000000000000000000000000000000000000000",
                "w.bin",
            )),
            "traversal" => plan.layers.push(layer(&first, "../../outside.bin")),
            "same-path" => {
                plan.layers.push(layer(&first, "w.bin"));
                plan.layers.push(layer(&first, "w.bin"));
            }
            "huge" => {
                for i in 0..20_000 {
                    plan.layers.push(layer(&first, &format!("w{i}.bin")));
                }
            }
            "needs-forever" => {
                plan.needs.push(format!(
                    "registry.example.com/evil/r{}:v1",
                    artifact.referenced.len()
                ));
            }
            "split" => {
                let mut l = layer(&first, "w.bin");
                l.action = LayerAction::Split("raw".into());
                plan.layers.push(l);
            }
            other => return Err(format!("unknown evil.mode {other:?}")),
        }
        Ok(plan)
    }
}

modelpack_plugin_sdk::export_converter_plugin!(Plugin);
