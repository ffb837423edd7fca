//! What the ModelPack spec's prose requires but its JSON Schema does not check: the paramSize
//! grammar, the precision vocabulary, SPDX licence expressions, ISO 639-1 codes and the OCI
//! digest grammar. Each rule returns a readable reason when it fails.

use modelpack_spec::iso639;

/// The spec's precision vocabulary (18 values), owned by the spec module.
pub use crate::model::PRECISIONS;

/// `<count><scale>`: digits, at most one decimal digit, one of Q/T/B/M/K in either case
/// (`^[0-9]+(\.[0-9])?[QqTtBbMmKk]$`). `8x7B`, `.5B`, `7` and `7.25B` are refused.
pub fn param_size(s: &str) -> Result<(), String> {
    let bad = || {
        Err(format!(
            "`{s}` is not a parameter size: a number with at most one decimal and a scale \
             letter Q, T, B, M or K (e.g. 6.7B, 100M)"
        ))
    };
    let Some(last) = s.chars().last() else {
        return bad();
    };
    if !"QqTtBbMmKk".contains(last) {
        return bad();
    }
    let number = &s[..s.len() - 1];
    let (int, frac) = match number.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (number, None),
    };
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || frac.is_some_and(|f| f.len() != 1 || !digits(f)) {
        return bad();
    }
    Ok(())
}

/// One precision word or a comma-separated list of them, without empty items or repeats.
pub fn precision(s: &str) -> Result<(), String> {
    let mut seen = Vec::new();
    for item in s.split(',') {
        if item.is_empty() {
            return Err(format!(
                "`{s}` has an empty item in its comma-separated list"
            ));
        }
        if !PRECISIONS.contains(&item) {
            let hint = if item.trim() != item {
                " (no spaces around commas)"
            } else {
                ""
            };
            return Err(format!(
                "`{item}` is not a precision the spec allows{hint}: one of {}",
                PRECISIONS.join(", ")
            ));
        }
        if seen.contains(&item) {
            return Err(format!("`{s}` lists `{item}` twice"));
        }
        seen.push(item);
    }
    Ok(())
}

/// An ISO 639-1 language code.
pub fn language(s: &str) -> Result<(), String> {
    if iso639::is_code(s) {
        Ok(())
    } else {
        Err(format!(
            "`{s}` is not an ISO 639-1 two-letter language code"
        ))
    }
}

/// An OCI digest: `algorithm ":" encoded` per the image-spec descriptor grammar; `sha256`
/// and `blake3` need 64 and `sha512` 128 lowercase hex digits. Other algorithms that fit the
/// grammar pass, as the OCI spec says they should.
pub fn digest(s: &str) -> Result<(), String> {
    let Some((alg, encoded)) = s.split_once(':') else {
        return Err(format!(
            "`{s}` is not a digest: expected `algorithm:encoded`"
        ));
    };
    let alg_ok = !alg.is_empty()
        && alg.split(['+', '.', '_', '-']).all(|c| {
            !c.is_empty()
                && c.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        });
    if !alg_ok {
        return Err(format!("`{s}`: `{alg}` is not a valid digest algorithm"));
    }
    let enc_ok = !encoded.is_empty()
        && encoded
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'=' | b'_' | b'-'));
    if !enc_ok {
        return Err(format!(
            "`{s}`: the encoded part has characters a digest may not hold"
        ));
    }
    let hex_len = match alg {
        "sha256" | "blake3" => Some(64),
        "sha512" => Some(128),
        _ => None,
    };
    if let Some(n) = hex_len {
        let hex = encoded
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if encoded.len() != n || !hex {
            return Err(format!("`{s}`: {alg} needs {n} lowercase hex digits"));
        }
    }
    Ok(())
}

pub use modelpack_spec::license::{canonical_license, license, sanitize_ref};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn param_sizes() {
        for ok in ["6.7B", "1.0t", "100m", "22.7M", "2.3K", "1Q", "0.5B"] {
            assert_eq!(param_size(ok), Ok(()), "{ok}");
        }
        for bad in [
            "7", "8x7B", ".5B", "7.25B", "7B ", "7b7", "", "B", "1,5B", "7.B", "-1B", "7G",
        ] {
            assert!(param_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn precisions() {
        for ok in [
            "bfloat16",
            "float16,float8_e4m3",
            "int8,uint8,bool",
            "complex128",
        ] {
            assert_eq!(precision(ok), Ok(()), "{ok}");
        }
        for bad in [
            "bf16",
            "",
            "float16,",
            ",int8",
            "float16,float16",
            "float16, int8",
            "fp8",
            "Float32",
        ] {
            assert!(precision(bad).is_err(), "{bad}");
        }
        assert!(precision("float16, int8").unwrap_err().contains("spaces"));
    }

    #[test]
    fn languages() {
        assert!(language("en").is_ok() && language("no").is_ok());
        assert!(language("zz").is_err() && language("eng").is_err() && language("EN").is_err());
    }

    #[test]
    fn digests() {
        let hex = "a".repeat(64);
        for ok in [
            format!("sha256:{hex}"),
            format!("sha512:{}", "0".repeat(128)),
            "multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8".to_string(),
            "sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564".to_string(),
        ] {
            assert_eq!(digest(&ok), Ok(()), "{ok}");
        }
        for bad in [
            format!("sha256:{}", "A".repeat(64)),
            format!("sha256:{}", "a".repeat(63)),
            format!("SHA256:{hex}"),
            hex.clone(),
            "sha256:".to_string(),
            format!(":{hex}"),
            format!("sha256:{hex}/"),
        ] {
            assert!(digest(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn licenses_case_insensitive() {
        assert_eq!(license("Apache-2.0"), Ok(vec![]));
        assert_eq!(license("apache-2.0"), Ok(vec![]));
        assert_eq!(license("mit OR apache-2.0"), Ok(vec![]));
        assert_eq!(
            license("(MIT AND BSD-3-Clause) or Apache-2.0 WITH llvm-exception"),
            Ok(vec![])
        );
        assert_eq!(license("LicenseRef-llama3"), Ok(vec![]));
        assert_eq!(canonical_license("cc-by-nc-4.0").unwrap(), "CC-BY-NC-4.0");
    }

    #[test]
    fn licenses_refused() {
        for bad in [
            "llama3",
            "other",
            "",
            "MIT AND",
            "MIT OR OR Apache-2.0",
            "(MIT",
            "Apache-2.0 WITH nothing",
            "LicenseRef-a b",
        ] {
            assert!(license(bad).is_err(), "{bad}");
        }
        assert!(license("llama3").unwrap_err().contains("LicenseRef-llama3"));
    }

    #[test]
    fn deprecated_licenses_warn() {
        let w = license("GPL-2.0").unwrap();
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(license("GPL-2.0-only").unwrap().is_empty());
    }

    #[test]
    fn sanitize_refs() {
        assert_eq!(sanitize_ref("openrail++"), "openrail-plus-plus");
        assert_eq!(sanitize_ref("llama3.1"), "llama3.1");
        assert_eq!(sanitize_ref("my licence/v2"), "my-licence-v2");
    }
}
