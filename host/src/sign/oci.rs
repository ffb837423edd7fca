//! Signatures of OCI artifacts in an image layout, stored as OCI 1.1 referrers: a manifest
//! whose `subject` is the model manifest, whose `artifactType` and only layer are a sigstore
//! bundle (as cosign 3 stores them), listed untagged in `index.json`.
//!
//! The bundle's in-toto statement names the model manifest's digest with cosign's predicate
//! type (`https://sigstore.dev/cosign/sign/v1`): the manifest digest pins the config and every
//! layer, so `verify` checks the signature, then that every blob still matches its digest.

use std::path::Path;

use serde::Serialize;
use serde_json::{Value, json};

use super::keys::{PrivateKey, PublicKey};
use super::{Error, dsse};
use crate::model::MANIFEST_MEDIA_TYPE;
use crate::oci::blob::BlobDir;
use crate::oci::layout::{Layout, MAX_MANIFEST_SIZE, finish_verified};
use crate::oci::{Digest, pool};

/// cosign's predicate type for a plain signature of an image.
pub const PREDICATE_TYPE: &str = "https://sigstore.dev/cosign/sign/v1";
/// The OCI empty descriptor's media type (the referrer's config).
pub const EMPTY_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";

fn io(e: anyhow::Error) -> Error {
    Error::Io(format!("{e:#}"))
}

/// What signing a layout did.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SignedArtifact {
    /// The signed manifest.
    pub manifest: String,
    /// The referrer manifest holding the signature.
    pub referrer: String,
    /// The signer's key id.
    pub key_id: String,
}

/// What verifying a layout found.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifiedArtifact {
    /// The verified manifest.
    pub manifest: String,
    /// The referrer whose signature verified.
    pub referrer: String,
    /// The signer's key id.
    pub key_id: String,
    /// Blobs checked against their digests (config and layers).
    pub blobs: usize,
}

/// Signs the manifest `tag` names in the layout at `root` and stores the signature as its
/// referrer.
pub fn sign_layout(
    root: &Path,
    tag: Option<&str>,
    key: &PrivateKey,
) -> Result<SignedArtifact, Error> {
    let layout = Layout::open(root).map_err(io)?;
    let entry = layout.resolve(tag).map_err(io)?;
    layout
        .read_blob(&entry.digest, entry.size, MAX_MANIFEST_SIZE)
        .map_err(io)?;
    let statement = json!({
        "_type": super::statement::STATEMENT_TYPE,
        "subject": [{"name": tag.unwrap_or(crate::oci::layout::DEFAULT_TAG), "digest": {"sha256": entry.digest.hex()}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {},
    });
    let bundle = dsse::sign(
        &serde_json::to_vec(&statement).expect("JSON always serialises"),
        key,
    );
    let blobs = BlobDir::create(root).map_err(io)?;
    let empty = blobs.put_bytes(b"{}").map_err(io)?;
    let bundle_digest = blobs.put_bytes(&bundle).map_err(io)?;
    let referrer = json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "artifactType": dsse::BUNDLE_MEDIA_TYPE,
        "config": {"mediaType": EMPTY_MEDIA_TYPE, "digest": empty.to_string(), "size": 2},
        "layers": [{"mediaType": dsse::BUNDLE_MEDIA_TYPE, "digest": bundle_digest.to_string(), "size": bundle.len()}],
        "subject": {"mediaType": entry.media_type, "digest": entry.digest.to_string(), "size": entry.size},
        "annotations": {"dev.sigstore.bundle.content": "dsse-envelope", "dev.sigstore.bundle.predicateType": PREDICATE_TYPE},
    });
    let referrer_bytes = crate::oci::canonical_json(&referrer);
    let referrer_digest = blobs.put_bytes(&referrer_bytes).map_err(io)?;
    let mut index = layout.index.clone();
    let list = index
        .get_mut("manifests")
        .and_then(Value::as_array_mut)
        .ok_or_else(|| {
            Error::Io(format!(
                "{}: index.json has no manifests array",
                root.display()
            ))
        })?;
    let digest_str = referrer_digest.to_string();
    if !list
        .iter()
        .any(|d| d.get("digest").and_then(Value::as_str) == Some(&digest_str))
    {
        list.push(json!({
            "mediaType": MANIFEST_MEDIA_TYPE,
            "artifactType": dsse::BUNDLE_MEDIA_TYPE,
            "digest": digest_str,
            "size": referrer_bytes.len(),
        }));
    }
    let mut bytes = serde_json::to_vec(&index).expect("JSON always serialises");
    bytes.push(b'\n');
    super::write_atomic(&root.join(crate::oci::layout::INDEX_FILE), &bytes)?;
    Ok(SignedArtifact {
        manifest: entry.digest.to_string(),
        referrer: referrer_digest.to_string(),
        key_id: key.id.clone(),
    })
}

/// Finds the signature referrers of the manifest `tag` names, checks that one is by `key`
/// over that manifest, and that the config and every layer still match their digests.
pub fn verify_layout(
    root: &Path,
    tag: Option<&str>,
    key: &PublicKey,
) -> Result<VerifiedArtifact, Error> {
    let layout = Layout::open(root).map_err(io)?;
    let entry = layout.resolve(tag).map_err(io)?;
    let manifest_bytes = layout
        .read_blob(&entry.digest, entry.size, MAX_MANIFEST_SIZE)
        .map_err(io)?;
    let manifest: Value = serde_json::from_slice(&manifest_bytes)
        .map_err(|e| Error::Io(format!("manifest {}: not JSON ({e})", entry.digest)))?;
    let mut refusals = Vec::new();
    let mut verified = None;
    for e in layout.entries().map_err(io)? {
        if e.digest == entry.digest || e.size > MAX_MANIFEST_SIZE {
            continue;
        }
        let Ok(bytes) = layout.read_blob(&e.digest, e.size, MAX_MANIFEST_SIZE) else {
            continue;
        };
        let Ok(m) = serde_json::from_slice::<Value>(&bytes) else {
            continue;
        };
        if m.get("artifactType").and_then(Value::as_str) != Some(dsse::BUNDLE_MEDIA_TYPE)
            || m.pointer("/subject/digest").and_then(Value::as_str)
                != Some(&entry.digest.to_string())
        {
            continue;
        }
        match check_referrer(&layout, &m, &entry.digest, key, &e.digest) {
            Ok(()) => {
                verified = Some(e.digest);
                break;
            }
            Err(why) => refusals.push(why),
        }
    }
    let Some(referrer) = verified else {
        return Err(Error::Signature(if refusals.is_empty() {
            format!(
                "{}: manifest {} has no signature (no sigstore bundle referrer)",
                root.display(),
                entry.digest
            )
        } else {
            format!("{}: {}", root.display(), refusals.join("; "))
        }));
    };
    let blobs = blob_list(&manifest)?;
    pool::try_map(
        &blobs,
        pool::default_jobs(),
        |(_, s)| *s,
        |(d, s)| {
            let r = layout
                .open_blob(d, *s)
                .map_err(|e| Error::Signature(format!("{}: {e:#}", root.display())))?;
            finish_verified(r, d, *s)
                .map_err(|e| Error::Signature(format!("{}: {e:#}", root.display())))
        },
    )?;
    Ok(VerifiedArtifact {
        manifest: entry.digest.to_string(),
        referrer: referrer.to_string(),
        key_id: key.id.clone(),
        blobs: blobs.len(),
    })
}

fn check_referrer(
    layout: &Layout,
    m: &Value,
    subject: &Digest,
    key: &PublicKey,
    at: &Digest,
) -> Result<(), String> {
    let layer = m
        .pointer("/layers/0")
        .ok_or_else(|| format!("referrer {at} has no layer"))?;
    let digest = layer
        .get("digest")
        .and_then(Value::as_str)
        .and_then(Digest::parse)
        .ok_or_else(|| format!("referrer {at}: bad layer digest"))?;
    let size = layer
        .get("size")
        .and_then(Value::as_u64)
        .ok_or_else(|| format!("referrer {at}: bad layer size"))?;
    let bundle = layout
        .read_blob(&digest, size, MAX_MANIFEST_SIZE)
        .map_err(|e| format!("referrer {at}: {e:#}"))?;
    let payload =
        dsse::verify(&bundle, key, &format!("referrer {at}")).map_err(|e| e.to_string())?;
    let st: Value = serde_json::from_slice(&payload)
        .map_err(|e| format!("referrer {at}: statement is not JSON ({e})"))?;
    if st.get("predicateType").and_then(Value::as_str) != Some(PREDICATE_TYPE) {
        return Err(format!(
            "referrer {at}: predicateType is not {PREDICATE_TYPE}"
        ));
    }
    let signed = st
        .pointer("/subject/0/digest/sha256")
        .and_then(Value::as_str);
    if signed != Some(subject.hex().as_str()) {
        return Err(format!(
            "referrer {at}: signs sha256:{}, not manifest {subject}",
            signed.unwrap_or("?")
        ));
    }
    Ok(())
}

fn blob_list(manifest: &Value) -> Result<Vec<(Digest, u64)>, Error> {
    let mut out = Vec::new();
    let config = manifest.get("config").into_iter();
    let layers = manifest
        .get("layers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten();
    for d in config.chain(layers) {
        let digest = d
            .get("digest")
            .and_then(Value::as_str)
            .and_then(Digest::parse)
            .ok_or_else(|| Error::Io("manifest: a descriptor has an unsupported digest".into()))?;
        let size = d
            .get("size")
            .and_then(Value::as_u64)
            .ok_or_else(|| Error::Io("manifest: a descriptor has no size".into()))?;
        out.push((digest, size));
    }
    Ok(out)
}
