#!/usr/bin/env bash
# `modelpack convert` of an Ollama store whose model layer is the 1 GiB GGUF of
# ../shared/bench/make_big_fixtures.py (gguf-1g), against `sha256sum` of that blob: one
# hashing pass over the data, the least any converter that rewrites or re-hashes must pay.
# The default convert links the blobs (reflink, else hard link) and reads only the GGUF header;
# `--copy` copies and hashes every blob. Interleaved rounds, medians, page cache warm.
# Prints a Markdown table for BENCHMARKS.md.
#
# Usage: benches/convert.sh [WORKDIR]   (WORKDIR is kept if given, else a temp dir is removed)
# Needs: python3 with gguf and numpy, /usr/bin/time, a build (MODELPACK_BIN, default release).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
BIN=${MODELPACK_BIN:-target/release/modelpack}
[[ -x $BIN ]] || { echo "error: $BIN missing: cargo build --release first" >&2; exit 2; }
if [[ $# -ge 1 ]]; then
  WORK=$1
  mkdir -p "$WORK"
else
  WORK=$(mktemp -d)
  trap 'rm -rf "$WORK"' EXIT
fi
GGUF=$WORK/fx/llama-1g-q4_k_m.gguf
[[ -f $GGUF ]] || python3 ../shared/bench/make_big_fixtures.py "$WORK/fx" --only gguf-1g >/dev/null

# An Ollama store: the GGUF as the model layer, a params layer, a config.
STORE=$WORK/ollama
rm -rf "$STORE"
mkdir -p "$STORE/blobs" "$STORE/manifests/registry.ollama.ai/library/big"
put() {
  local d
  d=$(sha256sum "$1" | cut -d' ' -f1)
  cp --reflink=auto "$1" "$STORE/blobs/sha256-$d"
  printf '{"mediaType":"%s","digest":"sha256:%s","size":%s}' "$2" "$d" "$(stat -c %s "$1")"
}
printf '{"temperature":0.7}' >"$WORK/params"
printf '{"model_format":"gguf","model_family":"llama","model_type":"1.7B","file_type":"Q4_K_M"}' >"$WORK/config"
printf '{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":%s,"layers":[%s,%s]}' \
  "$(put "$WORK/config" application/vnd.docker.container.image.v1+json)" \
  "$(put "$GGUF" application/vnd.ollama.image.model)" \
  "$(put "$WORK/params" application/vnd.ollama.image.params)" \
  >"$STORE/manifests/registry.ollama.ai/library/big/latest"
BLOB=$(ls -S "$STORE"/blobs/* | head -1)
BYTES=$(stat -c %s "$BLOB")
# Warm the compiled-plugin cache and the page cache.
export MODELPACK_CACHE_DIR=$WORK/cache
"$BIN" convert ollama:big --ollama-dir "$STORE" --output "$WORK/warm" >/dev/null
rm -rf "$WORK/warm"
cat "$BLOB" >/dev/null

NAMES=(
  "\`sha256sum\` of the model blob (one hashing pass)"
  "\`modelpack convert ollama:big\` (default: reflink, else hard link)"
  "\`modelpack convert ollama:big --copy\` (copy and hash every blob)"
)
run_cmd() {
  case $1 in
    0) sha256sum "$BLOB" >/dev/null ;;
    1) "$BIN" convert ollama:big --ollama-dir "$STORE" --output "$WORK/out" >/dev/null ;;
    2) "$BIN" convert ollama:big --ollama-dir "$STORE" --output "$WORK/out" --copy >/dev/null ;;
  esac
}
declare -A WALL
for ((r = 0; r < RUNS; r++)); do
  for i in "${!NAMES[@]}"; do
    rm -rf "$WORK/out"
    s=$(date +%s.%N)
    run_cmd "$i"
    e=$(date +%s.%N)
    WALL[$i]+="$(echo "$e - $s" | bc) "
  done
done
rm -rf "$WORK/out"
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
base=$(echo "${WALL[0]}" | median)
echo "Model blob: $BYTES bytes; $(nproc) cores; medians of $RUNS interleaved rounds; binary $BIN."
echo
echo "| command | wall (s) | ratio to one hashing pass |"
echo "|---|---|---|"
for i in "${!NAMES[@]}"; do
  m=$(echo "${WALL[$i]}" | median)
  printf '| %s | %.3f | %.2f |\n' "${NAMES[$i]}" "$m" "$(echo "$m / $base" | bc -l)"
done
