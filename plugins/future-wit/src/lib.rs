//! Exports `modelpack:plugin/format-handler@0.3.0`, which a 0.1.x host must refuse.
wit_bindgen::generate!({ world: "format-plugin", path: "wit" });

struct Future;

impl exports::modelpack::plugin::format_handler::Guest for Future {
    fn describe() -> String {
        "future".into()
    }
}

export!(Future);

#[unsafe(link_section = "modelpack-plugin-info")]
#[used]
static INFO: [u8; 59] = *br#"{"name":"future","version":"0.1.0","extensions":["future"]}"#;
