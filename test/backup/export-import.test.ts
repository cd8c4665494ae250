import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { startCluster } from '../helpers/cluster.ts';
import { runCli } from '../helpers/node-process.ts';
import { databaseChecksum, runSqliteCli } from '../helpers/sqlite.ts';
import { makeTempDir } from '../helpers/temp-dir.ts';

const DB = 'app.db';

test('export from a replica, import refused for a non-database and changing nothing, import as one replicated transaction with the state before restorable, import of a new database', async () => {
  const backupDir = makeTempDir('litefleet-target-');
  const c = await startCluster(3, ['backup:', `  url: "file://${backupDir}"`].join('\n'));
  const [replica, other] = c.replicas as [NonNullable<(typeof c.replicas)[0]>, NonNullable<(typeof c.replicas)[0]>];
  await runSqliteCli(path.join(c.primary.dir, DB), ".timeout 5000\nPRAGMA journal_mode=WAL; CREATE TABLE users(id INTEGER PRIMARY KEY, email TEXT); INSERT INTO users(email) VALUES ('before@example.com');");
  await runSqliteCli(path.join(c.primary.dir, DB), ".timeout 5000\nINSERT INTO users(email) VALUES ('before2@example.com');");
  const work = makeTempDir('litefleet-io-');
  const before = await c.primary.waitForCapture(DB);
  await replica.waitForTxid(DB, before.txid);

  // Export from a replica: the same content, sound.
  const exported = path.join(work, 'exported.db');
  const ex = await runCli(['export', '-c', replica.configPath, '--db', DB, exported]);
  assert.equal(ex.code, 0, ex.stderr);
  assert.match(ex.stdout, new RegExp(`exported app\\.db at TXID ${before.txid}`));
  assert.equal(databaseChecksum(exported).checksum.toString(16).padStart(16, '0'), before.checksum);
  assert.equal(await runSqliteCli(exported, 'PRAGMA integrity_check; SELECT count(*) FROM users;', ['-readonly']), 'ok\n2\n');
  assert.match((await runCli(['export', '-c', replica.configPath, '--db', DB, exported])).stderr, /exists; export writes a new file/);
  assert.match((await runCli(['export', '-c', replica.configPath, '--db', 'nope.db', path.join(work, 'n.db')])).stderr, /unknown database nope\.db/);

  // A file that is not a database is refused, by the CLI and by the primary's API, and nothing changes.
  const junk = path.join(work, 'junk.db');
  fs.writeFileSync(junk, 'this is not a database\n'.repeat(100));
  const refused = await runCli(['import', '-c', other.configPath, '--db', DB, junk]);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /junk\.db is not a sound SQLite database .*nothing was changed/);
  const api = await fetch(`${c.primary.url}/db/${DB}/import`, { method: 'POST', headers: { authorization: `Bearer ${c.primary.token}` }, body: fs.readFileSync(junk) });
  assert.equal(api.status, 400);
  assert.match(((await api.json()) as { error: string }).error, /not an SQLite database .*nothing was changed/);
  assert.equal((await c.primary.info()).databases.find((d) => d.name === DB)!.txid, before.txid);

  // A database made elsewhere replaces the live one as one transaction, everywhere.
  const seed = path.join(work, 'seed.db');
  await runSqliteCli(seed, "CREATE TABLE users(id INTEGER PRIMARY KEY, email TEXT); CREATE TABLE roles(name TEXT); INSERT INTO users(email) VALUES ('imported@example.com'); INSERT INTO roles VALUES ('admin'), ('user');");
  const imp = await runCli(['import', '-c', other.configPath, '--db', DB, seed]);
  assert.equal(imp.code, 0, imp.stderr);
  assert.match(imp.stdout, new RegExp(`as TXID ${before.txid + 1}`));
  for (const n of c.nodes) {
    await n.waitForTxid(DB, before.txid + 1);
    assert.equal(await runSqliteCli(path.join(n.dir, DB), 'SELECT email FROM users; SELECT name FROM roles ORDER BY 1; PRAGMA integrity_check;', ['-readonly']), 'imported@example.com\nadmin\nuser\nok\n');
    assert.equal(await runSqliteCli(path.join(n.dir, DB), 'PRAGMA journal_mode;', ['-readonly']), 'wal\n');
  }

  // The state before the import stays restorable from the backup, once the backup has the import too.
  await c.primary.waitForBackup(DB, before.txid + 1);
  const restored = path.join(work, 'restored.db');
  const r = await runCli(['restore', '-c', c.primary.configPath, '--db', DB, '--txid', String(before.txid), '-o', restored]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(await runSqliteCli(restored, 'SELECT email FROM users ORDER BY id;', ['-readonly']), 'before@example.com\nbefore2@example.com\n');

  // Restored into the live cluster: the state before the import is back everywhere, as a new transaction.
  const back = await runCli(['restore', '-c', other.configPath, '--db', DB, '--txid', String(before.txid), '--into-cluster']);
  assert.equal(back.code, 0, back.stderr);
  const loaded = Number(/loaded into the cluster as TXID (\d+)/.exec(back.stdout)?.[1]);
  assert.equal(loaded, before.txid + 2);
  for (const n of c.nodes) {
    await n.waitForTxid(DB, loaded);
    assert.equal(await runSqliteCli(path.join(n.dir, DB), 'SELECT email FROM users ORDER BY id;', ['-readonly']), 'before@example.com\nbefore2@example.com\n');
  }

  // Importing under a new name creates the database on every node.
  const created = await runCli(['import', '-c', replica.configPath, '--db', 'cache.db', seed]);
  assert.equal(created.code, 0, created.stderr);
  assert.match(created.stdout, /\(a new database\)/);
  for (const n of c.nodes) {
    await n.waitForTxid('cache.db', 1);
    assert.equal(await runSqliteCli(path.join(n.dir, 'cache.db'), 'SELECT count(*) FROM roles;', ['-readonly']), '2\n');
  }
});
