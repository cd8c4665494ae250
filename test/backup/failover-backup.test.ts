import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { startEtcd } from '../helpers/etcd.ts';
import { startFollowWriter, startLeaseCluster, waitForPrimary } from '../helpers/lease-cluster.ts';
import { runCli, sleep } from '../helpers/node-process.ts';
import { databaseChecksum, runSqliteCli } from '../helpers/sqlite.ts';
import { makeTempDir } from '../helpers/temp-dir.ts';

const DB = 'app.db';
const etcd = await startEtcd();

test('backup across a handoff (the next primary continues the generation) and a crash (a new generation; both restorable)', async () => {
  const target = makeTempDir('litefleet-target-');
  const c = await startLeaseCluster({ size: 3, backend: { type: 'etcd', url: etcd.url }, extraConfig: () => ['backup:', `  url: "file://${target}"`].join('\n') });
  const first = await waitForPrimary(c.nodes);
  await runSqliteCli(path.join(first.dir, DB), '.timeout 5000\nPRAGMA journal_mode=WAL; CREATE TABLE t(id INTEGER PRIMARY KEY, at INTEGER);');
  const writer = startFollowWriter(c.nodes, DB, 2);
  await sleep(1_500);
  assert.match((await runCli(['handoff', '-c', first.configPath])).stdout, /primary is now/);
  const second = await waitForPrimary(c.nodes, 5_000, first);
  await sleep(1_500);
  await writer.stop();
  const end = (await second.info()).databases.find((d) => d.name === DB)!;
  await sleep(2_000);

  const ls = async () => JSON.parse((await runCli(['backup', 'ls', '-c', second.configPath, '--json'])).stdout) as Array<{ generation: string; first: { txid: number }; last: { txid: number } }>;
  const gens = await ls();
  assert.equal(gens.length, 1, `one generation across the handoff: ${JSON.stringify(gens)}`);
  assert.equal(gens[0]!.last.txid, end.txid);
  assert.match(second.output, /backup: continuing the newest generation/);
  const work = makeTempDir('litefleet-restore-');
  const latest = path.join(work, 'latest.db');
  assert.equal((await runCli(['restore', '-c', second.configPath, '--db', DB, '--latest', '-o', latest])).code, 0);
  assert.equal(databaseChecksum(latest).checksum.toString(16).padStart(16, '0'), end.checksum);

  // A crash: the old primary's unshipped tail may be lost with it; the next primary starts a new
  // generation from its own state, and both generations stay restorable.
  await second.kill();
  const third = await waitForPrimary(c.nodes.filter((n) => n !== second), 10_000);
  await runSqliteCli(path.join(third.dir, DB), '.timeout 5000\nINSERT INTO t(id, at) VALUES (1000000, 0);');
  await sleep(2_500);
  const after = await ls();
  assert.ok(after.length >= 1 && after.length <= 2, JSON.stringify(after));
  const now = (await third.info()).databases.find((d) => d.name === DB)!;
  const latest2 = path.join(work, 'latest2.db');
  assert.equal((await runCli(['restore', '-c', third.configPath, '--db', DB, '--latest', '-o', latest2])).code, 0);
  assert.equal(databaseChecksum(latest2).checksum.toString(16).padStart(16, '0'), now.checksum);
  const old = path.join(work, 'old.db');
  const r = await runCli(['restore', '-c', third.configPath, '--db', DB, '--txid', String(gens[0]!.first.txid + 1), '-o', old]);
  assert.equal(r.code, 0, r.stderr);
  await second.restart();
});
