#!/usr/bin/env bash
# `modelpack push` / `pull` against `skopeo copy` of the same layout, to and from a loopback
# `docker-registry`: wall time, CPU time, peak RSS (GNU time -v). Each round starts fresh
# registries (one per tool) so neither tool can skip or mount a blob it pushed before (both
# keep a blob-location cache); the commands run interleaved, RUNS rounds, medians reported.
# A last row measures the second push of the same blobs to a new repository (mounted).
#
# Usage: benches/transfers.sh [WORKDIR]   (WORKDIR is kept if given, else a temp dir is removed)
# Needs: python3 with numpy and safetensors, skopeo, docker-registry, /usr/bin/time, a release
# build (`MODELPACK_SKIP_PLUGIN_BUILD=1 cargo build --release`).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
BIN=$(realpath "${MODELPACK_BIN:-target/release/modelpack}")
[[ -x $BIN ]] || { echo "error: $BIN missing: cargo build --release first" >&2; exit 2; }

if [[ $# -ge 1 ]]; then
  WORK=$1
  mkdir -p "$WORK"
else
  WORK=$(mktemp -d)
fi
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
MODEL=$WORK/fx/sharded-llama
if [[ ! -d $MODEL ]]; then
  python3 ../shared/bench/make_big_fixtures.py "$WORK/fx" --only sharded >/dev/null
fi
export MODELPACK_CACHE_DIR=$WORK/mp-cache
rm -rf "$WORK/layout"
MODELPACK_CACHE_DIR=off "$BIN" pack "$MODEL" -o "$WORK/layout" --link copy >/dev/null
BYTES=$(du -sb "$WORK/layout/blobs" | cut -f1)

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# start_registry DIR: prints host:port.
start_registry() {
  local dir=$1 port
  port=$(free_port)
  rm -rf "$dir"; mkdir -p "$dir/data"
  cat > "$dir/config.yml" <<YAML
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $dir/data
http:
  addr: 127.0.0.1:$port
  secret: not-a-secret-loopback-only
YAML
  docker-registry serve "$dir/config.yml" > "$dir/registry.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 100); do
    [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v2/" || true) == 200 ]] && break
    sleep 0.1
  done
  REGADDR=127.0.0.1:$port
}

NAMES=(
  "\`skopeo copy\` oci: → registry (push)"
  "\`modelpack push\`"
  "\`skopeo copy\` registry → oci: (pull)"
  "\`modelpack pull\`"
  "\`modelpack push\` of the same blobs to a new repository (mounted)"
)
declare -A WALL CPU RSS
measure() { # measure INDEX COMMAND...
  local i=$1; shift
  # Untimed: the previous command's dirty pages must not be written back during this one.
  sync
  /usr/bin/time -v -o "$WORK/time.txt" "$@" >/dev/null 2>"$WORK/err.txt" \
    || { cat "$WORK/err.txt" >&2; exit 1; }
  WALL[$i]+="$(awk -F': ' '/Elapsed/ {n = split($2, p, ":"); s = 0; for (k = 1; k <= n; k++) s = s * 60 + p[k]; print s}' "$WORK/time.txt") "
  CPU[$i]+="$(awk -F': ' '/User time/ {u = $2} /System time/ {s = $2} END {print u + s}' "$WORK/time.txt") "
  RSS[$i]+="$(awk -F': ' '/Maximum resident/ {print $2}' "$WORK/time.txt") "
}
cat "$WORK"/layout/blobs/sha256/* >/dev/null
for r in $(seq "$RUNS"); do
  start_registry "$WORK/reg-skopeo"; SK=$REGADDR
  start_registry "$WORK/reg-modelpack"; MP=$REGADDR
  rm -rf "$MODELPACK_CACHE_DIR" "$WORK/pull-skopeo" "$WORK/pull-modelpack"
  measure 0 skopeo copy --quiet --dest-tls-verify=false "oci:$WORK/layout:latest" "docker://$SK/bench/model:r$r"
  measure 1 "$BIN" push "$WORK/layout" "$MP/bench/model:r$r"
  measure 2 skopeo copy --quiet --src-tls-verify=false "docker://$SK/bench/model:r$r" "oci:$WORK/pull-skopeo:latest"
  rm -rf "$MODELPACK_CACHE_DIR"
  measure 3 "$BIN" pull "$MP/bench/model:r$r" -o "$WORK/pull-modelpack"
  # The pull recorded where the blobs are: this push mounts them.
  measure 4 "$BIN" push "$WORK/layout" "$MP/bench/other:r$r"
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  PIDS=()
  wait 2>/dev/null || true
done

median() { tr ' ' '\n' <<<"$1" | grep . | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
maxof() { tr ' ' '\n' <<<"$1" | grep . | sort -n | tail -1; }
echo "Layout: sharded-llama, $BYTES bytes of blobs; $(nproc) cores; medians of $RUNS interleaved rounds."
echo
echo "| command | wall (s) | ratio to skopeo | CPU (s) | peak RSS (MiB) |"
echo "|---|---|---|---|---|"
for i in "${!NAMES[@]}"; do
  w=$(median "${WALL[$i]}")
  case $i in 0 | 1 | 4) b=$(median "${WALL[0]}") ;; *) b=$(median "${WALL[2]}") ;; esac
  printf '| %s | %.2f | %.2f | %.2f | %.1f |\n' "${NAMES[$i]}" "$w" \
    "$(awk -v a="$w" -v b="$b" 'BEGIN {print a / b}')" "$(median "${CPU[$i]}")" \
    "$(awk -v k="$(maxof "${RSS[$i]}")" 'BEGIN {print k / 1024}')"
done
[[ $# -ge 1 ]] || rm -rf "$WORK"
