//! Placeholder: the pytorch plugin is being written.
use modelpack_plugin_sdk::prelude::*;
struct Plugin;
impl FormatPlugin for Plugin {
    const INFO: &'static str = r#"{"name":"pytorch","version":"0.1.0","description":"pytorch reader (work in progress)","extensions":["pytorch"]}"#;
    fn detect(_name: &str, _head: &[u8]) -> f32 { 0.0 }
    fn inspect(_inputs: &[&dyn Source]) -> Result<ModelReport, Error> {
        Err(Error::Unsupported("not implemented yet".into()))
    }
}
modelpack_plugin_sdk::export_format_plugin!(Plugin);
