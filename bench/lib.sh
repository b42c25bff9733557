# Helpers shared by the bench scripts: memory sampling (PID set), ports, wrk runs with the server's CPU
# per request, ratios, recording into RESULTS.md. Source it.

# A /proc/$PID/status field in KiB (VmRSS, VmHWM).
kb() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$PID/status"; }

# Runs a command, sampling the server's VmRSS every 20 ms; prints the peak in KiB.
peak_during() {
  local max=0 v
  "$@" &
  local job=$!
  while kill -0 "$job" 2>/dev/null; do v=$(kb VmRSS); ((v > max)) && max=$v; sleep 0.02; done
  wait "$job"
  echo "$max"
}

mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }
growth() { awk -v p="$1" -v b="$2" 'BEGIN {printf "%.1f", (p - b) / 1024}'; }
verdict() { awk -v g="$1" 'BEGIN {print (g < 64 ? "PASS" : "MISS")}'; }
seconds_since() { awk -v s="$1" -v e="$(date +%s.%N)" 'BEGIN {printf "%.2f", e - s}'; }
mb_per_s() { awk -v m="$1" -v s="$2" 'BEGIN {printf "%.0f", m * 1.048576 / s}'; }

# record_section MARKER TITLE BLOCK: replaces the text between <!-- BEGIN MARKER --> and
# <!-- END MARKER --> in bench/RESULTS.md, or appends it under "## TITLE".
record_section() {
  python3 - "$1" "$2" "$3" <<'PY'
import re, sys
marker, title, body = sys.argv[1:4]
p = "bench/RESULTS.md"
s = open(p).read()
begin, end = f"<!-- BEGIN {marker} -->", f"<!-- END {marker} -->"
block = f"{begin}\n{body}\n{end}"
if begin in s:
    s = re.sub(re.escape(begin) + r".*?" + re.escape(end), lambda m: block, s, flags=re.S)
else:
    s = s.rstrip() + f"\n\n## {title}\n\n" + block + "\n"
open(p, "w").write(s)
PY
}

# settle_rss PID: waits (at most 10 s) until PID's VmRSS stops changing for 0.2 s: after a large
# free, jemalloc's background thread hands pages back for about a second, on PID's CPU clock.
settle_rss() {
  local last=0 now
  for _ in $(seq 50); do
    now=$(awk '$1 == "VmRSS:" {print $2}' "/proc/$1/status")
    [[ $now == "$last" ]] && return 0
    last=$now
    sleep 0.2
  done
}

# A free loopback port.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# wait_ready URL PID: polls URL until it answers 200 (at most ~20 s) while PID lives.
wait_ready() {
  for _ in $(seq 200); do
    kill -0 "$2" 2>/dev/null || return 1
    curl -sf -o /dev/null --max-time 1 "$1" && return 0
    sleep 0.1
  done
  return 1
}

# cpu_ticks PID: the process's user + system CPU so far, in clock ticks (/proc/PID/stat).
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# measure PID URL [LUA]: one wrk run (-t$THREADS -c$CONNS -d$DURATION, defaults 2/64/10s) against
# URL, served by PID; prints "req/s server-CPU-µs-per-request p99-latency non-2xx-count". CPU per
# request is PID's utime+stime over the run divided by the requests wrk completed: on a shared
# machine it moves far less than req/s.
measure() {
  local pid=$1 url=$2 lua=${3:-} before after out
  local args=(-t"${THREADS:-2}" -c"${CONNS:-64}" -d"${DURATION:-10s}" --latency)
  [[ -n $lua ]] && args+=(-s "$lua")
  before=$(cpu_ticks "$pid")
  out=$(wrk "${args[@]}" "$url")
  after=$(cpu_ticks "$pid")
  awk -v b="$before" -v a="$after" -v hz="$(getconf CLK_TCK)" '
    /requests in/ {n = $1}
    /^Requests\/sec:/ {r = $2}
    $1 == "99%" {p = $2}
    /Non-2xx/ {e = $NF}
    END {printf "%.0f %.2f %s %d\n", r, (a - b) * 1e6 / hz / n, p, e}' <<<"$out"
}

# ratio A B: A / B with two decimals.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.2f", a / b; else print "n/a"}'; }

# median N...: the median of the numbers given.
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; print m}'; }

# ensure_wrk: installs wrk from Debian's packages when missing.
ensure_wrk() {
  command -v wrk >/dev/null && return 0
  apt-get install -y -qq wrk >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
}
