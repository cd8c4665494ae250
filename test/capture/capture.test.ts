import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { makeTempDir } from '../helpers/temp-dir.ts';
import { NodeProcess } from '../helpers/node-process.ts';
import { replayLog } from '../helpers/replay.ts';
import { createAppDatabase, databaseChecksum, dumpRows, integrityCheck, runSqliteCli, runWriter } from '../helpers/sqlite.ts';

const nodes: NodeProcess[] = [];
after(async () => {
  for (const n of nodes) await n.stop();
});

/** Starts a node on a fresh folder with one app database already created (captured as TXID 1). */
async function setup(options: { autoVacuum?: boolean } = {}): Promise<{ node: NodeProcess; db: string }> {
  const started: { node?: NodeProcess } = {};
  // The folder goes when the test ends, after its node has stopped writing there.
  const root = makeTempDir('litefleet-', async () => void (await started.node?.stop()));
  fs.mkdirSync(path.join(root, 'live'));
  const db = path.join(root, 'live', 'sqlite.db');
  createAppDatabase(db, options);
  // The database as the node's first snapshot (TXID 1) records it: the log starts after it.
  fs.copyFileSync(db, path.join(root, 'base.db'));
  const node = await NodeProcess.start({ root });
  started.node = node;
  nodes.push(node);
  await node.waitForTxid('sqlite.db', 1);
  return { node, db };
}

/** Replays the node's log into a new file and checks it against the live database. */
async function assertLogReproducesDatabase(node: NodeProcess, db: string, expectedTxid: number): Promise<void> {
  await node.waitForTxid('sqlite.db', expectedTxid);
  const info = (await node.info()).databases.find((d) => d.name === 'sqlite.db')!;
  assert.equal(info.txid, expectedTxid, 'exactly one LTX per commit');
  const replica = path.join(node.root, 'replayed.db');
  const r = replayLog(path.join(node.dataDir, 'dbs', 'sqlite.db'), path.join(node.root, 'base.db'), replica);
  const live = databaseChecksum(db);
  assert.equal(r.checksum, live.checksum, 'replayed log hashes to the live database');
  assert.equal(info.checksum, live.checksum.toString(16).padStart(16, '0'), 'node reports the live checksum');
  assert.deepEqual(dumpRows(replica), dumpRows(db), 'same rows');
  assert.equal(integrityCheck(replica), 'ok');
  const warnings = node.output.split('\n').filter((l) => / (WARN|ERROR) |snapshot/.test(l));
  assert.equal(node.output.match(/snapshot taken/g)?.length, 1, `only the first snapshot; node warnings:\n${warnings.join('\n')}`);
  assert.deepEqual(r.txids, Array.from({ length: expectedTxid - 1 }, (_, i) => i + 2), 'every TXID once, in order');
}

test('better-sqlite3 in a child process: DDL, VACUUM, auto_vacuum shrinking and 20 KB blobs, one LTX per commit', async () => {
  const { node, db } = await setup({ autoVacuum: true });
  const { commits } = await runWriter(db, 'mixed', 1500);
  assert.ok(commits >= 1490, `writer committed ${commits}`);
  await assertLogReproducesDatabase(node, db, 1 + commits);
  assert.match(node.output, /snapshot taken: new database/);
});

test('two writer processes at once', async () => {
  const { node, db } = await setup();
  const [a, b] = await Promise.all([runWriter(db, 'transfers', 3000, 1), runWriter(db, 'inserts', 3000, 2)]);
  await assertLogReproducesDatabase(node, db, 1 + a.commits + b.commits);
});

test("Debian's sqlite3 CLI with .timeout: autocommit inserts, blob transactions, index, delete, VACUUM", async () => {
  const { node, db } = await setup({ autoVacuum: true });
  const lines = ['.timeout 5000'];
  let commits = 0;
  for (let i = 0; i < 300; i++, commits++) lines.push(`INSERT INTO t(v) VALUES ('cli ${i}');`);
  for (let i = 0; i < 50; i++, commits++) lines.push(`BEGIN; INSERT INTO log(note, blob) VALUES ('b', randomblob(20000)); INSERT INTO log(note, blob) VALUES ('c', zeroblob(20000)); COMMIT;`);
  lines.push('CREATE INDEX t_v ON t(v);', 'DELETE FROM log WHERE id % 3 = 0;', 'VACUUM;');
  commits += 3;
  for (let i = 0; i < 100; i++, commits++) lines.push(`UPDATE accounts SET balance = balance + 1 WHERE id = ${1 + (i % 100)};`);
  await runSqliteCli(db, `${lines.join('\n')}\n`);
  await assertLogReproducesDatabase(node, db, 1 + commits);
});

test('the node resets the WAL itself: bounded under a steady writer, reused after a burst', async () => {
  const { node, db } = await setup();
  const steady = await runWriter(db, 'inserts', 2500, 1, 500);
  await node.waitForTxid('sqlite.db', 1 + steady.commits);
  // 500 frames between resets is about 2 MB of 4 KB pages; SQLite never shrinks the file itself.
  const walSize = fs.statSync(`${db}-wal`).size;
  // Without resets it would be ~10 MB; a node starved for a moment on a busy box may let it pass 4 MB.
  assert.ok(walSize < 6 * 1024 * 1024, `WAL stayed small under 500 tx/s (${walSize} bytes for ${steady.commits} commits)`);

  const burst = await runWriter(db, 'inserts', 20_000, 2);
  await assertLogReproducesDatabase(node, db, 1 + steady.commits + burst.commits);
  const metrics = await (await fetch(`${node.url}/metrics`)).text();
  const resets = Number(/litefleet_capture_wal_reset_count\{db="sqlite.db"\} (\d+)/.exec(metrics)?.[1]);
  assert.ok(resets > 3, `node reset the WAL (${resets} times)`);
  // A tight-loop writer outruns capture, so the WAL grows during the burst; once caught up the node
  // starts it over and SQLite writes from its beginning again instead of appending.
  const afterBurst = fs.statSync(`${db}-wal`).size;
  const tail = await runWriter(db, 'inserts', 1000, 3, 500);
  await assertLogReproducesDatabase(node, db, 1 + steady.commits + burst.commits + tail.commits);
  const afterTail = fs.statSync(`${db}-wal`).size;
  assert.ok(afterTail <= Math.max(afterBurst, 6 * 1024 * 1024), `the WAL was reused after the burst (${afterBurst} -> ${afterTail} bytes)`);
});
