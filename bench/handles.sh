#!/usr/bin/env bash
# Handles: 100 K open/close cycles against a release pfs-server, with the server's memory before and
# after (target: the table empty and RSS growth under 8 MiB), and 10 K handles abandoned with a 5 s
# lease (target: the sweeper closes every one).
#
#   bash bench/handles.sh            # print the table
#   bash bench/handles.sh --record   # ... and write it into bench/RESULTS.md (between markers)
#
# Env: CYCLES (default 100000), ABANDONED (default 10000), NO_BUILD=1. Loopback only; everything
# started is stopped.
set -euo pipefail
RECORD=0
[[ ${1:-} == --record ]] && RECORD=1
CYCLES=${CYCLES:-100000}
ABANDONED=${ABANDONED:-10000}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/pfs-bench-handles.XXXXXX")
PID=""
cleanup() { [[ -n $PID ]] && kill "$PID" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT
[[ ${NO_BUILD:-0} == 1 ]] || cargo build -q --release -p pfs-server
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$TMP/pfs.yaml" <<YAML
server: {address: "127.0.0.1:$PORT", log_level: warn, max_handles: $((ABANDONED + 100))}
plugins:
  memfs: {path: /memfs}
YAML
"${CARGO_TARGET_DIR:-target}/release/pfs-server" -c "$TMP/pfs.yaml" 2>"$TMP/server.log" &
PID=$!
B="http://127.0.0.1:$PORT/api/v1"
for _ in $(seq 200); do curl -sf -o /dev/null "$B/ready" && break; sleep 0.05; done
curl -sf -o /dev/null "$B/ready" || { cat "$TMP/server.log" >&2; exit 1; }
curl -sf -o /dev/null -X PUT --data-binary 'handle bench' "$B/files?path=/memfs/f"
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

# One keep-alive connection; each cycle is POST /handles/open then DELETE /handles/{id}.
cat >"$TMP/cycles.py" <<'PY'
import http.client, json, sys, time
port, n, lease, close = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4] == "close"
c = http.client.HTTPConnection("127.0.0.1", port)
def call(method, url):
    c.request(method, url)
    r = c.getresponse()
    body = r.read()
    if r.status != 200:
        sys.exit(f"{method} {url}: {r.status} {body!r}")
    return json.loads(body)
start, last = time.time(), 0
for _ in range(n):
    hid = call("POST", f"/api/v1/handles/open?path=/memfs/f&flags=2&lease={lease}")["handle_id"]
    assert hid > last, "ids go up"
    last = hid
    if close:
        call("DELETE", f"/api/v1/handles/{hid}")
print(f"{time.time() - start:.2f}")
PY
count() { curl -sf "$B/handles" | python3 -c 'import json,sys; print(json.load(sys.stdin)["count"])'; }

python3 "$TMP/cycles.py" "$PORT" 10000 60 close >/dev/null # warm-up: allocator pools, sweeper
BASE=$(kb VmRSS)
SECS=$(python3 "$TMP/cycles.py" "$PORT" "$CYCLES" 60 close)
AFTER=$(kb VmRSS)
LEFT=$(count)
G=$(growth "$AFTER" "$BASE")
V=$(awk -v g="$G" -v l="$LEFT" 'BEGIN {print (g < 8 && l == 0 ? "PASS" : "MISS")}')

python3 "$TMP/cycles.py" "$PORT" "$ABANDONED" 5 keep >/dev/null
OPEN=$(count)
START=$(date +%s.%N)
while (($(count) > 0)) && (($(awk -v s="$START" -v e="$(date +%s.%N)" 'BEGIN {print (e - s < 20)}'))); do
  sleep 0.1
done
GONE_S=$(seconds_since "$START")
LEFT2=$(count)
V2=$([[ $LEFT2 == 0 ]] && echo PASS || echo MISS)
END_RSS=$(kb VmRSS)

TABLE=$(cat <<EOF2
| handles, memfs | result | Target | Result |
|---|---:|---|:---:|
| $CYCLES open+close cycles (one keep-alive connection) | $SECS s ($(awk -v n="$CYCLES" -v s="$SECS" 'BEGIN {printf "%.0f", n / s}') cycles/s) | (reported) | — |
| server RSS before → after the cycles, MiB | $(mib "$BASE") → $(mib "$AFTER") (growth $G) | < 8 growth, table empty ($LEFT open) | $V |
| $ABANDONED handles left open with lease=5: open, then closed by the sweeper after | $OPEN, then 0 after $GONE_S s (RSS $(mib "$END_RSS") MiB) | all closed | $V2 |
EOF2
)
echo "$TABLE"
if ((RECORD)); then
  BLOCK="Recorded $(date -u '+%Y-%m-%d %H:%M') UTC with \`bash bench/handles.sh --record\`; $(nproc) CPUs; pfs at commit $(git rev-parse --short HEAD) (plus the working tree).

$TABLE"
  record_section HANDLES "Handles" "$BLOCK"
fi
