//! Hugging Face licence ids (model-card `license:`) as SPDX expressions.
//!
//! Hand-written over the `spdx` crate's id tables rather than `spdx::Expression::parse`:
//! Hugging Face ids are lowercase and `spdx`'s lax mode would also accept names that are not
//! ids; here every token is matched case-insensitively against the list and written in its
//! SPDX spelling, and anything else becomes a `LicenseRef-`.
//!
//! Mapping rules for an id:
//! - an SPDX id or expression, matched case-insensitively (`apache-2.0` → `Apache-2.0`,
//!   `mit OR apache-2.0`), is written in SPDX spelling;
//! - the GNU ids Hugging Face uses (`gpl-3.0`, `lgpl-2.1`, `agpl-3.0`) are the SPDX ids those
//!   spellings were deprecated in favour of: `-only` (the old ids meant "only");
//! - `unknown` is dropped; `other` becomes `LicenseRef-<license_name>` when the card names
//!   it, else `LicenseRef-other`;
//! - any other id (`llama3`, `gemma`, `openrail++`, `bigscience-openrail-m`) is not on the
//!   SPDX list and becomes `LicenseRef-<id>`: still a valid SPDX expression, and the id is
//!   kept.

use modelpack_spec::license::{canonical_license, sanitize_ref};

/// How an id was mapped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mapped {
    /// A valid SPDX expression (list id or `LicenseRef-`).
    Spdx(String),
    /// Nothing to record (`unknown`, empty).
    Dropped,
}

/// Maps one licence id or expression (`license_name` is the card's name for `other`).
pub fn to_spdx(id: &str, license_name: Option<&str>) -> Mapped {
    let id = id.trim();
    let lower = id.to_ascii_lowercase();
    match lower.as_str() {
        "" | "unknown" | "none" | "noassertion" => return Mapped::Dropped,
        "other" => {
            let name = license_name.map(sanitize_ref).filter(|n| !n.is_empty());
            return Mapped::Spdx(format!(
                "LicenseRef-{}",
                name.unwrap_or_else(|| "other".into())
            ));
        }
        _ => {}
    }
    let gnu = [
        ("gpl-2.0", "GPL-2.0-only"),
        ("gpl-3.0", "GPL-3.0-only"),
        ("lgpl-2.1", "LGPL-2.1-only"),
        ("lgpl-3.0", "LGPL-3.0-only"),
        ("agpl-3.0", "AGPL-3.0-only"),
        ("gfdl-1.3", "GFDL-1.3-only"),
    ];
    if let Some((_, spdx)) = gnu.iter().find(|(hf, _)| *hf == lower) {
        return Mapped::Spdx((*spdx).to_string());
    }
    match canonical_license(id) {
        Ok(expr) => Mapped::Spdx(expr),
        Err(_) => Mapped::Spdx(format!("LicenseRef-{}", sanitize_ref(id))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spdx(id: &str) -> String {
        match to_spdx(id, None) {
            Mapped::Spdx(s) => s,
            Mapped::Dropped => "<dropped>".into(),
        }
    }

    #[test]
    fn hugging_face_ids() {
        assert_eq!(spdx("apache-2.0"), "Apache-2.0");
        assert_eq!(spdx("mit"), "MIT");
        assert_eq!(spdx("cc-by-nc-sa-4.0"), "CC-BY-NC-SA-4.0");
        assert_eq!(spdx("bsd-3-clause-clear"), "BSD-3-Clause-Clear");
        assert_eq!(spdx("gpl-3.0"), "GPL-3.0-only");
        assert_eq!(spdx("agpl-3.0"), "AGPL-3.0-only");
        assert_eq!(spdx("openrail++"), "LicenseRef-openrail-plus-plus");
        assert_eq!(spdx("llama3.1"), "LicenseRef-llama3.1");
        assert_eq!(
            spdx("bigscience-openrail-m"),
            "LicenseRef-bigscience-openrail-m"
        );
        assert_eq!(spdx("unknown"), "<dropped>");
        assert_eq!(spdx("other"), "LicenseRef-other");
        assert_eq!(
            to_spdx("other", Some("qwen research")),
            Mapped::Spdx("LicenseRef-qwen-research".into())
        );
        assert_eq!(spdx("mit or apache-2.0"), "MIT OR Apache-2.0");
        for id in ["apache-2.0", "llama3", "openrail++", "other", "gpl-2.0"] {
            assert!(spdx::Expression::parse(&spdx(id)).is_ok(), "{id}");
        }
    }
}
