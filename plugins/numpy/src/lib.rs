//! Placeholder: the numpy plugin is being written.
use modelpack_plugin_sdk::prelude::*;
struct Plugin;
impl FormatPlugin for Plugin {
    const INFO: &'static str = r#"{"name":"numpy","version":"0.1.0","description":"numpy reader (work in progress)","extensions":["numpy"]}"#;
    fn detect(_name: &str, _head: &[u8]) -> f32 { 0.0 }
    fn inspect(_inputs: &[&dyn Source]) -> Result<ModelReport, Error> {
        Err(Error::Unsupported("not implemented yet".into()))
    }
}
modelpack_plugin_sdk::export_format_plugin!(Plugin);
