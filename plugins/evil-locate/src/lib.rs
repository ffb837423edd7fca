//! A *locate* convention plugin that misbehaves on purpose (tests only): it claims the
//! directory `locate-here/` and answers the locate call with the first line of
//! `locate-here/WHERE` as `model-root`, whatever it is (`../..`, `/etc`, a link leaving the
//! directory, a file), or with an `error` finding when that line is `ERROR`. The host must
//! follow only a subdirectory of the directory it was given.

use modelpack_plugin_sdk::convention::*;
use serde_json::json;

struct EvilLocate;

impl ConventionPlugin for EvilLocate {
    const INFO: &'static str = r#"{"name":"evil-locate","version":"0.1.0","description":"points the model root anywhere (tests only)","file_names":["locate-here/"]}"#;

    fn run(files: &dyn Files, input: &ConventionInput) -> Result<ConventionReport, String> {
        let mut out = empty_report();
        if !input.locate {
            return Err("called outside the locate call".into());
        }
        let text = read_text(files, "locate-here/WHERE")?;
        let target = text.lines().next().unwrap_or("").trim().to_string();
        if target == "ERROR" {
            out.findings.push(message(
                Severity::Error,
                "not-a-model",
                None,
                "evil-locate refuses this directory".into(),
            ));
            return Ok(out);
        }
        out.candidates.push(candidate(
            "/descriptor/vendor",
            json!(format!("located at {target}")),
            SourceClass::ConventionFiles,
            origin("locate-here/WHERE", None),
            None,
        ));
        out.model_root = Some(target);
        Ok(out)
    }
}

modelpack_plugin_sdk::export_convention_plugin!(EvilLocate);
