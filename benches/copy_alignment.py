#!/usr/bin/env python3
"""What `copy_file_range` costs the kernel by the offsets it copies between (issue 12).

`cp` copies byte 0 of the source to byte 0 of the copy; `modelpack convert` copies each tensor
from where the checkpoint stored it (zip entries, 64-byte aligned) to where safetensors puts it
(after the header, tensors back to back), so source and destination pages are shifted against
each other by an arbitrary amount. This script copies (almost) all of FILE once per case, in
one process, interleaved over RUNS rounds, each after a `sync`, and prints the median system
CPU and wall time per case; the first case is what `cp` does.

Usage: benches/copy_alignment.py FILE [RUNS]   (writes FILE.copy-test beside FILE, then removes it)
"""

import os
import statistics
import sys
import time


def main() -> None:
    path = sys.argv[1]
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 7
    out = path + ".copy-test"
    src = os.open(path, os.O_RDONLY)
    n = os.fstat(src).st_size - (4 << 20)

    def copy(src_off: int, dst_off: int, pieces: int = 1) -> None:
        dst = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        if dst_off:
            os.pwrite(dst, b"\0" * dst_off, 0)
        step = -(-n // pieces)
        off, at, left = src_off, dst_off, n
        while left:
            w = os.copy_file_range(src, dst, min(left, step), off, at)
            off, at, left = off + w, at + w, left - w
        os.close(dst)

    cases = [
        ("source 0 → copy 0 (as cp)", lambda: copy(0, 0)),
        ("source 0 → copy 0, in 77 calls", lambda: copy(0, 0, 77)),
        ("source 2 MiB → copy 0", lambda: copy(2 << 20, 0)),
        ("source 4096 → copy 0", lambda: copy(4096, 0)),
        ("source 64 → copy 0", lambda: copy(64, 0)),
        ("source 9245 → copy 8576 (the benchmark's first tensor)", lambda: copy(9245, 8576)),
    ]
    sys_t: dict[str, list[float]] = {}
    wall: dict[str, list[float]] = {}
    load = os.getloadavg()
    for _ in range(runs):
        for name, f in cases:
            if os.path.exists(out):
                os.unlink(out)
            os.sync()
            c0, t0 = os.times(), time.perf_counter()
            f()
            t1, c1 = time.perf_counter(), os.times()
            sys_t.setdefault(name, []).append(c1.system - c0.system)
            wall.setdefault(name, []).append(t1 - t0)
    os.unlink(out)
    base = statistics.median(sys_t[cases[0][0]])
    print(f"{n} bytes per copy; {os.cpu_count()} cores; medians of {runs} interleaved rounds; "
          f"load average {load[0]:.2f} before, {os.getloadavg()[0]:.2f} after")
    print()
    print("| copy | system CPU (s) | ratio | wall (s) |")
    print("|---|---|---|---|")
    for name, _ in cases:
        s = statistics.median(sys_t[name])
        print(f"| {name} | {s:.2f} | {s / base:.2f} | {statistics.median(wall[name]):.2f} |")


if __name__ == "__main__":
    main()
