import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runChaos } from '../chaos/chaos-run.ts';
import { makeTempDir } from '../helpers/temp-dir.ts';

// The short chaos runs of `npm test` (the long ones are `npm run chaos`): a different seed each
// time, printed with any failure so it can be run again.
test('chaos: SIGKILL and SIGSTOP of primaries and replicas under writes break no invariant', { timeout: 300_000 }, async () => {
  const seed = Number(process.env.CHAOS_SEED ?? Date.now() % 100_000);
  const report = await runChaos({ root: makeTempDir('litefleet-chaos-'), rounds: 8, seed });
  assert.deepEqual(report.violations, [], `seed ${seed}: ${JSON.stringify({ ...report, lost: report.lost.length })}`);
  assert.ok(report.rounds === 8 && report.acked > 500, `seed ${seed}: the run did what it should (${report.rounds} rounds, ${report.acked} writes)`);
});

test('chaos with writes acknowledged by a replica (exec ?replicas=1): no acknowledged write is lost across crashes of the primary while a replica that confirmed it survives', { timeout: 300_000 }, async () => {
  const seed = Number(process.env.CHAOS_SEED ?? Date.now() % 100_000);
  const report = await runChaos({ root: makeTempDir('litefleet-chaos-sync-'), rounds: 4, seed, replicas: 1, faults: ['kill-primary', 'kill-two'] });
  assert.deepEqual(report.violations, [], `seed ${seed}: ${JSON.stringify({ ...report, lost: report.lost.length })}`);
  assert.ok(report.primaryKills === 4 && report.acked > 100, `seed ${seed}: the run did what it should (${report.rounds} rounds, ${report.primaryKills} kills of the primary, ${report.acked} writes)`);
});
