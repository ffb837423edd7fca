//! modelpack's integration tests: one binary, one module per concern. Each runs the real
//! `modelpack` binary against real plugins and the shared fixtures.

mod util;

/// Policies and `modelpack check`.
mod check;
/// One meaning everywhere: generate, inspect and check count the same parameters.
mod contract;
/// convert: pickles, NumPy and GGUF to safetensors, bit for bit, nothing executed.
mod convert;
/// Every shared fixture against the reference libraries' answers.
mod fixtures;
/// TFLite and OpenVINO IR fixtures against the official readers; generate on each.
mod formats;
/// `generate`: configs from fixtures and built model directories, validated and checked.
mod generate;
/// skopeo through a real registry and back; Python jsonschema on packed configs.
mod interop;
/// login/logout, Docker credential helpers, where credentials may be sent.
mod login;
/// Malicious pickles are flagged, never executed.
mod malicious;
/// pack and unpack round trips, reproducibility, atomicity, appending to a layout.
mod pack;
/// The plugin crates' own native tests, run from here so one `cargo test` covers them.
mod plugin_crates;
/// Plugin discovery, listing, WIT version refusal and the compiled-code cache.
mod plugins;
/// push and pull against real registries (with and without auth), corruption caught.
mod registry;
/// Misbehaving plugins are contained; good files in the same run still work.
mod sandbox;
/// Plugin templates build out of tree and run.
mod templates;
/// unpack on hand-made layouts: traversal refused, blobs verified while streaming.
mod unpack;
/// validate finds every planted defect; JSON report and exit codes.
mod validate;
