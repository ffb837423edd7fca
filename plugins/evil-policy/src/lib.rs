//! A policy that misbehaves on purpose, chosen by its `mode` setting: `loop`, `panic`,
//! `alloc`, `bad-settings`; anything else reports one warning. A policy that fails must cost
//! that policy an error outcome, never the `check` run.

use modelpack_plugin_sdk::policy_prelude::*;

struct EvilPolicy;

impl PolicyPlugin for EvilPolicy {
    const INFO: &'static str = r#"{"name":"evil-policy","version":"0.1.0","description":"misbehaves on purpose (tests only)"}"#;

    fn evaluate(input: PolicyInput) -> Result<Vec<Finding>, String> {
        let settings: serde_json::Value =
            serde_json::from_str(&input.settings).map_err(|e| e.to_string())?;
        match settings["mode"].as_str().unwrap_or("") {
            "loop" => {
                let mut x: u64 = 0;
                loop {
                    x = std::hint::black_box(x.wrapping_add(1));
                }
            }
            "panic" => panic!("policy panicked on purpose"),
            "alloc" => {
                let mut keep = Vec::new();
                for _ in 0..64 {
                    keep.push(vec![1u8; 64 << 20]);
                }
                Err(format!("allocated {}", keep.len()))
            }
            "bad-settings" => Err("setting `mode` is bad on purpose".into()),
            _ => Ok(vec![Finding {
                id: "evil-warning".into(),
                severity: Severity::Warning,
                message: format!("saw {} files", input.files.len()),
                location: Location {
                    file: None,
                    field: Some("/descriptor/name".into()),
                },
            }]),
        }
    }
}

modelpack_plugin_sdk::export_policy_plugin!(EvilPolicy);
