//! A pickle reader that never executes anything: opcodes are walked like CPython's
//! `pickletools`, values are symbolic, globals stay names, and calls become inert stand-ins.
//!
//! [`vm::run`] reads one pickle to its STOP and returns a [`vm::Scan`]: the result value, the
//! globals named and the calls the real unpickler would make. [`walk::collect`] then lists the
//! tensors reachable from the result.

mod calls;
pub mod opcodes;
pub mod text;
pub mod value;
pub mod vm;
pub mod walk;

pub use calls::TENSOR_REBUILDERS;
pub use value::{Arena, Node, NodeId, StorageRef, TensorRef, Value};
pub use vm::{CallUse, Failure, GlobalUse, Limits, PickleError, Scan, run};
pub use walk::{FoundTensor, Walk, WalkLimits, collect};
