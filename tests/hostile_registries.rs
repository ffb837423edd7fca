//! Registries that misbehave: a token realm on another origin over plain HTTP (credentials
//! must not go there), a manifest too large to hold, a registry that accepts and never
//! answers, one that stalls halfway through a blob. Each is a tiny HTTP/1.1 server on
//! 127.0.0.1 written here ([`Fake`]), recording what it received.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::util::modelpack;

/// One request the fake registry received.
#[derive(Debug, Clone)]
pub struct Req {
    /// GET, HEAD, PUT…
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Headers, names lowercased.
    pub headers: Vec<(String, String)>,
    /// The body (de-chunked).
    pub body: Vec<u8>,
}

impl Req {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What the fake registry does with a request.
pub enum Reply {
    /// A complete response.
    Full(u16, Vec<(String, String)>, Vec<u8>),
    /// Never answer (keep the connection open).
    Silent,
    /// A 200 streaming zeros for ever (or until the client goes), counting what was written.
    Endless(Option<u64>, Arc<AtomicU64>),
    /// A 200 announcing `len` bytes, sending `sent` of them, then going silent.
    Stall(u64, Vec<u8>),
}

impl Reply {
    /// A response with a status and JSON body.
    pub fn json(code: u16, body: &str) -> Reply {
        Reply::Full(
            code,
            vec![("Content-Type".into(), "application/json".into())],
            body.as_bytes().to_vec(),
        )
    }
}

type Handler = dyn Fn(&Req, &str) -> Reply + Send + Sync;

/// A fake registry on a free loopback port.
pub struct Fake {
    /// `127.0.0.1:PORT`.
    pub addr: String,
    /// Every request received, in order.
    pub log: Arc<Mutex<Vec<Req>>>,
}

impl Fake {
    /// Starts serving; the handler gets each request and this server's address.
    pub fn start(handler: impl Fn(&Req, &str) -> Reply + Send + Sync + 'static) -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let log = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        {
            let (log, addr) = (log.clone(), addr.clone());
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    let Ok(conn) = conn else { continue };
                    let (log, handler, addr) = (log.clone(), handler.clone(), addr.clone());
                    std::thread::spawn(move || serve(conn, &*handler, &log, &addr));
                }
            });
        }
        Fake { addr, log }
    }

    /// The requests received so far.
    pub fn requests(&self) -> Vec<Req> {
        self.log.lock().unwrap().clone()
    }
}

fn read_request(r: &mut BufReader<TcpStream>) -> Option<Req> {
    let mut line = String::new();
    if r.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        r.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    let get = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    let mut body = Vec::new();
    if get("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        loop {
            let mut size = String::new();
            r.read_line(&mut size).ok()?;
            let n = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
            let mut chunk = vec![0u8; n + 2];
            r.read_exact(&mut chunk).ok()?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    } else if let Some(n) = get("content-length").and_then(|v| v.parse::<usize>().ok()) {
        body.resize(n, 0);
        r.read_exact(&mut body).ok()?;
    }
    Some(Req {
        method,
        path,
        headers,
        body,
    })
}

fn serve(conn: TcpStream, handler: &Handler, log: &Mutex<Vec<Req>>, addr: &str) {
    let mut w = conn.try_clone().unwrap();
    let mut r = BufReader::new(conn);
    while let Some(req) = read_request(&mut r) {
        log.lock().unwrap().push(req.clone());
        let head = |code: u16, headers: &[(String, String)], len: Option<u64>| {
            let mut s = format!("HTTP/1.1 {code} X\r\n");
            for (k, v) in headers {
                s.push_str(&format!("{k}: {v}\r\n"));
            }
            if let Some(n) = len {
                s.push_str(&format!("Content-Length: {n}\r\n"));
            }
            s + "\r\n"
        };
        match handler(&req, addr) {
            Reply::Full(code, headers, body) => {
                let mut out = head(code, &headers, Some(body.len() as u64)).into_bytes();
                if req.method != "HEAD" {
                    out.extend_from_slice(&body);
                }
                if w.write_all(&out).is_err() {
                    return;
                }
            }
            Reply::Silent => {
                std::thread::sleep(Duration::from_secs(120));
                return;
            }
            Reply::Endless(len, sent) => {
                let ct = vec![(
                    "Content-Type".into(),
                    "application/vnd.oci.image.manifest.v1+json".into(),
                )];
                if w.write_all(head(200, &ct, len).as_bytes()).is_err() {
                    return;
                }
                let zeros = vec![b' '; 64 << 10];
                while w.write_all(&zeros).is_ok() {
                    sent.fetch_add(zeros.len() as u64, Ordering::Relaxed);
                }
                return;
            }
            Reply::Stall(len, part) => {
                let _ = w.write_all(head(200, &[], Some(len)).as_bytes());
                let _ = w.write_all(&part);
                std::thread::sleep(Duration::from_secs(120));
                return;
            }
        }
    }
}

/// Runs modelpack with registry credentials set (and no docker config); (code, stdout,
/// stderr, seconds taken). A run still going after 90 s is killed (code -1), which fails the
/// test: every case here must end by itself.
pub fn run_with_creds(args: &[&str], creds: Option<(&str, &str)>) -> (i32, String, String, f64) {
    let mut cmd = modelpack();
    cmd.args(args)
        .env_remove("MODELPACK_REGISTRY_USERNAME")
        .env_remove("MODELPACK_REGISTRY_PASSWORD")
        .env("DOCKER_CONFIG", "/nonexistent-modelpack-test")
        .timeout(Duration::from_secs(90));
    if let Some((u, p)) = creds {
        cmd.env("MODELPACK_REGISTRY_USERNAME", u)
            .env("MODELPACK_REGISTRY_PASSWORD", p);
    }
    let start = Instant::now();
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        start.elapsed().as_secs_f64(),
    )
}

const USER: &str = "alice";
const SECRET: &str = "s3cret-Pa55word-never-over-plain-http";

/// Whether a request carried our Basic credentials.
fn carries_creds(r: &Req) -> bool {
    r.header("authorization").is_some_and(|a| {
        a.starts_with("Basic ")
            || a.contains(SECRET)
            || a.contains(&base64(&format!("{USER}:{SECRET}")))
    })
}

fn base64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn one_line(stderr: &str) {
    assert_eq!(stderr.trim().lines().count(), 1, "not one line: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn credentials_never_go_to_a_plain_http_realm_on_another_origin() {
    // The token service a hostile (or tampered-with) registry names: another port, plain HTTP.
    let realm = Fake::start(|_, _| Reply::json(200, r#"{"token":"t"}"#));
    let realm_url = format!("http://{}/token", realm.addr);
    let registry = Fake::start(move |req, _| {
        if req.path.starts_with("/v2/") {
            Reply::Full(
                401,
                vec![(
                    "WWW-Authenticate".into(),
                    format!(r#"Bearer realm="{realm_url}",service="fake""#),
                )],
                Vec::new(),
            )
        } else {
            Reply::json(404, "{}")
        }
    });
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("pulled");
    let target = format!("{}/models/tiny:v1", registry.addr);
    let (code, stdout, stderr, _) = run_with_creds(
        &["pull", &target, "-o", out.to_str().unwrap()],
        Some((USER, SECRET)),
    );
    assert_eq!(code, 2, "{stdout}\n{stderr}");
    one_line(&stderr);
    assert!(
        stderr.contains("refusing to send credentials")
            && stderr.contains(&realm.addr)
            && stderr.contains("plain HTTP"),
        "{stderr}"
    );
    assert!(!stderr.contains(SECRET), "{stderr}");
    let leaked: Vec<Req> = realm
        .requests()
        .into_iter()
        .filter(|r| r.header("authorization").is_some())
        .collect();
    assert!(
        leaked.is_empty(),
        "credentials sent to the realm: {leaked:?}"
    );
    assert!(!out.exists());

    // push: the same refusal before any blob is read or sent.
    let layout = work.path().join("layout");
    crate::unpack::craft_layout(&layout, &[crate::unpack::raw("w.bin", b"weights")]);
    let (code, _, stderr, _) = run_with_creds(
        &["push", layout.to_str().unwrap(), &target],
        Some((USER, SECRET)),
    );
    assert_eq!(code, 2, "{stderr}");
    one_line(&stderr);
    assert!(stderr.contains("refusing to send credentials"), "{stderr}");
    assert!(
        realm.requests().iter().all(|r| !carries_creds(r)),
        "{:?}",
        realm.requests()
    );
    assert!(
        registry.requests().iter().all(|r| r.method == "GET"),
        "nothing but the /v2/ check may reach the registry: {:?}",
        registry.requests()
    );
}

#[test]
fn credentials_go_to_a_realm_of_the_registry_itself() {
    // The control for the test above: the same setup with the realm on the registry's own
    // origin, where the credentials do arrive (so the refusal above is the rule, not a bug).
    let registry = Fake::start(|req, addr| {
        if req.path == "/v2/" {
            Reply::Full(
                401,
                vec![(
                    "WWW-Authenticate".into(),
                    format!(r#"Bearer realm="http://{addr}/token",service="fake""#),
                )],
                Vec::new(),
            )
        } else if req.path.starts_with("/token") {
            Reply::json(200, r#"{"token":"the-token","expires_in":300}"#)
        } else {
            Reply::json(
                404,
                r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"no"}]}"#,
            )
        }
    });
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("pulled");
    let target = format!("{}/models/tiny:v1", registry.addr);
    let (code, _, stderr, _) = run_with_creds(
        &["pull", &target, "-o", out.to_str().unwrap()],
        Some((USER, SECRET)),
    );
    assert_eq!(code, 2, "{stderr}");
    one_line(&stderr);
    let reqs = registry.requests();
    let token_req = reqs
        .iter()
        .find(|r| r.path.starts_with("/token"))
        .unwrap_or_else(|| panic!("no token request: {reqs:?}"));
    assert!(carries_creds(token_req), "{token_req:?}");
    assert!(
        token_req
            .path
            .contains("scope=repository%3Amodels%2Ftiny%3Apull"),
        "{token_req:?}"
    );
    let manifest_req = reqs
        .iter()
        .find(|r| r.path.contains("/manifests/"))
        .unwrap_or_else(|| panic!("no manifest request: {reqs:?}"));
    assert_eq!(
        manifest_req.header("authorization"),
        Some("Bearer the-token"),
        "{manifest_req:?}"
    );
}

#[test]
fn pull_refuses_a_huge_manifest_without_reading_it() {
    for announce in [true, false] {
        let sent = Arc::new(AtomicU64::new(0));
        let counter = sent.clone();
        let registry = Fake::start(move |req, _| {
            if req.path == "/v2/" {
                Reply::json(200, "{}")
            } else {
                // 2 GiB announced (or no length at all), zeros for as long as anyone reads.
                Reply::Endless(announce.then_some(2 << 30), counter.clone())
            }
        });
        let work = tempfile::tempdir().unwrap();
        let out = work.path().join("pulled");
        let target = format!("{}/models/huge:v1", registry.addr);
        let (code, _, stderr, _) =
            run_with_creds(&["pull", &target, "-o", out.to_str().unwrap()], None);
        assert_eq!(code, 2, "{stderr}");
        one_line(&stderr);
        assert!(
            stderr.contains("the manifest is larger than 4194304 bytes"),
            "{stderr}"
        );
        // The client stopped reading right after 4 MiB: what the server managed to write is
        // that plus socket buffers, far from the 2 GiB on offer.
        std::thread::sleep(Duration::from_millis(300));
        let n = sent.load(Ordering::Relaxed);
        assert!(
            n < 64 << 20,
            "the server wrote {n} bytes before the client hung up"
        );
        assert!(!out.exists());
        let left: Vec<_> = std::fs::read_dir(work.path()).unwrap().collect();
        assert!(left.is_empty(), "{left:?}");
    }
}

#[test]
fn a_silent_registry_fails_after_the_idle_timeout() {
    // Accepts the connection, reads the request, never answers.
    let silent = Fake::start(|_, _| Reply::Silent);
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("pulled");
    let target = format!("{}/models/tiny:v1", silent.addr);
    let (code, _, stderr, secs) = run_with_creds(
        &[
            "pull",
            &target,
            "-o",
            out.to_str().unwrap(),
            "--timeout",
            "2",
        ],
        None,
    );
    assert_eq!(code, 2, "{stderr}");
    one_line(&stderr);
    assert!(
        stderr.contains("no answer from the registry for 2 s"),
        "{stderr}"
    );
    // Not retried: one timeout, not three.
    assert!(secs < 30.0, "took {secs} s");
    assert!(!out.exists());

    let layout = work.path().join("layout");
    crate::unpack::craft_layout(&layout, &[crate::unpack::raw("w.bin", b"weights")]);
    let (code, _, stderr, _) = run_with_creds(
        &["push", layout.to_str().unwrap(), &target, "--timeout", "2"],
        None,
    );
    assert_eq!(code, 2, "{stderr}");
    one_line(&stderr);
    assert!(
        stderr.contains("no answer from the registry for 2 s"),
        "{stderr}"
    );
}

#[test]
fn a_registry_stalling_in_the_middle_of_a_blob_fails_after_the_idle_timeout() {
    let config = br#"{"descriptor":{},"config":{},"modelfs":{"type":"layers","diffIds":[]}}"#;
    let config_digest = ::modelpack::oci::Digest::of(config).to_string();
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.cncf.model.manifest.v1+json","config":{{"mediaType":"application/vnd.cncf.model.config.v1+json","digest":"{config_digest}","size":{}}},"layers":[]}}"#,
        config.len()
    );
    let registry = Fake::start(move |req, _| {
        if req.path == "/v2/" {
            Reply::json(200, "{}")
        } else if req.path.contains("/manifests/") {
            Reply::Full(
                200,
                vec![(
                    "Content-Type".into(),
                    "application/vnd.oci.image.manifest.v1+json".into(),
                )],
                manifest.clone().into_bytes(),
            )
        } else {
            // Half the config, then nothing.
            Reply::Stall(config.len() as u64, config[..20].to_vec())
        }
    });
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("pulled");
    let target = format!("{}/models/tiny:v1", registry.addr);
    let (code, _, stderr, _) = run_with_creds(
        &[
            "pull",
            &target,
            "-o",
            out.to_str().unwrap(),
            "--timeout",
            "2",
        ],
        None,
    );
    assert_eq!(code, 2, "{stderr}");
    one_line(&stderr);
    assert!(
        stderr.contains("no answer from the registry for 2 s"),
        "{stderr}"
    );
    assert!(!out.exists());
    let left: Vec<_> = std::fs::read_dir(work.path()).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
}
