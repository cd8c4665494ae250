import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { startEtcd } from '../helpers/etcd.ts';
import { request } from '../helpers/http.ts';
import { startLeaseCluster, waitForPrimary } from '../helpers/lease-cluster.ts';
import { freePort } from '../helpers/node-process.ts';
import { runSqliteCli } from '../helpers/sqlite.ts';
import { waitFor } from '../helpers/wait.ts';

const fixtures = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures');
const DB = 'app.db';
const etcd = await startEtcd();

test('the proxy: writes on a replica land on the primary, read-your-writes through the txid cookie, 504 when a replica cannot catch up, fly-replay, a streamed 10 MB upload, server-sent events, a WebSocket, health', async () => {
  const appPorts = await Promise.all([0, 1, 2].map(() => freePort()));
  const proxyPorts = await Promise.all([0, 1, 2].map(() => freePort()));
  const c = await startLeaseCluster({
    size: 3,
    candidates: [true, false, false],
    backend: { type: 'etcd', url: etcd.url },
    extraConfig: (i) =>
      [
        'proxy:',
        `  addr: "127.0.0.1:${proxyPorts[i]}"`,
        `  target: "127.0.0.1:${appPorts[i]}"`,
        `  db: ${DB}`,
        '  read-timeout: 1s',
        ...(i === 2 ? ['  mode: fly-replay'] : []),
      ].join('\n'),
    // The app runs under its node, as in production.
    args: (i) => ['--', process.execPath, path.join(fixtures, 'http-app.mjs'), String(appPorts[i]), path.join('live', DB)],
  });
  const primary = await waitForPrimary(c.nodes);
  assert.equal(primary, c.nodes[0]);
  await runSqliteCli(path.join(primary.dir, DB), '.timeout 5000\nPRAGMA journal_mode=WAL; CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT);');
  for (const n of c.nodes) await n.waitForTxid(DB, 1);
  const proxy = (i: number) => `http://127.0.0.1:${proxyPorts[i]}`;
  // The apps start once their node is ready.
  for (const i of [0, 1, 2]) await waitFor(async () => (await request(`${proxy(i)}/notes`)).status === 200, 15_000, `the app behind proxy ${i + 1} to answer`, 50);

  // A POST on a replica is forwarded to the primary; the answer carries the cookie and names the instances.
  const post = await request(`${proxy(1)}/notes`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ body: 'written through a replica' }) });
  assert.equal(post.status, 201, post.body);
  assert.equal(post.headers['fly-instance'], 'node2');
  assert.equal(post.headers['fly-primary-instance'], 'node1');
  const cookie = String(post.headers['set-cookie']).split(';')[0]!;
  assert.match(cookie, /^__txid=[0-9a-f]{16}$/);
  const txid = Number.parseInt(cookie.split('=')[1]!, 16);
  assert.ok(txid >= 2);
  assert.equal(await runSqliteCli(path.join(primary.dir, DB), 'SELECT body FROM notes;', ['-readonly']), 'written through a replica\n');

  // The next read on a replica with the cookie sees it (the proxy waits for that TXID).
  for (const i of [1, 2]) {
    const read = await request(`${proxy(i)}/notes`, { headers: { cookie } });
    assert.equal(read.status, 200);
    assert.deepEqual(JSON.parse(read.body), [{ id: 1, body: 'written through a replica' }]);
  }

  // A replica that cannot reach the cookie's TXID answers 504 with a clear body after read-timeout.
  const ahead = `__txid=${(txid + 1000).toString(16).padStart(16, '0')}`;
  const late = await request(`${proxy(1)}/notes`, { headers: { cookie: ahead } });
  assert.equal(late.status, 504);
  assert.match(late.body, /timed out after 1000 ms waiting for app\.db to reach TXID \d+ on this replica \(it has \d+\)/);

  // fly-replay mode: the edge is told where to replay the write.
  const replay = await request(`${proxy(2)}/notes`, { method: 'POST', body: '{"body":"x"}' });
  assert.equal(replay.status, 200);
  assert.equal(replay.headers['fly-replay'], 'instance=node1');
  assert.equal(await runSqliteCli(path.join(primary.dir, DB), 'SELECT count(*) FROM notes;', ['-readonly']), '1\n');

  // A 10 MB upload through a replica is streamed to the primary's app intact.
  const big = crypto.randomBytes(10 * 1024 * 1024);
  const up = await request(`${proxy(1)}/upload`, { method: 'POST', body: big, headers: { 'content-type': 'application/octet-stream' } });
  assert.deepEqual(JSON.parse(up.body), { bytes: big.length, sha256: crypto.createHash('sha256').update(big).digest('hex') });
  // curl asks for 100 Continue before a large body; the proxy answers it and passes the body on.
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'litefleet-proxy-')), 'big.bin');
  fs.writeFileSync(file, big);
  const curled = await new Promise<string>((resolve, reject) =>
    execFile('curl', ['-sS', '-v', '--fail-with-body', '-H', 'content-type: application/octet-stream', '--data-binary', `@${file}`, `${proxy(1)}/upload`], { maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${err.message}\n${stderr}`));
      else resolve(`${stdout}\n${stderr}`);
    }),
  );
  assert.match(curled, /> Expect: 100-continue/i, 'curl sent Expect: 100-continue');
  assert.match(curled, new RegExp(`"sha256":"${crypto.createHash('sha256').update(big).digest('hex')}"`));
  fs.rmSync(path.dirname(file), { recursive: true });
  // The app's hop-by-hop headers stay on its connection; the others come through.
  const hop = await request(`${proxy(1)}/hop`);
  assert.equal(hop.headers['x-end-to-end'], 'kept');
  assert.equal(hop.headers['x-this-hop'], undefined);
  // A request naming its host twice is passed on with the first.
  const twice = await new Promise<string>((resolve, reject) => {
    const s = net.connect(proxyPorts[1]!, '127.0.0.1', () => s.write('GET /notes HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\nConnection: close\r\n\r\n'));
    let got = '';
    s.on('data', (d: Buffer) => (got += d.toString()));
    s.on('end', () => resolve(got));
    s.on('error', reject);
  });
  assert.match(twice, /^HTTP\/1\.1 200 /, twice.slice(0, 200));

  // Server-sent events arrive as they are sent, not when the response ends: the app sends three,
  // 200 ms apart, and ends the stream 500 ms after the last (a load that delays both ends alike
  // leaves the gap).
  const eventsBeforeEnd = await new Promise<number>((resolve, reject) => {
    http.get(`${proxy(1)}/sse`, (res) => {
      let firstAt = 0;
      res.once('data', () => (firstAt = Date.now()));
      res.on('end', () => resolve(Date.now() - firstAt));
      res.resume();
    }).on('error', reject);
  });
  assert.ok(eventsBeforeEnd > 500, `the first event came ${eventsBeforeEnd} ms before the stream ended (900 ms when unbuffered)`);

  // A WebSocket through a replica's proxy reaches its app and echoes.
  const echoed = await new Promise<string>((resolve, reject) => {
    const req = http.request(`${proxy(1)}/ws`, { headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-key': crypto.randomBytes(16).toString('base64'), 'sec-websocket-version': '13' } });
    req.on('upgrade', (res, socket) => {
      assert.equal(res.headers['fly-instance'], 'node2');
      socket.once('data', (d: Buffer) => {
        resolve(d.toString());
        socket.destroy();
      });
      socket.write('hello over the socket');
    });
    req.on('error', reject);
    req.end();
  });
  assert.equal(echoed, 'hello over the socket');

  // A GET the app must serve on the primary (it answers fly-replay on a replica) is replayed there.
  const mustWrite = await request(`${proxy(1)}/must-write`);
  assert.equal(mustWrite.status, 200);
  assert.deepEqual(JSON.parse(mustWrite.body), { wroteOn: 'primary' });

  const health = await request(`${proxy(1)}/litefleet/health`);
  assert.equal(health.status, 200);
  assert.equal(health.body, 'OK\n');
});
