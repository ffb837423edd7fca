//! Convention plugin `convention-diffusers`: a diffusers pipeline directory
//! (`model_index.json` at the root naming the pipeline class and its components, each in its
//! own subdirectory with a `config.json` or `scheduler_config.json`).
//!
//! What it says: the pipeline class as family (`StableDiffusionXLPipeline` →
//! `stable-diffusion-xl`), `diffusion` as architecture with the components in the note, the
//! modalities the pipeline class implies (a heuristic: `Img2Img`/`Inpaint` take an image,
//! `Video`/`Audio` pipelines produce those), and the components' configs as `weight.config`
//! layers.

use modelpack_plugin_sdk::convention::*;
use serde_json::{Value, json};

/// The plugin.
pub struct Diffusers;

/// The pipeline index.
pub const INDEX: &str = "model_index.json";

impl ConventionPlugin for Diffusers {
    const INFO: &'static str = r#"{"name":"convention-diffusers","version":"0.1.0","description":"diffusers pipelines: model_index.json (pipeline class, components)","file_names":["model_index.json"]}"#;

    fn run(files: &dyn Files, input: &ConventionInput) -> Result<ConventionReport, String> {
        let mut out = empty_report();
        for path in files_named(input, &[INDEX]) {
            out.hints.push(FileHint {
                path: path.to_string(),
                kind: FileKind::WeightConfig,
                reason: "diffusers pipeline index".into(),
            });
        }
        if !root_files(input).any(|n| n == INDEX) {
            return Ok(out);
        }
        match read_text(files, INDEX)
            .and_then(|t| serde_json::from_str::<Value>(&t).map_err(|e| format!("not JSON: {e}")))
        {
            Ok(v) if v.get("_class_name").and_then(Value::as_str).is_some() => {
                answer(&v, input, &mut out)
            }
            Ok(_) => out.findings.push(message(
                Severity::Warning,
                "unreadable",
                Some(INDEX),
                format!("{INDEX}: no _class_name; ignored"),
            )),
            Err(e) => out.findings.push(message(
                Severity::Warning,
                "unreadable",
                Some(INDEX),
                format!("{INDEX}: {e}; ignored"),
            )),
        }
        Ok(out)
    }
}

modelpack_plugin_sdk::export_convention_plugin!(Diffusers);

/// `StableDiffusionXLPipeline` → `stable-diffusion-xl`.
pub fn family(class: &str) -> String {
    let mut stem = class.strip_suffix("Pipeline").unwrap_or(class);
    // The task is not the family: `StableDiffusionImg2ImgPipeline` is `stable-diffusion`.
    for task in [
        "Img2Img",
        "Inpaint",
        "InstructPix2Pix",
        "Upscale",
        "Refiner",
    ] {
        stem = stem.strip_suffix(task).unwrap_or(stem);
    }
    let chars: Vec<char> = stem.chars().collect();
    let mut out = String::new();
    for (i, c) in chars.iter().enumerate() {
        let prev = i.checked_sub(1).map(|j| chars[j]);
        let next = chars.get(i + 1);
        let boundary = c.is_ascii_uppercase()
            && prev.is_some_and(|p| {
                p.is_ascii_lowercase()
                    || p.is_ascii_digit()
                    || (p.is_ascii_uppercase() && next.is_some_and(|n| n.is_ascii_lowercase()))
            });
        if boundary {
            out.push('-');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// Input and output modalities a pipeline class implies.
fn modalities(class: &str) -> (&'static [&'static str], &'static [&'static str]) {
    if class.contains("Img2Img") || class.contains("Inpaint") || class.contains("InstructPix2Pix") {
        (&["image", "text"], &["image"])
    } else if class.contains("ImageToVideo") || class.contains("Img2Vid") {
        (&["image"], &["video"])
    } else if class.contains("Video") {
        (&["text"], &["video"])
    } else if class.contains("Audio") || class.contains("Music") {
        (&["text"], &["audio"])
    } else {
        (&["text"], &["image"])
    }
}

/// A pipeline index's candidates and hints.
pub fn answer(v: &Value, input: &ConventionInput, out: &mut ConventionReport) {
    let class = v["_class_name"].as_str().unwrap_or_default();
    let mut components = Vec::new();
    if let Some(obj) = v.as_object() {
        for (name, spec) in obj.iter().filter(|(k, _)| !k.starts_with('_')) {
            // `"unet": ["diffusers", "UNet2DConditionModel"]`; `[null, null]` = not used.
            if let Some(cls) = spec.get(1).and_then(Value::as_str) {
                components.push(format!("{name} {cls}"));
                for cfg in [
                    "config.json",
                    "scheduler_config.json",
                    "preprocessor_config.json",
                ] {
                    let path = format!("{name}/{cfg}");
                    if input.entries.iter().any(|e| e.path == path) {
                        out.hints.push(FileHint {
                            path,
                            kind: FileKind::WeightConfig,
                            reason: format!("diffusers {name} component config"),
                        });
                    }
                }
            }
        }
    }
    out.candidates.push(candidate(
        "/descriptor/family",
        json!(family(class)),
        SourceClass::ConventionFiles,
        origin(INDEX, Some("_class_name")),
        Some(format!("diffusers pipeline {class}")),
    ));
    out.candidates.push(candidate(
        "/config/architecture",
        json!("diffusion"),
        SourceClass::ConventionFiles,
        origin(INDEX, Some("_class_name")),
        Some(format!("{class}: {}", components.join(", "))),
    ));
    let (i, o) = modalities(class);
    for (field, v) in [
        ("/config/capabilities/inputTypes", i),
        ("/config/capabilities/outputTypes", o),
    ] {
        out.candidates.push(candidate(
            field,
            json!(v),
            SourceClass::Heuristic,
            origin(INDEX, Some("_class_name")),
            Some(format!("what a {class} takes and makes")),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn family_names() {
        assert_eq!(family("StableDiffusionXLPipeline"), "stable-diffusion-xl");
        assert_eq!(family("StableDiffusionPipeline"), "stable-diffusion");
        assert_eq!(family("FluxPipeline"), "flux");
        assert_eq!(family("PixArtAlphaPipeline"), "pix-art-alpha");
        assert_eq!(family("StableDiffusion3Pipeline"), "stable-diffusion3");
        assert_eq!(
            family("StableDiffusionXLImg2ImgPipeline"),
            "stable-diffusion-xl"
        );
    }

    #[test]
    fn sd_pipeline() {
        let files = MemFiles::new([
            (
                INDEX,
                r#"{"_class_name": "StableDiffusionImg2ImgPipeline", "_diffusers_version": "0.21.0",
                    "unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"],
                    "safety_checker": [null, null], "scheduler": ["diffusers", "PNDMScheduler"]}"#,
            ),
            ("unet/config.json", "{}"),
            ("unet/diffusion_pytorch_model.safetensors", "x"),
            ("scheduler/scheduler_config.json", "{}"),
        ]);
        let input = ConventionInput {
            root_names: vec![],
            locate: false,
            entries: files.entries(),
            weights: vec![],
            missing: vec![],
        };
        let r = Diffusers::run(&files, &input).unwrap();
        let got: Vec<(&str, &str)> = r
            .candidates
            .iter()
            .map(|c| (c.field.as_str(), c.value.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("/descriptor/family", r#""stable-diffusion""#),
                ("/config/architecture", r#""diffusion""#),
                ("/config/capabilities/inputTypes", r#"["image","text"]"#),
                ("/config/capabilities/outputTypes", r#"["image"]"#),
            ]
        );
        assert_eq!(
            r.candidates[1].note.as_deref(),
            Some(
                "StableDiffusionImg2ImgPipeline: scheduler PNDMScheduler, unet UNet2DConditionModel, vae AutoencoderKL"
            )
        );
        let hints: Vec<&str> = r.hints.iter().map(|h| h.path.as_str()).collect();
        assert_eq!(
            hints,
            [INDEX, "scheduler/scheduler_config.json", "unet/config.json"]
        );
    }
}
