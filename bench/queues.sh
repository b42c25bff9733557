#!/usr/bin/env bash
# Services-as-files benchmark (queuefs, streamfs), one server, one run:
# - enqueue+dequeue pairs per second over HTTP with 16 connections (wrk; each connection alternates
#   PUT .../enqueue and GET .../dequeue on one shared queue): memory (target ≥ 30 K/s) and SQLite
#   (durable; target ≥ 3 K/s); MariaDB when PFS_TEST_MYSQL_DSN is set (reported). Each of ROUNDS
#   rounds first runs the reference, a 64-byte memfs PUT on the same 16 connections, so the ratio
#   (two requests per pair) shows; the server's CPU per pair is beside each;
# - 1 writer (wrk, 64 KiB chunks) + 16 stream readers (curl stream=true): MB/s delivered per reader.
#
#   bash bench/queues.sh            # print the tables
#   bash bench/queues.sh --record   # ... and write them into bench/RESULTS.md (between markers)
#
# Env: DURATION (seconds, default 10), ROUNDS (default 3), NO_BUILD=1. Loopback only; everything
# started is stopped.
set -euo pipefail
RECORD=0
[[ ${1:-} == --record ]] && RECORD=1
SECS=${DURATION:-10}
SECS=${SECS%s}
ROUNDS=${ROUNDS:-3}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=bench/lib.sh
source bench/lib.sh
ensure_wrk
TMP=$(mktemp -d "${TMPDIR:-/tmp}/pfs-bench-queues.XXXXXX")
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT
[[ ${NO_BUILD:-0} == 1 ]] || cargo build -q --release -p pfs-server
PORT=$(free_port)
MYSQL=""
if [[ -n ${PFS_TEST_MYSQL_DSN:-} ]]; then
  MYSQL="  - {path: /q-mysql, config: {backend: mysql, dsn: '$PFS_TEST_MYSQL_DSN'}}"
fi
cat >"$TMP/pfs.yaml" <<YAML
server: {address: "127.0.0.1:$PORT", log_level: warn}
plugins:
  memfs: {path: /memfs}
  queuefs:
  - {path: /q-memory}
  - {path: /q-sqlite, config: {backend: sqlite, db_path: '$TMP/queue.db'}}
$MYSQL
  streamfs:
    path: /streamfs
    config: {ring_buffer_size: 1MB, channel_buffer_size: 8MB}
YAML
"${CARGO_TARGET_DIR:-target}/release/pfs-server" -c "$TMP/pfs.yaml" 2>"$TMP/server.log" &
SERVER=$!
PIDS+=("$SERVER")
B="http://127.0.0.1:$PORT/api/v1"
wait_ready "$B/ready" "$SERVER" || { cat "$TMP/server.log" >&2; exit 1; }

cat >"$TMP/pairs.lua" <<'LUA'
-- Each connection alternates an enqueue (PUT) and a dequeue (GET) on one shared queue.
local n = 0
request = function()
  n = n + 1
  if n % 2 == 1 then
    return wrk.format("PUT", wrk.path .. "/enqueue", nil, "task payload of a typical size, about sixty-four bytes long....")
  end
  return wrk.format("GET", wrk.path .. "/dequeue")
end
local bad = 0
response = function(status) if status ~= 200 then bad = bad + 1 end end
done = function() if bad > 0 then io.stderr:write("non-200 answers: " .. bad .. "\n") end end
LUA
cat >"$TMP/put.lua" <<'LUA'
wrk.method = "PUT"
wrk.body = "task payload of a typical size, about sixty-four bytes long...."
LUA
curl -sf -o /dev/null -X PUT --data-binary x "$B/files?path=/memfs/ref"
# wrk appends query strings to wrk.path, so the queue path goes in the path and the control file is
# added by the script: /api/v1/files?path=/q-memory/bench + /enqueue.
declare -A PAIRS CPU RATIO
run() { # run NAME PATH [LUA]: one wrk run at 16 connections; a pair is two requests
  local rps cpu bad
  read -r rps cpu _ bad < <(THREADS=2 CONNS=16 DURATION="${SECS}s" measure "$SERVER" "$B/files?path=$2" "${3:-}")
  ((bad == 0)) || { echo "[bench] $1: $bad non-2xx answers" >&2; exit 1; }
  LAST=$rps
  if [[ $1 == memfs ]]; then
    PAIRS[$1]+="$rps " CPU[$1]+="$cpu "
  else
    PAIRS[$1]+="$(awk -v r="$rps" 'BEGIN {printf "%.0f", r / 2}') "
    CPU[$1]+="$(awk -v c="$cpu" 'BEGIN {printf "%.2f", c * 2}') "
  fi
  echo "[bench] $1: $rps req/s, $cpu µs CPU/request" >&2
}
QUEUES="memory sqlite${MYSQL:+ mysql}"
echo "[bench] queue pairs, 16 connections, ${SECS}s each, $ROUNDS rounds" >&2
for _ in $(seq "$ROUNDS"); do
  run memfs /memfs/ref "$TMP/put.lua"
  ref=$LAST
  for q in $QUEUES; do
    run "$q" "/q-$q/bench" "$TMP/pairs.lua"
    RATIO[$q]+="$(ratio "$LAST" "$ref") "
  done
done
range() { printf '%s\n' "$@" | sort -g | sed -n '1p;$p' | paste -sd-; }
# shellcheck disable=SC2086
MEM=$(median ${PAIRS[memory]}) SQL=$(median ${PAIRS[sqlite]})
pair_row() { # pair_row LABEL QUEUE TARGET
  # shellcheck disable=SC2086
  echo "| $1 | $(median ${PAIRS[$2]}) | $(median ${CPU[$2]}) | $(median ${RATIO[$2]}) ($(range ${RATIO[$2]})) | ${3:-(reported)} | ${4:-—} |"
}
verdict() { awk -v v="$1" -v t="$2" 'BEGIN {print (v >= t ? "PASS" : "MISS")}'; }

echo "[bench] 1 writer + 16 stream readers, ${SECS}s" >&2
head -c 65536 /dev/urandom >"$TMP/chunk"
curl -sf -o /dev/null -T "$TMP/chunk" "$B/files?path=/streamfs/live"
for i in $(seq 16); do
  (curl -s -N -o /dev/null --max-time "$((SECS + 1))" -w '%{size_download}\n' "$B/files?path=/streamfs/live&stream=true" >"$TMP/reader.$i" || true) &
  PIDS+=($!)
done
sleep 0.5 # let the readers attach before the writer starts (their count is checked below)
READERS=$(curl -s "$B/stat?path=/streamfs/live" | python3 -c 'import json,sys; print(json.load(sys.stdin)["meta"]["Content"]["active_readers"])')
cat >"$TMP/writer.lua" <<LUA
local f = io.open("$TMP/chunk", "rb"); wrk.body = f:read("*a"); f:close(); wrk.method = "PUT"
LUA
WOUT=$(wrk -t1 -c1 -d"${SECS}s" -s "$TMP/writer.lua" "$B/files?path=/streamfs/live")
wait_readers() { for i in $(seq 16); do while [[ ! -s $TMP/reader.$i ]]; do sleep 0.1; done; done; }
timeout 30 bash -c "$(declare -f wait_readers); TMP=$TMP wait_readers"
WRITTEN_MB=$(awk '/requests in/ {printf "%.1f", $1 * 65536 / 1e6 / '"$SECS"'}' <<<"$WOUT")
PER_READER=$(cat "$TMP"/reader.* | awk -v s="$SECS" '{sum += $1; n++; if (min == "" || $1 < min) min = $1} END {printf "%.1f %.1f", sum / n / 1e6 / s, min / 1e6 / s}')
read -r AVG_MB MIN_MB <<<"$PER_READER"
DROPPED=$(curl -s "$B/stat?path=/streamfs/live" | python3 -c 'import json,sys; print(json.load(sys.stdin)["meta"]["Content"]["dropped_chunks"])')

MYROW=""
[[ -n $MYSQL ]] && MYROW="
$(pair_row "queuefs MariaDB" mysql)"
TABLE=$(cat <<EOF2
| 16 connections, $ROUNDS rounds (medians) | pairs/s (req/s for memfs) | server CPU µs per pair (per request for memfs) | requests/s against memfs PUT in the round (range) | Target | Verdict |
|---|---:|---:|---:|---|:---:|
| memfs PUT, 64 bytes (reference) | $(median ${PAIRS[memfs]}) | $(median ${CPU[memfs]}) | — | — | — |
$(pair_row "queuefs memory: enqueue+dequeue pairs" memory "≥ 30000 pairs/s" "$(verdict "$MEM" 30000)")
$(pair_row "queuefs SQLite (WAL, durable against kill -9): pairs" sqlite "≥ 3000 pairs/s" "$(verdict "$SQL" 3000)")$MYROW

| Streams | Result | Target | Verdict |
|---|---:|---|:---:|
| streamfs: writer MB/s (64 KiB chunks, 1 connection) | $WRITTEN_MB | (reported) | — |
| streamfs: MB/s delivered per reader, mean / slowest of $READERS readers | $AVG_MB / $MIN_MB | (reported) | — |
| streamfs: chunks dropped for slow readers | $DROPPED | (reported) | — |
EOF2
)
echo "$TABLE"
if ((RECORD)); then
  record_section QUEUES "Services as files (queuefs, streamfs)" "Recorded $(date -u '+%Y-%m-%d %H:%M') UTC with \`bash bench/queues.sh --record\`; $(nproc) CPUs; ${SECS}s per measurement; pfs at commit $(git rev-parse --short HEAD).

$TABLE"
  echo "[bench] recorded in bench/RESULTS.md" >&2
fi
