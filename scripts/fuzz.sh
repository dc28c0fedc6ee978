#!/usr/bin/env bash
# Runs every fuzz target in the module for the given time each (default 60s).
# New crashers land in the package's testdata/fuzz/<Target>/ as Go writes them.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${1:-60s}
status=0
for pkg in $(go list ./...); do
  for target in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
    echo "== $pkg $target ($fuzztime)"
    if ! go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg"; then
      status=1
    fi
  done
done
exit $status
