#!/usr/bin/env python3
"""Reference for `modelpack convert` on GGUF: llama.cpp's own `gguf` package reads and writes.

    gguf_reference.py write DIR          write GGUF files with gguf.GGUFWriter: F32, F16, BF16
                                         tensors (and a Q8_0 one that cannot convert)
    gguf_reference.py compare INPUT OUT  every F32/F16/BF16 tensor GGUFReader finds in INPUT
                                         against OUT/*.safetensors loaded by `safetensors`

`compare` prints JSON: {"compared", "reference", "skipped", "unmatched", "mismatched"}; a
tensor matches when its name, dtype, row-major shape (GGUF's dimensions reversed) and bytes
are the same.
"""
import glob
import json
import os
import sys

import gguf
import numpy as np
from safetensors import deserialize

CONVERTIBLE = {"F32": "F32", "F16": "F16", "BF16": "BF16"}


def write(out):
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(7)
    w = gguf.GGUFWriter(os.path.join(out, "mixed.gguf"), "llama")
    w.add_name("mixed")
    w.add_tensor("f32.matrix", rng.standard_normal((3, 5)).astype(np.float32))
    w.add_tensor("f16.cube", rng.standard_normal((2, 3, 4)).astype(np.float16))
    w.add_tensor("f32.vector", rng.standard_normal(7).astype(np.float32))
    # bfloat16: the upper half of float32 bits, stored as raw 2-byte elements.
    bf16 = (rng.standard_normal((4, 6)).astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)
    w.add_tensor("bf16.matrix", bf16.view(np.uint8).reshape(4, 12),
                 raw_dtype=gguf.GGMLQuantizationType.BF16)
    q8 = gguf.quants.quantize(rng.standard_normal((2, 32)).astype(np.float32),
                              gguf.GGMLQuantizationType.Q8_0)
    w.add_tensor("q8.matrix", q8, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def compare(inp, out):
    written = {}
    for path in sorted(glob.glob(os.path.join(out, "*.safetensors"))):
        with open(path, "rb") as f:
            for name, t in deserialize(f.read()):
                written[name] = t
    reference = skipped = compared = 0
    unmatched, mismatched = [], []
    for t in gguf.GGUFReader(inp).tensors:
        dtype = CONVERTIBLE.get(t.tensor_type.name)
        if dtype is None:
            skipped += 1
            continue
        reference += 1
        got = written.pop(t.name, None)
        if got is None:
            unmatched.append(t.name)
            continue
        compared += 1
        shape = [int(d) for d in reversed(t.shape)]
        if got["dtype"] != dtype or got["shape"] != shape or bytes(got["data"]) != t.data.tobytes():
            mismatched.append(t.name)
    unmatched.extend(sorted(written))
    print(json.dumps({"compared": compared, "reference": reference, "skipped": skipped,
                      "unmatched": unmatched, "mismatched": mismatched}))


if __name__ == "__main__":
    if sys.argv[1] == "write":
        write(sys.argv[2])
    elif sys.argv[1] == "compare":
        compare(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
