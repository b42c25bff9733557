#!/usr/bin/env bash
# s3fs's stat when the S3 server is a round trip away: the LIST and the HEAD of a lookup go out
# together, against the LIST-then-HEAD s3fs used to send, in the same process through the same relay
# (it holds each chunk DELAY_MS in each direction). What each column does: the doc comment of
# bench/s3lookup/src/main.rs.
#
#   bash bench/s3-lookup.sh            # print the tables (s3s-fs, moto; started by scripts/s3-start)
#   bash bench/s3-lookup.sh --record   # ... and write them into bench/RESULTS.md (between markers)
#
# Env: DELAY_MS (default 5, so a 10 ms round trip), N (stats per row, default 100), NO_BUILD=1.
set -euo pipefail
RECORD=0
[[ ${1:-} == --record ]] && RECORD=1
DELAY_MS=${DELAY_MS:-5}
N=${N:-100}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
trap 'scripts/s3-stop' EXIT
[[ ${NO_BUILD:-0} == 1 ]] || cargo build -q --release -p bench-s3lookup
eval "$(scripts/s3-start)"
BIN="${CARGO_TARGET_DIR:-target}/release/bench-s3lookup"

OUT=""
for server in s3s-fs moto; do
  if [[ $server == s3s-fs ]]; then ep=$PFS_TEST_S3S_ENDPOINT; else ep=$PFS_TEST_S3_ENDPOINT; fi
  table=$("$BIN" --endpoint "$ep" --delay-ms "$DELAY_MS" --n "$N")
  OUT+="**$server** behind a relay adding ${DELAY_MS} ms each way, $N stats per row:

$table

"
done
echo "$OUT"
if ((RECORD)); then
  BLOCK="Recorded $(date -u '+%Y-%m-%d %H:%M') UTC with \`bash bench/s3-lookup.sh --record\`; $(nproc) CPUs; pfs at commit $(git rev-parse --short HEAD).

${OUT%$'\n\n'}"
  record_section S3LOOKUP "s3fs lookups over a round trip" "$BLOCK"
fi
