//! The signature rule over the host's verified signatures.
//!
//! The host lists only signatures that verified (with the keys `check --public-key` gave it);
//! one that is missing, by another key, or over modified files or blobs is not listed, and the
//! host reports why in its own findings. So this policy judges the list: empty is
//! `signature-missing`; signatures none of whose keys `allowedKeys` names is
//! `signature-key-not-allowed`, naming the keys found.
//!
//! Key ids are model-signing's (what `modelpack sign`/`verify` print): the hex SHA-256 of the
//! public key's SubjectPublicKeyInfo PEM text with LF line endings. `allowedKeys` entries are
//! such ids (a `sha256:` prefix is accepted) or PEM public keys, whose id is computed here
//! from the PEM re-wrapped as OpenSSL writes it (64 columns, LF), so a key pasted with CRLF
//! line endings or another wrapping still matches.

use policy_common::report::general;
use policy_common::settings;
use policy_common::{Finding, PolicyInput, Severity};
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// The settings as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawSettings {
    #[serde(default)]
    allowed_keys: Vec<String>,
    #[serde(default)]
    require_sbom: bool,
}

/// The settings, with every allowed key as its id.
#[derive(Debug, Default)]
pub struct Settings {
    /// Allowed key ids (64 lowercase hex digits); empty: any verified signature.
    pub allowed: Vec<String>,
    /// Whether an SBOM must be attached.
    pub require_sbom: bool,
}

impl Settings {
    /// Parses the settings JSON.
    pub fn parse(json: &str) -> Result<Settings, String> {
        let raw: RawSettings = settings::parse(json)?;
        let allowed = raw
            .allowed_keys
            .iter()
            .enumerate()
            .map(|(i, k)| key_id(k).map_err(|e| format!("invalid settings: allowedKeys[{i}]: {e}")))
            .collect::<Result<_, _>>()?;
        Ok(Settings {
            allowed,
            require_sbom: raw.require_sbom,
        })
    }
}

/// The key id an `allowedKeys` entry names: a hex id as is, a PEM public key hashed.
pub fn key_id(entry: &str) -> Result<String, String> {
    let t = entry.trim();
    if t.contains("-----BEGIN") {
        return pem_id(t);
    }
    let hex = t.strip_prefix("sha256:").unwrap_or(t).to_ascii_lowercase();
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        let shown: String = t.chars().take(80).collect();
        return Err(format!(
            "{shown:?} is neither a key id (64 hex digits, as `modelpack sign` prints) nor a PEM public key"
        ));
    }
    Ok(hex)
}

/// model-signing's id of a PEM public key: SHA-256 of the canonical PEM text.
fn pem_id(text: &str) -> Result<String, String> {
    const BEGIN: &str = "-----BEGIN PUBLIC KEY-----";
    const END: &str = "-----END PUBLIC KEY-----";
    let start = text.find(BEGIN).ok_or_else(|| {
        "a PEM block that is not `PUBLIC KEY` (give the public key: openssl ec -pubout)".to_string()
    })? + BEGIN.len();
    let stop = text[start..]
        .find(END)
        .ok_or("a PEM public key without its END line")?
        + start;
    let body: String = text[start..stop]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    if body.is_empty()
        || !body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
    {
        return Err("a PEM public key whose body is not base64".into());
    }
    let mut canonical = String::from(BEGIN);
    canonical.push('\n');
    for line in body.as_bytes().chunks(64) {
        canonical.push_str(std::str::from_utf8(line).expect("ASCII"));
        canonical.push('\n');
    }
    canonical.push_str(END);
    canonical.push('\n');
    Ok(Sha256::digest(canonical.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

fn short(id: &str) -> &str {
    &id[..id.len().min(16)]
}

/// Judges a model.
pub fn evaluate(input: &PolicyInput) -> Result<Vec<Finding>, String> {
    let s = Settings::parse(&input.settings)?;
    let mut out = Vec::new();
    if input.signatures.is_empty() {
        out.push(general(
            "signature-missing",
            Severity::Error,
            "no verified signature: the model is unsigned, or its signature did not verify \
             with the keys given to `check --public-key` (modelpack's own finding says why)",
        ));
    } else {
        let allowed: Vec<_> = input
            .signatures
            .iter()
            .filter(|g| s.allowed.is_empty() || s.allowed.contains(&g.key_id.to_ascii_lowercase()))
            .collect();
        match allowed.first() {
            Some(g) => out.push(general(
                "signature-verified",
                Severity::Info,
                format!(
                    "signed by key {} ({} signature, {}) over {}",
                    short(&g.key_id),
                    g.kind,
                    g.origin,
                    g.subject
                ),
            )),
            None => {
                let found: Vec<String> = input
                    .signatures
                    .iter()
                    .map(|g| format!("{} ({})", g.key_id, g.origin))
                    .collect();
                out.push(general(
                    "signature-key-not-allowed",
                    Severity::Error,
                    format!(
                        "signed only by keys allowedKeys does not list: {}",
                        found.join(", ")
                    ),
                ));
            }
        }
    }
    if s.require_sbom && !input.sbom_attached {
        out.push(general(
            "sbom-missing",
            Severity::Error,
            "no SBOM is attached (requireSbom): attach one with `modelpack sbom LAYOUT --attach`",
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use policy_common::VerifiedSignature;
    use policy_common::testkit::{ids, input};
    use serde_json::{Value, json};

    /// A P-256 public key as `openssl ec -pubout` writes it, and its id as model-signing
    /// computes it (`hashlib.sha256(pem).hexdigest()`).
    const PEM: &str = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEr0zzVe3cbr9AbZa2vdaO9ahOMpgv\nKEWUrD4e7cw7r9QHKf4xLJPh8IXDJnTrJJ6wGyq6P+RVRpfsw5MB1SPMVg==\n-----END PUBLIC KEY-----\n";

    fn pem_hash() -> String {
        Sha256::digest(PEM.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    fn signed(key_id: &str, settings: Value) -> PolicyInput {
        let mut i = input(json!({}), vec![], settings);
        i.signatures.push(VerifiedSignature {
            key_id: key_id.into(),
            kind: "manifest".into(),
            subject: "sha256:00".into(),
            origin: "referrer sha256:11".into(),
        });
        i
    }

    #[test]
    fn unsigned_fails_and_any_verified_signature_passes_without_a_list() {
        let f = evaluate(&input(json!({}), vec![], json!({}))).unwrap();
        assert_eq!(ids(&f), ["signature-missing"]);
        let f = evaluate(&signed(&pem_hash(), json!({}))).unwrap();
        assert_eq!(ids(&f), ["signature-verified"]);
    }

    #[test]
    fn pem_entries_match_their_id_whatever_the_wrapping() {
        assert_eq!(key_id(PEM).unwrap(), pem_hash());
        let crlf = PEM.replace('\n', "\r\n");
        assert_eq!(key_id(&crlf).unwrap(), pem_hash());
        let one_line = PEM.replace("\nKEWU", "KEWU");
        assert_eq!(key_id(&one_line).unwrap(), pem_hash());
        let f = evaluate(&signed(&pem_hash(), json!({"allowedKeys": [PEM]}))).unwrap();
        assert_eq!(ids(&f), ["signature-verified"]);
        let upper = format!("sha256:{}", pem_hash().to_uppercase());
        let f = evaluate(&signed(&pem_hash(), json!({"allowedKeys": [upper]}))).unwrap();
        assert_eq!(ids(&f), ["signature-verified"]);
    }

    #[test]
    fn another_key_is_named() {
        let other = "ab".repeat(32);
        let f = evaluate(&signed(&other, json!({"allowedKeys": [PEM]}))).unwrap();
        assert_eq!(ids(&f), ["signature-key-not-allowed"]);
        assert!(f[0].message.contains(&other), "{}", f[0].message);
    }

    #[test]
    fn bad_settings_say_which_entry() {
        let e = evaluate(&input(json!({}), vec![], json!({"allowedKeys": ["nope"]}))).unwrap_err();
        assert!(e.starts_with("invalid settings: allowedKeys[0]:"), "{e}");
        let e = evaluate(&input(json!({}), vec![], json!({"allowed_keys": []}))).unwrap_err();
        assert!(e.contains("unknown field `allowed_keys`"), "{e}");
        let priv_pem = "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n";
        let e = evaluate(&input(
            json!({}),
            vec![],
            json!({"allowedKeys": [priv_pem]}),
        ))
        .unwrap_err();
        assert!(e.contains("not `PUBLIC KEY`"), "{e}");
    }

    #[test]
    fn sbom_can_be_required() {
        let mut i = signed(&pem_hash(), json!({"requireSbom": true}));
        assert_eq!(
            ids(&evaluate(&i).unwrap()),
            ["signature-verified", "sbom-missing"]
        );
        i.sbom_attached = true;
        assert_eq!(ids(&evaluate(&i).unwrap()), ["signature-verified"]);
    }
}
