import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import Database from 'better-sqlite3';
import { makeTempDir } from '../helpers/temp-dir.ts';
import { NodeProcess, runCli, sleep } from '../helpers/node-process.ts';
import { replayLog } from '../helpers/replay.ts';
import { createAppDatabase, databaseChecksum, dumpRows, runSqliteCli, runWriter } from '../helpers/sqlite.ts';

const nodes: NodeProcess[] = [];
after(async () => {
  for (const n of nodes) await n.stop();
});

async function setup(extraConfig = ''): Promise<{ node: NodeProcess; db: string }> {
  const started: { node?: NodeProcess } = {};
  // The folder goes when the test ends, after its node has stopped writing there.
  const root = makeTempDir('litefleet-', async () => void (await started.node?.stop()));
  fs.mkdirSync(path.join(root, 'live'));
  const db = path.join(root, 'live', 'sqlite.db');
  createAppDatabase(db);
  const node = await NodeProcess.start({ root, extraConfig });
  started.node = node;
  nodes.push(node);
  await node.waitForTxid('sqlite.db', 1);
  return { node, db };
}

/** The log replays to the live database, and every TXID after the first snapshot appears once, in order. */
function assertChain(node: NodeProcess, db: string): { txids: number[]; snapshots: number } {
  const r = replayLog(path.join(node.dataDir, 'dbs', 'sqlite.db'), path.join(node.root, `replayed-${Date.now()}.db`));
  assert.equal(r.checksum, databaseChecksum(db).checksum, 'replayed log hashes to the live database');
  for (let i = 1; i < r.txids.length; i++) assert.ok(r.txids[i]! > r.txids[i - 1]!, `TXID ${r.txids[i]} repeats or goes back`);
  return r;
}

test('the API needs the token for everything but /health and /metrics', async () => {
  const { node } = await setup();
  const noToken = await fetch(`${node.url}/info`);
  assert.equal(noToken.status, 401);
  assert.match(((await noToken.json()) as { error: string }).error, /token/i);
  assert.equal(noToken.headers.get('www-authenticate'), 'Bearer realm="litefleet"');
  const wrong = await fetch(`${node.url}/info`, { headers: { authorization: 'Bearer not-the-token-at-all' } });
  assert.equal(wrong.status, 401);
  const wrongScheme = await fetch(`${node.url}/info`, { headers: { authorization: `Basic ${node.token}` } });
  assert.equal(wrongScheme.status, 401);
  assert.equal((await fetch(`${node.url}/health`)).status, 200);
  const metrics = await fetch(`${node.url}/metrics`);
  assert.equal(metrics.status, 200);
  assert.match(await metrics.text(), /litefleet_capture_wal_reset_count/);
  assert.equal((await fetch(`${node.url}/nope`, { headers: { authorization: `Bearer ${node.token}` } })).status, 404);
});

test('litefleet status prints the node and each database, as a table and as JSON', async () => {
  const { node, db } = await setup();
  const { commits } = await runWriter(db, 'inserts', 40);
  await node.waitForTxid('sqlite.db', 1 + commits);
  const json = await runCli(['status', '-c', node.configPath, '--json']);
  assert.equal(json.code, 0, json.stderr);
  const out = JSON.parse(json.stdout) as { node: { id: string; role: string }; databases: Array<Record<string, unknown>> };
  assert.equal(out.node.role, 'primary');
  assert.match(out.node.id, /^[0-9A-F]{16}$/);
  const live = databaseChecksum(db);
  assert.deepEqual(out.databases, [
    { name: 'sqlite.db', txid: 1 + commits, checksum: live.checksum.toString(16).padStart(16, '0'), pageSize: live.pageSize, pages: live.pageCount },
  ]);
  const table = await runCli(['status', '-c', node.configPath]);
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /PRIMARY/);
  assert.match(table.stdout, new RegExp(`sqlite\\.db\\s+${1 + commits}\\s`));

  const badToken = path.join(node.root, 'bad.yml');
  fs.writeFileSync(badToken, fs.readFileSync(node.configPath, 'utf8').replace(node.token, 'a-wrong-token-of-enough-length'));
  const denied = await runCli(['status', '-c', badToken]);
  assert.notEqual(denied.code, 0);
  assert.match(denied.stderr, /401|token/i);
});

test('a malformed config is refused with its file, line and key', async () => {
  const root = makeTempDir();
  const file = path.join(root, 'litefleet.yml');
  fs.writeFileSync(file, 'dir: ./live\ndata-dir: ./data\nhttp:\n  adress: ":1"\n');
  const r = await runCli(['run', '-c', file]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /litefleet\.yml:4: http\.adress: unknown key "adress"/);
});

test('litefleet ltx ls, verify and dump; a bit flip or a truncation is named', async () => {
  const { node, db } = await setup();
  const { commits } = await runWriter(db, 'transfers', 30);
  await node.waitForTxid('sqlite.db', 1 + commits);
  await node.stop();
  const ltxDir = path.join(node.dataDir, 'dbs', 'sqlite.db', 'ltx');
  const ls = await runCli(['ltx', 'ls', ltxDir]);
  assert.equal(ls.code, 0, ls.stderr);
  assert.equal(ls.stdout.trim().split('\n').length, 1 + 1 + commits);
  const ok = await runCli(['ltx', 'verify', ltxDir]);
  assert.equal(ok.code, 0, ok.stdout);
  assert.match(ok.stdout, new RegExp(`${1 + commits} passed, 0 failed`));
  const files = fs.readdirSync(ltxDir).sort();
  const dump = await runCli(['ltx', 'dump', path.join(ltxDir, files[5]!)]);
  assert.equal(dump.code, 0, dump.stderr);
  assert.match(dump.stdout, /txids:\s+6-6/);

  const victim = path.join(ltxDir, files[10]!);
  const bytes = fs.readFileSync(victim);
  bytes.writeUInt8(bytes.readUInt8(200) ^ 0x10, 200);
  fs.writeFileSync(victim, bytes);
  fs.truncateSync(path.join(ltxDir, files[20]!), 150);
  const bad = await runCli(['ltx', 'verify', ltxDir]);
  assert.equal(bad.code, 1);
  assert.match(bad.stdout, new RegExp(`FAIL  ${files[10]}: .*checksum`));
  assert.match(bad.stdout, new RegExp(`FAIL  ${files[20]}: .*(truncated|short|too small)`, 'i'));
  assert.match(bad.stdout, /2 failed/);
});

test('a node killed with SIGKILL mid-workload resumes without a gap or a repeat', async () => {
  const { node, db } = await setup();
  const writer = runWriter(db, 'transfers', 2400, 7, 400);
  for (let k = 0; k < 2; k++) {
    await sleep(1500);
    await node.kill();
    await node.restart();
  }
  const { commits } = await writer;
  const resumes = node.output.match(/resuming capture from the WAL/g)?.length ?? 0;
  const changed = node.output.match(/snapshot taken: database changed while the node was down/g)?.length ?? 0;
  assert.equal(resumes + changed, 2, node.output);
  // A resume continues exactly; a snapshot (the app restarted the WAL while no node held it) folds
  // the commits made while the node was down into one TXID.
  if (changed === 0) await node.waitForTxid('sqlite.db', 1 + commits);
  else await sleep(2000);
  const r = assertChain(node, db);
  assert.equal(r.snapshots, 1 + changed);
  assert.deepEqual(dumpRows(path.join(node.root, fs.readdirSync(node.root).find((f) => f.startsWith('replayed-'))!)), dumpRows(db));
});

test('a node killed while the app keeps writing resumes from the WAL exactly where its log ends', async () => {
  const { node, db } = await setup();
  await runWriter(db, 'inserts', 20);
  await node.waitForTxid('sqlite.db', 21);
  await node.kill();
  // The app keeps a connection (so its last close does not delete the WAL) and writes on.
  const app = new Database(db, { timeout: 5000 });
  app.prepare('SELECT count(*) FROM t').get();
  await runSqliteCli(db, Array.from({ length: 10 }, (_, i) => `INSERT INTO t(v) VALUES ('while down ${i}');`).join('\n') + '\n');
  await node.restart();
  await node.waitForTxid('sqlite.db', 31);
  app.close();
  assert.match(node.output, /resuming capture from the WAL/);
  const r = assertChain(node, db);
  assert.equal(r.snapshots, 1);
  assert.deepEqual(r.txids, Array.from({ length: 30 }, (_, i) => i + 2), 'each commit made while the node was down has its own TXID');
});

test('a database changed while the node was down gets a new snapshot', async () => {
  const { node, db } = await setup();
  await runWriter(db, 'inserts', 20);
  await node.waitForTxid('sqlite.db', 21);
  await node.stop();
  await runSqliteCli(db, "INSERT INTO t(v) VALUES ('offline');\nPRAGMA wal_checkpoint(TRUNCATE);\n");
  await node.restart();
  await node.waitForTxid('sqlite.db', 22);
  assert.match(node.output, /snapshot taken: database changed while the node was down/);
  assertChain(node, db);

});

test('leaving WAL mode, a page-size change and EXCLUSIVE locking are refused or repaired, never followed silently', async () => {
  const { node, db } = await setup();
  // While the node runs, SQLite itself refuses: the node's read keeps the database shared.
  await assert.rejects(runSqliteCli(db, '.timeout 500\nPRAGMA journal_mode=DELETE;\n'), /database is locked/);
  await assert.rejects(runSqliteCli(db, ".timeout 500\nPRAGMA locking_mode=EXCLUSIVE;\nINSERT INTO t(v) VALUES ('x');\n"), /database is locked/);
  await runSqliteCli(db, ".timeout 2000\nPRAGMA page_size=8192;\nVACUUM;\nINSERT INTO t(v) VALUES ('after');\n");
  await node.waitForTxid('sqlite.db', 3);
  assert.equal(databaseChecksum(db).pageSize, 4096, 'VACUUM cannot change the page size in WAL mode');

  // While it is down, an app may do both; the node switches back to WAL and starts a new snapshot.
  await node.stop();
  await runSqliteCli(db, "PRAGMA journal_mode=DELETE;\nPRAGMA page_size=8192;\nVACUUM;\nINSERT INTO t(v) VALUES ('delete mode');\n");
  assert.equal(databaseChecksum(db).pageSize, 8192);
  await node.restart();
  await node.waitForTxid('sqlite.db', 4);
  assert.match(node.output, /was switched to journal_mode=delete while the node was down; switched it back to WAL/);
  assert.match(node.output, /snapshot taken: database changed while the node was down/);
  assert.equal((await runSqliteCli(db, 'PRAGMA journal_mode;\n')).trim(), 'wal');
  const info = (await node.info()).databases[0]!;
  assert.equal(info.pageSize, 8192);
  await runWriter(db, 'inserts', 10);
  await node.waitForTxid('sqlite.db', 14);
  assertChain(node, db);
});

test('LTX files older than the retention window are deleted, the newest is kept', async () => {
  const { node, db } = await setup('ltx:\n  retention: 1s\n  retention-interval: 200ms\n');
  await runWriter(db, 'inserts', 30);
  await node.waitForTxid('sqlite.db', 31);
  const ltxDir = path.join(node.dataDir, 'dbs', 'sqlite.db', 'ltx');
  assert.equal(fs.readdirSync(ltxDir).length, 31);
  const deadline = Date.now() + 10_000;
  while (fs.readdirSync(ltxDir).length > 1 && Date.now() < deadline) await sleep(100);
  assert.deepEqual(fs.readdirSync(ltxDir), ['000000000000001f-000000000000001f.ltx']);
  await runWriter(db, 'inserts', 5);
  await node.waitForTxid('sqlite.db', 36);
  // The new files are there (TXID 31 may already be gone: it is past retention and no longer the newest).
  const names = fs.readdirSync(ltxDir);
  for (let t = 32; t <= 36; t++) assert.ok(names.includes(`${t.toString(16).padStart(16, '0')}-${t.toString(16).padStart(16, '0')}.ltx`), `TXID ${t} kept`);
});
