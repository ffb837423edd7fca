//! A convention plugin that misbehaves on purpose, chosen by the first line of the model
//! directory's `EVIL` file: `LOOP`, `ALLOC`, `PANIC`, `BIGRESULT`, `ESCAPE`, `PASSWD`, `ERR`,
//! or `OK`. The sandbox tests run each one and check that it costs exactly this plugin's
//! answer: `generate` still succeeds with every other plugin's facts.

use modelpack_plugin_sdk::convention::*;
use serde_json::json;

struct EvilConvention;

fn vendor(out: &mut ConventionReport, v: &str) {
    out.candidates.push(candidate(
        "/descriptor/vendor",
        json!(v),
        SourceClass::ConventionFiles,
        origin("EVIL", None),
        None,
    ));
}

impl ConventionPlugin for EvilConvention {
    const INFO: &'static str = r#"{"name":"evil-convention","version":"0.1.0","description":"misbehaves on purpose (tests only)","file_names":["evil"]}"#;

    fn run(files: &dyn Files, _input: &ConventionInput) -> Result<ConventionReport, String> {
        let cmd = read_text(files, "EVIL")?;
        let cmd = cmd.lines().next().unwrap_or("").trim().to_string();
        let mut out = empty_report();
        match cmd.as_str() {
            "LOOP" => {
                let mut x: u64 = 0;
                loop {
                    x = std::hint::black_box(x.wrapping_add(1));
                }
            }
            "ALLOC" => {
                let mut keep = Vec::new();
                for _ in 0..32 {
                    keep.push(vec![1u8; 64 << 20]);
                }
                vendor(&mut out, &format!("{}", keep.len()));
            }
            "PANIC" => panic!("convention plugin panicked on purpose"),
            "BIGRESULT" => {
                // ~80 MiB of candidates: over the host's 64 MiB result cap, under the memory cap.
                let big = "x".repeat(1 << 20);
                for _ in 0..80 {
                    out.candidates.push(candidate(
                        "/descriptor/description",
                        json!(big),
                        SourceClass::ConventionFiles,
                        origin("EVIL", None),
                        None,
                    ));
                }
            }
            "ESCAPE" => {
                // Every way out of the model directory; whatever opens ends up in the config.
                for p in [
                    "../outside.txt",
                    "/etc/passwd",
                    "link-out",
                    "sub/../../outside.txt",
                    ".hidden",
                ] {
                    match files.read(p, MAX_TEXT) {
                        Ok(b) => vendor(
                            &mut out,
                            &format!("LEAKED {p}: {}", String::from_utf8_lossy(&b)),
                        ),
                        Err(e) => out.findings.push(message(
                            Severity::Info,
                            "refused",
                            None,
                            format!("evil-convention: {p}: {e}"),
                        )),
                    }
                }
            }
            "PASSWD" => match std::fs::read_to_string("/etc/passwd") {
                Ok(t) => vendor(&mut out, &format!("LEAKED {}", t.len())),
                Err(e) => out.findings.push(message(
                    Severity::Info,
                    "refused",
                    None,
                    format!("evil-convention: /etc/passwd: {e}"),
                )),
            },
            "ERR" => return Err("refusing on purpose".into()),
            _ => vendor(&mut out, "evil-ok"),
        }
        Ok(out)
    }
}

modelpack_plugin_sdk::export_convention_plugin!(EvilConvention);
