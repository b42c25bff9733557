#!/usr/bin/env bash
# Storage plugins under load against memfs, in one server and one run: 1 KiB GETs and PUTs at 64
# connections on sqlfs (SQLite) and localfs, each round running memfs (the reference) and then the
# plugin back to back. Reports req/s, the server's CPU per request and p99 latency, and the
# per-round ratios to memfs. Targets (performance issue): sqlfs GET ≥ 0.5× memfs and sqlfs PUT p99
# ≤ 50 ms; localfs small whole-file writes ≥ 0.3× memfs.
#
# New files on localfs cost what the kernel charges for an inode, and on ext4 without a journal
# (this machine's disk) that swings 10× with how many inodes were deleted in the last half
# minute. So each round also runs the kernel alone doing what localfs does (bench/creates.c:
# O_TMPFILE + linkat, no HTTP) on the same disk right before localfs, and runs localfs on a tmpfs
# (/dev/shm) as well, where the kernel's share is small.
#
#   bash bench/stores.sh            # print the table
#   bash bench/stores.sh --record   # ... and write it into bench/RESULTS.md (between markers)
#
# Env: DURATION (each wrk run, default 10s), ROUNDS (default 3), CONNS (64), NO_BUILD=1.
# Loopback only; everything started here is stopped on exit, its files removed.
set -euo pipefail
RECORD=0
[[ ${1:-} == --record ]] && RECORD=1
export DURATION=${DURATION:-10s} CONNS=${CONNS:-64} THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-3}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=bench/lib.sh
source bench/lib.sh
ensure_wrk
TMP=$(mktemp -d "${TMPDIR:-/tmp}/pfs-bench-stores.XXXXXX")
PID=""
cleanup() {
  [[ -n $PID ]] && kill "$PID" 2>/dev/null
  wait 2>/dev/null || true
  rm -rf "$TMP" ${SHM:+"$SHM"}
}
trap cleanup EXIT
[[ ${NO_BUILD:-0} == 1 ]] || cargo build -q --release -p pfs-server
mkdir -p "$TMP/local"
cc -O2 -pthread -o "$TMP/creates" bench/creates.c
SHM=""
if [[ $(stat -f -c %T /dev/shm 2>/dev/null) == tmpfs ]]; then
  SHM=$(mktemp -d /dev/shm/pfs-bench-stores.XXXXXX)
fi
PORT=$(free_port)
cat >"$TMP/pfs.yaml" <<YAML
server: {address: "127.0.0.1:$PORT", log_level: warn}
plugins:
  memfs: {path: /memfs}
  sqlfs: {path: /sqlfs, config: {backend: sqlite, db_path: '$TMP/sqlfs.db'}}
  localfs:
    - {name: disk, path: /local, config: {local_dir: '$TMP/local'}}
YAML
[[ -n $SHM ]] && cat >>"$TMP/pfs.yaml" <<YAML
    - {name: tmpfs, path: /shm, config: {local_dir: '$SHM'}}
YAML
"${CARGO_TARGET_DIR:-target}/release/pfs-server" -c "$TMP/pfs.yaml" 2>"$TMP/server.log" &
PID=$!
B="http://127.0.0.1:$PORT/api/v1"
wait_ready "$B/ready" "$PID" || { cat "$TMP/server.log" >&2; exit 1; }

head -c 1024 /dev/urandom >"$TMP/1k"
STORES="sqlfs local${SHM:+ shm}"
for m in memfs $STORES; do
  curl -sf -o /dev/null -T "$TMP/1k" "$B/files?path=/$m/small"
done
cat >"$TMP/put.lua" <<'LUA'
wrk.method = "PUT"
wrk.body = string.rep("x", 1024)
LUA
# A new file per request in the directory the URL's path parameter names.
cat >"$TMP/put-new.lua" <<'LUA'
local n = 0
tid = 0
function setup(thread) tid = tid + 1; thread:set("tid", tid) end
function init() body = string.rep("x", 1024) end
request = function()
  n = n + 1
  return wrk.format("PUT", wrk.path .. "/t" .. tid .. "-" .. n, nil, body)
end
LUA
RUN=0
fresh_dir() { # fresh_dir MOUNT: a new empty directory /MOUNT/new-N, its path in NEW_DIR
  RUN=$((RUN + 1))
  NEW_DIR=/$1/new-$RUN
  curl -sf -o /dev/null -X POST "$B/directories?path=$NEW_DIR"
}

declare -A RPS CPU P99 RATIO
run() { # run KIND MOUNT: one wrk run of KIND on MOUNT
  local url lua=""
  case $1 in
  get) url="$B/files?path=/$2/small" ;;
  put) url="$B/files?path=/$2/small" lua="$TMP/put.lua" ;;
  put-new)
    # A directory of its own per run (deleting the last run's files first would measure that).
    fresh_dir "$2"
    url="$B/files?path=$NEW_DIR" lua="$TMP/put-new.lua"
    ;;
  esac
  read -r rps cpu p99 bad < <(measure "$PID" "$url" "$lua")
  ((bad == 0)) || { echo "[bench] $1 on /$2: $bad non-2xx answers" >&2; exit 1; }
  RPS[$1-$2]+="$rps " CPU[$1-$2]+="$cpu " P99[$1-$2]+="$p99 "
  echo "[bench] $1 on /$2: $rps req/s, $cpu µs CPU/request, p99 $p99" >&2
  LAST=$rps
}
# The kernel alone making new 1 KiB files as localfs does, on localfs's disk, with as many threads
# as localfs has workers (one per CPU, 2..8).
KTHREADS=$(nproc)
((KTHREADS < 2)) && KTHREADS=2
((KTHREADS > 8)) && KTHREADS=8
kernel() {
  RUN=$((RUN + 1))
  mkdir "$TMP/local/kernel-$RUN"
  LAST=$(MODE=1 "$TMP/creates" "$TMP/local/kernel-$RUN" "${DURATION%s}" "$KTHREADS")
  RPS[kernel]+="$LAST "
  echo "[bench] kernel O_TMPFILE+linkat on the disk: $LAST files/s" >&2
}
for r in $(seq "$ROUNDS"); do
  for kind in get put put-new; do
    run "$kind" memfs
    ref=$LAST
    for m in $STORES; do
      if [[ $kind == put-new && $m == local ]]; then
        kernel
        RATIO[kernel]+="$(ratio "$LAST" "$ref") "
        kref=$LAST
        run "$kind" "$m"
        RATIO[kernel-local]+="$(ratio "$LAST" "$kref") "
      else
        run "$kind" "$m"
      fi
      RATIO[$kind-$m]+="$(ratio "$LAST" "$ref") "
    done
  done
done
ms() { awk '{v = $1; if (v ~ /us$/) v = v / 1000; else if (v ~ /ms$/) v = v + 0; else if (v ~ /s$/) v = v * 1000; printf "%.1f\n", v}'; }
row() { # row LABEL KIND MOUNT [TARGET-TEXT VERDICT]
  local rps cpu p99 rat
  # shellcheck disable=SC2086
  rps=$(median ${RPS[$2-$3]}) cpu=$(median ${CPU[$2-$3]})
  # shellcheck disable=SC2086
  p99=$(median $(printf '%s\n' ${P99[$2-$3]} | ms))
  rat="—"
  # shellcheck disable=SC2086
  [[ $3 != memfs ]] && rat="$(median ${RATIO[$2-$3]}) ($(printf '%s\n' ${RATIO[$2-$3]} | sort -g | sed -n '1p;$p' | paste -sd-))"
  echo "| $1 | $(printf '%.0f' "$rps") | $cpu | $p99 | $rat | ${4:-(reported)} | ${5:-—} |"
}
at_least() { awk -v a="$1" -v b="$2" 'BEGIN {print (a >= b) ? "PASS" : "MISS"}'; }
at_most() { awk -v a="$1" -v b="$2" 'BEGIN {print (a <= b) ? "PASS" : "MISS"}'; }
# shellcheck disable=SC2086
SQL_GET=$(median ${RATIO[get-sqlfs]}) SQL_P99=$(median $(printf '%s\n' ${P99[put-sqlfs]} ${P99[put-new-sqlfs]} | ms | sort -g | tail -1))
# shellcheck disable=SC2086
LOC_PUT=$(median ${RATIO[put-local]}) LOC_NEW=$(median ${RATIO[put-new-local]})
range() { printf '%s\n' "$@" | sort -g | sed -n '1p;$p' | paste -sd-; }
# shellcheck disable=SC2086
KERNEL_ROW="| kernel alone, O_TMPFILE + linkat, $KTHREADS threads, same disk | $(printf '%.0f' "$(median ${RPS[kernel]})") | — | — | $(median ${RATIO[kernel]}) ($(range ${RATIO[kernel]})) | (the disk's ceiling) | — |"
# shellcheck disable=SC2086
KERNEL_LOCAL="$(median ${RATIO[kernel-local]}) ($(range ${RATIO[kernel-local]}))"
SHM_ROWS=""
if [[ -n $SHM ]]; then
  # shellcheck disable=SC2086
  SHM_PUT=$(median ${RATIO[put-shm]}) SHM_NEW=$(median ${RATIO[put-new-shm]})
  SHM_ROWS="$(row "PUT one file, localfs on tmpfs" put shm "≥ 0.3× memfs" "$(at_least "$SHM_PUT" 0.3)")
$(row "PUT a new file each, localfs on tmpfs" put-new shm "≥ 0.3× memfs" "$(at_least "$SHM_NEW" 0.3)")"
fi
TABLE=$(cat <<EOF
| 1 KiB, $CONNS connections, $ROUNDS rounds (medians) | req/s | server CPU µs/req | p99 ms | ratio to memfs in the round (range) | Target | Result |
|---|---:|---:|---:|---:|---|:---:|
$(row "GET memfs" get memfs)
$(row "GET sqlfs" get sqlfs "≥ 0.5× memfs" "$(at_least "$SQL_GET" 0.5)")
$(row "GET localfs" get local)
$(row "PUT one file, memfs" put memfs)
$(row "PUT one file, sqlfs" put sqlfs "p99 ≤ 50 ms" "$(at_most "$SQL_P99" 50)")
$(row "PUT one file, localfs" put local "≥ 0.3× memfs" "$(at_least "$LOC_PUT" 0.3)")
$(row "PUT a new file each, memfs" put-new memfs)
$(row "PUT a new file each, sqlfs" put-new sqlfs "p99 ≤ 50 ms" "$(at_most "$SQL_P99" 50)")
$(row "PUT a new file each, localfs" put-new local "≥ 0.3× memfs" "$(at_least "$LOC_NEW" 0.3)")
$KERNEL_ROW
${SHM_ROWS}
EOF
)
TABLE+="

localfs new files against the kernel alone in the same round (median, range): $KERNEL_LOCAL."
echo "$TABLE"
if ((RECORD)); then
  record_section STORES "Storage plugins under load (sqlfs, localfs)" "Recorded $(date -u '+%Y-%m-%d %H:%M') UTC with \`bash bench/stores.sh --record\`; $(nproc) CPUs; wrk -t$THREADS -c$CONNS -d$DURATION per run; pfs at commit $(git rev-parse --short HEAD).

$TABLE"
  echo "[bench] recorded in bench/RESULTS.md" >&2
fi
