//! Placeholder: the onnx plugin is being written.
use modelpack_plugin_sdk::prelude::*;
struct Plugin;
impl FormatPlugin for Plugin {
    const INFO: &'static str = r#"{"name":"onnx","version":"0.1.0","description":"onnx reader (work in progress)","extensions":["onnx"]}"#;
    fn detect(_name: &str, _head: &[u8]) -> f32 { 0.0 }
    fn inspect(_inputs: &[&dyn Source]) -> Result<ModelReport, Error> {
        Err(Error::Unsupported("not implemented yet".into()))
    }
}
modelpack_plugin_sdk::export_format_plugin!(Plugin);
