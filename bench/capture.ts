import fs from 'node:fs';
import path from 'node:path';
import { NodeProcess } from '../test/helpers/node-process.ts';
import { createAppDatabase } from '../test/helpers/sqlite.ts';
import { runTimedWriter, startCpuBurner, watchTxEvents, type WriterResult } from './lib/processes.ts';
import { fixed, median, percentile } from './lib/stats.ts';

const DB = 'sqlite.db';

/** One window of the app writing, with a capturing node beside it or not; with the node, how long each commit took to reach the log. */
async function window(root: string, db: string, seconds: number, rate: number, capturing: boolean): Promise<WriterResult & { captureMs: number[] }> {
  if (!capturing) return { ...(await runTimedWriter(db, seconds, rate)), captureMs: [] };
  // `capture: {}` keeps the product's defaults (the test helper polls faster, for quick tests).
  const node = await NodeProcess.start({ root, extraConfig: 'capture: {}' });
  try {
    const base = await node.waitForTxid(DB, 1);
    // Flat out only the rate counts: following tens of thousands of events a second would make
    // this process a third one competing for the two cores.
    const events = rate ? watchTxEvents(node, DB) : undefined;
    const res = await runTimedWriter(db, seconds, rate);
    if (!events) return { ...res, captureMs: [] };
    await node.waitForTxid(DB, base + res.commits);
    const seen = events.stop();
    const captureMs: number[] = [];
    res.times.forEach((t, i) => {
      const at = seen.get(base + 1 + i);
      if (at !== undefined) captureMs.push(at - t);
    });
    return { ...res, captureMs };
  } finally {
    await node.stop();
  }
}

/**
 * The app's write rate with the node capturing against without it, in alternating windows on the
 * same database: flat out, and at a steady rate where what matters is how long the app's commits
 * take and how soon each is in the log (the node's event for it arriving at an app on GET /events);
 * each on a quiet box and again with one CPU-bound process beside them (a neighbour on a shared VM).
 */
export async function benchCapture(root: string): Promise<void> {
  const rounds = Number(process.env.BENCH_ROUNDS ?? 5);
  const seconds = Number(process.env.BENCH_WINDOW ?? 3);
  fs.mkdirSync(path.join(root, 'live'), { recursive: true });
  const db = path.join(root, 'live', DB);
  createAppDatabase(db);

  for (const [rate, busy] of [[0, false], [1000, false], [0, true], [1000, true]] as const) {
    const stopBurner = busy ? startCpuBurner() : undefined;
    try {
      await benchCase(root, db, rounds, seconds, rate, busy);
    } finally {
      stopBurner?.();
    }
  }
}

/** One case of benchCapture: `rounds` pairs of windows at `rate` (0: flat out). */
async function benchCase(root: string, db: string, rounds: number, seconds: number, rate: number, busy: boolean): Promise<void> {
  console.log(`\ncapture, ${rate ? `app at ${rate} tx/s` : 'app flat out'}${busy ? ', one CPU-bound process beside it' : ''}: ${rounds} rounds of ${seconds} s windows, one single-row INSERT per transaction`);
  console.log('round  without tx/s  with tx/s  ratio  commit p50/p99 without  with         capture p50/p99');
  const ratios: number[] = [];
  const commit: Record<'without' | 'with', number[][]> = { without: [], with: [] };
  const capture: number[][] = [];
  for (let r = 0; r < rounds; r++) {
    // Alternate which window goes first, so drift (a growing file, a busy disk) favours neither.
    const order = r % 2 === 0 ? [false, true] : [true, false];
    const res: Record<string, Awaited<ReturnType<typeof window>>> = {};
    for (const capturing of order) res[String(capturing)] = await window(root, db, seconds, rate, capturing);
    const off = res.false!;
    const on = res.true!;
    ratios.push(on.rate / off.rate);
    commit.without.push([off.commitMs.p50, off.commitMs.p99]);
    commit.with.push([on.commitMs.p50, on.commitMs.p99]);
    capture.push([percentile(on.captureMs, 50), percentile(on.captureMs, 99)]);
    const ms = (pair: number[]) => `${fixed(pair[0]!, 3)}/${fixed(pair[1]!, 3)} ms`.padEnd(20);
    console.log(
      `${String(r + 1).padStart(5)}  ${fixed(off.rate, 0).padStart(12)}  ${fixed(on.rate, 0).padStart(9)}  ${fixed(on.rate / off.rate, 3)}  ${rate ? ms([off.commitMs.p50, off.commitMs.p99]) : '-'.padEnd(20)}  ${rate ? ms([on.commitMs.p50, on.commitMs.p99]) : '-'.padEnd(12)}  ${rate ? ms(capture[r]!) : '-'}`,
    );
  }
  const med = (rows: number[][], i: number) => median(rows.map((row) => row[i]!));
  console.log(`median rate with/without capture: ${fixed(median(ratios), 3)} (goal ≥ 0.95)`);
  if (rate) {
    console.log(`median app commit time without: p50 ${fixed(med(commit.without, 0), 3)} ms, p99 ${fixed(med(commit.without, 1), 3)} ms`);
    console.log(`median app commit time with:    p50 ${fixed(med(commit.with, 0), 3)} ms, p99 ${fixed(med(commit.with, 1), 3)} ms`);
    console.log(`median capture latency (commit to logged, seen on /events): p50 ${fixed(med(capture, 0))} ms, p99 ${fixed(med(capture, 1))} ms (goal p50 ≤ 0.5 ms, p99 ≤ 5 ms)`);
  }
}
