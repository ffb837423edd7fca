//! Convention plugin `convention-license`: licence files at the model root (`LICENSE`,
//! `LICENCE`, `COPYING`, any suffix) whose text is a well-known licence ([`texts`]) give
//! `descriptor.licenses` as a heuristic (a model card's `license:` or a weight header
//! outranks it). Acceptable use policies (`USE_POLICY`, any suffix, any depth) are hinted as
//! docs.

pub mod texts;

use modelpack_plugin_sdk::convention::*;
use serde_json::json;

/// The plugin.
pub struct License;

/// An acceptable use policy that comes with a licence (Llama's `USE_POLICY.md`), at any depth:
/// a doc, also without a documentation extension.
pub const USE_POLICY: &[&str] = &["use_policy", "use_policy.*", "use_policy-*", "use_policy_*"];

/// Licence texts are read up to this many bytes (the rules match their first paragraphs).
const MAX_LICENSE: usize = 256 << 10;

impl ConventionPlugin for License {
    const INFO: &'static str = r#"{"name":"convention-license","version":"0.1.0","description":"licence texts (LICENSE, LICENCE, COPYING) recognised as SPDX ids; acceptable use policies (USE_POLICY) as docs","file_names":["license*","licence*","copying*","use_policy","use_policy.*","use_policy-*","use_policy_*"]}"#;

    fn run(files: &dyn Files, input: &ConventionInput) -> Result<ConventionReport, String> {
        let mut out = empty_report();
        for path in files_named(input, USE_POLICY) {
            out.hints.push(FileHint {
                path: path.to_string(),
                kind: FileKind::Doc,
                reason: "acceptable use policy".into(),
            });
        }
        let mut found: Vec<&str> = Vec::new();
        let mut from = Vec::new();
        let mut why = Vec::new();
        for rel in root_files(input).filter(|n| texts::is_license_file(n)) {
            // An unreadable licence file only means no heuristic from it.
            let Ok(bytes) = files.read(rel, MAX_TEXT) else {
                continue;
            };
            let text = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX_LICENSE)]);
            if let Some((id, w)) = texts::recognize(&text)
                && !found.contains(&id)
            {
                found.push(id);
                from.push(rel.to_string());
                why.push(w);
            }
        }
        if !found.is_empty() {
            out.candidates.push(candidate(
                "/descriptor/licenses",
                json!(found),
                SourceClass::Heuristic,
                Origin {
                    file: Some(from.join(", ")),
                    key: None,
                },
                Some(format!("licence text recognised: {}", why.join("; "))),
            ));
        }
        Ok(out)
    }
}

modelpack_plugin_sdk::export_convention_plugin!(License);

#[cfg(test)]
mod tests {
    use super::*;

    const APACHE: &str = "                                 Apache License\n                           Version 2.0, January 2004\n";
    const MIT: &str = "MIT License\n\nPermission is hereby granted, free of charge, to any person obtaining a copy";

    fn run(files: &[(&str, &str)]) -> ConventionReport {
        let files = MemFiles::new(files.iter().copied());
        let input = ConventionInput {
            root_names: vec![],
            locate: false,
            entries: files.entries(),
            weights: vec![],
            missing: vec![],
        };
        License::run(&files, &input).unwrap()
    }

    #[test]
    fn two_licence_files_one_candidate() {
        let r = run(&[
            ("LICENSE", APACHE),
            ("COPYING.txt", MIT),
            ("README.md", MIT),
            ("sub/LICENSE", MIT),
        ]);
        assert_eq!(r.candidates.len(), 1);
        let c = &r.candidates[0];
        assert_eq!(c.value, r#"["MIT","Apache-2.0"]"#);
        assert_eq!(c.origin.file.as_deref(), Some("COPYING.txt, LICENSE"));
        assert!(matches!(c.source, SourceClass::Heuristic));
        assert_eq!(
            c.note.as_deref(),
            Some(
                "licence text recognised: the MIT permission sentence; \"Apache License, Version 2.0\""
            )
        );
    }

    #[test]
    fn use_policies_anywhere_are_docs() {
        let r = run(&[
            ("USE_POLICY", "x"),
            ("docs/use_policy.txt", "x"),
            ("use_policy_v2.md", "x"),
            ("use_policyx", "x"),
        ]);
        let hints: Vec<&str> = r
            .hints
            .iter()
            .inspect(|h| assert!(matches!(h.kind, FileKind::Doc)))
            .map(|h| h.path.as_str())
            .collect();
        assert_eq!(
            hints,
            ["USE_POLICY", "docs/use_policy.txt", "use_policy_v2.md"]
        );
    }

    #[test]
    fn unknown_text_gives_nothing() {
        assert!(
            run(&[("LICENSE", "All rights reserved.")])
                .candidates
                .is_empty()
        );
    }
}
