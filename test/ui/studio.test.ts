import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, screenshot, signIn } from '../helpers/browser.ts';
import { launchCluster, type Cluster } from '../helpers/cluster.ts';
import { runCli, type NodeProcess } from '../helpers/node-process.ts';
import { runSqliteCli } from '../helpers/sqlite.ts';
import { makeTempDir } from '../helpers/temp-dir.ts';
import { waitFor } from '../helpers/wait.ts';

const DB = 'app.db';
const ROWS = 10_000;
// Short enough (under 80 characters) to be shown whole, not folded.
const EVIL = '<script>window.__injected=1</script><img src=x onerror="window.__injected=2">';

let cluster: Cluster;
let browser: Browser;
let primary: NodeProcess;
let replica: NodeProcess;
let readOnly: NodeProcess;
/** The TXID once the table and its rows are in. */
let seeded: number;

function readRow(node: NodeProcess, id: number): unknown {
  const db = new Database(path.join(node.dir, DB), { readonly: true, timeout: 5_000 });
  try {
    return db.prepare('SELECT id, name FROM items WHERE id = ?').get(id);
  } finally {
    db.close();
  }
}

/** The API answer to a POST the page makes itself (cookie and all), with or without its CSRF token. */
function postFromPage(page: Page, pathname: string, body: unknown, csrf: boolean): Promise<{ status: number; body: { error?: string } }> {
  return page.evaluate(
    async ([p, b, withCsrf]) => {
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (withCsrf) headers['x-csrf-token'] = ((await (await fetch('/ui/api/session')).json()) as { csrf: string }).csrf;
      const res = await fetch(p, { method: 'POST', headers, body: JSON.stringify(b) });
      return { status: res.status, body: await res.json() };
    },
    [pathname, body, csrf] as const,
  );
}

let nodes: NodeProcess[] = [];
// Made here, not in before(): its clean-up must run when the file ends, not when the hook does.
const root = makeTempDir('litefleet-studio-', async () => {
  for (const n of nodes) await n.stop();
});

before(async () => {
  const backup = `backup:\n  url: "${pathToFileURL(path.join(root, 'backup')).href}"`;
  cluster = await launchCluster(root, 3, backup, { extraConfig: (i) => (i === 2 ? 'ui:\n  read-only: true' : '') });
  nodes = cluster.nodes;
  primary = cluster.primary;
  [replica, readOnly] = cluster.replicas as [NodeProcess, NodeProcess];
  await runSqliteCli(
    path.join(primary.dir, DB),
    `.timeout 5000
PRAGMA journal_mode=WAL;
CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT NOT NULL, note TEXT, data BLOB);
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < ${ROWS})
INSERT INTO items(id, name, note, data) SELECT i, 'item ' || i, CASE WHEN i % 10 = 0 THEN printf('%.300c', 'x') END, CASE WHEN i % 2 = 0 THEN randomblob(24) END FROM c;`,
  );
  seeded = (await primary.waitForCapture(DB)).txid;
  for (const n of cluster.replicas) await n.waitForTxid(DB, seeded);
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
});

test('sign-in: a wrong token is refused; the right one gives an HttpOnly, SameSite=Strict cookie, never the token in the page or a URL; POSTs need the CSRF token', async () => {
  // litefleet studio prints the URL to open.
  const cli = await runCli(['studio', '-c', replica.configPath]);
  assert.equal(cli.code, 0, cli.stderr);
  const url = cli.stdout.split('\n')[0]!;
  assert.equal(url, `${replica.url}/ui/`);
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  await page.goto(url);
  await page.fill('input[name=token]', 'not-the-token-0123456789');
  await page.click('#sign-in button[type=submit]');
  await page.waitForSelector('#sign-in-error:has-text("that is not the cluster token")');
  assert.deepEqual(await context.cookies(), []);
  assert.equal(await page.isHidden('#nav'), true);
  await screenshot(page, '01-sign-in-refused');

  await page.fill('input[name=token]', replica.token);
  await page.click('#sign-in button[type=submit]');
  await page.waitForSelector('#nav:not([hidden])');
  const [cookie] = await context.cookies();
  assert.equal(cookie?.name, `litefleet_session_${replica.port}`);
  assert.equal(cookie.httpOnly, true);
  assert.equal(cookie.sameSite, 'Strict');
  assert.equal(cookie.path, '/ui');
  assert.ok(!(await page.content()).includes(replica.token), 'the token is not in the page');
  assert.ok(!page.url().includes(replica.token), 'the token is not in the URL');
  assert.equal(await page.inputValue('input[name=token]'), '');

  const noCsrf = await postFromPage(page, '/ui/api/console', { db: DB, sql: 'SELECT 1' }, false);
  assert.equal(noCsrf.status, 403);
  assert.equal((await postFromPage(page, '/ui/api/console', { db: DB, sql: 'SELECT 1' }, true)).status, 200);
  // Without the session cookie the API answers 401, and the bearer token's routes are unchanged.
  assert.equal((await fetch(`${replica.url}/ui/api/session`)).status, 401);
  assert.equal((await fetch(`${replica.url}/ui/api/tables?db=${DB}`)).status, 401);
  assert.equal((await fetch(`${replica.url}/info`)).status, 401);
  await context.close();
});

test('cluster: the three nodes with their roles, the primary marked, live', async () => {
  const page = await signIn(browser, replica.url, replica.token);
  await page.waitForSelector('#nodes tbody tr >> nth=2');
  const rows = await page.locator('#nodes tbody tr').allInnerTexts();
  assert.equal(rows.length, 3);
  const primaryId = (await primary.info()).node.id;
  const primaryRow = rows.find((r) => r.includes('PRIMARY'));
  assert.ok(primaryRow?.includes(primaryId), `the primary's row names ${primaryId}: ${rows.join(' | ')}`);
  assert.equal(rows.filter((r) => /\breplica\b/.test(r)).length, 2);
  const replicaId = (await replica.info()).node.id;
  assert.ok(rows.some((r) => r.includes('this node') && r.includes(replicaId)));
  // Live: a write on the primary shows up in the positions without a reload.
  await runSqliteCli(path.join(primary.dir, DB), ".timeout 5000\nINSERT INTO items(id, name) VALUES (20000, 'live');");
  const txid = (await primary.waitForCapture(DB)).txid;
  // The data browser's tests count this row on the replicas.
  for (const n of [replica, readOnly]) await n.waitForTxid(DB, txid);
  await page.waitForSelector(`#nodes tr.primary:has-text("${DB} @ TXID ${txid}")`);
  await page.waitForSelector('figure.chart svg polyline.rate', { state: 'attached' });
  await screenshot(page, '02-cluster');
  await page.context().close();
});

test('data browser: tables with counts, a table opened and paged through all its rows on a replica', async () => {
  const page = await signIn(browser, replica.url, replica.token);
  await page.goto(`${replica.url}/ui/#/data/${DB}/items`);
  await page.waitForSelector('aside.tables li.active:has-text("10,001 rows")');
  await page.waitForSelector('.title .count:has-text("10,001 rows")');
  await page.waitForSelector('.rows tbody tr >> nth=99');
  assert.equal(await page.textContent('.range'), 'rows 1–100');
  assert.match((await page.locator('.rows tbody tr').first().innerText()).replace(/\s+/g, ' '), /^1 item 1 NULL NULL$/);
  assert.match(await page.locator('.rows tbody tr').nth(1).innerText(), /24 B [0-9a-f]{32}…/);
  assert.match(await page.locator('.rows tbody tr').nth(9).innerText(), /x{80}… \(300 chars\)/);
  await screenshot(page, '03-table-first-page');

  let pages = 1;
  const started = performance.now();
  while (await page.isEnabled('button:has-text("Next ▶")')) {
    await page.click('button:has-text("Next ▶")');
    pages++;
    const first = (pages - 1) * 100 + 1;
    await page.waitForSelector(`.range:has-text("rows ${first.toLocaleString('en-US')}–")`);
  }
  const ms = performance.now() - started;
  assert.equal(pages, 101);
  assert.equal(await page.textContent('.range'), 'rows 10,001–10,001');
  assert.match(await page.locator('.rows tbody tr').first().innerText(), /^20000\s+live/);
  console.log(`paged through ${pages} pages (10,001 rows) in ${Math.round(ms)} ms: ${(ms / pages).toFixed(1)} ms a page`);
  await screenshot(page, '04-table-last-page');

  await page.click('button:has-text("◀ Previous")');
  await page.waitForSelector('.range:has-text("rows 9,901–10,000")');
  // Sorted by a column, descending.
  await page.click('button.sort:has-text("name")');
  await page.click('button.sort:has-text("name ▲")');
  await page.waitForSelector('button.sort:has-text("name ▼")');
  await page.waitForSelector('.range:has-text("rows 1–100")');
  assert.match(await page.locator('.rows tbody tr').first().innerText(), /^20000\s+live/);
  assert.match(await page.locator('.rows tbody tr').nth(1).innerText(), /^9999\s+item 9999/);
  await page.click('.tabs a:has-text("Schema")');
  await page.waitForSelector('pre.sql:has-text("CREATE TABLE items")');
  await screenshot(page, '05-table-schema');
  await page.context().close();
});

test('an edit on a replica\'s UI goes to the primary as one transaction and reaches every node; inserts and deletes too', async () => {
  const page = await signIn(browser, replica.url, replica.token);
  await page.goto(`${replica.url}/ui/#/data/${DB}/items`);
  await page.waitForSelector('.rows tbody tr >> nth=4');
  await page.locator('.rows tbody tr').nth(4).click();
  await page.waitForSelector('.editor h2:has-text("Row 5")');
  await page.fill('.editor textarea[name=name]', "edited on a replica's UI");
  await screenshot(page, '06-edit-row');
  await page.click('.editor button:has-text("Save")');
  const status = await waitFor(async () => {
    const t = await page.textContent('.status');
    return t && /This node \(replica\) has TXID/.test(t) ? t : undefined;
  }, 20_000, 'the edit to reach this node', 50);
  const txid = Number(/as TXID (\d+) \(1 row changed\)/.exec(status)?.[1]);
  assert.ok(txid > 1, status);
  await page.waitForSelector(`.rows td:has-text("edited on a replica's UI")`);
  await screenshot(page, '07-edit-committed');
  for (const n of cluster.nodes) {
    await n.waitForTxid(DB, txid);
    assert.deepEqual(readRow(n, 5), { id: 5, name: "edited on a replica's UI" }, `node ${n.url}`);
  }

  await page.click('button:has-text("+ Insert row")');
  await page.fill('.editor textarea[name=id]', '30000');
  await page.fill('.editor textarea[name=name]', 'inserted');
  await page.click('.editor button:has-text("Insert")');
  await page.waitForSelector('.status:has-text("This node (replica) has TXID")');
  assert.deepEqual(readRow(primary, 30000), { id: 30000, name: 'inserted' });

  page.once('dialog', (d) => void d.accept());
  await page.locator('.rows tbody tr').nth(5).click();
  await page.waitForSelector('.editor h2:has-text("Row 6")');
  await page.click('.editor button:has-text("Delete")');
  const deleted = await waitFor(async () => {
    const t = await page.textContent('.status');
    return t && /has TXID/.test(t) && !t.includes('Row 6') ? t : undefined;
  }, 20_000, 'the delete to reach this node', 50);
  const delTxid = Number(/as TXID (\d+)/.exec(deleted)?.[1]);
  for (const n of cluster.nodes) {
    await n.waitForTxid(DB, delTxid);
    assert.equal(readRow(n, 6), undefined);
  }
  await page.context().close();
});

test('console: a read runs on this node with a timed grid; a failing statement shows SQLite\'s error; a write goes to the primary', async () => {
  const page = await signIn(browser, replica.url, replica.token);
  await page.goto(`${replica.url}/ui/#/console/${DB}`);
  await page.fill('#sql', 'SELECT count(*) AS n, max(id) AS top FROM items');
  await page.click('#run');
  await page.waitForSelector('#console-output table.grid');
  const result = await page.innerText('#console-output');
  assert.match(result, /1 row in \d+\.\d ms on this node/);
  assert.match(result.replace(/\s+/g, ' '), /n top 10001 30000/);
  await screenshot(page, '08-console-read');

  await page.fill('#sql', 'SELECT nope FROM items');
  await page.click('#run');
  await page.waitForSelector('#console-output pre.error');
  assert.equal(await page.textContent('#console-output pre.error'), 'no such column: nope');
  await screenshot(page, '09-console-error');

  await page.fill('#sql', "UPDATE items SET note = 'from the console' WHERE id = 7; UPDATE items SET note = 'and again' WHERE id = 8");
  await page.click('#run');
  await page.waitForSelector('#console-output:has-text("This node has it")');
  assert.match(await page.innerText('#console-output'), /Committed on the primary as TXID \d+: 2 statements, 2 rows changed/);
  await page.fill('#sql', "INSERT INTO items(id, name) VALUES (1, 'duplicate')");
  await page.click('#run');
  await page.waitForSelector('#console-output pre.error');
  assert.match(await page.textContent('#console-output pre.error') ?? '', /UNIQUE constraint failed: items\.id/);
  await page.context().close();
});

test('read-only studio: no write controls, and writes are refused by the node', async () => {
  const page = await signIn(browser, readOnly.url, readOnly.token);
  assert.match(await page.textContent('#whoami') ?? '', /read-only/);
  await page.goto(`${readOnly.url}/ui/#/data/${DB}/items`);
  await page.waitForSelector('.rows tbody tr >> nth=0');
  await page.waitForSelector('form.filter');
  assert.equal(await page.locator('button:has-text("+ Insert row")').count(), 0);
  await page.locator('.rows tbody tr').first().click();
  await page.waitForSelector('.editor:has-text("This studio is read-only.")');
  assert.equal(await page.locator('.editor button:has-text("Save")').count(), 0);
  await page.goto(`${readOnly.url}/ui/#/console/${DB}`);
  await page.fill('#sql', 'DELETE FROM items WHERE id = 1');
  await page.click('#run');
  await page.waitForSelector('#console-output pre.error');
  assert.match(await page.textContent('#console-output pre.error') ?? '', /read-only \(ui\.read-only: true\): writes are refused/);
  await screenshot(page, '10-read-only-refused');
  const edit = await postFromPage(page, '/ui/api/edit', { db: DB, table: 'items', action: 'delete', key: [1] }, true);
  assert.equal(edit.status, 403);
  assert.deepEqual(readRow(primary, 1), { id: 1, name: 'item 1' });
  await page.context().close();
});

test('a value holding markup is shown as text and never runs', async () => {
  await runSqliteCli(path.join(primary.dir, DB), `.timeout 5000\nINSERT INTO items(id, name) VALUES (40000, '${EVIL.replaceAll("'", "''")}');`);
  const txid = (await primary.waitForCapture(DB)).txid;
  await replica.waitForTxid(DB, txid);
  const page = await signIn(browser, replica.url, replica.token);
  await page.goto(`${replica.url}/ui/#/data/${DB}/items`);
  await page.waitForSelector('form.filter');
  await page.selectOption('select[aria-label="filter column"]', 'name');
  await page.selectOption('select[aria-label="filter operator"]', 'contains');
  await page.fill('input[aria-label="filter value"]', '<script>');
  await page.click('form.filter button');
  // The first page does not hold that row; the filtered one holds it alone.
  await page.locator('.rows td', { hasText: '<script>' }).waitFor();
  assert.equal(await page.locator('.rows tbody tr').count(), 1);
  assert.equal(await page.locator('.rows tbody tr td').nth(1).innerText(), EVIL);
  assert.equal(await page.locator('.rows script, .rows img').count(), 0);
  assert.equal(await page.evaluate(() => (window as unknown as { __injected?: number }).__injected), undefined);
  await screenshot(page, '11-markup-in-grid');
  await page.goto(`${replica.url}/ui/#/console/${DB}`);
  await page.fill('#sql', 'SELECT name FROM items WHERE id = 40000');
  await page.click('#run');
  await page.waitForSelector('#console-output table.grid');
  assert.equal(await page.locator('#console-output td').first().innerText(), EVIL);
  assert.equal(await page.evaluate(() => (window as unknown as { __injected?: number }).__injected), undefined);
  await screenshot(page, '12-markup-in-console');
  await page.context().close();
});

test('backups: generations and restore points, and the database downloaded as it was at a TXID', async () => {
  const page = await signIn(browser, replica.url, replica.token);
  const last = (await primary.waitForCapture(DB)).txid;
  // The primary ships about once a second; reload until the backup holds the last transaction.
  await waitFor(async () => {
    await page.goto(`${replica.url}/ui/#/backups/${DB}`);
    await page.reload();
    await page.waitForSelector('h1:has-text("Backups") ~ div :is(table, p)');
    return (await page.innerText('main')).includes(`TXID ${last} ·`);
  }, 20_000, 'the backup to hold the last transaction', 50);
  await page.waitForSelector('svg[aria-label="restore point timeline"] rect.generation');
  assert.equal(await page.evaluate(async () => (await fetch('/ui/api/backups?db=../../etc')).status), 400);
  await screenshot(page, '13-backups');

  await page.fill('input[aria-label="TXID"]', String(seeded));
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('button:has-text("Restore and download")')]);
  const file = path.join(root, 'downloaded.db');
  await download.saveAs(file);
  assert.equal(download.suggestedFilename(), `app-txid-${seeded}.db`);
  const db = new Database(file, { readonly: true });
  try {
    assert.equal(db.prepare('SELECT count(*) FROM items').pluck().get(), ROWS);
    assert.equal(db.prepare('SELECT name FROM items WHERE id = 5').pluck().get(), 'item 5');
  } finally {
    db.close();
  }
  assert.deepEqual(fs.readdirSync(os.tmpdir()).filter((n) => n.startsWith('litefleet-studio-restore-')), [], 'the restored file is deleted once sent');
  await page.context().close();
});
