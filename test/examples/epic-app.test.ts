import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium, type Page } from 'playwright-core';
import { startDemo, type DemoProcess } from '../helpers/demo-process.ts';
import { runSqliteCli } from '../helpers/sqlite.ts';
import { makeTempDir } from '../helpers/temp-dir.ts';
import { waitFor } from '../helpers/wait.ts';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const app = path.join(repo, 'examples/epic-app');
const artifacts = path.join(repo, 'test-artifacts/epic');
const CHROMIUM = '/usr/bin/chromium';

// Started at the top level, not in a before hook: the temporary folder and the demo are cleaned up
// when the file ends, and after() inside a hook would run when the hook does.
const demo: DemoProcess = await startDemo(makeTempDir('litefleet-epic-'));

/** Runs the real Prisma CLI in the example against `db`. */
function prisma(args: string[], db: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(path.join(repo, 'node_modules/.bin/prisma'), args, { cwd: app, env: { ...process.env, DATABASE_URL: `file:${db}` }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('close', (code) => resolve({ code, out }));
  });
}

test('prisma migrate deploy runs under exec once, on the primary, before its app; its history and the seeded roles reach every replica', async () => {
  const out = demo.output();
  assert.equal(out.match(/All migrations have been successfully applied/g)?.length, 1, out);
  assert.equal(out.match(/running command cmd="npx prisma migrate deploy" role=primary/g)?.length, 1, out);
  assert.equal(out.match(/not the primary: skipping if-candidate command cmd="npx prisma migrate deploy"/g)?.length, 2, out);
  assert.ok(out.indexOf('All migrations have been successfully applied') < out.indexOf('starting the app'), 'migrations before the first app');
  assert.equal(out.match(/checked 20260101000000_init\n\nno narrowing changes/g)?.length, 1, 'migrations check ran first, on the primary');
  for (const i of demo.instances) {
    const rows = await runSqliteCli(
      i.db,
      '.timeout 5000\nSELECT migration_name, finished_at IS NOT NULL FROM _prisma_migrations;\nSELECT group_concat(name) FROM (SELECT name FROM Role ORDER BY name);\nSELECT count(*) FROM Permission;\nSELECT r.name, count(*) FROM _PermissionToRole pr JOIN Role r ON r.id = pr.B JOIN Permission p ON p.id = pr.A WHERE p.access = CASE r.name WHEN \'admin\' THEN \'any\' ELSE \'own\' END GROUP BY r.name ORDER BY r.name;\n',
      ['-readonly'],
    );
    assert.equal(rows, '20260101000000_init|1\nadmin,user\n16\nadmin|8\nuser|8\n', `${i.name}: ${rows}`);
  }
  // The real Prisma CLI agrees on a replica: nothing left to deploy there.
  const status = await prisma(['migrate', 'status'], demo.instances[2]!.db);
  assert.equal(status.code, 0, status.out);
  assert.match(status.out, /Database schema is up to date!/);
  // A later deploy runs migrate deploy on the live primary, whose node holds a read at all times:
  // Prisma's EXCLUSIVE-locking "advisory lock" would wait out its busy timeout (the example's
  // migrate adapter leaves it out).
  const again = await prisma(['migrate', 'deploy'], demo.instances[0]!.db);
  assert.equal(again.code, 0, again.out);
  assert.match(again.out, /No pending migrations to apply/);
});

/** Waits until `page` shows `text` (reloading it), or fails naming what it shows. */
async function waitForText(page: Page, text: string, present = true, timeoutMs = 10_000): Promise<void> {
  let body = '';
  await waitFor(
    async () => {
      body = await page.locator('body').innerText();
      if (body.includes(text) === present) return true;
      await page.reload();
      return false;
    },
    timeoutMs,
    () => `${page.url()} ${present ? 'to show' : 'to stop showing'} "${text}"; it shows:\n${body}`,
    100,
  );
}

async function signIn(page: Page, url: string, user: string): Promise<void> {
  await page.goto(url);
  if (await page.getByRole('button', { name: 'Sign out' }).count()) await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByLabel('username').fill(user);
  await page.getByLabel('password').fill(`${user}-password`);
  await page.getByRole('button', { name: 'Sign in' }).click();
  assert.equal(await page.getByTestId('user').innerText(), user);
}

test("Debian's Chromium: a note added on one instance shows on another; an admin may delete it, a user who does not own it may not", async () => {
  assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install chromium (.ci/run does)`);
  fs.mkdirSync(artifacts, { recursive: true });
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 900, height: 600 } });
    const [node1, node2, node3] = demo.instances;

    await signIn(page, node3!.url, 'alice');
    await page.getByLabel('title').fill('Groceries');
    await page.getByLabel('content').fill('added on node3, a replica');
    await page.getByRole('button', { name: 'Add note' }).click();
    // Back on node3 after the write: the __txid cookie makes this replica wait for it.
    assert.equal(await page.getByTestId('instance').innerText(), 'node3');
    assert.match(await page.locator('ul').innerText(), /Groceries added on node3, a replica by alice/);
    await page.screenshot({ path: path.join(artifacts, '1-alice-added-on-node3.png') });

    await page.goto(node2!.url);
    assert.equal(await page.getByTestId('instance').innerText(), 'node2');
    assert.equal(await page.getByTestId('primary').innerText(), 'node1');
    await waitForText(page, 'Groceries');

    await signIn(page, node2!.url, 'bob');
    await page.getByRole('button', { name: 'delete Groceries' }).click();
    assert.match(await page.getByTestId('message').innerText(), /You may not delete this note: your role lets you delete only your own notes/);
    await page.screenshot({ path: path.join(artifacts, '2-bob-refused-on-node2.png') });
    await page.goto(node1!.url);
    await waitForText(page, 'Groceries');

    await signIn(page, node2!.url, 'admin');
    await page.getByRole('button', { name: 'delete Groceries' }).click();
    assert.equal(await page.getByTestId('instance').innerText(), 'node2');
    assert.doesNotMatch(await page.locator('ul').innerText(), /Groceries/);
    await page.screenshot({ path: path.join(artifacts, '3-admin-deleted-on-node2.png') });
    await page.goto(node3!.url);
    await waitForText(page, 'Groceries', false);
  } finally {
    await browser.close();
  }
});
