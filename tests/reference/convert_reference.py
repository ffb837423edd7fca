#!/usr/bin/env python3
"""Reference for `modelpack convert`, without torch: never imports torch or a pickled class.

    convert_reference.py write DIR MARKER   write torch.save-format checkpoints (numpy only)
    convert_reference.py compare INPUT OUT  compare OUT/*.safetensors with INPUT, bit for bit
    convert_reference.py convert INPUT OUT  the Python path without torch: read INPUT as `compare`
                                            does, write OUT with safetensors.numpy.save_file
                                            (benches/convert.sh times it)

`compare` reads INPUT with a pickle.Unpickler whose find_class builds NumPy arrays from the
checkpoint's storages (zip records or legacy records) and hands every other class back as an
inert placeholder; it loads the output with the `safetensors` library and prints JSON:
{"compared", "reference", "unmatched": [...], "mismatched": [...]}.
"""
import collections
import hashlib
import io
import json
import os
import pickle
import struct
import sys
import types
import zipfile

import numpy as np

STORAGES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
    "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
    "BFloat16Storage": np.uint16,
}
DTYPES = {
    "float32": np.float32, "float64": np.float64, "float16": np.float16, "int64": np.int64,
    "int32": np.int32, "int16": np.int16, "int8": np.int8, "uint8": np.uint8, "bool": np.bool_,
    "bfloat16": np.uint16,
}


class Placeholder:
    """Any class the pickle names: records its arguments and state, runs nothing."""

    def __init__(self, *args, **kwargs):
        self.args = args

    def __setstate__(self, state):
        self.state = state


def placeholder(module, name):
    return type(f"{module}.{name}", (Placeholder,), {})


class Storage:
    """A storage whose bytes are `records[key][start:]` once the records are read."""

    def __init__(self, dtype, records, key, start=0):
        self.dtype, self.records, self.key, self.start = dtype, records, key, start


class Lazy:
    """A tensor, built once its storage's bytes are known (legacy records follow the pickle)."""

    def __init__(self, storage, offset, size, stride):
        self.args = (storage, offset, size, stride)

    def array(self):
        return build(*self.args)


def rebuild(storage, offset, size, stride, *rest):
    return Lazy(storage, offset, size, stride)


def build(storage, offset, size, stride):
    dt = np.dtype(storage.dtype)
    base = np.frombuffer(bytes(storage.records[storage.key])[storage.start:], dtype=dt)
    if len(size) == 0:
        return base[offset:offset + 1].reshape(()).copy()
    if any(s == 0 for s in size):
        return np.zeros(size, dtype=dt)
    view = np.lib.stride_tricks.as_strided(
        base[offset:], shape=tuple(size), strides=tuple(s * dt.itemsize for s in stride)
    )
    return np.ascontiguousarray(view)


class Reader(pickle.Unpickler):
    def __init__(self, f, load_storage):
        super().__init__(f)
        self.load_storage = load_storage
        self.cache = {}

    def find_class(self, module, name):
        if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
            return rebuild
        if module == "torch._utils" and name == "_rebuild_parameter":
            return lambda data, *a: data
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module == "torch" and name in STORAGES:
            return STORAGES[name]
        if module == "torch" and name in DTYPES:
            return DTYPES[name]
        return placeholder(module, name)

    def persistent_load(self, pid):
        typ, dtype, key, _location, numel = pid[:5]
        view = pid[5] if len(pid) > 5 else None
        records = self.load_storage(key, dtype, numel)
        if view is not None:
            _vkey, off, _vsize = view
            return Storage(dtype, records, key, off * np.dtype(dtype).itemsize)
        return Storage(dtype, records, key)


def walk(obj, prefix, out, seen):
    if isinstance(obj, Lazy):
        out.setdefault(prefix, obj.array())
        return
    if id(obj) in seen:
        return
    if isinstance(obj, dict):
        seen.add(id(obj))
        for k, v in obj.items():
            walk(v, f"{prefix}.{k}" if prefix else str(k), out, seen)
    elif isinstance(obj, (list, tuple)):
        seen.add(id(obj))
        for i, v in enumerate(obj):
            walk(v, f"{prefix}.{i}" if prefix else str(i), out, seen)
    elif isinstance(obj, Placeholder):
        seen.add(id(obj))
        if hasattr(obj, "state"):
            walk(obj.state, prefix, out, seen)


def read_torch(path):
    if zipfile.is_zipfile(path):
        z = zipfile.ZipFile(path)
        root = z.namelist()[0].split("/")[0]
        records = {}
        def load(key, dtype, numel):
            records.setdefault(key, z.read(f"{root}/data/{key}"))
            return records
        obj = Reader(io.BytesIO(z.read(f"{root}/data.pkl")), load).load()
        big = root + "/byteorder" in z.namelist() and z.read(root + "/byteorder").strip() == b"big"
        return obj, big
    f = open(path, "rb")
    u = lambda: pickle.Unpickler(f)
    records = {}
    u().load()  # magic
    u().load()  # protocol
    sys_info = u().load()
    big = not sys_info.get("little_endian", True)
    pending = {}
    def load(key, dtype, numel):
        pending[key] = dtype
        return records
    obj = Reader(f, load).load()
    keys = pickle.Unpickler(f).load()
    for key in keys:
        (count,) = struct.unpack(">q" if big else "<q", f.read(8))
        item = np.dtype(pending.get(key, np.uint8)).itemsize
        records[key] = f.read(count * item)
    return obj, big


def reference(path):
    if path.endswith(".npy"):
        try:
            arr = np.load(path, allow_pickle=False)
        except ValueError:
            return {}  # an object array is never loaded
        return {os.path.basename(path)[:-4]: arr}
    if path.endswith(".npz"):
        out = {}
        with np.load(path, allow_pickle=False) as z:
            for k in z.files:
                try:
                    out[k] = z[k]
                except ValueError:
                    pass  # object arrays are never loaded
        return out
    obj, big = read_torch(path)
    out = {}
    walk(obj, "", out, set())
    if big:
        out = {k: v.byteswap() for k, v in out.items()}
    return out


def digest(a):
    a = np.ascontiguousarray(a)
    if a.dtype.byteorder == ">":
        a = a.astype(a.dtype.newbyteorder("<"))
    return hashlib.sha256(a.tobytes()).hexdigest(), list(a.shape)


def compare(inp, outdir):
    from safetensors import safe_open
    ref = {k: digest(v) for k, v in reference(inp).items()}
    result = {"compared": 0, "reference": len(ref), "unmatched": [], "mismatched": []}
    for fn in sorted(os.listdir(outdir)):
        if not fn.endswith(".safetensors"):
            continue
        with safe_open(os.path.join(outdir, fn), framework="numpy") as f:
            meta = f.metadata()
            assert meta.get("format") == "pt", meta
            for name in f.keys():
                got = digest(f.get_tensor(name))
                keys = [k for k in ref if k == name] or [k for k in ref if k.endswith("." + name)]
                if not keys:
                    result["unmatched"].append(name)
                    continue
                result["compared"] += 1
                if not any(ref[k] == got for k in keys):
                    result["mismatched"].append(name)
    print(json.dumps(result))


# ---- writer: torch.save's zip format from numpy, via stand-in modules -------------------------

def fake_torch():
    if isinstance(sys.modules.get("mylib"), types.ModuleType) and hasattr(sys.modules["mylib"], "Config"):
        return sys.modules["torch"], sys.modules["torch._utils"], sys.modules["mylib"]
    torch = types.ModuleType("torch")
    utils = types.ModuleType("torch._utils")
    def _rebuild_tensor_v2(*a):
        raise RuntimeError("never called")
    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    torch._utils = utils
    for n in STORAGES:
        setattr(torch, n, type(n, (), {"__module__": "torch"}))
    mylib = types.ModuleType("mylib")
    class Config:
        def __init__(self, **kw):
            self.__dict__.update(kw)
    Config.__module__ = "mylib"
    Config.__qualname__ = "Config"
    mylib.Config = Config
    sys.modules.update({"torch": torch, "torch._utils": utils, "mylib": mylib})
    return torch, utils, mylib


NP_TO_STORAGE = {np.dtype(v).str: k for k, v in STORAGES.items() if k != "BFloat16Storage"}


class T:
    """A tensor to save: a view (offset, shape, strides in elements) of a shared storage."""

    def __init__(self, store, offset, shape, stride):
        self.store, self.offset, self.shape, self.stride = store, offset, shape, stride


class Store:
    count = 0

    def __init__(self, arr):
        self.arr = np.ascontiguousarray(arr).ravel()
        self.key = str(Store.count)
        Store.count += 1


def tensor(arr):
    arr = np.asarray(arr)
    st = Store(arr)
    strides = [s // arr.itemsize for s in np.ascontiguousarray(arr).strides]
    return T(st, 0, list(arr.shape), strides)


def save(obj, path, big=False):
    torch, utils, _ = fake_torch()
    stores = {}

    class P(pickle.Pickler):
        def persistent_id(self, o):
            if isinstance(o, Store):
                stores[o.key] = o
                typ = getattr(torch, NP_TO_STORAGE[o.arr.dtype.newbyteorder("<").str
                                                    if o.arr.dtype.byteorder == ">" else o.arr.dtype.str])
                return ("storage", typ, o.key, "cpu", o.arr.size)
            return None

        def reducer_override(self, o):
            if isinstance(o, T):
                return (utils._rebuild_tensor_v2,
                        (o.store, o.offset, tuple(o.shape), tuple(o.stride), False,
                         collections.OrderedDict()))
            return NotImplemented

    buf = io.BytesIO()
    P(buf, protocol=2).dump(obj)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", buf.getvalue())
        z.writestr("archive/byteorder", "big" if big else "little")
        for key, st in stores.items():
            data = st.arr.astype(st.arr.dtype.newbyteorder(">")) if big else st.arr
            z.writestr(f"archive/data/{key}", data.tobytes())
        z.writestr("archive/version", "3\n")


class Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def write(d, marker):
    _, _, mylib = fake_torch()
    rng = np.random.default_rng(7)
    r = lambda *s, dt=np.float32: (rng.standard_normal(s) * 10).astype(dt)
    os.makedirs(d, exist_ok=True)
    # A plain state dict with every common dtype.
    save(collections.OrderedDict([
        ("embed.weight", tensor(r(16, 8))), ("norm.weight", tensor(r(8, dt=np.float16))),
        ("head.bias", tensor(r(4, dt=np.float64))), ("steps", tensor(np.array(3, np.int64))),
        ("mask", tensor(rng.random(5) > 0.5)), ("ids", tensor(np.arange(6, dtype=np.int32))),
        ("empty", tensor(np.zeros((0, 3), np.float32))),
    ]), os.path.join(d, "state_dict.pt"))
    # Views: a transposed weight, a slice at an offset, tied weights (one object twice).
    base = Store(r(6, 4))
    tied = tensor(r(10, 4))
    save({
        "t.weight": T(base, 0, [4, 6], [1, 4]),
        "slice.weight": T(base, 8, [2, 4], [4, 1]),
        "emb.weight": tied, "lm_head.weight": tied,
        "bcast": T(Store(r(3)), 0, [4, 3], [0, 1]),
    }, os.path.join(d, "views.pth"))
    # A Lightning checkpoint with optimizer state, a custom config class and a payload.
    sd = collections.OrderedDict(
        [("model.enc.weight", tensor(r(8, 8))), ("model.enc.bias", tensor(r(8))),
         ("model.bn.running_mean", tensor(r(8)))])
    save({
        "epoch": 3, "global_step": 120, "pytorch-lightning_version": "2.1.0",
        "state_dict": sd,
        "optimizer_states": [{"state": {0: {"exp_avg": tensor(r(8, 8)), "step": tensor(np.array(5.0, np.float32))}},
                              "param_groups": [{"lr": 0.1}]}],
        "hyper_parameters": {"cfg": mylib.Config(width=8), "hook": Evil(marker)},
    }, os.path.join(d, "lightning.ckpt"))
    # A training checkpoint saved big-endian.
    save({"model": {"w": tensor(r(3, 5)), "n": tensor(np.arange(4, dtype=np.int16))},
          "optimizer": {"lr": tensor(np.array([0.1], np.float32))}},
         os.path.join(d, "bigendian.bin"), big=True)
    np.save(os.path.join(d, "fortran.npy"), np.asfortranarray(r(5, 7)))
    np.save(os.path.join(d, "bigend.npy"), r(4, 3).astype(">f4"))
    np.savez(os.path.join(d, "arrays.npz"), a=r(3, 3), b=np.arange(5, dtype=np.uint16))


if __name__ == "__main__":
    if sys.argv[1] == "write":
        write(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "compare":
        compare(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "convert":
        from safetensors.numpy import save_file
        tensors = {k: np.ascontiguousarray(v) for k, v in reference(sys.argv[2]).items()}
        save_file(tensors, sys.argv[3], metadata={"format": "pt"})
    else:
        sys.exit(__doc__)
