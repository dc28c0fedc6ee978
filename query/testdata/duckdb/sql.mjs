// Runs one SQL statement with DuckDB, knowing nothing of readout, and prints
// its rows as JSON Lines on stdout: query/duckdb_test.go compares them with
// `readout query` for the stream tables. DuckDB is the package that
// test/duckdb installs (npm ci there), found from that folder.
//
//   node sql.mjs PACKAGE_DIR SQL
import { createRequire } from 'node:module';
import path from 'node:path';

// line serialises one row as JSON, keeping 64-bit integers exact: DuckDB
// returns them as BigInt, which JSON.stringify refuses.
function line(row) {
  const parts = Object.entries(row).map(([k, v]) =>
    JSON.stringify(k) + ':' + (typeof v === 'bigint' ? v.toString() : JSON.stringify(v)));
  return '{' + parts.join(',') + '}';
}

async function main(argv) {
  if (argv.length !== 2) {
    process.stderr.write('usage: node sql.mjs PACKAGE_DIR SQL\n');
    return 2;
  }
  const require = createRequire(path.resolve(argv[0], 'package.json'));
  const { DuckDBInstance } = require('@duckdb/node-api');
  const instance = await DuckDBInstance.create(':memory:');
  const conn = await instance.connect();
  try {
    const reader = await conn.runAndReadAll(argv[1]);
    for (const row of reader.getRowObjectsJS()) {
      process.stdout.write(line(row) + '\n');
    }
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err) => { process.stderr.write(`sql.mjs: ${err.message}\n`); process.exitCode = 1; },
);
