// Watches a replica database for new rows of t: polls max(id) every 0.5 ms (a tighter loop takes a core from the nodes) from a read-only
// connection and prints, when it gets SIGTERM, {"seen": {"<id>": <ms wall clock>}} for each id
// the first time it was visible. Usage: node visibility-reader.mjs <db> <first id>
import Database from 'better-sqlite3';

const [dbPath, firstArg] = process.argv.slice(2);
let last = Number(firstArg) - 1;
const seen = {};
let stop = false;
process.on('SIGTERM', () => (stop = true));
const db = new Database(dbPath, { readonly: true, timeout: 5000 });
const max = db.prepare('SELECT max(id) FROM t').pluck();
const sleeper = new Int32Array(new SharedArrayBuffer(4));
const loop = () => {
  for (let k = 0; k < 500; k++) {
    const m = max.get() ?? 0;
    if (m > last) {
      const now = performance.timeOrigin + performance.now();
      for (let id = last + 1; id <= m; id++) seen[id] = now;
      last = m;
    }
    Atomics.wait(sleeper, 0, 0, 0.5);
  }
  if (stop) {
    process.stdout.write(`${JSON.stringify({ seen })}\n`);
    process.exit(0);
  }
  setImmediate(loop);
};
loop();
