#!/usr/bin/env bash
# s3fs with large files: a 1 GiB upload and download through pfs into a real S3-compatible server,
# with the pfs server's memory. Target (storage-backends issue): RSS growth under 64 MiB each way —
# uploads go out as multipart parts while the body arrives, downloads stream the GET body.
#
#   bash bench/s3.sh            # print the table (moto and s3s-fs, started by scripts/s3-start)
#   bash bench/s3.sh --record   # ... and write it into bench/RESULTS.md (between markers)
#
# Env: SIZE_MIB (default 1024), NO_BUILD=1. Loopback only; everything started is stopped.
set -euo pipefail
RECORD=0
[[ ${1:-} == --record ]] && RECORD=1
SIZE_MIB=${SIZE_MIB:-1024}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/pfs-bench-s3.XXXXXX")
PID=""
cleanup() {
  [[ -n $PID ]] && kill "$PID" 2>/dev/null
  wait 2>/dev/null || true
  scripts/s3-stop
  rm -rf "$TMP"
}
trap cleanup EXIT
[[ ${NO_BUILD:-0} == 1 ]] || cargo build -q --release -p pfs-server
eval "$(scripts/s3-start)"
head -c $((SIZE_MIB * 1048576)) /dev/urandom >"$TMP/big.bin"

ROWS=""
run_one() { # name endpoint
  local name=$1 endpoint=$2 bucket="bench-$RANDOM"
  curl -s -o /dev/null -X PUT "$endpoint/$bucket" # moto; s3s-fs needs a signed request:
  [[ $name == s3s-fs ]] && mkdir -p "$PFS_TEST_S3S_DATA/$bucket"
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  cat >"$TMP/pfs.yaml" <<YAML
server: {address: "127.0.0.1:$port", log_level: warn, max_request_body_bytes: $(((SIZE_MIB + 1) * 1048576))}
plugins:
  s3fs: {path: /s3, config: {bucket: $bucket, endpoint: '$endpoint', access_key_id: test, secret_access_key: test}}
YAML
  "${CARGO_TARGET_DIR:-target}/release/pfs-server" -c "$TMP/pfs.yaml" --data-dir "$TMP/data" 2>"$TMP/server.log" &
  PID=$!
  local B="http://127.0.0.1:$port/api/v1"
  for _ in $(seq 200); do curl -sf -o /dev/null "$B/ready" && break; sleep 0.05; done
  curl -sf -o /dev/null "$B/ready" || { cat "$TMP/server.log" >&2; exit 1; }
  local base start put_peak put_s after get_peak get_s pg gg
  base=$(kb VmRSS)
  start=$(date +%s.%N)
  put_peak=$(peak_during curl -sf -o /dev/null -H 'Expect:' -T "$TMP/big.bin" "$B/files?path=/s3/big.bin")
  put_s=$(seconds_since "$start")
  after=$(kb VmRSS)
  start=$(date +%s.%N)
  get_peak=$(peak_during curl -sf -o "$TMP/back.bin" "$B/files?path=/s3/big.bin")
  get_s=$(seconds_since "$start")
  cmp -s "$TMP/big.bin" "$TMP/back.bin" || { echo "$name: the download differs from the upload" >&2; exit 1; }
  rm -f "$TMP/back.bin"
  pg=$(growth "$put_peak" "$base")
  gg=$(growth "$get_peak" "$after")
  ROWS+="| $name | upload (multipart, 8 MiB parts, 2 in flight) | $put_s ($(mb_per_s "$SIZE_MIB" "$put_s")) | $(mib "$base") → $(mib "$put_peak") | $pg | < 64 | $(verdict "$pg") |
| $name | download (streamed GET) | $get_s ($(mb_per_s "$SIZE_MIB" "$get_s")) | $(mib "$after") → $(mib "$get_peak") | $gg | < 64 | $(verdict "$gg") |
"
  kill "$PID"
  wait "$PID" 2>/dev/null || true
  PID=""
}
run_one moto "$PFS_TEST_S3_ENDPOINT"
run_one s3s-fs "$PFS_TEST_S3S_ENDPOINT"

TABLE="| server | ${SIZE_MIB} MiB file through s3fs | time, s (MB/s) | pfs RSS before → peak, MiB | RSS growth, MiB | Target | Result |
|---|---|---:|---:|---:|---|:---:|
${ROWS%$'\n'}"
echo "$TABLE"
if ((RECORD)); then
  BLOCK="Recorded $(date -u '+%Y-%m-%d %H:%M') UTC with \`bash bench/s3.sh --record\`; $(nproc) CPUs; byte-exact round trip checked with cmp; pfs at commit $(git rev-parse --short HEAD). The S3 servers run on the same 2 CPUs (moto is Python), so the times measure them more than pfs.

$TABLE"
  record_section S3FS "Storage backends (s3fs)" "$BLOCK"
fi
