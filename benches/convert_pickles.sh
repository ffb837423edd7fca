#!/usr/bin/env bash
# `modelpack convert` of a ~1 GiB `pytorch_model.bin` (benches/make_big_pickle.py: torch.save's
# zip format, F16/F32 llama-style state dict, written without torch) against `cp` of the same
# file, and against the Python path without torch (tests/reference/convert_reference.py
# convert: a pickle.Unpickler building NumPy arrays, then safetensors.numpy.save_file).
# Wall time, CPU time and peak RSS (GNU time -v); the commands run interleaved, RUNS rounds, so
# background load hits all of them alike; medians; page cache warm. Every timed command starts
# after a `sync` outside its timing, so no command pays for the dirty pages of the one before.
# `modelpack convert` leaves its output in the page cache as `cp` does (atomic: renamed into
# place at the end); `convert --sync` fsyncs it first and compares with `cp` followed by `sync`
# of the copy. Prints the load average and a Markdown table for BENCHMARKS.md.
#
# Usage: benches/convert_pickles.sh [WORKDIR]   (WORKDIR is kept if given, else a temp dir is removed)
# Needs: python3 with numpy and safetensors, /usr/bin/time, a release build
# (`MODELPACK_SKIP_PLUGIN_BUILD=1 cargo build --release` when the plugins are already built).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
BIN=${MODELPACK_BIN:-target/release/modelpack}
[[ -x $BIN ]] || { echo "error: $BIN missing: cargo build --release first" >&2; exit 2; }
BIN=$(realpath "$BIN")
REF=$(realpath tests/reference/convert_reference.py)

if [[ $# -ge 1 ]]; then
  WORK=$(realpath -m "$1")
  mkdir -p "$WORK"
else
  WORK=$(mktemp -d)
  trap 'rm -rf "$WORK"' EXIT
fi
IN=$WORK/pytorch_model.bin
[[ -f $IN ]] || python3 benches/make_big_pickle.py "$IN" --gib "${GIB:-1}" >/dev/null
BYTES=$(stat -c %s "$IN")
# The plugins' compiled code is cached as in everyday use (the warm-up run below fills it), so
# the rows compare copying, not Cranelift compiling the pytorch plugin.
export MODELPACK_CACHE_DIR=$WORK/cache

NAMES=(
  "\`cp\` of the .bin"
  "\`cp\` + \`sync\` of the copy"
  "\`modelpack convert\` (plan in the sandbox, host copies)"
  "\`modelpack convert --sync\` (the same, fsynced before the rename)"
  "Python reference (pickle.Unpickler → NumPy → safetensors.numpy.save_file)"
)
run_cmd() {
  case $1 in
    0) cp "$IN" "$WORK/copy.bin" ;;
    1) cp "$IN" "$WORK/copy.bin" && sync "$WORK/copy.bin" ;;
    2) "$BIN" convert "$IN" -o "$WORK/out" ;;
    3) "$BIN" convert --sync "$IN" -o "$WORK/out" ;;
    4) python3 "$REF" convert "$IN" "$WORK/ref.safetensors" ;;
  esac
}
export -f run_cmd

# Warm the page cache so every command reads from memory; check the output once.
cat "$IN" >/dev/null
rm -rf "$WORK/out"
"$BIN" convert "$IN" -o "$WORK/out" >/dev/null
CHECK=$(python3 "$REF" compare "$IN" "$WORK/out")

declare -A WALL CPU RSS
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
for _ in $(seq "$RUNS"); do
  for i in "${!NAMES[@]}"; do
    rm -rf "$WORK/out" "$WORK/copy.bin" "$WORK/ref.safetensors"
    sync
    /usr/bin/time -v -o "$WORK/time.txt" bash -c "$(declare -p BIN IN WORK REF); run_cmd $i" >/dev/null 2>&1
    WALL[$i]+="$(awk -F': ' '/Elapsed/ {n = split($2, p, ":"); s = 0; for (k = 1; k <= n; k++) s = s * 60 + p[k]; print s}' "$WORK/time.txt") "
    CPU[$i]+="$(awk -F': ' '/User time/ {u = $2} /System time/ {s = $2} END {print u + s}' "$WORK/time.txt") "
    RSS[$i]+="$(awk -F': ' '/Maximum resident/ {print $2}' "$WORK/time.txt") "
  done
done
rm -rf "$WORK/out" "$WORK/copy.bin" "$WORK/ref.safetensors" "$WORK/time.txt" "$WORK/cache"

median() { tr ' ' '\n' <<<"$1" | grep . | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
maxof() { tr ' ' '\n' <<<"$1" | grep . | sort -n | tail -1; }
base=$(median "${WALL[0]}")
echo "Input: pytorch_model.bin, $BYTES bytes; $(nproc) cores; file system $(stat -f -c %T "$WORK"); medians of $RUNS interleaved rounds; load average $LOAD_BEFORE before, $(cut -d' ' -f1-3 /proc/loadavg) after; reference check: $CHECK"
echo
echo "| command | wall (s) | wall ratio to cp | CPU (s) | peak RSS (MiB) |"
echo "|---|---|---|---|---|"
for i in "${!NAMES[@]}"; do
  w=$(median "${WALL[$i]}")
  printf '| %s | %.2f | %.2f | %.2f | %.1f |\n' "${NAMES[$i]}" "$w" \
    "$(awk -v a="$w" -v b="$base" 'BEGIN {print a / b}')" "$(median "${CPU[$i]}")" \
    "$(awk -v k="$(maxof "${RSS[$i]}")" 'BEGIN {print k / 1024}')"
done
echo
printf 'convert / cp: %.2fx; convert --sync / (cp + sync): %.2fx\n' \
  "$(awk -v a="$(median "${WALL[2]}")" -v b="$base" 'BEGIN {print a / b}')" \
  "$(awk -v a="$(median "${WALL[3]}")" -v b="$(median "${WALL[1]}")" 'BEGIN {print a / b}')"
