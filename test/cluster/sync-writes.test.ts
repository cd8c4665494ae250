import assert from 'node:assert/strict';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { waitForReplicas } from '../../src/client/index.ts';
import { launchCluster, startCluster } from '../helpers/cluster.ts';
import { request } from '../helpers/http.ts';
import { freePort, runCli, type NodeProcess } from '../helpers/node-process.ts';
import { createAppDatabase, runSqliteCli } from '../helpers/sqlite.ts';
import { makeTempDir } from '../helpers/temp-dir.ts';
import { waitFor } from '../helpers/wait.ts';

const fixtures = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures');
const DB = 'sqlite.db';

/** POST /db/<db>/exec on `n` with `query`; the answer's status and JSON body. */
async function exec(n: NodeProcess, sql: string, query = ''): Promise<{ status: number; body: { txid: number; replicas?: string[]; error?: string; code?: string } }> {
  const res = await fetch(`${n.url}/db/${DB}/exec${query}`, { method: 'POST', headers: { authorization: `Bearer ${n.token}`, 'content-type': 'application/json' }, body: JSON.stringify({ sql }) });
  return { status: res.status, body: (await res.json()) as { txid: number } };
}

async function txidOn(n: NodeProcess): Promise<number> {
  return (await n.info()).databases.find((d) => d.name === DB)!.txid;
}

/** Freezes `n` (SIGSTOP) while `during` runs. */
async function frozen<T>(n: NodeProcess, during: () => Promise<T>): Promise<T> {
  n.signal('SIGSTOP');
  try {
    return await during();
  } finally {
    n.signal('SIGCONT');
  }
}

test('exec ?replicas=N answers once N replicas have the transaction, from any node; 504 saying it is committed when they do not; the CLI and waitForReplicas', async () => {
  const c = await startCluster(3);
  const [r1, r2] = c.replicas as [NodeProcess, NodeProcess];
  createAppDatabase(path.join(c.primary.dir, DB));
  for (const n of c.nodes) await n.waitForTxid(DB, 1);
  const ids = await Promise.all(c.replicas.map(async (r) => (await r.info()).node.id));

  // Both replicas have it the moment the answer arrives; replicas report right after applying,
  // so a synchronous write costs milliseconds, not the 1 s status interval.
  const took: number[] = [];
  for (let i = 0; i < 10; i++) {
    const started = performance.now();
    const res = await exec(c.primary, `INSERT INTO t(v) VALUES ('sync ${i}')`, '?replicas=2');
    took.push(performance.now() - started);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual([...res.body.replicas!].sort(), [...ids].sort());
    for (const r of c.replicas) assert.ok((await txidOn(r)) >= res.body.txid, `${r.root} has TXID ${res.body.txid} when the answer arrives`);
  }
  took.sort((a, b) => a - b);
  // Waiting for the status interval spreads the answers over 0-1000 ms; a loaded box slows them all alike.
  assert.ok(took[5]! < 400, `median synchronous exec took ${took[5]!.toFixed(1)} ms (all: ${took.map((t) => t.toFixed(1)).join(', ')})`);

  // Sent to a replica, the query goes on to the primary with the script.
  const forwarded = await exec(r1, "INSERT INTO t(v) VALUES ('through a replica')", '?replicas=2&timeout=10000');
  assert.equal(forwarded.status, 200, JSON.stringify(forwarded.body));
  assert.equal(forwarded.body.replicas!.length, 2);
  assert.ok((await txidOn(r2)) >= forwarded.body.txid);

  // Malformed values are refused before anything runs.
  const before = await txidOn(c.primary);
  for (const query of ['?replicas=0', '?replicas=two', '?replicas=1.5', '?replicas=101', '?replicas=1&timeout=0', '?replicas=1&timeout=600000', '?replicas=1&timeout=-1', '?timeout=100']) {
    for (const n of [c.primary, r1]) {
      const res = await exec(n, "INSERT INTO t(v) VALUES ('never')", query);
      assert.equal(res.status, 400, `${query}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.code, 'EINVALID');
    }
  }
  assert.equal(await txidOn(c.primary), before, 'no refused script ran');

  // One replica frozen: one confirmation is still there; two are not, and the answer says what
  // happened to the write (committed on the primary) after the timeout.
  await frozen(r2, async () => {
    const one = await exec(c.primary, "INSERT INTO t(v) VALUES ('one is enough')", '?replicas=1');
    assert.equal(one.status, 200, JSON.stringify(one.body));
    assert.deepEqual(one.body.replicas, [ids[0]]);
    const started = performance.now();
    // Long enough for the live replica to confirm on a busy box: the answer names it.
    const two = await exec(c.primary, "INSERT INTO t(v) VALUES ('two are not there')", '?replicas=2&timeout=2000');
    const waited = performance.now() - started;
    assert.equal(two.status, 504, JSON.stringify(two.body));
    assert.equal(two.body.code, 'ETIMEOUT');
    assert.match(two.body.error!, new RegExp(`^TXID \\d+ of ${DB.replace('.', '\\.')} is committed on the primary, but only 1 of the 2 replicas asked for confirmed it \\(${ids[0]}\\) within 2000 ms; 2 replicas are streaming from the primary$`));
    assert.ok(waited >= 1_990 && waited < 7_000, `answered after ${waited.toFixed(0)} ms`);
    assert.equal(await runSqliteCli(path.join(c.primary.dir, DB), "SELECT count(*) FROM t WHERE v = 'two are not there';", ['-readonly']), '1\n', 'the write is on the primary');

    // The CLI passes the options on: it fails (exit 5, try again) with the node's message.
    const cli = await runCli(['exec', '-c', r1.configPath, '--db', DB, '--replicas', '2', '--timeout', '300', "INSERT INTO t(v) VALUES ('cli, two')"]);
    assert.equal(cli.code, 5, cli.stderr);
    assert.match(cli.stderr, /node answered 504: TXID \d+ of sqlite\.db is committed on the primary, but only 1 of the 2 replicas asked for confirmed it/);
  });

  const cli = await runCli(['exec', '-c', r2.configPath, '--db', DB, '--replicas', '1', "INSERT INTO t(v) VALUES ('cli, one')"]);
  assert.equal(cli.code, 0, cli.stderr);
  assert.match(cli.stdout, new RegExp(`^committed as TXID \\d+: 1 statements, 1 rows changed; on 1 replica \\((${ids.join('|')})\\)\\n$`));
  const badCli = await runCli(['exec', '-c', r2.configPath, '--db', DB, '--replicas', 'all', 'SELECT 1']);
  assert.equal(badCli.code, 2, badCli.stderr);
  assert.match(badCli.stderr, /replicas must be a whole number from 1 to 100, not "all"/);

  // litefleet/client, asked on a replica: it follows the primary's events, which start with what
  // each replica has applied, so a TXID both have already resolves at once.
  const txid = await txidOn(c.primary);
  for (const r of c.replicas) await r.waitForTxid(DB, txid);
  const on = { url: r1.url, token: r1.token };
  assert.deepEqual((await waitForReplicas(DB, txid, 2, on)).sort(), [...ids].sort());
  const later = waitForReplicas(DB, txid + 1, 2, { ...on, timeout: 10_000 });
  await runSqliteCli(path.join(c.primary.dir, DB), ".timeout 5000\nINSERT INTO t(v) VALUES ('by the app');");
  assert.deepEqual((await later).sort(), [...ids].sort());
  await frozen(r2, () => assert.rejects(waitForReplicas(DB, txid + 1000, 1, { ...on, timeout: 300 }), /only 0 of 1 replicas had TXID \d+ of sqlite\.db within 300 ms/));
});

test('the proxy with sync-replicas answers a write once the replicas have it, and 504 with the cookie when they do not', async () => {
  const appPorts = await Promise.all([0, 1, 2].map(() => freePort()));
  const proxyPorts = await Promise.all([0, 1, 2].map(() => freePort()));
  let nodes: NodeProcess[] = [];
  const root = makeTempDir('litefleet-sync-proxy-', async () => {
    for (const n of nodes) {
      n.signal('SIGCONT');
      await n.stop();
    }
  });
  const c = await launchCluster(root, 3, '', {
    extraConfig: (i) => ['proxy:', `  addr: "127.0.0.1:${proxyPorts[i]}"`, `  target: "127.0.0.1:${appPorts[i]}"`, `  db: ${DB}`, '  sync-replicas: 2', '  sync-timeout: 2s'].join('\n'),
    args: (i) => ['--', process.execPath, path.join(fixtures, 'http-app.mjs'), String(appPorts[i]), path.join('live', DB)],
  });
  nodes = c.nodes;
  const [r1, r2] = c.replicas as [NodeProcess, NodeProcess];
  await runSqliteCli(path.join(c.primary.dir, DB), '.timeout 5000\nPRAGMA journal_mode=WAL; CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT);');
  for (const n of c.nodes) await n.waitForTxid(DB, 1);
  const proxy = (i: number) => `http://127.0.0.1:${proxyPorts[i]}`;
  const post = (i: number, body: string) => request(`${proxy(i)}/notes`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ body }) });
  const txidOf = (res: { headers: http.IncomingHttpHeaders }) => Number.parseInt(/__txid=([0-9a-f]{16})/.exec(String(res.headers['set-cookie']))![1]!, 16);
  // The apps start once their node is ready.
  for (const i of [0, 1, 2]) await waitFor(async () => (await request(`${proxy(i)}/notes`)).status === 200, 15_000, `the app behind proxy ${i + 1} to answer`, 50);

  // On the primary's proxy and forwarded from a replica's: both replicas have the write when the app's answer arrives.
  for (const i of [0, 1]) {
    const res = await post(i, `synchronous ${i}`);
    assert.equal(res.status, 201, res.body);
    const txid = txidOf(res);
    for (const r of c.replicas) assert.ok((await txidOn(r)) >= txid, `${r.root} has TXID ${txid} when the answer arrives`);
  }
  // A read commits nothing and waits for nothing.
  assert.equal((await request(`${proxy(0)}/notes`)).status, 200);

  await frozen(r2, async () => {
    const res = await post(0, 'not on both');
    assert.equal(res.status, 504, res.body);
    assert.match(res.body, /^litefleet proxy: TXID \d+ of sqlite\.db is committed on the primary, but only 1 of the 2 replicas asked for confirmed it \([0-9A-F]{16}\) within 2000 ms/);
    assert.equal(res.headers['fly-instance'], 'node1');
    const txid = txidOf(res);
    assert.ok((await txidOn(r1)) >= txid, 'the cookie names the write, which the other replica has');
    assert.equal(await runSqliteCli(path.join(c.primary.dir, DB), "SELECT count(*) FROM notes WHERE body = 'not on both';", ['-readonly']), '1\n');
  });
});
