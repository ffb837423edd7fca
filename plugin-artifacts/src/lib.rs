//! The compiled plugin components: built-in ones (bundled into `modelpack`) and test plugins.
//!
//! `build.rs` builds `plugins/` for wasm32-wasip2; this crate only exposes the results.

include!(concat!(env!("OUT_DIR"), "/artifacts.rs"));
