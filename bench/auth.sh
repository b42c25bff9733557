#!/usr/bin/env bash
# The cost of authentication on the 1 KiB GET: the same memfs file from a server with no tokens
# (protected mode, a loopback client: no table lookup) and from one with tokens, where every
# request carries `Authorization: Bearer` and is checked against the permission table (a SHA-256
# of the token and a map lookup). Target (issue 16): ≤ 5% fewer requests/s.
#
#   bash bench/auth.sh            # print the table
#   bash bench/auth.sh --record   # ... and write it into bench/RESULTS.md (between its markers)
#
# Env: DURATION (default 10s), CONNS (64), THREADS (2), ROUNDS (5), NO_BUILD=1. The two servers
# take turns within each round; CPU per request is the server's utime+stime over its runs.
set -euo pipefail
RECORD=0
[[ ${1:-} == --record ]] && RECORD=1
export DURATION=${DURATION:-10s} CONNS=${CONNS:-64} THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-5}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=bench/lib.sh
source bench/lib.sh
ensure_wrk
TMP=$(mktemp -d "${TMPDIR:-/tmp}/pfs-bench-auth.XXXXXX")
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT
[[ ${NO_BUILD:-0} == 1 ]] || cargo build -q --release -p pfs-server
TOKEN=bench-reader-token-0123456789
start() { # start NAME AUTH-YAML: a server; its port in PORT_NAME, its pid in PID_NAME
  local port
  port=$(free_port)
  printf 'server:\n  address: "127.0.0.1:%s"\n  log_level: warn\n%bplugins:\n  memfs: {path: /memfs}\n' \
    "$port" "$2" >"$TMP/$1.yaml"
  "${CARGO_TARGET_DIR:-target}/release/pfs-server" -c "$TMP/$1.yaml" 2>"$TMP/$1.log" &
  PIDS+=($!)
  printf -v "PID_$1" %s "$!"
  printf -v "PORT_$1" %s "$port"
  wait_ready "http://127.0.0.1:$port/api/v1/ready" "$!" || { cat "$TMP/$1.log" >&2; exit 1; }
}
start open ""
start tokens "  auth:\n    tokens:\n      - {name: bench, role: read, token: $TOKEN}\n      - {name: w, role: write, token: bench-writer-token-0123456789}\n      - {name: a, role: admin, token: bench-admin-token-0123456789}\n"
head -c 1024 /dev/urandom >"$TMP/1k"
# shellcheck disable=SC2154
curl -sf -o /dev/null -T "$TMP/1k" "http://127.0.0.1:$PORT_open/api/v1/files?path=/memfs/1k"
# shellcheck disable=SC2154
curl -sf -o /dev/null -T "$TMP/1k" -H "Authorization: Bearer bench-writer-token-0123456789" \
  "http://127.0.0.1:$PORT_tokens/api/v1/files?path=/memfs/1k"
[[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT_tokens/api/v1/files?path=/memfs/1k") == 401 ]] ||
  { echo "[bench] the server with tokens answered without one" >&2; exit 1; }
printf 'wrk.headers["Authorization"] = "Bearer %s"\n' "$TOKEN" >"$TMP/auth.lua"

declare -A RPS CPU
for r in $(seq "$ROUNDS"); do
  # shellcheck disable=SC2154
  # The same header to both (the open server ignores it): the client does the same work.
  read -r rps cpu _ bad < <(measure "$PID_open" "http://127.0.0.1:$PORT_open/api/v1/files?path=/memfs/1k" "$TMP/auth.lua")
  ((bad == 0)) || { echo "[bench] open: $bad non-2xx" >&2; exit 1; }
  RPS[open]+="$rps " CPU[open]+="$cpu "
  # shellcheck disable=SC2154
  read -r rps2 cpu2 _ bad < <(measure "$PID_tokens" "http://127.0.0.1:$PORT_tokens/api/v1/files?path=/memfs/1k" "$TMP/auth.lua")
  ((bad == 0)) || { echo "[bench] tokens: $bad non-2xx" >&2; exit 1; }
  RPS[tokens]+="$rps2 " CPU[tokens]+="$cpu2 "
  RPS[ratio]+="$(ratio "$rps2" "$rps") " CPU[ratio]+="$(ratio "$cpu2" "$cpu") "
  echo "[bench] round $r: no tokens $rps req/s, $cpu µs; tokens $rps2 req/s, $cpu2 µs" >&2
done
range() { printf '%s\n' "$@" | sort -g | sed -n '1p;$p' | paste -sd-; }
R=$(median ${RPS[ratio]})
TABLE=$(cat <<EOF2
| 1 KiB GET on memfs, $ROUNDS rounds (medians) | no tokens (loopback) | 3 tokens, bearer checked | tokens / none: median (range) | Target | Result |
|---|---:|---:|---:|---|:---:|
| req/s | $(median ${RPS[open]}) | $(median ${RPS[tokens]}) | $R ($(range ${RPS[ratio]})) | ≥ 0.95× | $(awk -v r="$R" 'BEGIN {print (r >= 0.95 ? "PASS" : "MISS")}') |
| server CPU µs/request | $(median ${CPU[open]}) | $(median ${CPU[tokens]}) | $(median ${CPU[ratio]}) ($(range ${CPU[ratio]})) | (reported) | — |
EOF2
)
echo "$TABLE"
if ((RECORD)); then
  record_section AUTH "Authentication" "Recorded $(date -u '+%Y-%m-%d %H:%M') UTC with \`bash bench/auth.sh --record\` (ROUNDS=$ROUNDS, DURATION=$DURATION); $(nproc) CPUs; wrk -t$THREADS -c$CONNS; pfs at commit $(git rev-parse --short HEAD).

$TABLE"
  echo "[bench] recorded in bench/RESULTS.md" >&2
fi
