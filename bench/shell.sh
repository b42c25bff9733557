#!/usr/bin/env bash
# The pfs shell and client against curl, one server, one run (hyperfine, medians):
# - a 100,000-line pipeline: `pfs sh -c 'cat /memfs/big | grep x | wc -l'` (cat is the pfs command,
#   grep and wc local programs) vs `curl -s .../files?path=/memfs/big | grep x | wc -l`
#   (target ≤ 1.5x);
# - `pfs ls` of a 100,000-entry memfs directory vs the raw `GET /directories` with curl
#   (target ≤ 1.2x), and when pfs ls prints its first line compared with its end.
#
#   bash bench/shell.sh            # print the table
#   bash bench/shell.sh --record   # ... and write it into bench/RESULTS.md (between markers)
#
# Env: RUNS (hyperfine runs per command, default 30), NO_BUILD=1. Loopback only; everything
# started is stopped.
set -euo pipefail
RECORD=0
[[ ${1:-} == --record ]] && RECORD=1
RUNS=${RUNS:-30}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=bench/lib.sh
source bench/lib.sh
command -v hyperfine >/dev/null || { echo "bench/shell.sh needs hyperfine" >&2; exit 1; }
TMP=$(mktemp -d "${TMPDIR:-/tmp}/pfs-bench-shell.XXXXXX")
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$TMP"; }
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
SERVER=$!
PIDS+=("$SERVER")
URL="http://127.0.0.1:$PORT"
B="$URL/api/v1"
wait_ready "$B/ready" "$SERVER" || { cat "$TMP/server.log" >&2; exit 1; }
PFS="$ROOT/$BIN/pfs --server $URL"

# 100,000 lines, every tenth with an x.
awk 'BEGIN {for (i = 0; i < 100000; i++) printf "line %d %s\n", i, (i % 10 == 0 ? "x" : "y")}' >"$TMP/big.txt"
curl -sf -X PUT --data-binary @"$TMP/big.txt" "$B/files?path=/memfs/big" -o /dev/null
# 100,000 empty files in one directory, created by one curl with parallel requests.
curl -sf -X POST "$B/directories?path=/memfs/many" -o /dev/null
awk -v b="$B" 'BEGIN {for (i = 0; i < 100000; i++) printf "url = \"%s/files?path=/memfs/many/f%06d\"\noutput = \"/dev/null\"\n", b, i}' >"$TMP/creates.cfg"
curl -s --no-progress-meter -Z --parallel-max 32 -X POST -K "$TMP/creates.cfg" 2>/dev/null
ENTRIES=$($PFS ls /memfs/many | wc -l)
COUNT_PFS=$($PFS sh -c 'cat /memfs/big | grep x | wc -l')
# shellcheck disable=SC2126  # the same pipeline as the one measured
COUNT_CURL=$(curl -s "$B/files?path=/memfs/big" | grep x | wc -l)

# median_of JSON INDEX: a command's median seconds from hyperfine's export.
median_of() { python3 -c 'import json,sys; print("%.4f" % json.load(open(sys.argv[1]))["results"][int(sys.argv[2])]["median"])' "$1" "$2"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
pass() { awk -v r="$1" -v t="$2" 'BEGIN {print (r <= t ? "PASS" : "MISS")}'; }

hyperfine -N --warmup 3 --runs "$RUNS" --export-json "$TMP/pipe.json" \
  -n curl "bash -c 'curl -s \"$B/files?path=/memfs/big\" | grep x | wc -l'" \
  -n pfs "bash -c '$PFS sh -c \"cat /memfs/big | grep x | wc -l\"'" >"$TMP/pipe.txt"
hyperfine -N --warmup 3 --runs "$RUNS" --export-json "$TMP/ls.json" \
  -n curl "curl -s \"$B/directories?path=/memfs/many\" -o /dev/null" \
  -n pfs "$PFS ls /memfs/many" >"$TMP/ls.txt"
PIPE_CURL=$(median_of "$TMP/pipe.json" 0)
PIPE_PFS=$(median_of "$TMP/pipe.json" 1)
LS_CURL=$(median_of "$TMP/ls.json" 0)
LS_PFS=$(median_of "$TMP/ls.json" 1)
LS_USER_MS=$(python3 -c 'import json,sys; print("%.0f" % (json.load(open(sys.argv[1]))["results"][1]["user"] * 1000))' "$TMP/ls.json")
PIPE_RATIO=$(ratio "$PIPE_PFS" "$PIPE_CURL")
LS_RATIO=$(ratio "$LS_PFS" "$LS_CURL")

# When `pfs ls` prints its first line, against when it ends (median of 9 runs, milliseconds).
FIRST=$(python3 - "$ROOT/$BIN/pfs" "$URL" <<'PY'
import statistics, subprocess, sys, time
firsts, ends = [], []
for _ in range(9):
    t0 = time.monotonic()
    p = subprocess.Popen([sys.argv[1], "--server", sys.argv[2], "ls", "/memfs/many"], stdout=subprocess.PIPE)
    p.stdout.readline()
    t1 = time.monotonic()
    for _ in p.stdout:
        pass
    p.wait()
    t2 = time.monotonic()
    firsts.append((t1 - t0) * 1000)
    ends.append((t2 - t0) * 1000)
print("%.1f %.1f" % (statistics.median(firsts), statistics.median(ends)))
PY
)
read -r FIRST_MS END_MS <<<"$FIRST"

TABLE="| 1 run, hyperfine medians of $RUNS | curl (s) | pfs (s) | pfs / curl | Target | Verdict |
|---|---:|---:|---:|---|:---:|
| \`cat /memfs/big \| grep x \| wc -l\`, 100,000 lines (both count $COUNT_PFS / $COUNT_CURL) | $PIPE_CURL | $PIPE_PFS | $PIPE_RATIO | ≤ 1.5 | $(pass "$PIPE_RATIO" 1.5) |
| \`ls\` of a directory of $ENTRIES entries (curl: the raw \`GET /directories\` to /dev/null) | $LS_CURL | $LS_PFS | $LS_RATIO | ≤ 1.2 | $(pass "$LS_RATIO" 1.2) |

\`pfs ls\` of the $ENTRIES entries prints its first line after $FIRST_MS ms and ends after $END_MS ms (medians of 9): names are printed as the listing is parsed, but the server sends a listing once it is built (curl's whole call takes about as long as pfs's first line), so the first name cannot come much earlier. A short \`ls\` asks the server for names only (\`fields=name\`, a pfs extension that AGFS ignores), so its answer is a fraction of the full listing curl fetches; pfs's user CPU: $LS_USER_MS ms mean."
COMMANDS="Commands: \`curl -s \$B/files?path=/memfs/big | grep x | wc -l\` vs \`pfs sh -c 'cat /memfs/big | grep x | wc -l'\`; \`curl -s \$B/directories?path=/memfs/many -o /dev/null\` vs \`pfs ls /memfs/many\` (output to a pipe: one name a line); \`hyperfine -N --warmup 3 --runs $RUNS\`, each pipeline under \`bash -c\`."
RAW="Raw hyperfine output:

\`\`\`
$(cat "$TMP/pipe.txt" "$TMP/ls.txt" | sed 's/\x1b\[[0-9;]*m//g' | sed "s#$ROOT/##g; s#$B#\$B#g; s#$URL#\$URL#g")
\`\`\`"
echo "$TABLE"
echo
echo "$COMMANDS"
if ((RECORD)); then
  record_section SHELL "The pfs shell and client against curl" "Recorded $(date -u '+%Y-%m-%d %H:%M') UTC with \`bash bench/shell.sh --record\`; $(nproc) CPUs; pfs at commit $(git rev-parse --short HEAD).

$TABLE

$COMMANDS

$RAW"
fi
