# Helpers shared by the bench scripts that watch a server's memory (source it; PID must be set).

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
