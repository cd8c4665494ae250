import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { NodeProcess, sleep } from '../test/helpers/node-process.ts';
import { createAppDatabase } from '../test/helpers/sqlite.ts';
import { cpuSeconds, runTimedWriter } from './lib/processes.ts';
import { fixed } from './lib/stats.ts';

const DB = 'app.db';
const RATE = 1000;

/** A V8 CPU profile as `node --cpu-prof` writes it. */
interface CpuProfile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }>;
  samples: number[];
  timeDeltas: number[];
}

/**
 * The functions that take the most of a profile's busy (not idle) time, counting what they call:
 * where per-commit CPU goes, as shares that add up along each call path.
 */
function hottest(file: string, top: number): string[] {
  const p = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<number, number>();
  p.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i] ?? 0)));
  let busy = 0;
  const total = new Map<string, number>();
  for (const [id, t] of self) {
    if (byId.get(id)!.callFrame.functionName === '(idle)') continue;
    busy += t;
    // A recursive function counts once per sample.
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const f = byId.get(at)!.callFrame;
      const name = `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*\/(dist|node_modules)\//, '$1/')}:${f.lineNumber + 1}`;
      if (seen.has(name)) continue;
      seen.add(name);
      total.set(name, (total.get(name) ?? 0) + t);
    }
  }
  return [...total]
    .filter(([name]) => !name.startsWith('(root)'))
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([name, t]) => `${fixed((t / busy) * 100, 1).padStart(5)}%  ${name}`);
}

/**
 * `npm run bench -- profile`: a primary and one replica (BENCH_REPLICAS=0: the primary alone, as
 * the footprint bench runs it) under `node --cpu-prof`, a writer at 1000 single-row transactions
 * a second for BENCH_WINDOW seconds (20); prints each node's CPU as a share of one core (the
 * profiler adds some) and the functions that take most of its busy time. The .cpuprofile files
 * are kept (open them in Chrome's DevTools) in a folder it names.
 */
export async function benchProfile(root: string): Promise<void> {
  const seconds = Number(process.env.BENCH_WINDOW ?? 20);
  const withReplica = process.env.BENCH_REPLICAS !== '0';
  const profiles = fs.mkdtempSync(path.join(os.tmpdir(), 'litefleet-profile-'));
  console.log(`\nprofile: a primary${withReplica ? ' and one replica' : ' alone'} under node --cpu-prof, ${seconds} s at ${RATE} tx/s`);
  fs.mkdirSync(path.join(root, 'primary', 'live'), { recursive: true });
  createAppDatabase(path.join(root, 'primary', 'live', DB));
  const prof = (role: string) => ['--cpu-prof', `--cpu-prof-dir=${path.join(profiles, role)}`];
  const primary = await NodeProcess.start({ root: path.join(root, 'primary'), nodeArgs: prof('primary') });
  const nodes = [primary];
  if (withReplica) nodes.push(await NodeProcess.start({ root: path.join(root, 'replica'), candidate: false, primaryUrl: primary.url, nodeArgs: prof('replica') }));
  const roles = ['primary', 'replica'].slice(0, nodes.length);
  try {
    const txid = await primary.waitForTxid(DB, 1);
    for (const n of nodes) await n.waitForTxid(DB, txid);
    // Past start-up work (the first snapshot, JIT warm-up) before the window.
    await sleep(3_000);
    const before = nodes.map((n) => cpuSeconds(n.pid!));
    const res = await runTimedWriter(path.join(primary.dir, DB), seconds, RATE);
    const after = nodes.map((n) => cpuSeconds(n.pid!));
    const shares = roles.map((role, i) => `${role} ${fixed(((after[i]! - before[i]!) / res.seconds) * 100, 1)}%`);
    console.log(`  writer: ${fixed(res.rate, 0)} tx/s; CPU: ${shares.join(', ')} of one core (under the profiler)`);
  } finally {
    // The profiles are written as each process exits.
    for (const n of nodes.reverse()) await n.stop();
  }
  for (const role of roles) {
    const dir = path.join(profiles, role);
    const file = path.join(dir, fs.readdirSync(dir).find((f) => f.endsWith('.cpuprofile'))!);
    console.log(`  ${role}: the functions taking most of its busy time (with what they call), from ${file}\n    ${hottest(file, 25).join('\n    ')}`);
  }
}
