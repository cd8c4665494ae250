import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { createBackupTarget } from '../../src/backup/create-target.ts';
import { parseBackupKey } from '../../src/backup/layout.ts';
import { restoreDatabase } from '../../src/backup/restore.ts';
import { parseConfig } from '../../src/config/load-config.ts';
import { startEtcd } from '../helpers/etcd.ts';
import { drainFile, startFollowWriter, startLeaseCluster, waitForPrimary } from '../helpers/lease-cluster.ts';
import { runCli } from '../helpers/node-process.ts';
import { databaseChecksum, runSqliteCli } from '../helpers/sqlite.ts';
import { makeTempDir } from '../helpers/temp-dir.ts';

const DB = 'app.db';
const etcd = await startEtcd();

test('backup across a handoff and a crash under writes: the next primary continues the generation, every transaction around the crash restores', async (t) => {
  const target = makeTempDir('litefleet-target-');
  const c = await startLeaseCluster({ size: 3, backend: { type: 'etcd', url: etcd.url }, extraConfig: () => ['backup:', `  url: "file://${target}"`].join('\n') });
  const first = await waitForPrimary(c.nodes);
  await runSqliteCli(path.join(first.dir, DB), '.timeout 5000\nPRAGMA journal_mode=WAL; CREATE TABLE t(id INTEGER PRIMARY KEY, at INTEGER);');
  // Under writes: the handoff comes once 300 are committed, and the writer stops 300 commits after it.
  const writer = startFollowWriter(c.nodes, DB, 2);
  await first.waitForWrites(DB, 300);
  assert.match((await runCli(['handoff', '-c', first.configPath])).stdout, /primary is now/);
  const second = await waitForPrimary(c.nodes, 5_000, first);
  await second.waitForWrites(DB, 300);
  await writer.stop();
  const end = await second.waitForCapture(DB);
  await second.waitForBackup(DB, end.txid);

  const ls = async () => JSON.parse((await runCli(['backup', 'ls', '-c', second.configPath, '--json'])).stdout) as Array<{ generation: string; first: { txid: number }; last: { txid: number } }>;
  const gens = await ls();
  assert.equal(gens.length, 1, `one generation across the handoff: ${JSON.stringify(gens)}`);
  assert.equal(gens[0]!.last.txid, end.txid);
  assert.match(second.output, /backup: continuing the newest generation/);
  const work = makeTempDir('litefleet-restore-');
  const latest = path.join(work, 'latest.db');
  assert.equal((await runCli(['restore', '-c', second.configPath, '--db', DB, '--latest', '-o', latest])).code, 0);
  assert.equal(databaseChecksum(latest).checksum.toString(16).padStart(16, '0'), end.checksum);

  // A crash in the middle of writes: the primary dies with transactions it committed and streamed
  // but had not shipped yet (it ships once a second). The replica that takes over ships them from
  // what it received, so the generation goes on and every transaction around the crash restores.
  const writer2 = startFollowWriter(c.nodes, DB, 2);
  await second.waitForWrites(DB, 300);
  // The app instance beside the dying node stops using it first (it would go on writing to a file
  // no node guards), then the node dies with its last second of writes unshipped.
  await writer2.drain(second);
  const atCrash = (await second.info()).databases.find((d) => d.name === DB)!.txid;
  const logged = new Map(c.nodes.map((n) => [n, n.output.length]));
  const shipped = Math.max(...fs.readdirSync(path.join(target, DB, gens[0]!.generation, 'l0')).map((f) => parseBackupKey(`${DB}/${gens[0]!.generation}/l0/${f}`)?.maxTxid ?? 0));
  await second.kill();
  t.diagnostic(`the primary crashed at TXID ${atCrash} with its backup at ${shipped}`);
  const third = await waitForPrimary(c.nodes.filter((n) => n !== second), 10_000);
  await third.waitForWrites(DB, 200);
  await writer2.stop();
  await runSqliteCli(path.join(third.dir, DB), '.timeout 5000\nINSERT INTO t(id, at) VALUES (1000000, 0);');
  const now = await third.waitForCapture(DB);
  await third.waitForBackup(DB, now.txid);
  const after = await ls();
  assert.equal(after.length, 1, `one generation across the crash: ${JSON.stringify(after)}`);
  assert.equal(after[0]!.generation, gens[0]!.generation);
  assert.equal(after[0]!.last.txid, now.txid);
  assert.doesNotMatch(third.output.slice(logged.get(third)), /backup: new generation/);
  const latest2 = path.join(work, 'latest2.db');
  assert.equal((await runCli(['restore', '-c', third.configPath, '--db', DB, '--latest', '-o', latest2])).code, 0);
  assert.equal(databaseChecksum(latest2).checksum.toString(16).padStart(16, '0'), now.checksum);

  // Each transaction inserted one row, in id order, so the state at TXID n is the first n - base
  // rows of the final table (base: the TXIDs before the first insert).
  const ids = (new Database(latest2, { readonly: true }).prepare('SELECT id FROM t ORDER BY id').pluck().all() as number[]);
  const base = now.txid - ids.length;
  const target2 = createBackupTarget(parseConfig(`dir: /x\ndata-dir: /y\nbackup:\n  url: "file://${target}"\n`, 'backup.yml').backup!);
  for (let txid = atCrash - 30; txid <= Math.min(atCrash + 30, now.txid); txid++) {
    const out = path.join(work, `crash-${txid}.db`);
    await restoreDatabase(target2, DB, { txid }, out);
    const db = new Database(out, { readonly: true });
    const row = db.prepare('SELECT count(*) AS n, max(id) AS top FROM t').get() as { n: number; top: number };
    db.close();
    assert.deepEqual(row, { n: txid - base, top: ids[txid - base - 1] }, `restore to TXID ${txid} (the primary crashed at ${atCrash})`);
  }
  fs.rmSync(drainFile(second));
  await second.restart();
});
