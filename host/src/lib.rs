//! modelpack: turn raw ML checkpoints into CNCF ModelPack artifacts, validate them and check
//! them against policies. The host knows OCI, JSON Schema, tar, registries and the sandbox;
//! every weight format and policy lives in a sandboxed WebAssembly component plugin.
#![deny(missing_docs)]

pub mod cli;
pub mod convert;
pub mod generate;
pub mod inspect;
pub mod migrate;
pub mod model;
pub mod oci;
pub mod plugin;
pub mod policy;
pub mod registry;
pub mod regular;
pub mod sbom;
pub mod sign;
pub mod signals;
pub mod suggest;
pub mod units;
pub mod validate;
