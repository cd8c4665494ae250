import fs from 'node:fs';
import path from 'node:path';
import { startEtcd } from '../test/helpers/etcd.ts';
import { drainFile, startFollowWriter, startLeaseCluster, waitForPrimary } from '../test/helpers/lease-cluster.ts';
import { sleep, type NodeProcess } from '../test/helpers/node-process.ts';
import { runSqliteCli } from '../test/helpers/sqlite.ts';
import { fixed, median } from './lib/stats.ts';

const DB = 'app.db';
const TTL_MS = 2_000;

/** Acknowledgement times of the follow-writer. */
function ackTimes(output: string): number[] {
  return [...output.matchAll(/^ack \d+ (\d+)$/gm)].map((m) => Number(m[1]));
}

/** The longest time without an acknowledged write around `at` (from the last ack before it to the first after). */
function outage(output: string, at: number): number {
  const times = ackTimes(output);
  const before = times.filter((t) => t <= at).pop();
  const after = times.find((t) => t > at);
  if (before === undefined || after === undefined) return NaN;
  let worst = after - before;
  // The pause may start a moment before or end after `at`: take the widest gap near it.
  for (let i = 1; i < times.length; i++) if (times[i]! > at - 200 && times[i - 1]! < at + 20_000) worst = Math.max(worst, times[i]! - times[i - 1]!);
  return worst;
}

async function acksAfter(writer: { output(): string }, at: number, count: number): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (ackTimes(writer.output()).filter((t) => t > at).length < count) {
    if (Date.now() > deadline) throw new Error(`writes did not resume:\n${writer.output().slice(-1000)}`);
    await sleep(20);
  }
}

/**
 * Write unavailability seen by an app instance that always writes to the primary (1 ms between
 * inserts): for a handoff (`POST /handoff`, as a deploy does) and for a crash (SIGKILL of the
 * primary and its app; etcd lease TTL 2 s). Three etcd-elected nodes on this machine.
 */
export async function benchFailover(root: string): Promise<void> {
  const rounds = Number(process.env.BENCH_ROUNDS ?? 5);
  const etcdDir = path.join(root, 'etcd');
  fs.mkdirSync(etcdDir);
  const etcd = await startEtcd(etcdDir);
  const clusterRoot = path.join(root, 'cluster');
  fs.mkdirSync(clusterRoot);
  const c = await startLeaseCluster({ size: 3, root: clusterRoot, backend: { type: 'etcd', url: etcd.url }, ttl: `${TTL_MS / 1000}s` });
  const writer = startFollowWriter(c.nodes, DB, 1);
  try {
    let primary = await waitForPrimary(c.nodes);
    await runSqliteCli(path.join(primary.dir, DB), '.timeout 5000\nPRAGMA journal_mode=WAL; CREATE TABLE t(id INTEGER PRIMARY KEY, at INTEGER);');
    await acksAfter(writer, Date.now(), 500);

    console.log(`\nfailover: write unavailability for a handoff (POST /handoff), app inserting every 1 ms, ${rounds} rounds`);
    const handoffs: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const at = Date.now();
      const res = await fetch(`${primary.url}/handoff`, { method: 'POST', headers: { authorization: `Bearer ${primary.token}`, 'content-type': 'application/json' }, body: '{}' });
      if (!res.ok) throw new Error(`handoff failed: ${res.status} ${await res.text()}`);
      const body = (await res.json()) as { ms: number };
      const next = await waitForPrimary(c.nodes, 10_000, primary);
      await acksAfter(writer, at, 500);
      const gap = outage(writer.output(), at);
      handoffs.push(gap);
      console.log(`  round ${r + 1}: no acknowledged write for ${fixed(gap, 0)} ms (the primary paused writes for ${body.ms} ms) → ${path.basename(next.root)}`);
      primary = next;
      await sleep(500);
    }
    console.log(`  median ${fixed(median(handoffs), 0)} ms, worst ${fixed(Math.max(...handoffs), 0)} ms (goal ≤ 1000 ms)`);

    const crashRounds = Math.max(1, Math.ceil(rounds / 2));
    console.log(`\nfailover: write unavailability for a crash (SIGKILL of the primary and its app), lease TTL ${TTL_MS} ms, ${crashRounds} rounds`);
    const crashes: number[] = [];
    for (let r = 0; r < crashRounds; r++) {
      const victim: NodeProcess = primary;
      const at = Date.now();
      fs.writeFileSync(drainFile(victim), '');
      await victim.kill();
      const next = await waitForPrimary(c.nodes.filter((n) => n !== victim), 30_000);
      await acksAfter(writer, at, 500);
      const gap = outage(writer.output(), at);
      crashes.push(gap);
      console.log(`  round ${r + 1}: no acknowledged write for ${fixed(gap, 0)} ms → ${path.basename(next.root)}`);
      fs.rmSync(drainFile(victim));
      await victim.restart();
      primary = next;
      await sleep(2_000);
    }
    console.log(`  median ${fixed(median(crashes), 0)} ms, worst ${fixed(Math.max(...crashes), 0)} ms (goal ≤ TTL + 2 s = ${TTL_MS + 2_000} ms)`);
  } finally {
    await writer.stop();
    for (const n of c.nodes) await n.stop();
    await etcd.stop();
  }
}
