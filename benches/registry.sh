#!/usr/bin/env bash
# Issue 14's read-once and registry figures, side by side in one run, each against its
# baseline (medians of RUNS rounds, commands interleaved; wall seconds, GNU time):
#   1. `pack` of the 1 GiB 4-shard model vs one `openssl dgst -sha256` pass over its files;
#   2. `pack --push` to a loopback registry vs `pack -o` + `push` (fresh repositories, no mounts);
#   3. `check --policy size-limits` of the 1.2 TB sparse checkpoint vs `inspect` of it.
# push/pull vs `skopeo copy` and the second push are in benches/transfers.sh.
#
# Usage: benches/registry.sh [WORKDIR]   (MODELPACK_BIN overrides target/release/modelpack;
#   BASE=OTHER/modelpack adds `pack` and `pack --push` rows of that build, side by side)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
BIN=$(realpath "${MODELPACK_BIN:-target/release/modelpack}")
[[ -x $BIN ]] || { echo "error: $BIN missing: cargo build --release first" >&2; exit 2; }
WORK=${1:-$(mktemp -d)}
mkdir -p "$WORK"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
MODEL=$WORK/fx/sharded-llama
[[ -d $MODEL ]] || python3 ../shared/bench/make_big_fixtures.py "$WORK/fx" --only sharded >/dev/null
GIANT=$WORK/giant
[[ -d $GIANT ]] || python3 ../shared/bench/make_sparse_giant.py "$GIANT" >/dev/null
export MODELPACK_CACHE_DIR=$WORK/mp-cache

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# A fresh registry each run: a repository left by an earlier run would already hold the blobs
# (push skips what a HEAD finds).
rm -rf "$WORK/reg"
mkdir -p "$WORK/reg/data"
cat > "$WORK/reg/config.yml" <<YAML
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $WORK/reg/data
http:
  addr: 127.0.0.1:$port
  secret: not-a-secret-loopback-only
YAML
docker-registry serve "$WORK/reg/config.yml" > "$WORK/reg/log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do
  [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v2/" || true) == 200 ]] && break
  sleep 0.1
done
REG=127.0.0.1:$port

# Warm-up (not measured): compiles every plugin (formats, conventions, the policy) into the
# compiled-code cache once.
"$BIN" generate "$MODEL" >/dev/null 2>&1 || true
[[ -z ${BASE:-} ]] || "$BASE" generate "$MODEL" >/dev/null 2>&1 || true
"$BIN" check "$GIANT" --policy size-limits >/dev/null 2>&1 || true

REGPID=${PIDS[-1]}
# CPU seconds (user + system) the registry process has used so far.
regcpu() { awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$REGPID/stat"; }

# t NAME CMD...: one run of CMD; appends its wall seconds, its own CPU seconds and the
# registry's CPU seconds meanwhile to W[NAME], C[NAME], R[NAME]. `sync` first, untimed: an
# earlier command's ~1 GiB of dirty pages would otherwise be written back during this one
# (pack measured 2-3 s instead of 0.6 s that way).
declare -A W C R
t() {
  local name=$1 r0 r1
  shift
  sync
  r0=$(regcpu)
  /usr/bin/time -f '%e %U %S' -o "$WORK/time.txt" "$@" >/dev/null 2>"$WORK/err.txt" \
    || { echo "failed: $*" >&2; cat "$WORK/err.txt" >&2; exit 1; }
  r1=$(regcpu)
  read -r wall user sys <"$WORK/time.txt"
  W[$name]+="$wall "
  C[$name]+="$(echo "$user + $sys" | bc) "
  R[$name]+="$(echo "$r1 - $r0" | bc) "
}
median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# The transfer caches (blob locations, file digests) would let a later push of the same
# files mount what an earlier one uploaded: emptied before each timed push, which must upload
# everything. (MODELPACK_CACHE_DIR=off would also turn off the compiled-plugin cache.)
fresh() { rm -f "$MODELPACK_CACHE_DIR"/blob-locations.json "$MODELPACK_CACHE_DIR"/file-digests.json; }
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
n=0
for r in $(seq "$RUNS"); do
  rm -rf "$WORK/layout"
  t openssl sh -c "openssl dgst -sha256 $MODEL/* >/dev/null"
  t pack "$BIN" pack "$MODEL" -o "$WORK/layout" --link copy
  n=$((n + 1))
  fresh
  t packpush "$BIN" pack "$MODEL" --push "$REG/bench/direct-$n:v1"
  rm -rf "$WORK/layout2"
  t twostep sh -c "'$BIN' pack '$MODEL' -o '$WORK/layout2' --link copy \
    && rm -f '$MODELPACK_CACHE_DIR'/*.json && '$BIN' push '$WORK/layout2' '$REG/bench/twostep-$n:v1'"
  if [[ -n ${BASE:-} ]]; then
    rm -rf "$WORK/layout3"
    t basepack "$BASE" pack "$MODEL" -o "$WORK/layout3" --link copy
    fresh
    t basepackpush "$BASE" pack "$MODEL" --push "$REG/bench/base-$n:v1"
  fi
  t inspect "$BIN" inspect "$GIANT"
  t check "$BIN" check "$GIANT" --policy size-limits
done
# A second `pack --push` of the same directory to a new repository (digest cache on): what
# it uploads, from its JSON summary.
fresh
"$BIN" pack "$MODEL" --push "$REG/bench/again-a:v1" >/dev/null 2>&1
sync
s=$(date +%s.%N)
again=$("$BIN" pack "$MODEL" --push "$REG/bench/again-b:v1" --format json 2>/dev/null)
e=$(date +%s.%N)
m() { median <<<"${W[$1]}"; }
ratio() { echo "scale=2; $(m "$1") / $(m "$2")" | bc; }
row() { # row NAME LABEL [RATIO TEXT]
  printf '| %s | %.3f | %s | %.2f | %.2f |\n' "$2" "$(m "$1")" "${3:-}" \
    "$(median <<<"${C[$1]}")" "$(median <<<"${R[$1]}")"
}
echo "load at start: $LOAD0; at end: $(cut -d' ' -f1-3 /proc/loadavg); binary: $BIN; runs: $RUNS"
echo
echo "| measurement | median wall (s) | ratio | its CPU (s) | registry CPU (s) |"
echo "|---|---|---|---|---|"
row openssl "\`openssl dgst -sha256\` of the 1 GiB 4-shard model"
row pack "\`pack -o\` (\`--link copy\`)" "$(ratio pack openssl)x openssl"
[[ -n ${BASE:-} ]] && row basepack "\`pack -o\`, baseline build" "$(ratio basepack openssl)x openssl"
row twostep "\`pack -o\` + \`push\` (loopback registry)"
row packpush "\`pack --push\`" "$(ratio packpush twostep)x pack + push"
[[ -n ${BASE:-} ]] && row basepackpush "\`pack --push\`, baseline build" "$(ratio basepackpush twostep)x pack + push"
row inspect "\`inspect\` of the 1.2 TB sparse 200-shard checkpoint"
row check "\`check --policy size-limits\` of the same" "$(ratio check inspect)x inspect"
printf '| second `pack --push` to a new repository (digest cache on) | %.3f | %s bytes uploaded | | |\n' \
  "$(echo "$e - $s" | bc)" "$(jq -r '.bytesUploaded // "?"' <<<"$again")"
