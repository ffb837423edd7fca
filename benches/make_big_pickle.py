#!/usr/bin/env python3
"""Writes a ~1 GiB `pytorch_model.bin` in torch.save's zip format without torch.

The pickle and the zip come from tests/reference/convert_reference.py (the same writer the
convert tests use): a llama-style state dict of F16 matrices and F32 norms with pseudo-random
payloads, storage records stored (not deflated) as torch.save writes them.

    python3 benches/make_big_pickle.py OUT.bin [--gib 1.0]
"""
import argparse
import collections
import os
import sys

# benches/inspect.py would shadow the standard library's `inspect` that numpy imports.
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path = [p for p in sys.path if os.path.abspath(p or ".") != HERE]
sys.path.insert(0, os.path.join(HERE, "..", "tests", "reference"))

import numpy as np  # noqa: E402
import convert_reference as ref  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--gib", type=float, default=1.0)
    a = ap.parse_args()
    budget = int(a.gib * (1 << 30))
    rng = np.random.default_rng(1)
    hidden, inter = 2048, 5632
    sd = collections.OrderedDict()
    sd["model.embed_tokens.weight"] = (32000, hidden)
    layer, total = 0, 32000 * hidden * 2
    while total < budget:
        p = f"model.layers.{layer}."
        for name, shape in [("self_attn.q_proj.weight", (hidden, hidden)),
                            ("self_attn.k_proj.weight", (hidden, hidden)),
                            ("self_attn.v_proj.weight", (hidden, hidden)),
                            ("self_attn.o_proj.weight", (hidden, hidden)),
                            ("mlp.gate_proj.weight", (inter, hidden)),
                            ("mlp.up_proj.weight", (inter, hidden)),
                            ("mlp.down_proj.weight", (hidden, inter))]:
            if total >= budget:
                break
            sd[p + name] = shape
            total += shape[0] * shape[1] * 2
        sd[p + "input_layernorm.weight"] = (hidden,)
        layer += 1
    tensors = collections.OrderedDict()
    for name, shape in sd.items():
        dt = np.float32 if len(shape) == 1 else np.float16
        n = int(np.prod(shape)) * np.dtype(dt).itemsize
        arr = np.frombuffer(rng.bytes(n), dtype=dt).reshape(shape)
        tensors[name] = ref.tensor(arr)
    ref.save(tensors, a.out)
    print(f"{a.out}: {len(tensors)} tensors, {os.path.getsize(a.out)} bytes")


if __name__ == "__main__":
    main()
