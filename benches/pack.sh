#!/usr/bin/env bash
# `modelpack pack` of the 4-shard model from ../shared/bench/make_big_fixtures.py (~1 GiB)
# against `openssl dgst -sha256` over the same files: wall time, CPU time and peak RSS
# (GNU time -v). The commands run interleaved, RUNS rounds, so background load hits all of
# them alike; medians are reported, page cache warm. Prints a Markdown table for BENCHMARKS.md.
# The default pack (reflink, else copy) and `--link hardlink` run side by side: the price of a
# layout that never aliases the user's files.
#
# Usage: benches/pack.sh [WORKDIR]   (WORKDIR is kept if given, else a temp dir is removed)
# Needs: python3 with numpy and safetensors, openssl, /usr/bin/time, a release build
# (`MODELPACK_SKIP_PLUGIN_BUILD=1 cargo build --release` when the plugins are already built).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-7}
BIN=${MODELPACK_BIN:-target/release/modelpack}
[[ -x $BIN ]] || { echo "error: $BIN missing: cargo build --release first" >&2; exit 2; }

if [[ $# -ge 1 ]]; then
  WORK=$1
  mkdir -p "$WORK"
else
  WORK=$(mktemp -d)
  trap 'rm -rf "$WORK"' EXIT
fi
MODEL=$WORK/fx/sharded-llama
if [[ ! -d $MODEL ]]; then
  python3 ../shared/bench/make_big_fixtures.py "$WORK/fx" --only sharded >/dev/null
fi
mapfile -t FILES < <(find "$MODEL" -type f | sort)
BYTES=$(cat "${FILES[@]}" | wc -c)
export MODELPACK_CACHE_DIR=off

NAMES=(
  "\`openssl dgst -sha256\` (all files, one process)"
  "\`modelpack pack\` (default \`--link auto\`: reflink, else copy; all cores)"
  "\`modelpack pack --link hardlink\` (shares the inodes; all cores)"
  "\`modelpack pack --jobs 1\` (default link)"
  "\`modelpack pack --link hardlink --jobs 1\`"
  "\`modelpack validate LAYOUT\` (hash every blob)"
  "\`modelpack unpack LAYOUT\` (read, verify, write every byte)"
)
run_cmd() {
  case $1 in
    0) openssl dgst -sha256 "${FILES[@]}" ;;
    1) "$BIN" pack "$MODEL" -o "$WORK/layout" ;;
    2) "$BIN" pack "$MODEL" -o "$WORK/layout" --link hardlink ;;
    3) "$BIN" pack "$MODEL" -o "$WORK/layout" --jobs 1 ;;
    4) "$BIN" pack "$MODEL" -o "$WORK/layout" --link hardlink --jobs 1 ;;
    5) "$BIN" validate "$WORK/packed" ;;
    6) "$BIN" unpack "$WORK/packed" -o "$WORK/unpacked" ;;
  esac
}
export -f run_cmd

rm -rf "$WORK/packed"
"$BIN" pack "$MODEL" -o "$WORK/packed" --link copy >/dev/null
# Warm the page cache so every command reads from memory.
cat "${FILES[@]}" "$WORK"/packed/blobs/sha256/* >/dev/null

declare -A WALL CPU RSS
for _ in $(seq "$RUNS"); do
  for i in "${!NAMES[@]}"; do
    rm -rf "$WORK/layout" "$WORK/unpacked"
    /usr/bin/time -v -o "$WORK/time.txt" bash -c "$(declare -p FILES BIN MODEL WORK); run_cmd $i" >/dev/null 2>&1
    # GNU time: "Elapsed (wall clock) time (h:mm:ss or m:ss): 0:01.23".
    WALL[$i]+="$(awk -F': ' '/Elapsed/ {n = split($2, p, ":"); s = 0; for (k = 1; k <= n; k++) s = s * 60 + p[k]; print s}' "$WORK/time.txt") "
    CPU[$i]+="$(awk -F': ' '/User time/ {u = $2} /System time/ {s = $2} END {print u + s}' "$WORK/time.txt") "
    RSS[$i]+="$(awk -F': ' '/Maximum resident/ {print $2}' "$WORK/time.txt") "
  done
done
rm -rf "$WORK/layout" "$WORK/packed" "$WORK/unpacked" "$WORK/time.txt"

median() { tr ' ' '\n' <<<"$1" | grep . | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
maxof() { tr ' ' '\n' <<<"$1" | grep . | sort -n | tail -1; }
base=$(median "${WALL[0]}")
# What the default did here: a reflink needs btrfs/XFS/APFS; elsewhere it copies.
HOW=$("$BIN" pack "$MODEL" -o "$WORK/probe" --verbose 2>&1 >/dev/null | grep -o 'raw blobs: .*' || true)
rm -rf "$WORK/probe"
echo "Model: sharded-llama, ${#FILES[@]} files, $BYTES bytes; $(nproc) cores; file system $(stat -f -c %T "$WORK"); default pack: ${HOW:-?}; medians of $RUNS interleaved rounds."
echo
echo "| command | wall (s) | wall ratio to openssl | CPU (s) | peak RSS (MiB) |"
echo "|---|---|---|---|---|"
for i in "${!NAMES[@]}"; do
  w=$(median "${WALL[$i]}")
  printf '| %s | %.2f | %.2f | %.2f | %.1f |\n' "${NAMES[$i]}" "$w" \
    "$(awk -v a="$w" -v b="$base" 'BEGIN {print a / b}')" "$(median "${CPU[$i]}")" \
    "$(awk -v k="$(maxof "${RSS[$i]}")" 'BEGIN {print k / 1024}')"
done
