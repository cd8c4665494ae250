// `npm run chaos [-- --runs N --rounds N --seed N --writes local,exec,sync]`: chaos runs against a
// real etcd (see test/chaos/chaos-run.ts), each in a fresh folder, `runs` in each way of writing:
// `local` (the app's own connection to the primary's database, acknowledged on commit), `exec`
// (the primary's POST /db/<name>/exec) and `sync` (exec with ?replicas=1: acknowledged once a
// replica has the write; one lost while a replica that confirmed it survived is a violation).
// Prints each run's figures and the totals of each way, and exits 1 if any invariant broke.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { runChaos, type ChaosReport } from '../test/chaos/chaos-run.ts';

const WRITES: Record<string, number | undefined> = { local: undefined, exec: 0, sync: 1 };

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '30' },
    seed: { type: 'string', default: String(Date.now() % 100000) },
    writes: { type: 'string', default: 'local,sync' },
    verbose: { type: 'boolean', default: false },
  },
});
const runs = Number(values.runs);
const ways = values.writes.split(',');
for (const w of ways) if (!Object.hasOwn(WRITES, w)) throw new Error(`--writes takes ${Object.keys(WRITES).join(', ')}, not ${w}`);
let violations = 0;
for (const way of ways) {
  const reports: ChaosReport[] = [];
  for (let r = 0; r < runs; r++) {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'litefleet-chaos-'));
    const seed = Number(values.seed) + r;
    let clean = false;
    try {
      const rep = await runChaos({ root, rounds: Number(values.rounds), seed, replicas: WRITES[way], log: values.verbose ? (l) => console.log(`  ${l}`) : undefined });
      reports.push(rep);
      const before = rep.lost.map((l) => l.msBeforeCrash).sort((a, b) => a - b);
      const lostAt = before.length ? `${before[Math.floor(before.length / 2)]} ms median, ${before[before.length - 1]} ms at most` : '';
      console.log(
        `${way} run ${r + 1} (seed ${seed}): ${rep.rounds} rounds, ${rep.primaryKills} kills of the primary, ${rep.acked} acknowledged writes, ` +
          `${rep.lost.length} lost${lostAt ? ` (acknowledged ${lostAt} before a crash)` : ''}, ${rep.discarded} kept only in discarded/, ` +
          (way === 'sync' ? `${rep.lostWithReplicas} of those with every replica that confirmed them, ` : '') +
          `${rep.snapshots} full snapshots, final TXID ${rep.finalTxid} for ${rep.rows} rows, ${(rep.durationMs / 1000).toFixed(0)} s` +
          (rep.violations.length ? `\n  VIOLATIONS:\n  ${rep.violations.join('\n  ')}` : ', all invariants held'),
      );
      clean = rep.violations.length === 0;
    } finally {
      // A run that failed or found something keeps its folder (the nodes' logs and the timeline).
      if (clean && !process.env.KEEP_CHAOS_DIRS) fs.rmSync(root, { recursive: true, force: true });
      else console.log(`  ${way} run ${r + 1}: its nodes' logs and timeline are in ${root}`);
    }
  }
  const sum = (f: (r: ChaosReport) => number) => reports.reduce((s, r) => s + f(r), 0);
  console.log(
    `total ${way}: ${runs} runs, ${sum((r) => r.rounds)} rounds, ${sum((r) => r.primaryKills)} kills of the primary, ${sum((r) => r.acked)} acknowledged writes, ` +
      `${sum((r) => r.lost.length)} lost, ${sum((r) => r.discarded)} kept only in discarded/, ` +
      (way === 'sync' ? `${sum((r) => r.lostWithReplicas)} of those with every replica that confirmed them, ` : '') +
      `${sum((r) => r.snapshots)} full snapshots, ${sum((r) => r.violations.length)} violations`,
  );
  violations += sum((r) => r.violations.length);
}
if (violations > 0) process.exitCode = 1;
