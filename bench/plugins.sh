#!/usr/bin/env bash
# External-plugin overhead: 1 KiB-sized reads through C plugins against the built-in plugins doing
# the same, in one server, in one run. Target (C-ABI issue): cost per request through hellofs-c
# ≤ 1.2 × through the built-in hellofs, i.e. throughput ratio ≥ 0.83.
#
#   bash bench/plugins.sh            # print the table
#   bash bench/plugins.sh --record   # ... and write it into bench/RESULTS.md (between its markers)
#
# Env: DURATION (default 10s), CONNS (64), THREADS (2). Loopback only; everything started is stopped.
set -euo pipefail
RECORD=0
[[ ${1:-} == --record ]] && RECORD=1
DURATION=${DURATION:-10s}
CONNS=${CONNS:-64}
THREADS=${THREADS:-2}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
command -v wrk >/dev/null || { apt-get install -y -qq wrk >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }; }
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
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
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
for _ in $(seq 200); do curl -sf -o /dev/null "$B/ready" && break; sleep 0.05; done
curl -sf -o /dev/null "$B/ready" || { cat "$TMP/server.log" >&2; exit 1; }
head -c 1024 /dev/urandom >"$TMP/1k"
for m in memfs memfsc memfsct; do curl -sf -o /dev/null -T "$TMP/1k" "$B/files?path=/$m/1k"; done
[[ $(curl -s "$B/files?path=/memfsc/1k" | wc -c) == 1024 ]] || { echo "memfs-c did not store 1 KiB" >&2; exit 1; }

# cpu_ticks: user + system CPU of the server so far, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
HZ=$(getconf CLK_TCK)
# measure URL: prints "req/s µs-of-server-CPU-per-request".
measure() {
    local before after out
    before=$(cpu_ticks)
    out=$(wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" "$1")
    after=$(cpu_ticks)
    awk -v b="$before" -v a="$after" -v hz="$HZ" '
        /requests in/ {n = $1}
        /^Requests\/sec:/ {r = $2}
        END {printf "%.0f %.2f\n", r, (a - b) * 1e6 / hz / n}' <<<"$out"
}
echo "[bench] wrk -t$THREADS -c$CONNS -d$DURATION on each of 5 URLs" >&2
read -r H H_US < <(measure "$B/files?path=/hellofs/hello&size=1024")
read -r HC HC_US < <(measure "$B/files?path=/helloc/hello&size=1024")
read -r M M_US < <(measure "$B/files?path=/memfs/1k")
read -r MC MC_US < <(measure "$B/files?path=/memfsc/1k")
read -r MT MT_US < <(measure "$B/files?path=/memfsct/1k")
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
verdict() { awk -v c="$1" 'BEGIN {print (c <= 1.2 ? "PASS" : "MISS")}'; }
HR=$(ratio "$HC_US" "$H_US")
TABLE=$(cat <<EOF2
| Read | built-in: req/s, server CPU µs/req | C plugin: req/s, server CPU µs/req | cost per request (CPU), C / built-in | throughput, C / built-in | Target | Result |
|---|---:|---:|---:|---:|---|:---:|
| hello file (hellofs vs hellofs-c, v1) | $H, $H_US | $HC, $HC_US | $HR | $(ratio "$HC" "$H") | cost ≤ 1.2 | $(verdict "$HR") |
| 1 KiB file (memfs vs memfs-c, PFSNonBlocking: in place) | $M, $M_US | $MC, $MC_US | $(ratio "$MC_US" "$M_US") | $(ratio "$MC" "$M") | cost ≤ 1.2 | $(verdict "$(ratio "$MC_US" "$M_US")") |
| 1 KiB file (memfs vs memfs-c built without PFSNonBlocking: own thread) | $M, $M_US | $MT, $MT_US | $(ratio "$MT_US" "$M_US") | $(ratio "$MT" "$M") | (reported) | — |
EOF2
)
echo "$TABLE"
if ((RECORD)); then
  BLOCK="Recorded $(date -u '+%Y-%m-%d %H:%M') UTC with \`bash bench/plugins.sh --record\`; $(nproc) CPUs; wrk -t$THREADS -c$CONNS -d$DURATION; pfs at commit $(git rev-parse --short HEAD).

$TABLE"
  python3 - "$BLOCK" <<'PY'
import re, sys
p = "bench/RESULTS.md"
s = open(p).read()
block = "<!-- BEGIN PLUGINS -->\n" + sys.argv[1] + "\n<!-- END PLUGINS -->"
if "<!-- BEGIN PLUGINS -->" in s:
    s = re.sub(r"<!-- BEGIN PLUGINS -->.*?<!-- END PLUGINS -->", lambda m: block, s, flags=re.S)
else:
    s = s.rstrip() + "\n\n## External plugins (C ABI)\n\n" + block + "\n"
open(p, "w").write(s)
PY
  echo "[bench] recorded in bench/RESULTS.md" >&2
fi
