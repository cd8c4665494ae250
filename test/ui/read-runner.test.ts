import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { LitefleetError } from '../../src/errors.ts';
import { ReadRunner } from '../../src/ui/read-runner.ts';
import { makeTempDir } from '../helpers/temp-dir.ts';

test('the reader process answers reads, turns errors into request errors, and is killed when a statement runs past the time limit', async () => {
  const file = path.join(makeTempDir('litefleet-reader-'), 'app.db');
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.exec("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t(v) VALUES ('a'), ('b')");
  const reader = new ReadRunner();
  try {
    assert.deepEqual(await reader.run({ op: 'tables', file }), [{ name: 't', type: 'table', rows: { count: 2, atLeast: false } }]);
    await assert.rejects(reader.run({ op: 'table', file, table: 'nope' }), (err: unknown) => err instanceof LitefleetError && err.code === 'ENOTFOUND' && /no table nope; the tables are: t/.test(err.message));

    const endless = 'WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c) SELECT count(*) FROM c';
    const started = performance.now();
    await assert.rejects(reader.run({ op: 'console', file, sql: endless }, 500), (err: unknown) => err instanceof LitefleetError && err.code === 'ETIMEOUT' && /ran longer than 0.5 s/.test(err.message));
    assert.ok(performance.now() - started < 5_000, 'stopped at the limit, not when the statement ended');
    // The killed process held a read on the database; a writer goes on, and the next read starts a new process.
    db.exec("INSERT INTO t(v) VALUES ('c')");
    const out = await reader.run<{ kind: string; results: Array<{ rows: unknown[][] }> }>({ op: 'console', file, sql: 'SELECT count(*) FROM t' });
    assert.deepEqual(out.results[0]!.rows, [[3]]);
  } finally {
    reader.close();
    db.close();
  }
});
