//! One conversation with a registry: the authentication handshake, the idle timeout, and the
//! capped manifest download.
//!
//! Written by hand rather than left to oci-client, because oci-client's `auth` sends Basic
//! credentials to whatever token realm the registry's challenge names, over any scheme, and
//! repeats that handshake (re-reading the challenge) whenever a token expires. Here the
//! challenge is read once, the realm is judged by [`realm_allowed`], the token is fetched here
//! (and refreshed here, from the same realm), and oci-client only ever holds a finished bearer
//! token, or, for registries that ask for Basic auth themselves, the credentials pre-seeded in
//! its token cache so that it never runs a handshake of its own.
//!
//! The credential rule (README, "Credentials"): credentials go to the registry itself; to a
//! token realm elsewhere only over HTTPS and only when the registry itself was reached over
//! HTTPS (over plain HTTP the challenge naming the realm is unauthenticated, so anyone on the
//! path could name their own). Docker, containerd and oras send them to any realm; this is
//! that behaviour minus plain HTTP.

use std::future::Future;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use base64::Engine;
use oci_client::errors::OciDistributionError;
use oci_client::secrets::RegistryAuth;
use oci_client::token_cache::RegistryTokenType;
use oci_client::{
    Client, Reference, RegistryOperation, client::ClientConfig, client::ClientProtocol,
};
use reqwest::Url;
use tokio::time::Instant;

use super::{PARALLEL, is_loopback};

/// How long to wait for a TCP (and TLS) connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest token response read.
const MAX_TOKEN_RESPONSE: usize = 1 << 20;
/// Token lifetime assumed when the token service does not say (distribution's token spec).
const DEFAULT_TOKEN_SECS: u64 = 60;
const USER_AGENT: &str = concat!("modelpack/", env!("CARGO_PKG_VERSION"));

/// What the registry asked for on `GET /v2/`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Challenge {
    None,
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

/// What oci-client is given.
#[derive(Clone)]
enum Grant {
    Nothing,
    /// The registry asked for Basic auth: the credentials go to it and nowhere else.
    Basic(String, String),
    /// A token from the docker config, sent to the registry only.
    Static(String),
    /// A token from the registry's token service, refreshed from the same realm.
    Token {
        token: String,
        realm: Url,
        service: Option<String>,
        creds: Option<(String, String)>,
        refresh_at: Instant,
    },
}

struct State {
    grant: Grant,
    client: Client,
}

/// An authenticated conversation with one repository of one registry.
pub(crate) struct Session {
    reference: Reference,
    base: Url,
    op: RegistryOperation,
    plain_http: bool,
    timeout: Duration,
    http: reqwest::Client,
    state: tokio::sync::Mutex<State>,
}

/// Whether credentials may be sent to the token `realm` of a registry reached at `registry`
/// (see the module doc); the error says why not.
pub fn realm_allowed(registry: &Url, realm: &Url) -> Result<(), String> {
    let same_origin = realm.scheme() == registry.scheme()
        && realm.host_str() == registry.host_str()
        && realm.port_or_known_default() == registry.port_or_known_default();
    if same_origin {
        return Ok(());
    }
    match (registry.scheme(), realm.scheme()) {
        ("https", "https") => Ok(()),
        ("http", _) => Err(
            "the registry is reached over plain HTTP, so credentials go only to the registry \
             itself (same host and port), never to a token service it names elsewhere"
                .into(),
        ),
        (_, "http") => {
            Err("the token service is plain HTTP: credentials would travel unencrypted".into())
        }
        (_, other) => Err(format!("unsupported token service scheme {other:?}")),
    }
}

/// The error for a registry silent for `timeout`: never retried (the wait would multiply).
pub(crate) fn timed_out(timeout: Duration) -> OciDistributionError {
    OciDistributionError::IoError(io::Error::new(
        io::ErrorKind::TimedOut,
        format!(
            "no answer from the registry for {} s (--timeout)",
            timeout.as_secs_f64()
        ),
    ))
}

/// Turns reqwest's timeouts into [`timed_out`].
fn with_timeout_text(e: OciDistributionError, timeout: Duration) -> OciDistributionError {
    match &e {
        OciDistributionError::RequestError(r) if r.is_timeout() && !r.is_connect() => {
            timed_out(timeout)
        }
        _ => e,
    }
}

/// The last moment data moved, shared by a request and the watchdog that guards it.
#[derive(Clone)]
pub(crate) struct Activity(Arc<Mutex<Instant>>);

impl Activity {
    /// Starts the clock now.
    pub fn new() -> Activity {
        Activity(Arc::new(Mutex::new(Instant::now())))
    }

    /// Data moved.
    pub fn touch(&self) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
    }

    fn last(&self) -> Instant {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Runs `fut`, failing it with [`timed_out`] once `activity` has not moved for `timeout`:
/// an idle timeout that a long upload or download keeps alive as long as bytes flow.
/// (reqwest's own read timeout counts from the start of a request, upload included.)
pub(crate) async fn idle<T>(
    timeout: Duration,
    activity: Activity,
    fut: impl Future<Output = Result<T, OciDistributionError>>,
) -> Result<T, OciDistributionError> {
    tokio::pin!(fut);
    loop {
        let deadline = activity.last() + timeout;
        tokio::select! {
            r = &mut fut => return r.map_err(|e| with_timeout_text(e, timeout)),
            _ = tokio::time::sleep_until(deadline) => {
                if activity.last() + timeout <= Instant::now() {
                    return Err(timed_out(timeout));
                }
            }
        }
    }
}

/// rustls is built without a default provider (no aws-lc C build): ring, installed once.
fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn parse_challenge(header: &str) -> Challenge {
    let mut basic = false;
    for c in http_auth::parser::ChallengeParser::new(header).flatten() {
        if c.scheme.eq_ignore_ascii_case("bearer") {
            let param = |name: &str| {
                c.params
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.to_unescaped())
            };
            if let Some(realm) = param("realm") {
                return Challenge::Bearer {
                    realm,
                    service: param("service"),
                };
            }
        } else if c.scheme.eq_ignore_ascii_case("basic") {
            basic = true;
        }
    }
    if basic {
        Challenge::Basic
    } else {
        Challenge::None
    }
}

/// Reads a response body, refusing more than `cap` bytes (never reading past `cap + 1`).
async fn read_capped(
    mut resp: reqwest::Response,
    cap: usize,
    what: &str,
) -> Result<Vec<u8>, OciDistributionError> {
    let too_big = || {
        OciDistributionError::IoError(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{what} is larger than {cap} bytes"),
        ))
    };
    if resp.content_length().is_some_and(|n| n > cap as u64) {
        return Err(too_big());
    }
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        if out.len() + chunk.len() > cap {
            return Err(too_big());
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

pub(crate) fn status_error(resp: &reqwest::Response) -> OciDistributionError {
    OciDistributionError::ServerError {
        code: resp.status().as_u16(),
        url: resp.url().to_string(),
        message: resp
            .status()
            .canonical_reason()
            .unwrap_or("unexpected status")
            .to_string(),
    }
}

impl Session {
    /// Reads the registry's challenge and obtains what the operation needs.
    pub async fn open(
        reference: &Reference,
        creds: &RegistryAuth,
        op: RegistryOperation,
        plain_http: bool,
        timeout: Duration,
    ) -> Result<Session> {
        let registry = reference.resolve_registry().to_string();
        let plain_http = plain_http || is_loopback(&registry);
        let scheme = if plain_http { "http" } else { "https" };
        let base = Url::parse(&format!("{scheme}://{registry}/"))
            .with_context(|| format!("invalid registry address {registry:?}"))?;
        install_crypto();
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(timeout)
            .user_agent(USER_AGENT)
            // reqwest drops Authorization on a redirect to another origin.
            .redirect(reqwest::redirect::Policy::limited(10))
            .build()
            .context("starting the HTTP client")?;
        let challenge = super::retry("contacting the registry", || async {
            let resp = http
                .get(base.join("v2/").expect("a constant path joins"))
                .send()
                .await
                .map_err(|e| with_timeout_text(e.into(), timeout))?;
            let header = resp
                .headers()
                .get(reqwest::header::WWW_AUTHENTICATE)
                .and_then(|h| h.to_str().ok())
                .map(str::to_string);
            match resp.status().as_u16() {
                401 => Ok(header.as_deref().map_or(Challenge::None, parse_challenge)),
                code if code >= 500 => Err(status_error(&resp)),
                // 200, or a registry that does not implement the check: no auth asked for.
                _ => Ok(Challenge::None),
            }
        })
        .await?;
        let mut session = Session {
            reference: reference.clone(),
            base,
            op,
            plain_http,
            timeout,
            http,
            state: tokio::sync::Mutex::new(State {
                grant: Grant::Nothing,
                client: Client::default(),
            }),
        };
        let grant = session.grant(challenge, creds).await?;
        let client = session.build_client(&grant).await;
        *session.state.get_mut() = State { grant, client };
        Ok(session)
    }

    async fn grant(&self, challenge: Challenge, creds: &RegistryAuth) -> Result<Grant> {
        if let RegistryAuth::Bearer(t) = creds {
            return Ok(Grant::Static(t.clone()));
        }
        let basic = match creds {
            RegistryAuth::Basic(u, p) => Some((u.clone(), p.clone())),
            _ => None,
        };
        Ok(match challenge {
            Challenge::None => Grant::Nothing,
            Challenge::Basic => match basic {
                Some((u, p)) => Grant::Basic(u, p),
                None => Grant::Nothing,
            },
            Challenge::Bearer { realm, service } => {
                let realm_url = self.base.join(&realm).map_err(|e| {
                    anyhow!("the registry names an invalid token service {realm:?}: {e}")
                })?;
                if basic.is_some()
                    && let Err(why) = realm_allowed(&self.base, &realm_url)
                {
                    bail!(
                        "refusing to send credentials to the token service {realm_url} that \
                         {} names: {why}",
                        self.reference.resolve_registry()
                    );
                }
                let (token, refresh_at) = self.fetch_token(&realm_url, &service, &basic).await?;
                Grant::Token {
                    token,
                    realm: realm_url,
                    service,
                    creds: basic,
                    refresh_at,
                }
            }
        })
    }

    fn scope(&self) -> String {
        let actions = match self.op {
            RegistryOperation::Pull => "pull",
            RegistryOperation::Push => "pull,push",
        };
        format!("repository:{}:{actions}", self.reference.repository())
    }

    async fn fetch_token(
        &self,
        realm: &Url,
        service: &Option<String>,
        creds: &Option<(String, String)>,
    ) -> Result<(String, Instant)> {
        self.fetch_token_for(realm, service, creds, &[self.scope()])
            .await
    }

    /// A token for `scopes` (the token specification repeats `scope` for several).
    async fn fetch_token_for(
        &self,
        realm: &Url,
        service: &Option<String>,
        creds: &Option<(String, String)>,
        scopes: &[String],
    ) -> Result<(String, Instant)> {
        let body = super::retry(
            "fetching a token from the registry's token service",
            || async {
                let mut query: Vec<(&str, &str)> =
                    scopes.iter().map(|s| ("scope", s.as_str())).collect();
                if let Some(s) = service {
                    query.push(("service", s.as_str()));
                }
                let mut req = self.http.get(realm.clone()).query(&query);
                if let Some((u, p)) = creds {
                    req = req.basic_auth(u, Some(p));
                }
                let resp = req
                    .send()
                    .await
                    .map_err(|e| with_timeout_text(e.into(), self.timeout))?;
                if !resp.status().is_success() {
                    return Err(status_error(&resp));
                }
                read_capped(resp, MAX_TOKEN_RESPONSE, "the token response")
                    .await
                    .map_err(|e| with_timeout_text(e, self.timeout))
            },
        )
        .await?;
        let v: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| anyhow!("the token service {realm} answered something not JSON: {e}"))?;
        let token = ["token", "access_token"]
            .iter()
            .find_map(|k| v.get(k).and_then(|t| t.as_str()).filter(|t| !t.is_empty()))
            .ok_or_else(|| anyhow!("the token service {realm} answered without a token"))?
            .to_string();
        let secs = v
            .get("expires_in")
            .and_then(|e| e.as_u64())
            .unwrap_or(DEFAULT_TOKEN_SECS)
            .clamp(10, 24 * 3600);
        // Renewed once three quarters of its life are gone, so no request starts with a
        // token about to expire.
        Ok((token, Instant::now() + Duration::from_secs(secs * 3 / 4)))
    }

    async fn build_client(&self, grant: &Grant) -> Client {
        install_crypto();
        let registry = self.reference.resolve_registry().to_string();
        let protocol = if self.plain_http {
            ClientProtocol::HttpsExcept(vec![registry.clone()])
        } else {
            ClientProtocol::Https
        };
        let client = Client::new(ClientConfig {
            protocol,
            use_monolithic_push: true,
            max_concurrent_upload: PARALLEL,
            max_concurrent_download: PARALLEL,
            connect_timeout: Some(CONNECT_TIMEOUT),
            // Idle timeouts come from `idle` (reqwest's counts from the request's start).
            read_timeout: None,
            user_agent: USER_AGENT,
            ..Default::default()
        });
        match grant {
            Grant::Nothing => {}
            Grant::Basic(u, p) => {
                client
                    .store_auth_if_needed(&registry, &RegistryAuth::Basic(u.clone(), p.clone()))
                    .await;
                // Pre-seeded (Basic entries never expire), so oci-client never runs its own
                // handshake with these credentials.
                for op in [RegistryOperation::Pull, RegistryOperation::Push] {
                    client
                        .tokens
                        .insert(
                            &self.reference,
                            op,
                            RegistryTokenType::Basic(u.clone(), p.clone()),
                        )
                        .await;
                }
            }
            Grant::Static(token) | Grant::Token { token, .. } => {
                // With a bearer token oci-client's handshake returns the token untouched.
                client
                    .store_auth_if_needed(&registry, &RegistryAuth::Bearer(token.clone()))
                    .await;
            }
        }
        client
    }

    /// The oci-client to use for the next request, its token renewed if it is getting old.
    pub async fn client(&self) -> Result<Client> {
        let mut state = self.state.lock().await;
        if let Grant::Token {
            realm,
            service,
            creds,
            refresh_at,
            ..
        } = &state.grant
            && Instant::now() >= *refresh_at
        {
            let (realm, service, creds) = (realm.clone(), service.clone(), creds.clone());
            let (token, refresh_at) = self.fetch_token(&realm, &service, &creds).await?;
            let grant = Grant::Token {
                token,
                realm,
                service,
                creds,
                refresh_at,
            };
            state.client = self.build_client(&grant).await;
            state.grant = grant;
        }
        Ok(state.client.clone())
    }

    /// A request for a cross-repository mount from `from`. Behind a token service the
    /// session's token only covers its own repository, and registries answer a mount the
    /// token may not read from with an upload session instead (a silent fall back to
    /// uploading every byte): so the mount carries a token that also grants `pull` on `from`.
    pub(crate) async fn mount_request(
        &self,
        url: Url,
        from: &str,
    ) -> Result<reqwest::RequestBuilder, OciDistributionError> {
        let grant = match &self.state.lock().await.grant {
            Grant::Token {
                realm,
                service,
                creds,
                ..
            } => Some((realm.clone(), service.clone(), creds.clone())),
            _ => None,
        };
        let Some((realm, service, creds)) = grant else {
            return self.request(reqwest::Method::POST, url).await;
        };
        let scopes = [self.scope(), format!("repository:{from}:pull")];
        let (token, _) = self
            .fetch_token_for(&realm, &service, &creds, &scopes)
            .await
            .map_err(|e| OciDistributionError::GenericError(Some(format!("{e:#}"))))?;
        Ok(self
            .http
            .request(reqwest::Method::POST, url)
            .header(reqwest::header::AUTHORIZATION, format!("Bearer {token}")))
    }

    async fn authorization(&self) -> Option<String> {
        match &self.state.lock().await.grant {
            Grant::Nothing => None,
            Grant::Basic(u, p) => Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
            )),
            Grant::Static(t) | Grant::Token { token: t, .. } => Some(format!("Bearer {t}")),
        }
    }

    /// `v2/<repo>/<rest>` of this session's repository.
    pub(crate) fn repo_url(&self, rest: &str) -> Result<Url> {
        self.base
            .join(&format!("v2/{}/{rest}", self.reference.repository()))
            .with_context(|| format!("invalid repository {:?}", self.reference.repository()))
    }

    /// A request to `url` carrying the session's credentials, the token renewed first if it is
    /// getting old. Credentials go only to the registry itself: a `Location` on another origin
    /// (an upload or download offloaded to storage) gets the request without them.
    pub(crate) async fn request(
        &self,
        method: reqwest::Method,
        url: Url,
    ) -> Result<reqwest::RequestBuilder, OciDistributionError> {
        self.client()
            .await
            .map_err(|e| OciDistributionError::GenericError(Some(e.to_string())))?;
        let same_origin = url.scheme() == self.base.scheme()
            && url.host_str() == self.base.host_str()
            && url.port_or_known_default() == self.base.port_or_known_default();
        let mut req = self.http.request(method, url);
        if same_origin && let Some(a) = self.authorization().await {
            req = req.header(reqwest::header::AUTHORIZATION, a);
        }
        Ok(req)
    }

    /// Fetches the manifest the reference names, reading no more than `cap` bytes of it
    /// (a larger one is refused as soon as its length is known, or once `cap` is passed).
    pub async fn manifest(&self, accept: &str, cap: usize) -> Result<Vec<u8>> {
        let r = &self.reference;
        let what = r
            .digest()
            .map(str::to_string)
            .unwrap_or_else(|| r.tag().unwrap_or("latest").to_string());
        let url = self
            .base
            .join(&format!("v2/{}/manifests/{what}", r.repository()))
            .with_context(|| format!("invalid repository {:?}", r.repository()))?;
        // Renews the token first if it is getting old.
        self.client().await?;
        super::retry("fetching the manifest", || async {
            let mut req = self
                .http
                .get(url.clone())
                .header(reqwest::header::ACCEPT, accept);
            if let Some(a) = self.authorization().await {
                req = req.header(reqwest::header::AUTHORIZATION, a);
            }
            let resp = req
                .send()
                .await
                .map_err(|e| with_timeout_text(e.into(), self.timeout))?;
            // A missing tag or digest is the registry's answer, not a server fault: said as
            // the other registry errors are (see `plain`), without the URL.
            if resp.status() == reqwest::StatusCode::NOT_FOUND {
                return Err(OciDistributionError::ImageManifestNotFoundError(
                    resp.url().to_string(),
                ));
            }
            if !resp.status().is_success() {
                return Err(status_error(&resp));
            }
            read_capped(resp, cap, "the manifest")
                .await
                .map_err(|e| with_timeout_text(e, self.timeout))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn realm_rule() {
        let https = url("https://reg.example/");
        let plain = url("http://127.0.0.1:5000/");
        // Same origin: always.
        assert!(realm_allowed(&plain, &url("http://127.0.0.1:5000/token")).is_ok());
        assert!(realm_allowed(&https, &url("https://reg.example/token")).is_ok());
        // HTTPS registry, HTTPS realm elsewhere (Docker Hub's auth.docker.io): allowed.
        assert!(realm_allowed(&https, &url("https://auth.example/token")).is_ok());
        // Plain HTTP anywhere else: refused, loopback or not.
        assert!(realm_allowed(&plain, &url("http://127.0.0.1:5001/token")).is_err());
        assert!(realm_allowed(&plain, &url("https://auth.example/token")).is_err());
        assert!(realm_allowed(&https, &url("http://reg.example/token")).is_err());
        assert!(realm_allowed(&https, &url("http://auth.example/token")).is_err());
        assert!(realm_allowed(&https, &url("ftp://auth.example/token")).is_err());
    }

    #[test]
    fn challenges() {
        assert_eq!(
            parse_challenge(r#"Bearer realm="https://a.example/token",service="reg",scope="x""#),
            Challenge::Bearer {
                realm: "https://a.example/token".into(),
                service: Some("reg".into())
            }
        );
        assert_eq!(parse_challenge(r#"Basic realm="r""#), Challenge::Basic);
        assert_eq!(parse_challenge("Negotiate"), Challenge::None);
    }
}
