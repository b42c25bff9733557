#!/usr/bin/env bash
# The pfs client's transfers (issue 15): `pfs cat` of a 1 GiB memfs file against curl (target
# >= 0.9x curl's speed), and `pfs download` of it in 4 and 8 ranged pieces against one stream,
# directly on loopback and through a relay that adds latency. Each row reports wall time and the
# client's CPU (user + system). Rows alternate and the median of RUNS runs is kept; the machine is
# shared, so compare ratios within one run.
#
# The relay (Python, in this script) holds each read of up to 64 KiB for DELAY_MS before passing it
# on, in both directions: one connection then carries at most 64 KiB per DELAY_MS, as a TCP window
# does over a long round trip, which is the case parallel pieces are for.
#
#   bash bench/transfers.sh            # print the table
#   bash bench/transfers.sh --record   # ... and write it into bench/RESULTS.md (between markers)
#
# Env: SIZE_MIB (default 1024), RELAY_MIB (size through the relay, default 256), DELAY_MS
# (default 2), RUNS (default 3), NO_BUILD=1. Loopback only; everything started is stopped.
set -euo pipefail
RECORD=0
[[ ${1:-} == --record ]] && RECORD=1
SIZE_MIB=${SIZE_MIB:-1024}
RELAY_MIB=${RELAY_MIB:-256}
DELAY_MS=${DELAY_MS:-2}
RUNS=${RUNS:-3}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/pfs-bench-transfers.XXXXXX")
PID=""
RELAY=""
cleanup() {
  [[ -n $RELAY ]] && kill "$RELAY" 2>/dev/null
  [[ -n $PID ]] && kill "$PID" 2>/dev/null
  wait 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT
[[ ${NO_BUILD:-0} == 1 ]] || cargo build -q --release -p pfs-cli -p pfs-server
BIN="${CARGO_TARGET_DIR:-target}/release"
PORT=$(free_port)
cat >"$TMP/pfs.yaml" <<YAML
server: {address: "127.0.0.1:$PORT", log_level: warn}
plugins:
  memfs: {path: /memfs}
YAML
"$BIN/pfs-server" -c "$TMP/pfs.yaml" 2>"$TMP/server.log" &
PID=$!
URL="http://127.0.0.1:$PORT"
wait_ready "$URL/api/v1/ready" "$PID" || { cat "$TMP/server.log" >&2; exit 1; }

RPORT=$(free_port)
python3 - "$RPORT" "$PORT" "$DELAY_MS" <<'PY' &
import asyncio, sys
listen, upstream, delay = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]) / 1000

async def pipe(r, w):
    try:
        while True:
            data = await r.read(65536)
            if not data:
                break
            await asyncio.sleep(delay)
            w.write(data)
            await w.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        w.close()

async def handle(cr, cw):
    try:
        sr, sw = await asyncio.open_connection("127.0.0.1", upstream)
    except OSError:
        cw.close()
        return
    await asyncio.gather(pipe(cr, sw), pipe(sr, cw))

async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", listen)
    async with server:
        await server.serve_forever()

asyncio.run(main())
PY
RELAY=$!
RURL="http://127.0.0.1:$RPORT"
wait_ready "$RURL/api/v1/ready" "$RELAY" || { echo "the relay did not start" >&2; exit 1; }

PFS="$BIN/pfs"
head -c $((SIZE_MIB * 1048576)) /dev/urandom >"$TMP/big.bin"
head -c $((RELAY_MIB * 1048576)) "$TMP/big.bin" >"$TMP/part.bin"
START=$(date +%s.%N)
"$PFS" --server "$URL" upload -q "$TMP/big.bin" /memfs/big
UP_S=$(seconds_since "$START")
"$PFS" --server "$URL" upload -q "$TMP/part.bin" /memfs/part

# timed CMD...: runs CMD with output to /dev/null; prints "wall-seconds client-cpu-seconds".
timed() {
  local out
  out=$( { TIMEFORMAT='%R %U %S'; time "$@" >/dev/null 2>"$TMP/err"; } 2>&1 ) || { cat "$TMP/err" >&2; exit 1; }
  awk '{printf "%.2f %.2f\n", $1, $2 + $3}' <<<"$out"
}

# row NAME CMD...: RUNS timed runs; sets ROW_WALL and ROW_CPU (medians) and prints the row.
declare -A WALL CPU
row() {
  local name=$1 ws=() cs=() w c
  shift
  for _ in $(seq "$RUNS"); do
    read -r w c < <(timed "$@")
    ws+=("$w")
    cs+=("$c")
    rm -f "$TMP/out.bin"
  done
  WALL[$name]=$(median "${ws[@]}")
  CPU[$name]=$(median "${cs[@]}")
  printf '%-34s %8s s %8s s CPU   (runs: %s)\n' "$name" "${WALL[$name]}" "${CPU[$name]}" "${ws[*]}" >&2
}

GET="$URL/api/v1/files?path=/memfs/big"
row "curl -s -o /dev/null" curl -s "$GET" -o /dev/null
row "pfs cat > /dev/null" "$PFS" --server "$URL" cat /memfs/big
row "download, one stream" "$PFS" --server "$URL" download -q --piece-size 4G /memfs/big "$TMP/out.bin"
row "download, 4 pieces (256M x4)" "$PFS" --server "$URL" download -q --piece-size 256M --parallel 4 /memfs/big "$TMP/out.bin"
row "download, 8 pieces (128M x8)" "$PFS" --server "$URL" download -q --piece-size 128M --parallel 8 /memfs/big "$TMP/out.bin"
row "download, defaults (8M x4)" "$PFS" --server "$URL" download -q /memfs/big "$TMP/out.bin"
row "relay: one stream" "$PFS" --server "$RURL" download -q --piece-size 4G /memfs/part "$TMP/out.bin"
row "relay: 4 pieces" "$PFS" --server "$RURL" download -q --piece-size $((RELAY_MIB / 4))M --parallel 4 /memfs/part "$TMP/out.bin"
row "relay: 8 pieces" "$PFS" --server "$RURL" download -q --piece-size $((RELAY_MIB / 8))M --parallel 8 /memfs/part "$TMP/out.bin"

# One more download, checked byte for byte against the source.
"$PFS" --server "$URL" download -q /memfs/big "$TMP/out.bin"
cmp -s "$TMP/big.bin" "$TMP/out.bin" || { echo "the downloaded file differs" >&2; exit 1; }

r() { ratio "${WALL[$1]}" "${WALL[$2]}"; }
speed() { ratio "${WALL[$2]}" "${WALL[$1]}"; }
TABLE="| what (${SIZE_MIB} MiB memfs file; relay rows ${RELAY_MIB} MiB, ${DELAY_MS} ms per 64 KiB each way) | wall s | client CPU s |
|---|---|---|
$(for k in "curl -s -o /dev/null" "pfs cat > /dev/null" "download, one stream" "download, 4 pieces (256M x4)" "download, 8 pieces (128M x8)" "download, defaults (8M x4)" "relay: one stream" "relay: 4 pieces" "relay: 8 pieces"; do
  printf '| %s | %s | %s |\n' "$k" "${WALL[$k]}" "${CPU[$k]}"
done)

- \`pfs cat\` speed / curl's: **$(speed "pfs cat > /dev/null" "curl -s -o /dev/null")x** (target >= 0.9)
- loopback download, one stream time / 4 pieces: $(r "download, one stream" "download, 4 pieces (256M x4)")x; / 8 pieces: $(r "download, one stream" "download, 8 pieces (128M x8)")x; / defaults: $(r "download, one stream" "download, defaults (8M x4)")x
- through the relay, one stream time / 4 pieces: **$(r "relay: one stream" "relay: 4 pieces")x**; / 8 pieces: **$(r "relay: one stream" "relay: 8 pieces")x**
- \`pfs upload\` of the ${SIZE_MIB} MiB file (32 MiB pieces to a temporary name, then a rename): ${UP_S} s"
echo "$TABLE"
if ((RECORD)); then
  BLOCK="Recorded $(date -u '+%Y-%m-%d %H:%M') UTC with \`bash bench/transfers.sh --record\` (RUNS=$RUNS, medians); $(nproc) CPUs; release builds; pfs at commit $(git rev-parse --short HEAD).

$TABLE"
  record_section TRANSFERS "Client transfers (pfs cat, download in pieces)" "$BLOCK"
fi
