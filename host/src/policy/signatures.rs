//! The supply-chain half of the policy input: which signatures verified, with the public keys
//! `check --public-key` names, and whether an SBOM is attached.
//!
//! A model directory's signature is `model.sig` (OpenSSF model-signing); a layout's are its
//! sigstore-bundle referrers (`modelpack sign LAYOUT`). Only signatures that verify are listed
//! for the policies; one that is present but does not verify with any key given (another
//! signer, a modified file or blob, a broken bundle) becomes a warning of the host's own
//! (`signature-invalid`) naming why, and an unverified one (no key given) a note, so a policy
//! such as `signature-required` fails with the reason beside it.
//!
//! Key ids are model-signing's: the lowercase hex SHA-256 of the public key's
//! SubjectPublicKeyInfo PEM text with LF line endings (what its bundles carry as
//! `verificationMaterial.publicKey.hint` and what `modelpack sign`/`verify` print).

use std::path::Path;

use base64::Engine;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use super::{CheckInput, PolicyFinding, Signature};
use crate::oci::layout::Layout;
use crate::registry::referrers::in_layout;
use crate::sign::{self, DEFAULT_SIGNATURE, DirOptions, PublicKey};

/// Artifact types of attached SBOMs (CycloneDX, SPDX).
pub const SBOM_ARTIFACT_TYPES: [&str; 2] =
    ["application/vnd.cyclonedx+json", "application/spdx+json"];

fn finding(
    id: &str,
    severity: &'static str,
    message: String,
    file: Option<String>,
) -> PolicyFinding {
    PolicyFinding {
        id: id.into(),
        severity,
        message,
        file,
        field: None,
    }
}

/// Fills `signatures`, `sbom_attached` and the host's findings about them for a layout.
pub fn for_layout(input: &mut CheckInput, root: &Path, tag: Option<&str>, keys: &[PublicKey]) {
    let referrers = Layout::open(root)
        .and_then(|l| {
            let subject = l.resolve(tag)?.digest;
            in_layout(&l, &subject)
        })
        .unwrap_or_default();
    input.sbom_attached = referrers.iter().any(|(r, _)| {
        r.artifact_type
            .as_deref()
            .is_some_and(|t| SBOM_ARTIFACT_TYPES.contains(&t))
    });
    let signed = referrers
        .iter()
        .any(|(r, _)| r.artifact_type.as_deref() == Some(sign::dsse::BUNDLE_MEDIA_TYPE));
    if !signed {
        return;
    }
    let mut refusals = Vec::new();
    for key in keys {
        match sign::oci::verify_layout(root, tag, key) {
            Ok(v) => input.signatures.push(Signature {
                key_id: v.key_id,
                kind: "manifest".into(),
                subject: v.manifest,
                origin: format!("referrer {}", v.referrer),
            }),
            Err(e) => refusals.push(e.to_string()),
        }
    }
    report(input, keys, refusals, "the layout's signature", None);
}

/// Fills `signatures` and the host's findings about them for a model directory (`model.sig`).
pub fn for_directory(input: &mut CheckInput, dir: &Path, keys: &[PublicKey]) {
    let sig = dir.join(DEFAULT_SIGNATURE);
    if !sig.is_file() {
        return;
    }
    let subject = statement_digest(&sig);
    let mut refusals = Vec::new();
    for key in keys {
        match sign::verify_dir(dir, key, &sig, &DirOptions::default()) {
            Ok(v) => input.signatures.push(Signature {
                key_id: v.key_id,
                kind: "files".into(),
                subject: subject.clone().unwrap_or_default(),
                origin: DEFAULT_SIGNATURE.into(),
            }),
            Err(e) => refusals.push(e.to_string()),
        }
    }
    report(
        input,
        keys,
        refusals,
        DEFAULT_SIGNATURE,
        Some(DEFAULT_SIGNATURE.to_string()),
    );
}

fn report(
    input: &mut CheckInput,
    keys: &[PublicKey],
    refusals: Vec<String>,
    what: &str,
    file: Option<String>,
) {
    if !input.signatures.is_empty() {
        return;
    }
    if keys.is_empty() {
        input.problems.push(finding(
            "signature-unverified",
            "info",
            format!("{what} was not verified: no --public-key given"),
            file,
        ));
    } else {
        input.problems.push(finding(
            "signature-invalid",
            "warning",
            format!("{what} does not verify: {}", refusals.join("; ")),
            file,
        ));
    }
}

/// `sha256:` of the in-toto statement a model-signing bundle signs (its DSSE payload).
fn statement_digest(sig: &Path) -> Option<String> {
    let bytes = std::fs::read(sig).ok()?;
    let v: Value = serde_json::from_slice(&bytes).ok()?;
    let payload = v.pointer("/dsseEnvelope/payload")?.as_str()?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(payload)
        .ok()?;
    Some(format!("sha256:{}", hex::encode(Sha256::digest(&raw))))
}
