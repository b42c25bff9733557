#!/usr/bin/env bash
# pfs server-core benchmark: pfs-server (memfs) against a bare axum server holding the same bytes.
#
#   bash bench/run.sh            # run, print the Markdown table
#   bash bench/run.sh --record   # ... and write it into bench/RESULTS.md
#
# Env: DURATION (each wrk run, default 10s), ROUNDS (rounds of 1 KiB runs, default 3), CONNS (wrk
#      connections, default 64), THREADS (wrk threads, default 2), GET_REPEAT (256 MiB GETs per
#      server, default 10), NO_BUILD=1 (skip `cargo build`, use the release binaries as they are).
# Everything listens on and targets 127.0.0.1 only; every process started here is stopped on exit.
set -euo pipefail

RECORD=0
for arg in "$@"; do
    case "$arg" in
    --record) RECORD=1 ;;
    -h | --help)
        sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *)
        echo "run.sh: unknown argument: $arg (only --record)" >&2
        exit 2
        ;;
    esac
done

export DURATION=${DURATION:-10s} CONNS=${CONNS:-64} THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-3}
GET_REPEAT=${GET_REPEAT:-10}
BIG_BYTES=$((256 * 1024 * 1024))
SMALL_BYTES=1024
RSS_TARGET_MIB=$((256 + 48))

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=bench/lib.sh
source bench/lib.sh

log() { printf '[bench] %s\n' "$*" >&2; }
die() {
    printf '[bench] error: %s\n' "$*" >&2
    exit 1
}

# ---------------------------------------------------------------- processes and cleanup
TMP=$(mktemp -d "${TMPDIR:-/tmp}/pfs-bench.XXXXXX")
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do
        # Bounded wait (~5 s), then SIGKILL.
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- tools and servers
ensure_wrk
command -v curl >/dev/null 2>&1 || die "curl is required"
if [[ ${NO_BUILD:-0} == 1 ]]; then
    log "NO_BUILD=1: using the release binaries already built"
else
    log "building (release): pfs-server, bench-bare"
    cargo build --release -p pfs-server -p bench-bare >&2
fi
BIN=${CARGO_TARGET_DIR:-target}/release
[[ -x $BIN/pfs-server && -x $BIN/bench-bare ]] || die "release binaries missing under $BIN"

PFS_PORT=$(free_port)
BARE_PORT=$(free_port)
PFS=http://127.0.0.1:$PFS_PORT
BARE=http://127.0.0.1:$BARE_PORT
cat >"$TMP/pfs.yaml" <<EOF
server:
  address: "127.0.0.1:$PFS_PORT"
  log_level: info
  max_request_body_bytes: $((384 * 1024 * 1024))
plugins:
  memfs:
    path: /memfs
EOF
log "starting pfs-server on 127.0.0.1:$PFS_PORT, bench-bare on 127.0.0.1:$BARE_PORT"
env -u RUST_LOG "$BIN/pfs-server" -c "$TMP/pfs.yaml" 2>"$TMP/pfs.log" &
PFS_PID=$!
PIDS+=("$PFS_PID")
"$BIN/bench-bare" "127.0.0.1:$BARE_PORT" 2>"$TMP/bare.log" &
BARE_PID=$!
PIDS+=("$BARE_PID")
wait_ready "$PFS/api/v1/ready" "$PFS_PID" || { cat "$TMP/pfs.log" >&2; die "pfs-server did not become ready"; }
wait_ready "$BARE/api/v1/health" "$BARE_PID" || { cat "$TMP/bare.log" >&2; die "bench-bare did not become ready"; }
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

# curl_put URL FILE -> "http_code time_total"
curl_put() {
    curl -sS -o /dev/null -H 'Expect:' -H 'Content-Type: application/octet-stream' \
        --max-time 300 -T "$2" -w '%{http_code} %{time_total}\n' "$1"
}
# RSS sampler: max VmRSS (kB) of PID every ~20 ms into FILE, until FILE.stop exists.
rss_sampler() {
    local pid=$1 file=$2 max=0 k v _
    while [[ ! -e $file.stop ]] && kill -0 "$pid" 2>/dev/null; do
        while read -r k v _; do
            if [[ $k == VmRSS: ]]; then
                ((v > max)) && max=$v
                break
            fi
        done <"/proc/$pid/status"
        echo "$max" >"$file"
        sleep 0.02
    done
}
status_kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
at_least() { awk -v a="$1" -v b="$2" 'BEGIN {print (a >= b) ? "PASS" : "MISS"}'; }
fmt0() { awk -v x="$1" 'BEGIN {printf "%.0f", x}'; }

# ---------------------------------------------------------------- 1 KiB requests
# ROUNDS rounds; in each, every kind of request runs on pfs and then on bare, back to back, so both
# see the same machine. Each run records req/s and the server's CPU per request (utime+stime over
# the run, which the machine's noise moves far less than req/s); the table shows the medians.
head -c "$SMALL_BYTES" /dev/urandom >"$TMP/small.bin"
read -r code _ < <(curl_put "$PFS/api/v1/files?path=/memfs/small" "$TMP/small.bin")
[[ $code == 200 ]] || die "PUT /memfs/small answered $code"
[[ $(curl -s --max-time 5 "$PFS/api/v1/files?path=/memfs/small" | wc -c) == "$SMALL_BYTES" ]] ||
    die "GET /memfs/small did not return $SMALL_BYTES bytes"
cat >"$TMP/put.lua" <<EOF
wrk.method = "PUT"
wrk.body = string.rep("x", $SMALL_BYTES)
wrk.headers["Content-Type"] = "application/octet-stream"
EOF
# A new file per request; each wrk thread numbers its own.
cat >"$TMP/put-new.lua" <<EOF
local n = 0
tid = 0
function setup(thread) tid = tid + 1; thread:set("tid", tid) end
function init() body = string.rep("x", $SMALL_BYTES) end
request = function()
  n = n + 1
  return wrk.format("PUT", "/api/v1/files?path=/memfs/new/t" .. tid .. "-" .. n,
    {["Content-Type"] = "application/octet-stream"}, body)
end
EOF
RSS_BEFORE_SMALL=$(status_kb "$PFS_PID" VmRSS)
declare -A RPS CPU RATIO
for r in $(seq "$ROUNDS"); do
    for kind in get put put-new; do
        # Each put-new run starts on an empty directory (not timed).
        if [[ $kind == put-new ]]; then
            curl -sf -o /dev/null -X POST "$PFS/api/v1/directories?path=/memfs/new" || die "mkdir /memfs/new"
        fi
        for who in pfs bare; do
            case $kind-$who in
            get-pfs) url="$PFS/api/v1/files?path=/memfs/small" lua="" ;;
            get-bare) url="$BARE/api/v1/files?path=/small" lua="" ;;
            put-pfs) url="$PFS/api/v1/files?path=/memfs/put1k" lua="$TMP/put.lua" ;;
            put-bare) url="$BARE/api/v1/files?path=/put1k" lua="$TMP/put.lua" ;;
            put-new-pfs) url="$PFS" lua="$TMP/put-new.lua" ;;
            put-new-bare) url="$BARE" lua="$TMP/put-new.lua" ;;
            esac
            if [[ $who == pfs ]]; then pid=$PFS_PID; else pid=$BARE_PID; fi
            read -r rps cpu p99 bad < <(measure "$pid" "$url" "$lua")
            ((bad == 0)) || echo "$kind-$who (round $r): $bad non-2xx answers" >>"$TMP/wrk-errors"
            RPS[$kind-$who]+="$rps " CPU[$kind-$who]+="$cpu "
            if [[ $who == pfs ]]; then
                pfs_rps=$rps pfs_cpu=$cpu
            else
                # This round's pair, pfs against bare on the same machine state.
                RATIO[$kind-rps]+="$(ratio "$pfs_rps" "$rps") " RATIO[$kind-cpu]+="$(ratio "$pfs_cpu" "$cpu") "
            fi
            log "round $r: $kind on $who: $rps req/s, $cpu µs of CPU a request, p99 $p99"
        done
        # The next round starts where this one did: the new files go (bare kept none), and their
        # memory is handed back before anything is measured again (not timed).
        if [[ $kind == put-new ]]; then
            curl -s -o /dev/null -X DELETE "$PFS/api/v1/files?path=/memfs/new&recursive=true"
            settle_rss "$PFS_PID"
        fi
    done
done
RSS_AFTER_SMALL=$(status_kb "$PFS_PID" VmRSS)
[[ $(curl -s --max-time 5 "$PFS/api/v1/files?path=/memfs/put1k" | wc -c) == "$SMALL_BYTES" ]] ||
    die "after the PUT runs, /memfs/put1k is not $SMALL_BYTES bytes"

# row LABEL KIND [THROUGHPUT-MIN CPU-MAX TARGET-TEXT]: a table row: the medians of KIND's runs, and
# the medians of its per-round ratios (each round pairs pfs and bare back to back), with the range.
row() {
    local rp rb cp cb tr cr verdict="—"
    # shellcheck disable=SC2086 # the values are space-separated on purpose
    rp=$(median ${RPS[$2-pfs]}) rb=$(median ${RPS[$2-bare]})
    cp=$(median ${CPU[$2-pfs]} | xargs printf '%.2f') cb=$(median ${CPU[$2-bare]} | xargs printf '%.2f')
    # shellcheck disable=SC2086
    tr=$(median ${RATIO[$2-rps]} | xargs printf '%.2f') cr=$(median ${RATIO[$2-cpu]} | xargs printf '%.2f')
    local trange crange
    trange=$(printf '%s\n' ${RATIO[$2-rps]} | sort -g | sed -n '1p;$p' | paste -sd-)
    crange=$(printf '%s\n' ${RATIO[$2-cpu]} | sort -g | sed -n '1p;$p' | paste -sd-)
    if [[ -n ${3:-} ]]; then
        verdict=$(awk -v t="$tr" -v tt="$3" -v c="$cr" -v ct="$4" 'BEGIN {print (t >= tt && c <= ct) ? "PASS" : "MISS"}')
    fi
    echo "| $1 | $(fmt0 "$rp"), $cp | $(fmt0 "$rb"), $cb | $tr ($trange) | $cr ($crange) | ${5:-(reported)} | $verdict |"
}

# ---------------------------------------------------------------- 256 MiB
log "256 MiB: creating the file, PUT to pfs"
head -c "$BIG_BYTES" /dev/urandom >"$TMP/big.bin"
RSS_BEFORE_PUT=$(status_kb "$PFS_PID" VmRSS)
read -r code BIG_PUT_S < <(curl_put "$PFS/api/v1/files?path=/memfs/big" "$TMP/big.bin")
[[ $code == 200 ]] || die "PUT /memfs/big answered $code"
rm -f "$TMP/big.bin" # not needed any more (and /tmp may be RAM)
BIG_PUT_S=$(awk -v s="$BIG_PUT_S" 'BEGIN {printf "%.3f", s}')
BIG_PUT_MBS=$(awk -v b="$BIG_BYTES" -v s="$BIG_PUT_S" 'BEGIN {printf "%.0f", b / s / 1e6}')
# The PUT's transient buffers (its chunks and their one copy) are freed at its end; jemalloc hands
# them back within about a second. Serving is measured once RSS has settled; VmHWM keeps the peak.
settle_rss "$PFS_PID"
RSS_AFTER_PUT=$(status_kb "$PFS_PID" VmRSS)

log "256 MiB GET x$GET_REPEAT per server (pfs and bare alternating), sampling VmRSS every 20 ms"
rss_sampler "$PFS_PID" "$TMP/rss-pfs" &
PIDS+=("$!")
rss_sampler "$BARE_PID" "$TMP/rss-bare" &
PIDS+=("$!")
for i in $(seq "$GET_REPEAT"); do
    for who in pfs bare; do
        if [[ $who == pfs ]]; then url="$PFS/api/v1/files?path=/memfs/big"; else url="$BARE/api/v1/files?path=/big"; fi
        read -r code size speed < <(curl -sS -o /dev/null --max-time 300 \
            -w '%{http_code} %{size_download} %{speed_download}\n' "$url")
        [[ $code == 200 && $size == "$BIG_BYTES" ]] || die "GET big from $who: HTTP $code, $size bytes"
        log "  GET #$i $who: $(awk -v s="$speed" 'BEGIN {printf "%.0f", s / 1e6}') MB/s"
        echo "$speed" >>"$TMP/speeds-$who"
    done
done
touch "$TMP/rss-pfs.stop" "$TMP/rss-bare.stop"
sleep 0.1
RSS_GET_PFS=$(cat "$TMP/rss-pfs")
RSS_GET_BARE=$(cat "$TMP/rss-bare")
HWM_PFS=$(status_kb "$PFS_PID" VmHWM)
best_mbs() { sort -g "$1" | tail -1 | awk '{printf "%.0f", $1 / 1e6}'; }
median_mbs() { median $(cat "$1") | awk '{printf "%.0f", $1 / 1e6}'; }
BIG_PFS_MBS=$(best_mbs "$TMP/speeds-pfs") BIG_BARE_MBS=$(best_mbs "$TMP/speeds-bare")
MED_PFS_MBS=$(median_mbs "$TMP/speeds-pfs") MED_BARE_MBS=$(median_mbs "$TMP/speeds-bare")
BIG_RATIO=$(ratio "$BIG_PFS_MBS" "$BIG_BARE_MBS")
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- report
RSS_GET_MIB=$(mib "$RSS_GET_PFS")
TABLE=$(
    cat <<EOF
| 1 KiB requests, $ROUNDS rounds | pfs: req/s, CPU µs/req (medians) | bare axum: req/s, CPU µs/req (medians) | throughput pfs / bare: median of the rounds' ratios (range) | CPU per request pfs / bare: median (range) | Target | Result |
|---|---:|---:|---:|---:|---|:---:|
$(row "GET" get 0.85 1.2 "≥ 0.85×, CPU ≤ 1.2×")
$(row "PUT, one file" put)
$(row "PUT, a new file each" put-new 0.8 99 "≥ 0.8×")

| Measurement | pfs | bare axum | pfs / bare | Target | Result |
|---|---:|---:|---:|---|:---:|
| 256 MiB GET, MB/s: best of $GET_REPEAT (median) | $BIG_PFS_MBS ($MED_PFS_MBS) | $BIG_BARE_MBS ($MED_BARE_MBS) | $BIG_RATIO ($(ratio "$MED_PFS_MBS" "$MED_BARE_MBS")) | ≥ 0.70× bare | $(at_least "$BIG_RATIO" 0.7) |
| VmRSS before / after the 1 KiB runs, MiB (a leak shows here) | $(mib "$RSS_BEFORE_SMALL") / $(mib "$RSS_AFTER_SMALL") | — | — | (reported) | — |
| 256 MiB PUT into memfs, s (MB/s) | $BIG_PUT_S ($BIG_PUT_MBS) | — | — | (reported) | — |
| Peak VmRSS while serving the 256 MiB file, MiB | $RSS_GET_MIB | $(mib "$RSS_GET_BARE") | — | ≤ $RSS_TARGET_MIB MiB (256 + 48) | $(at_least "$RSS_TARGET_MIB" "$RSS_GET_MIB") |
| VmRSS before / after the 256 MiB PUT (settled), MiB | $(mib "$RSS_BEFORE_PUT") / $(mib "$RSS_AFTER_PUT") | — | — | (reported) | — |
| VmHWM at the end (the PUT's peak included), MiB | $(mib "$HWM_PFS") | — | — | (reported) | — |
EOF
)
NOTES="wrk -t$THREADS -c$CONNS -d$DURATION per run; loopback; load average before / after: $LOAD_BEFORE / $LOAD_AFTER."
[[ -e $TMP/wrk-errors ]] && NOTES+=" wrk reported errors: $(tr '\n' ' ' <"$TMP/wrk-errors")."

echo
echo "$TABLE"
echo
echo "$NOTES"

if ((RECORD)); then
    CMD="bash bench/run.sh --record"
    [[ $DURATION != 10s || $ROUNDS != 3 || $CONNS != 64 || $THREADS != 2 || $GET_REPEAT != 10 ]] &&
        CMD="DURATION=$DURATION ROUNDS=$ROUNDS CONNS=$CONNS THREADS=$THREADS GET_REPEAT=$GET_REPEAT $CMD"
    [[ ${NO_BUILD:-0} == 1 ]] && CMD="NO_BUILD=1 $CMD"
    COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
    git diff --quiet HEAD -- server fs-core builtin-plugins plugins 2>/dev/null || COMMIT+=" (+ uncommitted changes)"
    CPU_MODEL=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
    record_section RESULTS "Server core" "Recorded $(date -u '+%Y-%m-%d %H:%M UTC') with \`$CMD\`.

Machine: $(nproc) CPUs (${CPU_MODEL:-unknown CPU}), Linux $(uname -r), $(wrk -v 2>&1 | head -1 | awk '{print $1, $2}'), $(rustc --version | awk '{print $1, $2}'); pfs at commit $COMMIT.
Client (wrk, curl) and servers share the same CPUs.

$TABLE

$NOTES"
    log "recorded in bench/RESULTS.md"
fi
