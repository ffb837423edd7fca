#!/usr/bin/env bash
# `generate` speed, this build against a baseline build, side by side (issue 11: moving format
# and convention knowledge into plugins must not make `generate` slower). Interleaved rounds,
# medians, wall seconds; both binaries get their own warm compiled-plugin cache.
#
# Usage: BASE=/path/to/old/modelpack benches/generate.sh DIR...
#   (MODELPACK_BIN overrides target/release/modelpack; RUNS defaults to 5)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
NEW=$(realpath "${MODELPACK_BIN:-target/release/modelpack}")
OLD=$(realpath "${BASE:?set BASE to the baseline modelpack binary}")
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
t() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1 || true; e=$(date +%s.%N); echo "$e - $s" | bc; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg); runs: $RUNS"
echo "| directory | baseline (s) | this build (s) | ratio |"
echo "|---|---|---|---|"
for dir in "$@"; do
  # Warm-up: fills each binary's compiled-plugin cache and the page cache.
  MODELPACK_CACHE_DIR=$WORK/old t "$OLD" generate "$dir" >/dev/null
  MODELPACK_CACHE_DIR=$WORK/new t "$NEW" generate "$dir" >/dev/null
  : > "$WORK/o"; : > "$WORK/n"
  for _ in $(seq "$RUNS"); do
    MODELPACK_CACHE_DIR=$WORK/old t "$OLD" generate "$dir" >> "$WORK/o"
    MODELPACK_CACHE_DIR=$WORK/new t "$NEW" generate "$dir" >> "$WORK/n"
  done
  o=$(median < "$WORK/o"); n=$(median < "$WORK/n")
  printf '| %s | %.3f | %.3f | %.2fx |\n' "$(basename "$dir")" "$o" "$n" "$(echo "$n / $o" | bc -l)"
done
