//! ECDSA P-256 keys from PEM files, and the key id model-signing records in its bundles.
//!
//! Private keys are read as SEC1 (`EC PRIVATE KEY`, what `openssl ecparam -genkey` writes,
//! with or without its `EC PARAMETERS` block) or PKCS#8 (`PRIVATE KEY`, what Python's
//! cryptography and `openssl genpkey` write); public keys as SubjectPublicKeyInfo
//! (`PUBLIC KEY`). The key id is the one model-signing puts in
//! `verificationMaterial.publicKey.hint`: the SHA-256 of the public key's PEM text with LF
//! line endings, as OpenSSL and cryptography both spell it.

use std::path::Path;

use p256::ecdsa::{SigningKey, VerifyingKey};
use p256::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePublicKey, LineEnding};
use sha2::{Digest as _, Sha256};

use super::Error;

/// A private key ready to sign, with its public half's id.
pub struct PrivateKey {
    /// The signing key.
    pub key: SigningKey,
    /// model-signing's key id of the public half.
    pub id: String,
}

/// A public key ready to verify, with its id.
pub struct PublicKey {
    /// The verifying key.
    pub key: VerifyingKey,
    /// model-signing's key id.
    pub id: String,
}

/// The PEM block with this label, if the text has one (other blocks are ignored).
fn pem_block<'a>(text: &'a str, label: &str) -> Option<&'a str> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin)?;
    let stop = text[start..].find(&end)? + start + end.len();
    Some(&text[start..stop])
}

fn read_text(path: &Path, what: &str) -> Result<String, Error> {
    let bytes = std::fs::read(path).map_err(|e| Error::Key(format!("{}: {e}", path.display())))?;
    String::from_utf8(bytes)
        .map_err(|_| Error::Key(format!("{}: not a PEM {what} (not text)", path.display())))
}

/// model-signing's key id: SHA-256 of the SubjectPublicKeyInfo PEM (LF line endings).
pub fn key_id(key: &VerifyingKey) -> String {
    let pem = p256::PublicKey::from(key)
        .to_public_key_pem(LineEnding::LF)
        .expect("a valid P-256 point always encodes");
    hex::encode(Sha256::digest(pem.as_bytes()))
}

/// Reads an ECDSA P-256 private key from a PEM file.
pub fn read_private(path: &Path) -> Result<PrivateKey, Error> {
    let text = read_text(path, "private key")?;
    let shown = path.display();
    let secret = if let Some(block) = pem_block(&text, "EC PRIVATE KEY") {
        if text.contains("Proc-Type: 4,ENCRYPTED") {
            return Err(Error::Key(format!(
                "{shown}: encrypted keys are not supported; decrypt it first (openssl ec -in KEY -out PLAIN.pem)"
            )));
        }
        p256::SecretKey::from_sec1_pem(block).map_err(|e| {
            Error::Key(format!(
                "{shown}: not an ECDSA P-256 private key (SEC1: {e})"
            ))
        })?
    } else if let Some(block) = pem_block(&text, "PRIVATE KEY") {
        p256::SecretKey::from_pkcs8_pem(block).map_err(|e| {
            Error::Key(format!(
                "{shown}: not an ECDSA P-256 private key (PKCS#8: {e}; only P-256 is supported)"
            ))
        })?
    } else if pem_block(&text, "ENCRYPTED PRIVATE KEY").is_some() {
        return Err(Error::Key(format!(
            "{shown}: encrypted keys are not supported; decrypt it first (openssl pkey -in KEY -out PLAIN.pem)"
        )));
    } else {
        return Err(Error::Key(format!(
            "{shown}: no \"EC PRIVATE KEY\" or \"PRIVATE KEY\" PEM block (an ECDSA P-256 private key is needed)"
        )));
    };
    let key = SigningKey::from(secret);
    let id = key_id(key.verifying_key());
    Ok(PrivateKey { key, id })
}

/// Reads an ECDSA P-256 public key from a PEM file.
pub fn read_public(path: &Path) -> Result<PublicKey, Error> {
    let text = read_text(path, "public key")?;
    let shown = path.display();
    let Some(block) = pem_block(&text, "PUBLIC KEY") else {
        let hint = if pem_block(&text, "PRIVATE KEY").is_some()
            || pem_block(&text, "EC PRIVATE KEY").is_some()
        {
            " (this is a private key: pass its public half, openssl ec -in KEY -pubout)"
        } else {
            ""
        };
        return Err(Error::Key(format!(
            "{shown}: no \"PUBLIC KEY\" PEM block{hint}"
        )));
    };
    let public = p256::PublicKey::from_public_key_pem(block).map_err(|e| {
        Error::Key(format!(
            "{shown}: not an ECDSA P-256 public key ({e}; only P-256 is supported)"
        ))
    })?;
    let key = VerifyingKey::from(public);
    let id = key_id(&key);
    Ok(PublicKey { key, id })
}
