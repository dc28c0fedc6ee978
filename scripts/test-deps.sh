#!/usr/bin/env bash
# Installs what the tests need beyond Go modules, when it is missing:
#   capnp  - the reference Cap'n Proto tool, for wire-format interop tests;
#   chattr - from e2fsprogs, to make a spool directory unwritable in disk-fault tests;
#   DuckDB - through its Node package, to read the Parquet output as a user would.
# Safe to run repeatedly; it does nothing when everything is present.
set -euo pipefail
cd "$(dirname "$0")/.."

# capnp for wire-format interop; chattr (e2fsprogs) for the disk-fault tests.
missing=()
command -v capnp >/dev/null || missing+=(capnproto)
command -v chattr >/dev/null || missing+=(e2fsprogs)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing ${missing[*]} (apt)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "note: ${missing[*]} missing, so the tests that need them will be skipped; install with 'apt-get install ${missing[*]}'" >&2
  fi
fi

if [ -f test/duckdb/package.json ] && [ ! -d test/duckdb/node_modules ]; then
  if command -v npm >/dev/null; then
    echo "installing DuckDB for Node (npm ci in test/duckdb)"
    (cd test/duckdb && npm ci --no-audit --no-fund --loglevel=error)
  else
    echo "note: npm is missing, so DuckDB checks will be skipped" >&2
  fi
fi
