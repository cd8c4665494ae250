import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { startCluster } from '../helpers/cluster.ts';
import { NodeProcess } from '../helpers/node-process.ts';
import { databaseChecksum, runSqliteCli } from '../helpers/sqlite.ts';

test('a DROP TABLE, then a VACUUM that shrinks the file, apply on a replica, and the replica goes on applying', async () => {
  const c = await startCluster(2);
  const [replica] = c.replicas;
  const db = path.join(c.primary.dir, 'app.db');
  await runSqliteCli(db, ".timeout 5000\nPRAGMA journal_mode=WAL; CREATE TABLE keep(v); CREATE TABLE big(v); INSERT INTO keep VALUES ('kept'); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000) INSERT INTO big SELECT randomblob(500) FROM n;");
  const before = await c.primary.waitForCapture('app.db');
  await replica!.waitForTxid('app.db', before.txid);
  await runSqliteCli(db, '.timeout 5000\nDROP TABLE big;');
  // Applied on its own (a schema change without truncation), then the VACUUM (a truncation).
  await replica!.waitForTxid('app.db', before.txid + 1);
  await runSqliteCli(db, '.timeout 5000\nVACUUM;');
  await runSqliteCli(db, ".timeout 5000\nINSERT INTO keep VALUES ('after the vacuum');");
  const after = await c.primary.waitForCapture('app.db');
  assert.ok(after.pages < before.pages / 10, `the file shrank from ${before.pages} to ${after.pages} pages`);
  await replica!.waitForTxid('app.db', after.txid);
  const replicaDb = path.join(replica!.dir, 'app.db');
  assert.equal(databaseChecksum(replicaDb).checksum, databaseChecksum(db).checksum);
  assert.equal(await runSqliteCli(replicaDb, "SELECT v FROM keep; SELECT count(*) FROM sqlite_schema WHERE name = 'big'; PRAGMA integrity_check;", ['-readonly']), 'kept\nafter the vacuum\n0\nok\n');
  assert.doesNotMatch(replica!.output, /cannot apply|malformed/);
});

test("a replica whose database shrank, restarted as the primary, logs its app's commits at the size SQLite goes by: its checksum is its file's", async () => {
  const c = await startCluster(2);
  const [replica] = c.replicas;
  const db = path.join(c.primary.dir, 'app.db');
  await runSqliteCli(db, ".timeout 5000\nPRAGMA journal_mode=WAL; CREATE TABLE keep(v); CREATE TABLE big(v); INSERT INTO keep VALUES ('kept'); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000) INSERT INTO big SELECT randomblob(500) FROM n;");
  // The replica must have the large file before the shrink: one that joins after it is sent a snapshot of the small file.
  await replica!.waitForTxid('app.db', (await c.primary.waitForCapture('app.db')).txid);
  await runSqliteCli(db, '.timeout 5000\nDROP TABLE big;');
  await runSqliteCli(db, '.timeout 5000\nVACUUM;');
  const shrunk = await c.primary.waitForCapture('app.db');
  await replica!.waitForTxid('app.db', shrunk.txid);
  const replicaDb = path.join(replica!.dir, 'app.db');
  // What makes this case: the replica's file still holds the pages the shrink cut off.
  assert.ok(fs.statSync(replicaDb).size > shrunk.pages * shrunk.pageSize * 10, `${replicaDb} is ${fs.statSync(replicaDb).size} bytes for ${shrunk.pages} pages`);
  await c.primary.stop();
  await replica!.stop();

  const promoted = await NodeProcess.start({ root: replica!.root });
  try {
    const start = (await promoted.info()).databases.find((d) => d.name === 'app.db')!;
    await runSqliteCli(replicaDb, ".timeout 5000\nINSERT INTO keep VALUES ('on the new primary');");
    await runSqliteCli(replicaDb, ".timeout 5000\nINSERT INTO keep VALUES ('and again');");
    await promoted.waitForTxid('app.db', start.txid + 2);
    const info = (await promoted.info()).databases.find((d) => d.name === 'app.db')!;
    const file = databaseChecksum(replicaDb);
    assert.equal(info.pages, file.pageCount, 'logged at the size page_count answers');
    assert.equal(info.checksum, file.checksum.toString(16).padStart(16, '0'), 'the checksum the node logged is its file\'s');
  } finally {
    await promoted.stop();
  }
});
