//! Calling convention plugins (`wit/convention.wit`): the host side of the `directory`
//! resource and the `run` call, under the same sandbox as format plugins (a fresh instance
//! per call, the epoch deadline, the memory cap, capped reads, a cap on files opened and on
//! the size of the answer).

use anyhow::Result;
use wasmtime::component::{HasSelf, Linker, Resource};

use super::blob::{BlobFile, ModelDir};
use super::runtime::{CallFailure, Called, Loaded, Pre, Runtime, State};

/// Generated host bindings of the `convention-plugin` world; `source` and `types` are the
/// format world's, so one `blob` implementation serves both.
#[allow(missing_docs)]
pub mod bindings {
    wasmtime::component::bindgen!({
        world: "convention-plugin",
        path: "../wit",
        with: {
            "modelpack:plugin/source": crate::plugin::runtime::bindings::format::modelpack::plugin::source,
            "modelpack:plugin/types": crate::plugin::runtime::bindings::format::modelpack::plugin::types,
            "modelpack:plugin/model-directory.directory": crate::plugin::blob::ModelDir,
        },
        imports: { default: trappable },
    });
}

use crate::plugin::runtime::bindings::format::modelpack::plugin::source::IoError;
pub use bindings::exports::modelpack::plugin::convention as ch;
use bindings::modelpack::plugin::model_directory as md;

/// Adds the `model-directory` interface (the only import the convention world adds to the
/// format world's) to the sandbox linker.
pub(super) fn add_to_linker(linker: &mut Linker<State>) -> Result<()> {
    md::add_to_linker::<State, HasSelf<State>>(linker, |s| s)?;
    Ok(())
}

impl md::Host for State {}

impl md::HostDirectory for State {
    fn open(
        &mut self,
        dir: Resource<ModelDir>,
        path: String,
    ) -> wasmtime::Result<Result<Resource<BlobFile>, IoError>> {
        self.open_counted(|s| Ok(s.table.get(&dir)?.open(&path)))
    }
    fn drop(&mut self, dir: Resource<ModelDir>) -> wasmtime::Result<()> {
        self.table.delete(dir)?;
        Ok(())
    }
}

/// Approximate size of an answer as held in host memory.
fn report_size(r: &ch::ConventionReport) -> usize {
    let origin = |o: &super::runtime::ft::Origin| {
        o.file.as_ref().map_or(0, String::len) + o.key.as_ref().map_or(0, String::len)
    };
    let candidates: usize = r
        .candidates
        .iter()
        .map(|c| {
            c.field.len()
                + c.value.len()
                + origin(&c.origin)
                + c.note.as_ref().map_or(0, String::len)
                + 32
        })
        .sum();
    let hints: usize = r
        .hints
        .iter()
        .map(|h| h.path.len() + h.reason.len() + 16)
        .sum();
    let missing: usize = r
        .missing
        .iter()
        .map(|m| m.path.len() + m.reason.len() + 16)
        .sum();
    let findings: usize = r
        .findings
        .iter()
        .map(|f| f.id.len() + f.message.len() + 64)
        .sum();
    candidates
        + hints
        + missing
        + findings
        + r.ignored.iter().map(String::len).sum::<usize>()
        + r.model_root.as_ref().map_or(0, String::len)
        + r.lineage
            .iter()
            .map(|l| {
                l.name.len()
                    + [
                        &l.organization,
                        &l.version,
                        &l.url,
                        &l.origin.file,
                        &l.origin.key,
                    ]
                    .iter()
                    .map(|o| o.as_ref().map_or(0, String::len))
                    .sum::<usize>()
                    + 32
            })
            .sum::<usize>()
}

impl Loaded {
    /// `run` of a convention plugin over the model directory `dir`.
    pub fn run_convention(
        &self,
        rt: &Runtime,
        dir: ModelDir,
        input: &ch::ConventionInput,
    ) -> Result<Called<Result<ch::ConventionReport, String>>, CallFailure> {
        let Pre::Convention(pre) = &self.pre else {
            return Err(CallFailure {
                message: format!("plugin {} is not a convention plugin", self.info.name),
                output: String::new(),
            });
        };
        let called = rt.call(&self.info.name, |store| {
            let inst = pre.instantiate(&mut *store)?;
            // The store (and with it the table entry) is dropped after the call.
            let handle = store.data_mut().table.push(dir)?;
            inst.modelpack_plugin_convention().call_run(
                &mut *store,
                Resource::new_borrow(handle.rep()),
                input,
            )
        })?;
        if let Ok(report) = &called.value {
            let size = report_size(report);
            if size > rt.limits().max_result {
                return Err(CallFailure {
                    message: format!(
                        "plugin {} returned a result of about {} MiB, over the {} MiB cap",
                        self.info.name,
                        size >> 20,
                        rt.limits().max_result >> 20
                    ),
                    output: called.output,
                });
            }
        }
        Ok(called)
    }
}
