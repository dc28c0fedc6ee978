#!/usr/bin/env bash
# Installs what the tests need beyond Go modules, when it is missing:
#   capnp  - the reference Cap'n Proto tool, for wire-format interop tests;
#   DuckDB - through its Node package, to read the Parquet output as a user would.
# Safe to run repeatedly; it does nothing when everything is present.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v capnp >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing capnproto (apt)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq capnproto >/dev/null
  else
    echo "note: capnp is missing, so interop tests will be skipped; install it with 'apt-get install capnproto'" >&2
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
