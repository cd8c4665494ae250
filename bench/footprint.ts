import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { CLI, NodeProcess, sleep } from '../test/helpers/node-process.ts';
import { createAppDatabase } from '../test/helpers/sqlite.ts';
import { cpuSeconds, rssMb, runTimedWriter } from './lib/processes.ts';
import { fixed, median } from './lib/stats.ts';

const DB = 'sqlite.db';
const RATE = 1000;

/** Wall time of one `litefleet <args>` from spawn to exit, in ms (what a script calling it waits). */
function timeCli(args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(performance.now() - started) : reject(new Error(`litefleet ${args.join(' ')} exited with ${code}: ${err}`))));
  });
}

/**
 * What the node and the CLI cost a small VM: CLI start (`--version`, and `status --json` against a
 * running node), the node's RSS idle (one database, static lease) and after `seconds` at 1000
 * single-row transactions a second, and the node's CPU over that window as a share of one core.
 * Each figure is the median over `runs` fresh nodes (the CLI's over several calls).
 */
export async function benchFootprint(root: string): Promise<void> {
  const runs = Number(process.env.BENCH_ROUNDS ?? 3);
  const seconds = Number(process.env.BENCH_WINDOW ?? 30);
  const calls = Number(process.env.BENCH_CALLS ?? 7);
  const settleMs = 5_000;
  console.log(`\nfootprint: CLI start over ${calls} calls; node over ${runs} fresh nodes, idle ${settleMs / 1000} s after its database is logged, then ${seconds} s at ${RATE} tx/s`);

  // One throwaway call first, so every timed one finds the files in the page cache.
  await timeCli(['--version']);
  const version: number[] = [];
  for (let i = 0; i < calls; i++) version.push(await timeCli(['--version']));
  console.log(`  litefleet --version: median ${fixed(median(version), 0)} ms (${version.map((v) => fixed(v, 0)).join(', ')}) (goal ≤ 150 ms)`);

  const idle: number[] = [];
  const busy: number[] = [];
  const cpu: number[] = [];
  for (let r = 0; r < runs; r++) {
    const dir = path.join(root, `run${r + 1}`);
    fs.mkdirSync(path.join(dir, 'live'), { recursive: true });
    createAppDatabase(path.join(dir, 'live', DB));
    // `capture: {}` keeps the product's defaults (the test helper polls faster, for quick tests).
    const node = await NodeProcess.start({ root: dir, extraConfig: 'capture: {}' });
    try {
      await node.waitForTxid(DB, 1);
      if (r === 0) {
        const status: number[] = [];
        for (let i = 0; i < calls; i++) status.push(await timeCli(['status', '--json', '-c', node.configPath]));
        console.log(`  litefleet status --json: median ${fixed(median(status), 0)} ms (${status.map((v) => fixed(v, 0)).join(', ')}) (goal ≤ 300 ms)`);
      }
      await sleep(settleMs);
      const pid = node.pid!;
      idle.push(rssMb(pid));
      const cpuBefore = cpuSeconds(pid);
      const res = await runTimedWriter(path.join(node.dir, DB), seconds, RATE);
      cpu.push(((cpuSeconds(pid) - cpuBefore) / res.seconds) * 100);
      busy.push(rssMb(pid));
      console.log(`  node ${r + 1}: RSS idle ${fixed(idle[r]!, 1)} MB, after ${seconds} s at ${fixed(res.rate, 0)} tx/s ${fixed(busy[r]!, 1)} MB, CPU ${fixed(cpu[r]!, 1)}% of one core`);
    } finally {
      await node.stop();
    }
  }
  console.log(`  node RSS idle: median ${fixed(median(idle), 1)} MB (goal ≤ 70 MB)`);
  console.log(`  node RSS at ${RATE} tx/s: median ${fixed(median(busy), 1)} MB (goal ≤ 100 MB)`);
  console.log(`  node CPU at ${RATE} tx/s: median ${fixed(median(cpu), 1)}% of one core (goal ≤ 10%)`);
}
