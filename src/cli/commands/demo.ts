import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { LitefleetError } from '../../errors.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const CLI = path.resolve(here, '../../../bin/litefleet.js');
const APP = path.resolve(here, '../../../examples/epic-app');
const NODES = 3;

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** `count` ports from `base` on, or any free ones when those are taken (or base is 0). */
async function pickPorts(base: number, count: number): Promise<number[]> {
  const wanted = Array.from({ length: count }, (_, i) => base + i);
  if (base > 0 && (await Promise.all(wanted.map(portFree))).every(Boolean)) return wanted;
  const ports: number[] = [];
  while (ports.length < count) {
    const port = await new Promise<number>((resolve, reject) => {
      const srv = net.createServer();
      srv.once('error', reject);
      srv.listen(0, '127.0.0.1', () => {
        const p = (srv.address() as net.AddressInfo).port;
        srv.close(() => resolve(p));
      });
    });
    if (!ports.includes(port)) ports.push(port);
  }
  return ports;
}

/** Polls `url` until it answers 2xx, failing early if `proc` exits. */
async function waitOk(url: string, proc: ChildProcess, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new LitefleetError('EDEMO', `${what} exited with code ${proc.exitCode} while starting`);
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new LitefleetError('EDEMO', `${what} did not answer ${url} within ${timeoutMs / 1000}s`);
}

/**
 * `litefleet demo`: three nodes on loopback in a folder of its own, each with its proxy in front of
 * its own instance of the notes app in examples/epic-app, until Ctrl-C. The primary checks the
 * migrations, runs `prisma migrate deploy` and seeds the demo users before its app starts (exec).
 */
export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('start a local 3-node cluster running the notes app (examples/epic-app) behind each node\'s proxy; Ctrl-C stops it')
    .option('--dir <path>', 'folder for the nodes\' databases and state', '.demo')
    .option('--port <port>', 'first of the nine ports used (node APIs, proxies, apps; any free ones if taken, 0 for any)', '20202')
    .action(async (opts: { dir: string; port: string }) => {
      if (!fs.existsSync(path.join(APP, 'server.ts'))) throw new LitefleetError('EDEMO', `the demo runs the app in ${APP}, which is part of litefleet's repository: run it from a clone (npm ci && npm run demo)`);
      const root = path.resolve(opts.dir);
      const ports = await pickPorts(Number(opts.port), NODES * 3);
      // A fresh token and session secret each run, kept in the demo's own configs (the folder is git-ignored).
      const token = crypto.randomBytes(16).toString('hex');
      const sessionSecret = crypto.randomBytes(16).toString('hex');
      const nodes = Array.from({ length: NODES }, (_, i) => {
        const name = `node${i + 1}`;
        const dir = path.join(root, name);
        const [api, proxy, app] = [ports[i]!, ports[NODES + i]!, ports[2 * NODES + i]!];
        fs.mkdirSync(path.join(dir, 'live'), { recursive: true });
        const config = path.join(dir, 'litefleet.yml');
        fs.writeFileSync(config, nodeConfig({ api, proxy, app, token, primary: i === 0, primaryApi: ports[0]! }));
        const db = path.join(dir, 'live', 'sqlite.db');
        const env = { ...process.env, DATABASE_URL: `file:${db}`, PORT: String(app), INSTANCE_NAME: name, SESSION_SECRET: sessionSecret, LITEFLEET_TOKEN: token };
        return { name, dir, config, env, api: `http://127.0.0.1:${api}`, url: `http://127.0.0.1:${proxy}`, db };
      });

      const procs: ChildProcess[] = [];
      const stopAll = async () => {
        await Promise.all(
          procs.map(
            (p) =>
              new Promise<void>((resolve) => {
                if (p.exitCode !== null || p.signalCode !== null) return resolve();
                p.once('exit', () => resolve());
                p.kill('SIGTERM');
              }),
          ),
        );
      };
      try {
        // The primary first, until its app answers: by then the database has its schema and users,
        // and each replica's app starts only once the replica holds them.
        for (const n of nodes) {
          const proc = spawn(process.execPath, [CLI, 'run', '-c', n.config], { stdio: ['ignore', 'inherit', 'inherit'], cwd: APP, env: n.env });
          procs.push(proc);
          await waitOk(`${n.url}/resources/healthcheck`, proc, `${n.name} (node or app)`, 180_000);
        }
      } catch (err) {
        await stopAll();
        throw err;
      }

      const rel = (p: string) => {
        const r = path.relative(process.cwd(), p);
        return r.startsWith('..') ? p : r;
      };
      const lines = [
        '',
        `litefleet demo: ${NODES} nodes on loopback, each with its proxy in front of its own instance of the notes app (${rel(APP)}); static lease, node1 is the primary`,
        ...nodes.map((n, i) => `  ${n.name}  ${i === 0 ? 'primary' : 'replica'}  ${n.url}  (node API ${n.api}, database ${rel(n.db)})`),
        '',
        'Open any of them and sign in as admin, alice or bob (password: <name>-password). A note added on a',
        'replica is written on the primary (the proxy forwards it) and shows at once (the __txid cookie);',
        'an admin may delete any note, a user only their own.',
        'Every node, its role, position and lag:',
        `  npx litefleet status -c ${rel(nodes[1]!.config)}`,
        '',
        'Ctrl-C stops everything.',
        '',
      ];
      process.stdout.write(lines.join('\n'));

      await new Promise<void>((resolve) => {
        const stop = () => {
          process.stdout.write('\nstopping the demo cluster…\n');
          void stopAll().then(resolve);
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        for (const p of procs) {
          p.once('exit', (code) => {
            if (code !== 0 && code !== null) process.stderr.write(`a demo node exited with code ${code}\n`);
          });
        }
      });
    });
}

/** One node's litefleet.yml: static lease, the proxy in front of the app, and the exec steps of a deploy. */
function nodeConfig(o: { api: number; proxy: number; app: number; token: string; primary: boolean; primaryApi: number }): string {
  // Quoted twice: shell words (paths may hold spaces) inside a YAML string.
  const sh = (p: string) => `'${p.replace(/'/g, `'\\''`)}'`;
  const q = (cmd: string) => JSON.stringify(cmd);
  return [
    '# Written by `litefleet demo`; the node runs in examples/epic-app.',
    'dir: ./live',
    'data-dir: ./data',
    'http:',
    `  addr: "127.0.0.1:${o.api}"`,
    `  token: "${o.token}"`,
    'lease:',
    '  type: static',
    '  hostname: node1',
    `  advertise-url: "http://127.0.0.1:${o.primaryApi}"`,
    `  candidate: ${o.primary}`,
    'proxy:',
    `  addr: "127.0.0.1:${o.proxy}"`,
    `  target: "127.0.0.1:${o.app}"`,
    '  db: sqlite.db',
    'exec:',
    `  - cmd: ${q(`${sh(process.execPath)} ${sh(CLI)} migrations check prisma/migrations`)}`,
    '    if-candidate: true',
    '  - cmd: npx prisma migrate deploy',
    '    if-candidate: true',
    `  - cmd: ${q(`${sh(process.execPath)} --import tsx prisma/seed.ts`)}`,
    '    if-candidate: true',
    `  - ${q(`${sh(process.execPath)} --import tsx server.ts`)}`,
    '',
  ].join('\n');
}
