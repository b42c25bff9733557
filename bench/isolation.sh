#!/usr/bin/env bash
# The cost of isolation: the same C plugin (memfs-c) in-process and in a process of its own, in
# one server, in one run. Targets (issue 14): isolated 1 KiB reads ≥ 0.5× the in-process
# throughput, 64 MiB reads ≥ 0.8×.
#
#   bash bench/isolation.sh            # print the table
#   bash bench/isolation.sh --record   # ... and write it into bench/RESULTS.md (between its markers)
#
# Each of ROUNDS rounds (default 3) reads a 1 KiB file with wrk from the in-process mount and then
# from the isolated one, and a 64 MiB file BIG_READS times (default 5) from each with curl. CPU
# per request counts the server and, for the isolated mount, its plugin process too (utime+stime
# from /proc over the run): isolation's cost is paid in both. The 64 MiB reads go in pairs, one
# from each mount back to back, and each pair gives one ratio.
#
# Env: DURATION (default 10s), CONNS (64), THREADS (2), ROUNDS (3), BIG_READS (5), NO_BUILD=1.
# Loopback only; everything started is stopped.
set -euo pipefail
RECORD=0
[[ ${1:-} == --record ]] && RECORD=1
export DURATION=${DURATION:-10s} CONNS=${CONNS:-64} THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-3}
BIG_READS=${BIG_READS:-5}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=bench/lib.sh
source bench/lib.sh
ensure_wrk
TMP=$(mktemp -d "${TMPDIR:-/tmp}/pfs-bench-isolation.XXXXXX")
PID=""
cleanup() { [[ -n $PID ]] && kill "$PID" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT

echo "[bench] building (release) pfs-server and memfs-c" >&2
[[ ${NO_BUILD:-0} == 1 ]] || cargo build -q --release -p pfs-server
# The same library at two paths: loaded once in-process, once isolated (renamed memfs-c-1).
make -s -C examples/memfs-c OUT="$TMP/in"
make -s -C examples/memfs-c OUT="$TMP/iso"
PORT=$(free_port)
cat >"$TMP/pfs.yaml" <<YAML
server: {address: "127.0.0.1:$PORT", log_level: warn}
external_plugins:
  enabled: true
  plugin_paths: [$TMP/in/memfs-c.so, {path: $TMP/iso/memfs-c.so, isolation: process}]
plugins:
  memfs-c: {path: /in}
  memfs-c-1: {path: /iso}
YAML
"${CARGO_TARGET_DIR:-target}/release/pfs-server" -c "$TMP/pfs.yaml" 2>"$TMP/server.log" &
PID=$!
B="http://127.0.0.1:$PORT/api/v1"
wait_ready "$B/ready" "$PID" || { cat "$TMP/server.log" >&2; exit 1; }
HOST=$(pgrep -P "$PID" -f plugin-host | head -1)
[[ -n $HOST ]] || { echo "[bench] no plugin process under the server" >&2; exit 1; }
head -c 1024 /dev/urandom >"$TMP/1k"
head -c $((64 << 20)) /dev/urandom >"$TMP/64m"
for m in in iso; do
  curl -sf -o /dev/null -T "$TMP/1k" "$B/files?path=/$m/1k"
  curl -sf -o /dev/null -T "$TMP/64m" "$B/files?path=/$m/64m"
  [[ $(curl -s "$B/files?path=/$m/64m" | cmp - "$TMP/64m" && echo same) == same ]] ||
    { echo "[bench] /$m did not give back the 64 MiB file" >&2; exit 1; }
done

declare -A RPS CPU MBS
ticks() { # ticks PID...: utime+stime of the processes, summed
  local t=0 p
  for p in "$@"; do t=$((t + $(cpu_ticks "$p"))); done
  echo "$t"
}
run() { # run NAME URL PIDS...: one wrk run; CPU per request over the given processes
  local name=$1 url=$2
  shift 2
  local before after out rps reqs bad
  before=$(ticks "$@")
  out=$(wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency "$url" 2>&1)
  after=$(ticks "$@")
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  reqs=$(awk '/requests in/ {print $1}' <<<"$out")
  bad=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
  [[ -z $bad ]] || { echo "[bench] $name: $bad non-2xx answers" >&2; exit 1; }
  local hz cpu
  hz=$(getconf CLK_TCK)
  cpu=$(awk -v t=$((after - before)) -v hz="$hz" -v n="$reqs" 'BEGIN {printf "%.2f", t * 1e6 / hz / n}')
  RPS[$name]+="$rps " CPU[$name]+="$cpu "
  echo "[bench] $name: $rps req/s, $cpu µs CPU/request" >&2
}
declare -A BIGTICKS=([in]=0 [iso]=0)
read_big() { # read_big NAME URL PIDS...: one read of the 64 MiB file; its MB/s, its CPU ticks summed
  local name=$1 url=$2 before t
  shift 2
  before=$(ticks "$@")
  t=$(curl -s -o /dev/null -w '%{time_total}' "$url")
  BIGTICKS[$name]=$((BIGTICKS[$name] + $(ticks "$@") - before))
  MBS[$name]+="$(awk -v t="$t" 'BEGIN {printf "%.0f", 64 * 1.048576 / t}') "
}
big() { # BIG_READS pairs of 64 MiB reads, in-process then isolated back to back (a pair shares the
  # machine's load of the moment, so its ratio is steadier than reads far apart)
  local i
  for i in $(seq "$BIG_READS"); do
    read_big in "$B/files?path=/in/64m" "$PID"
    read_big iso "$B/files?path=/iso/64m" "$PID" "$HOST"
  done
  echo "[bench] 64 MiB reads so far, MB/s: in ${MBS[in]}; iso ${MBS[iso]}" >&2
}
echo "[bench] warm-up, then $ROUNDS rounds of wrk -t$THREADS -c$CONNS -d$DURATION per mount" >&2
DURATION=2s run warm "$B/files?path=/iso/1k" "$PID" "$HOST" >/dev/null
RPS[warm]="" CPU[warm]=""
for _ in $(seq "$ROUNDS"); do
  run in "$B/files?path=/in/1k" "$PID"
  run iso "$B/files?path=/iso/1k" "$PID" "$HOST"
  big
done
ratios() { # ratios A B FIELD: per-round B/A
  local -n f=$3
  local a=(${f[$1]}) b=(${f[$2]}) i
  for i in "${!a[@]}"; do printf '%s ' "$(ratio "${b[$i]}" "${a[$i]}")"; done
}
range() { printf '%s\n' "$@" | sort -g | sed -n '1p;$p' | paste -sd-; }
big_cpu() { awk -v t="${BIGTICKS[$1]}" -v hz="$(getconf CLK_TCK)" -v n=$((ROUNDS * BIG_READS)) 'BEGIN {printf "%.1f", t * 1000 / hz / n}'; }
R_RPS=$(ratios in iso RPS) R_CPU=$(ratios in iso CPU) R_MBS=$(ratios in iso MBS)
best() { printf '%s\n' "$@" | sort -g | tail -1; }
R_BEST=$(ratio "$(best ${MBS[iso]})" "$(best ${MBS[in]})")
pass() { awk -v r="$1" -v t="$2" 'BEGIN {print (r >= t ? "PASS" : "MISS")}'; }
TABLE=$(cat <<EOF2
| memfs-c, $ROUNDS rounds (medians) | in-process | isolated | isolated / in-process: median (range) | Target | Result |
|---|---:|---:|---:|---|:---:|
| 1 KiB GET, req/s | $(median ${RPS[in]}) | $(median ${RPS[iso]}) | $(median $R_RPS) ($(range $R_RPS)) | ≥ 0.5× | $(pass "$(median $R_RPS)" 0.5) |
| 1 KiB GET, CPU µs/request (server + plugin process) | $(median ${CPU[in]}) | $(median ${CPU[iso]}) | $(median $R_CPU) ($(range $R_CPU)) | (reported) | — |
| 64 MiB GET, MB/s ($((ROUNDS * BIG_READS)) pairs of reads) | $(median ${MBS[in]}) | $(median ${MBS[iso]}) | $(median $R_MBS) ($(range $R_MBS)); best/best $R_BEST | ≥ 0.8× | $(pass "$(median $R_MBS)" 0.8) |
| 64 MiB GET, CPU ms/read (server + plugin process) | $(big_cpu in) | $(big_cpu iso) | $(ratio "$(big_cpu iso)" "$(big_cpu in)") | (reported) | — |
EOF2
)
echo "$TABLE"
if ((RECORD)); then
  record_section ISOLATION "Isolated plugins" "Recorded $(date -u '+%Y-%m-%d %H:%M') UTC with \`bash bench/isolation.sh --record\`; $(nproc) CPUs; wrk -t$THREADS -c$CONNS -d$DURATION per run, curl for the 64 MiB reads; pfs at commit $(git rev-parse --short HEAD).

$TABLE"
  echo "[bench] recorded in bench/RESULTS.md" >&2
fi
