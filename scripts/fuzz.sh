#!/usr/bin/env bash
# Runs every fuzz target in the module, one at a time, for FUZZTIME each (default 60s).
# Usage: scripts/fuzz.sh [fuzztime] [package-pattern]
# New crashers land in the package's testdata/fuzz/<Target>/ as Go writes them, which makes them
# regression seeds for plain `go test`. Logs go to ${FUZZLOG:-$TMPDIR/readout-fuzz}/<pkg>.<Target>.log,
# and a one-line summary per target (execs, new interesting inputs, verdict) is printed at the end.
# Exits non-zero if any target found a failure, did not build, or stalled. Go's fuzzer fails an
# input that runs over 10 s, but only if the worker can still run its timer: a worker that swaps or
# is stuck outside Go just stops counting executions, and the run still says PASS. So a run whose
# exec count and corpus size stand still for STALL_LINES progress lines in a row (3 s each; default
# 8) is reported as STALL. Minimizing a new input also stops the count (but grows the corpus) and is
# capped at FUZZMINIMIZETIME (default 10s). Each run gets a virtual memory cap (FUZZ_VMEM_KB,
# default 8 GiB) so that an input that makes a decoder allocate gigabytes crashes the worker (Go
# then keeps the input in testdata/fuzz/<Target>/) instead of swapping the machine.
set -uo pipefail
cd "$(dirname "$0")/.."
fuzztime=${1:-60s}
pattern=${2:-./...}
logdir=${FUZZLOG:-${TMPDIR:-/tmp}/readout-fuzz}
stall_lines=${STALL_LINES:-8}
minimize=${FUZZMINIMIZETIME:-10s}
vmem_kb=${FUZZ_VMEM_KB:-8388608}
mkdir -p "$logdir"
status=0
summary=()
for pkg in $(go list "$pattern"); do
  targets=$(go test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true)
  for target in $targets; do
    log="$logdir/$(basename "$pkg").$target.log"
    echo "== $pkg $target ($fuzztime)"
    if (ulimit -v "$vmem_kb"; go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -fuzzminimizetime "$minimize" "$pkg") 2>&1 | tee "$log"; then
      verdict=ok
    else
      verdict=FAIL
      status=1
    fi
    # The longest run of progress lines (the closing one excluded) in which neither the exec count
    # nor the corpus size moved: minimising new inputs stops the count, up to FUZZMINIMIZETIME each,
    # but grows the corpus, and several in a row must not read as a stall.
    stalled=$(grep -E '^fuzz: elapsed: .*execs:' "$log" | sed -nE 's/.*execs: ([0-9]+).*\(total: ([0-9]+)\).*/\1 \2/p' | head -n -1 |
      awk 'NR > 1 && $0 == prev { run++; if (run > max) max = run; next } { run = 0 } { prev = $0 } END { print max + 0 }')
    if [ "$verdict" = ok ] && [ "$stalled" -ge "$stall_lines" ]; then
      verdict=STALL
      status=1
      echo "!! $target: no execution finished for $stalled progress lines in a row: an input hangs or allocates without bound"
    fi
    # The last progress line carries the totals, e.g.
    # "fuzz: elapsed: 1m0s, execs: 123 (2/sec), new interesting: 4 (total: 9)".
    last=$(grep -E '^fuzz: elapsed: .*execs:' "$log" | tail -n 1 || true)
    execs=$(sed -nE 's/.*execs: ([0-9]+).*/\1/p' <<<"$last")
    newi=$(sed -nE 's/.*new interesting: ([0-9]+) \(total: ([0-9]+)\).*/\1 (total \2)/p' <<<"$last")
    summary+=("$(printf '%-8s %-50s %-26s execs=%-12s new-interesting=%s' "$verdict" "$pkg" "$target" "${execs:-?}" "${newi:-?}")")
  done
done
echo
echo "== fuzz summary ($fuzztime per target)"
printf '%s\n' "${summary[@]}"
exit $status
