//! The modelpack plugin SDK (contract `modelpack:plugin@0.2.0`): everything a format, policy
//! or converter plugin needs.
//!
//! A plugin implements [`FormatPlugin`], [`PolicyPlugin`] or [`ConverterPlugin`] with plain
//! Rust functions over the [`Source`] trait, then calls [`export_format_plugin!`],
//! [`export_policy_plugin!`] or [`export_converter_plugin!`]. A format plugin reports what its
//! tensors *mean* (roles, the `paramSize` basis, precision words, quantisation, descriptor
//! candidates); [`meaning`] has the helpers that do the arithmetic the same way everywhere. Because
//! parsers only see `&dyn Source`, they compile and run natively too: unit tests, fuzzers and
//! benchmarks use [`MemSource`] or [`FileSource`] instead of the host's blobs.
//!
//! The static plugin description is a JSON string ([`FormatPlugin::INFO`]); the export macros
//! embed it in the `modelpack-plugin-info` custom section (so the host routes files without
//! compiling the plugin) and `describe` returns the same facts.
#![deny(missing_docs)]

pub mod convention;
mod lfs;
pub mod meaning;
mod source;
pub use lfs::{LfsPointer, lfs_pointer_report, parse_pointer};
pub use source::{FileSource, MemSource, Source, read_at, read_exact_at};

/// Bindings of the `format-plugin` world.
#[allow(missing_docs)]
pub mod format {
    wit_bindgen::generate!({
        world: "format-plugin",
        path: "../../wit",
        pub_export_macro: true,
        export_macro_name: "__export_format_world",
        default_bindings_module: "modelpack_plugin_sdk::format",
    });
}

/// Bindings of the `policy-plugin` world.
#[allow(missing_docs)]
pub mod policy {
    wit_bindgen::generate!({
        world: "policy-plugin",
        path: "../../wit",
        pub_export_macro: true,
        export_macro_name: "__export_policy_world",
        default_bindings_module: "modelpack_plugin_sdk::policy",
    });
}

/// Bindings of the `convention-plugin` world.
#[allow(missing_docs)]
pub mod conv {
    wit_bindgen::generate!({
        world: "convention-plugin",
        path: "../../wit",
        pub_export_macro: true,
        export_macro_name: "__export_convention_world",
        default_bindings_module: "modelpack_plugin_sdk::conv",
    });
}

/// Bindings of the `converter-plugin` world.
#[allow(missing_docs)]
pub mod converter {
    wit_bindgen::generate!({
        world: "converter-plugin",
        path: "../../wit",
        pub_export_macro: true,
        export_macro_name: "__export_converter_world",
        default_bindings_module: "modelpack_plugin_sdk::converter",
    });
}

/// The types a format plugin works with.
pub mod prelude {
    pub use crate::format::exports::modelpack::plugin::format_handler::{
        ArraySummary, Dim, DtypeInfo, MetaEntry, MetaValue, ModelReport, Packing, Tensor,
        TensorGroup, ValueInfo,
    };
    pub use crate::format::exports::modelpack::plugin::weight_conversion::{
        ConversionOptions, CopyPlan, PlannedTensor, Skipped, TensorSource,
    };
    pub use crate::format::modelpack::plugin::source::IoError;
    pub use crate::format::modelpack::plugin::types::{
        Error, FieldCandidate, Finding, Location, Magic, Origin, PluginInfo, PluginKind, Precision,
        Quantization, Severity, SourceClass, TensorRole,
    };
    /// The 0.1 name of [`TensorRole`], kept so group code reads the same.
    pub type GroupRole = TensorRole;
    pub use crate::meaning::{
        apply_state_dict_roles, elements, finish_report, header_candidate, precision_word,
        state_dict_role, total_elements, weight_summary, weight_tensor,
    };
    pub use crate::{FormatPlugin, Source, finding, lfs_pointer_report, read_at, read_exact_at};
}

/// The types a converter plugin works with.
pub mod converter_prelude {
    pub use crate::ConverterPlugin;
    pub use crate::converter::exports::modelpack::plugin::artifact_converter::{
        ArtifactPlan, ForeignArtifact, ForeignArtifactRef, LayerAction, PlannedLayer,
    };
    pub use crate::converter::modelpack::plugin::types::{
        FieldCandidate, FileKind, Finding, Location, Origin, Severity, SourceClass,
    };
}

/// The types a policy plugin works with.
pub mod policy_prelude {
    pub use crate::PolicyPlugin;
    pub use crate::policy::exports::modelpack::plugin::policy::{
        FileFacts, ModelTotals, PolicyInput, VerifiedSignature,
    };
    pub use crate::policy::modelpack::plugin::types::{Finding, Location, Severity};
}

use format::exports::modelpack::plugin::format_handler as fh;
use format::exports::modelpack::plugin::weight_conversion as wc;
use format::modelpack::plugin::types as ft;

/// A plugin that reads one weight format.
pub trait FormatPlugin {
    /// The plugin description as JSON: `{"name", "version", "description", "extensions",
    /// "file_names", "magic": [{"offset", "hex"}]}`. Embedded in the component verbatim.
    const INFO: &'static str;
    /// Confidence in `[0, 1]` that this plugin reads the file, from its name and first bytes.
    fn detect(name: &str, head: &[u8]) -> f32;
    /// Reads the inputs (the named file first, then any grouped shards) header-only, and
    /// says what the tensors mean (see [`meaning::finish_report`]).
    fn inspect(inputs: &[&dyn Source]) -> Result<fh::ModelReport, ft::Error>;
    /// Plans a conversion of the inputs to `options.target`; the host moves the bytes.
    /// The default answers `unsupported`.
    fn plan_conversion(
        inputs: &[&dyn Source],
        options: &wc::ConversionOptions,
    ) -> Result<wc::CopyPlan, ft::Error> {
        let _ = inputs;
        Err(ft::Error::Unsupported(format!(
            "this plugin cannot convert to {}",
            options.target
        )))
    }
}

/// A plugin that maps a foreign artifact to a ModelPack config and layer plan.
pub trait ConverterPlugin {
    /// The plugin description as JSON: `{"name", "version", "description"}`.
    const INFO: &'static str;
    /// Confidence in `[0, 1]` from the manifest media type, artifact type, config type and
    /// the layers' media types.
    fn detect(
        media_type: &str,
        artifact_type: &str,
        config_media_type: &str,
        layer_media_types: &[String],
    ) -> f32;
    /// Plans the conversion; `Err` is one line naming the field and value at fault.
    fn plan(
        artifact: converter::exports::modelpack::plugin::artifact_converter::ForeignArtifact,
    ) -> Result<converter::exports::modelpack::plugin::artifact_converter::ArtifactPlan, String>;
}

/// A plugin that checks a whole model against rules.
pub trait PolicyPlugin {
    /// The plugin description as JSON: `{"name", "version", "description"}`.
    const INFO: &'static str;
    /// Judges one model; `Err` when the policy cannot run (e.g. bad settings).
    fn evaluate(
        input: policy::exports::modelpack::plugin::policy::PolicyInput,
    ) -> Result<Vec<policy::modelpack::plugin::types::Finding>, String>;
}

/// Builds a [`ft::Finding`] in one line.
pub fn finding(
    id: &str,
    severity: ft::Severity,
    message: impl Into<String>,
    field: Option<String>,
) -> ft::Finding {
    ft::Finding {
        id: id.to_string(),
        severity,
        message: message.into(),
        location: ft::Location { file: None, field },
    }
}

/// The parsed form of a plugin's `INFO` JSON.
#[derive(serde::Deserialize)]
pub(crate) struct InfoJson {
    pub(crate) name: String,
    pub(crate) version: String,
    #[serde(default)]
    pub(crate) description: String,
    #[serde(default)]
    pub(crate) extensions: Vec<String>,
    #[serde(default)]
    pub(crate) file_names: Vec<String>,
    #[serde(default)]
    magic: Vec<MagicJson>,
}

#[derive(serde::Deserialize)]
struct MagicJson {
    offset: u32,
    hex: String,
}

pub(crate) fn parse_info(json: &str) -> InfoJson {
    // INFO is a compile-time constant of the plugin itself: a bad one is a plugin bug that
    // must surface on the first `describe`, and the host reports the trap.
    serde_json::from_str(json).expect("plugin INFO is not valid plugin-info JSON")
}

fn hex_bytes(hex: &str) -> Vec<u8> {
    (0..hex.len() / 2)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("magic hex"))
        .collect()
}

/// The format plugin description returned by `describe`.
pub fn format_info(json: &str) -> ft::PluginInfo {
    let i = parse_info(json);
    ft::PluginInfo {
        name: i.name,
        version: i.version,
        kind: ft::PluginKind::Format,
        description: i.description,
        extensions: i.extensions,
        file_names: i.file_names,
        magic: i
            .magic
            .iter()
            .map(|m| ft::Magic {
                offset: m.offset,
                bytes: hex_bytes(&m.hex),
            })
            .collect(),
    }
}

/// The policy plugin description returned by `describe`.
pub fn policy_info(json: &str) -> policy::modelpack::plugin::types::PluginInfo {
    let i = parse_info(json);
    policy::modelpack::plugin::types::PluginInfo {
        name: i.name,
        version: i.version,
        kind: policy::modelpack::plugin::types::PluginKind::Policy,
        description: i.description,
        extensions: vec![],
        file_names: vec![],
        magic: vec![],
    }
}

/// Copies a string into a fixed-size array, for the custom section.
#[doc(hidden)]
pub const fn __info_bytes<const N: usize>(s: &str) -> [u8; N] {
    let b = s.as_bytes();
    let mut out = [0u8; N];
    let mut i = 0;
    while i < N {
        out[i] = b[i];
        i += 1;
    }
    out
}

/// Adapts a [`FormatPlugin`] to the generated WIT trait.
#[doc(hidden)]
pub struct __FormatAdapter<T>(core::marker::PhantomData<T>);

impl<T: FormatPlugin> fh::Guest for __FormatAdapter<T> {
    fn describe() -> ft::PluginInfo {
        format_info(T::INFO)
    }
    fn detect(name: String, head: Vec<u8>) -> f32 {
        T::detect(&name, &head).clamp(0.0, 1.0)
    }
    fn inspect(
        inputs: Vec<format::modelpack::plugin::source::Blob>,
    ) -> Result<fh::ModelReport, ft::Error> {
        let blobs: Vec<&dyn Source> = inputs.iter().map(|b| b as &dyn Source).collect();
        T::inspect(&blobs)
    }
}

impl<T: FormatPlugin> wc::Guest for __FormatAdapter<T> {
    fn plan_conversion(
        inputs: Vec<format::modelpack::plugin::source::Blob>,
        options: wc::ConversionOptions,
    ) -> Result<wc::CopyPlan, ft::Error> {
        let blobs: Vec<&dyn Source> = inputs.iter().map(|b| b as &dyn Source).collect();
        T::plan_conversion(&blobs, &options)
    }
}

/// The converter plugin description returned by `describe`.
pub fn converter_info(json: &str) -> converter::modelpack::plugin::types::PluginInfo {
    let i = parse_info(json);
    converter::modelpack::plugin::types::PluginInfo {
        name: i.name,
        version: i.version,
        kind: converter::modelpack::plugin::types::PluginKind::Converter,
        description: i.description,
        extensions: vec![],
        file_names: vec![],
        magic: vec![],
    }
}

/// Adapts a [`ConverterPlugin`] to the generated WIT trait.
#[doc(hidden)]
pub struct __ConverterAdapter<T>(core::marker::PhantomData<T>);

impl<T: ConverterPlugin> converter::exports::modelpack::plugin::artifact_converter::Guest
    for __ConverterAdapter<T>
{
    fn describe() -> converter::modelpack::plugin::types::PluginInfo {
        converter_info(T::INFO)
    }
    fn detect(
        media_type: String,
        artifact_type: String,
        config_media_type: String,
        layer_media_types: Vec<String>,
    ) -> f32 {
        T::detect(
            &media_type,
            &artifact_type,
            &config_media_type,
            &layer_media_types,
        )
        .clamp(0.0, 1.0)
    }
    fn plan(
        artifact: converter::exports::modelpack::plugin::artifact_converter::ForeignArtifact,
    ) -> Result<converter::exports::modelpack::plugin::artifact_converter::ArtifactPlan, String>
    {
        T::plan(artifact)
    }
}

/// Adapts a [`PolicyPlugin`] to the generated WIT trait.
#[doc(hidden)]
pub struct __PolicyAdapter<T>(core::marker::PhantomData<T>);

impl<T: PolicyPlugin> policy::exports::modelpack::plugin::policy::Guest for __PolicyAdapter<T> {
    fn describe() -> policy::modelpack::plugin::types::PluginInfo {
        policy_info(T::INFO)
    }
    fn evaluate(
        input: policy::exports::modelpack::plugin::policy::PolicyInput,
    ) -> Result<Vec<policy::modelpack::plugin::types::Finding>, String> {
        T::evaluate(input)
    }
}

/// Exports a [`FormatPlugin`] implementation as the component's `format-handler`.
#[macro_export]
macro_rules! export_format_plugin {
    ($plugin:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            type __Export = $crate::__FormatAdapter<$plugin>;
    $crate::format::__export_format_world!(__Export with_types_in $crate::format);
            #[unsafe(link_section = "modelpack-plugin-info")]
            #[used]
            static __MODELPACK_PLUGIN_INFO: [u8; <$plugin as $crate::FormatPlugin>::INFO.len()] =
                $crate::__info_bytes(<$plugin as $crate::FormatPlugin>::INFO);
        };
    };
}

/// Exports a [`PolicyPlugin`] implementation as the component's `policy`.
#[macro_export]
macro_rules! export_policy_plugin {
    ($plugin:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            type __Export = $crate::__PolicyAdapter<$plugin>;
    $crate::policy::__export_policy_world!(__Export with_types_in $crate::policy);
            #[unsafe(link_section = "modelpack-plugin-info")]
            #[used]
            static __MODELPACK_PLUGIN_INFO: [u8; <$plugin as $crate::PolicyPlugin>::INFO.len()] =
                $crate::__info_bytes(<$plugin as $crate::PolicyPlugin>::INFO);
        };
    };
}

/// Exports a [`convention::ConventionPlugin`] implementation as the component's `convention`.
#[macro_export]
macro_rules! export_convention_plugin {
    ($plugin:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            type __Export = $crate::convention::__ConventionAdapter<$plugin>;
    $crate::conv::__export_convention_world!(__Export with_types_in $crate::conv);
            #[unsafe(link_section = "modelpack-plugin-info")]
            #[used]
            static __MODELPACK_PLUGIN_INFO: [u8;
                <$plugin as $crate::convention::ConventionPlugin>::INFO.len()] =
                $crate::__info_bytes(<$plugin as $crate::convention::ConventionPlugin>::INFO);
        };
    };
}

/// Exports a [`ConverterPlugin`] implementation as the component's `artifact-converter`.
#[macro_export]
macro_rules! export_converter_plugin {
    ($plugin:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            type __Export = $crate::__ConverterAdapter<$plugin>;
    $crate::converter::__export_converter_world!(__Export with_types_in $crate::converter);
            #[unsafe(link_section = "modelpack-plugin-info")]
            #[used]
            static __MODELPACK_PLUGIN_INFO: [u8; <$plugin as $crate::ConverterPlugin>::INFO.len()] =
                $crate::__info_bytes(<$plugin as $crate::ConverterPlugin>::INFO);
        };
    };
}
