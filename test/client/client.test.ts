import assert from 'node:assert/strict';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { test } from 'node:test';
import express from 'express';
import { ensurePrimary, expressMiddleware, getInstanceInfo, openDatabase, PrimaryRequiredError, waitForTxid, withLitefleet } from '../../src/client/index.ts';
import { startEtcd } from '../helpers/etcd.ts';
import { startLeaseCluster, waitForPrimary } from '../helpers/lease-cluster.ts';
import { runCli } from '../helpers/node-process.ts';
import { runSqliteCli } from '../helpers/sqlite.ts';
import { waitFor } from '../helpers/wait.ts';

const DB = 'app.db';
const etcd = await startEtcd();

test('litefleet/client: instance info, ensurePrimary, waitForTxid driven by events, openDatabase across a handoff, Fetch and Express middleware', async () => {
  const c = await startLeaseCluster({ size: 2, startNow: 1, backend: { type: 'etcd', url: etcd.url } });
  const [n1, n2] = c.nodes as [NonNullable<(typeof c.nodes)[0]>, NonNullable<(typeof c.nodes)[0]>];
  await waitForPrimary([n1]);
  await c.start(1);
  await runSqliteCli(path.join(n1.dir, DB), '.timeout 5000\nPRAGMA journal_mode=WAL; CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT);');
  // The table's TXID exactly (the CLI's new database may be logged as one snapshot or two).
  await n2.waitForTxid(DB, (await n1.waitForCapture(DB)).txid);
  const on = (n: typeof n1) => ({ url: n.url, token: n.token });

  assert.deepEqual(await getInstanceInfo(on(n1)), { currentInstance: 'node1', primaryInstance: 'node1', currentIsPrimary: true });
  assert.deepEqual(await getInstanceInfo(on(n2)), { currentInstance: 'node2', primaryInstance: 'node1', currentIsPrimary: false });
  await ensurePrimary(on(n1));
  const refused = await ensurePrimary(on(n2)).catch((e: unknown) => e);
  assert.ok(refused instanceof PrimaryRequiredError);
  assert.deepEqual(refused.headers, { 'fly-replay': 'instance=node1' });
  await assert.rejects(getInstanceInfo({ url: n1.url, token: 'wrong-token-0123456789' }), /401 \(wrong or missing token\)/);

  // waitForTxid resolves when the write arrives, and times out clearly when it does not.
  const txid = (await n2.info()).databases.find((d) => d.name === DB)!.txid;
  const waiting = waitForTxid(DB, txid + 1, { ...on(n2), timeout: 10_000 });
  await runSqliteCli(path.join(n1.dir, DB), ".timeout 5000\nINSERT INTO notes(body) VALUES ('one');");
  await waiting;
  await assert.rejects(waitForTxid(DB, txid + 100, { ...on(n2), timeout: 300 }), /app\.db did not reach TXID \d+ .* within 300 ms/);

  // openDatabase: read-only on the replica, read-write once a handoff makes it primary.
  const sqlite = await openDatabase(DB, { ...on(n2), dir: n2.dir });
  assert.equal(sqlite.role, 'replica');
  assert.equal(sqlite.db.prepare('SELECT count(*) FROM notes').pluck().get(), 1);
  assert.throws(() => sqlite.db.prepare("INSERT INTO notes(body) VALUES ('no')").run(), /readonly/);
  assert.match((await runCli(['handoff', '-c', n1.configPath])).stdout, /primary is now/);
  await waitFor(() => sqlite.role === 'primary', 5_000, 'the open database to become read-write after the handoff');
  sqlite.db.prepare("INSERT INTO notes(body) VALUES ('written after the handoff')").run();
  sqlite.close();
  await n1.waitForTxid(DB, txid + 2);

  // Fetch-API middleware on what is now the replica (node1).
  const handler = withLitefleet(async (req) => {
    if (new URL(req.url).pathname === '/must-write') await ensurePrimary(on(n1));
    return new Response('app answered');
  }, { ...on(n1), db: DB, timeout: 300 });
  const post = await handler(new Request('http://app/notes', { method: 'POST', body: 'x' }));
  assert.equal(post.status, 409);
  assert.equal(post.headers.get('fly-replay'), 'instance=node2');
  const read = await handler(new Request('http://app/notes'));
  assert.equal(await read.text(), 'app answered');
  assert.equal(read.headers.get('fly-instance'), 'node1');
  assert.equal(read.headers.get('fly-primary-instance'), 'node2');
  const late = await handler(new Request('http://app/notes', { headers: { cookie: `__txid=${(txid + 500).toString(16).padStart(16, '0')}` } }));
  assert.equal(late.status, 504);
  assert.equal((await handler(new Request('http://app/must-write'))).status, 409);

  // Express: the same rules, with the error handler for ensurePrimary in a handler.
  const app = express();
  app.use(expressMiddleware({ ...on(n1), db: DB }));
  app.get('/must-write', (_req, _res, next) => void ensurePrimary(on(n1)).catch(next));
  app.get('/', (_req, res) => void res.send('express answered'));
  app.use(expressMiddleware.errors);
  const server: http.Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  try {
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const r1 = await fetch(`${base}/`);
    assert.equal(await r1.text(), 'express answered');
    assert.equal(r1.headers.get('fly-primary-instance'), 'node2');
    const r2 = await fetch(`${base}/`, { method: 'POST' });
    assert.equal(r2.status, 409);
    assert.equal(r2.headers.get('fly-replay'), 'instance=node2');
    const r3 = await fetch(`${base}/must-write`);
    assert.equal(r3.status, 409);
  } finally {
    server.close();
  }
});
