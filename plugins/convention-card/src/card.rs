//! The model card (`README.md`): YAML front matter (`license`, `language`, `pipeline_tag`,
//! `model_name`/`model-index`, `created_at`/`release_date`, `base_model`, `datasets`) and the first `# Heading`.
//!
//! The front matter is read with `serde_norway` (YAML 1.2 core schema: `no`, `on`, `yes`
//! stay strings) into a generic value, then each field is picked leniently: a field of an
//! unexpected shape is ignored with a warning, never failing the run. YAML turns an unquoted
//! `1.10` into the number 1.1; where a text field holds a number the text is rebuilt from the
//! number and a warning says to quote it. Duplicate keys keep the last value (serde_norway's
//! behaviour; serde-saphyr would refuse them but costs ~5x the build time).

use serde_norway::Value;

/// What a model card says.
#[derive(Debug, Default, Clone)]
pub struct Card {
    /// `license` (one id or a list), as written.
    pub licenses: Vec<String>,
    /// `license_name` (for `license: other`).
    pub license_name: Option<String>,
    /// `language` entries, as written.
    pub languages: Vec<String>,
    /// `pipeline_tag`.
    pub pipeline_tag: Option<String>,
    /// A model name and the key it came from.
    pub name: Option<(String, &'static str)>,
    /// The first level-1 heading of the body.
    pub title: Option<String>,
    /// A creation date-time and the key it came from.
    pub created: Option<(String, &'static str)>,
    /// `base_model` (one id or a list): the models this one derives from.
    pub base_models: Vec<String>,
    /// `datasets` (one id or a list): what it was trained or tuned on.
    pub datasets: Vec<String>,
    /// Problems worth showing (bad YAML, numbers where text was expected…).
    pub warnings: Vec<String>,
}

/// Splits `---\n…\n---` front matter from the body.
fn split_front_matter(text: &str) -> (Option<&str>, &str) {
    let t = text.strip_prefix('\u{feff}').unwrap_or(text);
    let Some(rest) = t
        .strip_prefix("---")
        .filter(|r| r.starts_with('\n') || r.starts_with("\r\n"))
    else {
        return (None, t);
    };
    let mut offset = 0;
    for line in rest.split_inclusive('\n') {
        let bare = line.trim_end_matches(['\r', '\n']);
        if offset > 0 && (bare == "---" || bare == "...") {
            return (Some(&rest[..offset]), &rest[offset + line.len()..]);
        }
        offset += line.len();
    }
    (None, t)
}

/// Parses a model card's text.
pub fn parse(source: &str) -> Card {
    let mut card = Card::default();
    let (fm, body) = split_front_matter(source);
    card.title = title(body);
    let Some(fm) = fm else {
        return card;
    };
    let doc: Value = match serde_norway::from_str(fm) {
        Ok(v) => v,
        Err(e) => {
            card.warnings
                .push(format!("front matter is not valid YAML ({e}); ignored"));
            return card;
        }
    };
    if doc.is_null() {
        return card;
    }
    if !doc.is_mapping() {
        card.warnings
            .push("front matter is not a YAML mapping; ignored".into());
        return card;
    }
    let w = &mut card.warnings;
    card.licenses = texts(&doc, "license", w);
    card.license_name = text(&doc, "license_name", w);
    card.languages = texts(&doc, "language", w);
    card.pipeline_tag = text(&doc, "pipeline_tag", w);
    card.base_models = texts(&doc, "base_model", w);
    card.datasets = texts(&doc, "datasets", w);
    card.name = text(&doc, "model_name", w)
        .map(|n| (n, "model_name"))
        .or_else(|| {
            let first = doc.get("model-index")?.as_sequence()?.first()?;
            Some((text(first, "name", w)?, "model-index[0].name"))
        })
        .filter(|(n, _)| !n.trim().is_empty());
    card.created = text(&doc, "created_at", w)
        .map(|c| (c, "created_at"))
        .or_else(|| text(&doc, "release_date", w).map(|c| (c, "release_date")));
    card
}

/// A text field; numbers and booleans are turned back into text with a warning.
fn text(map: &Value, key: &str, warnings: &mut Vec<String>) -> Option<String> {
    scalar(map.get(key)?, key, warnings)
}

fn scalar(v: &Value, key: &str, warnings: &mut Vec<String>) -> Option<String> {
    match v {
        Value::String(s) => Some(s.trim().to_string()),
        Value::Number(n) => {
            warnings.push(format!(
                "front matter `{key}` is the YAML number {n}; quote it if the text differs \
                 (YAML reads 1.10 as 1.1)"
            ));
            Some(n.to_string())
        }
        Value::Bool(b) => {
            warnings.push(format!("front matter `{key}` is the boolean {b}; quote it"));
            Some(b.to_string())
        }
        Value::Null => None,
        _ => {
            warnings.push(format!("front matter `{key}` is not text; ignored"));
            None
        }
    }
}

/// A field that may be one text or a list of them.
fn texts(map: &Value, key: &str, warnings: &mut Vec<String>) -> Vec<String> {
    match map.get(key) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Sequence(items)) => items
            .iter()
            .filter_map(|v| scalar(v, key, warnings))
            .filter(|s| !s.is_empty())
            .collect(),
        Some(v) => scalar(v, key, warnings)
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect(),
    }
}

/// Headings that describe a section, not the model.
const GENERIC_TITLES: &[&str] = &[
    "introduction",
    "overview",
    "model card",
    "model details",
    "model description",
    "model summary",
    "usage",
    "description",
    "summary",
    "about",
    "quickstart",
    "readme",
];

/// The first level-1 heading (`# X` or `<h1 …>X</h1>`) outside code fences, cleaned; `None`
/// for generic section titles.
pub fn title(body: &str) -> Option<String> {
    let mut fenced = false;
    for line in body.lines() {
        let l = line.trim();
        if l.starts_with("```") || l.starts_with("~~~") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        let raw = if let Some(h) = l.strip_prefix("# ") {
            h.trim().trim_end_matches('#').trim().to_string()
        } else if l.to_ascii_lowercase().starts_with("<h1") {
            let start = l.find('>')? + 1;
            let end = l.to_ascii_lowercase().find("</h1>")?;
            l.get(start..end)?.trim().to_string()
        } else {
            continue;
        };
        let cleaned = raw.replace("**", "").replace('`', "");
        let cleaned = cleaned
            .strip_prefix("Model Card for ")
            .or_else(|| cleaned.strip_prefix("Model card for "))
            .unwrap_or(&cleaned)
            .trim()
            .to_string();
        let generic = GENERIC_TITLES.contains(&cleaned.to_ascii_lowercase().as_str());
        if cleaned.is_empty() || cleaned.len() > 120 || generic || cleaned.contains('<') {
            return None;
        }
        return Some(cleaned);
    }
    None
}

/// A side of a pipeline: the modalities, or `None` when the tag leaves it open.
pub type Modalities = Option<&'static [&'static str]>;

/// Input and output modalities a `pipeline_tag` fixes; `None` on a side the tag leaves open
/// (classification outputs labels, which no modality describes).
pub fn pipeline_modalities(tag: &str) -> Option<(Modalities, Modalities)> {
    const T: &[&str] = &["text"];
    const I: &[&str] = &["image"];
    const A: &[&str] = &["audio"];
    const V: &[&str] = &["video"];
    const E: &[&str] = &["embedding"];
    const IT: &[&str] = &["image", "text"];
    const VT: &[&str] = &["video", "text"];
    Some(match tag {
        "text-generation"
        | "text2text-generation"
        | "summarization"
        | "translation"
        | "question-answering"
        | "table-question-answering"
        | "fill-mask"
        | "conversational" => (Some(T), Some(T)),
        "feature-extraction" | "sentence-similarity" => (Some(T), Some(E)),
        "image-feature-extraction" => (Some(I), Some(E)),
        "text-classification" | "token-classification" | "zero-shot-classification" => {
            (Some(T), None)
        }
        "image-to-text" => (Some(I), Some(T)),
        "image-text-to-text" | "visual-question-answering" | "document-question-answering" => {
            (Some(IT), Some(T))
        }
        "video-text-to-text" => (Some(VT), Some(T)),
        "text-to-image" => (Some(T), Some(I)),
        "image-to-image" | "depth-estimation" => (Some(I), Some(I)),
        "image-classification"
        | "object-detection"
        | "image-segmentation"
        | "zero-shot-object-detection" => (Some(I), None),
        "zero-shot-image-classification" => (Some(IT), None),
        "text-to-speech" | "text-to-audio" => (Some(T), Some(A)),
        "automatic-speech-recognition" => (Some(A), Some(T)),
        "audio-to-audio" => (Some(A), Some(A)),
        "audio-classification" | "voice-activity-detection" => (Some(A), None),
        "text-to-video" => (Some(T), Some(V)),
        "image-to-video" => (Some(I), Some(V)),
        "video-classification" => (Some(V), None),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn front_matter_fields() {
        let c = parse(
            "---\nlicense: apache-2.0\nlanguage:\n- en\n- no\n- on\npipeline_tag: text-generation\n\
             model-index:\n- name: tiny-7b\n  results: []\n---\n\n# Tiny 7B\n\ntext\n",
        );
        assert_eq!(c.licenses, ["apache-2.0"]);
        assert_eq!(c.languages, ["en", "no", "on"]);
        assert_eq!(c.pipeline_tag.as_deref(), Some("text-generation"));
        assert_eq!(c.name, Some(("tiny-7b".into(), "model-index[0].name")));
        assert_eq!(c.title.as_deref(), Some("Tiny 7B"));
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    }

    #[test]
    fn numbers_where_text_expected_warn() {
        let c = parse("---\nmodel_name: 1.10\nlicense: [mit, 3]\n---\n");
        assert_eq!(c.name.as_ref().unwrap().0, "1.1");
        assert_eq!(c.licenses, ["mit", "3"]);
        assert_eq!(c.warnings.len(), 2, "{:?}", c.warnings);
        assert!(c.warnings[0].contains("quote"));
    }

    #[test]
    fn bad_yaml_is_a_warning() {
        let c = parse("---\nlicense: [mit\n---\n# X\n");
        assert!(c.licenses.is_empty());
        assert_eq!(c.warnings.len(), 1);
        assert_eq!(c.title.as_deref(), Some("X"));
        let c = parse("---\n- a\n- b\n---\n");
        assert_eq!(c.warnings.len(), 1);
    }

    #[test]
    fn titles() {
        assert_eq!(
            title("## Sub\n# Model Card for Mistral-7B\n"),
            Some("Mistral-7B".into())
        );
        assert_eq!(
            title("<h1 style=\"x\">Pygmalion 7B</h1>\n"),
            Some("Pygmalion 7B".into())
        );
        assert_eq!(title("```\n# comment\n```\n# Real\n"), Some("Real".into()));
        assert_eq!(title("# Introduction\n"), None);
        assert_eq!(title("no heading\n"), None);
    }

    #[test]
    fn no_front_matter() {
        let c = parse("# Title\n---\nlicense: mit\n---\n");
        assert!(c.licenses.is_empty());
        assert_eq!(c.title.as_deref(), Some("Title"));
        assert!(parse("---\r\nlicense: mit\r\n---\r\n").licenses == ["mit"]);
    }

    #[test]
    fn pipelines() {
        assert_eq!(
            pipeline_modalities("text-generation"),
            Some((Some(&["text"][..]), Some(&["text"][..])))
        );
        assert_eq!(pipeline_modalities("image-classification").unwrap().1, None);
        assert_eq!(pipeline_modalities("any-to-any"), None);
    }
}
