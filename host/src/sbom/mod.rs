//! `modelpack sbom`: an AI bill of materials for a model directory, in CycloneDX 1.6 or SPDX
//! 3.0.1, from the facts `generate` and the format plugins produce ([`facts`]).
//!
//! Output is deterministic: keys sorted, lists sorted, ids derived from the model's content,
//! and no clock — a timestamp appears only when `--created` or `SOURCE_DATE_EPOCH` gives one
//! (SPDX requires `created`: without either it takes the model's `createdAt`, else the Unix
//! epoch).

pub mod attach;
pub mod cyclonedx;
pub mod facts;
pub mod spdx;

use std::path::Path;

use anyhow::Result;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::generate::{self, GenerateOptions};
use crate::model::LayerFormat;
use crate::plugin::PluginSet;
pub use facts::ModelFacts;

/// The SBOM formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// CycloneDX 1.6 JSON.
    CycloneDx,
    /// SPDX 3.0.1 JSON-LD.
    Spdx,
}

impl Format {
    /// The media type of a document in this format (for referrers).
    pub fn media_type(self) -> &'static str {
        match self {
            Format::CycloneDx => "application/vnd.cyclonedx+json",
            Format::Spdx => "application/spdx+json",
        }
    }
}

/// When the SBOM says it was made: `--created` or `SOURCE_DATE_EPOCH`, else nothing.
#[derive(Debug, Clone, Default)]
pub struct Created {
    /// `YYYY-MM-DDTHH:MM:SSZ`.
    pub at: Option<String>,
}

impl Created {
    /// From `--created` (which wins) and `SOURCE_DATE_EPOCH`.
    pub fn new(flag: Option<&str>, epoch: Option<&str>) -> Result<Created> {
        if let Some(c) = flag {
            if !is_utc_seconds(c) {
                anyhow::bail!(
                    "--created {c:?}: write it as YYYY-MM-DDTHH:MM:SSZ (UTC, whole seconds)"
                );
            }
            return Ok(Created {
                at: Some(c.to_string()),
            });
        }
        if let Some(e) = epoch {
            let secs: u64 = e
                .trim()
                .parse()
                .map_err(|_| anyhow::anyhow!("SOURCE_DATE_EPOCH={e:?}: not a number of seconds"))?;
            let t = crate::validate::datetime::from_unix(secs)
                .ok_or_else(|| anyhow::anyhow!("SOURCE_DATE_EPOCH={e}: out of range"))?;
            return Ok(Created { at: Some(t) });
        }
        Ok(Created::default())
    }
}

/// Whether `t` is `YYYY-MM-DDTHH:MM:SSZ`, the form both formats accept everywhere.
pub fn is_utc_seconds(t: &str) -> bool {
    let b = t.as_bytes();
    b.len() == 20
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'Z',
            _ => c.is_ascii_digit(),
        })
        && crate::validate::datetime::check(t).is_ok()
}

/// An http(s) URL without spaces: the only URLs written into an SBOM.
pub fn url_ok(u: &str) -> bool {
    (u.starts_with("https://") || u.starts_with("http://"))
        && u.len() > 8
        && !u
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '"')
}

/// How the declared licences are written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Licences {
    /// One SPDX expression (some entry has AND/OR/WITH).
    Expression(String),
    /// Each entry alone: (SPDX id if it is one, the text as written).
    List(Vec<(Option<String>, String)>),
}

impl Licences {
    /// No licence declared.
    pub fn is_empty(&self) -> bool {
        matches!(self, Licences::List(v) if v.is_empty())
    }
}

/// Sorts `descriptor.licenses` into SPDX ids, expressions and free names.
pub fn licence_choices(licences: &[String]) -> Licences {
    let canon: Vec<Option<String>> = licences
        .iter()
        .map(|l| crate::validate::rules::canonical_license(l).ok())
        .collect();
    let compound = canon
        .iter()
        .flatten()
        .any(|c| c.contains(' ') || c.starts_with("LicenseRef-"));
    if compound && canon.iter().all(Option::is_some) {
        let parts: Vec<String> = canon
            .into_iter()
            .flatten()
            .map(|c| {
                if c.contains(' ') && licences.len() > 1 {
                    format!("({c})")
                } else {
                    c
                }
            })
            .collect();
        return Licences::Expression(parts.join(" AND "));
    }
    Licences::List(
        licences
            .iter()
            .zip(canon)
            .map(|(l, c)| (c.filter(|c| !c.contains(' ')), l.clone()))
            .collect(),
    )
}

/// The facts for a model directory: `generate` with one raw layer per file (so every layer
/// digest is a file digest), then the plugin reports and the card. Returns the facts and the
/// warnings `generate` had.
pub fn facts_for_dir(dir: &Path, plugins: &PluginSet) -> Result<(ModelFacts, Vec<String>)> {
    let opts = GenerateOptions {
        layer_format: LayerFormat::Raw,
        ..GenerateOptions::default()
    };
    let g = generate::generate(dir, &opts, plugins)?;
    Ok((facts::collect(dir, &g), g.warnings))
}

/// Renders the SBOM: pretty JSON with sorted keys and a trailing newline. A CycloneDX
/// `serialNumber` is a UUID derived from the rest of the document.
pub fn render(format: Format, f: &ModelFacts, created: &Created) -> Vec<u8> {
    let mut doc = match format {
        Format::CycloneDx => cyclonedx::document(f, created),
        Format::Spdx => spdx::document(f, created),
    };
    if format == Format::CycloneDx {
        let body = serde_json::to_vec(&doc).expect("a JSON value always serialises");
        let mut u: [u8; 16] = Sha256::digest(&body)[..16].try_into().expect("16 bytes");
        // RFC 4122 version 5 (name-based, SHA) and variant bits.
        u[6] = (u[6] & 0x0f) | 0x50;
        u[8] = (u[8] & 0x3f) | 0x80;
        let h = hex::encode(u);
        let uuid = format!(
            "urn:uuid:{}-{}-{}-{}-{}",
            &h[0..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..32]
        );
        doc.as_object_mut()
            .expect("the document is an object")
            .insert("serialNumber".into(), Value::String(uuid));
    }
    let mut out = serde_json::to_vec_pretty(&doc).expect("a JSON value always serialises");
    out.push(b'\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn licences_become_ids_expressions_or_names() {
        let l = |v: &[&str]| licence_choices(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(
            l(&["apache-2.0"]),
            Licences::List(vec![(Some("Apache-2.0".into()), "apache-2.0".into())])
        );
        assert_eq!(
            l(&["MIT OR Apache-2.0"]),
            Licences::Expression("MIT OR Apache-2.0".into())
        );
        assert_eq!(
            l(&["llama3", "MIT"]),
            Licences::List(vec![
                (None, "llama3".into()),
                (Some("MIT".into()), "MIT".into())
            ])
        );
    }

    #[test]
    fn only_utc_whole_seconds_pass() {
        assert!(is_utc_seconds("2024-05-01T12:00:00Z"));
        assert!(!is_utc_seconds("2024-05-01T12:00:00+02:00"));
        assert!(!is_utc_seconds("2024-05-01T12:00:00.5Z"));
        assert!(!is_utc_seconds("2024-13-01T12:00:00Z"));
    }
}
