import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import type { Command } from 'commander';
import { LitefleetError } from '../../errors.ts';

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../bin/litefleet.js');
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

async function waitHealthy(url: string, proc: ChildProcess, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new LitefleetError('EDEMO', `a node exited with code ${proc.exitCode} while starting`);
    try {
      if ((await fetch(`${url}/health`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new LitefleetError('EDEMO', `node at ${url} did not start within ${timeoutMs / 1000}s`);
}

/** `litefleet demo`: a three-node cluster on loopback in a folder of its own, until Ctrl-C. */
export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('start a local 3-node cluster (one primary, two replicas) on loopback; Ctrl-C stops it')
    .option('--dir <path>', 'folder for the nodes\' databases and state', '.demo')
    .option('--port <port>', 'API port of the first node (the next ones follow; any free ports if taken, 0 for any)', '20202')
    .action(async (opts: { dir: string; port: string }) => {
      const root = path.resolve(opts.dir);
      const ports = await pickPorts(Number(opts.port), NODES);
      // A fresh token each run, kept in the demo's own configs (the folder is git-ignored).
      const token = crypto.randomBytes(16).toString('hex');
      const primaryUrl = `http://127.0.0.1:${ports[0]}`;
      const nodes = ports.map((port, i) => {
        const dir = path.join(root, `node${i + 1}`);
        fs.mkdirSync(path.join(dir, 'live'), { recursive: true });
        const config = path.join(dir, 'litefleet.yml');
        fs.writeFileSync(
          config,
          [
            '# Written by `litefleet demo`.',
            'dir: ./live',
            'data-dir: ./data',
            'http:',
            `  addr: "127.0.0.1:${port}"`,
            `  token: "${token}"`,
            'lease:',
            '  type: static',
            '  hostname: node1',
            `  advertise-url: "${primaryUrl}"`,
            `  candidate: ${i === 0}`,
            '',
          ].join('\n'),
        );
        return { name: `node${i + 1}`, dir, config, url: `http://127.0.0.1:${port}`, db: path.join(dir, 'live', 'sqlite.db') };
      });

      const primaryDb = nodes[0]!.db;
      if (!fs.existsSync(primaryDb)) {
        const db = new Database(primaryDb);
        db.pragma('journal_mode = WAL');
        db.exec("CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT NOT NULL, created_at TEXT NOT NULL DEFAULT (datetime('now')))");
        db.prepare('INSERT INTO notes(body) VALUES (?)').run('hello from the primary');
        db.close();
      }

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
        for (const n of nodes) {
          const proc = spawn(process.execPath, [CLI, 'run', '-c', n.config], { stdio: ['ignore', 'inherit', 'inherit'] });
          procs.push(proc);
          await waitHealthy(n.url, proc);
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
        `litefleet demo: ${NODES} nodes on loopback, static lease, node1 is the primary`,
        ...nodes.map((n, i) => `  ${n.name}  ${i === 0 ? 'primary' : 'replica'}  API ${n.url}  database ${rel(n.db)}`),
        '',
        'Write on the primary with the sqlite3 CLI:',
        `  sqlite3 ${rel(primaryDb)} "INSERT INTO notes(body) VALUES ('written on the primary')"`,
        'Read it on a replica (within milliseconds):',
        `  sqlite3 -readonly ${rel(nodes[1]!.db)} "SELECT * FROM notes"`,
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
