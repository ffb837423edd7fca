//! SPDX licence expressions as they appear in model metadata, parsed with the `spdx` crate.
//!
//! Model cards are sloppier than SPDX: Hugging Face writes ids in lower case (`apache-2.0`,
//! `bsd-3-clause`, `gpl-3.0`) and operators as `and`/`or`. Before parsing, every word is
//! matched case-insensitively against the SPDX licence and exception lists and replaced by its
//! canonical spelling, and the deprecated bare GNU ids are mapped as SPDX maps them (`GPL-3.0` →
//! `GPL-3.0-only`, `GPL-2.0+` → `GPL-2.0-or-later`). The `spdx` crate's own "imprecise names"
//! are NOT used: they match prefixes (`bsd-3-clause` would become `BSD-2-Clause`), which is
//! wrong for a licence gate.
//!
//! A single word made of letters, digits, `-` and `.` that is not an SPDX id (Hugging Face's
//! `llama3`, `other`) is not an SPDX expression; it still matches a list entry
//! `LicenseRef-<word>`, so a team can decide about such licences explicitly.

use spdx::expression::ExprNode;
use spdx::{Expression, LicenseItem, LicenseReq, ParseMode};

/// How expressions are parsed after normalisation: no prefix guessing, unknown ids rejected.
const MODE: ParseMode = ParseMode {
    allow_slash_as_or_operator: true,
    allow_imprecise_license_names: false,
    allow_postfix_plus_on_gpl: true,
    allow_deprecated: true,
    allow_unknown: false,
};

/// A licence as a comparable key: canonical id or `LicenseRef-…`, and the exception if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    /// The licence, lower-cased for comparison (`apache-2.0`, `licenseref-llama3`).
    pub license: String,
    /// The `WITH` exception, lower-cased.
    pub addition: Option<String>,
    /// How to print it: canonical spelling (`Apache-2.0 WITH LLVM-exception`).
    pub display: String,
}

impl Key {
    fn from_req(req: &LicenseReq) -> Key {
        let license = match &req.license {
            LicenseItem::Spdx { id, .. } => id.name.to_string(),
            LicenseItem::Other(r) => match &r.doc_ref {
                Some(d) => format!("DocumentRef-{d}:LicenseRef-{}", r.lic_ref),
                None => format!("LicenseRef-{}", r.lic_ref),
            },
        };
        let addition = req.addition.as_ref().map(|a| a.to_string());
        let display = match &addition {
            Some(a) => format!("{} WITH {a}", req.license),
            None => req.license.to_string(),
        };
        Key {
            license: license.to_ascii_lowercase(),
            addition: addition.map(|a| a.to_ascii_lowercase()),
            display,
        }
    }

    /// Whether this key (from the model) is matched by a list entry: same licence, and the
    /// same exception when the entry names one (an entry without `WITH` covers any exception).
    pub fn matched_by(&self, entry: &Key) -> bool {
        self.license == entry.license
            && (entry.addition.is_none() || entry.addition == self.addition)
    }
}

/// A parsed licence string from the model.
#[derive(Debug)]
pub enum Parsed {
    /// A valid SPDX expression.
    Expr(Expression),
    /// A single non-SPDX word, usable only through a `LicenseRef-<word>` list entry.
    Word {
        /// The word as written.
        word: String,
        /// Its `LicenseRef-<word>` key.
        key: Key,
        /// Why it is not SPDX.
        reason: String,
    },
    /// Not an SPDX expression at all.
    Invalid(String),
}

/// Parses a licence string from the model.
pub fn parse(text: &str) -> Parsed {
    let normal = normalize(text);
    match Expression::parse_mode(&normal, MODE) {
        Ok(e) => Parsed::Expr(e),
        Err(e) => {
            let reason = describe_error(&normal, &e);
            let word = text.trim();
            // Only words that are valid LicenseRef idstrings can be referred to that way.
            let is_word = !word.is_empty()
                && word
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.'));
            match (
                is_word,
                Expression::parse_mode(&format!("LicenseRef-{word}"), MODE),
            ) {
                (true, Ok(e)) => match e.requirements().next() {
                    Some(r) => Parsed::Word {
                        word: word.to_string(),
                        key: Key::from_req(&r.req),
                        reason,
                    },
                    None => Parsed::Invalid(reason),
                },
                _ => Parsed::Invalid(reason),
            }
        }
    }
}

/// Parses a list entry of the settings: exactly one licence, optionally `WITH` an exception.
pub fn parse_entry(text: &str) -> Result<Key, String> {
    let normal = normalize(text);
    let e = Expression::parse_mode(&normal, MODE).map_err(|e| {
        format!(
            "{text:?} is not an SPDX licence id ({})",
            describe_error(&normal, &e)
        )
    })?;
    let mut reqs = e.requirements();
    match (reqs.next(), reqs.next()) {
        (Some(r), None) => Ok(Key::from_req(&r.req)),
        _ => Err(format!(
            "{text:?} is an expression; list single licence ids (one entry each)"
        )),
    }
}

/// The distinct licences an expression mentions, in order.
pub fn keys(e: &Expression) -> Vec<Key> {
    let mut out: Vec<Key> = Vec::new();
    for node in e.iter() {
        if let ExprNode::Req(r) = node {
            let k = Key::from_req(&r.req);
            if !out.contains(&k) {
                out.push(k);
            }
        }
    }
    out
}

/// Whether the expression can be satisfied choosing only licences `ok` accepts (`OR`: any
/// alternative; `AND`: all).
pub fn satisfiable(e: &Expression, mut ok: impl FnMut(&Key) -> bool) -> bool {
    e.evaluate(|req| ok(&Key::from_req(req)))
}

/// One-line reason for a parse error, naming the offending term.
fn describe_error(normal: &str, e: &spdx::ParseError) -> String {
    let term = normal.get(e.span.clone()).unwrap_or("").trim();
    if term.is_empty() {
        e.reason.to_string()
    } else {
        format!("{} at {term:?}", e.reason)
    }
}

/// Rewrites words to canonical SPDX spelling; separators are kept as they are.
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let mut word = String::new();
    for c in text.chars() {
        if c.is_whitespace() || matches!(c, '(' | ')' | '/') {
            out.push_str(&canonical_word(&word));
            word.clear();
            out.push(c);
        } else {
            word.push(c);
        }
    }
    out.push_str(&canonical_word(&word));
    out
}

fn canonical_word(w: &str) -> String {
    if w.is_empty() {
        return String::new();
    }
    for op in ["AND", "OR", "WITH"] {
        if w.eq_ignore_ascii_case(op) {
            return op.to_string();
        }
    }
    let (base, plus) = match w.strip_suffix('+') {
        Some(b) => (b, true),
        None => (w, false),
    };
    if let Some(lic) = spdx::identifiers::LICENSES
        .iter()
        .find(|l| l.name.eq_ignore_ascii_case(base))
    {
        // SPDX deprecated the bare GNU ids: `GPL-2.0` means `GPL-2.0-only`, `GPL-2.0+` means
        // `GPL-2.0-or-later`. Map them so lists written with current ids match.
        let suffix = if plus { "-or-later" } else { "-only" };
        let modern = format!("{}{suffix}", lic.name);
        if spdx::license_id(&modern).is_some()
            && spdx::license_id(lic.name).is_some_and(|id| id.is_deprecated())
        {
            return modern;
        }
        return format!("{}{}", lic.name, if plus { "+" } else { "" });
    }
    if let Some(exc) = spdx::identifiers::EXCEPTIONS
        .iter()
        .find(|e| e.name.eq_ignore_ascii_case(w))
    {
        return exc.name.to_string();
    }
    for prefix in ["LicenseRef-", "DocumentRef-", "AdditionRef-"] {
        if w.len() >= prefix.len() && w[..prefix.len()].eq_ignore_ascii_case(prefix) {
            // `DocumentRef-x:LicenseRef-y`: fix the case of the inner prefix too.
            let rest = &w[prefix.len()..];
            let rest = match rest.split_once(':') {
                Some((d, r)) => format!("{d}:{}", canonical_word(r)),
                None => rest.to_string(),
            };
            return format!("{prefix}{rest}");
        }
    }
    w.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expr(s: &str) -> Expression {
        match parse(s) {
            Parsed::Expr(e) => e,
            other => panic!("{s}: {other:?}"),
        }
    }
    fn names(s: &str) -> Vec<String> {
        keys(&expr(s)).into_iter().map(|k| k.display).collect()
    }

    #[test]
    fn hugging_face_spellings() {
        assert_eq!(names("apache-2.0"), ["Apache-2.0"]);
        assert_eq!(names("mit"), ["MIT"]);
        assert_eq!(names("bsd-3-clause"), ["BSD-3-Clause"]);
        assert_eq!(names("cc-by-nc-4.0"), ["CC-BY-NC-4.0"]);
        assert_eq!(names("gpl-3.0"), ["GPL-3.0-only"]);
        assert_eq!(names("GPL-2.0+"), ["GPL-2.0-or-later"]);
        assert_eq!(names("lgpl-2.1"), ["LGPL-2.1-only"]);
        assert_eq!(names("mit or apache-2.0"), ["MIT", "Apache-2.0"]);
        assert_eq!(names("MIT/Apache-2.0"), ["MIT", "Apache-2.0"]);
        assert_eq!(
            names("Apache-2.0 with llvm-exception"),
            ["Apache-2.0 WITH LLVM-exception"]
        );
        assert_eq!(names("licenseref-internal"), ["LicenseRef-internal"]);
        assert_eq!(
            names("(MIT AND Zlib) OR Unlicense"),
            ["MIT", "Zlib", "Unlicense"]
        );
    }

    #[test]
    fn non_spdx_words() {
        for (w, key) in [
            ("llama3", "licenseref-llama3"),
            ("other", "licenseref-other"),
        ] {
            match parse(w) {
                Parsed::Word {
                    word,
                    key: k,
                    reason,
                } => {
                    assert_eq!(word, w);
                    assert_eq!(k.license, key);
                    assert!(reason.contains(w), "{reason}");
                }
                other => panic!("{w}: {other:?}"),
            }
        }
        assert!(matches!(parse("openrail++"), Parsed::Invalid(_)));
        assert!(matches!(parse("MIT AND"), Parsed::Invalid(_)));
        assert!(matches!(parse("see LICENSE file"), Parsed::Invalid(_)));
        assert!(matches!(parse(""), Parsed::Invalid(_)));
    }

    #[test]
    fn evaluation() {
        let e = expr("MIT OR GPL-3.0-only");
        assert!(satisfiable(&e, |k| k.license == "mit"));
        let e = expr("MIT AND GPL-3.0-only");
        assert!(!satisfiable(&e, |k| k.license == "mit"));
    }

    #[test]
    fn entries() {
        assert_eq!(parse_entry("apache-2.0").unwrap().display, "Apache-2.0");
        assert_eq!(
            parse_entry("LicenseRef-llama3").unwrap().license,
            "licenseref-llama3"
        );
        assert!(
            parse_entry("MIT OR Zlib")
                .unwrap_err()
                .contains("is an expression")
        );
        assert!(
            parse_entry("Apache2")
                .unwrap_err()
                .contains("is not an SPDX licence id")
        );
        let with = parse_entry("Apache-2.0 WITH LLVM-exception").unwrap();
        let plain = parse_entry("Apache-2.0").unwrap();
        let model = keys(&expr("Apache-2.0 WITH LLVM-exception")).remove(0);
        assert!(model.matched_by(&with));
        assert!(model.matched_by(&plain));
        let bare = keys(&expr("Apache-2.0")).remove(0);
        assert!(!bare.matched_by(&with));
    }
}
