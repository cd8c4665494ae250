// An app instance reading a node's database the way apps do: a read-only connection, reopened
// every so often (closing it is what once let SQLite delete the WAL under a demoted node), reading
// count(*) and max(id) of t every 20 ms. The soak's writer inserts ids 1, 2, 3… without gaps, so
// the two always agree in a consistent state. Prints {"iterations", "errors", "violations"} on SIGTERM.
// Usage: node soak-reader.mjs <db>
import Database from 'better-sqlite3';

const file = process.argv[2];
const out = { iterations: 0, errors: [], violations: [] };
let stop = false;
process.on('SIGTERM', () => (stop = true));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
while (!stop) {
  let db;
  try {
    db = new Database(file, { readonly: true, timeout: 5000 });
    const q = db.prepare('SELECT count(*) AS n, coalesce(max(id), 0) AS m FROM t');
    for (let i = 0; i < 50 && !stop; i++) {
      const { n, m } = q.get();
      out.iterations++;
      if (n !== m && out.violations.length < 20) out.violations.push(`count ${n} but max(id) ${m}`);
      await sleep(20);
    }
  } catch (err) {
    if (out.errors.length < 20 && !/no such table/.test(err.message)) out.errors.push(err.message);
    await sleep(20);
  } finally {
    db?.close();
  }
}
process.stdout.write(`${JSON.stringify(out)}\n`);
