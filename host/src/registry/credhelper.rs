//! Docker credential helpers (`docker-credential-<name>` on `PATH`), spoken the way the Docker
//! CLI speaks them (github.com/docker/docker-credential-helpers): `get` takes the server on
//! stdin and answers `{"ServerURL","Username","Secret"}`; `store` takes that object; `erase`
//! takes the server. "credentials not found" on a `get` is not an error: there is nothing stored.
//!
//! A helper is a program the user configured, so it runs with the user's environment; what
//! modelpack adds is a deadline (a helper waiting on a keychain prompt that never comes must
//! not hang a CI job), a cap on what it may print, and messages that never quote a secret.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// How long a helper may take to answer.
pub const HELPER_TIMEOUT: Duration = Duration::from_secs(60);
/// The most a helper may print on stdout or stderr.
const MAX_OUTPUT: u64 = 1 << 20;

/// Why a helper could not be used.
#[derive(Debug, thiserror::Error)]
pub enum HelperError {
    /// The helper name holds characters that would make it a path or an option.
    #[error("credential helper name {0:?} is not a plain name (letters, digits, '.', '_', '-')")]
    BadName(String),
    /// The program is not on `PATH` or could not be started.
    #[error("credential helper {program} could not be started: {source}")]
    Spawn {
        /// `docker-credential-<name>`.
        program: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The helper ran past [`HELPER_TIMEOUT`] and was killed.
    #[error("credential helper {program} did not answer within {secs} s")]
    Timeout {
        /// `docker-credential-<name>`.
        program: String,
        /// The deadline.
        secs: u64,
    },
    /// The helper failed; `message` is the first line it printed.
    #[error("credential helper {program} {action} failed: {message}")]
    Failed {
        /// `docker-credential-<name>`.
        program: String,
        /// `get`, `store` or `erase`.
        action: &'static str,
        /// What it said (first line, secrets removed).
        message: String,
    },
    /// The helper's answer is not the documented JSON.
    #[error("credential helper {program} get answered something that is not credentials JSON")]
    BadAnswer {
        /// `docker-credential-<name>`.
        program: String,
    },
}

/// The helper protocol's credentials object.
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Credentials {
    #[serde(rename = "ServerURL", default)]
    server_url: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    secret: String,
}

/// What a helper holds for a server.
#[derive(Clone, PartialEq, Eq)]
pub enum HelperCredentials {
    /// A user name and password.
    Basic(String, String),
    /// An OAuth identity (refresh) token: the helper's user name is `<token>`.
    IdentityToken(String),
}

impl std::fmt::Debug for HelperCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HelperCredentials::Basic(u, _) => write!(f, "Basic({u:?}, <redacted>)"),
            HelperCredentials::IdentityToken(_) => f.write_str("IdentityToken(<redacted>)"),
        }
    }
}

fn program(name: &str) -> Result<String, HelperError> {
    let plain = !name.is_empty()
        && !name.starts_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if !plain {
        return Err(HelperError::BadName(name.to_string()));
    }
    Ok(format!("docker-credential-{name}"))
}

/// Runs `program action` with `input` on stdin; (exit success, stdout, stderr).
fn run(
    program: &str,
    action: &'static str,
    input: &[u8],
) -> Result<(bool, String, String), HelperError> {
    let mut child = Command::new(program)
        .arg(action)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| HelperError::Spawn {
            program: program.to_string(),
            source,
        })?;
    // Small inputs fit the pipe buffer; a helper that exits without reading gets EPIPE,
    // which is its answer, not ours to report.
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(input);
    }
    let mut out = child.stdout.take().expect("piped");
    let mut err = child.stderr.take().expect("piped");
    let out_reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = (&mut out).take(MAX_OUTPUT).read_to_end(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = (&mut err).take(MAX_OUTPUT).read_to_end(&mut s);
        s
    });
    let deadline = Instant::now() + HELPER_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(HelperError::Timeout {
                    program: program.to_string(),
                    secs: HELPER_TIMEOUT.as_secs(),
                });
            }
            Err(source) => {
                return Err(HelperError::Spawn {
                    program: program.to_string(),
                    source,
                });
            }
        }
    };
    let stdout = String::from_utf8_lossy(&out_reader.join().unwrap_or_default()).into_owned();
    let stderr = String::from_utf8_lossy(&err_reader.join().unwrap_or_default()).into_owned();
    Ok((status.success(), stdout, stderr))
}

/// The first non-empty line of what a helper said, with `secret` masked.
fn first_line(stdout: &str, stderr: &str, secret: Option<&str>) -> String {
    let line = stderr
        .lines()
        .chain(stdout.lines())
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("no message")
        .to_string();
    match secret {
        Some(s) if !s.is_empty() => line.replace(s, "<redacted>"),
        _ => line,
    }
}

fn not_found(stdout: &str, stderr: &str) -> bool {
    // The helpers' shared error text (credentials.errCredentialsNotFound).
    let text = format!("{stdout}\n{stderr}").to_ascii_lowercase();
    text.contains("credentials not found")
}

/// Asks helper `name` for `server`'s credentials; `None` when it holds none.
pub fn get(name: &str, server: &str) -> Result<Option<HelperCredentials>, HelperError> {
    let program = program(name)?;
    let (ok, stdout, stderr) = run(&program, "get", server.as_bytes())?;
    if !ok {
        if not_found(&stdout, &stderr) {
            return Ok(None);
        }
        return Err(HelperError::Failed {
            program,
            action: "get",
            message: first_line(&stdout, &stderr, None),
        });
    }
    let creds: Credentials =
        serde_json::from_str(stdout.trim()).map_err(|_| HelperError::BadAnswer {
            program: program.clone(),
        })?;
    if creds.secret.is_empty() && creds.username.is_empty() {
        return Ok(None);
    }
    if creds.username == "<token>" {
        return Ok(Some(HelperCredentials::IdentityToken(creds.secret)));
    }
    Ok(Some(HelperCredentials::Basic(creds.username, creds.secret)))
}

/// Stores `user`/`secret` for `server` in helper `name`.
pub fn store(name: &str, server: &str, user: &str, secret: &str) -> Result<(), HelperError> {
    let program = program(name)?;
    let body = serde_json::to_vec(&Credentials {
        server_url: server.to_string(),
        username: user.to_string(),
        secret: secret.to_string(),
    })
    .expect("plain strings serialise");
    let (ok, stdout, stderr) = run(&program, "store", &body)?;
    if ok {
        Ok(())
    } else {
        Err(HelperError::Failed {
            program,
            action: "store",
            message: first_line(&stdout, &stderr, Some(secret)),
        })
    }
}

/// Removes `server`'s credentials from helper `name`; whether it held any.
pub fn erase(name: &str, server: &str) -> Result<bool, HelperError> {
    let program = program(name)?;
    let (ok, stdout, stderr) = run(&program, "erase", server.as_bytes())?;
    if ok {
        Ok(true)
    } else if not_found(&stdout, &stderr) {
        Ok(false)
    } else {
        Err(HelperError::Failed {
            program,
            action: "erase",
            message: first_line(&stdout, &stderr, None),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helper_names_must_be_plain() {
        for bad in ["../evil", "/bin/sh", "-v", "a b", ""] {
            let e = program(bad).unwrap_err().to_string();
            assert!(e.contains("is not a plain name"), "{bad}: {e}");
        }
        assert_eq!(program("ecr-login").unwrap(), "docker-credential-ecr-login");
    }

    #[test]
    fn missing_helper_is_one_line() {
        let e = get("modelpack-test-no-such-helper", "r.example").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("credential helper docker-credential-modelpack-test-no-such-helper could not be started"),
            "{e}"
        );
    }

    #[test]
    fn secrets_are_masked_in_messages() {
        assert_eq!(
            first_line("", "bad secret hunter2 here\nmore", Some("hunter2")),
            "bad secret <redacted> here"
        );
    }
}
