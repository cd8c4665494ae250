import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { startEtcd } from '../test/helpers/etcd.ts';
import { startFollowWriter, startLeaseCluster, waitForPrimary } from '../test/helpers/lease-cluster.ts';
import { sleep, type NodeProcess } from '../test/helpers/node-process.ts';
import { databaseChecksum, runSqliteCli } from '../test/helpers/sqlite.ts';
import { waitFor } from '../test/helpers/wait.ts';
import { anonMb, rssMb } from './lib/processes.ts';
import { percentile } from './lib/stats.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const DB = 'app.db';
const WARM_UP_MINUTES = 3;

/**
 * Where a node's memory is: RSS, V8's heap (used of total) and the memory outside it that V8 knows
 * of (Buffers), from its /metrics, and its open descriptors; what tells a leak in JavaScript objects
 * (heap), in Buffers (external) or below both (RSS alone: native memory, the allocator's heap).
 */
async function memory(n: NodeProcess): Promise<string> {
  const text = await (await fetch(`${n.url}/metrics`)).text();
  const mb = (name: string) => (Number(new RegExp(`^litefleet_process_nodejs_${name} (\\S+)`, 'm').exec(text)?.[1]) / 1024 / 1024).toFixed(0);
  const role = (await n.role()) === 'primary' ? 'primary, ' : '';
  const fds = n.pid ? fs.readdirSync(`/proc/${n.pid}/fd`).length : NaN;
  return `${path.basename(n.root)} (${role}RSS ${rssMb(n.pid).toFixed(0)} MB (anon ${anonMb(n.pid).toFixed(0)}), heap ${mb('heap_size_used_bytes')}/${mb('heap_size_total_bytes')} MB, external ${mb('external_memory_bytes')} MB, ${fds} fds)`;
}

function rows(n: NodeProcess): number {
  const db = new Database(path.join(n.dir, DB), { readonly: true, timeout: 5000 });
  try {
    return db.prepare('SELECT count(*) FROM t').pluck().get() as number;
  } finally {
    db.close();
  }
}

function startReader(n: NodeProcess): { stop(): Promise<{ iterations: number; errors: string[]; violations: string[] }> } {
  const child = spawn(process.execPath, [path.join(here, 'lib/soak-reader.mjs'), path.join(n.dir, DB)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((r) => child.on('exit', () => r()));
  return {
    async stop() {
      child.kill('SIGTERM');
      await exited;
      return JSON.parse(out) as { iterations: number; errors: string[]; violations: string[] };
    },
  };
}

/**
 * `npm run soak` (`npm run bench -- soak`): three candidates on etcd for SOAK_MINUTES (10 by
 * default), a writer that follows the primary, a reader on every node, a handoff every minute.
 * Reports acknowledged writes lost, what the readers saw, how far a node's file ever was behind
 * the TXID it reported, the lag the nodes reported, and each node's RSS at start and end, with
 * where its memory was (RSS, heap, external, descriptors) each minute.
 */
export async function benchSoak(root: string): Promise<void> {
  const minutes = Number(process.env.SOAK_MINUTES ?? 10);
  fs.mkdirSync(path.join(root, 'etcd'));
  fs.mkdirSync(path.join(root, 'cluster'));
  const etcd = await startEtcd(path.join(root, 'etcd'));
  const c = await startLeaseCluster({ size: 3, root: path.join(root, 'cluster'), backend: { type: 'etcd', url: etcd.url }, ttl: '5s' });
  const readers: Array<ReturnType<typeof startReader>> = [];
  let writer: ReturnType<typeof startFollowWriter> | undefined;
  try {
    const first = await waitForPrimary(c.nodes);
    await runSqliteCli(path.join(first.dir, DB), '.timeout 5000\nPRAGMA journal_mode=WAL; CREATE TABLE t(id INTEGER PRIMARY KEY, at INTEGER);');
    const created = await first.waitForTxid(DB, 1);
    for (const n of c.nodes) await n.waitForTxid(DB, created);
    writer = startFollowWriter(c.nodes, DB, 2);
    for (const n of c.nodes) readers.push(startReader(n));
    await waitFor(() => writer!.acked().length > 100, 30_000, 'the writer to start');
    const rssStart = c.nodes.map((n) => rssMb(n.pid));
    console.log(`\nsoak: ${minutes} min, 3 nodes on etcd, a writer following the primary, a reader on every node, a handoff a minute`);
    console.log(`  memory at 0 min: ${(await Promise.all(c.nodes.map(memory))).join(', ')}`);

    // Each node's RSS every minute: after a few minutes' warm-up (the heap reaching its working
    // set, SQLite's page caches filling) it should stay flat.
    const rssByMinute: number[][] = [rssStart];
    const anonByMinute: number[][] = [c.nodes.map((n) => anonMb(n.pid))];
    const behind: number[] = [];
    const lagMs: number[] = [];
    let handoffs = 0;
    const end = Date.now() + minutes * 60_000;
    let nextHandoff = Date.now() + 60_000;
    while (Date.now() < end) {
      for (const n of c.nodes) {
        const info = await n.info();
        const d = info.databases.find((x) => x.name === DB);
        if (!d) continue;
        // The file read right after the node reported its TXID: it holds at least that much (TXID 1 made the table).
        behind.push(d.txid - created - rows(n));
        const self = info.nodes.find((x) => x.id === info.node.id)?.databases.find((x) => x.name === DB);
        if (info.node.role === 'replica' && self) lagMs.push(self.lagMs);
      }
      if (Date.now() >= nextHandoff) {
        // Just before each handoff: a minute of writes since the last.
        console.log(`  memory at ${Math.round((Date.now() - (end - minutes * 60_000)) / 60_000)} min: ${(await Promise.all(c.nodes.map(memory))).join(', ')}`);
        rssByMinute.push(c.nodes.map((n) => rssMb(n.pid)));
        anonByMinute.push(c.nodes.map((n) => anonMb(n.pid)));
        const p = await waitForPrimary(c.nodes);
        const res = await fetch(`${p.url}/handoff`, { method: 'POST', headers: { authorization: `Bearer ${p.token}`, 'content-type': 'application/json' }, body: '{}' });
        if (res.ok) handoffs++;
        else console.log(`  handoff failed: ${res.status} ${await res.text()}`);
        nextHandoff += 60_000;
      }
      await sleep(500);
    }
    const rssEnd = c.nodes.map((n) => rssMb(n.pid));
    const anonEnd = c.nodes.map((n) => anonMb(n.pid));
    console.log(`  memory at the end: ${(await Promise.all(c.nodes.map(memory))).join(', ')}`);
    const done = writer;
    writer = undefined;
    const acked = await done.stop();
    const seen = await Promise.all(readers.splice(0).map((r) => r.stop()));
    const primary = await waitForPrimary(c.nodes);
    const final = await primary.waitForTxid(DB, created + acked.length);
    for (const n of c.nodes) await n.waitForTxid(DB, final);
    const have = new Set((() => {
      const db = new Database(path.join(primary.dir, DB), { readonly: true });
      try {
        return db.prepare('SELECT id FROM t').pluck().all() as number[];
      } finally {
        db.close();
      }
    })());
    const lost = acked.filter((id) => !have.has(id)).length;
    const mismatched = [];
    for (const n of c.nodes) {
      const reported = (await n.info()).databases.find((x) => x.name === DB)!;
      const file = databaseChecksum(path.join(n.dir, DB)).checksum.toString(16).padStart(16, '0');
      if (file !== reported.checksum) mismatched.push(`${path.basename(n.root)}: file ${file}, reported ${reported.checksum}`);
    }
    console.log(`  ${handoffs} handoffs, ${acked.length} acknowledged writes, ${lost} lost (goal 0)`);
    console.log(`  readers: ${seen.reduce((s, r) => s + r.iterations, 0)} reads, ${seen.flatMap((r) => r.errors).length} errors, ${seen.flatMap((r) => r.violations).length} inconsistent reads ${[...seen.flatMap((r) => r.errors), ...seen.flatMap((r) => r.violations)].slice(0, 3).join('; ')}`);
    console.log(`  a node's file behind the TXID it reported, in transactions: p50 ${percentile(behind, 50)}, p99 ${percentile(behind, 99)}, max ${Math.max(...behind)} (${behind.length} samples)`);
    console.log(`  replica lag the nodes reported: p50 ${percentile(lagMs, 50)} ms, p99 ${percentile(lagMs, 99)} ms, max ${Math.max(...lagMs)} ms`);
    console.log(`  every file hashes to the position its node reports: ${mismatched.length === 0 ? 'yes' : `no: ${mismatched.join('; ')}`}`);
    console.log(`  node RSS start → end: ${c.nodes.map((n, i) => `${path.basename(n.root)} ${rssStart[i]!.toFixed(0)} → ${rssEnd[i]!.toFixed(0)} MB`).join(', ')}`);
    const warm = Math.min(WARM_UP_MINUTES, rssByMinute.length - 1);
    const after = Math.max(1, minutes - warm);
    const growth = (label: string, byMinute: number[][], end: number[]) =>
      console.log(
        `  node ${label} from minute ${warm} to the end (goal: flat): ${c.nodes
          .map((n, i) => `${path.basename(n.root)} ${byMinute[warm]![i]!.toFixed(0)} → ${end[i]!.toFixed(0)} MB (${((end[i]! - byMinute[warm]![i]!) / after).toFixed(1)} MB/min)`)
          .join(', ')}`,
      );
    growth('RSS', rssByMinute, rssEnd);
    growth('anonymous memory (RSS less mapped files)', anonByMinute, anonEnd);
  } finally {
    if (writer) await writer.stop().catch(() => undefined);
    for (const r of readers) await r.stop().catch(() => undefined);
    for (const n of c.nodes) await n.stop();
    await etcd.stop();
  }
}
