//! Exports `modelpack:plugin/format-handler@0.1.0`, which a 0.2.x host must refuse.
wit_bindgen::generate!({ world: "format-plugin", path: "wit" });

struct Old;

impl exports::modelpack::plugin::format_handler::Guest for Old {
    fn describe() -> String {
        "old".into()
    }
}

export!(Old);

#[unsafe(link_section = "modelpack-plugin-info")]
#[used]
static INFO: [u8; 53] = *br#"{"name":"old","version":"0.1.0","extensions":["old"]}"#;
