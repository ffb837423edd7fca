#!/usr/bin/env bash
# Issue 14's read-once and registry figures, side by side in one run, each against its
# baseline (medians of RUNS rounds, commands interleaved; wall seconds, GNU time):
#   1. `pack` of the 1 GiB 4-shard model vs one `openssl dgst -sha256` pass over its files;
#   2. `pack --push` to a loopback registry vs `pack -o` + `push` (fresh repositories, no mounts);
#   3. `check --policy size-limits` of the 1.2 TB sparse checkpoint vs `inspect` of it.
# push/pull vs `skopeo copy` and the second push are in benches/transfers.sh.
#
# Usage: benches/registry.sh [WORKDIR]   (MODELPACK_BIN overrides target/release/modelpack)
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

# Warm-up (not measured): compiles every plugin into the compiled-code cache once.
"$BIN" inspect "$MODEL" >/dev/null 2>&1 || true
"$BIN" check "$GIANT" --policy size-limits >/dev/null 2>&1 || true

# t CMD...: wall seconds of one run.
t() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N); echo "$e - $s" | bc; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
declare -A T
n=0
for r in $(seq "$RUNS"); do
  rm -rf "$WORK/layout"
  T[openssl]+="$(t sh -c "openssl dgst -sha256 $MODEL/* >/dev/null") "
  T[pack]+="$(t "$BIN" pack "$MODEL" -o "$WORK/layout" --link copy) "
  n=$((n + 1))
  T[packpush]+="$(t "$BIN" pack "$MODEL" --push "$REG/bench/direct-$n:v1") "
  rm -rf "$WORK/layout2"
  T[twostep]+="$(t sh -c "'$BIN' pack '$MODEL' -o '$WORK/layout2' --link copy && MODELPACK_CACHE_DIR=off '$BIN' push '$WORK/layout2' '$REG/bench/twostep-$n:v1'") "
  T[inspect]+="$(t "$BIN" inspect "$GIANT") "
  T[check]+="$(t "$BIN" check "$GIANT" --policy size-limits) "
done
m() { tr ' ' '\n' <<<"${T[$1]}" | grep . | median; }
ratio() { echo "scale=2; $(m "$1") / $(m "$2")" | bc; }
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg); binary: $BIN; runs: $RUNS"
printf '%-44s %8s  %s\n' "measurement" "median s" "ratio"
printf '%-44s %8s\n' "openssl dgst -sha256 (1 GiB, 4 shards)" "$(m openssl)"
printf '%-44s %8s  %sx openssl\n' "pack -o (--link copy)" "$(m pack)" "$(ratio pack openssl)"
printf '%-44s %8s\n' "pack -o + push (loopback registry)" "$(m twostep)"
printf '%-44s %8s  %sx pack + push\n' "pack --push" "$(m packpush)" "$(ratio packpush twostep)"
printf '%-44s %8s\n' "inspect (1.2 TB sparse, 200 shards)" "$(m inspect)"
printf '%-44s %8s  %sx inspect\n' "check --policy size-limits (same)" "$(m check)" "$(ratio check inspect)"
