//! Sigstore bundles (v0.3) carrying a DSSE envelope, signed and checked with a P-256 key.
//!
//! This is the shape model-signing writes for key-based signatures: no certificate and no
//! transparency-log entry, the key named only by its id in `verificationMaterial.publicKey.
//! hint`, and one ECDSA signature (DER, SHA-256) over the DSSE pre-authentication encoding
//! of the payload. Hand-written because the sigstore crates pull a TUF client, an HTTP stack
//! and OpenSSL for the keyless flow, none of which a key-based signature needs.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::ecdsa::{DerSignature, Signature};
use serde::{Deserialize, Serialize};

use super::Error;
use super::keys::{PrivateKey, PublicKey};

/// The sigstore bundle media type, also the artifactType of a signature referrer.
pub const BUNDLE_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// The DSSE payload type of an in-toto statement.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// A sigstore bundle, as far as key-based verification reads it. Unknown fields are ignored.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Bundle {
    /// [`BUNDLE_MEDIA_TYPE`].
    pub media_type: String,
    /// What identifies the signer.
    pub verification_material: VerificationMaterial,
    /// The signed payload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dsse_envelope: Option<Envelope>,
}

/// `verificationMaterial`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerificationMaterial {
    /// Key-based signatures: the key's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<KeyHint>,
    /// Keyless (Sigstore) signatures carry a certificate instead.
    #[serde(default, skip_serializing)]
    pub certificate: Option<serde_json::Value>,
    /// Keyless signatures carry a certificate chain (older bundles).
    #[serde(default, skip_serializing)]
    pub x509_certificate_chain: Option<serde_json::Value>,
    /// Transparency-log entries (none for key-based signatures).
    #[serde(default)]
    pub tlog_entries: Vec<serde_json::Value>,
}

/// `publicKey`.
#[derive(Debug, Serialize, Deserialize)]
pub struct KeyHint {
    /// model-signing's key id.
    #[serde(default)]
    pub hint: Option<String>,
}

/// A DSSE envelope.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    /// Base64 of the payload bytes.
    pub payload: String,
    /// [`IN_TOTO_PAYLOAD_TYPE`].
    pub payload_type: String,
    /// Signatures over the PAE of the payload.
    pub signatures: Vec<EnvelopeSignature>,
}

/// One DSSE signature.
#[derive(Debug, Serialize, Deserialize)]
pub struct EnvelopeSignature {
    /// Base64 of the DER ECDSA signature.
    pub sig: String,
    /// Key id (model-signing leaves it empty).
    #[serde(default)]
    pub keyid: String,
}

/// DSSE v1 pre-authentication encoding.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {} {} ",
        payload_type.len(),
        payload_type,
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

/// Signs an in-toto statement into a bundle (JSON bytes, as model-signing lays them out).
pub fn sign(statement: &[u8], key: &PrivateKey) -> Vec<u8> {
    let sig: Signature = key.key.sign(&pae(IN_TOTO_PAYLOAD_TYPE, statement));
    let der: DerSignature = sig.to_der();
    let bundle = Bundle {
        media_type: BUNDLE_MEDIA_TYPE.into(),
        verification_material: VerificationMaterial {
            public_key: Some(KeyHint {
                hint: Some(key.id.clone()),
            }),
            certificate: None,
            x509_certificate_chain: None,
            tlog_entries: Vec::new(),
        },
        dsse_envelope: Some(Envelope {
            payload: STANDARD.encode(statement),
            payload_type: IN_TOTO_PAYLOAD_TYPE.into(),
            signatures: vec![EnvelopeSignature {
                sig: STANDARD.encode(der.as_bytes()),
                keyid: String::new(),
            }],
        }),
    };
    serde_json::to_vec(&bundle).expect("a bundle always serialises")
}

/// Checks a bundle's signature with `key` and returns the signed statement bytes. `shown`
/// names the signature in errors.
pub fn verify(bytes: &[u8], key: &PublicKey, shown: &str) -> Result<Vec<u8>, Error> {
    let bad = |m: String| Error::Signature(format!("{shown}: {m}"));
    let bundle: Bundle =
        serde_json::from_slice(bytes).map_err(|e| bad(format!("not a sigstore bundle ({e})")))?;
    if bundle.media_type != BUNDLE_MEDIA_TYPE {
        return Err(bad(format!(
            "bundle mediaType {:?}, expected {BUNDLE_MEDIA_TYPE:?}",
            bundle.media_type
        )));
    }
    let vm = &bundle.verification_material;
    if vm.public_key.is_none() && (vm.certificate.is_some() || vm.x509_certificate_chain.is_some())
    {
        return Err(bad(
            "signed with a certificate (Sigstore keyless or PKI); modelpack verifies key-based signatures"
                .into(),
        ));
    }
    if let Some(hint) = vm.public_key.as_ref().and_then(|k| k.hint.as_deref())
        && !hint.is_empty()
        && hint != key.id
    {
        return Err(bad(format!(
            "signed by another key (key id {hint}; the public key given has id {})",
            key.id
        )));
    }
    let env = bundle
        .dsse_envelope
        .ok_or_else(|| bad("the bundle has no dsseEnvelope".into()))?;
    if env.payload_type != IN_TOTO_PAYLOAD_TYPE {
        return Err(bad(format!(
            "dsseEnvelope.payloadType {:?}, expected {IN_TOTO_PAYLOAD_TYPE:?}",
            env.payload_type
        )));
    }
    let payload = STANDARD
        .decode(&env.payload)
        .map_err(|e| bad(format!("dsseEnvelope.payload: not base64 ({e})")))?;
    let Some(first) = env.signatures.first() else {
        return Err(bad("dsseEnvelope.signatures is empty".into()));
    };
    let der = STANDARD
        .decode(&first.sig)
        .map_err(|e| bad(format!("dsseEnvelope.signatures[0].sig: not base64 ({e})")))?;
    let sig = Signature::from_der(&der).map_err(|_| {
        bad("dsseEnvelope.signatures[0].sig: not a DER ECDSA P-256 signature".into())
    })?;
    key.key
        .verify(&pae(&env.payload_type, &payload), &sig)
        .map_err(|_| bad("the signature does not verify with the public key given".into()))?;
    Ok(payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_matches_the_dsse_spec_example() {
        // protocol.md: PAE("http://example.com/HelloWorld", "hello world")
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
    }
}
