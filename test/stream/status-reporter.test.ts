import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StatusReporter } from '../../src/stream/status-reporter.ts';
import { waitFor } from '../helpers/wait.ts';

test('a lone report leaves at once; under a stream of applies reports keep a gap, and the last apply is reported', async () => {
  const sentAt: number[] = [];
  const reporter = new StatusReporter(async () => {
    sentAt.push(performance.now());
  });
  reporter.report();
  assert.equal(sentAt.length, 1, 'the first report is sent at once');
  let lastApply = 0;
  for (let i = 0; i < 60; i++) {
    await new Promise((r) => setTimeout(r, 1));
    lastApply = performance.now();
    reporter.report();
  }
  await waitFor(() => sentAt[sentAt.length - 1]! >= lastApply, 5_000, 'the last apply to be reported');
  const gaps = sentAt.slice(1).map((t, i) => t - sentAt[i]!);
  // Timers fire on the event loop's clock, a little early by performance.now(); one per apply came ~1 ms apart.
  assert.ok(gaps.every((g) => g >= 5), `reports about 10 ms apart, not one per apply: gaps ${gaps.map((g) => g.toFixed(1)).join(', ')}`);
});

test('a report applied while one is out goes once that one is back', async () => {
  let sent = 0;
  let answer: (() => void) | undefined;
  const reporter = new StatusReporter(() => {
    sent++;
    return new Promise<void>((resolve) => (answer = resolve));
  });
  reporter.report();
  reporter.report();
  reporter.report();
  assert.equal(sent, 1, 'never two at a time');
  answer!();
  await waitFor(() => sent === 2, 5_000, 'the next report');
  answer!();
});
