#!/usr/bin/env python3
"""Benchmark `modelpack inspect` (whole process) against the Python reference readers.

Usage: python3 benches/inspect.py [--bin target/release/modelpack] [--work DIR] [--runs N]

Generates its inputs with ../shared/bench/make_big_fixtures.py (never committed), warms the
compiled-plugin cache once, then reports the median wall time of N runs per command and the
ratios that BENCHMARKS.md quotes. Needs: pip install safetensors gguf onnx numpy.
"""
import argparse
import json
import os
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MAKE = os.path.join(ROOT, "..", "shared", "bench", "make_big_fixtures.py")

PY_SAFETENSORS = """
import sys
from safetensors import safe_open
with safe_open(sys.argv[1], "np") as f:
    shapes = {k: f.get_slice(k).get_shape() for k in f.keys()}
print(len(shapes))
"""
PY_GGUF = """
import sys
from gguf import GGUFReader
r = GGUFReader(sys.argv[1])
print(len(r.tensors))
"""
PY_ONNX = """
import sys, onnx
m = onnx.load(sys.argv[1], load_external_data=False)
print(len(m.graph.initializer))
"""


def median_time(cmd, runs, env=None):
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def tiny_safetensors(path, n_params):
    header = {"w": {"dtype": "F32", "shape": [n_params], "data_offsets": [0, 4 * n_params]}}
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + bytes(4 * n_params))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "modelpack"))
    ap.add_argument("--work", default=None)
    ap.add_argument("--runs", type=int, default=11)
    a = ap.parse_args()
    work = a.work or tempfile.mkdtemp(prefix="mp-bench-")
    os.makedirs(work, exist_ok=True)
    env = dict(os.environ, MODELPACK_CACHE_DIR=os.path.join(work, "cache"))
    mp = [a.bin, "inspect", "--format", "json"]

    def gen(name, scale, out):
        if not os.path.exists(out):
            subprocess.run([sys.executable, MAKE, work, "--only", name, "--scale", str(scale)], check=True,
                           stdout=subprocess.DEVNULL)

    st2g = os.path.join(work, "llama-2g-bf16.safetensors")
    gen("safetensors-2g", 1.0, st2g)
    st90 = os.path.join(work, "st90", "llama-2g-bf16.safetensors")
    if not os.path.exists(st90):
        subprocess.run([sys.executable, MAKE, os.path.join(work, "st90"), "--only", "safetensors-2g", "--scale", "0.042"],
                       check=True, stdout=subprocess.DEVNULL)
    gguf = os.path.join(work, "llama-1g-q4_k_m.gguf")
    gen("gguf-1g", 1.0, gguf)
    onnx_dir = os.path.join(work, "onnx10", "mlp-200m-external")
    if not os.path.exists(onnx_dir):
        subprocess.run([sys.executable, MAKE, os.path.join(work, "onnx10"), "--only", "onnx-200m", "--scale", "0.05"],
                       check=True, stdout=subprocess.DEVNULL)
    onnx_file = os.path.join(onnx_dir, "model.onnx")
    small = os.path.join(work, "small-1mb.safetensors")
    tiny_safetensors(small, 256 * 1024)
    many = os.path.join(work, "many")
    if not os.path.exists(many):
        os.makedirs(many)
        for i in range(1000):
            tiny_safetensors(os.path.join(many, f"f{i:04}.safetensors"), 16)

    # Warm the compiled-plugin cache (the first run of a new binary compiles the plugins once).
    for p in (small, gguf, onnx_file):
        subprocess.run(mp + [p], check=False, stdout=subprocess.DEVNULL, env=env)

    rows = {}
    rows["inspect 2 GiB safetensors"] = median_time(mp + [st2g], a.runs, env)
    rows["inspect 1 MiB safetensors"] = median_time(mp + [small], a.runs, env)
    rows["inspect 90 MB safetensors"] = median_time(mp + [st90], a.runs, env)
    rows["python safe_open 90 MB"] = median_time([sys.executable, "-c", PY_SAFETENSORS, st90], a.runs)
    rows["inspect 1 GiB GGUF"] = median_time(mp + [gguf], a.runs, env)
    rows["python GGUFReader 1 GiB"] = median_time([sys.executable, "-c", PY_GGUF, gguf], max(3, a.runs // 3))
    rows["inspect 10 MB ONNX (+ext data)"] = median_time(mp + [onnx_file], a.runs, env)
    rows["python onnx.load 10 MB"] = median_time([sys.executable, "-c", PY_ONNX, onnx_file], a.runs)
    rows["inspect 1000 small files"] = median_time(mp + [many], max(3, a.runs // 3), env)
    cold_env = dict(env, MODELPACK_CACHE_DIR=os.path.join(work, "cold-cache"))

    def cold():
        shutil.rmtree(cold_env["MODELPACK_CACHE_DIR"], ignore_errors=True)
        t = time.perf_counter()
        subprocess.run(mp + [small], check=True, stdout=subprocess.DEVNULL, env=cold_env)
        return time.perf_counter() - t
    rows["inspect 1 file, cold cache (compile)"] = statistics.median(cold() for _ in range(5))
    rows["inspect 1 file, warm cache"] = rows["inspect 1 MiB safetensors"]

    for k, v in rows.items():
        print(f"{k:40} {v * 1000:9.1f} ms")
    r = lambda a_, b_: rows[a_] / rows[b_]
    print()
    print(f"2 GiB vs 1 MiB safetensors:        {r('inspect 2 GiB safetensors', 'inspect 1 MiB safetensors'):.2f}x")
    print(f"python / modelpack, safetensors:   {r('python safe_open 90 MB', 'inspect 90 MB safetensors'):.1f}x")
    print(f"python / modelpack, GGUF:          {r('python GGUFReader 1 GiB', 'inspect 1 GiB GGUF'):.1f}x")
    print(f"python / modelpack, ONNX:          {r('python onnx.load 10 MB', 'inspect 10 MB ONNX (+ext data)'):.1f}x")
    print(f"small files per second:            {1000 / rows['inspect 1000 small files']:.0f}")
    print(f"cold / warm compile cache:         {r('inspect 1 file, cold cache (compile)', 'inspect 1 file, warm cache'):.1f}x")
    if not a.work:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
