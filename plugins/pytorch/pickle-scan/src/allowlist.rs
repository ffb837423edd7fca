//! The globals a checkpoint pickle may name without being reported.
//!
//! Modelled on torch's `weights_only=True` unpickler: only names whose import and call build
//! plain data (tensors, storages, dtypes, containers, numpy arrays) and run no code chosen by
//! the file. Everything else — `os.system`, `builtins.exec`, `subprocess.Popen`,
//! `functools.partial`, `pickle.loads`, `torch.load`, any model class — is reported as an
//! `unsafe-pickle-global`, and any call on it as an `unsafe-pickle-call`. The list is
//! deliberately an allowlist: a denylist of dangerous names can never be complete.

use crate::dtype;

/// Exact `module.name` entries, each with the reason it is safe.
pub const ALLOWED: &[(&str, &str)] = &[
    // Containers.
    (
        "collections.OrderedDict",
        "dict subclass; state dicts are OrderedDicts",
    ),
    ("builtins.dict", "plain dict"),
    ("builtins.list", "plain list"),
    ("builtins.tuple", "plain tuple"),
    (
        "builtins.set",
        "set of already-built values (protocol 2 pickles sets this way)",
    ),
    ("builtins.frozenset", "frozenset of already-built values"),
    ("builtins.slice", "inert slice object"),
    (
        "builtins.range",
        "inert range object (numpy object arrays pickle it as a value)",
    ),
    ("builtins.complex", "number constructor"),
    (
        "builtins.bytearray",
        "byte buffer from pickled bytes (protocol < 5)",
    ),
    ("__builtin__.set", "Python 2 spelling of builtins.set"),
    (
        "__builtin__.frozenset",
        "Python 2 spelling of builtins.frozenset",
    ),
    ("__builtin__.slice", "Python 2 spelling of builtins.slice"),
    ("__builtin__.xrange", "Python 2 spelling of builtins.range"),
    (
        "__builtin__.complex",
        "Python 2 spelling of builtins.complex",
    ),
    (
        "__builtin__.bytearray",
        "Python 2 spelling of builtins.bytearray",
    ),
    (
        "_codecs.encode",
        "turns a str into bytes (how protocol 2 pickles bytes); no code",
    ),
    // Tensor rebuild helpers: they wrap a storage in a tensor view.
    (
        "torch._utils._rebuild_tensor",
        "builds a tensor view of a storage",
    ),
    (
        "torch._utils._rebuild_tensor_v2",
        "builds a tensor view of a storage",
    ),
    (
        "torch._utils._rebuild_tensor_v3",
        "builds a tensor view of a storage (with dtype)",
    ),
    (
        "torch._utils._rebuild_parameter",
        "wraps a tensor in nn.Parameter",
    ),
    (
        "torch._utils._rebuild_parameter_with_state",
        "wraps a tensor in nn.Parameter and sets plain attributes",
    ),
    (
        "torch._utils._rebuild_parameter_v2",
        "wraps a tensor in nn.Parameter",
    ),
    (
        "torch._utils._rebuild_qtensor",
        "builds a quantized tensor from a storage",
    ),
    (
        "torch._utils._rebuild_sparse_tensor",
        "builds a sparse tensor from index/value tensors",
    ),
    (
        "torch._utils._rebuild_meta_tensor_no_storage",
        "builds a data-less meta tensor",
    ),
    (
        "torch._utils._rebuild_wrapper_subclass",
        "allocates an empty tensor of a given layout",
    ),
    (
        "torch._utils._rebuild_device_tensor_from_numpy",
        "copies a numpy array to a device",
    ),
    (
        "torch._utils._rebuild_nested_tensor",
        "builds a nested tensor from buffers",
    ),
    (
        "torch._tensor._rebuild_from_type_v2",
        "calls its (separately checked) rebuild function, then casts",
    ),
    (
        "torch.serialization._get_layout",
        "looks up a tensor layout by name in a fixed table",
    ),
    (
        "torch.nn.parameter.Parameter",
        "wraps a tensor; no code from the file",
    ),
    (
        "torch.Tensor",
        "the tensor class, as the target type of _rebuild_from_type_v2",
    ),
    (
        "torch._tensor.Tensor",
        "the tensor class, as the target type of _rebuild_from_type_v2",
    ),
    // Plain torch value types.
    ("torch.Size", "tuple of ints"),
    ("torch.device", "device name"),
    ("torch.strided", "layout constant"),
    ("torch.sparse_coo", "layout constant"),
    ("torch.sparse_csr", "layout constant"),
    ("torch.contiguous_format", "memory-format constant"),
    ("torch.channels_last", "memory-format constant"),
    ("torch.preserve_format", "memory-format constant"),
    ("torch.per_tensor_affine", "quantization-scheme constant"),
    ("torch.per_channel_affine", "quantization-scheme constant"),
    // TorchScript archives: list builders used inside data.pkl.
    (
        "torch.jit._pickle.build_intlist",
        "returns its list argument",
    ),
    (
        "torch.jit._pickle.build_tensorlist",
        "returns its list argument",
    ),
    (
        "torch.jit._pickle.build_doublelist",
        "returns its list argument",
    ),
    (
        "torch.jit._pickle.build_boollist",
        "returns its list argument",
    ),
    (
        "torch.jit._pickle.build_complexlist",
        "returns its list argument",
    ),
    (
        "torch.jit._pickle.restore_type_tag",
        "returns its value argument",
    ),
    // NumPy arrays and scalars (object arrays, training checkpoints with numpy scalars).
    (
        "numpy.core.multiarray._reconstruct",
        "allocates an empty ndarray",
    ),
    (
        "numpy._core.multiarray._reconstruct",
        "allocates an empty ndarray (numpy 2 module path)",
    ),
    (
        "numpy.core.multiarray.scalar",
        "numpy scalar from a dtype and raw bytes",
    ),
    (
        "numpy._core.multiarray.scalar",
        "numpy scalar from a dtype and raw bytes (numpy 2)",
    ),
    (
        "numpy.ndarray",
        "the array class; __setstate__ copies raw data",
    ),
    ("numpy.dtype", "dtype from a type string"),
];

/// Why a global is allowed, or `None` when it must be reported.
pub fn reason(global: &str) -> Option<&'static str> {
    if is_torchscript_class(global) {
        return Some("TorchScript class name (resolved by the TorchScript compiler, not imported)");
    }
    if dtype::storage_dtype(global).is_some() {
        return Some("storage type or dtype: a tag naming the element type");
    }
    if let Some(rest) = global.strip_prefix("numpy.dtypes.")
        && rest.ends_with("DType")
        && !rest.contains('.')
    {
        return Some("numpy dtype class");
    }
    ALLOWED
        .iter()
        .find(|(n, _)| *n == global)
        .map(|&(_, why)| why)
}

/// True when a pickle may name `global` (`module.name`) without a finding.
pub fn is_allowed(global: &str) -> bool {
    reason(global).is_some()
}

/// True for TorchScript class names (`__torch__.<module path>.<Class>`).
pub fn is_torchscript_class(global: &str) -> bool {
    global.starts_with("__torch__.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn torch_names_are_allowed() {
        for g in [
            "collections.OrderedDict",
            "torch._utils._rebuild_tensor_v2",
            "torch.FloatStorage",
            "torch.bfloat16",
            "__torch__.vad.model.VADRNNJIT",
            "torch.jit._pickle.build_intlist",
            "numpy.dtypes.Float64DType",
        ] {
            assert!(is_allowed(g), "{g}");
        }
    }

    #[test]
    fn dangerous_names_are_not() {
        for g in [
            "os.system",
            "posix.system",
            "nt.system",
            "builtins.exec",
            "builtins.eval",
            "builtins.getattr",
            "builtins.__import__",
            "__builtin__.eval",
            "subprocess.Popen",
            "runpy._run_code",
            "webbrowser.open",
            "socket.socket",
            "shutil.rmtree",
            "torch.load",
            "numpy.load",
            "pickle.loads",
            "functools.partial",
            "copyreg.extension[1]",
            "torch.storage._load_from_bytes",
        ] {
            assert!(!is_allowed(g), "{g}");
        }
    }
}
