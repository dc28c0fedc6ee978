// Reads readout's Parquet output with DuckDB, knowing nothing of readout, and
// prints JSON Lines on stdout. query/duckdb_test.go compares them with
// `readout query` and `readout audit`.
//
//   node totals.mjs OUTDIR            per model: sums of the counters
//   node totals.mjs --schema OUTDIR   column name and DuckDB type of the inference table
//   node totals.mjs --audit OUTDIR    per emitter: the audit table merged across collectors
//   node totals.mjs --streams OUTDIR  per table of the instance streams and key: the sums a user
//                                     would take, as exact integers (test/e2e/streams_test.go)
import { DuckDBInstance } from '@duckdb/node-api';

const glob = (dir, table) => `read_parquet(${lit(dir + '/' + table + '/**/*.parquet')}, hive_partitioning = true)`;

// streamQueries are the --streams mode's, one per table; each row is
// printed with its table's name.
const streamQueries = {
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

const queries = {
  totals: (dir) => `
    SELECT model_id,
           sum(requests)::BIGINT      AS requests,
           sum(errors)::BIGINT        AS errors,
           sum(neurons)               AS neurons,
           sum(input_tokens)::BIGINT  AS input_tokens,
           sum(output_tokens)::BIGINT AS output_tokens,
           sum(streamed)::BIGINT      AS streamed
    FROM read_parquet(${lit(dir + '/inference/**/*.parquet')}, hive_partitioning = true)
    GROUP BY 1 ORDER BY 1`,
  schema: (dir) => `
    DESCRIBE SELECT * FROM read_parquet(${lit(dir + '/inference/**/*.parquet')}, hive_partitioning = true)`,
  audit: (dir) => `
    SELECT emitter_id,
           max(last_seq)             AS sent,
           sum(received)::BIGINT     AS received,
           max(dropped)              AS dropped,
           sum(duplicates)::BIGINT   AS duplicates,
           bool_or(closed)           AS closed
    FROM read_parquet(${lit(dir + '/audit/*.parquet')})
    GROUP BY 1 ORDER BY 1`,
};

// lit quotes a string as an SQL literal.
function lit(s) {
  return "'" + s.replaceAll("'", "''") + "'";
}

// line serialises one row as JSON, keeping 64-bit integers exact: DuckDB
// returns them as BigInt, which JSON.stringify refuses.
function line(row) {
  const parts = Object.entries(row).map(([k, v]) =>
    JSON.stringify(k) + ':' + (typeof v === 'bigint' ? v.toString() : JSON.stringify(v)));
  return '{' + parts.join(',') + '}';
}

async function main(argv) {
  let mode = 'totals';
  if (argv[0] === '--schema' || argv[0] === '--audit' || argv[0] === '--streams') {
    mode = argv.shift().slice(2);
  }
  if (argv.length !== 1) {
    process.stderr.write('usage: node totals.mjs [--schema|--audit|--streams] OUTDIR\n');
    return 2;
  }
  const instance = await DuckDBInstance.create(':memory:');
  const conn = await instance.connect();
  try {
    const runs = mode === 'streams'
      ? Object.entries(streamQueries)
      : [[null, queries[mode]]];
    for (const [table, q] of runs) {
      const reader = await conn.runAndReadAll(q(argv[0]));
      for (const row of reader.getRowObjectsJS()) {
        process.stdout.write(line(table ? { table, ...row } : row) + '\n');
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
  (err) => { process.stderr.write(`totals.mjs: ${err.message}\n`); process.exitCode = 1; },
);
