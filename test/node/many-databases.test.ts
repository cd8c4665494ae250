import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { launchCluster, type Cluster } from '../helpers/cluster.ts';
import type { NodeProcess } from '../helpers/node-process.ts';
import { createAppDatabase, runSqliteCli } from '../helpers/sqlite.ts';
import { makeTempDir } from '../helpers/temp-dir.ts';
import { waitFor } from '../helpers/wait.ts';

/** GET /positions: every database the node holds, with its position. */
async function positions(node: NodeProcess): Promise<Record<string, string>> {
  const res = await fetch(`${node.url}/positions`, { headers: { authorization: `Bearer ${node.token}` } });
  assert.equal(res.status, 200);
  return ((await res.json()) as { databases: Record<string, string> }).databases;
}

async function health(node: NodeProcess): Promise<{ status: string; starting?: number; problems?: Record<string, string> }> {
  return (await (await fetch(`${node.url}/health`)).json()) as { status: string; starting?: number; problems?: Record<string, string> };
}

/** The replica holds each of `names` at the primary's position. */
async function replicated(c: Cluster, names: string[]): Promise<boolean> {
  const [p, r] = await Promise.all([positions(c.primary), positions(c.replicas[0]!)]);
  return names.every((n) => p[n] !== undefined && r[n] === p[n]);
}

/** A primary and a replica, the primary's `dir` holding `count` databases before it starts. */
async function clusterWith(count: number, primaryFileLimit?: number): Promise<{ c: Cluster; names: string[] }> {
  let nodes: NodeProcess[] = [];
  const root = makeTempDir('litefleet-many-', async () => {
    for (const n of nodes) await n.stop();
  });
  const names = Array.from({ length: count }, (_, i) => `tenant${String(i).padStart(3, '0')}.db`);
  fs.mkdirSync(path.join(root, 'node1', 'live'), { recursive: true });
  for (const n of names) createAppDatabase(path.join(root, 'node1', 'live', n));
  const c = await launchCluster(root, 2, '', { fileLimit: (i) => (i === 0 ? primaryFileLimit : undefined) });
  nodes = c.nodes;
  return { c, names };
}

test('a node opens the databases it finds at start in the background: its API answers at once, /health says it is starting, and the replica gets every one', { timeout: 180_000 }, async () => {
  const { c, names } = await clusterWith(300);
  const seen = new Set<string>();
  await waitFor(async () => {
    const h = await health(c.primary);
    seen.add(h.status === 'starting' ? `starting (${h.starting! > 0 ? 'some' : 'none'} left)` : h.status);
    return h.status === 'ok';
  }, 120_000, 'the primary to open every database');
  assert.deepEqual([...seen].filter((s) => s !== 'ok' && s !== 'starting (some left)'), [], 'the primary is only ever starting (with databases left) or ok');
  // The API was up while databases were still being opened: its start line comes before the last one's.
  const started = c.primary.output.indexOf('litefleet node started');
  const lastCaptured = c.primary.output.lastIndexOf('capturing database');
  assert.ok(started >= 0 && started < lastCaptured, 'the node reported itself started before it had captured every database');
  await waitFor(() => replicated(c, names), 120_000, 'the replica to hold every database at the primary position');

  // Idle, a database gives back the descriptors capture needs only while it logs: the WAL is left
  // open by SQLite's two connections alone (the node's own reader closed, to open again on a write).
  const walDescriptors = () => {
    const fds = fs.readdirSync(`/proc/${c.primary.pid}/fd`);
    return fds.filter((f) => {
      try {
        return fs.readlinkSync(`/proc/${c.primary.pid}/fd/${f}`) === path.join(c.primary.dir, `${names[0]}-wal`);
      } catch {
        return false;
      }
    }).length;
  };
  await waitFor(() => walDescriptors() === 2, 60_000, () => `the idle database's WAL to be open twice, not ${walDescriptors()} times`);

  // Written to after start-up, a database's transactions reach the replica as usual.
  await runSqliteCli(path.join(c.primary.dir, names[299]!), ".timeout 5000\nINSERT INTO t(v) VALUES ('after start');");
  await waitFor(async () => (await positions(c.primary))[names[299]!]!.slice(0, 16) !== '0000000000000001' && (await replicated(c, [names[299]!])), 30_000, 'the write to reach the replica');
});

test('a primary with more databases than its open-file limit allows keeps its API and its streams, reports the ones it cannot open, and replicates the rest', { timeout: 180_000 }, async () => {
  // 400 descriptors: room for a few dozen of the 80 databases, and what the node keeps for its API.
  const { c, names } = await clusterWith(80, 400);
  const info = async () => (await c.primary.info()).databases;
  await waitFor(async () => (await info()).length === names.length, 120_000, 'the primary to try every database');
  const dbs = await info();
  const failed = dbs.filter((d) => d.problem);
  const captured = dbs.filter((d) => !d.problem).map((d) => d.name);
  assert.ok(failed.length > 0 && captured.length > 0, `${captured.length} captured, ${failed.length} reported`);
  for (const f of failed) assert.match(f.problem!, /open-file limit/);
  const h = await health(c.primary);
  assert.equal(h.status, 'degraded');
  assert.deepEqual(Object.keys(h.problems!).sort(), failed.map((f) => f.name).sort());

  // The API takes new connections, and the replica gets every database the primary captures.
  await waitFor(() => replicated(c, captured), 60_000, 'the replica to hold every database the primary captured');
  const before = (await positions(c.replicas[0]!))[captured[0]!];
  await runSqliteCli(path.join(c.primary.dir, captured[0]!), ".timeout 5000\nINSERT INTO t(v) VALUES ('still replicating');");
  await waitFor(async () => (await positions(c.replicas[0]!))[captured[0]!] !== before && (await replicated(c, [captured[0]!])), 30_000, () => `a new write to reach the replica:\n${c.primary.output.slice(-3000)}\n${c.replicas[0]!.output.slice(-3000)}`);
});

test('a primary restarting with many databases keeps its replicas\' copies of those it has yet to open, and sends each once it is captured', { timeout: 180_000 }, async () => {
  const { c, names } = await clusterWith(300);
  await waitFor(() => replicated(c, names), 120_000, 'the replica to hold every database at the primary position');
  const replica = c.replicas[0]!;
  const before = await positions(replica);

  // The replica reconnects while the restarted primary still opens databases the log already has.
  await c.primary.stop();
  await c.primary.restart();
  await waitFor(async () => (await health(c.primary)).status === 'ok' && (await replicated(c, names)), 120_000, 'the replica to hold every database again');
  assert.doesNotMatch(replica.output, /was deleted on the primary/, 'the replica dropped none of its databases');
  assert.deepEqual(await positions(replica), before, 'nothing changed, so no database was sent again');
});
