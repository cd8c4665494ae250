import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { startEtcd } from '../helpers/etcd.ts';
import { startLeaseCluster, waitForPrimary } from '../helpers/lease-cluster.ts';
import { freePort, NodeProcess } from '../helpers/node-process.ts';
import { databaseChecksum, runSqliteCli } from '../helpers/sqlite.ts';
import { TcpRelay } from '../helpers/tcp-relay.ts';
import { makeTempDir } from '../helpers/temp-dir.ts';
import { waitFor } from '../helpers/wait.ts';

const DB = 'app.db';
const asRoot = process.getuid?.() === 0;

interface Health {
  status: 'ok' | 'degraded';
  role: string;
  problems?: Record<string, string>;
}

async function health(n: NodeProcess): Promise<Health> {
  return (await (await fetch(`${n.url}/health`)).json()) as Health;
}

/** Fills the file system holding `dir` with a ballast file until `leave` bytes are free; returns its path. */
function fill(dir: string, leave: number): string {
  const ballast = path.join(dir, 'ballast');
  const st = fs.statfsSync(dir);
  fs.writeFileSync(ballast, Buffer.alloc(Math.max(0, st.bavail * st.bsize - leave)));
  return ballast;
}

/** The checksum of the database file as it is, as hex (what the node reports once it has captured everything). */
function fileChecksum(n: NodeProcess): string {
  return databaseChecksum(path.join(n.dir, DB)).checksum.toString(16).padStart(16, '0');
}

async function position(n: NodeProcess): Promise<{ txid: number; checksum: string }> {
  const d = (await n.info()).databases.find((x) => x.name === DB);
  return { txid: d?.txid ?? 0, checksum: d?.checksum ?? '' };
}

async function count(n: NodeProcess): Promise<string> {
  return runSqliteCli(path.join(n.dir, DB), 'SELECT count(*) FROM t;', ['-readonly']);
}

test('a full disk pauses capture on the primary and apply on a replica with a clear error; nothing is lost and both resume once there is space', { skip: !asRoot && 'mounting a small tmpfs needs root' }, async () => {
  const mounts: string[] = [];
  const nodes: NodeProcess[] = [];
  const root = makeTempDir('litefleet-fulldisk-', async () => {
    for (const n of nodes) await n.stop();
    for (const m of mounts) execFileSync('umount', ['-l', m]);
  });
  const mount = (dir: string, mb: number) => {
    fs.mkdirSync(dir, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${mb}m`, 'tmpfs', dir]);
    mounts.push(dir);
  };
  const primary = await NodeProcess.create({ root: path.join(root, 'primary'), port: await freePort() });
  const replica = await NodeProcess.create({ root: path.join(root, 'replica'), candidate: false, primaryUrl: primary.url });
  // The primary's log and the replica's database each on a disk of their own, small enough to fill.
  mount(primary.dataDir, 16);
  mount(replica.dir, 16);
  nodes.push(primary, replica);
  await primary.restart();
  await replica.restart();
  const file = path.join(primary.dir, DB);
  await runSqliteCli(file, '.timeout 5000\nPRAGMA journal_mode=WAL; CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB);');
  await replica.waitForTxid(DB, 1);
  const insert = (n: number) => runSqliteCli(file, `.timeout 5000\n${"INSERT INTO t(v) VALUES (randomblob(40000));\n".repeat(n)}`);

  // The primary's log disk fills: capture stops with an error that says so; the app writes on.
  let ballast = fill(primary.dataDir, 256 * 1024);
  await waitFor(async () => {
    await insert(2);
    return (await health(primary)).status === 'degraded';
  }, 30_000, "the primary's health to say capture is paused");
  const problem = (await health(primary)).problems?.[DB] ?? '';
  assert.match(problem, /^capture paused: the disk holding .*\/data\/dbs\/app\.db is full; nothing is lost/);
  assert.equal((primary.output.match(/capture paused/g) ?? []).length, 1, 'logged once, not at every retry');
  assert.equal((await primary.info()).databases.find((d) => d.name === DB)?.problem, problem);
  await insert(5);
  const written = await runSqliteCli(file, 'SELECT count(*) FROM t;', ['-readonly']);
  fs.rmSync(ballast);
  await waitFor(async () => (await health(primary)).status === 'ok' && (await position(primary)).checksum === fileChecksum(primary), 30_000, 'capture to resume and log every transaction');
  assert.match(primary.output, /capture works again/);
  await replica.waitForTxid(DB, (await position(primary)).txid);
  assert.equal(await count(replica), written);
  assert.equal(fileChecksum(replica), fileChecksum(primary));

  // The replica's database disk fills: apply stops with an error that says so; the primary goes on.
  ballast = fill(replica.dir, 256 * 1024);
  await waitFor(async () => {
    await insert(2);
    return (await health(replica)).status === 'degraded';
  }, 30_000, "the replica's health to say apply is paused");
  assert.match((await health(replica)).problems?.[DB] ?? '', /^apply paused: the disk holding .*\/app\.db is full; nothing is lost/);
  assert.equal((await health(primary)).status, 'ok');
  fs.rmSync(ballast);
  const last = await waitFor(async () => {
    const p = await position(primary);
    return p.checksum === fileChecksum(primary) && p;
  }, 30_000, 'the primary to have logged every write');
  await replica.waitForTxid(DB, last.txid);
  await waitFor(async () => (await health(replica)).status === 'ok', 10_000, "the replica's health to clear");
  assert.equal(await count(replica), await count(primary));
  assert.equal(fileChecksum(replica), fileChecksum(primary));
  assert.equal(await runSqliteCli(path.join(replica.dir, DB), 'PRAGMA integrity_check;', ['-readonly']), 'ok\n');
});

test('a network cut or stall between primary and replica: the replica notices, reconnects once it heals, and catches up', async () => {
  const nodes: NodeProcess[] = [];
  const root = makeTempDir('litefleet-netcut-', async () => {
    for (const n of nodes) await n.stop();
  });
  const primary = await NodeProcess.start({ root: path.join(root, 'primary') });
  nodes.push(primary);
  const relay = await TcpRelay.start(primary.url);
  const replica = await NodeProcess.start({ root: path.join(root, 'replica'), candidate: false, primaryUrl: relay.url });
  nodes.push(replica);
  const file = path.join(primary.dir, DB);
  await runSqliteCli(file, '.timeout 5000\nPRAGMA journal_mode=WAL; CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);');
  await replica.waitForTxid(DB, 1);
  const insert = (n: number) => runSqliteCli(file, `.timeout 5000\n${"INSERT INTO t(v) VALUES ('x');\n".repeat(n)}`);

  for (const fault of ['cut', 'stall'] as const) {
    relay[fault]();
    await insert(50);
    const target = await waitFor(async () => {
      const p = await position(primary);
      return p.checksum === fileChecksum(primary) && p;
    }, 10_000, 'the primary to log the writes');
    // Cut off, the replica learns nothing of them; stalled, it gives the stream up after its timeout.
    if (fault === 'stall') await waitFor(() => /nothing from the primary for 3s/.test(replica.output), 15_000, 'the replica to notice the stalled stream');
    assert.ok((await position(replica)).txid < target.txid, `${fault}: the replica cannot have the writes yet`);
    relay.heal();
    await replica.waitForTxid(DB, target.txid, 20_000);
    assert.equal(fileChecksum(replica), fileChecksum(primary), `${fault}: the copies agree`);
  }
  assert.equal(await count(replica), await count(primary));
});

test('a primary cut off from the lease steps down within its TTL, another candidate leads, and it rejoins as a replica once the network heals', async () => {
  const etcd = await startEtcd();
  const relay = await TcpRelay.start(etcd.url);
  const c = await startLeaseCluster({ size: 3, backend: { type: 'etcd', url: etcd.url }, backendUrl: (i) => (i === 0 ? relay.url : undefined) });
  const [first, ...others] = c.nodes as [NodeProcess, ...NodeProcess[]];
  assert.equal(await waitForPrimary(c.nodes), first);
  await runSqliteCli(path.join(first.dir, DB), '.timeout 5000\nPRAGMA journal_mode=WAL; CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);');
  for (const n of others) await n.waitForTxid(DB, 1);

  relay.cut();
  const next = await waitForPrimary(c.nodes, 20_000, first);
  assert.ok(others.includes(next));
  await waitFor(async () => (await first.role()) === 'replica', 10_000, 'the cut-off primary to step down');
  assert.match(first.output, /stepping down to replica/);
  // Its copy no longer takes writes: the node holds the write lock as a replica does.
  await assert.rejects(runSqliteCli(path.join(first.dir, DB), ".timeout 200\nINSERT INTO t(v) VALUES ('split brain');"));

  await runSqliteCli(path.join(next.dir, DB), ".timeout 5000\nINSERT INTO t(v) VALUES ('after the cut');");
  const target = await waitFor(async () => {
    const p = await position(next);
    return p.checksum === fileChecksum(next) && p;
  }, 10_000, 'the new primary to log its write');
  relay.heal();
  await first.waitForTxid(DB, target.txid, 30_000);
  assert.equal(fileChecksum(first), fileChecksum(next));
  assert.equal(await runSqliteCli(path.join(first.dir, DB), "SELECT count(*) FROM t WHERE v = 'split brain';", ['-readonly']), '0\n');
});
