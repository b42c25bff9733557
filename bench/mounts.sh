#!/usr/bin/env bash
# Many mounts: two servers in one run, one with 10 mounts and one with 10,000 (memfs at /m/NNNNN,
# made through POST /mount by bench/mounts from 8 connections at once; one at a time, the total
# would be this machine's loopback round trip, ~70 µs, times 10,000, whatever the server does).
# Reports the time to make the 10,000 (per block of 1,000: flat when a mount's cost does not grow
# with the table), GET /mounts at 10,000, and listing, stat and GET throughput with CPU per request
# on the 10,000-mount server against the 10-mount one, rounds alternating between them.
# Targets (performance issue): 10,000 mounts in ≤ 1 s; GET /mounts ≤ 10 ms; each request ≥ 0.9×.
#
#   bash bench/mounts.sh            # print the tables
#   bash bench/mounts.sh --record   # ... and write them into bench/RESULTS.md (between markers)
#
# Env: DURATION (wrk run, default 5s), ROUNDS (default 3), NO_BUILD=1. Loopback only; everything
# started is stopped.
set -euo pipefail
RECORD=0
[[ ${1:-} == --record ]] && RECORD=1
DURATION=${DURATION:-5s}
ROUNDS=${ROUNDS:-3}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=bench/lib.sh
source bench/lib.sh
ensure_wrk
TMP=$(mktemp -d "${TMPDIR:-/tmp}/pfs-bench-mounts.XXXXXX")
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT
[[ ${NO_BUILD:-0} == 1 ]] || cargo build -q --release -p pfs-server -p bench-mounts
BIN=${CARGO_TARGET_DIR:-target}/release

start() { # start NAME: a server with memfs at /memfs; sets URL_NAME and PID_NAME
  local port
  port=$(free_port)
  printf 'server: {address: "127.0.0.1:%s", log_level: warn}\nplugins:\n  memfs: {path: /memfs}\n' "$port" >"$TMP/$1.yaml"
  "$BIN/pfs-server" -c "$TMP/$1.yaml" 2>"$TMP/$1.log" &
  PIDS+=($!)
  printf -v "PID_$1" %s "$!"
  printf -v "URL_$1" %s "http://127.0.0.1:$port"
  wait_ready "http://127.0.0.1:$port/api/v1/ready" "$!" || { cat "$TMP/$1.log" >&2; exit 1; }
}
start few
start many
"$BIN/bench-mounts" "$URL_few" 10 >/dev/null
echo "[bench] making 10,000 mounts" >&2
MOUNTING=$("$BIN/bench-mounts" "$URL_many" 10000)

head -c 1024 /dev/urandom >"$TMP/1k"
for u in "$URL_few" "$URL_many"; do
  curl -sf -o /dev/null -T "$TMP/1k" "$u/api/v1/files?path=/memfs/small"
  curl -sf -o /dev/null -X POST "$u/api/v1/directories?path=/memfs/dir"
  for i in $(seq 10); do curl -sf -o /dev/null -T "$TMP/1k" "$u/api/v1/files?path=/memfs/dir/f$i"; done
done

declare -A REQ=(
  [list]="/api/v1/directories?path=/memfs/dir"
  [stat]="/api/v1/stat?path=/memfs/missing"
  [get]="/api/v1/files?path=/memfs/small"
)
ROWS=""
for w in get list stat; do
  rps_f=() rps_m=() cpu_f=() cpu_m=()
  for r in $(seq "$ROUNDS"); do
    read -r a b _ _ < <(DURATION=$DURATION measure "$PID_few" "$URL_few${REQ[$w]}")
    rps_f+=("$a") cpu_f+=("$b")
    read -r a b _ _ < <(DURATION=$DURATION measure "$PID_many" "$URL_many${REQ[$w]}")
    rps_m+=("$a") cpu_m+=("$b")
    echo "[bench] $w round $r: 10 mounts ${rps_f[-1]} req/s ${cpu_f[-1]} µs; 10,000 mounts ${rps_m[-1]} req/s ${cpu_m[-1]} µs" >&2
  done
  RF=$(median "${rps_f[@]}") RM=$(median "${rps_m[@]}") CF=$(median "${cpu_f[@]}") CM=$(median "${cpu_m[@]}")
  R=$(ratio "$RM" "$RF")
  ROWS+="| ${REQ[$w]} | $RF, $CF | $RM, $CM | $R | $(ratio "$CM" "$CF") | $(awk -v r="$R" 'BEGIN {print (r >= 0.9 ? "PASS" : "MISS")}') |
"
done
TABLE="$MOUNTING

Throughput with 10,000 mounts against 10 (median of $ROUNDS alternating rounds of wrk -t2 -c64 -d$DURATION; CPU = the server's utime+stime per request):

| request | 10 mounts: req/s, CPU µs/req | 10,000 mounts: req/s, CPU µs/req | throughput ratio | CPU ratio | ≥ 0.9× |
|---|---:|---:|---:|---:|:---:|
${ROWS%$'\n'}"
echo "$TABLE"
if ((RECORD)); then
  record_section MOUNTS "Many mounts" "Recorded $(date -u '+%Y-%m-%d %H:%M') UTC with \`bash bench/mounts.sh --record\`; $(nproc) CPUs; pfs at commit $(git rev-parse --short HEAD).

$TABLE"
  echo "[bench] recorded in bench/RESULTS.md" >&2
fi
