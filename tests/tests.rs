//! modelpack's integration tests: one binary, one module per concern. Each runs the real
//! `modelpack` binary against real plugins and the shared fixtures.

mod util;

/// Issue 13: convert KitOps, Ollama, Docker model and legacy vnd.cnai artifacts into ModelPack.
mod artifacts;

/// Policies and `modelpack check`.
mod check;
/// Issue 15: single-file pack, --set suggestions, open precision list, plain progress lines.
mod cli_basics;
/// Issue 15: `check` on LFS checkouts and licence conflicts; policy configuration errors.
mod cli_check;
/// Issue 15: a Hugging Face cache packs as its snapshot (the scripted newcomer run).
mod cli_hfcache;
/// Issue 15: inspect of OCI layouts (artifact view and weights from blobs).
mod cli_inspect;
/// Issue 15: broken pipes, JSON naming and errors, one missing-path message, help, completions.
mod cli_output;
/// Issue 15: pack with generate's flags and a reviewed --config.
mod cli_pack_config;
/// Issue 15: registry error lines, docker:// references, pull into a layout and by digest.
mod cli_registry;
/// One meaning everywhere: generate, inspect and check count the same parameters.
mod contract;
/// Convention plugins: contained when they misbehave, confined to the listing, vendor and
/// template plugins feed `generate --explain`.
mod conventions;
/// Convention file names come from the convention plugins' hints; none is left in the host.
mod conventions_hints;
/// convert: pickles, NumPy and GGUF to safetensors, bit for bit, nothing executed.
mod convert;
/// Issue 12: convert is atomic without fsync (kills at any moment), --sync writes the same bytes.
mod convert_atomic;
/// Every shared fixture against the reference libraries' answers.
mod fixtures;
/// TFLite and OpenVINO IR fixtures against the official readers; generate on each.
mod formats;
/// `generate`: configs from fixtures and built model directories, validated and checked.
mod generate;
/// Hostile model directories: FIFOs and sockets, symlink loops, non-UTF-8 names.
mod hostile_dirs;
/// Hostile files: CPython-exact pickle literals, overflowing counts, FIFOs named by metadata,
/// unreadable weights and the exit codes they give.
mod hostile_files;
/// Hostile layouts: blobs linked out of the layout or to devices, shared manifests, and
/// everything unpack refuses, which validate must report.
mod hostile_layouts;
/// Hostile registries: token realms elsewhere, huge manifests, silence.
mod hostile_registries;
/// Interruptions: SIGKILL at random moments, SIGINT/SIGTERM/SIGHUP, crashes inside an append.
mod hostile_signals;
/// skopeo through a real registry and back; Python jsonschema on packed configs.
mod interop;
/// Locate convention plugins: model-root answers followed once, confined; errors stop.
mod locate;
/// login/logout, Docker credential helpers, where credentials may be sent.
mod login;
/// Malicious pickles are flagged, never executed.
mod malicious;
/// pack and unpack round trips, reproducibility, atomicity, appending to a layout.
mod pack;
/// pack/generate --convert-pickles: artifacts with safetensors conversions and no pickle.
mod pack_convert;
/// Issue 14: a second pack --push of the same files sends no blob bytes; changed files are.
mod pack_push_again;
/// The plugin crates' own native tests, run from here so one `cargo test` covers them.
mod plugin_crates;
/// Plugin discovery, listing, WIT version refusal and the compiled-code cache.
mod plugins;
/// Policies published with `plugins push`, run from `--policy oci://`, tampering refused.
mod policy_oci;
/// Referrers: carried by push and pull (tag-schema fallback and the API), pull --verify.
mod referrers;
/// push and pull against real registries (with and without auth), corruption caught.
mod registry;
/// Issue 14: one read per byte, pack --push, remote reads and partial pulls at model scale.
mod registry_scale;
/// Misbehaving plugins are contained; good files in the same run still work.
mod sandbox;
/// sbom: CycloneDX and SPDX validated, deterministic, lineage and data sets.
mod sbom;
/// sign and verify, both ways with the OpenSSF model-signing package; tampering refused.
mod sign;
/// check --public-key and the signature-required policy: signed, unsigned, tampered.
mod signature_policy;
/// Plugin templates build out of tree and run.
mod templates;
/// Resumed pulls, upload fallbacks, 5xx bursts and mounts through a fault-injecting proxy.
mod transfers;
/// unpack on hand-made layouts: traversal refused, blobs verified while streaming.
mod unpack;
/// validate finds every planted defect; JSON report and exit codes.
mod validate;
