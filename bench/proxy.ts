import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchCluster } from '../test/helpers/cluster.ts';
import { freePort, sleep } from '../test/helpers/node-process.ts';
import { runSqliteCli } from '../test/helpers/sqlite.ts';
import { fixed, median, percentile } from './lib/stats.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const DB = 'app.db';
const CONCURRENCY = 8;

/** Keeps CONCURRENCY requests in flight for `seconds`; returns the rate and latencies. */
async function load(url: string, method: 'GET' | 'POST', seconds: number): Promise<{ rate: number; p50: number; p99: number }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const latencies: number[] = [];
  const end = performance.now() + seconds * 1000;
  const one = () =>
    new Promise<void>((resolve, reject) => {
      const started = performance.now();
      const req = http.request(url, { method, agent, headers: method === 'POST' ? { 'content-type': 'application/json' } : {} }, (res) => {
        res.resume();
        res.on('end', () => {
          if ((res.statusCode ?? 0) >= 400) reject(new Error(`${method} ${url} answered ${res.statusCode}`));
          latencies.push(performance.now() - started);
          resolve();
        });
      });
      req.on('error', reject);
      req.end(method === 'POST' ? '{"body":"bench"}' : undefined);
    });
  const worker = async () => {
    while (performance.now() < end) await one();
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  agent.destroy();
  return { rate: latencies.length / seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

/**
 * The proxy's cost: requests per second and latency through a node's proxy against straight to the
 * app, for reads (served by the replica's app) and writes (from a replica's proxy forwarded to the
 * primary's proxy and app, against straight to the primary's app). Two nodes, static lease.
 */
export async function benchProxy(root: string): Promise<void> {
  const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
  const seconds = Number(process.env.BENCH_WINDOW ?? 3);
  const appPorts = [await freePort(), await freePort()];
  const proxyPorts = [await freePort(), await freePort()];
  const extra = (i: number) => ['proxy:', `  addr: "127.0.0.1:${proxyPorts[i]}"`, `  target: "127.0.0.1:${appPorts[i]}"`, `  db: ${DB}`].join('\n');
  const c = await launchCluster(path.join(root, 'cluster'), 2, '', {
    extraConfig: extra,
    args: (i) => ['--', process.execPath, path.join(here, '../test/fixtures/http-app.mjs'), String(appPorts[i]), path.join('live', DB)],
  });
  try {
    await runSqliteCli(path.join(c.primary.dir, DB), '.timeout 5000\nPRAGMA journal_mode=WAL; CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes(body) VALUES (\'a\'), (\'b\'), (\'c\');');
    await c.replicas[0]!.waitForTxid(DB, 1);
    for (const port of [...appPorts, ...proxyPorts]) {
      const deadline = Date.now() + 15_000;
      while (Date.now() < deadline && !(await fetch(`http://127.0.0.1:${port}/notes`).then((r) => r.ok, () => false))) await sleep(50);
    }
    const cases = [
      { name: 'reads on the replica', method: 'GET' as const, direct: `http://127.0.0.1:${appPorts[1]}/notes`, proxied: `http://127.0.0.1:${proxyPorts[1]}/notes` },
      { name: 'writes from the replica', method: 'POST' as const, direct: `http://127.0.0.1:${appPorts[0]}/notes`, proxied: `http://127.0.0.1:${proxyPorts[1]}/notes` },
    ];
    console.log(`\nproxy: ${CONCURRENCY} requests in flight, ${rounds} alternating rounds of ${seconds} s each (direct = straight to the app that serves it)`);
    for (const k of cases) {
      const ratio: number[] = [];
      const added: number[] = [];
      for (let r = 0; r < rounds; r++) {
        const d = await load(k.direct, k.method, seconds);
        const p = await load(k.proxied, k.method, seconds);
        ratio.push(p.rate / d.rate);
        added.push(p.p50 - d.p50);
        console.log(
          `  ${k.name}, round ${r + 1}: direct ${fixed(d.rate, 0)} req/s (p50 ${fixed(d.p50)} ms, p99 ${fixed(d.p99)} ms), proxy ${fixed(p.rate, 0)} req/s (p50 ${fixed(p.p50)} ms, p99 ${fixed(p.p99)} ms)`,
        );
      }
      console.log(`  ${k.name}: median rate ${fixed(median(ratio))}× direct (goal ≥ 0.8), median added p50 ${fixed(median(added))} ms (goal ≤ 1 ms)`);
    }
  } finally {
    for (const n of c.nodes) await n.stop();
  }
}
