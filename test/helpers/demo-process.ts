import { spawn } from 'node:child_process';
import path from 'node:path';
import { after } from 'node:test';
import { CLI } from './node-process.ts';
import { waitFor } from './wait.ts';

/** One instance of the demo: its node's folder and the URL of its proxy (the app as users reach it). */
export interface DemoInstance {
  name: string;
  role: string;
  url: string;
  db: string;
  config: string;
}

/** A running `litefleet demo`. */
export interface DemoProcess {
  instances: DemoInstance[];
  /** Everything the demo and its nodes printed so far. */
  output(): string;
  /** Ctrl-C; resolves with the exit code. */
  stop(): Promise<number | null>;
}

/** What the demo prints once every instance is up. */
const READY = 'Ctrl-C stops everything';

/** Starts `litefleet demo` in `root` on any free ports and waits until it prints its URLs; stopped when the test file ends. */
export async function startDemo(root: string, timeoutMs = 180_000): Promise<DemoProcess> {
  const proc = spawn(process.execPath, [CLI, 'demo', '--dir', root, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGINT');
    return exited;
  };
  after(stop);
  await waitFor(() => out.includes(READY) || proc.exitCode !== null, timeoutMs, () => `the demo to start:\n${out.slice(-4000)}`, 100);
  if (!out.includes(READY)) throw new Error(`the demo exited with ${proc.exitCode} before it started:\n${out.slice(-4000)}`);
  const instances = [...out.matchAll(/^ {2}(node\d) {2}(primary|replica) {2}(http:\/\/127\.0\.0\.1:\d+)/gm)].map((m) => ({
    name: m[1]!,
    role: m[2]!,
    url: m[3]!,
    db: path.join(root, m[1]!, 'live', 'sqlite.db'),
    config: path.join(root, m[1]!, 'litefleet.yml'),
  }));
  return { instances, output: () => out, stop };
}
