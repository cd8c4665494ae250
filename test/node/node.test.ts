import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import Database from 'better-sqlite3';
import { makeTempDir } from '../helpers/temp-dir.ts';
import { NodeProcess, runCli } from '../helpers/node-process.ts';
import { ltxFilesAt } from '../../src/log/segment-files.ts';
import { descriptorLimit, descriptorRoom } from '../../src/store/descriptor-limit.ts';
import { decodeHeader } from '../../src/ltx/header.ts';
import { decodeLtx, decodeTrailer } from '../../src/ltx/decoder.ts';
import { ltxFileLength } from '../../src/ltx/file-length.ts';
import { replayLog } from '../helpers/replay.ts';
import { createAppDatabase, databaseChecksum, dumpRows, runSqliteCli, runWriter } from '../helpers/sqlite.ts';
import { waitFor } from '../helpers/wait.ts';

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
  // The database as the node's first snapshot (TXID 1) records it: the log starts after it.
  fs.copyFileSync(db, path.join(root, 'base.db'));
  const node = await NodeProcess.start({ root, extraConfig });
  started.node = node;
  nodes.push(node);
  await node.waitForTxid('sqlite.db', 1);
  return { node, db };
}

/**
 * The log is one chain (each file continues the one before) ending at the live database's
 * checksum; with `fromBase` (no snapshot since the node's first), replaying it onto the database
 * as first captured gives the live database, every TXID once, in order.
 */
function assertChain(node: NodeProcess, db: string, fromBase: boolean): { txids: number[]; replayed?: string } {
  const stateDir = path.join(node.dataDir, 'dbs', 'sqlite.db');
  const txids: number[] = [];
  let post: bigint | undefined;
  for (const { label, bytes } of ltxFilesAt(stateDir)) {
    const h = decodeHeader(bytes);
    if (post !== undefined) assert.equal(h.preApplyChecksum, post, `${label} continues the file before it`);
    if (txids.length > 0) assert.equal(h.minTxid, txids[txids.length - 1]! + 1, `${label}: TXID ${h.minTxid} follows ${txids[txids.length - 1]}`);
    txids.push(h.maxTxid);
    post = decodeTrailer(bytes).postApplyChecksum;
  }
  const live = databaseChecksum(db).checksum;
  if (post !== undefined) assert.equal(post, live, 'the log ends at the live database');
  if (!fromBase) return { txids };
  const replayed = path.join(node.root, `replayed-${Date.now()}.db`);
  const r = replayLog(stateDir, path.join(node.root, 'base.db'), replayed);
  assert.equal(r.checksum, live, 'replayed log hashes to the live database');
  return { txids, replayed };
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
    // A primary lists what its replicas have applied: none here.
    { name: 'sqlite.db', txid: 1 + commits, checksum: live.checksum.toString(16).padStart(16, '0'), pageSize: live.pageSize, pages: live.pageCount, replicas: {} },
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

test('a database the primary cannot open is reported in /info, /health, status and /metrics and tried again with backoff; the others go on', async () => {
  const { node, db } = await setup();
  // SQLite's magic, then no valid header: it refuses the file ("file is not a database").
  const bad = path.join(node.root, 'live', 'bad.db');
  fs.writeFileSync(bad, Buffer.concat([Buffer.from('SQLite format 3\0', 'latin1'), Buffer.alloc(4080, 0xee)]));
  const listed = await waitFor(async () => (await node.database('bad.db'))?.problem, 15_000, 'bad.db reported in /info');
  assert.match(listed, /cannot capture: .*not a database/);
  const health = (await (await fetch(`${node.url}/health`)).json()) as { status: string; problems?: Record<string, string> };
  assert.equal(health.status, 'degraded');
  assert.match(health.problems?.['bad.db'] ?? '', /cannot capture/);
  const table = await runCli(['status', '-c', node.configPath]);
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /problems:\n {2}bad\.db: cannot capture: .*not a database/);
  assert.match(await (await fetch(`${node.url}/metrics`)).text(), /litefleet_db_problem\{db="bad\.db"\} 1/);

  // The good database is captured all along.
  const { commits } = await runWriter(db, 'inserts', 20);
  await node.waitForTxid('sqlite.db', 1 + commits);

  // Repaired (a real database put in its place), it is captured at the next try.
  const fixed = path.join(node.root, 'fixed.db');
  createAppDatabase(fixed);
  fs.renameSync(fixed, bad);
  await waitFor(async () => {
    const d = await node.database('bad.db');
    return d !== undefined && d.txid >= 1 && d.problem === undefined;
  }, 30_000, 'bad.db captured once repaired');
  assert.equal(((await (await fetch(`${node.url}/health`)).json()) as { status: string }).status, 'ok');
  assert.doesNotMatch(await (await fetch(`${node.url}/metrics`)).text(), /litefleet_db_problem\{db="bad\.db"\}/);
});

test('a node says as it starts how many databases its descriptor limit leaves room for', async () => {
  const { node } = await setup();
  const started = /litefleet node started .*fdLimit=(\d+) roomForDatabases=(\d+)/.exec(node.output);
  assert.ok(started, `the start line names the limit:\n${node.output}`);
  const limit = Number(/^Max open files\s+(\d+)/m.exec(fs.readFileSync(`/proc/${node.pid}/limits`, 'utf8'))![1]);
  assert.equal(Number(started[1]), limit);
  assert.equal(Number(started[2]), descriptorRoom(limit)!.roomForDatabases);
  // The common default of 1024 leaves room for 87 at their busiest (11 descriptors each), the
  // number a primary captures before it reports the rest (the 125th failed with EMFILE before).
  assert.equal(descriptorRoom(1024)!.roomForDatabases, 87);
  const fake = path.join(node.root, 'limits');
  fs.writeFileSync(fake, 'Limit                     Soft Limit           Hard Limit           Units\nMax open files            unlimited            unlimited            files\n');
  assert.equal(descriptorLimit(fake), undefined);
});

test("litefleet --version and -V print the package's version, alone or with other words", async () => {
  const { version } = JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  for (const args of [['--version'], ['-V'], ['--version', '-V']]) {
    const res = await runCli(args);
    assert.deepEqual(res, { code: 0, stdout: `${version}\n`, stderr: '' }, args.join(' '));
  }
});

test('a malformed config is refused with its file, line and key', async () => {
  const root = makeTempDir();
  const file = path.join(root, 'litefleet.yml');
  fs.writeFileSync(file, 'dir: ./live\ndata-dir: ./data\nhttp:\n  adress: ":1"\n');
  const r = await runCli(['run', '-c', file]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /litefleet\.yml:4: http\.adress: unknown key "adress"/);
});

test('litefleet ltx ls, verify, dump and export work on the log; a bit flip or a truncation is named', async () => {
  const { node, db } = await setup();
  const { commits } = await runWriter(db, 'transfers', 30);
  await node.waitForTxid('sqlite.db', 1 + commits);
  await node.stop();
  const logDir = path.join(node.dataDir, 'dbs', 'sqlite.db');
  const ls = await runCli(['ltx', 'ls', logDir]);
  assert.equal(ls.code, 0, ls.stderr);
  assert.equal(ls.stdout.trim().split('\n').length, 1 + commits, ls.stdout);
  const ok = await runCli(['ltx', 'verify', logDir]);
  assert.equal(ok.code, 0, ok.stdout);
  assert.match(ok.stdout, new RegExp(`${commits} passed, 0 failed`));
  const dump = await runCli(['ltx', 'dump', logDir, '--txid', '6']);
  assert.equal(dump.code, 0, dump.stderr);
  assert.match(dump.stdout, /txids:\s+6-6/);

  // Plain files for other tools, each a complete LTX file that verifies as a chain on its own.
  const out = path.join(node.root, 'exported');
  const exp = await runCli(['ltx', 'export', '-c', node.configPath, '--db', 'sqlite.db', '--from', '5', '--to', '12', '-o', out]);
  assert.equal(exp.code, 0, exp.stderr);
  assert.deepEqual(fs.readdirSync(out).sort(), Array.from({ length: 8 }, (_, i) => { const t = (i + 5).toString(16).padStart(16, '0'); return `${t}-${t}.ltx`; }));
  const verified = await runCli(['ltx', 'verify', out]);
  assert.match(verified.stdout, /8 passed, 0 failed/);

  const [segment] = fs.readdirSync(path.join(logDir, 'segments')).filter((f) => f.endsWith('.seg'));
  const segPath = path.join(logDir, 'segments', segment!);
  const files = ltxFilesAt(segPath);
  const bytes = fs.readFileSync(segPath);
  const offsetOf = (i: number) => files.slice(0, i).reduce((n, f) => n + f.bytes.length, 0);
  // A bit flipped inside the 11th file, and the segment cut in the middle of the 21st.
  bytes.writeUInt8(bytes.readUInt8(offsetOf(10) + 200) ^ 0x10, offsetOf(10) + 200);
  fs.writeFileSync(segPath, bytes.subarray(0, offsetOf(20) + 150));
  const bad = await runCli(['ltx', 'verify', logDir]);
  assert.equal(bad.code, 1);
  assert.match(bad.stdout, new RegExp(`FAIL  ${segment}#11: .*checksum`));
  assert.match(bad.stdout, new RegExp(`FAIL  ${segment}#21: .*truncated`, 'i'));
  assert.match(bad.stdout, /19 passed, 2 failed/);
});

test('a node killed with SIGKILL mid-workload resumes without a gap or a repeat', async () => {
  const { node, db } = await setup();
  let writing = true;
  const writer = runWriter(db, 'transfers', 2400, 7, 400).finally(() => (writing = false));
  // Each kill comes mid-workload: once the node, since it started, has logged another 200 of the
  // writer's 2400 commits (unless a slow restart let the writer finish meanwhile).
  for (let k = 0; k < 2; k++) {
    const from = (await node.database('sqlite.db'))!.txid;
    await waitFor(async () => !writing || (await node.database('sqlite.db'))!.txid >= from + 200, 30_000, 'capture to log 200 more commits');
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
  else await waitFor(async () => (await node.info()).databases[0]!.checksum === databaseChecksum(db).checksum.toString(16).padStart(16, '0'), 10_000, 'capture to log the last commits');
  assert.equal(node.output.match(/snapshot taken/g)?.length, 1 + changed);
  const r = assertChain(node, db, changed === 0);
  if (r.replayed) assert.deepEqual(dumpRows(r.replayed), dumpRows(db));
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
  assert.equal(node.output.match(/snapshot taken/g)?.length, 1);
  const r = assertChain(node, db, true);
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
  assertChain(node, db, false);
});

test('commits whose file-system events never reach the node are captured by the fallback poll, which reads the WAL only when the WAL index moved', async () => {
  const { node, db } = await setup('capture:\n  poll-interval: 300ms\n');
  // The same files under other names in another folder: SQLite shares them (same inodes, same
  // locks), but the kernel tells the watchers of that folder, not the node's, of the writes.
  const elsewhere = path.join(node.root, 'elsewhere');
  fs.mkdirSync(elsewhere);
  for (const suffix of ['', '-wal', '-shm']) fs.linkSync(`${db}${suffix}`, path.join(elsewhere, `app.db${suffix}`));
  await runSqliteCli(path.join(elsewhere, 'app.db'), ".timeout 5000\nINSERT INTO t(v) VALUES ('unseen 1');\nINSERT INTO t(v) VALUES ('unseen 2');\n");
  await node.waitForTxid('sqlite.db', 3);
  await runSqliteCli(path.join(elsewhere, 'app.db'), ".timeout 5000\nINSERT INTO t(v) VALUES ('unseen 3');\n");
  await node.waitForTxid('sqlite.db', 4);
  assertChain(node, db, true);
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
  assertChain(node, db, false);
});

test('log segments older than the retention window are deleted, the newest is kept', async () => {
  const { node, db } = await setup('ltx:\n  retention: 1s\n  retention-interval: 200ms\n');
  await runWriter(db, 'inserts', 30);
  await node.waitForTxid('sqlite.db', 31);
  const segDir = path.join(node.dataDir, 'dbs', 'sqlite.db', 'segments');
  const txidsKept = () => ltxFilesAt(segDir).map((f) => decodeHeader(f.bytes).minTxid);
  const newest = () => Math.max(...fs.readdirSync(segDir).filter((f) => f.endsWith('.seg')).map((f) => fs.statSync(path.join(segDir, f)).mtimeMs));
  // The newest segment stays however old it is; once newer ones follow, the old ones go.
  await waitFor(() => newest() < Date.now() - 1_500, 10_000, 'the segments to age past retention');
  await waitFor(() => txidsKept().length < 30 || txidsKept().includes(31), 5_000, 'retention to run');
  assert.ok(txidsKept().includes(31), 'the newest segment is kept');
  await runWriter(db, 'inserts', 5);
  await node.waitForTxid('sqlite.db', 36);
  await waitFor(() => txidsKept()[0] === 32, 10_000, 'the old segments to be deleted');
  assert.deepEqual(txidsKept(), [32, 33, 34, 35, 36], 'the new transactions are kept');
});

test('pruning a long log never holds up the node: its event loop keeps turning and /health answers', async () => {
  const { node, db } = await setup('ltx:\n  retention: 1s\n  retention-interval: 100ms\n');
  const lagMax = async () => Number(/^litefleet_process_nodejs_eventloop_lag_max_seconds (\S+)$/m.exec(await (await fetch(`${node.url}/metrics`)).text())?.[1]);
  // About 20,000 transactions in a few seconds: the log rolls many segments, and retention then
  // deletes them while the node goes on. The node's own event-loop monitor reports the longest
  // stall since the last scrape; a synchronous prune of this log stalled it for seconds. The
  // monitor starts at the first scrape.
  await lagMax();
  const writer = runWriter(db, 'inserts', 20_000, 5);
  let worst = 0;
  const watch = setInterval(() => void lagMax().then((s) => (worst = Math.max(worst, s))), 200);
  const { commits } = await writer;
  await node.waitForTxid('sqlite.db', 1 + commits);
  const segDir = path.join(node.dataDir, 'dbs', 'sqlite.db', 'segments');
  await waitFor(() => ltxFilesAt(segDir).every((f) => decodeHeader(f.bytes).minTxid > 2), 20_000, 'retention to remove the first segments');
  clearInterval(watch);
  worst = Math.max(worst, await lagMax());
  // Generous against noise (a GC pause, a process descheduled on a loaded CI box): this catches a
  // stall of seconds, as the synchronous prune was, not a slowdown.
  assert.ok(worst < 1, `the event loop stalled for ${Math.round(worst * 1000)} ms`);
});

test('the transactions and the snapshot a node hands another carry its terms as they are when it sends them', async () => {
  const { node, db } = await setup();
  const get = (pathname: string) => fetch(`${node.url}${pathname}`, { headers: { authorization: `Bearer ${node.token}` } });
  await runSqliteCli(db, ".timeout 5000\nINSERT INTO t(v) VALUES ('one');");
  await node.waitForTxid('sqlite.db', 2);
  const at2 = (await node.info()).databases.find((d) => d.name === 'sqlite.db')!;
  await runSqliteCli(db, ".timeout 5000\nINSERT INTO t(v) VALUES ('two');");
  await node.waitForTxid('sqlite.db', 3);
  const positions = (await (await get('/positions')).json()) as { terms: Record<string, unknown> };
  const terms = positions.terms['sqlite.db'];
  assert.ok(Array.isArray(terms) && terms.length > 0, JSON.stringify(positions));
  // A candidate that fetches what it lacks records the terms of what it got, from these headers.
  const ltx = await get(`/db/sqlite.db/ltx?after=${(2).toString(16).padStart(16, '0')}/${at2.checksum}`);
  assert.equal(ltx.status, 200, await ltx.clone().text());
  assert.deepEqual(JSON.parse(ltx.headers.get('litefleet-terms') ?? 'null'), terms);
  assert.equal(decodeHeader(Buffer.from(await ltx.arrayBuffer())).minTxid, 3);
  const snapshot = await get('/db/sqlite.db/snapshot');
  assert.equal(snapshot.status, 200);
  assert.deepEqual(JSON.parse(snapshot.headers.get('litefleet-terms') ?? 'null'), terms);
  await snapshot.arrayBuffer();
});

test('GET /ltx answers a range larger than it reads at once, in order and whole, one read after another', async () => {
  const { node, db } = await setup();
  await runSqliteCli(db, ".timeout 5000\nINSERT INTO t(v) VALUES ('one');");
  const from = await node.waitForCapture('sqlite.db');
  // 3,000 transactions of a 4 KB page or more: about 13 MB, against 4 MB a read.
  await runSqliteCli(db, `.timeout 5000\n${"INSERT INTO t(v) VALUES (hex(randomblob(2100)));\n".repeat(3_000)}`);
  const to = await node.waitForCapture('sqlite.db');
  const res = await fetch(`${node.url}/db/sqlite.db/ltx?after=${from.txid.toString(16).padStart(16, '0')}/${from.checksum}`, { headers: { authorization: `Bearer ${node.token}` } });
  assert.equal(res.status, 200);
  const body = Buffer.from(await res.arrayBuffer());
  assert.ok(body.length > 12 * 1024 * 1024, `${body.length} bytes`);
  let next = from.txid + 1;
  let pre = BigInt(`0x${from.checksum}`);
  for (let off = 0; off < body.length; ) {
    const len = ltxFileLength(body, off);
    assert.ok(len !== undefined, `a whole LTX file at byte ${off}`);
    const file = decodeLtx(body.subarray(off, off + len));
    assert.equal(file.header.minTxid, next);
    assert.equal(file.header.preApplyChecksum, pre);
    next = file.header.maxTxid + 1;
    pre = file.trailer.postApplyChecksum;
    off += len;
  }
  assert.equal(next - 1, to.txid);
  assert.equal(pre, BigInt(`0x${to.checksum}`));
});

test("a node holds V8's young generation at its first size: a burst of commits does not grow it", async () => {
  const { node, db } = await setup();
  await runWriter(db, 'inserts', 20_000);
  await node.waitForTxid('sqlite.db', 20_001);
  const metrics = await (await fetch(`${node.url}/metrics`)).text();
  const newSpace = Number(/^litefleet_process_nodejs_heap_space_size_total_bytes\{space="new"\} (\S+)$/m.exec(metrics)?.[1]);
  // Two semi-spaces of 1 MB; left to grow, they reach 2 × 16 MB under such a burst.
  assert.ok(newSpace <= 2 * 1024 * 1024, `V8's young generation is ${(newSpace / 1048576).toFixed(1)} MB`);
});

test('a WAL that cannot be read past a frame SQLite counts as committed does not stall capture: it logs the database as it is and goes on', async () => {
  const { node, db } = await setup();
  await runSqliteCli(db, ".timeout 5000\nINSERT INTO t(v) VALUES ('before');");
  await node.waitForCapture('sqlite.db');
  // While the node is stopped, a commit whose last frame's checksum no longer continues the chain:
  // SQLite reads through its WAL index and never checks it, the node's reader cannot get past it.
  node.signal('SIGSTOP');
  try {
    await runSqliteCli(db, ".timeout 5000\nINSERT INTO t(v) VALUES ('unreadable');");
    const shm = fs.readFileSync(`${db}-shm`);
    const pageSize = shm.readUInt16LE(14) === 1 ? 65536 : shm.readUInt16LE(14);
    const last = 32 + (shm.readUInt32LE(16) - 1) * (24 + pageSize);
    const fd = fs.openSync(`${db}-wal`, 'r+');
    const byte = Buffer.alloc(1);
    fs.readSync(fd, byte, 0, 1, last + 16);
    byte[0] = byte[0]! ^ 0xff;
    fs.writeSync(fd, byte, 0, 1, last + 16);
    fs.closeSync(fd);
    await runSqliteCli(db, ".timeout 5000\nINSERT INTO t(v) VALUES ('after');");
  } finally {
    node.signal('SIGCONT');
  }
  await runSqliteCli(db, ".timeout 5000\nINSERT INTO t(v) VALUES ('later');");
  await node.waitForCapture('sqlite.db');
  assert.match(node.output, /the WAL index counts committed frames the WAL cannot be read to/);
  assert.match(node.output, /snapshot taken: WAL frames \d+-\d+ could not be read/);
  assert.deepEqual(dumpRows(db).t!.slice(-4).map((r) => (r as { v: string }).v), ['before', 'unreadable', 'after', 'later']);
});

test("a node runs with glibc's malloc thresholds fixed where Node can start it over with them; thresholds the environment sets are kept", async () => {
  const environ = (pid: number) => fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
  const { node } = await setup();
  const env = environ(node.pid!);
  if (typeof (process as { execve?: unknown }).execve === 'function') {
    assert.ok(env.includes('MALLOC_MMAP_THRESHOLD_=131072') && env.includes('MALLOC_TRIM_THRESHOLD_=262144'), env.filter((e) => e.startsWith('MALLOC_')).join(' '));
  } else {
    assert.deepEqual(env.filter((e) => e.startsWith('MALLOC_')), [], `Node ${process.version} cannot replace its process: the node runs as started`);
  }
  assert.deepEqual(await node.info().then((i) => i.databases.map((d) => d.name)), ['sqlite.db'], 'the node started over serves as before');

  // The app the node runs gets the environment the node was started with.
  const appEnv = path.join(makeTempDir('litefleet-'), 'env.json');
  const withApp = await NodeProcess.start({ root: makeTempDir('litefleet-'), args: ['--', process.execPath, '-e', 'require("fs").writeFileSync(process.argv[1], JSON.stringify(process.env)); setInterval(() => {}, 1000)', appEnv] });
  try {
    const seen = await waitFor(() => fs.existsSync(appEnv) && (JSON.parse(fs.readFileSync(appEnv, 'utf8')) as Record<string, string>), 10_000, 'the app to write its environment');
    assert.deepEqual(Object.keys(seen).filter((k) => k.startsWith('MALLOC_') || k === 'LITEFLEET_ALLOCATOR'), []);
    assert.equal(seen.LITEFLEET_ROLE, 'primary');
  } finally {
    await withApp.stop();
  }

  const own = await NodeProcess.start({ root: makeTempDir('litefleet-'), env: { ...process.env, MALLOC_MMAP_THRESHOLD_: '65536' } });
  try {
    assert.deepEqual(environ(own.pid!).filter((e) => e.startsWith('MALLOC_')), ['MALLOC_MMAP_THRESHOLD_=65536']);
  } finally {
    await own.stop();
  }
});
