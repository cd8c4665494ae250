import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { launchCluster, type Cluster } from '../test/helpers/cluster.ts';
import { NodeProcess } from '../test/helpers/node-process.ts';
import { createAppDatabase } from '../test/helpers/sqlite.ts';
import { runTimedWriter, startCpuBurner, startVisibilityReader } from './lib/processes.ts';
import { fixed, median, percentile } from './lib/stats.ts';

const DB = 'sqlite.db';

async function txidOf(n: NodeProcess): Promise<number> {
  return (await n.info()).databases.find((d) => d.name === DB)?.txid ?? 0;
}

/** Commit on the primary to visible to a reader on a replica, with the app at `rate` tx/s. */
async function visibility(c: Cluster, rate: number, seconds: number): Promise<{ p50: number; p99: number; seen: number; commits: number }> {
  const primaryDb = path.join(c.primary.dir, DB);
  const first = Number(new Database(primaryDb, { readonly: true }).prepare('SELECT coalesce(max(id), 0) + 1 FROM t').pluck().get());
  const reader = startVisibilityReader(path.join(c.replicas[0]!.dir, DB), first);
  const res = await runTimedWriter(primaryDb, seconds, rate);
  await c.replicas[0]!.waitForTxid(DB, await txidOf(c.primary));
  await new Promise((r) => setTimeout(r, 100));
  const seen = await reader.stop();
  const lag: number[] = [];
  res.times.forEach((t, i) => {
    const at = seen.get(first + i);
    if (at !== undefined) lag.push(at - t);
  });
  return { p50: percentile(lag, 50), p99: percentile(lag, 99), seen: lag.length, commits: res.commits };
}

/**
 * Replication figures on one machine: commit-to-visible lag on a replica reader at 1k tx/s, the
 * highest app rate the replica keeps up with, catch-up speed after being away, and bootstrapping
 * a large database against copying the file.
 */
export async function benchReplication(root: string): Promise<void> {
  const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
  const seconds = Number(process.env.BENCH_WINDOW ?? 3);
  const c = await launchCluster(path.join(root, 'cluster'), 2);
  try {
    createAppDatabase(path.join(c.primary.dir, DB));
    for (const n of c.nodes) await n.waitForTxid(DB, 1);

    console.log(`\nreplication: commit on the primary → visible to a reader on the replica, app at 1000 tx/s (${rounds} × ${seconds} s after a warm-up round)`);
    const warm = await visibility(c, 1000, seconds);
    console.log(`  warm-up (not counted): p50 ${fixed(warm.p50)} ms, p99 ${fixed(warm.p99)} ms`);
    const p50s: number[] = [];
    const p99s: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const v = await visibility(c, 1000, seconds);
      p50s.push(v.p50);
      p99s.push(v.p99);
      console.log(`  round ${r + 1}: p50 ${fixed(v.p50)} ms, p99 ${fixed(v.p99)} ms (${v.seen} of ${v.commits} commits seen)`);
    }
    console.log(`  median: p50 ${fixed(median(p50s))} ms, p99 ${fixed(median(p99s))} ms`);

    console.log(`\nreplication: the same while one CPU-bound process runs beside it (${rounds} × ${seconds} s)`);
    const stopBurner = startCpuBurner();
    try {
      const busy50: number[] = [];
      const busy99: number[] = [];
      for (let r = 0; r < rounds; r++) {
        const v = await visibility(c, 1000, seconds);
        busy50.push(v.p50);
        busy99.push(v.p99);
        console.log(`  round ${r + 1}: p50 ${fixed(v.p50)} ms, p99 ${fixed(v.p99)} ms (${v.seen} of ${v.commits} commits seen)`);
      }
      console.log(`  median under load: p50 ${fixed(median(busy50))} ms, p99 ${fixed(median(busy99))} ms`);
    } finally {
      stopBurner();
    }

    console.log(`\nreplication: does the replica keep up? app paced for ${seconds} s, then time for the replica to reach the primary's last TXID`);
    console.log('  offered tx/s  app tx/s  primary logged tx/s  replica lag at end (tx)  drained in');
    for (const rate of [1000, 2000, 5000, 10_000, 20_000]) {
      const before = await txidOf(c.primary);
      const res = await runTimedWriter(path.join(c.primary.dir, DB), seconds, rate);
      const end = performance.now();
      const primaryAtEnd = await txidOf(c.primary);
      const replicaAtEnd = await txidOf(c.replicas[0]!);
      const target = before + res.commits;
      await c.primary.waitForTxid(DB, target, 120_000);
      await c.replicas[0]!.waitForTxid(DB, target, 120_000);
      const drained = performance.now() - end;
      console.log(
        `  ${String(rate).padStart(12)}  ${fixed(res.rate, 0).padStart(8)}  ${fixed((primaryAtEnd - before) / res.seconds, 0).padStart(19)}  ${String(target - replicaAtEnd).padStart(23)}  ${fixed(drained, 0)} ms`,
      );
    }

    console.log('\nreplication: catch-up of a replica that was stopped while the app wrote');
    const away = c.replicas[0]!;
    const catchUps: number[] = [];
    for (let r = 0; r < rounds; r++) {
      await away.stop();
      const before = await txidOf(c.primary);
      const res = await runTimedWriter(path.join(c.primary.dir, DB), 3, 5000);
      const target = before + res.commits;
      await c.primary.waitForTxid(DB, target, 120_000);
      const logged = away.output.length;
      await away.restart();
      await away.waitForTxid(DB, target, 120_000);
      // From the stream opening to everything applied, by the replica's own log lines.
      const out = away.output.slice(logged);
      const opened = /^(\S+) INFO {2}streaming from primary/m.exec(out);
      const applied = /^(\S+) INFO {2}caught up with the primary/m.exec(out);
      const ms = Date.parse(applied![1]!) - Date.parse(opened![1]!);
      catchUps.push(res.commits / (ms / 1000));
      console.log(`  round ${r + 1}: ${res.commits} transactions in ${fixed(ms, 0)} ms = ${fixed(res.commits / (ms / 1000), 0)} tx/s`);
    }
    console.log(`  median: ${fixed(median(catchUps), 0)} tx/s`);
  } finally {
    for (const n of c.nodes) await n.stop();
  }

  const mb = Number(process.env.BENCH_BOOTSTRAP_MB ?? 1024);
  if (mb <= 0) return;
  console.log(`\nreplication: bootstrap of a ${mb} MB database on a new replica, against cp of the file`);
  const big = await launchCluster(path.join(root, 'big'), 1);
  try {
    const file = path.join(big.primary.dir, 'big.db');
    const tmp = path.join(big.primary.dir, '.big.db.creating');
    const db = new Database(tmp);
    db.pragma('journal_mode = WAL');
    db.exec('CREATE TABLE blobs(id INTEGER PRIMARY KEY, data BLOB)');
    const ins = db.prepare('INSERT INTO blobs(data) VALUES (randomblob(1048576))');
    for (let i = 0; i < mb; i += 64) db.transaction(() => { for (let k = 0; k < 64 && i + k < mb; k++) ins.run(); })();
    db.close();
    fs.renameSync(tmp, file);
    await big.primary.waitForTxid('big.db', 1, 600_000);
    const bytes = fs.statSync(file).size;
    const copies: number[] = [];
    const boots: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const t0 = performance.now();
      execFileSync('cp', [file, path.join(root, `copy-${r}.db`)]);
      execFileSync('sync');
      copies.push(performance.now() - t0);
      fs.rmSync(path.join(root, `copy-${r}.db`));
      const replica = await NodeProcess.start({ root: path.join(root, `boot-${r}`), candidate: false, primaryUrl: big.primary.url, token: big.primary.token });
      try {
        const t1 = performance.now();
        await replica.waitForTxid('big.db', 1, 600_000);
        boots.push(performance.now() - t1);
      } finally {
        await replica.stop();
        fs.rmSync(path.join(root, `boot-${r}`), { recursive: true, force: true });
      }
      console.log(`  round ${r + 1}: cp + sync ${fixed(copies[r]!, 0)} ms, bootstrap ${fixed(boots[r]!, 0)} ms`);
    }
    const cp = median(copies);
    const boot = median(boots);
    console.log(`  ${fixed(bytes / 1e6, 0)} MB: cp ${fixed(bytes / 1e6 / (cp / 1000), 0)} MB/s, bootstrap ${fixed(bytes / 1e6 / (boot / 1000), 0)} MB/s, bootstrap/cp speed ${fixed(cp / boot, 2)}×`);
  } finally {
    for (const n of big.nodes) await n.stop();
  }
}
