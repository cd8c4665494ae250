import assert from 'node:assert/strict';
import path from 'node:path';
import { after, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { launchChromium, screenshot, signIn } from '../helpers/browser.ts';
import { startEtcd } from '../helpers/etcd.ts';
import { startLeaseCluster, waitForPrimary } from '../helpers/lease-cluster.ts';
import { runCli } from '../helpers/node-process.ts';
import { runSqliteCli } from '../helpers/sqlite.ts';

let browser: Browser | undefined;
after(async () => {
  await browser?.close();
});

test('the cluster page hands the lease to a candidate replica (etcd), after confirmation; a studio with ui.enabled: false serves nothing', async () => {
  const etcd = await startEtcd();
  const { nodes } = await startLeaseCluster({ size: 3, backend: { type: 'etcd', url: etcd.url }, candidates: [true, true, false], extraConfig: (i) => (i === 2 ? 'ui:\n  enabled: false' : '') });
  const primary = await waitForPrimary(nodes);
  const [candidate, other] = nodes.filter((n) => n !== primary);
  await runSqliteCli(path.join(primary.dir, 'app.db'), '.timeout 5000\nPRAGMA journal_mode=WAL; CREATE TABLE t(id INTEGER PRIMARY KEY);');
  const txid = (await primary.waitForCapture('app.db')).txid;
  for (const n of nodes.filter((x) => x !== primary)) await n.waitForTxid('app.db', txid);

  browser = await launchChromium();
  const page = await signIn(browser, primary.url, primary.token);
  const candidateId = (await candidate!.info()).node.id;
  const otherId = (await other!.info()).node.id;
  const button = page.locator(`#nodes tr[data-node="${candidateId}"] button:has-text("Hand off to this node")`);
  await button.waitFor();
  assert.equal(await page.locator(`#nodes tr[data-node="${otherId}"] button`).count(), 0, 'no handoff to a node that is not a candidate');
  // Dismissing the confirmation changes nothing.
  page.once('dialog', (d) => void d.dismiss());
  await button.click();
  assert.equal(await page.textContent('p.status'), '', 'nothing was sent');
  assert.equal(await primary.role(), 'primary');
  page.once('dialog', (d) => {
    assert.match(d.message(), new RegExp(`Hand the primary lease to ${candidateId}\\?`));
    void d.accept();
  });
  await button.click();
  await page.waitForSelector(`.status:has-text("${candidateId} is now the primary")`);
  assert.equal(await waitForPrimary(nodes), candidate);
  await page.waitForSelector(`#nodes tr.primary[data-node="${candidateId}"]`);
  await screenshot(page, '14-handoff-done');

  // ui.enabled: false: no page, no API, and litefleet studio says so.
  assert.equal((await fetch(`${other!.url}/ui/`)).status, 404);
  assert.equal((await fetch(`${other!.url}/ui/session`, { method: 'POST', body: `token=${other!.token}` })).status, 404);
  const cli = await runCli(['studio', '-c', other!.configPath]);
  assert.equal(cli.code, 2);
  assert.match(cli.stderr, /turned off on this node \(ui\.enabled: false\)/);
});
