//! `login`/`logout` and credential helpers, against the htpasswd registry `.ci/run` starts
//! (MODELPACK_TEST_REGISTRY_AUTH) and a fake registry whose token realm is plain HTTP on
//! another host. Every test points DOCKER_CONFIG at its own directory.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;

use serde_json::Value;

use crate::pack::pack;
use crate::util::{modelpack, plugins_built};

/// Skips (None) with a reason, or fails under CI.
use crate::util::env;

fn auth_env() -> Option<(String, String, String)> {
    Some((
        env("MODELPACK_TEST_REGISTRY_AUTH")?,
        env("MODELPACK_TEST_REGISTRY_USER")?,
        env("MODELPACK_TEST_REGISTRY_PASS")?,
    ))
}

/// Runs modelpack with DOCKER_CONFIG=`docker`, stdin `input` and extra env; (code, out, err).
fn run(
    args: &[&str],
    docker: &Path,
    input: &str,
    envs: &[(&str, String)],
) -> (i32, String, String) {
    let mut cmd = modelpack();
    cmd.args(args)
        .env_remove("MODELPACK_REGISTRY_USERNAME")
        .env_remove("MODELPACK_REGISTRY_PASSWORD")
        .env("DOCKER_CONFIG", docker)
        .write_stdin(input.to_string());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn unique(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("modelpack-test/{name}-{nanos}:v1")
}

fn tiny_layout(dir: &Path) -> String {
    let layout = dir.join("layout");
    pack(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/tiny-model"),
        &layout,
        &[],
    );
    layout.to_str().unwrap().to_string()
}

#[test]
fn login_checks_stores_and_logout_removes() {
    let Some((registry, user, pass)) = auth_env() else {
        return;
    };
    if !plugins_built() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let docker = work.path().join("docker");
    let config = docker.join("config.json");

    // A wrong password is refused by the registry, one line, nothing stored or leaked.
    let wrong = "Wr0ng-password-never-printed";
    let (code, out, err) = run(
        &["login", &registry, "-u", &user, "--password-stdin"],
        &docker,
        &format!("{wrong}\n"),
        &[],
    );
    assert_eq!(code, 2, "{out}{err}");
    assert_eq!(
        err.trim(),
        format!(
            "error: the registry {registry} refused the credentials for \"{user}\" (401 Unauthorized)"
        )
    );
    assert!(!out.contains(wrong) && !err.contains(wrong));
    assert!(
        !config.exists(),
        "a refused login wrote {}",
        config.display()
    );

    // The right one is checked and stored as docker stores it, mode 0600.
    let (code, out, err) = run(
        &[
            "login",
            &format!("docker://{registry}"),
            "-u",
            &user,
            "--password-stdin",
        ],
        &docker,
        &format!("{pass}\n"),
        &[],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.starts_with(&format!("Login Succeeded ({registry}")),
        "{out}"
    );
    assert!(err.contains("stored unencrypted"), "{err}");
    assert!(!out.contains(&pass) && !err.contains(&pass));
    let stored: Value = serde_json::from_slice(&std::fs::read(&config).unwrap()).unwrap();
    let auth = stored["auths"][&registry]["auth"].as_str().unwrap();
    assert_eq!(
        auth,
        crate::registry::base64_encode(format!("{user}:{pass}").as_bytes())
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&config).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // push uses the stored login with no environment variables.
    let layout = tiny_layout(work.path());
    let target = format!("{registry}/{}", unique("login"));
    let (code, out, err) = run(&["push", &layout, &target], &docker, "", &[]);
    assert_eq!(code, 0, "push with the stored login failed: {out}{err}");

    // logout removes it; the next push is refused.
    let (code, out, _) = run(&["logout", &registry], &docker, "", &[]);
    assert_eq!(
        (code, out.trim()),
        (
            0,
            format!("Removed login credentials for {registry}").as_str()
        )
    );
    let (code, out, _) = run(&["logout", &registry], &docker, "", &[]);
    assert_eq!(
        (code, out.trim()),
        (0, format!("Not logged in to {registry}").as_str())
    );
    let (code, _, err) = run(&["push", &layout, &target], &docker, "", &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("401"), "{err}");
}

/// A `docker-credential-mptest` script keeping credentials in files under `store`.
fn fake_helper(bin: &Path, store: &Path) {
    std::fs::create_dir_all(bin).unwrap();
    std::fs::create_dir_all(store).unwrap();
    let script = format!(
        r#"#!/bin/sh
# A credential helper speaking the docker-credential-helpers protocol, storing in files.
store="{store}"
case "$1" in
  store) cat > "$store/last-store.json"; echo store >> "$store/calls" ;;
  get) read -r server; echo "get $server" >> "$store/calls"
       if [ -f "$store/last-store.json" ]; then cat "$store/last-store.json"; else echo "credentials not found in native keychain"; exit 1; fi ;;
  erase) read -r server; echo "erase $server" >> "$store/calls"
       if [ -f "$store/last-store.json" ]; then rm "$store/last-store.json"; else echo "credentials not found in native keychain"; exit 1; fi ;;
  *) echo "unknown action $1" >&2; exit 1 ;;
esac
"#,
        store = store.display()
    );
    let path = bin.join("docker-credential-mptest");
    std::fs::write(&path, script).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

#[test]
fn credential_helpers_are_used_for_login_push_and_logout() {
    let Some((registry, user, pass)) = auth_env() else {
        return;
    };
    if !plugins_built() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let docker = work.path().join("docker");
    let bin = work.path().join("bin");
    let store = work.path().join("store");
    fake_helper(&bin, &store);
    std::fs::create_dir_all(&docker).unwrap();
    std::fs::write(
        docker.join("config.json"),
        r#"{"credsStore": "mptest", "psFormat": "kept"}"#,
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let envs = [("PATH", path)];

    let (code, out, err) = run(
        &[
            "login",
            &registry,
            "-u",
            &user,
            "--password-stdin",
            "--format",
            "json",
        ],
        &docker,
        &format!("{pass}\n"),
        &envs,
    );
    assert_eq!(code, 0, "{out}{err}");
    let summary: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        summary["storedIn"],
        "credential helper docker-credential-mptest"
    );
    // The secret went to the helper, not into config.json (which keeps its other keys).
    let stored: Value =
        serde_json::from_slice(&std::fs::read(store.join("last-store.json")).unwrap()).unwrap();
    assert_eq!(
        (
            stored["ServerURL"].as_str(),
            stored["Username"].as_str(),
            stored["Secret"].as_str()
        ),
        (
            Some(registry.as_str()),
            Some(user.as_str()),
            Some(pass.as_str())
        )
    );
    let config = std::fs::read_to_string(docker.join("config.json")).unwrap();
    assert!(!config.contains(&pass), "{config}");
    let config: Value = serde_json::from_str(&config).unwrap();
    assert_eq!(config["psFormat"], "kept");
    assert_eq!(config["auths"][&registry], serde_json::json!({}));

    // push reads the credentials back through the helper.
    let layout = tiny_layout(work.path());
    let target = format!("{registry}/{}", unique("helper"));
    let (code, out, err) = run(&["push", &layout, &target], &docker, "", &envs);
    assert_eq!(code, 0, "push through the helper failed: {out}{err}");
    let calls = std::fs::read_to_string(store.join("calls")).unwrap();
    assert!(calls.contains(&format!("get {registry}")), "{calls}");

    let (code, out, _) = run(&["logout", &registry], &docker, "", &envs);
    assert_eq!(
        (code, out.trim()),
        (
            0,
            format!("Removed login credentials for {registry}").as_str()
        )
    );
    assert!(!store.join("last-store.json").exists());

    // A helper that is configured but missing is one clear line.
    std::fs::write(
        docker.join("config.json"),
        r#"{"credsStore": "modelpack-nowhere"}"#,
    )
    .unwrap();
    let (code, _, err) = run(&["push", &layout, &target], &docker, "", &[]);
    assert_eq!(code, 2);
    assert!(
        err.trim().starts_with(
            "error: credential helper docker-credential-modelpack-nowhere could not be started"
        ),
        "{err}"
    );
}

/// A one-shot fake registry on loopback: answers `GET /v2/` with a Bearer challenge whose
/// realm is plain HTTP on another host, and records whether any request carried credentials.
#[test]
fn credentials_never_go_to_a_plain_http_realm_elsewhere() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let registry = listener.local_addr().unwrap().to_string();
    let server = std::thread::spawn(move || {
        let mut saw_authorization = false;
        listener.set_nonblocking(false).unwrap();
        // modelpack makes one unauthenticated request and must stop there.
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap() > 0 && line != "\r\n" {
            if line.to_ascii_lowercase().starts_with("authorization:") {
                saw_authorization = true;
            }
            line.clear();
        }
        let mut stream = stream;
        write!(
            stream,
            "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm=\"http://tokens.example.invalid:8080/token\",service=\"x\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        saw_authorization
    });
    let work = tempfile::tempdir().unwrap();
    let secret = "s3cret-that-must-stay-home";
    let (code, out, err) = run(
        &["login", &registry, "-u", "alice", "--password-stdin"],
        &work.path().join("docker"),
        &format!("{secret}\n"),
        &[],
    );
    assert_eq!(code, 2, "{out}{err}");
    assert_eq!(
        err.trim(),
        format!(
            "error: the registry {registry} asks for credentials to be sent to \
             http://tokens.example.invalid:8080; refused: the registry is reached over plain \
             HTTP, so credentials go only to the registry itself (same host and port), never to \
             a token service it names elsewhere"
        )
    );
    assert!(
        !server.join().unwrap(),
        "the first request carried credentials"
    );
}

#[test]
fn login_to_nothing_says_so() {
    // A port nobody listens on: bind, note the port, close.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let work = tempfile::tempdir().unwrap();
    let (code, _, err) = run(
        &[
            "login",
            &format!("127.0.0.1:{port}"),
            "-u",
            "a",
            "--password-stdin",
        ],
        &work.path().join("docker"),
        "pw\n",
        &[],
    );
    assert_eq!(code, 2);
    assert_eq!(
        err.trim(),
        format!(
            "error: cannot connect to the registry 127.0.0.1:{port}: connection refused or unreachable"
        )
    );
    let (code, _, err) = run(
        &["login", "127.0.0.1:1", "--password-stdin"],
        work.path(),
        "",
        &[],
    );
    assert_eq!(code, 2);
    assert_eq!(
        err.trim(),
        "error: --username is required (stdin is not a terminal)"
    );
}
