#!/usr/bin/env bash
# pfs server-core benchmark: pfs-server (memfs) against a bare axum server holding the same bytes.
#
#   bash bench/run.sh            # run, print the Markdown table
#   bash bench/run.sh --record   # ... and write it into bench/RESULTS.md
#
# Env: DURATION (wrk run length, default 10s), CONNS (wrk connections, default 64),
#      THREADS (wrk threads, default 2), GET_REPEAT (256 MiB GETs per server, default 10),
#      NO_BUILD=1 (skip `cargo build`, use the release binaries as they are).
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

DURATION=${DURATION:-10s}
CONNS=${CONNS:-64}
THREADS=${THREADS:-2}
GET_REPEAT=${GET_REPEAT:-10}
BIG_BYTES=$((256 * 1024 * 1024))
SMALL_BYTES=1024
RSS_TARGET_MIB=$((256 + 48))

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

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
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
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

# ---------------------------------------------------------------- tools
if ! command -v wrk >/dev/null 2>&1; then
    log "installing wrk"
    if ! apt-get install -y wrk >/dev/null 2>&1; then
        apt-get update >/dev/null 2>&1 || true
        apt-get install -y wrk >/dev/null || die "cannot install wrk"
    fi
fi
command -v curl >/dev/null 2>&1 || die "curl is required"

if [[ ${NO_BUILD:-0} == 1 ]]; then
    log "NO_BUILD=1: using the release binaries already built"
else
    log "building (release): pfs-server, bench-bare"
    cargo build --release -p pfs-server -p bench-bare >&2
fi
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps 2>/dev/null |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
TARGET_DIR=${TARGET_DIR:-$ROOT/target}
PFS_BIN=$TARGET_DIR/release/pfs-server
BARE_BIN=$TARGET_DIR/release/bench-bare
[[ -x $PFS_BIN && -x $BARE_BIN ]] || die "release binaries missing under $TARGET_DIR/release"

# ---------------------------------------------------------------- servers
# A free loopback port: random candidates, taken when nothing answers a connect.
free_port() {
    local p
    for _ in $(seq 200); do
        p=$((20000 + RANDOM % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return 0
        fi
    done
    die "no free port found"
}

# wait_ready URL PID: until URL answers 200 (at most ~15 s) while PID lives.
wait_ready() {
    local url=$1 pid=$2
    for _ in $(seq 150); do
        kill -0 "$pid" 2>/dev/null || return 1
        if [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$url" || true) == 200 ]]; then
            return 0
        fi
        sleep 0.1
    done
    return 1
}

PFS_PORT=$(free_port)
BARE_PORT=$(free_port)
while [[ $BARE_PORT == "$PFS_PORT" ]]; do BARE_PORT=$(free_port); done
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
env -u RUST_LOG "$PFS_BIN" -c "$TMP/pfs.yaml" --addr "127.0.0.1:$PFS_PORT" 2>"$TMP/pfs.log" &
PFS_PID=$!
PIDS+=("$PFS_PID")
"$BARE_BIN" "127.0.0.1:$BARE_PORT" 2>"$TMP/bare.log" &
BARE_PID=$!
PIDS+=("$BARE_PID")

wait_ready "$PFS/api/v1/ready" "$PFS_PID" || {
    cat "$TMP/pfs.log" >&2
    die "pfs-server did not become ready"
}
wait_ready "$BARE/api/v1/health" "$BARE_PID" || {
    cat "$TMP/bare.log" >&2
    die "bench-bare did not become ready"
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- helpers
# curl_put URL FILE -> "http_code time_total"
curl_put() {
    curl -sS -o /dev/null -H 'Expect:' -H 'Content-Type: application/octet-stream' \
        --max-time 300 -T "$2" -w '%{http_code} %{time_total}\n' "$1"
}

# wrk_rps NAME URL [LUA]: runs wrk, keeps its output in $TMP/wrk-NAME.txt, prints req/s.
wrk_rps() {
    local name=$1 url=$2 lua=${3:-} out secs
    out=$TMP/wrk-$name.txt
    # wrk's duration (2s, 1m, 1h) in seconds, for the outer timeout.
    case "$DURATION" in
    *[0-9]s) secs=${DURATION%s} ;;
    *[0-9]m) secs=$((${DURATION%m} * 60)) ;;
    *[0-9]h) secs=$((${DURATION%h} * 3600)) ;;
    *) secs=$DURATION ;;
    esac
    [[ $secs =~ ^[0-9]+$ ]] || die "DURATION must look like 10s, 2m or 1h (got $DURATION)"
    local args=(-t"$THREADS" -c"$CONNS" -d"$DURATION" --timeout 5s --latency)
    [[ -n $lua ]] && args+=(-s "$lua")
    timeout $((secs + 30)) wrk "${args[@]}" "$url" >"$out" 2>&1 || {
        cat "$out" >&2
        die "wrk failed ($name)"
    }
    if grep -qE 'Non-2xx|Socket errors' "$out"; then
        log "wrk $name reported errors:"
        grep -E 'Non-2xx|Socket errors' "$out" >&2
        echo "$name" >>"$TMP/wrk-errors"
    fi
    awk '/^Requests\/sec:/ {print $2}' "$out"
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
mib() { awk -v kb="$1" 'BEGIN {printf "%.1f", kb / 1024}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.2f", a / b; else print "n/a"}'; }
ge() { awk -v a="$1" -v b="$2" 'BEGIN {exit !(a >= b)}'; }
verdict() { if ge "$1" "$2"; then echo PASS; else echo MISS; fi; }
fmt0() { awk -v x="$1" 'BEGIN {printf "%.0f", x}'; }

# ---------------------------------------------------------------- 1 KiB GET
head -c "$SMALL_BYTES" /dev/urandom >"$TMP/small.bin"
read -r code _ < <(curl_put "$PFS/api/v1/files?path=/memfs/small" "$TMP/small.bin")
[[ $code == 200 ]] || die "PUT /memfs/small answered $code"
[[ $(curl -s --max-time 5 "$PFS/api/v1/files?path=/memfs/small" | wc -c) == "$SMALL_BYTES" ]] ||
    die "GET /memfs/small did not return $SMALL_BYTES bytes"

RSS_BEFORE_SMALL=$(status_kb "$PFS_PID" VmRSS)
log "1 KiB GET: wrk -t$THREADS -c$CONNS -d$DURATION (pfs, then bare)"
GET_PFS=$(wrk_rps get-pfs "$PFS/api/v1/files?path=/memfs/small")
GET_BARE=$(wrk_rps get-bare "$BARE/api/v1/files?path=/small")
GET_RATIO=$(ratio "$GET_PFS" "$GET_BARE")

# ---------------------------------------------------------------- 1 KiB PUT
cat >"$TMP/put.lua" <<EOF
wrk.method = "PUT"
wrk.body = string.rep("x", $SMALL_BYTES)
wrk.headers["Content-Type"] = "application/octet-stream"
EOF
log "1 KiB PUT: wrk -t$THREADS -c$CONNS -d$DURATION (pfs, then bare)"
PUT_PFS=$(wrk_rps put-pfs "$PFS/api/v1/files?path=/memfs/put1k" "$TMP/put.lua")
PUT_BARE=$(wrk_rps put-bare "$BARE/api/v1/files?path=/put1k" "$TMP/put.lua")
PUT_RATIO=$(ratio "$PUT_PFS" "$PUT_BARE")
RSS_AFTER_SMALL=$(status_kb "$PFS_PID" VmRSS)
SMALL_REQS=$(awk '/requests in/ {n += $1} END {print n}' "$TMP/wrk-get-pfs.txt" "$TMP/wrk-put-pfs.txt")
[[ $(curl -s --max-time 5 "$PFS/api/v1/files?path=/memfs/put1k" | wc -c) == "$SMALL_BYTES" ]] ||
    die "after the PUT run, /memfs/put1k is not $SMALL_BYTES bytes"

# ---------------------------------------------------------------- 256 MiB
log "256 MiB: creating the file, PUT to pfs"
head -c "$BIG_BYTES" /dev/urandom >"$TMP/big.bin"
RSS_BEFORE_PUT=$(status_kb "$PFS_PID" VmRSS)
read -r code BIG_PUT_S < <(curl_put "$PFS/api/v1/files?path=/memfs/big" "$TMP/big.bin")
[[ $code == 200 ]] || die "PUT /memfs/big answered $code"
rm -f "$TMP/big.bin" # not needed any more (and /tmp may be RAM)
BIG_PUT_S=$(awk -v s="$BIG_PUT_S" 'BEGIN {printf "%.3f", s}')
BIG_PUT_MBS=$(awk -v b="$BIG_BYTES" -v s="$BIG_PUT_S" 'BEGIN {printf "%.0f", b / s / 1e6}')
RSS_AFTER_PUT=$(status_kb "$PFS_PID" VmRSS)

log "256 MiB GET x$GET_REPEAT per server (pfs and bare alternating), sampling pfs VmRSS every 20 ms"
rss_sampler "$PFS_PID" "$TMP/rss-pfs" &
SAMPLER_PFS=$!
PIDS+=("$SAMPLER_PFS")
rss_sampler "$BARE_PID" "$TMP/rss-bare" &
SAMPLER_BARE=$!
PIDS+=("$SAMPLER_BARE")
BIG_PFS=0
BIG_BARE=0
for i in $(seq "$GET_REPEAT"); do
    for who in pfs bare; do
        if [[ $who == pfs ]]; then url="$PFS/api/v1/files?path=/memfs/big"; else url="$BARE/api/v1/files?path=/big"; fi
        read -r code size speed < <(curl -sS -o /dev/null --max-time 300 \
            -w '%{http_code} %{size_download} %{speed_download}\n' "$url")
        [[ $code == 200 && $size == "$BIG_BYTES" ]] || die "GET big from $who: HTTP $code, $size bytes"
        log "  GET #$i $who: $(awk -v s="$speed" 'BEGIN {printf "%.0f", s / 1e6}') MB/s"
        if [[ $who == pfs ]]; then
            ge "$BIG_PFS" "$speed" || BIG_PFS=$speed
            echo "$speed" >>"$TMP/speeds-pfs"
        else
            ge "$BIG_BARE" "$speed" || BIG_BARE=$speed
            echo "$speed" >>"$TMP/speeds-bare"
        fi
    done
done
touch "$TMP/rss-pfs.stop" "$TMP/rss-bare.stop"
wait "$SAMPLER_PFS" "$SAMPLER_BARE" 2>/dev/null || true
RSS_GET_PFS=$(cat "$TMP/rss-pfs")
RSS_GET_BARE=$(cat "$TMP/rss-bare")
HWM_PFS=$(status_kb "$PFS_PID" VmHWM)
BIG_PFS_MBS=$(awk -v s="$BIG_PFS" 'BEGIN {printf "%.0f", s / 1e6}')
BIG_BARE_MBS=$(awk -v s="$BIG_BARE" 'BEGIN {printf "%.0f", s / 1e6}')
BIG_RATIO=$(ratio "$BIG_PFS" "$BIG_BARE")
# Medians, shown next to the best: a single 256 MiB GET lasts well under a second and varies a lot.
median_mbs() { sort -g "$1" | awk '{v[NR] = $1} END {m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.0f", m / 1e6}'; }
MED_PFS_MBS=$(median_mbs "$TMP/speeds-pfs")
MED_BARE_MBS=$(median_mbs "$TMP/speeds-bare")
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- report
RSS_GET_MIB=$(mib "$RSS_GET_PFS")
lat() { awk '$1 == "99%" {print $2}' "$TMP/wrk-$1.txt"; }
TABLE=$(
    cat <<EOF
| Measurement | pfs | bare axum | pfs / bare | Target | Result |
|---|---:|---:|---:|---|:---:|
| 1 KiB GET, req/s (p99 latency) | $(fmt0 "$GET_PFS") ($(lat get-pfs)) | $(fmt0 "$GET_BARE") ($(lat get-bare)) | $GET_RATIO | ≥ 0.70× bare | $(verdict "$GET_RATIO" 0.7) |
| 1 KiB PUT, req/s (p99 latency) | $(fmt0 "$PUT_PFS") ($(lat put-pfs)) | $(fmt0 "$PUT_BARE") ($(lat put-bare)) | $PUT_RATIO | (reported) | — |
| 256 MiB GET, MB/s: best of $GET_REPEAT (median) | $BIG_PFS_MBS ($MED_PFS_MBS) | $BIG_BARE_MBS ($MED_BARE_MBS) | $BIG_RATIO ($(ratio "$MED_PFS_MBS" "$MED_BARE_MBS")) | ≥ 0.70× bare | $(verdict "$BIG_RATIO" 0.7) |
| VmRSS before / after the $SMALL_REQS small requests, MiB (a leak shows here) | $(mib "$RSS_BEFORE_SMALL") / $(mib "$RSS_AFTER_SMALL") | — | — | (reported) | — |
| 256 MiB PUT into memfs, s (MB/s) | $BIG_PUT_S ($BIG_PUT_MBS) | — | — | (reported) | — |
| Peak VmRSS while serving the 256 MiB file, MiB | $RSS_GET_MIB | $(mib "$RSS_GET_BARE") | — | ≤ $RSS_TARGET_MIB MiB (256 + 48) | $(verdict "$RSS_TARGET_MIB" "$RSS_GET_MIB") |
| VmRSS before / after the 256 MiB PUT, MiB | $(mib "$RSS_BEFORE_PUT") / $(mib "$RSS_AFTER_PUT") | — | — | (reported) | — |
| VmHWM at the end (includes the PUT), MiB | $(mib "$HWM_PFS") | — | — | (reported) | — |
EOF
)
NOTES="wrk -t$THREADS -c$CONNS -d$DURATION; loopback; load average before / after: $LOAD_BEFORE / $LOAD_AFTER."
if [[ -e $TMP/wrk-errors ]]; then
    NOTES+=" wrk reported errors in: $(tr '\n' ' ' <"$TMP/wrk-errors")."
fi

echo
echo "$TABLE"
echo
echo "$NOTES"

if ((RECORD)); then
    CMD="bash bench/run.sh --record"
    [[ $DURATION != 10s || $CONNS != 64 || $THREADS != 2 || $GET_REPEAT != 3 ]] &&
        CMD="DURATION=$DURATION CONNS=$CONNS THREADS=$THREADS GET_REPEAT=$GET_REPEAT $CMD"
    [[ ${NO_BUILD:-0} == 1 ]] && CMD="NO_BUILD=1 $CMD"
    COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
    git diff --quiet HEAD -- server fs-core builtin-plugins 2>/dev/null || COMMIT+=" (+ uncommitted changes)"
    CPU=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
    BLOCK=$(
        cat <<EOF
<!-- BEGIN RESULTS (written by bench/run.sh --record; edit outside these markers) -->
Recorded $(date -u '+%Y-%m-%d %H:%M UTC') with \`$CMD\`.

Machine: $(nproc) CPUs (${CPU:-unknown CPU}), Linux $(uname -r), $(wrk -v 2>&1 | head -1 | awk '{print $1, $2}'), $(rustc --version | awk '{print $1, $2}'); pfs at commit $COMMIT.
Client (wrk, curl) and servers share the same CPUs.

$TABLE

$NOTES
<!-- END RESULTS -->
EOF
    )
    OUT=$ROOT/bench/RESULTS.md
    if [[ -f $OUT ]] && grep -q '^<!-- BEGIN RESULTS' "$OUT" && grep -q '^<!-- END RESULTS' "$OUT"; then
        printf '%s\n' "$BLOCK" >"$TMP/block.md"
        awk -v blockfile="$TMP/block.md" '
            /^<!-- BEGIN RESULTS/ { while ((getline line < blockfile) > 0) print line; skip = 1; next }
            /^<!-- END RESULTS/ { skip = 0; next }
            !skip { print }
        ' "$OUT" >"$TMP/results.md"
        cat "$TMP/results.md" >"$OUT"
    else
        {
            echo "# Benchmark results"
            echo
            echo "pfs-server (memfs) against a bare axum server serving the same bytes; see [README.md](README.md)."
            echo
            echo "$BLOCK"
        } >"$OUT"
    fi
    log "recorded in bench/RESULTS.md"
fi
