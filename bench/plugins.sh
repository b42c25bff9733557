#!/usr/bin/env bash
# External-plugin overhead: 1 KiB-sized reads through C plugins against the built-in plugins doing
# the same, in one server, in one run. Target (C-ABI issue): cost per request through hellofs-c
# ≤ 1.2 × through the built-in hellofs, i.e. throughput ratio ≥ 0.83.
#
#   bash bench/plugins.sh            # print the table
#   bash bench/plugins.sh --record   # ... and write it into bench/RESULTS.md (between its markers)
#
# Each of ROUNDS rounds (default 3) runs the built-in and then the C plugin back to back; the table
# shows medians and the per-round ratios. A plugin without PFSNonBlocking starts on a thread of its
# own and moves its calls in place once they proved quick (c-abi/src/worker.rs): a warm-up run
# before the rounds lets that happen, as it would on a server that has been up for a while.
#
# Env: DURATION (default 10s), CONNS (64), THREADS (2), ROUNDS (3). Loopback only; everything
# started is stopped.
set -euo pipefail
RECORD=0
[[ ${1:-} == --record ]] && RECORD=1
export DURATION=${DURATION:-10s} CONNS=${CONNS:-64} THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-3}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=bench/lib.sh
source bench/lib.sh
ensure_wrk
TMP=$(mktemp -d "${TMPDIR:-/tmp}/pfs-bench-plugins.XXXXXX")
PID=""
cleanup() { [[ -n $PID ]] && kill "$PID" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT

echo "[bench] building (release) pfs-server and the C examples" >&2
[[ ${NO_BUILD:-0} == 1 ]] || cargo build -q --release -p pfs-server
make -s -C examples/hellofs-c OUT="$TMP/plugins"
make -s -C examples/memfs-c OUT="$TMP/plugins"
# The same memfs-c without PFSNonBlocking: its calls go through the instance's own thread. Loaded
# second, it is renamed memfs-c-1.
make -s -C examples/memfs-c OUT="$TMP/thread" CFLAGS="-O2 -g -DMEMFS_C_BLOCKING" "$TMP/thread/memfs-c.so"
PORT=$(free_port)
cat >"$TMP/pfs.yaml" <<YAML
server: {address: "127.0.0.1:$PORT", log_level: warn}
external_plugins: {enabled: true, plugin_paths: [$TMP/plugins/hellofs-c.so, $TMP/plugins/memfs-c.so, $TMP/thread/memfs-c.so]}
plugins:
  hellofs: {path: /hellofs}
  hellofs-c: {path: /helloc}
  memfs: {path: /memfs}
  memfs-c: {path: /memfsc}
  memfs-c-1: {path: /memfsct}
YAML
"${CARGO_TARGET_DIR:-target}/release/pfs-server" -c "$TMP/pfs.yaml" 2>"$TMP/server.log" &
PID=$!
B="http://127.0.0.1:$PORT/api/v1"
wait_ready "$B/ready" "$PID" || { cat "$TMP/server.log" >&2; exit 1; }
head -c 1024 /dev/urandom >"$TMP/1k"
for m in memfs memfsc memfsct; do curl -sf -o /dev/null -T "$TMP/1k" "$B/files?path=/$m/1k"; done
[[ $(curl -s "$B/files?path=/memfsc/1k" | wc -c) == 1024 ]] || { echo "memfs-c did not store 1 KiB" >&2; exit 1; }

declare -A RPS CPU RATIO
run() { # run NAME URL: one wrk run; the server's CPU per request beside req/s
  local rps cpu bad
  read -r rps cpu _ bad < <(measure "$PID" "$2")
  ((bad == 0)) || { echo "[bench] $1: $bad non-2xx answers" >&2; exit 1; }
  RPS[$1]+="$rps " CPU[$1]+="$cpu "
  echo "[bench] $1: $rps req/s, $cpu µs CPU/request" >&2
}
H="$B/files?path=/hellofs/hello&size=1024" HC="$B/files?path=/helloc/hello&size=1024"
M="$B/files?path=/memfs/1k" MC="$B/files?path=/memfsc/1k" MT="$B/files?path=/memfsct/1k"
echo "[bench] warm-up, then $ROUNDS rounds of wrk -t$THREADS -c$CONNS -d$DURATION on each of 5 URLs" >&2
for u in "$HC" "$MT"; do DURATION=2s measure "$PID" "$u" >/dev/null; done
pair() { # pair A B: per-round ratios of CPU per request and of req/s, B against A
  local a=(${CPU[$1]}) b=(${CPU[$2]}) ar=(${RPS[$1]}) br=(${RPS[$2]}) i
  for i in "${!a[@]}"; do
    RATIO[cpu-$2]+="$(ratio "${b[$i]}" "${a[$i]}") " RATIO[rps-$2]+="$(ratio "${br[$i]}" "${ar[$i]}") "
  done
}
for _ in $(seq "$ROUNDS"); do
  run hellofs "$H"; run hellofs-c "$HC"
  run memfs "$M"; run memfs-c "$MC"; run memfs-c-thread "$MT"
done
pair hellofs hellofs-c
pair memfs memfs-c
pair memfs memfs-c-thread
range() { printf '%s\n' "$@" | sort -g | sed -n '1p;$p' | paste -sd-; }
cell() { printf '%.0f, %s' "$(median ${RPS[$1]})" "$(median ${CPU[$1]})"; }
rcell() { echo "$(median ${RATIO[$1]}) ($(range ${RATIO[$1]}))"; }
verdict() { awk -v c="$1" 'BEGIN {print (c <= 1.2 ? "PASS" : "MISS")}'; }
TABLE=$(cat <<EOF2
| Read, $ROUNDS rounds (medians) | built-in: req/s, server CPU µs/req | C plugin: req/s, server CPU µs/req | cost per request (CPU), C / built-in (range) | throughput, C / built-in (range) | Target | Result |
|---|---:|---:|---:|---:|---|:---:|
| hello file (hellofs vs hellofs-c, v1) | $(cell hellofs) | $(cell hellofs-c) | $(rcell cpu-hellofs-c) | $(rcell rps-hellofs-c) | cost ≤ 1.2 | $(verdict "$(median ${RATIO[cpu-hellofs-c]})") |
| 1 KiB file (memfs vs memfs-c, PFSNonBlocking: in place) | $(cell memfs) | $(cell memfs-c) | $(rcell cpu-memfs-c) | $(rcell rps-memfs-c) | cost ≤ 1.2 | $(verdict "$(median ${RATIO[cpu-memfs-c]})") |
| 1 KiB file (memfs vs memfs-c built without PFSNonBlocking: adaptive) | $(cell memfs) | $(cell memfs-c-thread) | $(rcell cpu-memfs-c-thread) | $(rcell rps-memfs-c-thread) | (reported) | — |
EOF2
)
echo "$TABLE"
if ((RECORD)); then
  record_section PLUGINS "External plugins (C ABI)" "Recorded $(date -u '+%Y-%m-%d %H:%M') UTC with \`bash bench/plugins.sh --record\`; $(nproc) CPUs; wrk -t$THREADS -c$CONNS -d$DURATION per run; pfs at commit $(git rev-parse --short HEAD).

$TABLE"
  echo "[bench] recorded in bench/RESULTS.md" >&2
fi
