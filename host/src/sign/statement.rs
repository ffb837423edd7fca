//! The in-toto statement model-signing signs: one subject (the model's name and a digest
//! over every resource digest) and a predicate listing each file (or file shard) with its
//! SHA-256, plus how the directory was serialised (`files` or `shards`, ignored paths).

use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use super::Error;

/// in-toto Statement v1.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// model-signing's predicate type (v1.0).
pub const PREDICATE_TYPE: &str = "https://model_signing/signature/v1.0";

/// How the model was cut into resources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    /// One resource per file, named by its path.
    Files,
    /// Files cut into shards of this many bytes, named `path:start:end`.
    Shards(u64),
}

/// One signed resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    /// `path` or `path:start:end`.
    pub name: String,
    /// SHA-256.
    pub digest: [u8; 32],
}

/// What a statement says.
#[derive(Debug, Clone)]
pub struct Statement {
    /// The model's name (informative only).
    pub model_name: String,
    /// Serialisation method.
    pub method: Method,
    /// Whether symlinks were followed.
    pub allow_symlinks: bool,
    /// Paths left out, relative to the model root; `None` when the statement does not say.
    pub ignore_paths: Option<Vec<String>>,
    /// The resources in statement order.
    pub resources: Vec<Resource>,
}

impl Statement {
    /// The subject digest: SHA-256 over the resource digests in order.
    pub fn root_digest(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        for r in &self.resources {
            h.update(r.digest);
        }
        h.finalize().into()
    }

    /// The statement as JSON bytes.
    pub fn to_json(&self) -> Vec<u8> {
        let mut serialization = json!({
            "method": match self.method { Method::Files => "files", Method::Shards(_) => "shards" },
            "hash_type": "sha256",
            "allow_symlinks": self.allow_symlinks,
        });
        if let Method::Shards(n) = self.method {
            serialization["shard_size"] = json!(n);
        }
        if let Some(ignored) = self.ignore_paths.as_ref().filter(|v| !v.is_empty()) {
            serialization["ignore_paths"] = json!(ignored);
        }
        let resources: Vec<Value> = self
            .resources
            .iter()
            .map(
                |r| json!({"name": r.name, "algorithm": "sha256", "digest": hex::encode(r.digest)}),
            )
            .collect();
        let v = json!({
            "_type": STATEMENT_TYPE,
            "subject": [{"name": self.model_name, "digest": {"sha256": hex::encode(self.root_digest())}}],
            "predicateType": PREDICATE_TYPE,
            "predicate": {"serialization": serialization, "resources": resources},
        });
        serde_json::to_vec_pretty(&v).expect("a statement always serialises")
    }

    /// Parses and checks a signed statement. `shown` names the signature in errors.
    pub fn parse(bytes: &[u8], shown: &str) -> Result<Statement, Error> {
        let bad = |m: String| Error::Signature(format!("{shown}: statement: {m}"));
        let v: Value = serde_json::from_slice(bytes).map_err(|e| bad(format!("not JSON ({e})")))?;
        let text = |ptr: &str| -> Result<&str, Error> {
            v.pointer(ptr)
                .and_then(Value::as_str)
                .ok_or_else(|| bad(format!("{ptr} missing or not a string")))
        };
        if text("/_type")? != STATEMENT_TYPE {
            return Err(bad(format!(
                "_type {:?}, expected {STATEMENT_TYPE:?}",
                text("/_type")?
            )));
        }
        let ptype = text("/predicateType")?;
        if ptype != PREDICATE_TYPE {
            return Err(bad(format!(
                "predicateType {ptype:?}: modelpack reads model-signing v1.0 ({PREDICATE_TYPE})"
            )));
        }
        let subjects = v
            .get("subject")
            .and_then(Value::as_array)
            .ok_or_else(|| bad("subject missing".into()))?;
        if subjects.len() != 1 {
            return Err(bad(format!("{} subjects, expected one", subjects.len())));
        }
        let model_name = text("/subject/0/name")?.to_string();
        let root = text("/subject/0/digest/sha256")?.to_string();
        let method_name = text("/predicate/serialization/method")?;
        let hash_type = text("/predicate/serialization/hash_type")?;
        if hash_type != "sha256" {
            return Err(bad(format!(
                "hash_type {hash_type:?}: modelpack verifies sha256 signatures only"
            )));
        }
        let method = match method_name {
            "files" => Method::Files,
            "shards" => Method::Shards(
                // model-signing's protobuf Struct turns integers into floats (1000.0).
                v.pointer("/predicate/serialization/shard_size")
                    .and_then(|n| {
                        n.as_u64().or_else(|| {
                            n.as_f64()
                                .filter(|f| f.fract() == 0.0 && *f >= 1.0 && *f < 9.0e15)
                                .map(|f| f as u64)
                        })
                    })
                    .filter(|&n| n > 0)
                    .ok_or_else(|| bad("shard_size missing or not a positive integer".into()))?,
            ),
            other => return Err(bad(format!("unknown serialization method {other:?}"))),
        };
        let allow_symlinks = v
            .pointer("/predicate/serialization/allow_symlinks")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let ignore_paths = match v.pointer("/predicate/serialization/ignore_paths") {
            None | Some(Value::Null) => None,
            Some(Value::Array(a)) => Some(
                a.iter()
                    .map(|p| {
                        p.as_str()
                            .map(str::to_string)
                            .ok_or_else(|| bad("ignore_paths holds a non-string".into()))
                    })
                    .collect::<Result<_, _>>()?,
            ),
            Some(_) => return Err(bad("ignore_paths is not a list".into())),
        };
        let list = v
            .pointer("/predicate/resources")
            .and_then(Value::as_array)
            .ok_or_else(|| bad("predicate.resources missing".into()))?;
        let mut resources = Vec::with_capacity(list.len());
        for (i, r) in list.iter().enumerate() {
            let field = |k: &str| {
                r.get(k)
                    .and_then(Value::as_str)
                    .ok_or_else(|| bad(format!("resources[{i}].{k} missing")))
            };
            let name = field("name")?;
            let alg = field("algorithm")?;
            // Shards are named `sha256-sharded-<shard size>`.
            if alg != "sha256" && !alg.starts_with("sha256-sharded-") {
                return Err(bad(format!(
                    "resources[{i}] ({name}): algorithm {alg:?}, expected sha256"
                )));
            }
            let mut digest = [0u8; 32];
            hex::decode_to_slice(field("digest")?, &mut digest)
                .map_err(|_| bad(format!("resources[{i}] ({name}): digest is not 64 hex")))?;
            resources.push(Resource {
                name: name.to_string(),
                digest,
            });
        }
        let s = Statement {
            model_name,
            method,
            allow_symlinks,
            ignore_paths,
            resources,
        };
        let computed = hex::encode(s.root_digest());
        if computed != root.to_ascii_lowercase() {
            return Err(bad(format!(
                "subject digest {root} does not match its resources ({computed})"
            )));
        }
        Ok(s)
    }
}
