//! Registry credentials: `MODELPACK_REGISTRY_USERNAME`/`MODELPACK_REGISTRY_PASSWORD`, else the
//! `auths` entry of `~/.docker/config.json` (`$DOCKER_CONFIG/config.json`), else anonymous.
//! oci-client turns them into basic auth or a bearer token, whichever the registry asks for.
//! Credentials are never printed: `RegistryAuth`'s Debug hides them and errors never quote them.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use base64::Engine;
use oci_client::secrets::RegistryAuth;
use serde_json::Value;

/// Environment variable holding the registry user name.
pub const USERNAME_ENV: &str = "MODELPACK_REGISTRY_USERNAME";
/// Environment variable holding the registry password or token.
pub const PASSWORD_ENV: &str = "MODELPACK_REGISTRY_PASSWORD";

fn docker_config_path() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG") {
        return Some(PathBuf::from(dir).join("config.json"));
    }
    dirs::home_dir().map(|h| h.join(".docker").join("config.json"))
}

/// The credentials to use for `registry` (`host[:port]`).
pub fn credentials(registry: &str) -> Result<RegistryAuth> {
    let user = std::env::var(USERNAME_ENV).ok().filter(|s| !s.is_empty());
    let pass = std::env::var(PASSWORD_ENV).ok();
    match (user, pass) {
        (Some(u), Some(p)) => return Ok(RegistryAuth::Basic(u, p)),
        (Some(_), None) => bail!("{USERNAME_ENV} is set but {PASSWORD_ENV} is not"),
        _ => {}
    }
    let Some(path) = docker_config_path() else {
        return Ok(RegistryAuth::Anonymous);
    };
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(RegistryAuth::Anonymous),
        Err(e) => return Err(e).with_context(|| format!("{}", path.display())),
    };
    from_docker_config(&bytes, registry).with_context(|| format!("{}", path.display()))
}

/// Looks `registry` up in a docker `config.json`'s `auths` (keys may carry a scheme or path).
pub fn from_docker_config(bytes: &[u8], registry: &str) -> Result<RegistryAuth> {
    let config: Value = serde_json::from_slice(bytes).context("not JSON")?;
    let Some(auths) = config.get("auths").and_then(Value::as_object) else {
        return Ok(RegistryAuth::Anonymous);
    };
    let wanted = |key: &str| {
        let k = key
            .trim_start_matches("https://")
            .trim_start_matches("http://");
        let k = k.split('/').next().unwrap_or(k);
        k == registry || (registry == "docker.io" && k == "index.docker.io")
    };
    for (key, entry) in auths {
        if !wanted(key) {
            continue;
        }
        if let Some(token) = entry.get("registrytoken").and_then(Value::as_str) {
            return Ok(RegistryAuth::Bearer(token.to_string()));
        }
        if let Some(auth) = entry.get("auth").and_then(Value::as_str) {
            // The error never includes the decoded value.
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(auth.trim())
                .ok()
                .and_then(|b| String::from_utf8(b).ok());
            let Some((u, p)) = decoded.as_deref().and_then(|d| d.split_once(':')) else {
                bail!("auths[{key:?}].auth is not base64 of USER:PASSWORD");
            };
            return Ok(RegistryAuth::Basic(u.to_string(), p.to_string()));
        }
    }
    Ok(RegistryAuth::Anonymous)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_config_auths() {
        let cfg = br#"{"auths":{"https://reg.example:5000/v1/":{"auth":"dTpwQHNz"},"other":{"auth":"eDp5"}}}"#;
        match from_docker_config(cfg, "reg.example:5000").unwrap() {
            RegistryAuth::Basic(u, p) => assert_eq!((u.as_str(), p.as_str()), ("u", "p@ss")),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            from_docker_config(cfg, "nowhere:1").unwrap(),
            RegistryAuth::Anonymous
        ));
        let bad = br#"{"auths":{"r":{"auth":"!!"}}}"#;
        let e = format!("{:#}", from_docker_config(bad, "r").unwrap_err());
        assert!(e.contains("not base64"), "{e}");
    }
}
