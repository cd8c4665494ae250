import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, NodeProcess, sleep } from '../test/helpers/node-process.ts';
import { createAppDatabase } from '../test/helpers/sqlite.ts';
import { cpuSeconds, rssMb } from './lib/processes.ts';
import { fixed } from './lib/stats.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
// A node's descriptors per database are measured, not assumed: this only sizes the limit asked for.
const FDS_PER_DB_CEILING = 12;
const IDLE_WINDOW_S = 10;
const WRITE_SECONDS = 10;

/** TXID of every database a node reports (GET /positions), by name. */
async function positions(node: NodeProcess): Promise<Map<string, string>> {
  const res = await fetch(`${node.url}/positions`, { headers: { authorization: `Bearer ${node.token}` }, signal: AbortSignal.timeout(10_000) });
  if (!res.ok) throw new Error(`/positions answered ${res.status}`);
  return new Map(Object.entries(((await res.json()) as { databases: Record<string, string> }).databases));
}

/** Polls until `ok` holds (a node that does not answer yet counts as not yet); ms it took. */
async function timeUntil(ok: () => Promise<boolean>, timeoutMs: number, what: string): Promise<number> {
  const started = performance.now();
  for (;;) {
    if (await ok().catch(() => false)) return performance.now() - started;
    if (performance.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

/** The replica holds every database the primary has, at the primary's position. */
async function converged(primary: NodeProcess, replica: NodeProcess, count: number): Promise<boolean> {
  const [p, r] = await Promise.all([positions(primary), positions(replica)]);
  if (p.size < count) return false;
  for (const [name, pos] of p) if (r.get(name) !== pos) return false;
  return true;
}

async function health(node: NodeProcess): Promise<string> {
  return ((await (await fetch(`${node.url}/health`, { signal: AbortSignal.timeout(10_000) })).json()) as { status: string }).status;
}

function openDescriptors(pid: number): number {
  return fs.readdirSync(`/proc/${pid}/fd`).length;
}

function runSpreadWriter(dir: string, seconds: number): Promise<{ commits: number; rate: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(here, 'lib', 'spread-writer.mjs'), dir, String(seconds)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(JSON.parse(out) as { commits: number; rate: number }) : reject(new Error(`spread writer exited with ${code}`))));
  });
}

function hardFileLimit(): number {
  return Number(execFileSync('sh', ['-c', 'ulimit -Hn']).toString().trim());
}

/**
 * Raises this process's open-file limit (its children inherit it, and a node raises its soft
 * limit to the hard one) to fit `count` databases; never lowers it. False when the system refuses.
 */
function allowDescriptors(count: number): boolean {
  const want = count * FDS_PER_DB_CEILING + 1024;
  if (hardFileLimit() >= want) return true;
  try {
    execFileSync('prlimit', ['--pid', String(process.pid), `--nofile=${want}:${want}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Many databases per node (`npm run bench -- scale`): for each count (BENCH_SCALE, default
 * 1,100,1000,10000) a primary and a replica with that many small databases (static lease) —
 * time until the replica holds every one, each node's RSS, descriptors and idle CPU, then an app
 * spreading single-row transactions over all of them flat out (its rate, and how long the
 * replica takes to catch up once it stops).
 */
export async function benchScale(root: string): Promise<void> {
  const counts = (process.env.BENCH_SCALE ?? '1,100,1000,10000').split(',').map(Number);
  console.log(`\nscale: a primary and a replica per row; idle over ${IDLE_WINDOW_S} s; then ${WRITE_SECONDS} s of an app writing to random databases flat out`);
  console.log('  goal: 10000 databases converge and replicate with RSS ≤ 300 MB and idle CPU ≤ 5% of a core on each node');
  for (const count of counts) {
    if (!allowDescriptors(count)) console.log(`  (the system refuses a higher open-file limit: the nodes run at ${hardFileLimit()}, and a primary reports the databases it has no room for)`);
    const dir = path.join(root, `n${count}`);
    const [pPort, rPort] = [await freePort(), await freePort()];
    const primary = await NodeProcess.create({ root: path.join(dir, 'primary'), port: pPort, extraConfig: 'capture: {}' });
    const replica = await NodeProcess.create({ root: path.join(dir, 'replica'), port: rPort, candidate: false, primaryUrl: primary.url, extraConfig: 'capture: {}' });
    for (let i = 0; i < count; i++) createAppDatabase(path.join(primary.dir, `tenant${String(i).padStart(5, '0')}.db`));
    try {
      const started = performance.now();
      await primary.restart(600_000);
      const primaryHealthy = performance.now() - started;
      await replica.restart(600_000);
      const timeout = 60_000 + count * 100;
      // Every database tried: captured, or reported (no room under the open-file limit).
      await timeUntil(async () => (await primary.info()).databases.length === count && (await health(primary)) !== 'starting', timeout, `the primary to open ${count} databases`);
      const primaryReady = performance.now() - started;
      const captured = (await positions(primary)).size;
      await timeUntil(() => converged(primary, replica, captured), timeout, `the replica to hold ${captured} databases`);
      const convergedMs = performance.now() - started;

      await sleep(5_000);
      const cpu0 = [cpuSeconds(primary.pid!), cpuSeconds(replica.pid!)];
      await sleep(IDLE_WINDOW_S * 1000);
      const idle = [cpuSeconds(primary.pid!) - cpu0[0]!, cpuSeconds(replica.pid!) - cpu0[1]!].map((s) => fixed((s / IDLE_WINDOW_S) * 100, 1));
      const rss = [rssMb(primary.pid), rssMb(replica.pid)].map((m) => fixed(m, 0));
      const fds = [openDescriptors(primary.pid!), openDescriptors(replica.pid!)];

      const w = await runSpreadWriter(primary.dir, WRITE_SECONDS);
      const catchUp = await timeUntil(() => converged(primary, replica, captured), timeout, 'the replica to catch up');
      console.log(
        `  ${count} databases${captured < count ? ` (${captured} captured, ${count - captured} reported: no room under the open-file limit)` : ''}: ` +
          `primary healthy after ${fixed(primaryHealthy / 1000, 1)} s, all opened after ${fixed(primaryReady / 1000, 1)} s, replica holds all after ${fixed(convergedMs / 1000, 1)} s; ` +
          `RSS ${rss[0]} / ${rss[1]} MB, descriptors ${fds[0]} / ${fds[1]} (${fixed(fds[0]! / captured, 1)} / ${fixed(fds[1]! / captured, 1)} per database), idle CPU ${idle[0]}% / ${idle[1]}% (primary / replica); ` +
          `app ${fixed(w.rate, 0)} tx/s over all databases, replica caught up ${fixed(catchUp, 0)} ms after it stopped`,
      );
    } finally {
      await replica.stop();
      await primary.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
}
