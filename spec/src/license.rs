//! SPDX licence expressions as the spec's `config.licenses` holds them.
//!
//! Hand-written over the `spdx` crate's id tables rather than `spdx::Expression::parse` in
//! lax mode: lax mode guesses by prefix (`bsd-3-clause` would become `BSD-2-Clause`); here
//! every token is matched case-insensitively against the list and written in its SPDX
//! spelling, and anything else is an error that says how to write it as a `LicenseRef-`.

/// An SPDX licence expression. Identifiers match case-insensitively, as the SPDX spec says
/// (so Hugging Face's `apache-2.0` is `Apache-2.0`); `LicenseRef-…` is accepted. Returns
/// warnings for deprecated identifiers (`GPL-2.0` rather than `GPL-2.0-only`).
pub fn license(expr: &str) -> Result<Vec<String>, String> {
    let canonical = canonical_license(expr)?;
    let mode = spdx::ParseMode {
        allow_deprecated: true,
        ..spdx::ParseMode::STRICT
    };
    let parsed = spdx::Expression::parse_mode(&canonical, mode)
        .map_err(|e| format!("`{expr}` is not an SPDX licence expression: {}", e.reason))?;
    let mut warnings = Vec::new();
    for req in parsed.requirements() {
        if let spdx::LicenseItem::Spdx { id, .. } = &req.req.license
            && id.is_deprecated()
        {
            warnings.push(format!("`{}` is a deprecated SPDX identifier", id.name));
        }
    }
    Ok(warnings)
}

/// Rewrites every identifier of an expression to its SPDX spelling, matching
/// case-insensitively; unknown identifiers are an error naming them.
pub fn canonical_license(expr: &str) -> Result<String, String> {
    let spaced = expr.replace('(', " ( ").replace(')', " ) ");
    let mut out = Vec::new();
    let mut after_with = false;
    for tok in spaced.split_whitespace() {
        let upper = tok.to_ascii_uppercase();
        if matches!(upper.as_str(), "AND" | "OR" | "WITH") {
            after_with = upper == "WITH";
            out.push(upper);
            continue;
        }
        if tok == "(" || tok == ")" {
            out.push(tok.to_string());
            continue;
        }
        if after_with {
            after_with = false;
            let Some(e) = spdx::identifiers::EXCEPTIONS
                .iter()
                .find(|e| e.name.eq_ignore_ascii_case(tok))
            else {
                return Err(format!("`{tok}` is not an SPDX licence exception id"));
            };
            out.push(e.name.to_string());
            continue;
        }
        let lower = tok.to_ascii_lowercase();
        if lower.starts_with("licenseref-") || lower.starts_with("documentref-") {
            let ok = tok
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b':'));
            if !ok {
                return Err(format!(
                    "`{tok}`: a LicenseRef may hold only letters, digits, `-` and `.`"
                ));
            }
            out.push(tok.to_string());
            continue;
        }
        let (base, plus) = match tok.strip_suffix('+') {
            Some(b) => (b, "+"),
            None => (tok, ""),
        };
        match spdx::identifiers::LICENSES
            .iter()
            .find(|l| l.name.eq_ignore_ascii_case(base))
        {
            Some(l) => out.push(format!("{}{plus}", l.name)),
            None => {
                return Err(format!(
                    "`{tok}` is not an SPDX licence id (a licence outside the SPDX list can be \
                     written `LicenseRef-{}`)",
                    sanitize_ref(tok)
                ));
            }
        }
    }
    if out.is_empty() {
        return Err("an empty licence expression".to_string());
    }
    Ok(out.join(" "))
}

/// `idstring` characters only (letters, digits, `-`, `.`): what may follow `LicenseRef-`.
pub fn sanitize_ref(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '.' | '-' => out.push(c),
            '+' => out.push_str("-plus"),
            _ => {
                if !out.ends_with('-') {
                    out.push('-')
                }
            }
        }
    }
    out.trim_matches('-').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_spellings() {
        assert_eq!(canonical_license("apache-2.0").unwrap(), "Apache-2.0");
        assert_eq!(
            canonical_license("(mit or apache-2.0) and LicenseRef-x").unwrap(),
            "( MIT OR Apache-2.0 ) AND LicenseRef-x"
        );
        assert_eq!(
            canonical_license("gpl-2.0+ with classpath-exception-2.0").unwrap(),
            "GPL-2.0+ WITH Classpath-exception-2.0"
        );
        assert!(canonical_license("").unwrap_err().contains("empty"));
        assert!(
            canonical_license("mit with nope")
                .unwrap_err()
                .contains("`nope`")
        );
    }

    #[test]
    fn deprecated_ids_warn() {
        assert_eq!(license("MIT").unwrap(), Vec::<String>::new());
        assert_eq!(
            license("GPL-2.0").unwrap(),
            vec!["`GPL-2.0` is a deprecated SPDX identifier".to_string()]
        );
        assert!(
            license("MIT AND")
                .unwrap_err()
                .contains("not an SPDX licence expression")
        );
    }

    #[test]
    fn sanitize_refs() {
        assert_eq!(sanitize_ref("openrail++"), "openrail-plus-plus");
        assert_eq!(sanitize_ref("my licence/v2"), "my-licence-v2");
        assert!(
            canonical_license("nope-1.0")
                .unwrap_err()
                .contains("LicenseRef-nope-1.0")
        );
    }
}
