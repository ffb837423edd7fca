//! Checking credentials against a registry before they are stored, as `docker login` does:
//! `GET /v2/`; on a `401`, answer its challenge — Basic directly, Bearer by asking the named
//! token service for a token (no scope) with the credentials.
//!
//! Where credentials may go is the rule `push` and `pull` follow (see `session`): the registry
//! itself, and a token service elsewhere only when both are HTTPS.

use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};

use super::is_loopback;

/// How long one login request may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// A parsed `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    /// `Basic realm="…"`.
    Basic,
    /// `Bearer realm="…",service="…"`.
    Bearer {
        /// The token endpoint.
        realm: String,
        /// The `service` parameter, passed back to it.
        service: Option<String>,
    },
}

/// Parses the first challenge of a `WWW-Authenticate` header (RFC 7235 auth-params:
/// `token=token` or `token="quoted \" string"`). A hand-written loop because the header is tiny
/// and the crates that parse it pull in a full HTTP stack of their own.
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    let mut params = Vec::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c == ',' || c.is_whitespace() {
                break;
            }
            key.push(c);
            chars.next();
        }
        if key.is_empty() {
            break;
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek() != Some(&'=') {
            break;
        }
        chars.next();
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' || c.is_whitespace() {
                    break;
                }
                value.push(c);
                chars.next();
            }
        }
        params.push((key.to_ascii_lowercase(), value));
    }
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    if scheme.eq_ignore_ascii_case("basic") {
        Some(Challenge::Basic)
    } else if scheme.eq_ignore_ascii_case("bearer") {
        Some(Challenge::Bearer {
            realm: get("realm")?,
            service: get("service"),
        })
    } else {
        None
    }
}

/// Whether credentials may be sent to token realm `realm` of `registry` reached over
/// `scheme`: the rule `push` and `pull` follow ([`super::session::realm_allowed`]).
pub fn realm_allowed(realm: &url::Url, registry: &str, scheme: &str) -> Result<()> {
    let registry_url = url::Url::parse(&format!("{scheme}://{registry}/"))
        .map_err(|_| anyhow!("invalid registry {registry:?}"))?;
    super::session::realm_allowed(&registry_url, realm).map_err(|why| {
        anyhow!(
            "the registry {registry} asks for credentials to be sent to {}; refused: {why}",
            realm.origin().ascii_serialization()
        )
    })
}

fn http_client() -> Result<reqwest::Client> {
    // rustls is built without a default provider (no aws-lc C build): install ring once.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(TIMEOUT)
        .connect_timeout(TIMEOUT)
        // A redirect could carry the Authorization header elsewhere.
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("modelpack/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("setting up the HTTP client")
}

/// One line for a failed request, saying whether the registry was reached at all.
fn request_error(registry: &str, e: reqwest::Error) -> anyhow::Error {
    if e.is_connect() {
        anyhow!("cannot connect to the registry {registry}: connection refused or unreachable")
    } else if e.is_timeout() {
        anyhow!(
            "the registry {registry} did not answer within {} s",
            TIMEOUT.as_secs()
        )
    } else {
        anyhow!("request to the registry {registry} failed: {e}")
    }
}

/// Checks `user`/`password` against `registry` (`host[:port]`); `Ok` when the registry
/// accepts them (or needs none).
pub async fn verify(registry: &str, user: &str, password: &str, plain_http: bool) -> Result<()> {
    let scheme = if plain_http || is_loopback(registry) {
        "http"
    } else {
        "https"
    };
    let ping = format!("{scheme}://{registry}/v2/");
    let client = http_client()?;
    let first = client
        .get(&ping)
        .send()
        .await
        .map_err(|e| request_error(registry, e))?;
    let status = first.status();
    if status.is_success() {
        return Ok(());
    }
    if status != reqwest::StatusCode::UNAUTHORIZED {
        bail!("the registry {registry} answered {status} to GET /v2/ (is it an OCI registry?)");
    }
    let header = first
        .headers()
        .get(reqwest::header::WWW_AUTHENTICATE)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .to_string();
    let refused = || {
        anyhow!("the registry {registry} refused the credentials for {user:?} (401 Unauthorized)")
    };
    match parse_challenge(&header) {
        Some(Challenge::Basic) => {
            let again = client
                .get(&ping)
                .basic_auth(user, Some(password))
                .send()
                .await
                .map_err(|e| request_error(registry, e))?;
            match again.status() {
                s if s.is_success() => Ok(()),
                reqwest::StatusCode::UNAUTHORIZED | reqwest::StatusCode::FORBIDDEN => {
                    Err(refused())
                }
                s => bail!("the registry {registry} answered {s} to an authenticated GET /v2/"),
            }
        }
        Some(Challenge::Bearer { realm, service }) => {
            let mut url = url::Url::parse(&realm).map_err(|_| {
                anyhow!("the registry {registry} names an invalid token service {realm:?}")
            })?;
            realm_allowed(&url, registry, scheme)?;
            {
                let mut q = url.query_pairs_mut();
                if let Some(s) = &service {
                    q.append_pair("service", s);
                }
                q.append_pair("account", user);
            }
            let token = client
                .get(url.clone())
                .basic_auth(user, Some(password))
                .send()
                .await
                .map_err(|e| request_error(url.host_str().unwrap_or(registry), e))?;
            match token.status() {
                s if s.is_success() => Ok(()),
                reqwest::StatusCode::UNAUTHORIZED | reqwest::StatusCode::FORBIDDEN => {
                    Err(refused())
                }
                s => bail!(
                    "the token service of {registry} ({}) answered {s}",
                    url.origin().ascii_serialization()
                ),
            }
        }
        None => bail!(
            "the registry {registry} asks for authentication it does not describe \
             (WWW-Authenticate: {:?})",
            header.split(' ').next().unwrap_or("")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        assert_eq!(
            parse_challenge(r#"Basic realm="Registry Realm""#),
            Some(Challenge::Basic)
        );
        assert_eq!(
            parse_challenge(
                r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:x:pull""#
            ),
            Some(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into())
            })
        );
        assert_eq!(
            parse_challenge(r#"bearer  service=svc , realm="https://a/t?x=\"y\"""#),
            Some(Challenge::Bearer {
                realm: r#"https://a/t?x="y""#.into(),
                service: Some("svc".into())
            })
        );
        assert_eq!(parse_challenge("Bearer service=x"), None);
        assert_eq!(parse_challenge("Negotiate"), None);
        assert_eq!(parse_challenge(""), None);
    }

    #[test]
    fn realms() {
        let ok = |r: &str, reg: &str, scheme: &str| {
            realm_allowed(&url::Url::parse(r).unwrap(), reg, scheme)
        };
        assert!(ok("https://auth.example/token", "reg.example", "https").is_ok());
        assert!(ok("http://127.0.0.1:5000/token", "127.0.0.1:5000", "http").is_ok());
        assert!(ok("http://reg.example/token", "reg.example", "http").is_ok());
        assert!(ok("https://auth.example/token", "reg.example", "http").is_err());
        let e = ok("http://evil.example:8080/token", "reg.example", "http")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(
                "the registry reg.example asks for credentials to be sent to http://evil.example:8080; refused: "
            ),
            "{e}"
        );
        assert!(ok("http://auth.example/token", "reg.example", "https").is_err());
    }
}
