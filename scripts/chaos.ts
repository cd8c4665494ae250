// `npm run chaos [-- --runs N --rounds N --seed N]`: chaos runs against a real etcd (see
// test/chaos/chaos-run.ts), each in a fresh folder; prints each run's figures and the totals, and
// exits 1 if any invariant broke.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { runChaos, type ChaosReport } from '../test/chaos/chaos-run.ts';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' }, rounds: { type: 'string', default: '30' }, seed: { type: 'string', default: String(Date.now() % 100000) }, verbose: { type: 'boolean', default: false } } });
const runs = Number(values.runs);
const reports: ChaosReport[] = [];
for (let r = 0; r < runs; r++) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'litefleet-chaos-'));
  const seed = Number(values.seed) + r;
  try {
    const rep = await runChaos({ root, rounds: Number(values.rounds), seed, log: values.verbose ? (l) => console.log(`  ${l}`) : undefined });
    reports.push(rep);
    const before = rep.lost.map((l) => l.msBeforeCrash).sort((a, b) => a - b);
    const lostAt = before.length ? `${before[Math.floor(before.length / 2)]} ms median, ${before[before.length - 1]} ms at most` : '';
    console.log(
      `run ${r + 1} (seed ${seed}): ${rep.rounds} rounds, ${rep.primaryKills} kills of the primary, ${rep.acked} acknowledged writes, ` +
        `${rep.lost.length} lost${lostAt ? ` (acknowledged ${lostAt} before a crash)` : ''}, ${rep.discarded} kept only in discarded/, ` +
        `${rep.snapshots} full snapshots, final TXID ${rep.finalTxid} for ${rep.rows} rows, ${(rep.durationMs / 1000).toFixed(0)} s` +
        (rep.violations.length ? `\n  VIOLATIONS:\n  ${rep.violations.join('\n  ')}` : ', all invariants held'),
    );
  } finally {
    if (!process.env.KEEP_CHAOS_DIRS) fs.rmSync(root, { recursive: true, force: true });
  }
}
const sum = (f: (r: ChaosReport) => number) => reports.reduce((s, r) => s + f(r), 0);
console.log(
  `total: ${runs} runs, ${sum((r) => r.rounds)} rounds, ${sum((r) => r.primaryKills)} kills of the primary, ${sum((r) => r.acked)} acknowledged writes, ` +
    `${sum((r) => r.lost.length)} lost, ${sum((r) => r.discarded)} kept only in discarded/, ${sum((r) => r.snapshots)} full snapshots, ${sum((r) => r.violations.length)} violations`,
);
if (sum((r) => r.violations.length) > 0) process.exitCode = 1;
