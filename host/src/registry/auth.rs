//! Registry credentials, first found wins:
//! 1. `MODELPACK_REGISTRY_USERNAME` + `MODELPACK_REGISTRY_PASSWORD`;
//! 2. the Docker config's credential helper for the registry (`credHelpers`, else `credsStore`);
//! 3. the registry's inline `auths` entry (base64 `auth` or `registrytoken`);
//! 4. anonymous.
//!
//! The Docker config is `$DOCKER_CONFIG/config.json` (default `~/.docker/config.json`), shared
//! with docker, skopeo and oras. oci-client turns the credentials into basic auth or a bearer
//! token, whichever the registry asks for. Credentials are never printed: `RegistryAuth`'s Debug
//! hides them and errors never quote them.

use anyhow::{Result, bail};
use oci_client::secrets::RegistryAuth;

use super::credhelper::{self, HelperCredentials};
use super::dockerconfig::{self, DockerConfig, Stored};

/// Environment variable holding the registry user name.
pub const USERNAME_ENV: &str = "MODELPACK_REGISTRY_USERNAME";
/// Environment variable holding the registry password or token.
pub const PASSWORD_ENV: &str = "MODELPACK_REGISTRY_PASSWORD";

/// Where credentials came from, for messages (never the credentials themselves).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The `MODELPACK_REGISTRY_*` variables.
    Environment,
    /// `docker-credential-<name>`.
    Helper(String),
    /// The inline `auths` entry of this config file.
    ConfigFile(String),
    /// None found.
    Anonymous,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Environment => write!(f, "{USERNAME_ENV}/{PASSWORD_ENV}"),
            Origin::Helper(name) => write!(f, "credential helper docker-credential-{name}"),
            Origin::ConfigFile(path) => write!(f, "{path}"),
            Origin::Anonymous => f.write_str("no credentials (anonymous)"),
        }
    }
}

/// The credentials to use for `registry` (`host[:port]`).
pub fn credentials(registry: &str) -> Result<RegistryAuth> {
    Ok(credentials_with_origin(registry)?.0)
}

/// The credentials to use for `registry` and where they came from.
pub fn credentials_with_origin(registry: &str) -> Result<(RegistryAuth, Origin)> {
    let user = std::env::var(USERNAME_ENV).ok().filter(|s| !s.is_empty());
    let pass = std::env::var(PASSWORD_ENV).ok();
    match (user, pass) {
        (Some(u), Some(p)) => return Ok((RegistryAuth::Basic(u, p), Origin::Environment)),
        (Some(_), None) => bail!("{USERNAME_ENV} is set but {PASSWORD_ENV} is not"),
        _ => {}
    }
    let Some(path) = dockerconfig::default_path() else {
        return Ok((RegistryAuth::Anonymous, Origin::Anonymous));
    };
    let config = DockerConfig::load(&path)?;
    from_config(&config, registry)
}

/// Looks `registry` up in a loaded Docker config: its helper first, then `auths`.
pub fn from_config(config: &DockerConfig, registry: &str) -> Result<(RegistryAuth, Origin)> {
    if let Some(helper) = config.helper_for(registry) {
        match credhelper::get(&helper, &dockerconfig::server_key(registry))? {
            Some(HelperCredentials::Basic(u, p)) => {
                return Ok((RegistryAuth::Basic(u, p), Origin::Helper(helper)));
            }
            Some(HelperCredentials::IdentityToken(_)) => bail!(
                "credential helper docker-credential-{helper} holds an OAuth identity token for \
                 {registry}, which modelpack cannot use yet; log in with a user name and \
                 password (modelpack login {registry})"
            ),
            // Nothing stored there: an inline entry may still exist (written by a tool that
            // ignores helpers); Docker itself would stop here and go anonymous.
            None => {}
        }
    }
    let origin = Origin::ConfigFile(config.path().display().to_string());
    Ok(match config.inline(registry)? {
        Some(Stored::Basic(u, p)) => (RegistryAuth::Basic(u, p), origin),
        Some(Stored::Bearer(t)) => (RegistryAuth::Bearer(t), origin),
        None => (RegistryAuth::Anonymous, Origin::Anonymous),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_config_auths() {
        let cfg = br#"{"auths":{"https://reg.example:5000/v1/":{"auth":"dTpwQHNz"},"other":{"auth":"eDp5"}}}"#;
        let cfg = DockerConfig::parse(std::path::Path::new("c.json"), cfg).unwrap();
        match from_config(&cfg, "reg.example:5000").unwrap().0 {
            RegistryAuth::Basic(u, p) => assert_eq!((u.as_str(), p.as_str()), ("u", "p@ss")),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            from_config(&cfg, "nowhere:1").unwrap(),
            (RegistryAuth::Anonymous, Origin::Anonymous)
        ));
    }
}
