import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CookieSession } from '../helpers/browser-session.ts';
import { startDemo } from '../helpers/demo-process.ts';
import { runCli } from '../helpers/node-process.ts';
import { makeTempDir } from '../helpers/temp-dir.ts';

test('litefleet demo runs the notes app on three nodes: a write through a replica is seen there at once, Ctrl-C stops it', async () => {
  const demo = await startDemo(makeTempDir());
  const [, node2, node3] = demo.instances;
  assert.deepEqual(demo.instances.map((u) => `${u.name} ${u.role}`), ['node1 primary', 'node2 replica', 'node3 replica'], demo.output());
  for (const u of demo.instances) {
    const page = await new CookieSession().request(u.url);
    assert.equal(page.status, 200);
    assert.match(page.text, new RegExp(`Answered by <b data-testid="instance">${u.name}</b> \\(${u.role}\\) · primary: <b data-testid="primary">node1</b>`));
  }
  const browser = new CookieSession();
  assert.match((await browser.request(`${node3!.url}/login`, { username: 'alice', password: 'alice-password' })).text, /Signed in as <b data-testid="user">alice<\/b> \(user\)/);
  const after = await browser.request(`${node2!.url}/notes`, { title: 'from the test', content: 'written through node2' });
  assert.match(browser.cookies.get('__txid') ?? '', /^[0-9a-f]{16}$/);
  assert.match(after.text, /Answered by <b data-testid="instance">node2<\/b>[\s\S]*<b>from the test<\/b> written through node2 <small>by alice/);

  const status = await runCli(['status', '-c', node2!.config]);
  assert.equal(status.code, 0, status.stderr);
  assert.equal(status.stdout.match(/REPLICA/g)?.length, 2, status.stdout);

  assert.equal(await demo.stop(), 0);
  assert.match(demo.output(), /stopping the demo cluster/);
  assert.equal(demo.output().match(/litefleet node stopped/g)?.length ?? 0, 3, demo.output());
});
