// An app writing single-row INSERT transactions through better-sqlite3, in its own process.
// Usage: node timed-writer.mjs <db> <seconds> [tx/s]. With a rate the commits are paced and each
// one's wall-clock time (ms, sub-millisecond precision) is printed, so a bench can measure how
// long capture takes, and the p50/p99 time the app spent in a commit; without one it writes flat
// out and prints the rate it reached.
import Database from 'better-sqlite3';

const [dbPath, secondsArg, rateArg] = process.argv.slice(2);
const seconds = Number(secondsArg);
const rate = Number(rateArg ?? 0);
const db = new Database(dbPath, { timeout: 5000 });
const ins = db.prepare('INSERT INTO t(v) VALUES (?)');
const sleeper = new Int32Array(new SharedArrayBuffer(4));
const times = [];
const durations = [];
const start = performance.now();
const end = start + seconds * 1000;
let commits = 0;
for (;;) {
  if (rate) {
    const wait = start + (commits * 1000) / rate - performance.now();
    if (wait > 0) Atomics.wait(sleeper, 0, 0, wait);
  }
  const now = performance.now();
  if (now >= end) break;
  ins.run('x'.repeat(100));
  commits++;
  if (rate) {
    const done = performance.now();
    durations.push(done - now);
    times.push(performance.timeOrigin + done);
  }
}
const elapsed = (performance.now() - start) / 1000;
db.close();
durations.sort((a, b) => a - b);
const commitMs = { p50: durations[Math.floor(durations.length * 0.5)] ?? 0, p99: durations[Math.floor(durations.length * 0.99)] ?? 0 };
process.stdout.write(`${JSON.stringify({ commits, seconds: elapsed, rate: commits / elapsed, commitMs, times })}\n`);
