#!/usr/bin/env bash
# localfs with large files: a 1 GiB upload and download through pfs, with the server's memory.
# Target (storage-backends issue): RSS growth under 64 MiB for each direction — the body streams to a
# temporary file on the way in and from the file on the way out.
#
#   bash bench/localfs.sh            # print the table
#   bash bench/localfs.sh --record   # ... and write it into bench/RESULTS.md (between markers)
#
# Env: SIZE_MIB (default 1024), NO_BUILD=1. Loopback only; everything started is stopped.
set -euo pipefail
RECORD=0
[[ ${1:-} == --record ]] && RECORD=1
SIZE_MIB=${SIZE_MIB:-1024}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/pfs-bench-localfs.XXXXXX")
PID=""
cleanup() { [[ -n $PID ]] && kill "$PID" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT
[[ ${NO_BUILD:-0} == 1 ]] || cargo build -q --release -p pfs-server
mkdir -p "$TMP/root"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$TMP/pfs.yaml" <<YAML
server: {address: "127.0.0.1:$PORT", log_level: warn, max_request_body_bytes: $(((SIZE_MIB + 1) * 1048576))}
plugins:
  localfs: {path: /local, config: {local_dir: '$TMP/root'}}
YAML
"${CARGO_TARGET_DIR:-target}/release/pfs-server" -c "$TMP/pfs.yaml" 2>"$TMP/server.log" &
PID=$!
B="http://127.0.0.1:$PORT/api/v1"
for _ in $(seq 200); do curl -sf -o /dev/null "$B/ready" && break; sleep 0.05; done
curl -sf -o /dev/null "$B/ready" || { cat "$TMP/server.log" >&2; exit 1; }
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
head -c $((SIZE_MIB * 1048576)) /dev/urandom >"$TMP/big.bin"
BASE=$(kb VmRSS)
START=$(date +%s.%N)
PUT_PEAK=$(peak_during curl -sf -o /dev/null -H 'Expect:' -T "$TMP/big.bin" "$B/files?path=/local/big.bin")
PUT_S=$(seconds_since "$START")
cmp -s "$TMP/big.bin" "$TMP/root/big.bin" || { echo "the stored file differs from the upload" >&2; exit 1; }
AFTER_PUT=$(kb VmRSS)
START=$(date +%s.%N)
GET_PEAK=$(peak_during curl -sf -o "$TMP/back.bin" "$B/files?path=/local/big.bin")
GET_S=$(seconds_since "$START")
cmp -s "$TMP/big.bin" "$TMP/back.bin" || { echo "the download differs from the upload" >&2; exit 1; }
PG=$(growth "$PUT_PEAK" "$BASE")
GG=$(growth "$GET_PEAK" "$AFTER_PUT")
TABLE=$(cat <<EOF2
| localfs, ${SIZE_MIB} MiB file | time, s (MB/s) | peak RSS, MiB | RSS growth, MiB | Target | Result |
|---|---:|---:|---:|---|:---:|
| upload (PUT, streamed to an unnamed or temporary file, then linked or renamed in) | $PUT_S ($(mb_per_s "$SIZE_MIB" "$PUT_S")) | $(mib "$PUT_PEAK") | $PG | < 64 | $(verdict "$PG") |
| download (GET, streamed in 64 KiB chunks) | $GET_S ($(mb_per_s "$SIZE_MIB" "$GET_S")) | $(mib "$GET_PEAK") | $GG | < 64 | $(verdict "$GG") |
EOF2
)
echo "$TABLE"
if ((RECORD)); then
  BLOCK="Recorded $(date -u '+%Y-%m-%d %H:%M') UTC with \`bash bench/localfs.sh --record\`; $(nproc) CPUs; server RSS before: $(mib "$BASE") MiB; pfs at commit $(git rev-parse --short HEAD).

$TABLE"
  record_section LOCALFS "Storage backends (localfs)" "$BLOCK"
fi
