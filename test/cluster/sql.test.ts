import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { startCluster } from '../helpers/cluster.ts';
import { CLI, runCli } from '../helpers/node-process.ts';
import { runSqliteCli } from '../helpers/sqlite.ts';
import { makeTempDir } from '../helpers/temp-dir.ts';
import { waitFor } from '../helpers/wait.ts';

const DB = 'app.db';

test('SQL on the live cluster: exec from a replica, query, errors that change nothing, and seeding from a sqlite3 data-only dump in one transaction', async () => {
  const c = await startCluster(3);
  const [replica, other] = c.replicas;
  await runSqliteCli(path.join(c.primary.dir, DB), '.timeout 5000\nPRAGMA journal_mode=WAL; CREATE TABLE users(id INTEGER PRIMARY KEY AUTOINCREMENT, email TEXT UNIQUE, avatar BLOB, score REAL);');
  await replica!.waitForTxid(DB, 1);

  // From a replica: runs on the primary, returns once this replica has it.
  const ex = await runCli(['exec', '-c', replica!.configPath, '--db', DB, "INSERT INTO users(email, score) VALUES ('kody@example.com', 1.5); INSERT INTO users(email) VALUES ('hannah@example.com');"]);
  assert.equal(ex.code, 0, ex.stderr);
  const txid = Number(/committed as TXID (\d+): 2 statements, 2 rows changed/.exec(ex.stdout)?.[1]);
  assert.ok(txid >= 2, ex.stdout);
  const q = await runCli(['query', '-c', replica!.configPath, '--db', DB, '--json', 'SELECT email, score FROM users ORDER BY id']);
  assert.deepEqual(JSON.parse(q.stdout), [
    { email: 'kody@example.com', score: 1.5 },
    { email: 'hannah@example.com', score: null },
  ]);
  // `query` reads the node's own copy; the exec waited for `replica` alone.
  await other!.waitForTxid(DB, txid);
  const table = await runCli(['query', '-c', other!.configPath, '--db', DB, 'SELECT id, email FROM users WHERE id = 1']);
  assert.equal(table.stdout, 'id  email\n1   kody@example.com\n');

  // A failing statement rolls the whole script back; nothing is replicated.
  const bad = await runCli(['exec', '-c', replica!.configPath, '--db', DB, "INSERT INTO users(email) VALUES ('x@example.com'); INSERT INTO users(email) VALUES ('kody@example.com');"]);
  assert.equal(bad.code, 2, 'a statement that fails is the input the command was given');
  assert.match(bad.stderr, /statement 2 failed \(UNIQUE constraint failed: users\.email\).*nothing was changed/);
  assert.equal((await c.primary.info()).databases.find((d) => d.name === DB)!.txid, txid);
  const unknown = await runCli(['exec', '-c', replica!.configPath, '--db', 'nope.db', 'SELECT 1']);
  assert.match(unknown.stderr, /unknown database nope\.db; the databases are: app\.db/);
  const write = await runCli(['query', '-c', replica!.configPath, '--db', DB, "DELETE FROM users"]);
  assert.match(write.stderr, /query only reads; run writes with litefleet exec/);

  // Seeding: a seed database made with the sqlite3 CLI, dumped data-only, applied from a replica.
  const work = makeTempDir('litefleet-seed-');
  const seed = path.join(work, 'seed.db');
  await runSqliteCli(seed, "CREATE TABLE users(id INTEGER PRIMARY KEY AUTOINCREMENT, email TEXT UNIQUE, avatar BLOB, score REAL); INSERT INTO users(id, email, avatar, score) VALUES (10, 'it''s-me@example.com', x'89504e47', -2), (11, 'admin@example.com', NULL, 0.1);");
  fs.writeFileSync(path.join(work, 'seed.sql'), await runSqliteCli(seed, '.dump --data-only'));
  const before = (await c.primary.info()).databases.find((d) => d.name === DB)!.txid;
  const seeded = await runCli(['exec', '-c', other!.configPath, '--db', DB, '-f', path.join(work, 'seed.sql')]);
  assert.equal(seeded.code, 0, seeded.stderr);
  const after = (await c.primary.info()).databases.find((d) => d.name === DB)!.txid;
  assert.equal(after, before + 1, 'the seed is one transaction');
  for (const n of c.nodes) {
    await n.waitForTxid(DB, after);
    const rows = await runSqliteCli(path.join(n.dir, DB), "SELECT id, email, hex(avatar), score FROM users WHERE id >= 10 ORDER BY id;", ['-readonly']);
    assert.equal(rows, "10|it's-me@example.com|89504E47|-2.0\n11|admin@example.com||0.1\n");
  }

  // litefleet dump writes what the sqlite3 CLI's .dump writes: the same statements in the same
  // order (reals in their shortest exact form rather than 20 digits), loading into the same database.
  for (const args of [[], ['--data-only'], ['--table', 'users']]) {
    const ours = (await runCli(['dump', '-c', other!.configPath, '--db', DB, ...args])).stdout;
    const theirs = await runSqliteCli(path.join(other!.dir, DB), `.dump ${args.includes('--data-only') ? '--data-only' : args.includes('--table') ? 'users' : ''}`, ['-readonly']);
    const sameButReals = (t: string) => t.replace(/0\.10*5*\d*/g, '0.1');
    assert.equal(sameButReals(ours), sameButReals(theirs), `dump ${args.join(' ')}`);
    if (args.length === 0) {
      const [a, b] = [path.join(work, 'from-ours.db'), path.join(work, 'from-theirs.db')];
      await runSqliteCli(a, ours);
      await runSqliteCli(b, theirs);
      assert.equal(await runSqliteCli(a, '.dump'), await runSqliteCli(b, '.dump'));
    }
  }
});

test('litefleet shell through a pseudo-terminal: dot commands, local reads, writes through the primary, timer, history', async () => {
  const c = await startCluster(2);
  const replica = c.replicas[0]!;
  await runSqliteCli(path.join(c.primary.dir, DB), '.timeout 5000\nPRAGMA journal_mode=WAL; CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT);');
  await replica.waitForTxid(DB, 1);
  const home = makeTempDir('litefleet-home-');
  // util-linux `script` runs the shell on a pseudo-terminal, as a person at a terminal would.
  const proc = spawn('script', ['-qfec', `${process.execPath} ${CLI} shell -c ${replica.configPath} --db ${DB}`, '/dev/null'], { env: { ...process.env, HOME: home, TERM: 'dumb' }, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const shows = (re: RegExp) => waitFor(() => re.test(out), 15_000, () => `the shell to print ${re}; it printed:\n${out}`);
  const type = async (line: string, expect: RegExp) => {
    proc.stdin.write(`${line}\r`);
    await shows(expect);
  };
  await shows(/app\.db> /);
  await type('.tables', /notes/);
  await type(".timer on", /app\.db> .*\.timer on[\s\S]*app\.db> /);
  await type("INSERT INTO notes(body)", /\.\.\.> /);
  await type("VALUES ('typed in the shell');", /committed on the primary as TXID \d+ \(1 rows changed\)[\s\S]*Run Time/);
  await type('SELECT id, body FROM notes;', /1\s+typed in the shell/);
  await type('.schema notes', /CREATE TABLE notes\(id INTEGER PRIMARY KEY, body TEXT\);/);
  await type('SELEC oops;', /Error: .*syntax error/);
  proc.stdin.write('.quit\r');
  await new Promise((r) => proc.once('exit', r));
  const rows = await runSqliteCli(path.join(c.primary.dir, DB), 'SELECT body FROM notes;', ['-readonly']);
  assert.equal(rows, 'typed in the shell\n');
  const history = fs.readFileSync(path.join(home, '.litefleet_history'), 'utf8');
  assert.match(history, /SELECT id, body FROM notes;/);
});
