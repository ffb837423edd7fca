//! Transfers that survive reality: push and pull through a fault-injecting HTTP proxy on
//! loopback in front of the CI registry (MODELPACK_TEST_REGISTRY). The proxy cuts blob
//! downloads mid-stream, ignores Range, answers chunked PATCHes with 201, refuses request
//! bodies over a size, answers bursts of 503, and counts the bytes it relays, so the tests
//! assert what went over the wire, not just that the command succeeded. (`registry_scale`
//! uses the same proxy for `pack --push`.)

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::util::modelpack;

/// Skips (returns None) with a printed reason, or fails under CI.
fn env(name: &str) -> Option<String> {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => Some(v),
        _ => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("{name} is not set: CI must provide it (see .ci/run)");
            }
            eprintln!("skipping: {name} is not set (start a registry as .ci/run does)");
            None
        }
    }
}

/// What the proxy does wrong.
#[derive(Default)]
pub(crate) struct Faults {
    /// Blob GET responses are cut after this many bytes (headers included).
    pub(crate) cut_blob_get_after: Option<usize>,
    /// The Range header is dropped (the registry answers 200 with the whole blob).
    pub(crate) strip_range: bool,
    /// Chunked PATCHes are answered 201 without reaching the registry.
    pub(crate) patch_201: bool,
    /// Requests with a body larger than this are answered 413.
    pub(crate) max_body: Option<usize>,
    /// The next this many requests under `/blobs/` are answered 503.
    pub(crate) fail_blob_requests: u32,
}

/// What the proxy saw.
#[derive(Default, Debug)]
pub(crate) struct Counters {
    /// Response bytes relayed per blob GET path (`…/blobs/sha256:…`).
    pub(crate) blob_get_bytes: BTreeMap<String, usize>,
    /// Request body bytes of PUT and PATCH requests to upload sessions.
    pub(crate) upload_body_bytes: usize,
    /// Requests answered by the proxy itself, by status.
    pub(crate) injected: BTreeMap<u16, u32>,
    /// Method and path of every request.
    pub(crate) requests: Vec<String>,
}

pub(crate) struct Proxy {
    pub(crate) addr: String,
    faults: Arc<Mutex<Faults>>,
    counters: Arc<Mutex<Counters>>,
}

impl Proxy {
    pub(crate) fn start(upstream: &str) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let faults = Arc::new(Mutex::new(Faults::default()));
        let counters = Arc::new(Mutex::new(Counters::default()));
        let (f, c, up) = (faults.clone(), counters.clone(), upstream.to_string());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let (f, c, up) = (f.clone(), c.clone(), up.clone());
                std::thread::spawn(move || {
                    let _ = serve(conn, &up, &f, &c);
                });
            }
        });
        Proxy {
            addr,
            faults,
            counters,
        }
    }

    pub(crate) fn faults(&self) -> std::sync::MutexGuard<'_, Faults> {
        self.faults.lock().unwrap()
    }

    pub(crate) fn take_counters(&self) -> Counters {
        std::mem::take(&mut *self.counters.lock().unwrap())
    }
}

/// Request line, headers (lower-cased names), body.
type Request = (String, Vec<(String, String)>, Vec<u8>);

/// Reads one request.
fn read_request(r: &mut BufReader<TcpStream>) -> std::io::Result<Option<Request>> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let request_line = line.trim_end().to_string();
    let mut headers = Vec::new();
    loop {
        line.clear();
        r.read_line(&mut line)?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let (k, v) = l.split_once(':').unwrap();
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    let get = |k: &str| headers.iter().find(|h| h.0 == k).map(|h| h.1.clone());
    let mut body = Vec::new();
    if let Some(n) = get("content-length") {
        body.resize(n.parse().unwrap(), 0);
        r.read_exact(&mut body)?;
    } else if get("transfer-encoding").is_some_and(|t| t.contains("chunked")) {
        // Decoded; forwarded with a Content-Length instead.
        loop {
            line.clear();
            r.read_line(&mut line)?;
            let n = usize::from_str_radix(line.trim().split(';').next().unwrap(), 16).unwrap();
            let mut chunk = vec![0; n + 2];
            r.read_exact(&mut chunk)?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
        headers.retain(|h| h.0 != "transfer-encoding");
        headers.push(("content-length".into(), body.len().to_string()));
    }
    Ok(Some((request_line, headers, body)))
}

fn reply(mut conn: &TcpStream, status: u16, reason: &str, extra: &str) -> std::io::Result<()> {
    write!(
        conn,
        "HTTP/1.1 {status} {reason}\r\nContent-Length: 0\r\nConnection: close\r\n{extra}\r\n"
    )
}

/// One request per connection: faults decided, the rest relayed with `Connection: close`.
fn serve(
    conn: TcpStream,
    upstream: &str,
    faults: &Mutex<Faults>,
    counters: &Mutex<Counters>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let Some((request_line, mut headers, body)) = read_request(&mut reader)? else {
        return Ok(());
    };
    let mut parts = request_line.split(' ');
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("").to_string();
    let is_blob = path.contains("/blobs/");
    let is_upload = path.contains("/blobs/uploads/");
    let blob_get = method == "GET" && is_blob && !is_upload;
    let mut cut = None;
    {
        let mut f = faults.lock().unwrap();
        let mut c = counters.lock().unwrap();
        c.requests.push(format!("{method} {path}"));
        let inject = |c: &mut Counters, status: u16, reason: &str, extra: &str| {
            *c.injected.entry(status).or_default() += 1;
            reply(&conn, status, reason, extra)
        };
        if is_blob && f.fail_blob_requests > 0 {
            f.fail_blob_requests -= 1;
            return inject(&mut c, 503, "Service Unavailable", "");
        }
        if f.max_body.is_some_and(|m| body.len() > m) {
            return inject(&mut c, 413, "Payload Too Large", "");
        }
        if method == "PATCH" && f.patch_201 {
            return inject(&mut c, 201, "Created", &format!("Location: {path}\r\n"));
        }
        if f.strip_range {
            headers.retain(|h| h.0 != "range");
        }
        if blob_get {
            cut = f.cut_blob_get_after;
        }
        if is_upload && (method == "PUT" || method == "PATCH") {
            c.upload_body_bytes += body.len();
        }
    }
    let mut up = TcpStream::connect(upstream)?;
    let mut head = format!("{request_line}\r\n");
    for (k, v) in headers.iter().filter(|h| h.0 != "connection") {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("connection: close\r\n\r\n");
    up.write_all(head.as_bytes())?;
    up.write_all(&body)?;
    let mut relayed = 0usize;
    let mut buf = vec![0u8; 64 << 10];
    let mut out = &conn;
    loop {
        let n = up.read(&mut buf)?;
        if n == 0 {
            break;
        }
        let n = match cut {
            Some(limit) => n.min(limit - relayed),
            None => n,
        };
        out.write_all(&buf[..n])?;
        relayed += n;
        if cut.is_some_and(|limit| relayed >= limit) {
            break;
        }
    }
    if blob_get {
        *counters
            .lock()
            .unwrap()
            .blob_get_bytes
            .entry(path.clone())
            .or_default() += relayed;
    }
    let _ = conn.shutdown(Shutdown::Both);
    Ok(())
}

/// Size of the big blob: large enough that headers and small blobs are noise next to it.
const BIG: usize = 6 << 20;

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

/// A ModelPack layout written by hand (no plugins needed): a config, a 6 MiB layer of
/// deterministic noise and two small layers, each annotated with its file path.
fn layout(dir: &Path) -> (PathBuf, String) {
    let root = dir.join("layout");
    let blobs = root.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |bytes: &[u8]| {
        let d = sha256(bytes);
        std::fs::write(blobs.join(d.trim_start_matches("sha256:")), bytes).unwrap();
        d
    };
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15 ^ std::process::id() as u64;
    let noise: Vec<u8> = (0..BIG)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let files: [(&str, Vec<u8>); 3] = [
        ("model.safetensors", noise),
        ("config.json", br#"{"model_type": "tiny"}"#.to_vec()),
        (
            "README.md",
            format!("# tiny {}\n", std::process::id()).into_bytes(),
        ),
    ];
    let mut layers = Vec::new();
    let mut diff_ids = Vec::new();
    for (name, bytes) in &files {
        let d = put(bytes);
        diff_ids.push(d.clone());
        layers.push(serde_json::json!({
            "mediaType": "application/vnd.cncf.model.weight.v1.raw",
            "digest": d,
            "size": bytes.len(),
            "annotations": {"org.cncf.model.filepath": name},
        }));
    }
    let config = serde_json::to_vec(&serde_json::json!({
        "descriptor": {"name": "tiny"},
        "config": {},
        "modelfs": {"type": "layers", "diffIds": diff_ids},
    }))
    .unwrap();
    let cd = put(&config);
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/vnd.cncf.model.manifest.v1+json",
        "config": {"mediaType": "application/vnd.cncf.model.config.v1+json", "digest": cd, "size": config.len()},
        "layers": layers,
    }))
    .unwrap();
    let md = put(&manifest);
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": md,
            "size": manifest.len(),
            "annotations": {"org.opencontainers.image.ref.name": "latest"},
        }],
    });
    std::fs::write(root.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    std::fs::write(
        root.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    (root, files[0].0.to_string())
}

struct Setup {
    work: tempfile::TempDir,
    layout: PathBuf,
    registry: String,
    proxy: Proxy,
    /// The transfer cache of this test (partial downloads, blob locations).
    cache: PathBuf,
    big: String,
}

fn setup() -> Option<Setup> {
    let registry = env("MODELPACK_TEST_REGISTRY")?;
    let work = tempfile::tempdir().unwrap();
    let (layout, _) = layout(work.path());
    let mut big = None;
    for e in std::fs::read_dir(layout.join("blobs/sha256")).unwrap() {
        let e = e.unwrap();
        if e.metadata().unwrap().len() as usize >= BIG {
            big = Some(format!("sha256:{}", e.file_name().to_string_lossy()));
        }
    }
    let cache = work.path().join("cache");
    Some(Setup {
        proxy: Proxy::start(&registry),
        layout,
        registry,
        cache,
        big: big.expect("the 6 MiB blob"),
        work,
    })
}

fn repo(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("modelpack-test/transfers-{name}-{nanos}")
}

impl Setup {
    /// Runs modelpack with this test's transfer cache; (exit code, stdout, stderr).
    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let out = modelpack()
            .args(args)
            .env("MODELPACK_CACHE_DIR", &self.cache)
            .env_remove("MODELPACK_REGISTRY_USERNAME")
            .env_remove("MODELPACK_REGISTRY_PASSWORD")
            .env("DOCKER_CONFIG", "/nonexistent-modelpack-test")
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn push(&self, target: &str, extra: &[&str]) -> Value {
        let mut args = vec![
            "push",
            self.layout.to_str().unwrap(),
            target,
            "--format",
            "json",
        ];
        args.extend_from_slice(extra);
        let (code, stdout, stderr) = self.run(&args);
        assert_eq!(code, 0, "push {args:?} failed: {stderr}");
        serde_json::from_str(&stdout).unwrap()
    }

    /// Pulls into a new directory; (exit code, output dir, stdout, stderr).
    fn pull(&self, source: &str, name: &str) -> (i32, PathBuf, String, String) {
        let out = self.work.path().join(name);
        let (code, stdout, stderr) = self.run(&[
            "pull",
            source,
            "-o",
            out.to_str().unwrap(),
            "--format",
            "json",
        ]);
        (code, out, stdout, stderr)
    }

    fn part(&self) -> PathBuf {
        self.cache
            .join("partial")
            .join(format!("{}.part", self.big.trim_start_matches("sha256:")))
    }

    /// Bytes the proxy relayed for GETs of the big blob.
    fn big_bytes(&self, c: &Counters) -> usize {
        c.blob_get_bytes
            .iter()
            .filter(|(p, _)| p.ends_with(&self.big))
            .map(|(_, n)| n)
            .sum()
    }

    /// The pulled layout holds every blob of the pushed one byte for byte, and a tagged
    /// index.
    fn assert_pulled(&self, out: &Path) {
        for e in std::fs::read_dir(self.layout.join("blobs/sha256")).unwrap() {
            let p = e.unwrap().path();
            let q = out.join("blobs/sha256").join(p.file_name().unwrap());
            assert!(
                std::fs::read(&p).unwrap() == std::fs::read(&q).unwrap(),
                "{} differs",
                q.display()
            );
        }
        let index: Value =
            serde_json::from_slice(&std::fs::read(out.join("index.json")).unwrap()).unwrap();
        assert_eq!(index["manifests"].as_array().unwrap().len(), 1, "{index:#}");
    }
}

#[test]
fn a_cut_pull_resumes_where_it_stopped() {
    let Some(s) = setup() else { return };
    let target = format!("{}/{}:v1", s.registry, repo("resume"));
    s.push(&target, &[]);
    let via = target.replacen(&s.registry, &s.proxy.addr, 1);

    // Every blob download is cut after 1 MiB: each attempt gets a little further, then the
    // pull gives up, keeping what it verified so far... in the cache, not beside the output.
    s.proxy.faults().cut_blob_get_after = Some(1 << 20);
    let (code, out, _, stderr) = s.pull(&via, "first");
    assert_ne!(code, 0, "a pull cut every time cannot succeed");
    assert!(stderr.contains("downloading blob"), "{stderr}");
    assert!(!out.exists(), "a failed pull left {}", out.display());
    let leftovers: Vec<_> = std::fs::read_dir(s.work.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(
        leftovers.is_empty(),
        "staging left beside the output: {leftovers:?}"
    );
    let kept = std::fs::metadata(s.part()).unwrap().len() as usize;
    assert!(kept > 1 << 20 && kept < BIG, "kept {kept} bytes");
    let cut = s.proxy.take_counters();
    // Three attempts, each resuming: about 3 MiB in all, not 3 times the start of the blob.
    let tried = s.big_bytes(&cut);
    assert!(tried <= 3 << 20, "{tried} bytes for three cut attempts");

    // The next pull moves only the remainder.
    s.proxy.faults().cut_blob_get_after = None;
    let (code, out, stdout, stderr) = s.pull(&via, "second");
    assert_eq!(code, 0, "{stderr}");
    let c = s.proxy.take_counters();
    let moved = s.big_bytes(&c);
    let rest = BIG - kept;
    assert!(
        moved >= rest && moved < rest + 4096,
        "the resumed pull moved {moved} bytes of the big blob; {rest} were missing"
    );
    let summary: Value = serde_json::from_str(&stdout).unwrap();
    assert!(
        summary["bytesDownloaded"].as_u64().unwrap()
            < summary["bytes"].as_u64().unwrap() - kept as u64 + 1,
        "{summary:#}"
    );
    s.assert_pulled(&out);
    assert!(
        !s.part().exists(),
        "the finished part file was not moved into the layout"
    );
}

#[test]
fn a_bad_partial_or_a_registry_ignoring_range_restarts_cleanly() {
    let Some(s) = setup() else { return };
    let target = format!("{}/{}:v1", s.registry, repo("norange"));
    s.push(&target, &[]);
    let via = target.replacen(&s.registry, &s.proxy.addr, 1);

    // A kept prefix that is not the blob's: the resumed download does not verify, and the
    // pull starts that blob again rather than trusting it.
    std::fs::create_dir_all(s.part().parent().unwrap()).unwrap();
    std::fs::write(s.part(), vec![0x55u8; 2 << 20]).unwrap();
    let (code, out, _, stderr) = s.pull(&via, "after-garbage");
    assert_eq!(code, 0, "{stderr}");
    s.assert_pulled(&out);
    let c = s.proxy.take_counters();
    assert!(s.big_bytes(&c) >= BIG + BIG - (2 << 20), "{c:?}");

    // A registry that answers a Range request with 200 and the whole blob.
    s.proxy.faults().cut_blob_get_after = Some(1 << 20);
    let (code, ..) = s.pull(&via, "cut");
    assert_ne!(code, 0);
    assert!(s.part().exists());
    s.proxy.take_counters();
    *s.proxy.faults() = Faults {
        strip_range: true,
        ..Faults::default()
    };
    let (code, out, _, stderr) = s.pull(&via, "no-range");
    assert_eq!(code, 0, "{stderr}");
    s.assert_pulled(&out);
    let c = s.proxy.take_counters();
    assert!(s.big_bytes(&c) >= BIG, "{c:?}");
}

#[test]
fn uploads_fall_back_when_a_registry_refuses_a_mode() {
    let Some(s) = setup() else { return };

    // Chunked first (--chunk-size), but the registry answers a PATCH with 201: monolithic.
    s.proxy.faults().patch_201 = true;
    let target = format!("{}/{}:v1", s.proxy.addr, repo("patch201"));
    let pushed = s.push(&target, &["--chunk-size", "1MiB"]);
    let c = s.proxy.take_counters();
    assert!(c.injected.get(&201).is_some_and(|n| *n > 0), "{c:?}");
    assert!(pushed["uploaded"].as_u64().unwrap() >= 2, "{pushed:#}");
    let (code, out, _, stderr) = s.pull(&target.replacen(&s.proxy.addr, &s.registry, 1), "p201");
    assert_eq!(code, 0, "{stderr}");
    s.assert_pulled(&out);

    // Each phase uploads afresh, not mounting from the one before.
    std::fs::remove_file(s.cache.join("blob-locations.json")).unwrap();
    // Requests over 1.5 MiB refused (413): the monolithic upload of the big blob is, and so
    // are 8, 4 and 2 MiB chunks; 1 MiB chunks go through.
    *s.proxy.faults() = Faults {
        max_body: Some(3 << 19),
        ..Faults::default()
    };
    let target = format!("{}/{}:v1", s.proxy.addr, repo("max-body"));
    s.push(&target, &[]);
    let c = s.proxy.take_counters();
    assert!(c.injected.get(&413).is_some_and(|n| *n >= 4), "{c:?}");
    assert!(
        c.requests.iter().any(|r| r.starts_with("PATCH ")),
        "no chunked upload was tried: {:?}",
        c.requests
    );
    let (code, out, _, stderr) = s.pull(&target.replacen(&s.proxy.addr, &s.registry, 1), "p413");
    assert_eq!(code, 0, "{stderr}");
    s.assert_pulled(&out);

    // A chunk size the registry accepts from the start: no refusal at all.
    std::fs::remove_file(s.cache.join("blob-locations.json")).unwrap();
    s.proxy.faults().max_body = Some(1 << 20);
    let target = format!("{}/{}:v1", s.proxy.addr, repo("chunked"));
    s.push(&target, &["--chunk-size", "1MiB"]);
    let c = s.proxy.take_counters();
    assert!(c.injected.is_empty(), "{c:?}");
    assert!(
        c.requests
            .iter()
            .filter(|r| r.starts_with("PATCH "))
            .count()
            >= 6
    );
}

#[test]
fn bursts_of_5xx_are_retried() {
    let Some(s) = setup() else { return };
    let target = format!("{}/{}:v1", s.proxy.addr, repo("burst"));
    s.proxy.faults().fail_blob_requests = 2;
    s.push(&target, &[]);
    let c = s.proxy.take_counters();
    assert_eq!(c.injected.get(&503), Some(&2), "{c:?}");

    s.proxy.faults().fail_blob_requests = 2;
    let (code, out, _, stderr) = s.pull(&target, "pulled");
    assert_eq!(code, 0, "{stderr}");
    let c = s.proxy.take_counters();
    assert_eq!(c.injected.get(&503), Some(&2), "{c:?}");
    s.assert_pulled(&out);

    // A burst longer than the retries fails with the status, not a hang or a panic.
    s.proxy.faults().fail_blob_requests = 1000;
    let (code, out, _, stderr) = s.pull(&target, "never");
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("503"), "{stderr}");
    assert!(!out.exists());
}

#[test]
fn a_second_push_to_a_new_repository_mounts_every_blob() {
    let Some(s) = setup() else { return };
    let first = format!("{}/{}:v1", s.proxy.addr, repo("mount-a"));
    let pushed = s.push(&first, &[]);
    let c = s.proxy.take_counters();
    assert!(c.upload_body_bytes >= BIG, "{c:?}");
    let blobs = pushed["uploaded"].as_u64().unwrap() + pushed["skipped"].as_u64().unwrap();

    let second = format!("{}/{}:v1", s.proxy.addr, repo("mount-b"));
    let again = s.push(&second, &[]);
    let c = s.proxy.take_counters();
    assert_eq!(
        c.upload_body_bytes, 0,
        "blob bytes were uploaded again: {c:?}"
    );
    assert_eq!(again["uploaded"], 0, "{again:#}");
    assert_eq!(again["bytesUploaded"], 0, "{again:#}");
    assert_eq!(again["mounted"].as_u64().unwrap(), blobs, "{again:#}");
    assert!(
        c.requests.iter().any(|r| r.contains("mount=")),
        "{:?}",
        c.requests
    );

    let (code, out, _, stderr) = s.pull(&second.replacen(&s.proxy.addr, &s.registry, 1), "b");
    assert_eq!(code, 0, "{stderr}");
    s.assert_pulled(&out);
}
