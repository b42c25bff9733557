#!/usr/bin/env bash
# Services-as-files benchmark (queuefs, streamfs), one server, one run:
# - enqueue+dequeue pairs per second over HTTP with 16 connections (wrk; each connection alternates
#   PUT .../enqueue and GET .../dequeue on one shared queue): memory (target ≥ 30 K/s) and SQLite
#   (durable; target ≥ 2 K/s); MariaDB when PFS_TEST_MYSQL_DSN is set (reported);
# - 1 writer (wrk, 64 KiB chunks) + 16 stream readers (curl stream=true): MB/s delivered per reader.
#
#   bash bench/queues.sh            # print the tables
#   bash bench/queues.sh --record   # ... and write them into bench/RESULTS.md (between markers)
#
# Env: DURATION (seconds, default 10), NO_BUILD=1. Loopback only; everything started is stopped.
set -euo pipefail
RECORD=0
[[ ${1:-} == --record ]] && RECORD=1
SECS=${DURATION:-10}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
command -v wrk >/dev/null || { apt-get install -y -qq wrk >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }; }
TMP=$(mktemp -d "${TMPDIR:-/tmp}/pfs-bench-queues.XXXXXX")
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT
[[ ${NO_BUILD:-0} == 1 ]] || cargo build -q --release -p pfs-server
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
MYSQL=""
if [[ -n ${PFS_TEST_MYSQL_DSN:-} ]]; then
  MYSQL="  - {path: /q-mysql, config: {backend: mysql, dsn: '$PFS_TEST_MYSQL_DSN'}}"
fi
cat >"$TMP/pfs.yaml" <<YAML
server: {address: "127.0.0.1:$PORT", log_level: warn}
plugins:
  queuefs:
  - {path: /q-memory}
  - {path: /q-sqlite, config: {backend: sqlite, db_path: '$TMP/queue.db'}}
$MYSQL
  streamfs:
    path: /streamfs
    config: {ring_buffer_size: 1MB, channel_buffer_size: 8MB}
YAML
"${CARGO_TARGET_DIR:-target}/release/pfs-server" -c "$TMP/pfs.yaml" 2>"$TMP/server.log" &
PIDS+=($!)
B="http://127.0.0.1:$PORT/api/v1"
for _ in $(seq 200); do curl -sf -o /dev/null "$B/ready" && break; sleep 0.05; done
curl -sf -o /dev/null "$B/ready" || { cat "$TMP/server.log" >&2; exit 1; }

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
pairs_per_sec() {
  local out
  out=$(wrk -t2 -c16 -d"${SECS}s" -s "$TMP/pairs.lua" "$B/files?path=$1")
  grep -q "Non-2xx" <<<"$out" && { echo "$out" >&2; echo "bench: errors on $1" >&2; exit 1; }
  awk '/^Requests\/sec:/ {printf "%.0f", $2 / 2}' <<<"$out"
}
# wrk appends query strings to wrk.path, so the queue path goes in the path and the control file is
# added by the script: /api/v1/files?path=/q-memory/bench + /enqueue.
echo "[bench] queue pairs, 16 connections, ${SECS}s each" >&2
MEM=$(pairs_per_sec /q-memory/bench)
SQL=$(pairs_per_sec /q-sqlite/bench)
MY="—"
[[ -n $MYSQL ]] && MY=$(pairs_per_sec /q-mysql/bench)
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

TABLE=$(cat <<EOF2
| Measurement | Result | Target | Verdict |
|---|---:|---|:---:|
| queuefs memory: enqueue+dequeue pairs/s (16 connections) | $MEM | ≥ 30000 | $(verdict "$MEM" 30000) |
| queuefs SQLite (WAL, durable against kill -9): pairs/s | $SQL | ≥ 2000 | $(verdict "$SQL" 2000) |
| queuefs MariaDB: pairs/s | $MY | (reported) | — |
| streamfs: writer MB/s (64 KiB chunks, 1 connection) | $WRITTEN_MB | (reported) | — |
| streamfs: MB/s delivered per reader, mean / slowest of $READERS readers | $AVG_MB / $MIN_MB | (reported) | — |
| streamfs: chunks dropped for slow readers | $DROPPED | (reported) | — |
EOF2
)
echo "$TABLE"
if ((RECORD)); then
  BLOCK="Recorded $(date -u '+%Y-%m-%d %H:%M') UTC with \`bash bench/queues.sh --record\`; $(nproc) CPUs; ${SECS}s per measurement; pfs at commit $(git rev-parse --short HEAD).

$TABLE"
  python3 - "$BLOCK" <<'PY'
import re, sys
p = "bench/RESULTS.md"
s = open(p).read()
block = "<!-- BEGIN QUEUES -->\n" + sys.argv[1] + "\n<!-- END QUEUES -->"
if "<!-- BEGIN QUEUES -->" in s:
    s = re.sub(r"<!-- BEGIN QUEUES -->.*?<!-- END QUEUES -->", lambda m: block, s, flags=re.S)
else:
    s = s.rstrip() + "\n\n## Services as files (queuefs, streamfs)\n\n" + block + "\n"
open(p, "w").write(s)
PY
  echo "[bench] recorded in bench/RESULTS.md" >&2
fi
