// Reads the stream tables of readout's Parquet output with DuckDB, knowing
// nothing of readout, and prints one JSON line per table and key with the
// sums a user would take: exact integers (BigInt printed as digits).
// test/e2e compares them with loadgen's truth.
//
//   node streams.mjs OUTDIR
import { DuckDBInstance } from '@duckdb/node-api';

const glob = (dir, table) => `read_parquet(${lit(dir + '/' + table + '/**/*.parquet')}, hive_partitioning = true)`;

const queries = {
  instance_state: (dir) => `
    SELECT deployment_key AS key, sum(reports)::BIGINT AS reports, sum(active_ns)::BIGINT AS active_ns,
           sum(boot_ns)::BIGINT AS boot_ns, sum(idle_ns)::BIGINT AS idle_ns, sum(duration_ns)::BIGINT AS duration_ns,
           sum(concurrency_ns)::BIGINT AS concurrency_ns
    FROM ${glob(dir, 'instance_state')} GROUP BY 1 ORDER BY 1`,
  predictions: (dir) => `
    SELECT deployment_key AS key, sum(predictions)::BIGINT AS predictions, sum(succeeded)::BIGINT AS succeeded,
           sum(failed)::BIGINT AS failed, sum(canceled)::BIGINT AS canceled, sum(aborted)::BIGINT AS aborted,
           sum(input_tokens)::BIGINT AS input_tokens, sum(output_tokens)::BIGINT AS output_tokens,
           sum(images)::BIGINT AS images
    FROM ${glob(dir, 'predictions')} GROUP BY 1 ORDER BY 1`,
  setup_runs: (dir) => `
    SELECT deployment_key AS key, count(*)::BIGINT AS runs
    FROM ${glob(dir, 'setup_runs')} GROUP BY 1 ORDER BY 1`,
  downloads: (dir) => `
    SELECT host AS key, sum(downloads)::BIGINT AS downloads, sum(errors)::BIGINT AS errors,
           sum(bytes)::BIGINT AS bytes, sum(duration_us)::BIGINT AS duration_us
    FROM ${glob(dir, 'downloads')} GROUP BY 1 ORDER BY 1`,
};

function lit(s) {
  return "'" + s.replaceAll("'", "''") + "'";
}

function line(row) {
  const parts = Object.entries(row).map(([k, v]) =>
    JSON.stringify(k) + ':' + (typeof v === 'bigint' ? v.toString() : JSON.stringify(v)));
  return '{' + parts.join(',') + '}';
}

async function main(argv) {
  if (argv.length !== 1) {
    process.stderr.write('usage: node streams.mjs OUTDIR\n');
    return 2;
  }
  const instance = await DuckDBInstance.create(':memory:');
  const conn = await instance.connect();
  try {
    for (const [table, q] of Object.entries(queries)) {
      const reader = await conn.runAndReadAll(q(argv[0]));
      for (const row of reader.getRowObjectsJS()) {
        process.stdout.write(line({ table, ...row }) + '\n');
      }
    }
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err) => { process.stderr.write(`streams.mjs: ${err.message}\n`); process.exitCode = 1; },
);
