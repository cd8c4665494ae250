import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, test } from 'node:test';
import { encodeFrame, FrameType, type Frame } from '../../src/protocol/frames.ts';
import { CLUSTER_ID_HEADER } from '../../src/protocol/api-types.ts';
import { launchCluster, type Cluster } from '../helpers/cluster.ts';
import { CLI, freePort, NodeProcess } from '../helpers/node-process.ts';
import { databaseChecksum, runSqliteCli } from '../helpers/sqlite.ts';
import { makeTempDir } from '../helpers/temp-dir.ts';
import { waitFor } from '../helpers/wait.ts';

const DB = 'app.db';

/** A request to a node's API with its token; the answer's status, headers and text. */
async function call(n: NodeProcess, method: string, pathname: string, body?: string | Buffer): Promise<{ status: number; headers: Headers; text: string }> {
  const res = await fetch(`${n.url}${pathname}`, { method, headers: { authorization: `Bearer ${n.token}`, 'content-type': 'application/json' }, body: typeof body === 'string' || body === undefined ? body : new Uint8Array(body) });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

/**
 * An app holding SQLite's write lock: better-sqlite3 in a child process inside BEGIN IMMEDIATE
 * with an insert, until it is told to commit.
 */
async function holdWriteLock(file: string): Promise<{ commit(): Promise<void> }> {
  const script = `
    const Database = require('better-sqlite3');
    const db = new Database(process.argv[1], { timeout: 5000 });
    db.exec('BEGIN IMMEDIATE');
    db.prepare("INSERT INTO t(v) VALUES ('held')").run();
    console.log('locked');
    process.stdin.once('data', () => { db.exec('COMMIT'); db.close(); console.log('done'); process.exit(0); });`;
  const child = spawn(process.execPath, ['-e', script, file], { stdio: ['pipe', 'pipe', 'inherit'], cwd: path.resolve('.') });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  assert.equal((await lines.next()).value, 'locked');
  return {
    commit: async () => {
      child.stdin!.write('commit\n');
      assert.equal((await lines.next()).value, 'done');
    },
  };
}

/** Files in `dir` that are neither a database nor its WAL/shm (an import's leftovers). */
function strayFiles(dir: string): string[] {
  return fs.readdirSync(dir).filter((f) => f.startsWith('.') || /litefleet-import/.test(f));
}

describe('a cluster facing hostile requests', () => {
  let c: Cluster | undefined;
  const root = makeTempDir('litefleet-hostile-', async () => {
    for (const n of c?.nodes ?? []) await n.stop();
  });
  before(async () => {
    c = await launchCluster(root, 2);
    await runSqliteCli(path.join(c.primary.dir, DB), '.timeout 5000\nPRAGMA journal_mode=WAL; CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);');
    await c.replicas[0]!.waitForTxid(DB, 1);
  });
  const cluster = () => c!;

  test('what the API cannot read is a 400 and changes nothing: a null body, a bad % escape, a replica status with null values', async () => {
    const { primary } = cluster();
    const replica = cluster().replicas[0]!;
    const nul = await call(primary, 'POST', `/db/${DB}/exec`, 'null');
    assert.equal(nul.status, 400, nul.text);
    assert.match(nul.text, /JSON object/);
    const escape = await call(primary, 'GET', '/db/%E0%A4%A/export');
    assert.equal(escape.status, 400, escape.text);
    const id = (await replica.info()).node.id;
    for (const body of [{ nodeId: id, databases: { [DB]: null } }, { nodeId: id, databases: null }, { nodeId: 'x', databases: {} }, { nodeId: id, databases: { [DB]: { txid: -1, lagMs: 0 } } }, { nodeId: id, databases: { '../x.db': { txid: 1, lagMs: 0 } } }]) {
      const r = await call(primary, 'POST', '/replica-status', JSON.stringify(body));
      assert.equal(r.status, 400, `${JSON.stringify(body)}: ${r.text}`);
    }
    const info = await call(primary, 'GET', '/info');
    assert.equal(info.status, 200, info.text);
  });

  test('exec touches only the database it names: ATTACH, DETACH and VACUUM INTO are refused', async () => {
    const other = path.join(root, 'other.db');
    await runSqliteCli(other, "CREATE TABLE v(x); INSERT INTO v VALUES ('mine');");
    const before = fs.readFileSync(other);
    const copy = path.join(root, 'copy.db');
    for (const sql of [`ATTACH DATABASE '${other}' AS e; INSERT INTO e.v VALUES ('theirs');`, `/* hidden */ attach '${other}' as e; SELECT * FROM e.v;`, 'DETACH main;', `VACUUM INTO '${copy}';`]) {
      const r = await call(cluster().primary, 'POST', `/db/${DB}/exec`, JSON.stringify({ sql }));
      assert.equal(r.status, 400, `${sql}: ${r.text}`);
      assert.match(r.text, /would reach past the database it is sent to/);
    }
    assert.ok(fs.readFileSync(other).equals(before), 'the other file is untouched');
    assert.equal(fs.existsSync(copy), false);
  });

  test("exec waits for an app's write lock without stopping the node: /health answers meanwhile, and after 5 s it is a 503 with Retry-After", async () => {
    const { primary } = cluster();
    const file = path.join(primary.dir, DB);
    let holder = await holdWriteLock(file);
    let settled = false;
    const exec = call(primary, 'POST', `/db/${DB}/exec`, JSON.stringify({ sql: "INSERT INTO t(v) VALUES ('exec')" })).finally(() => (settled = true));
    // The node's loop keeps turning while exec waits: health checks, the stream, the lease.
    for (let i = 0; i < 3; i++) {
      const health = await fetch(`${primary.url}/health`);
      assert.equal(health.status, 200);
      assert.equal(settled, false, 'exec was still waiting for the lock when /health answered');
    }
    await holder.commit();
    const done = await exec;
    assert.equal(done.status, 200, done.text);
    assert.equal(await runSqliteCli(file, "SELECT group_concat(v, ',') FROM t WHERE v IN ('held', 'exec') ORDER BY id;", ['-readonly']), 'held,exec\n');

    holder = await holdWriteLock(file);
    settled = false;
    const busy = call(primary, 'POST', `/db/${DB}/exec`, JSON.stringify({ sql: "INSERT INTO t(v) VALUES ('too late')" })).finally(() => (settled = true));
    await waitFor(async () => (await fetch(`${primary.url}/health`)).status === 200 && !settled, 2_000, '/health while exec waits');
    const refused = await busy;
    assert.equal(refused.status, 503, refused.text);
    assert.equal(refused.headers.get('retry-after'), '1');
    assert.match(refused.text, /EBUSY/);
    await holder.commit();
    assert.equal(await runSqliteCli(file, "SELECT count(*) FROM t WHERE v = 'too late';", ['-readonly']), '0\n');
  });

  test('imports: a second upload of a name while one runs is refused; empty uploads and side-file names are 400s; nothing is left behind; both nodes agree', async () => {
    const { primary } = cluster();
    const replica = cluster().replicas[0]!;
    const src = path.join(root, 'upload.db');
    await runSqliteCli(src, "CREATE TABLE big(id INTEGER PRIMARY KEY, v TEXT); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000) INSERT INTO big(v) SELECT 'row ' || i FROM n;");
    const bytes = fs.readFileSync(src);
    // The first upload sends half its bytes and waits, so the second arrives while it runs.
    const first = http.request(`${primary.url}/db/race.db/import`, { method: 'POST', headers: { authorization: `Bearer ${primary.token}`, 'content-length': bytes.length } });
    const firstAnswer = new Promise<{ status: number; text: string }>((resolve, reject) => {
      first.on('response', (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode!, text }));
      });
      first.on('error', reject);
    });
    first.write(bytes.subarray(0, bytes.length / 2));
    await waitFor(() => fs.readdirSync(primary.dir).some((f) => f.includes('race.db.litefleet-import')), 10_000, 'the first import to be under way');
    const second = await call(primary, 'POST', '/db/race.db/import', bytes);
    assert.equal(second.status, 409, second.text);
    assert.match(second.text, /already running/);
    first.end(bytes.subarray(bytes.length / 2));
    const firstDone = await firstAnswer;
    assert.equal(firstDone.status, 200, firstDone.text);
    const { txid } = JSON.parse(firstDone.text) as { txid: number };
    await replica.waitForTxid('race.db', txid);
    const count = "SELECT count(*), min(v), max(id) FROM big;";
    assert.equal(await runSqliteCli(path.join(replica.dir, 'race.db'), count, ['-readonly']), await runSqliteCli(path.join(primary.dir, 'race.db'), count, ['-readonly']));
    assert.equal(databaseChecksum(path.join(replica.dir, 'race.db')).checksum, databaseChecksum(path.join(primary.dir, 'race.db')).checksum);

    const empty = await call(primary, 'POST', '/db/empty.db/import', Buffer.alloc(0));
    assert.equal(empty.status, 400, empty.text);
    assert.match(empty.text, /the upload is empty/);
    for (const name of [`${DB}-journal`, `${DB}-wal`, 'x.db-shm', '..%2Fescape.db', '.hidden.db']) {
      const r = await call(primary, 'POST', `/db/${name}/import`, bytes);
      assert.equal(r.status, 400, `${name}: ${r.text}`);
      assert.match(r.text, /invalid database name/);
    }
    assert.equal(fs.existsSync(path.join(primary.dir, `${DB}-journal`)), false, 'no hot journal left beside the database');
    assert.equal(fs.existsSync(path.join(root, 'escape.db')), false);
    assert.deepEqual(strayFiles(primary.dir), []);
    assert.equal(await runSqliteCli(path.join(primary.dir, DB), 'PRAGMA quick_check;', ['-readonly']), 'ok\n');
  });

  test('a client that stops reading an export or a snapshot and goes away ends the read it held: the WAL checkpoints past it', async () => {
    const { primary } = cluster();
    const file = path.join(primary.dir, 'big.db');
    // 24 MB: more than loopback's socket buffers hold, so the node cannot finish while the client does not read.
    await runSqliteCli(file, '.timeout 5000\nPRAGMA journal_mode=WAL; CREATE TABLE b(v BLOB); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 6000) INSERT INTO b SELECT randomblob(4000) FROM n;');
    await primary.waitForCapture('big.db');
    // PASSIVE checkpoint: [busy, frames in the WAL, frames checkpointed].
    const checkpoint = async () => (await runSqliteCli(file, '.timeout 5000\nPRAGMA wal_checkpoint;')).trim().split('|').map(Number);
    // Capture restarts the WAL once it has checkpointed it (after those 6,000 frames, at the next commits).
    let frames: number[] = [];
    await waitFor(async () => {
      await runSqliteCli(file, '.timeout 5000\nINSERT INTO b VALUES (x\'02\');');
      await primary.waitForCapture('big.db');
      return (frames = await checkpoint())[1]! < 100;
    }, 20_000, () => `capture to restart the WAL (busy|frames|checkpointed: ${frames.join('|')})`);
    for (const route of ['export', 'snapshot']) {
      // A commit in the WAL, so the read the request begins uses the WAL: it holds checkpoints at that frame while it lasts.
      await runSqliteCli(file, '.timeout 5000\nINSERT INTO b VALUES (x\'01\');');
      await primary.waitForCapture('big.db');
      const socket = net.connect(Number(new URL(primary.url).port), '127.0.0.1');
      socket.write(`GET /db/big.db/${route} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${primary.token}\r\n\r\n`);
      let got = 0;
      socket.on('data', (d: Buffer) => {
        got += d.length;
        if (got > 256 * 1024) socket.pause();
      });
      await waitFor(() => got > 256 * 1024, 10_000, () => `the ${route} to start (${got} bytes)`);
      socket.destroy();
    }
    for (let i = 0; i < 3; i++) await runSqliteCli(file, '.timeout 5000\nINSERT INTO b VALUES (x\'00\');');
    await primary.waitForCapture('big.db');
    // All but the last commit's frame (capture's own read stays there until the next), where a read
    // the requests left open would hold the checkpoint three commits back.
    await waitFor(async () => {
      frames = await checkpoint();
      return frames[0] === 0 && frames[2]! >= frames[1]! - 1;
    }, 10_000, () => `a checkpoint of the WAL up to its last commit (busy|frames|checkpointed: ${frames.join('|')})`);
  });

  test('a second node on the same data-dir is refused and changes nothing; the first runs on', async () => {
    const { primary } = cluster();
    const id = fs.readFileSync(path.join(primary.dataDir, 'id'), 'utf8');
    const copy = path.join(primary.root, 'second.yml');
    fs.writeFileSync(copy, fs.readFileSync(primary.configPath, 'utf8').replace(/addr: "127\.0\.0\.1:\d+"/, `addr: "127.0.0.1:${await freePort()}"`));
    const second = spawn(process.execPath, [CLI, 'run', '-c', copy], { cwd: primary.root, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    second.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => second.on('close', resolve));
    assert.equal(code, 2, stderr);
    assert.match(stderr, new RegExp(`data-dir .* is in use by another litefleet node \\(pid ${primary.pid}\\)`));
    assert.equal(fs.readFileSync(path.join(primary.dataDir, 'id'), 'utf8'), id);
    assert.equal((await call(primary, 'GET', '/health')).status, 200);
  });
});

test('a start that fails (its port taken, dir a file) leaves no node id behind', async () => {
  const root = makeTempDir('litefleet-failstart-');
  // Something else answers on the port (503, so the helper's health check goes on until the node exits).
  const taken = http.createServer((_req, res) => res.writeHead(503).end());
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  after(() => taken.close());
  const port = (taken.address() as net.AddressInfo).port;
  const busy = await NodeProcess.create({ root: path.join(root, 'a'), port });
  await assert.rejects(busy.restart());
  assert.match(busy.output, /EADDRINUSE|in use/);
  assert.equal(fs.existsSync(path.join(busy.dataDir, 'id')), false, 'no id written by a start that failed');

  const fileDir = await NodeProcess.create({ root: path.join(root, 'b') });
  fs.rmSync(fileDir.dir, { recursive: true });
  fs.writeFileSync(fileDir.dir, 'not a folder');
  await assert.rejects(fileDir.restart());
  assert.match(fileDir.output, /dir .* is not a directory/);
  assert.equal(fs.existsSync(path.join(fileDir.dataDir, 'id')), false);
});

test('a replica refuses names and values from the stream that are not plain: no file outside dir is created or opened, and it reconnects', async () => {
  const root = makeTempDir('litefleet-wire-');
  // A file beside the replica's dir that a Diverged frame names: it must stay as it is (not switched to WAL).
  const victim = path.join(root, 'victim.db');
  await runSqliteCli(victim, 'CREATE TABLE v(x);');
  const victimBytes = fs.readFileSync(victim);
  const bad: Frame[][] = [
    [{ type: FrameType.LtxBegin, name: '../../escape.db' }, { type: FrameType.LtxData, data: Buffer.alloc(100) }, { type: FrameType.LtxEnd }],
    [{ type: FrameType.Diverged, diverged: { name: '../../victim.db', points: [] } }],
    [{ type: FrameType.Heartbeat, heartbeat: { time: Date.now(), txids: null as unknown as Record<string, number> } }],
    [{ type: FrameType.Heartbeat, heartbeat: { time: Date.now(), txids: { [DB]: -5 } } }],
  ];
  let streams = 0;
  const fake = http.createServer((req, res) => {
    req.resume();
    if (req.url !== '/stream') return void res.writeHead(200).end('{}');
    const frames = bad[Math.min(streams++, bad.length - 1)]!;
    res.writeHead(200, { [CLUSTER_ID_HEADER]: 'fake-cluster' });
    for (const f of frames) res.write(encodeFrame(f));
  });
  await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve));
  const replica = await NodeProcess.start({ root: path.join(root, 'replica'), candidate: false, primaryUrl: `http://127.0.0.1:${(fake.address() as net.AddressInfo).port}` });
  after(async () => {
    await replica.stop();
    fake.closeAllConnections();
    fake.close();
  });
  await waitFor(() => streams > bad.length, 30_000, 'the replica to reconnect after every bad stream');
  assert.match(replica.output, /the primary sent invalid database name: database name \\?"\.\.\/\.\.\/escape\.db/);
  assert.match(replica.output, /the primary sent invalid database name: database name \\?"\.\.\/\.\.\/victim\.db/);
  assert.match(replica.output, /the primary sent a heartbeat without TXIDs/);
  assert.match(replica.output, /the primary sent TXID -5/);
  for (const escaped of [path.join(root, 'escape.db'), path.join(root, 'replica', 'escape.db'), path.resolve(root, '..', 'escape.db')]) assert.equal(fs.existsSync(escaped), false, escaped);
  assert.ok(fs.readFileSync(victim).equals(victimBytes), 'the file a frame named is untouched');
  assert.equal(fs.existsSync(`${victim}-wal`), false);
  assert.equal((await fetch(`${replica.url}/health`)).status, 200);
});

test("a snapshot a new replica needs while an app holds the database's write lock is skipped for now: the primary's loop keeps turning, the other databases stream, and it follows once the lock is gone", async () => {
  const nodes: NodeProcess[] = [];
  const root = makeTempDir('litefleet-skip-', async () => {
    for (const n of nodes) await n.stop();
  });
  const primary = await NodeProcess.start({ root: path.join(root, 'p'), candidate: true });
  nodes.push(primary);
  for (const name of ['held.db', 'free.db']) {
    await runSqliteCli(path.join(primary.dir, name), '.timeout 5000\nPRAGMA journal_mode=WAL; CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);');
    await primary.waitForCapture(name);
  }
  const lock = await holdWriteLock(path.join(primary.dir, 'held.db'));
  let committed = false;
  try {
    const replica = await NodeProcess.start({ root: path.join(root, 'r'), candidate: false, primaryUrl: primary.url });
    nodes.push(replica);
    // Waiting for the lock must not hold the primary's thread: /health answers all along (a wait
    // of 10 s, as before, fails this), until the stream says it skipped the locked database.
    await waitFor(async () => {
      const health = await fetch(`${primary.url}/health`, { signal: AbortSignal.timeout(2_000) });
      assert.equal(health.status, 200);
      return /skipping a database in the stream for now.*held\.db|held\.db.*skipping a database in the stream/.test(primary.output);
    }, 20_000, () => `the primary to skip held.db:\n${primary.output.slice(-3000)}`);
    const free = (await primary.database('free.db'))!;
    assert.equal(await replica.waitForTxid('free.db', free.txid), free.txid);
    assert.equal((await replica.database('held.db'))?.txid ?? 0, 0, 'held.db has not been sent while the app holds its lock');
    await lock.commit();
    committed = true;
    const held = await primary.waitForTxid('held.db', 2);
    await replica.waitForTxid('held.db', held);
    assert.equal(databaseChecksum(path.join(replica.dir, 'held.db')).checksum, databaseChecksum(path.join(primary.dir, 'held.db')).checksum);
    assert.match(primary.output, /sent the snapshot skipped before/);
  } finally {
    if (!committed) await lock.commit();
  }
});
