//! The sandbox: one wasmtime `Engine`, one `InstancePre` per plugin, a fresh `Store` per call.
//!
//! What a plugin gets: the `blob` resource (read-only, capped reads, confined to the model
//! directory), stdout/stderr into 64 KiB in-memory pipes, an empty environment, and random
//! numbers (Rust's `HashMap` seeds need them). What it does not get: filesystem, sockets, name
//! lookup, clocks. Those WASI imports are defined as traps, so using them ends the call with a
//! clear error instead of, say, a sleep that blocks the host where no deadline can reach it.
//! Every call has an epoch-based CPU deadline and a linear-memory cap.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use wasmtime::component::{Component, HasData, Linker, Resource, ResourceTable};
use wasmtime::{Engine, ResourceLimiter, Store};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::blob::{BlobFile, OpenError};
use super::cache::CodeCache;
use super::info::PluginInfo;

/// Generated host bindings for the worlds of `modelpack:plugin@0.2.0` (documented in
/// `wit/plugin.wit`).
#[allow(missing_docs)]
pub mod bindings {
    /// The `format-plugin` world.
    pub mod format {
        wasmtime::component::bindgen!({
            world: "format-plugin",
            path: "../wit",
            with: { "modelpack:plugin/source.blob": crate::plugin::blob::BlobFile },
            imports: { default: trappable },
        });
    }
    /// The `policy-plugin` world.
    pub mod policy {
        wasmtime::component::bindgen!({
            world: "policy-plugin",
            path: "../wit",
        });
    }
    /// The `converter-plugin` world.
    pub mod converter {
        wasmtime::component::bindgen!({
            world: "converter-plugin",
            path: "../wit",
        });
    }
}

/// The `artifact-converter` export's types.
pub use bindings::converter::exports::modelpack::plugin::artifact_converter as ac;
pub use bindings::format::exports::modelpack::plugin::format_handler as fh;
/// The `weight-conversion` export's types.
pub use bindings::format::exports::modelpack::plugin::weight_conversion as wc;
use bindings::format::modelpack::plugin::source::{self as src, IoError};
/// Types shared by every world, as the format world sees them.
pub use bindings::format::modelpack::plugin::types as ft;
pub use bindings::policy::exports::modelpack::plugin::policy as ph;

/// Epoch tick; deadlines are counted in ticks.
const TICK: Duration = Duration::from_millis(10);
/// Captured stdout/stderr per call.
const PIPE_CAPACITY: usize = 64 << 10;

/// Resource limits applied to every plugin call.
#[derive(Debug, Clone)]
pub struct Limits {
    /// CPU deadline per call.
    pub timeout: Duration,
    /// Linear-memory cap per call, in bytes.
    pub memory: usize,
    /// Largest single `blob.read`, in bytes.
    pub max_read: u32,
    /// Largest result a plugin may return, in bytes (approximate, as lifted into the host).
    pub max_result: usize,
    /// Most files one call may open through `open-related`.
    pub max_open: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout: Duration::from_secs(5),
            memory: 256 << 20,
            max_read: 16 << 20,
            max_result: 64 << 20,
            max_open: 4096,
        }
    }
}

/// Per-call store data.
pub struct State {
    wasi: WasiCtx,
    pub(super) table: ResourceTable,
    limiter: MemoryCap,
    max_read: u32,
    pub(super) opened: usize,
    pub(super) max_open: usize,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// A memory limiter that remembers it fired, so the error can say "memory cap".
struct MemoryCap {
    cap: usize,
    exceeded: Option<usize>,
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.cap {
            self.exceeded = Some(desired);
            return Err(wasmtime::format_err!("memory cap exceeded"));
        }
        Ok(true)
    }
    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1 << 20)
    }
    fn instances(&self) -> usize {
        32
    }
    fn tables(&self) -> usize {
        32
    }
    fn memories(&self) -> usize {
        8
    }
}

impl src::Host for State {}
impl bindings::format::modelpack::plugin::types::Host for State {}
impl bindings::policy::modelpack::plugin::types::Host for State {}
impl bindings::converter::modelpack::plugin::types::Host for State {}

impl src::HostBlob for State {
    fn name(&mut self, blob: Resource<BlobFile>) -> wasmtime::Result<String> {
        Ok(self.table.get(&blob)?.name.clone())
    }
    fn size(&mut self, blob: Resource<BlobFile>) -> wasmtime::Result<u64> {
        Ok(self.table.get(&blob)?.size())
    }
    fn read(
        &mut self,
        blob: Resource<BlobFile>,
        offset: u64,
        len: u32,
    ) -> wasmtime::Result<Result<Vec<u8>, IoError>> {
        if len > self.max_read {
            return Ok(Err(IoError::Limit(format!(
                "read of {len} bytes exceeds host cap {}",
                self.max_read
            ))));
        }
        let b = self.table.get(&blob)?;
        if offset > b.size() {
            return Ok(Err(IoError::OutOfRange(b.size())));
        }
        Ok(b.read(offset, len)
            .map_err(|e| IoError::Other(format!("{}: {e}", b.name))))
    }
    fn open_related(
        &mut self,
        blob: Resource<BlobFile>,
        path: String,
    ) -> wasmtime::Result<Result<Resource<BlobFile>, IoError>> {
        self.open_counted(|s| Ok(s.table.get(&blob)?.open_related(&path)))
    }
    fn drop(&mut self, blob: Resource<BlobFile>) -> wasmtime::Result<()> {
        self.table.delete(blob)?;
        Ok(())
    }
}

impl State {
    /// Opens one more file for a plugin under the per-call cap (`open-related` and the
    /// convention world's `directory.open` share it): the cap is checked first, a refusal or
    /// OS error is `not-found`, a success goes into the resource table.
    pub(super) fn open_counted(
        &mut self,
        open: impl FnOnce(&Self) -> wasmtime::Result<Result<BlobFile, OpenError>>,
    ) -> wasmtime::Result<Result<Resource<BlobFile>, IoError>> {
        if self.opened >= self.max_open {
            return Ok(Err(IoError::Limit(format!(
                "more than {} files opened in one call",
                self.max_open
            ))));
        }
        let opened = match open(self)? {
            Ok(b) => b,
            Err(OpenError::Refused(m) | OpenError::Io(m)) => return Ok(Err(IoError::NotFound(m))),
        };
        self.opened += 1;
        Ok(Ok(self.table.push(opened)?))
    }
}

/// `HasData` projection to the resource table, for the WASI io interfaces.
struct HasTable;
impl HasData for HasTable {
    type Data<'a> = &'a mut ResourceTable;
}

/// The WASI subset plugins may import: io, cli stdio/environment/exit/terminal, random.
fn add_wasi_subset(l: &mut Linker<State>) -> Result<()> {
    use wasmtime_wasi::cli::{WasiCli, WasiCliView};
    use wasmtime_wasi::p2::bindings::{cli, random, sync};
    use wasmtime_wasi::random::WasiRandom;
    wasmtime_wasi_io::bindings::wasi::io::error::add_to_linker::<State, HasTable>(l, |t| {
        &mut t.table
    })?;
    sync::io::poll::add_to_linker::<State, HasTable>(l, |t| &mut t.table)?;
    sync::io::streams::add_to_linker::<State, HasTable>(l, |t| &mut t.table)?;
    random::random::add_to_linker::<State, WasiRandom>(l, |t| t.wasi.random())?;
    random::insecure::add_to_linker::<State, WasiRandom>(l, |t| t.wasi.random())?;
    random::insecure_seed::add_to_linker::<State, WasiRandom>(l, |t| t.wasi.random())?;
    cli::exit::add_to_linker::<State, WasiCli>(l, State::cli)?;
    cli::environment::add_to_linker::<State, WasiCli>(l, State::cli)?;
    cli::stdin::add_to_linker::<State, WasiCli>(l, State::cli)?;
    cli::stdout::add_to_linker::<State, WasiCli>(l, State::cli)?;
    cli::stderr::add_to_linker::<State, WasiCli>(l, State::cli)?;
    cli::terminal_input::add_to_linker::<State, WasiCli>(l, State::cli)?;
    cli::terminal_output::add_to_linker::<State, WasiCli>(l, State::cli)?;
    cli::terminal_stdin::add_to_linker::<State, WasiCli>(l, State::cli)?;
    cli::terminal_stdout::add_to_linker::<State, WasiCli>(l, State::cli)?;
    cli::terminal_stderr::add_to_linker::<State, WasiCli>(l, State::cli)?;
    Ok(())
}

/// WASI interfaces the sandbox provides (any version); everything else is denied.
const PROVIDED: &[&str] = &["wasi:io/", "wasi:cli/", "wasi:random/", "modelpack:plugin/"];

/// Defines every import outside [`PROVIDED`] as a function that traps with "denied".
///
/// wasmtime's `define_unknown_imports_as_traps` cannot be used: it matches names exactly, so it
/// would stub `wasi:cli/stdout@0.2.6` even though the linker serves it as `@0.2.12` by semver.
fn deny_other_imports(
    linker: &mut Linker<State>,
    engine: &Engine,
    component: &Component,
    plugin: &str,
) -> Result<()> {
    use wasmtime::component::types::ComponentItem;
    for (name, item) in component.component_type().imports(engine) {
        if PROVIDED.iter().any(|p| name.starts_with(p)) {
            continue;
        }
        let ComponentItem::ComponentInstance(instance) = item.ty else {
            anyhow::bail!("plugin {plugin}: unsupported import {name}");
        };
        let mut inst = linker.instance(name).map_err(|e| anyhow!("{e}"))?;
        for (export, ty) in instance.exports(engine) {
            let what = format!("{name}#{export}");
            match ty.ty {
                ComponentItem::ComponentFunc(_) => inst
                    .func_new(export, move |_, _, _, _| {
                        Err(wasmtime::format_err!("denied import: `{what}`"))
                    })
                    .map_err(|e| anyhow!("{e}"))?,
                ComponentItem::Resource(_) => inst
                    .resource(export, shared_resource(export), |_, _| Ok(()))
                    .map_err(|e| anyhow!("{e}"))?,
                _ => {}
            }
        }
    }
    Ok(())
}

/// The host type of a resource a denied interface re-exports from `wasi:io` (`pollable`,
/// streams, `error`), so its type matches the real one; other resources get a dummy type.
fn shared_resource(name: &str) -> wasmtime::component::ResourceType {
    use wasmtime::component::ResourceType;
    match name {
        "pollable" => ResourceType::host::<wasmtime_wasi::p2::DynPollable>(),
        "input-stream" => ResourceType::host::<wasmtime_wasi::p2::DynInputStream>(),
        "output-stream" => ResourceType::host::<wasmtime_wasi::p2::DynOutputStream>(),
        "error" => ResourceType::host::<wasmtime_wasi_io::streams::Error>(),
        _ => ResourceType::host::<()>(),
    }
}

/// A call that did not produce a result: trap, timeout, memory cap, malformed result.
#[derive(Debug)]
pub struct CallFailure {
    /// One line, naming the cause.
    pub message: String,
    /// Whatever the plugin printed before failing.
    pub output: String,
}

impl std::fmt::Display for CallFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Result of a call plus what the plugin printed.
pub struct Called<T> {
    /// The plugin's answer.
    pub value: T,
    /// Captured stdout and stderr.
    pub output: String,
}

/// The engine and linkers shared by every plugin.
pub struct Runtime {
    engine: Engine,
    linker: Mutex<Linker<State>>,
    cache: Option<CodeCache>,
    limits: Limits,
    /// Messages about compilation and the cache (shown with `--verbose`).
    pub log: Arc<dyn Fn(&str) + Send + Sync>,
}

pub(super) enum Pre {
    Format(bindings::format::FormatPluginPre<State>),
    Policy(bindings::policy::PolicyPluginPre<State>),
    Convention(super::convention::bindings::ConventionPluginPre<State>),
    Converter(bindings::converter::ConverterPluginPre<State>),
}

/// A plugin compiled and linked, ready to be called any number of times.
pub struct Loaded {
    /// Static facts read from the component.
    pub info: PluginInfo,
    pub(super) pre: Pre,
}

impl Runtime {
    /// Creates the engine, the epoch ticker and the sandbox linker.
    pub fn new(
        limits: Limits,
        cache: Option<CodeCache>,
        log: Arc<dyn Fn(&str) + Send + Sync>,
    ) -> Result<Runtime> {
        let mut config = wasmtime::Config::new();
        config.epoch_interruption(true);
        config.max_wasm_stack(1 << 20);
        let engine = Engine::new(&config).map_err(|e| anyhow!("{e}"))?;
        let weak = engine.weak();
        // Detached: it exits when the engine is dropped, so process exit never waits for it.
        std::thread::Builder::new()
            .name("modelpack-epoch".into())
            .spawn(move || {
                while let Some(engine) = weak.upgrade() {
                    engine.increment_epoch();
                    drop(engine);
                    std::thread::sleep(TICK);
                }
            })
            .context("starting the plugin deadline thread")?;
        let mut linker = Linker::new(&engine);
        add_wasi_subset(&mut linker)?;
        bindings::format::FormatPlugin::add_to_linker::<State, wasmtime::component::HasSelf<State>>(
            &mut linker,
            |s| s,
        )?;
        super::convention::add_to_linker(&mut linker)?;
        Ok(Runtime {
            engine,
            linker: Mutex::new(linker),
            cache,
            limits,
            log,
        })
    }

    /// The limits applied to each call.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Compiles (or loads from the cache) and links one plugin.
    pub fn load(&self, wasm: &[u8], info: PluginInfo) -> Result<Loaded> {
        let started = Instant::now();
        let (component, hit) = match &self.cache {
            Some(cache) => cache.load_or_compile(&self.engine, wasm)?,
            None => (
                Component::new(&self.engine, wasm).map_err(|e| anyhow!("{e}"))?,
                false,
            ),
        };
        (self.log)(&format!(
            "plugin {}@{}: {} in {:.1} ms",
            info.name,
            info.version,
            if hit {
                "compiled code loaded from cache (cache hit)"
            } else {
                "compiled"
            },
            started.elapsed().as_secs_f64() * 1e3
        ));
        let mut linker = self
            .linker
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        deny_other_imports(&mut linker, &self.engine, &component, &info.name)?;
        let pre = linker
            .instantiate_pre(&component)
            .map_err(|e| anyhow!("plugin {}: cannot be linked: {e}", info.name))?;
        let pre = match info.kind {
            super::info::Kind::Format => Pre::Format(
                bindings::format::FormatPluginPre::new(pre)
                    .map_err(|e| anyhow!("plugin {}: {e}", info.name))?,
            ),
            super::info::Kind::Policy => Pre::Policy(
                bindings::policy::PolicyPluginPre::new(pre)
                    .map_err(|e| anyhow!("plugin {}: {e}", info.name))?,
            ),
            super::info::Kind::Convention => Pre::Convention(
                super::convention::bindings::ConventionPluginPre::new(pre)
                    .map_err(|e| anyhow!("plugin {}: {e}", info.name))?,
            ),
            super::info::Kind::Converter => Pre::Converter(
                bindings::converter::ConverterPluginPre::new(pre)
                    .map_err(|e| anyhow!("plugin {}: {e}", info.name))?,
            ),
        };
        Ok(Loaded { info, pre })
    }

    fn store(&self) -> (Store<State>, MemoryOutputPipe, MemoryOutputPipe) {
        let stdout = MemoryOutputPipe::new(PIPE_CAPACITY);
        let stderr = MemoryOutputPipe::new(PIPE_CAPACITY);
        // Nothing inherited: no args, env, preopens or stdin; sockets off on top of the
        // socket interfaces not being linked at all.
        let wasi = WasiCtx::builder()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        let state = State {
            wasi,
            table: ResourceTable::new(),
            limiter: MemoryCap {
                cap: self.limits.memory,
                exceeded: None,
            },
            max_read: self.limits.max_read,
            opened: 0,
            max_open: self.limits.max_open,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        let ticks = (self.limits.timeout.as_millis() / TICK.as_millis()).max(1) as u64;
        store.set_epoch_deadline(ticks);
        store.epoch_deadline_trap();
        (store, stdout, stderr)
    }

    /// Runs `f` in a fresh store and turns every way it can fail into one line.
    pub(super) fn call<T>(
        &self,
        plugin: &str,
        f: impl FnOnce(&mut Store<State>) -> wasmtime::Result<T>,
    ) -> Result<Called<T>, CallFailure> {
        let (mut store, stdout, stderr) = self.store();
        let result = f(&mut store);
        let output = captured(&stdout, &stderr);
        match result {
            Ok(value) => Ok(Called { value, output }),
            Err(e) => Err(CallFailure {
                message: describe_failure(plugin, &e, &store, &self.limits, &output),
                output,
            }),
        }
    }
}

fn captured(stdout: &MemoryOutputPipe, stderr: &MemoryOutputPipe) -> String {
    let mut s = String::from_utf8_lossy(&stdout.contents()).into_owned();
    s.push_str(&String::from_utf8_lossy(&stderr.contents()));
    s
}

/// One line for a failed call, by cause.
fn describe_failure(
    plugin: &str,
    e: &wasmtime::Error,
    store: &Store<State>,
    limits: &Limits,
    output: &str,
) -> String {
    if let Some(wanted) = store.data().limiter.exceeded {
        return format!(
            "plugin {plugin} exceeded its memory cap of {} MiB (asked for {} MiB; raise with --plugin-memory)",
            limits.memory >> 20,
            wanted.div_ceil(1 << 20)
        );
    }
    match e.downcast_ref::<wasmtime::Trap>() {
        Some(wasmtime::Trap::Interrupt) => format!(
            "plugin {plugin} exceeded its CPU deadline of {:.1} s (raise with --plugin-timeout)",
            limits.timeout.as_secs_f64()
        ),
        Some(wasmtime::Trap::UnreachableCodeReached) => match panic_message(output) {
            Some(msg) => format!("plugin {plugin} panicked: {msg}"),
            None => {
                format!("plugin {plugin} crashed (wasm `unreachable` executed: a panic or abort)")
            }
        },
        Some(wasmtime::Trap::StackOverflow) => format!("plugin {plugin} overflowed its stack"),
        Some(wasmtime::Trap::MemoryOutOfBounds) => {
            format!(
                "plugin {plugin} crashed: out-of-bounds memory access (often a stack overflow in the plugin)"
            )
        }
        Some(trap) => format!("plugin {plugin} trapped: {trap}"),
        None => {
            let root = e.root_cause().to_string();
            let root = root.lines().next().unwrap_or("").to_string();
            if root.contains("too much data is being copied between the host and the guest") {
                format!(
                    "plugin {plugin} returned a result too large to accept (over wasmtime's host-call copy limit)"
                )
            } else if let Some(import) = root
                .strip_prefix("denied import: `")
                .and_then(|r| r.split('`').next())
            {
                format!(
                    "plugin {plugin} was denied {import}: plugins get no filesystem, network or clock"
                )
            } else {
                format!("plugin {plugin} failed: {root}")
            }
        }
    }
}

/// The message of a Rust panic, from the captured stderr of a guest.
fn panic_message(output: &str) -> Option<String> {
    let mut lines = output.lines();
    lines.find(|l| l.contains("panicked at"))?;
    lines
        .next()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
}

/// Approximate size of a report as held in host memory.
fn report_size(r: &fh::ModelReport) -> usize {
    let findings: usize = r
        .findings
        .iter()
        .map(|f| f.id.len() + f.message.len() + 64)
        .sum();
    let tensors: usize = r
        .tensors
        .iter()
        .map(|t| t.name.len() + t.dtype.len() + 8 * t.shape.len() + 48)
        .sum();
    let meta: usize = r
        .metadata
        .iter()
        .map(|m| {
            m.key.len()
                + match &m.value {
                    fh::MetaValue::Text(s) | fh::MetaValue::Json(s) => s.len(),
                    fh::MetaValue::Array(a) => a.head.len() + a.element_type.len(),
                    _ => 8,
                }
        })
        .sum();
    let io: usize = r
        .inputs
        .iter()
        .chain(&r.outputs)
        .map(|v| v.name.len() + 64)
        .sum();
    let candidates: usize = r
        .candidates
        .iter()
        .map(|c| c.field.len() + c.value.len() + c.note.as_ref().map_or(0, String::len) + 64)
        .sum();
    let dtypes: usize = r.dtypes.iter().map(|d| d.dtype.len() + 32).sum();
    findings
        + tensors
        + meta
        + io
        + candidates
        + dtypes
        + r.covers.iter().map(String::len).sum::<usize>()
}

impl Loaded {
    /// `detect`: confidence in `[0, 1]` that the plugin reads the file.
    pub fn detect(&self, rt: &Runtime, name: &str, head: &[u8]) -> Result<f32, CallFailure> {
        let Pre::Format(pre) = &self.pre else {
            return Ok(0.0);
        };
        let called = rt.call(&self.info.name, |store| {
            let inst = pre.instantiate(&mut *store)?;
            inst.modelpack_plugin_format_handler()
                .call_detect(&mut *store, name, head)
        })?;
        let v = called.value;
        if !v.is_finite() {
            return Err(CallFailure {
                message: format!(
                    "plugin {} returned a malformed detect score {v}",
                    self.info.name
                ),
                output: called.output,
            });
        }
        Ok(v.clamp(0.0, 1.0))
    }

    /// `inspect` over the given files (the first is the one the user named).
    pub fn inspect(
        &self,
        rt: &Runtime,
        blobs: Vec<BlobFile>,
    ) -> Result<Called<Result<fh::ModelReport, ft::Error>>, CallFailure> {
        let Pre::Format(pre) = &self.pre else {
            return Err(CallFailure {
                message: format!(
                    "plugin {} is a policy, not a format handler",
                    self.info.name
                ),
                output: String::new(),
            });
        };
        let called = rt.call(&self.info.name, |store| {
            let inst = pre.instantiate(&mut *store)?;
            let mut handles = Vec::with_capacity(blobs.len());
            for b in blobs {
                handles.push(store.data_mut().table.push(b)?);
            }
            inst.modelpack_plugin_format_handler()
                .call_inspect(&mut *store, &handles)
        })?;
        if let Ok(report) = &called.value {
            let size = report_size(report);
            if size > rt.limits.max_result {
                return Err(CallFailure {
                    message: format!(
                        "plugin {} returned a result of about {} MiB, over the {} MiB cap",
                        self.info.name,
                        size >> 20,
                        rt.limits.max_result >> 20
                    ),
                    output: called.output,
                });
            }
        }
        Ok(called)
    }

    /// `plan-conversion` of a format plugin over the given files (the first is the one the user
    /// named). The host must bounds-check the plan before moving any byte.
    pub fn plan_conversion(
        &self,
        rt: &Runtime,
        blobs: Vec<BlobFile>,
        options: &wc::ConversionOptions,
    ) -> Result<Called<Result<wc::CopyPlan, ft::Error>>, CallFailure> {
        let Pre::Format(pre) = &self.pre else {
            return Err(CallFailure {
                message: format!("plugin {} is not a format plugin", self.info.name),
                output: String::new(),
            });
        };
        let called = rt.call(&self.info.name, |store| {
            let inst = pre.instantiate(&mut *store)?;
            let mut handles = Vec::with_capacity(blobs.len());
            for b in blobs {
                handles.push(store.data_mut().table.push(b)?);
            }
            inst.modelpack_plugin_weight_conversion()
                .call_plan_conversion(&mut *store, &handles, options)
        })?;
        Ok(called)
    }

    /// `detect` of a converter plugin: confidence in `[0, 1]`.
    pub fn detect_artifact(
        &self,
        rt: &Runtime,
        media_type: &str,
        artifact_type: &str,
        config_media_type: &str,
        layer_media_types: &[String],
    ) -> Result<f32, CallFailure> {
        let Pre::Converter(pre) = &self.pre else {
            return Ok(0.0);
        };
        let called = rt.call(&self.info.name, |store| {
            let inst = pre.instantiate(&mut *store)?;
            inst.modelpack_plugin_artifact_converter().call_detect(
                &mut *store,
                media_type,
                artifact_type,
                config_media_type,
                layer_media_types,
            )
        })?;
        Ok(if called.value.is_finite() {
            called.value.clamp(0.0, 1.0)
        } else {
            0.0
        })
    }

    /// `plan` of a converter plugin.
    pub fn plan_artifact(
        &self,
        rt: &Runtime,
        artifact: &ac::ForeignArtifact,
    ) -> Result<Called<Result<ac::ArtifactPlan, String>>, CallFailure> {
        let Pre::Converter(pre) = &self.pre else {
            return Err(CallFailure {
                message: format!("plugin {} is not a converter plugin", self.info.name),
                output: String::new(),
            });
        };
        rt.call(&self.info.name, |store| {
            let inst = pre.instantiate(&mut *store)?;
            inst.modelpack_plugin_artifact_converter()
                .call_plan(&mut *store, artifact)
        })
    }

    /// `evaluate` for a policy plugin.
    pub fn evaluate(
        &self,
        rt: &Runtime,
        input: &ph::PolicyInput,
    ) -> Result<Called<Result<Vec<ph::Finding>, String>>, CallFailure> {
        let Pre::Policy(pre) = &self.pre else {
            return Err(CallFailure {
                message: format!(
                    "plugin {} is a format handler, not a policy",
                    self.info.name
                ),
                output: String::new(),
            });
        };
        let called = rt.call(&self.info.name, |store| {
            let inst = pre.instantiate(&mut *store)?;
            inst.modelpack_plugin_policy()
                .call_evaluate(&mut *store, input)
        })?;
        if let Ok(findings) = &called.value {
            let size: usize = findings
                .iter()
                .map(|f| f.message.len() + f.id.len() + 64)
                .sum();
            if size > rt.limits.max_result {
                return Err(CallFailure {
                    message: format!(
                        "plugin {} returned a result over the {} MiB cap",
                        self.info.name,
                        rt.limits.max_result >> 20
                    ),
                    output: called.output,
                });
            }
        }
        Ok(called)
    }
}
