//! The Docker client configuration file (`$DOCKER_CONFIG/config.json`, default
//! `~/.docker/config.json`), read and written the way the Docker CLI does, so `modelpack login`,
//! `docker login`, skopeo and oras share one set of credentials.
//!
//! Only the three credential keys are interpreted: `auths` (inline base64 `auth` and
//! `registrytoken`), `credsStore` (the default credential helper) and `credHelpers` (a helper per
//! registry). Every other key is kept byte-for-byte in meaning when the file is rewritten.
//! Writes are atomic (a temporary file in the same directory, then rename) and the file is
//! created with mode 0600, as Docker creates it.

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use serde_json::{Map, Value};

/// Why the config file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Reading or writing the file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not what Docker writes.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, never quoting a secret.
        message: String,
    },
}

/// Credentials stored for one registry.
#[derive(Clone, PartialEq, Eq)]
pub enum Stored {
    /// User name and password (or a registry-issued token used as a password).
    Basic(String, String),
    /// A bearer token (`registrytoken`).
    Bearer(String),
}

impl std::fmt::Debug for Stored {
    // Secrets never reach logs or panics.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stored::Basic(u, _) => write!(f, "Basic({u:?}, <redacted>)"),
            Stored::Bearer(_) => f.write_str("Bearer(<redacted>)"),
        }
    }
}

/// A loaded `config.json`.
#[derive(Debug, Clone)]
pub struct DockerConfig {
    path: PathBuf,
    root: Map<String, Value>,
}

/// The config file Docker would use: `$DOCKER_CONFIG/config.json`, else
/// `~/.docker/config.json`.
pub fn default_path() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG") {
        return Some(PathBuf::from(dir).join("config.json"));
    }
    dirs::home_dir().map(|h| h.join(".docker").join("config.json"))
}

/// The registry host a config key names: keys may carry a scheme and a path
/// (`https://index.docker.io/v1/`), as older Docker clients wrote them.
pub fn key_host(key: &str) -> &str {
    let k = key
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    k.split('/').next().unwrap_or(k)
}

/// Whether config key `key` is about `registry` (`host[:port]`).
pub fn key_matches(key: &str, registry: &str) -> bool {
    let host = key_host(key);
    host == registry || (is_docker_hub(registry) && is_docker_hub(host))
}

fn is_docker_hub(host: &str) -> bool {
    matches!(
        host,
        "docker.io" | "index.docker.io" | "registry-1.docker.io"
    )
}

/// The key Docker uses for `registry` in `auths` and when talking to helpers.
pub fn server_key(registry: &str) -> String {
    if is_docker_hub(registry) {
        "https://index.docker.io/v1/".to_string()
    } else {
        registry.to_string()
    }
}

impl DockerConfig {
    /// Loads `path`; a missing file is an empty config.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(DockerConfig {
                    path: path.to_path_buf(),
                    root: Map::new(),
                });
            }
            Err(source) => {
                return Err(ConfigError::Io {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        Self::parse(path, &bytes)
    }

    /// Parses the bytes of a config file found at `path`.
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Self, ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        // Docker treats an empty file as an empty config.
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(DockerConfig {
                path: path.to_path_buf(),
                root: Map::new(),
            });
        }
        let value: Value =
            serde_json::from_slice(bytes).map_err(|e| invalid(format!("not JSON ({e})")))?;
        let Value::Object(root) = value else {
            return Err(invalid("not a JSON object".into()));
        };
        for key in ["auths", "credHelpers"] {
            if root.get(key).is_some_and(|v| !v.is_object()) {
                return Err(invalid(format!("{key:?} is not an object")));
            }
        }
        if root.get("credsStore").is_some_and(|v| !v.is_string()) {
            return Err(invalid("\"credsStore\" is not a string".into()));
        }
        Ok(DockerConfig {
            path: path.to_path_buf(),
            root,
        })
    }

    /// The file this config was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The credential helper for `registry`: its `credHelpers` entry, else `credsStore`.
    /// Names are helper suffixes (`osxkeychain` → `docker-credential-osxkeychain`).
    pub fn helper_for(&self, registry: &str) -> Option<String> {
        let per_registry = self
            .root
            .get("credHelpers")
            .and_then(Value::as_object)
            .and_then(|m| {
                m.iter()
                    .find(|(k, _)| key_matches(k, registry))
                    .and_then(|(_, v)| v.as_str())
            });
        per_registry
            .or_else(|| self.root.get("credsStore").and_then(Value::as_str))
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    }

    /// The inline credentials of `registry` in `auths`, if any.
    pub fn inline(&self, registry: &str) -> Result<Option<Stored>, ConfigError> {
        let Some(auths) = self.root.get("auths").and_then(Value::as_object) else {
            return Ok(None);
        };
        for (key, entry) in auths {
            if !key_matches(key, registry) {
                continue;
            }
            if let Some(token) = entry.get("registrytoken").and_then(Value::as_str) {
                return Ok(Some(Stored::Bearer(token.to_string())));
            }
            if let Some(auth) = entry.get("auth").and_then(Value::as_str) {
                if auth.is_empty() {
                    continue;
                }
                // The message never includes the decoded value.
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(auth.trim())
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok());
                let Some((u, p)) = decoded.as_deref().and_then(|d| d.split_once(':')) else {
                    return Err(ConfigError::Invalid {
                        path: self.path.clone(),
                        message: format!("auths[{key:?}].auth is not base64 of USER:PASSWORD"),
                    });
                };
                return Ok(Some(Stored::Basic(u.to_string(), p.to_string())));
            }
        }
        Ok(None)
    }

    /// Stores `user`/`password` inline for `registry`, replacing any entry for it.
    pub fn set_inline(&mut self, registry: &str, user: &str, password: &str) {
        self.remove_inline(registry);
        let auth = base64::engine::general_purpose::STANDARD.format_args(user, password);
        let auths = self
            .root
            .entry("auths")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(m) = auths {
            m.insert(server_key(registry), serde_json::json!({ "auth": auth }));
        }
    }

    /// Records that `registry`'s credentials live in its helper: Docker keeps an empty
    /// `auths` entry so tools can list the registries one is logged in to.
    pub fn mark_helper_login(&mut self, registry: &str) {
        self.remove_inline(registry);
        let auths = self
            .root
            .entry("auths")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(m) = auths {
            m.insert(server_key(registry), Value::Object(Map::new()));
        }
    }

    /// Removes every `auths` entry for `registry`; whether one was there.
    pub fn remove_inline(&mut self, registry: &str) -> bool {
        let Some(Value::Object(auths)) = self.root.get_mut("auths") else {
            return false;
        };
        let before = auths.len();
        auths.retain(|k, _| !key_matches(k, registry));
        before != auths.len()
    }

    /// Writes the config back atomically, mode 0600, creating its directory (0700) if needed.
    pub fn save(&self) -> Result<(), ConfigError> {
        let io = |source| ConfigError::Io {
            path: self.path.clone(),
            source,
        };
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if !dir.exists() {
            let mut builder = std::fs::DirBuilder::new();
            builder.recursive(true);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
            builder.create(&dir).map_err(io)?;
        }
        let mut text = serde_json::to_string_pretty(&Value::Object(self.root.clone()))
            .expect("a JSON map serialises");
        text.push('\n');
        // tempfile creates the file 0600.
        let mut tmp = tempfile::Builder::new()
            .prefix(".config.json.")
            .tempfile_in(&dir)
            .map_err(io)?;
        tmp.write_all(text.as_bytes()).map_err(io)?;
        tmp.as_file().sync_all().map_err(io)?;
        // Follow a symlinked config.json (dotfile managers) instead of replacing the link.
        let target = std::fs::canonicalize(&self.path).unwrap_or_else(|_| self.path.clone());
        tmp.persist(&target).map_err(|e| io(e.error))?;
        Ok(())
    }
}

/// Base64 of `user:password` without an intermediate `String` holding both in the clear
/// longer than needed.
trait FormatArgs {
    fn format_args(&self, user: &str, password: &str) -> String;
}

impl<E: Engine> FormatArgs for E {
    fn format_args(&self, user: &str, password: &str) -> String {
        let mut plain = Vec::with_capacity(user.len() + password.len() + 1);
        plain.extend_from_slice(user.as_bytes());
        plain.push(b':');
        plain.extend_from_slice(password.as_bytes());
        let out = self.encode(&plain);
        plain.fill(0);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> DockerConfig {
        DockerConfig::parse(Path::new("config.json"), s.as_bytes()).unwrap()
    }

    #[test]
    fn inline_auths_by_host_scheme_and_path() {
        let cfg = parse(
            r#"{"auths":{"https://reg.example:5000/v1/":{"auth":"dTpwQHNz"},"other":{"auth":"eDp5"}}}"#,
        );
        assert_eq!(
            cfg.inline("reg.example:5000").unwrap(),
            Some(Stored::Basic("u".into(), "p@ss".into()))
        );
        assert_eq!(cfg.inline("nowhere:1").unwrap(), None);
        let bad = parse(r#"{"auths":{"r":{"auth":"!!"}}}"#);
        let e = bad.inline("r").unwrap_err().to_string();
        assert_eq!(
            e,
            "config.json: auths[\"r\"].auth is not base64 of USER:PASSWORD"
        );
    }

    #[test]
    fn helpers_per_registry_then_store() {
        let cfg = parse(
            r#"{"credsStore":"desktop","credHelpers":{"123.dkr.ecr.us-east-1.amazonaws.com":"ecr-login"}}"#,
        );
        assert_eq!(
            cfg.helper_for("123.dkr.ecr.us-east-1.amazonaws.com")
                .as_deref(),
            Some("ecr-login")
        );
        assert_eq!(cfg.helper_for("ghcr.io").as_deref(), Some("desktop"));
        assert_eq!(parse("{}").helper_for("ghcr.io"), None);
        assert_eq!(parse(r#"{"credsStore":""}"#).helper_for("ghcr.io"), None);
    }

    #[test]
    fn docker_hub_aliases() {
        let cfg = parse(r#"{"auths":{"https://index.docker.io/v1/":{"auth":"dTpw"}}}"#);
        assert!(cfg.inline("docker.io").unwrap().is_some());
        assert_eq!(server_key("docker.io"), "https://index.docker.io/v1/");
    }

    #[test]
    fn set_and_remove_keep_other_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("config.json");
        let mut cfg = DockerConfig::load(&path).unwrap();
        cfg.root
            .insert("psFormat".into(), Value::String("x".into()));
        cfg.set_inline("localhost:5000", "alice", "s3cret:with:colons");
        cfg.save().unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let mut back = DockerConfig::load(&path).unwrap();
        assert_eq!(
            back.inline("localhost:5000").unwrap(),
            Some(Stored::Basic("alice".into(), "s3cret:with:colons".into()))
        );
        assert_eq!(back.root["psFormat"], "x");
        assert!(back.remove_inline("localhost:5000"));
        assert!(!back.remove_inline("localhost:5000"));
        back.save().unwrap();
        assert_eq!(
            DockerConfig::load(&path)
                .unwrap()
                .inline("localhost:5000")
                .unwrap(),
            None
        );
    }

    #[test]
    fn malformed_files_are_named() {
        let e = DockerConfig::parse(Path::new("c.json"), b"{\"auths\": []}")
            .unwrap_err()
            .to_string();
        assert_eq!(e, "c.json: \"auths\" is not an object");
        let e = DockerConfig::parse(Path::new("c.json"), b"[1]")
            .unwrap_err()
            .to_string();
        assert_eq!(e, "c.json: not a JSON object");
        assert!(DockerConfig::parse(Path::new("c.json"), b"  \n").is_ok());
    }

    #[test]
    fn debug_hides_secrets() {
        let s = format!("{:?}", Stored::Basic("u".into(), "hunter2".into()));
        assert!(!s.contains("hunter2"), "{s}");
    }
}
