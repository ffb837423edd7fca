//! Convention plugin `convention-card`: the Hugging Face model card (`README.md` at the root,
//! any case): front matter `license` (Hugging Face ids mapped to SPDX, [`spdx_map`]),
//! `language` (ISO 639-1 only: `en-US` counts as `en`, others are dropped with a note),
//! `pipeline_tag` (input/output modalities), `model_name`/`model-index[0].name`,
//! `created_at`/`release_date`, and the first `# heading` as title (and, as a heuristic, name);
//! `base_model` and `datasets` as lineage (for SBOMs), with their hub URLs.
//!
//! Model cards by other names (`MODEL_CARD`, `modelcard.md`) anywhere are hinted as docs.
//!
//! The parsing is plain Rust in [`card`]; [`answer`] turns a card into candidates and runs
//! natively in the unit tests; this file's `run` is the thin adapter.

pub mod card;
pub mod spdx_map;

use modelpack_plugin_sdk::convention::*;
use modelpack_spec::iso639;
use serde_json::json;

/// The plugin.
pub struct Card;

impl ConventionPlugin for Card {
    const INFO: &'static str = r#"{"name":"convention-card","version":"0.1.0","description":"model cards: README.md front matter (license, language, pipeline_tag, name, dates) and title; MODEL_CARD files as docs","file_names":["readme.md","model_card","model_card.*","model_card-*","model_card_*","modelcard","modelcard.*","modelcard-*","modelcard_*"]}"#;

    fn run(files: &dyn Files, input: &ConventionInput) -> Result<ConventionReport, String> {
        let mut out = empty_report();
        hints(input, &mut out);
        let Some(rel) = root_files(input).find(|n| n.eq_ignore_ascii_case("readme.md")) else {
            return Ok(out);
        };
        match files.read(rel, MAX_TEXT) {
            Ok(bytes) => {
                let text = String::from_utf8_lossy(&bytes[..bytes.len().min(1 << 20)]);
                answer(rel, &card::parse(&text), &mut out);
            }
            Err(e) => out.findings.push(message(
                Severity::Warning,
                "unreadable",
                Some(rel),
                format!("{rel}: {e}"),
            )),
        }
        Ok(out)
    }
}

modelpack_plugin_sdk::export_convention_plugin!(Card);

/// Model cards under another name than README (`MODEL_CARD.md`, `modelcard-v2.txt`), at any
/// depth; the host alone would take one without a documentation extension for code.
pub const CARD_NAMES: &[&str] = &[
    "model_card",
    "model_card.*",
    "model_card-*",
    "model_card_*",
    "modelcard",
    "modelcard.*",
    "modelcard-*",
    "modelcard_*",
];

/// A doc hint for every model card named by [`CARD_NAMES`].
pub fn hints(input: &ConventionInput, out: &mut ConventionReport) {
    for path in files_named(input, CARD_NAMES) {
        out.hints.push(FileHint {
            path: path.to_string(),
            kind: FileKind::Doc,
            reason: "model card".into(),
        });
    }
}

fn note(out: &mut ConventionReport, rel: &str, text: String) {
    out.findings
        .push(message(Severity::Info, "note", Some(rel), text));
}

/// A card's candidates, warnings and notes.
pub fn answer(rel: &str, c: &card::Card, out: &mut ConventionReport) {
    let cf = SourceClass::ConventionFiles;
    for w in &c.warnings {
        out.findings.push(message(
            Severity::Warning,
            "card",
            Some(rel),
            format!("{rel}: {w}"),
        ));
    }
    if let Some(t) = &c.title {
        out.candidates.push(candidate(
            "/descriptor/name",
            json!(t),
            SourceClass::Heuristic,
            origin(rel, Some("first heading")),
            None,
        ));
    }
    if let Some((n, key)) = &c.name {
        out.candidates.push(candidate(
            "/descriptor/name",
            json!(n),
            cf,
            origin(rel, Some(key)),
            None,
        ));
    }
    if let Some(t) = &c.title {
        out.candidates.push(candidate(
            "/descriptor/title",
            json!(t),
            cf,
            origin(rel, Some("first heading")),
            None,
        ));
    }
    let mut lic = Vec::new();
    for id in &c.licenses {
        if let spdx_map::Mapped::Spdx(s) = spdx_map::to_spdx(id, c.license_name.as_deref())
            && !lic.contains(&s)
        {
            lic.push(s);
        }
    }
    if !lic.is_empty() {
        out.candidates.push(candidate(
            "/descriptor/licenses",
            json!(lic),
            cf,
            origin(rel, Some("license")),
            Some(format!("license: {} mapped to SPDX", c.licenses.join(", "))),
        ));
    }
    if let Some(tag) = &c.pipeline_tag {
        let key = format!("pipeline_tag {tag}");
        match card::pipeline_modalities(tag) {
            Some((input, output)) => {
                if let Some(i) = input {
                    out.candidates.push(candidate(
                        "/config/capabilities/inputTypes",
                        json!(i),
                        cf,
                        origin(rel, Some(&key)),
                        None,
                    ));
                }
                if let Some(o) = output {
                    out.candidates.push(candidate(
                        "/config/capabilities/outputTypes",
                        json!(o),
                        cf,
                        origin(rel, Some(&key)),
                        None,
                    ));
                }
            }
            None => note(
                out,
                rel,
                format!("config.capabilities: pipeline_tag {tag} does not fix input/output types"),
            ),
        }
    }
    if !c.languages.is_empty() {
        let mut codes: Vec<String> = Vec::new();
        let mut dropped = Vec::new();
        for l in &c.languages {
            let primary = l
                .split(['-', '_'])
                .next()
                .unwrap_or("")
                .to_ascii_lowercase();
            if iso639::is_code(&primary) {
                if !codes.contains(&primary) {
                    codes.push(primary);
                }
            } else {
                dropped.push(l.clone());
            }
        }
        if !dropped.is_empty() {
            note(
                out,
                rel,
                format!(
                    "config.capabilities.languages: not ISO 639-1, left out: {}",
                    dropped.join(", ")
                ),
            );
        }
        if !codes.is_empty() {
            out.candidates.push(candidate(
                "/config/capabilities/languages",
                json!(codes),
                cf,
                origin(rel, Some("language")),
                None,
            ));
        }
    }
    for (ids, kind, key, hub) in [
        (&c.base_models, LineageKind::BaseModel, "base_model", ""),
        (&c.datasets, LineageKind::Dataset, "datasets", "datasets/"),
    ] {
        for id in ids {
            out.lineage.push(Lineage {
                kind,
                name: id.clone(),
                organization: None,
                version: None,
                url: is_hub_id(id).then(|| format!("https://huggingface.co/{hub}{id}")),
                origin: origin(rel, Some(key)),
            });
        }
    }
    if let Some((t, key)) = &c.created {
        // A date alone is midnight UTC; the host checks the result against RFC 3339.
        let t = if is_date(t) {
            format!("{t}T00:00:00Z")
        } else {
            t.clone()
        };
        out.candidates.push(candidate(
            "/descriptor/createdAt",
            json!(t),
            cf,
            origin(rel, Some(key)),
            None,
        ));
    }
}

/// A Hugging Face hub id (`name` or `org/name`, letters, digits, `-`, `_`, `.`), whose page
/// is `https://huggingface.co/[datasets/]<id>`; anything else (a URL, free text) gets no URL.
fn is_hub_id(id: &str) -> bool {
    let parts: Vec<&str> = id.split('/').collect();
    parts.len() <= 2
        && parts.iter().all(|p| {
            !p.is_empty()
                && !p.starts_with('.')
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        })
}

/// `YYYY-MM-DD` with a plausible month and day.
fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let num = |r: std::ops::Range<usize>| s.get(r).and_then(|x| x.parse::<u32>().ok());
    matches!((num(0..4), num(5..7), num(8..10)), (Some(_), Some(m), Some(d)) if (1..=12).contains(&m) && (1..=31).contains(&d))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(readme: &str) -> ConventionReport {
        let files = MemFiles::new([("README.md", readme)]);
        let input = ConventionInput {
            root_names: vec![],
            locate: false,
            entries: files.entries(),
            weights: vec![],
            missing: vec![],
        };
        Card::run(&files, &input).unwrap()
    }

    fn get<'a>(
        r: &'a ConventionReport,
        field: &str,
        source: SourceClass,
    ) -> Option<&'a FieldCandidate> {
        r.candidates
            .iter()
            .find(|c| c.field == field && c.source == source)
    }

    #[test]
    fn model_cards_by_other_names_are_docs_without_a_readme() {
        let files = MemFiles::new([
            ("MODEL_CARD", "x"),
            ("docs/modelcard.md", "x"),
            ("Model_Card-v2", "x"),
            ("model_cards.md", "x"),
        ]);
        let input = ConventionInput {
            root_names: vec![],
            locate: false,
            entries: files.entries(),
            weights: vec![],
            missing: vec![],
        };
        let r = Card::run(&files, &input).unwrap();
        let hints: Vec<&str> = r
            .hints
            .iter()
            .inspect(|h| assert!(matches!(h.kind, FileKind::Doc)))
            .map(|h| h.path.as_str())
            .collect();
        assert_eq!(hints, ["MODEL_CARD", "Model_Card-v2", "docs/modelcard.md"]);
        assert!(r.candidates.is_empty());
    }

    #[test]
    fn a_full_card() {
        let r = run(
            "---\nlicense: [apache-2.0, llama3]\nlanguage: [en, en-US, fr, klingon]\n\
             pipeline_tag: text-generation\nmodel_name: tiny-7b\nrelease_date: 2024-05-01\n---\n\n# Tiny 7B\n",
        );
        let cf = SourceClass::ConventionFiles;
        let lic = get(&r, "/descriptor/licenses", cf).unwrap();
        assert_eq!(lic.value, r#"["Apache-2.0","LicenseRef-llama3"]"#);
        assert_eq!(lic.origin.key.as_deref(), Some("license"));
        assert_eq!(
            get(&r, "/config/capabilities/languages", cf).unwrap().value,
            r#"["en","fr"]"#
        );
        assert_eq!(
            get(&r, "/descriptor/name", cf).unwrap().value,
            r#""tiny-7b""#
        );
        assert_eq!(
            get(&r, "/descriptor/name", SourceClass::Heuristic)
                .unwrap()
                .value,
            r#""Tiny 7B""#
        );
        assert_eq!(
            get(&r, "/descriptor/createdAt", cf).unwrap().value,
            r#""2024-05-01T00:00:00Z""#
        );
        assert_eq!(
            get(&r, "/config/capabilities/outputTypes", cf)
                .unwrap()
                .value,
            r#"["text"]"#
        );
        let notes: Vec<&str> = r.findings.iter().map(|f| f.message.as_str()).collect();
        assert_eq!(
            notes,
            ["config.capabilities.languages: not ISO 639-1, left out: klingon"]
        );
    }

    #[test]
    fn bad_front_matter_is_one_warning_and_the_title_still_counts() {
        let r = run("---\nlicense: [mit\n---\n# Model X\n");
        assert_eq!(r.findings.len(), 1);
        assert!(matches!(r.findings[0].severity, Severity::Warning));
        assert!(
            r.findings[0]
                .message
                .starts_with("README.md: front matter is not valid YAML"),
            "{}",
            r.findings[0].message
        );
        assert_eq!(r.candidates.len(), 2, "name heuristic and title");
    }

    #[test]
    fn no_card_no_answer() {
        let files = MemFiles::new([("config.json", "{}")]);
        let input = ConventionInput {
            root_names: vec![],
            locate: false,
            entries: files.entries(),
            weights: vec![],
            missing: vec![],
        };
        let r = Card::run(&files, &input).unwrap();
        assert!(r.candidates.is_empty() && r.findings.is_empty());
    }

    #[test]
    fn base_models_and_datasets_are_lineage() {
        let r = run(
            "---\nbase_model:\n- meta-llama/Llama-3.1-8B\n- https://example.com/m\n\
             datasets: HuggingFaceH4/ultrachat_200k\n---\n",
        );
        let got: Vec<(bool, &str, Option<&str>, Option<&str>)> = r
            .lineage
            .iter()
            .map(|l| {
                (
                    matches!(l.kind, LineageKind::BaseModel),
                    l.name.as_str(),
                    l.url.as_deref(),
                    l.origin.key.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (
                    true,
                    "meta-llama/Llama-3.1-8B",
                    Some("https://huggingface.co/meta-llama/Llama-3.1-8B"),
                    Some("base_model")
                ),
                (true, "https://example.com/m", None, Some("base_model")),
                (
                    false,
                    "HuggingFaceH4/ultrachat_200k",
                    Some("https://huggingface.co/datasets/HuggingFaceH4/ultrachat_200k"),
                    Some("datasets")
                ),
            ]
        );
        assert!(
            r.lineage
                .iter()
                .all(|l| l.origin.file.as_deref() == Some("README.md"))
        );
    }

    #[test]
    fn dates() {
        assert!(is_date("2024-02-29"));
        assert!(!is_date("2024-13-01") && !is_date("2024-1-01") && !is_date("20240101"));
    }
}
