import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, screenshot } from '../test/helpers/browser.ts';
import { launchCluster } from '../test/helpers/cluster.ts';
import { runSqliteCli } from '../test/helpers/sqlite.ts';
import { fixed, median } from './lib/stats.ts';

const DB = 'app.db';
const ROWS = 1_000_000;
const RUNS = Number(process.env.BENCH_ROUNDS ?? 5);

type Load = { fcp: number; rendered: number; assetBytes: number; dataBytes: number };

/**
 * Opens `hash` of a node's studio in a fresh browser context (cold cache, signed in through the
 * sign-in form's endpoint) and waits for the view's own mark that its data is on screen. Reports
 * Chromium's first-contentful-paint, that mark, and the bytes transferred for the page's files and
 * for its data (Resource Timing's transferSize, so gzip counts; the event stream, still open, is not).
 */
async function load(browser: Browser, url: string, token: string, hash: string, mark: string, shot?: string): Promise<Load> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  try {
    const signedIn = await context.request.post(`${url}/ui/session`, { form: { token } });
    if (!signedIn.ok()) throw new Error(`sign-in answered ${signedIn.status()}`);
    const page: Page = await context.newPage();
    await page.goto(`${url}/ui/${hash}`);
    await page.waitForFunction((m) => performance.getEntriesByName(m).length > 0, mark, { timeout: 30_000, polling: 10 });
    // No named functions inside: tsx would wrap them in a helper the page does not have.
    const out = await page.evaluate((m) => {
      const nav = performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming;
      const resources = performance.getEntriesByType('resource') as PerformanceResourceTiming[];
      return {
        fcp: performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? NaN,
        rendered: performance.getEntriesByName(m)[0]!.startTime,
        assetBytes: nav.transferSize + resources.filter((r) => r.name.includes('/ui/assets/')).reduce((s, r) => s + r.transferSize, 0),
        dataBytes: resources.filter((r) => !r.name.includes('/ui/assets/')).reduce((s, r) => s + r.transferSize, 0),
      };
    }, mark);
    if (shot) await screenshot(page, shot);
    return out;
  } finally {
    await context.close();
  }
}

/** Chromium's own first contentful paint of a one-line page from loopback, in a fresh context: the floor under the studio's figures on this machine. */
async function baselinePaint(browser: Browser): Promise<number[]> {
  const server = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>baseline</title><h1>litefleet</h1>'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const out: number[] = [];
  try {
    for (let i = 0; i < RUNS; i++) {
      const context = await browser.newContext();
      const page = await context.newPage();
      await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
      await page.waitForFunction(() => performance.getEntriesByName('first-contentful-paint').length > 0, undefined, { polling: 10 });
      out.push(await page.evaluate(() => performance.getEntriesByName('first-contentful-paint')[0]!.startTime));
      await context.close();
    }
  } finally {
    server.close();
  }
  return out;
}

/**
 * The studio on a replica: time to first paint and to data on screen of the cluster page and of a
 * 1,000,000-row table, and the page weight. Three nodes on this machine, Debian's Chromium.
 */
export async function benchStudio(root: string): Promise<void> {
  const c = await launchCluster(path.join(root, 'cluster'), 3);
  let browser: Browser | undefined;
  try {
    const started = performance.now();
    await runSqliteCli(
      path.join(c.primary.dir, DB),
      `.timeout 5000
PRAGMA journal_mode=WAL;
CREATE TABLE big(id INTEGER PRIMARY KEY, name TEXT, score REAL, created TEXT);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${ROWS})
INSERT INTO big SELECT i, 'row ' || i, i * 0.5, datetime(1700000000 + i, 'unixepoch') FROM n;`,
    );
    const txid = (await c.primary.info()).databases.find((d) => d.name === DB)!.txid;
    const replica = c.replicas[0]!;
    await replica.waitForTxid(DB, txid, 120_000);
    console.log(`\nstudio: ${ROWS.toLocaleString('en-US')}-row table replicated in ${fixed((performance.now() - started) / 1000, 1)} s; ${RUNS} cold loads each on a replica's studio`);
    browser = await launchChromium();
    const floor = await baselinePaint(browser);
    console.log(`  Chromium alone, a one-line page: first contentful paint median ${fixed(median(floor), 0)} ms (${floor.map((f) => fixed(f, 0)).join(', ')})`);
    const pages = [
      { name: 'cluster page', hash: '#/cluster', mark: 'studio:cluster-rendered', shot: 'bench-cluster' },
      { name: `${ROWS.toLocaleString('en-US')}-row table`, hash: `#/data/${DB}/big`, mark: 'studio:rows-rendered', shot: 'bench-million-rows' },
    ];
    // The node builds the page bundle when the page is first asked for: a cost once per node start, reported apart.
    const first = await load(browser, replica.url, replica.token, pages[0]!.hash, pages[0]!.mark);
    console.log(`  first load after the node started (builds the page bundle): first contentful paint ${fixed(first.fcp, 0)} ms, data on screen ${fixed(first.rendered, 0)} ms`);
    for (const p of pages) {
      const loads: Load[] = [];
      for (let i = 0; i < RUNS; i++) loads.push(await load(browser, replica.url, replica.token, p.hash, p.mark, i === RUNS - 1 ? p.shot : undefined));
      const kb = (n: number) => fixed(n / 1024, 1);
      console.log(
        `  ${p.name}: first contentful paint median ${fixed(median(loads.map((l) => l.fcp)), 0)} ms (${loads.map((l) => fixed(l.fcp, 0)).join(', ')}), ` +
          `data on screen median ${fixed(median(loads.map((l) => l.rendered)), 0)} ms (${loads.map((l) => fixed(l.rendered, 0)).join(', ')}) (goal ≤ 300 ms); ` +
          `page weight ${kb(loads[0]!.assetBytes)} KB of files + ${kb(loads[0]!.dataBytes)} KB of data (goal ≤ 200 KB)`,
      );
    }
  } finally {
    await browser?.close();
    for (const n of c.nodes) await n.stop();
  }
}
