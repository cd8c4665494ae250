import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { createBackupTarget } from '../src/backup/create-target.ts';
import { listGenerations, restoreDatabase } from '../src/backup/restore.ts';
import { parseConfig } from '../src/config/load-config.ts';
import { NodeProcess, sleep } from '../test/helpers/node-process.ts';
import { createAppDatabase } from '../test/helpers/sqlite.ts';
import { runTimedWriter } from './lib/processes.ts';
import { fixed, median } from './lib/stats.ts';

const DB = 'sqlite.db';

/**
 * Backups: restore speed against `cp` of the same bytes (the backup objects of a database of
 * BENCH_RESTORE_MB, default 256, in a directory target), and what backing up costs the app's write rate (one node
 * capturing, with and without a backup target, alternating windows at 1000 tx/s and flat out).
 */
export async function benchBackup(root: string): Promise<void> {
  const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
  const seconds = Number(process.env.BENCH_WINDOW ?? 3);
  const mb = Number(process.env.BENCH_RESTORE_MB ?? 256);
  const targetDir = path.join(root, 'target');
  const backupConfig = ['backup:', `  url: "file://${targetDir}"`].join('\n');

  // The bytes a restore reads are the backup objects: cp copies those same objects. Both start
  // cold (page cache dropped) where this process may drop it, as a restore after a loss would.
  const cold = canDropCaches();
  console.log(`\nbackup: restore of a ${mb} MB database (its snapshot and 100 later transactions) from a directory target, against cp -r of the same backup objects, ${cold ? 'page cache dropped before each' : 'page cache warm (cannot drop it here)'} (${rounds} rounds)`);
  const nodeRoot = path.join(root, 'restore-node');
  fs.mkdirSync(path.join(nodeRoot, 'live'), { recursive: true });
  const db = path.join(nodeRoot, 'live', DB);
  createAppDatabase(db);
  // Written before the node starts, so the backup's first snapshot holds it (random: nothing regular to exploit).
  const app = new Database(db, { timeout: 5000 });
  const insert = app.prepare('INSERT INTO log(note, blob) VALUES (?, ?)');
  for (let i = 0; i < mb; i++) insert.run(`blob ${i}`, crypto.randomBytes(1024 * 1024));
  app.close();
  const node = await NodeProcess.start({ root: nodeRoot, extraConfig: backupConfig });
  try {
    const writer = new Database(db, { timeout: 5000 });
    for (let i = 0; i < 100; i++) writer.prepare('INSERT INTO t(v) VALUES (?)').run(`after the snapshot ${i}`);
    writer.close();
    const txid = await waitForCapture(node);
    const target = createBackupTarget(parseConfig(`dir: /x\ndata-dir: /y\n${backupConfig}\n`, 'bench.yml').backup!);
    for (let waited = 0; waited < 300_000; waited += 500) {
      const gens = await listGenerations(target, DB).catch(() => []);
      if (gens.some((g) => g.last.txid >= txid)) break;
      await sleep(500);
    }
    const copies: number[] = [];
    const restores: number[] = [];
    let bytes = 0;
    for (let r = 0; r < rounds; r++) {
      const out = path.join(root, `restored-${r}.db`);
      const copy = path.join(root, `copy-${r}`);
      if (cold) dropCaches();
      let t = performance.now();
      await restoreDatabase(target, DB, { latest: true }, out);
      restores.push(performance.now() - t);
      bytes = fs.statSync(out).size;
      if (cold) dropCaches();
      t = performance.now();
      execFileSync('cp', ['-r', path.join(targetDir, DB), copy]);
      execFileSync('sync', ['-f', root]);
      copies.push(performance.now() - t);
      console.log(`  round ${r + 1}: restore ${fixed(restores[r]!, 0)} ms (verified, integrity_check included), cp + sync ${fixed(copies[r]!, 0)} ms`);
      fs.rmSync(out);
      fs.rmSync(copy, { recursive: true });
    }
    const restore = median(restores);
    const cp = median(copies);
    console.log(`  ${fixed(bytes / 1e6, 0)} MB: restore ${fixed(bytes / 1e6 / (restore / 1000), 0)} MB/s, cp ${fixed(bytes / 1e6 / (cp / 1000), 0)} MB/s, restore/cp speed ${fixed(cp / restore, 2)}× (goal ≥ 0.5×)`);
  } finally {
    await node.stop();
  }

  console.log(`\nbackup: the app's write rate with the node backing up to a directory against without a backup (${rounds} alternating ${seconds} s windows each)`);
  for (const rate of [1000, 0]) {
    const ratios: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const rates: number[] = [];
      for (const withBackup of [false, true]) {
        const dir = path.join(root, `w-${rate}-${r}-${withBackup}`);
        fs.mkdirSync(path.join(dir, 'live'), { recursive: true });
        createAppDatabase(path.join(dir, 'live', DB));
        const n = await NodeProcess.start({ root: dir, extraConfig: withBackup ? ['backup:', `  url: "file://${path.join(dir, 'target')}"`].join('\n') : '' });
        try {
          await n.waitForTxid(DB, 1);
          rates.push((await runTimedWriter(path.join(dir, 'live', DB), seconds, rate)).rate);
        } finally {
          await n.stop();
        }
      }
      ratios.push(rates[1]! / rates[0]!);
      console.log(`  ${rate ? `${rate} tx/s` : 'flat out'}, round ${r + 1}: without backup ${fixed(rates[0]!, 0)} tx/s, with ${fixed(rates[1]!, 0)} tx/s`);
    }
    console.log(`  ${rate ? `${rate} tx/s` : 'flat out'}: median ${fixed(median(ratios))}× the rate without backup`);
  }
}

async function waitForCapture(node: NodeProcess): Promise<number> {
  let last = -1;
  for (;;) {
    await sleep(300);
    const txid = (await node.info()).databases.find((d) => d.name === DB)!.txid;
    if (txid === last) return txid;
    last = txid;
  }
}

function canDropCaches(): boolean {
  try {
    fs.accessSync('/proc/sys/vm/drop_caches', fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

function dropCaches(): void {
  execFileSync('sync');
  fs.writeFileSync('/proc/sys/vm/drop_caches', '3');
}
