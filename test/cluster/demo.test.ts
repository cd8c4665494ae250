import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { CookieSession } from '../helpers/browser-session.ts';
import { CLI, runCli, sleep } from '../helpers/node-process.ts';
import { makeTempDir } from '../helpers/temp-dir.ts';

test('litefleet demo runs the notes app on three nodes: migrations once on the primary, writes through a replica seen at once, Ctrl-C stops it', async () => {
  const root = makeTempDir();
  const proc = spawn(process.execPath, [CLI, 'demo', '--dir', root, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  try {
    const deadline = Date.now() + 180_000;
    while (!out.includes('Ctrl-C stops everything') && Date.now() < deadline && proc.exitCode === null) await sleep(100);
    const urls = [...out.matchAll(/^ {2}(node\d) {2}(primary|replica) {2}(http:\/\/127\.0\.0\.1:\d+)/gm)].map((m) => ({ name: m[1]!, role: m[2]!, url: m[3]! }));
    assert.deepEqual(urls.map((u) => `${u.name} ${u.role}`), ['node1 primary', 'node2 replica', 'node3 replica'], out);
    // The migrations were checked and deployed, and the users seeded, on the primary only.
    assert.equal(out.match(/All migrations have been successfully applied/g)?.length, 1, out);
    assert.equal(out.match(/checked 20260101000000_init\n\nno narrowing changes/g)?.length, 1, out);
    assert.equal(out.match(/not the primary: skipping if-candidate command cmd="npx prisma migrate deploy"/g)?.length, 2, out);

    for (const u of urls) {
      const page = await new CookieSession().request(u.url);
      assert.equal(page.status, 200);
      assert.match(page.text, new RegExp(`Answered by <b data-testid="instance">${u.name}</b> \\(${u.role}\\) · primary: <b data-testid="primary">node1</b>`));
    }
    const browser = new CookieSession();
    assert.match((await browser.request(`${urls[2]!.url}/login`, { username: 'alice', password: 'alice-password' })).text, /Signed in as <b data-testid="user">alice<\/b> \(user\)/);
    const after = await browser.request(`${urls[1]!.url}/notes`, { title: 'from the test', content: 'written through node2' });
    assert.match(browser.cookies.get('__txid') ?? '', /^[0-9a-f]{16}$/);
    assert.match(after.text, /Answered by <b data-testid="instance">node2<\/b>[\s\S]*<b>from the test<\/b> written through node2 <small>by alice/);

    const status = await runCli(['status', '-c', path.join(root, 'node2', 'litefleet.yml')]);
    assert.equal(status.code, 0, status.stderr);
    assert.equal(status.stdout.match(/REPLICA/g)?.length, 2, status.stdout);
  } finally {
    proc.kill('SIGINT');
  }
  assert.equal(await exited, 0);
  assert.match(out, /stopping the demo cluster/);
  assert.equal(out.match(/litefleet node stopped/g)?.length ?? 0, 3, out);
});
