// An app with one database per tenant, in its own process: single-row INSERT transactions spread
// over every database in `dir` for `seconds`, flat out, through a pool of at most 64 open
// connections (a tenant's connection is opened when a write comes for it, the oldest closed).
// Usage: node spread-writer.mjs <dir> <seconds>. Prints {"commits":…,"seconds":…,"rate":…}.
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';

const POOL = 64;
const [dir, secondsArg] = process.argv.slice(2);
const names = fs.readdirSync(dir).filter((n) => n.endsWith('.db'));
const pool = new Map();
const connection = (name) => {
  let c = pool.get(name);
  if (c) {
    pool.delete(name);
  } else {
    if (pool.size >= POOL) {
      const [oldest, conn] = pool.entries().next().value;
      conn.db.close();
      pool.delete(oldest);
    }
    const db = new Database(path.join(dir, name), { timeout: 5000 });
    c = { db, ins: db.prepare('INSERT INTO t(v) VALUES (?)') };
  }
  pool.set(name, c);
  return c;
};
const start = performance.now();
const end = start + Number(secondsArg) * 1000;
let commits = 0;
while (performance.now() < end) {
  connection(names[Math.floor(Math.random() * names.length)]).ins.run('x'.repeat(100));
  commits++;
}
const seconds = (performance.now() - start) / 1000;
for (const c of pool.values()) c.db.close();
console.log(JSON.stringify({ commits, seconds, rate: commits / seconds }));
