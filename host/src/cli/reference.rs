//! What users type for a registry reference, made into what `registry` parses: skopeo's
//! `docker://` transport prefix is accepted, and the mistakes `invalid reference format` would
//! hide (an upper-case repository, no registry host, a local layout) get their own message.

use anyhow::{Result, bail};

/// `docker://host/repo:tag` → `host/repo:tag`; refuses what cannot be a registry reference
/// with a line saying why.
pub fn registry_reference(arg: &str) -> Result<String> {
    let s = arg.strip_prefix("docker://").unwrap_or(arg);
    for transport in ["oci:", "oci-archive:", "docker-archive:", "dir:"] {
        if s.starts_with(transport) && !s.contains("://") {
            bail!(
                "{arg:?}: the `{transport}` transport is a local layout or archive, not a registry; give REGISTRY/REPO:TAG (an OCI layout is pushed with `modelpack push LAYOUT[:TAG] REGISTRY/REPO:TAG`)"
            );
        }
    }
    if let Some((scheme, _)) = s.split_once("://") {
        bail!(
            "{arg:?}: write the reference without `{scheme}://`, as REGISTRY/REPO:TAG (e.g. localhost:5000/models/tiny:v1)"
        );
    }
    let Some((host, rest)) = s.split_once('/') else {
        bail!(
            "{arg:?}: no registry host; write REGISTRY/REPO:TAG, e.g. localhost:5000/models/tiny:v1 or ghcr.io/org/model:1.0"
        );
    };
    if !(host.contains('.') || host.contains(':') || host == "localhost") {
        bail!(
            "{arg:?}: {host:?} is not a registry host (no `.` or port); write REGISTRY/REPO:TAG, e.g. docker.io/{s}"
        );
    }
    // The repository ends at the tag's `:` or the digest's `@` (a `:` in the path part only
    // appears there).
    let repo = rest.split(['@', ':']).next().unwrap_or(rest);
    if repo.chars().any(|c| c.is_ascii_uppercase()) {
        bail!(
            "{arg:?}: repository names are lower-case in OCI registries: use {:?}",
            format!(
                "{host}/{}{}",
                repo.to_ascii_lowercase(),
                &rest[repo.len()..]
            )
        );
    }
    if repo.is_empty() {
        bail!("{arg:?}: no repository after the registry host");
    }
    Ok(s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_docker_transport_and_explains_mistakes() {
        assert_eq!(
            registry_reference("docker://localhost:5000/m/tiny:v1").unwrap(),
            "localhost:5000/m/tiny:v1"
        );
        assert_eq!(
            registry_reference("ghcr.io/org/m@sha256:abc").unwrap(),
            "ghcr.io/org/m@sha256:abc"
        );
        let e = registry_reference("localhost:5000/Models/Tiny:V1")
            .unwrap_err()
            .to_string();
        assert!(e.contains("use \"localhost:5000/models/tiny:V1\""), "{e}");
        let e = registry_reference("models/tiny:v1")
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"models\" is not a registry host"), "{e}");
        let e = registry_reference("oci:./layout:v1")
            .unwrap_err()
            .to_string();
        assert!(e.contains("local layout or archive"), "{e}");
        let e = registry_reference("https://ghcr.io/a/b")
            .unwrap_err()
            .to_string();
        assert!(e.contains("without `https://`"), "{e}");
    }
}
