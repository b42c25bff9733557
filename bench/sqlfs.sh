#!/usr/bin/env bash
# sqlfs on SQLite against direct rusqlite in the same run: 4 KiB file writes then reads, ops/s, and
# the ratios sqlfs / direct (issue target: "4 KiB file write/read ops/s on sqlfs SQLite vs direct
# rusqlite in the same run"). Also through a pfs-server over HTTP (sqlfs and, as the HTTP floor,
# memfs). What each row does: the doc comment of bench/sqlfs/src/main.rs.
#
#   bash bench/sqlfs.sh            # print the table
#   bash bench/sqlfs.sh --record   # ... and write it into bench/RESULTS.md (between markers)
#
# Then a BIG_MIB (default 256) MiB file PUT into sqlfs through the server and read back, with the
# server's peak RSS each way: staged chunk by chunk on the way in, streamed in batches on the way out
# (skipped with NO_HTTP=1).
#
# Env: FILES (per round, default 5000), ROUNDS (default 5), BIG_MIB, NO_BUILD=1, NO_HTTP=1.
# Loopback only; everything started here is stopped on exit.
set -euo pipefail
RECORD=0
[[ ${1:-} == --record ]] && RECORD=1
FILES=${FILES:-5000}
ROUNDS=${ROUNDS:-5}
BIG_MIB=${BIG_MIB:-256}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
BIN="${CARGO_TARGET_DIR:-target}/release"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/pfs-bench-sqlfs.XXXXXX")
PID=""
cleanup() { [[ -n $PID ]] && kill "$PID" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT
[[ ${NO_BUILD:-0} == 1 ]] || cargo build -q --release -p bench-sqlfs -p pfs-server
HTTP_ARGS=()
BIG_TABLE=""
if [[ ${NO_HTTP:-0} != 1 ]]; then
  PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  cat >"$TMP/pfs.yaml" <<YAML
server: {address: "127.0.0.1:$PORT", log_level: warn, max_request_body_bytes: $(((BIG_MIB + 1) * 1048576))}
plugins:
  sqlfs: {path: /sqlfs, config: {backend: sqlite, db_path: '$TMP/http.db'}}
  memfs: {path: /memfs}
YAML
  "$BIN/pfs-server" -c "$TMP/pfs.yaml" 2>"$TMP/server.log" &
  PID=$!
  B="http://127.0.0.1:$PORT/api/v1"
  for _ in $(seq 200); do curl -sf -o /dev/null "$B/ready" && break; sleep 0.05; done
  curl -sf -o /dev/null "$B/ready" || { cat "$TMP/server.log" >&2; exit 1; }
  HTTP_ARGS=(--http "$B/files?path=/sqlfs" --http-memfs "$B/files?path=/memfs")
  head -c $((BIG_MIB * 1048576)) /dev/urandom >"$TMP/big.bin"
  BASE=$(kb VmRSS)
  START=$(date +%s.%N)
  PEAK=$(peak_during curl -sf -o /dev/null -H 'Expect:' -T "$TMP/big.bin" "$B/files?path=/sqlfs/big.bin")
  SECS=$(seconds_since "$START")
  AFTER=$(kb VmRSS)
  START=$(date +%s.%N)
  GET_PEAK=$(peak_during curl -sf -o "$TMP/back.bin" "$B/files?path=/sqlfs/big.bin")
  GET_SECS=$(seconds_since "$START")
  cmp -s "$TMP/big.bin" "$TMP/back.bin" || { echo "the $BIG_MIB MiB file read back differs" >&2; exit 1; }
  rm -f "$TMP/big.bin" "$TMP/back.bin"
  BIG_TABLE="| sqlfs, $BIG_MIB MiB file through pfs-server | time, s (MB/s) | server RSS before, MiB | peak RSS growth, MiB |
|---|---:|---:|---:|
| \`PUT\`: staged in 256 KiB chunks, then one commit | $SECS ($(mb_per_s "$BIG_MIB" "$SECS")) | $(mib "$BASE") | $(growth "$PEAK" "$BASE") |
| \`GET\`: streamed in 4 MiB batches | $GET_SECS ($(mb_per_s "$BIG_MIB" "$GET_SECS")) | $(mib "$AFTER") | $(growth "$GET_PEAK" "$AFTER") |"
fi
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
TABLE=$(TMPDIR="$TMP" "$BIN/bench-sqlfs" --files "$FILES" --rounds "$ROUNDS" "${HTTP_ARGS[@]}")
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
[[ -z $BIG_TABLE ]] || TABLE="$TABLE

$BIG_TABLE"
echo "$TABLE"
echo "load average before / after: $LOAD_BEFORE / $LOAD_AFTER"
if ((RECORD)); then
  BLOCK="Recorded $(date -u '+%Y-%m-%d %H:%M') UTC with \`FILES=$FILES ROUNDS=$ROUNDS bash bench/sqlfs.sh --record\`; $(nproc) CPUs; load average before / after: $LOAD_BEFORE / $LOAD_AFTER; pfs at commit $(git rev-parse --short HEAD) (uncommitted changes included).

$TABLE"
  record_section SQLFS "sqlfs on SQLite against direct rusqlite" "$BLOCK"
fi
