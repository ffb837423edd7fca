//! The no-unsafe-code rule: no file may run code when the model is loaded.
//!
//! It judges the findings the format plugins reported per file, and the layer kinds:
//!
//! * `unsafe-pickle-global`, `unsafe-pickle-call` (pytorch and numpy plugins: a pickle imports
//!   or calls something outside the safe allowlist) and `object-array` (numpy: an object array
//!   whose payload is a pickle) each give an error `unsafe-code` at that file, with the format
//!   plugin's field (pickle label or array name). A global or call whose name is listed in
//!   `allow_globals` is skipped (exact `module.name`, or `module.*` for a whole module);
//! * a file of layer kind `code` gives `code-layer`: an error, or info when
//!   `allow_code_layers` is true;
//! * code embedded in weights that the loader runs (`torchscript-code`: a TorchScript archive's
//!   `code/` that `torch.jit.load` compiles) gives `embedded-code`, judged like a code layer;
//! * **fail closed**: a file in a pickle-capable format (`.pt`, `.bin`, `.pkl`, `.npy`… see
//!   [`PICKLE_EXTENSIONS`]) that no format plugin read, a file a format plugin claimed but could
//!   not read (the host's `unreadable-file`), and a pickle the scanner could not read to its end
//!   (see [`UNREAD_IDS`]) give `unscanned-file` with the severity of `unscanned` (default
//!   **error**): a pickle crafted to make the reader stop early must never pass.

use policy_common::report::finding;
use policy_common::settings::{self, Action};
use policy_common::{FileFacts, Finding, PolicyInput, Severity};
use serde::Deserialize;

/// Format plugin finding ids that mean loading the file can run code.
pub const UNSAFE_IDS: &[&str] = &["unsafe-pickle-global", "unsafe-pickle-call", "object-array"];
/// Format plugin finding ids for code shipped inside weight files.
pub const EMBEDDED_CODE_IDS: &[&str] = &["torchscript-code"];
/// Finding ids meaning that part of a file (or all of it) was not read to the end, so what it
/// would run is unknown: the host's `unreadable-file`, the pytorch plugin's
/// `malformed-checkpoint`/`malformed-pickle`, the numpy plugin's unreadable object payloads.
pub const UNREAD_IDS: &[&str] = &[
    "unreadable-file",
    "malformed-checkpoint",
    "malformed-pickle",
    "object-array-payload-unreadable",
    "object-array-not-scanned",
];
/// Extensions of formats that may hold a pickle (PyTorch, joblib, NumPy object arrays).
pub const PICKLE_EXTENSIONS: &[&str] = &[
    "pt", "pth", "bin", "ckpt", "pkl", "pickle", "jit", "joblib", "npy", "npz",
];

/// This policy's settings.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Accept `code` layers (and code embedded in weights), reporting them as info.
    #[serde(default)]
    pub allow_code_layers: bool,
    /// Pickle globals accepted although the format plugin flagged them: `module.name` or
    /// `module.*`.
    #[serde(default)]
    pub allow_globals: Vec<String>,
    /// What to do with a file (or part of one) that could not be scanned: fail by default.
    #[serde(default = "error")]
    pub unscanned: Action,
}

fn error() -> Action {
    Action::Error
}

impl Settings {
    /// Parses and checks the settings JSON.
    pub fn parse(json: &str) -> Result<Settings, String> {
        let s: Settings = settings::parse(json)?;
        for (i, g) in s.allow_globals.iter().enumerate() {
            let name = g.strip_suffix(".*").unwrap_or(g);
            let ok = !name.is_empty()
                && name.split('.').all(|part| {
                    !part.is_empty() && part.chars().all(|c| c.is_alphanumeric() || c == '_')
                });
            if !ok {
                return Err(format!(
                    "invalid settings: allow_globals[{i}]: {g:?} is not a dotted Python name \
                     (module.name or module.*)"
                ));
            }
        }
        Ok(s)
    }

    fn allows(&self, global: &str) -> bool {
        self.allow_globals
            .iter()
            .any(|a| match a.strip_suffix(".*") {
                Some(module) => global
                    .strip_prefix(module)
                    .is_some_and(|rest| rest.starts_with('.')),
                None => a == global,
            })
    }
}

/// Judges one model.
pub fn evaluate(input: &PolicyInput) -> Result<Vec<Finding>, String> {
    let settings = Settings::parse(&input.settings)?;
    Ok(input
        .files
        .iter()
        .flat_map(|f| check_file(f, &settings))
        .collect())
}

/// The findings for one file.
pub fn check_file(file: &FileFacts, s: &Settings) -> Vec<Finding> {
    let mut out = Vec::new();
    let path = file.path.as_str();
    let code_severity = if s.allow_code_layers {
        Severity::Info
    } else {
        Severity::Error
    };
    if file.kind == "code" {
        out.push(finding(
            "code-layer",
            code_severity,
            format!(
                "{path} is a code layer: code shipped with a model can run wherever it is loaded{}",
                if s.allow_code_layers {
                    " (allowed by allow_code_layers)"
                } else {
                    ""
                }
            ),
            Some(path),
            None,
        ));
    }
    let claimed_unread = file.findings.iter().any(|f| f.id == "unreadable-file");
    if file.format.is_none()
        && !claimed_unread
        && is_pickle_capable(path)
        && let Some(sev) = s.unscanned.severity()
    {
        out.push(finding(
            "unscanned-file",
            sev,
            format!(
                "{path} may hold a pickle but no format plugin could read it, so it was not \
                 checked for unsafe globals"
            ),
            Some(path),
            None,
        ));
    }
    if let Some(sev) = s.unscanned.severity() {
        for f in file
            .findings
            .iter()
            .filter(|f| UNREAD_IDS.contains(&f.id.as_str()))
        {
            out.push(finding(
                "unscanned-file",
                sev,
                format!(
                    "{path} could not be read to the end, so it was not fully checked for \
                     unsafe code: {}",
                    f.message
                ),
                Some(path),
                f.location.field.as_deref(),
            ));
        }
    }
    for f in &file.findings {
        let field = f.location.field.as_deref();
        if UNSAFE_IDS.contains(&f.id.as_str()) {
            let global = named_global(&f.id, &f.message);
            if global.is_some_and(|g| s.allows(g)) || field.is_some_and(|g| s.allows(g)) {
                continue;
            }
            out.push(finding(
                "unsafe-code",
                Severity::Error,
                format!("{path}: {}", f.message),
                Some(path),
                field,
            ));
        } else if EMBEDDED_CODE_IDS.contains(&f.id.as_str()) {
            out.push(finding(
                "embedded-code",
                code_severity,
                format!("{path}: {}", f.message),
                Some(path),
                field,
            ));
        }
    }
    out
}

/// Whether a path has the extension of a format that may hold a pickle.
pub fn is_pickle_capable(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    lower
        .rsplit_once('.')
        .is_some_and(|(_, ext)| PICKLE_EXTENSIONS.contains(&ext))
}

/// The global a pickle finding names, from the message formats of the pytorch plugin:
/// `unsafe pickle global <name> (…` and `pickle calls <name> via …`.
pub fn named_global<'a>(id: &str, message: &'a str) -> Option<&'a str> {
    let rest = match id {
        "unsafe-pickle-global" => message.strip_prefix("unsafe pickle global ")?,
        "unsafe-pickle-call" => message.strip_prefix("pickle calls ")?,
        _ => return None,
    };
    let name = rest.split_whitespace().next()?;
    // "a callable computed by the pickle" names nothing; a real global is a dotted name.
    name.contains('.').then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use policy_common::report::severity_name;
    use policy_common::testkit::{file, hf_model, ids, input, weight};
    use serde_json::{Value, json};

    /// A format plugin finding, as the pytorch and numpy plugins word them.
    fn plugin_finding(id: &str, sev: Severity, message: &str, field: &str) -> Finding {
        finding(id, sev, message, None, Some(field))
    }

    fn pickle_checkpoint() -> FileFacts {
        let mut f = weight("pytorch_model.bin", 1 << 20, "pt", &[("F32", 1000)]);
        f.findings = vec![
            plugin_finding(
                "unsafe-pickle-global",
                Severity::Error,
                "unsafe pickle global os.system (GLOBAL at offset 2 of archive/data.pkl); loading this file with pickle/torch.load can import and run it",
                "archive/data.pkl",
            ),
            plugin_finding(
                "unsafe-pickle-call",
                Severity::Error,
                "pickle calls os.system via REDUCE (first at offset 30 of archive/data.pkl)",
                "archive/data.pkl",
            ),
            plugin_finding(
                "unsafe-pickle-global",
                Severity::Error,
                "unsafe pickle global mylib.layers.Model (STACK_GLOBAL at offset 90 of archive/data.pkl); loading this file with pickle/torch.load can import and run it",
                "archive/data.pkl",
            ),
            plugin_finding(
                "unsafe-pickle-call",
                Severity::Error,
                "pickle calls a callable computed by the pickle via REDUCE (first at offset 120 of archive/data.pkl)",
                "archive/data.pkl",
            ),
        ];
        f
    }

    /// What the numpy plugin reports for the real fixture numpy/numpy-py3-objarr.npz.
    fn object_array_npz() -> FileFacts {
        let mut f = weight("numpy-py3-objarr.npz", 453, "npz", &[("object", 4)]);
        f.findings = vec![plugin_finding(
            "object-array",
            Severity::Error,
            "array x has dtype object: its payload is a pickle and would be executed by np.load(allow_pickle=True)",
            "x",
        )];
        f
    }

    /// What the pytorch plugin reports for the real fixture pytorch/silero_vad.jit.
    fn torchscript() -> FileFacts {
        let mut f = weight("silero_vad.jit", 2_272_526, "pt", &[("F32", 545_282)]);
        f.findings = vec![plugin_finding(
            "torchscript-code",
            Severity::Warning,
            "TorchScript archive with 44 source files under VADr_v6_10_25_noths_re/code/: torch.jit.load compiles and runs them",
            "VADr_v6_10_25_noths_re/code/",
        )];
        f
    }

    fn run(files: Vec<FileFacts>, settings: Value) -> Vec<Finding> {
        evaluate(&input(json!({}), files, settings)).unwrap()
    }

    #[test]
    fn safe_model_passes() {
        let files = vec![
            weight(
                "model.safetensors",
                6128,
                "safetensors",
                &[("BF16", 1792), ("F32", 528)],
            ),
            file("config.json", "weight.config", 500),
            file("README.md", "doc", 900),
        ];
        assert!(run(files, json!({})).is_empty());
    }

    #[test]
    fn unsafe_pickles_fail() {
        let out = run(vec![pickle_checkpoint()], json!({}));
        assert_eq!(ids(&out), ["unsafe-code"; 4]);
        assert!(out.iter().all(|f| severity_name(f.severity) == "error"));
        assert_eq!(out[0].location.file.as_deref(), Some("pytorch_model.bin"));
        assert_eq!(out[0].location.field.as_deref(), Some("archive/data.pkl"));
        assert!(
            out[0]
                .message
                .starts_with("pytorch_model.bin: unsafe pickle global os.system"),
            "{}",
            out[0].message
        );
    }

    #[test]
    fn allowed_globals_are_skipped() {
        let out = run(
            vec![pickle_checkpoint()],
            json!({"allow_globals": ["mylib.layers.Model"]}),
        );
        assert_eq!(out.len(), 3);
        assert!(out.iter().all(|f| !f.message.contains("mylib")));
        let out = run(
            vec![pickle_checkpoint()],
            json!({"allow_globals": ["mylib.*", "os.system"]}),
        );
        // The computed callable names no global: it can never be allowed.
        assert_eq!(out.len(), 1);
        assert!(out[0].message.contains("a callable computed by the pickle"));
        // `mylib.*` covers mylib's submodules but not a module merely starting with "mylib".
        let s = Settings::parse(r#"{"allow_globals": ["mylib.*"]}"#).unwrap();
        assert!(s.allows("mylib.layers.Model") && !s.allows("mylibx.Model") && !s.allows("mylib"));
    }

    #[test]
    fn object_arrays_fail() {
        let out = run(
            vec![object_array_npz()],
            json!({"allow_globals": ["numpy.core.multiarray._reconstruct"]}),
        );
        assert_eq!(ids(&out), ["unsafe-code"]);
        assert_eq!(out[0].location.field.as_deref(), Some("x"));
        assert!(
            out[0]
                .message
                .starts_with("numpy-py3-objarr.npz: array x has dtype object")
        );
    }

    #[test]
    fn code_layers_and_embedded_code() {
        let files = vec![file("modeling_molmo.py", "code", 4000), torchscript()];
        let out = run(files.clone(), json!({}));
        assert_eq!(ids(&out), ["code-layer", "embedded-code"]);
        assert!(out.iter().all(|f| severity_name(f.severity) == "error"));
        assert_eq!(out[0].location.file.as_deref(), Some("modeling_molmo.py"));
        let out = run(files, json!({"allow_code_layers": true}));
        assert_eq!(ids(&out), ["code-layer", "embedded-code"]);
        assert!(out.iter().all(|f| severity_name(f.severity) == "info"));
    }

    #[test]
    fn other_findings_are_not_judged() {
        let mut f = weight("model.safetensors", 135, "safetensors", &[]);
        f.findings = vec![plugin_finding(
            "git-lfs-pointer",
            Severity::Error,
            "model.safetensors is a Git LFS pointer",
            "",
        )];
        assert!(run(vec![f], json!({})).is_empty());
    }

    #[test]
    fn unread_pickles_are_flagged() {
        // A pickle the pytorch plugin could not read has no format and no findings.
        let files = vec![
            file("training_args.bin", "weight", 5000),
            file("notes.txt", "doc", 10),
            weight("ok.pt", 100, "pt", &[("F32", 4)]),
        ];
        let out = run(files.clone(), json!({}));
        assert_eq!(ids(&out), ["unscanned-file"]);
        assert_eq!(severity_name(out[0].severity), "error");
        assert_eq!(out[0].location.file.as_deref(), Some("training_args.bin"));
        let out = run(files.clone(), json!({"unscanned": "warning"}));
        assert_eq!(severity_name(out[0].severity), "warning");
        assert!(run(files, json!({"unscanned": "ignore"})).is_empty());
        assert!(is_pickle_capable("a/B.PTH") && !is_pickle_capable("model.safetensors"));
    }

    #[test]
    fn files_read_only_in_part_fail_closed() {
        // What the host says of a file the pytorch plugin claimed but could not read, and what
        // the plugin says of a duplicate data.pkl that does not parse.
        let mut claimed = file("model.dat", "weight", 300);
        claimed.findings = vec![plugin_finding(
            "unreadable-file",
            Severity::Error,
            "model.dat: malformed: pickle offset 2: INT: could not convert string to int",
            "pytorch@0.1.0",
        )];
        let mut dup = weight("ok.pt", 100, "pt", &[("F32", 4)]);
        dup.findings = vec![plugin_finding(
            "malformed-pickle",
            Severity::Error,
            "pickle truncated",
            "archive/data.pkl#2",
        )];
        let out = run(vec![claimed, dup], json!({}));
        assert_eq!(ids(&out), ["unscanned-file", "unscanned-file"]);
        assert!(out.iter().all(|f| severity_name(f.severity) == "error"));
        assert!(
            out[0].message.contains("INT: could not convert"),
            "{}",
            out[0].message
        );
        assert_eq!(out[1].location.field.as_deref(), Some("archive/data.pkl#2"));
    }

    #[test]
    fn bad_settings() {
        let bad = |s: Value| evaluate(&input(json!({}), vec![], s)).unwrap_err();
        assert!(bad(json!({"allow_code_layers": "yes"})).starts_with("invalid settings"));
        assert!(
            bad(json!({"allow_globals": ["os system"]}))
                .contains("allow_globals[0]: \"os system\" is not a dotted Python name")
        );
        assert!(bad(json!({"allow_globals": ["*"]})).contains("allow_globals[0]"));
        assert!(bad(json!({"allow_code": true})).contains("unknown field `allow_code`"));
        assert!(bad(json!({"unscanned": "fatal"})).contains("unknown variant `fatal`"));
    }

    #[test]
    fn real_fixture_models() {
        // The Hugging Face fixtures ship no code files and no pickles: nothing to report.
        for model in [
            "hf-lfs/pygmalion-7b",
            "hf-lfs/granite-3.1-1b-a400m-instruct",
            "hf-lfs/molmo-7b-d-nf4",
        ] {
            assert!(
                evaluate(&hf_model(model, json!({}))).unwrap().is_empty(),
                "{model}"
            );
        }
        // molmo's config.json names remote code (auto_map → modeling_molmo.py): once that file is
        // in the directory it is a code layer.
        let mut input = hf_model("hf-lfs/molmo-7b-d-nf4", json!({}));
        input.files.push(file("modeling_molmo.py", "code", 4000));
        assert_eq!(ids(&evaluate(&input).unwrap()), ["code-layer"]);
    }
}
