import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { NodeInfo } from '../../src/node/litefleet-node.ts';

const STOP_TIMEOUT_MS = 30_000;

const here = path.dirname(fileURLToPath(import.meta.url));
/** The CLI entry point, run the way a user runs it. */
export const CLI = path.resolve(here, '../../bin/litefleet.js');

/** A free TCP port on loopback. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

/** Options for a node started by the tests. */
export interface NodeProcessOptions {
  root: string;
  token?: string;
  /** Extra YAML appended to the generated config. */
  extraConfig?: string;
  port?: number;
  /** Static lease: false makes this node a replica of the primary at `primaryUrl`. */
  candidate?: boolean;
  primaryUrl?: string;
  /** YAML lines of the `lease:` section's body, replacing the static lease (etcd, Consul). */
  lease?: string[];
  /** Arguments after `run -c <config>` (e.g. `--`, an app command). */
  args?: string[];
  /** The node's environment (its exec commands inherit it); default: the test's. */
  env?: NodeJS.ProcessEnv;
  /** Where the node runs (its exec commands too); default: root. */
  cwd?: string;
}

/** A `litefleet run` child process on loopback. */
export class NodeProcess {
  readonly root: string;
  readonly dir: string;
  readonly dataDir: string;
  readonly configPath: string;
  readonly token: string;
  readonly port: number;
  readonly url: string;
  readonly #args: string[];
  readonly #env: NodeJS.ProcessEnv | undefined;
  readonly #cwd: string;
  #proc: ChildProcess | undefined;
  #output = '';

  private constructor(o: NodeProcessOptions, port: number) {
    this.root = o.root;
    this.dir = path.join(o.root, 'live');
    this.dataDir = path.join(o.root, 'data');
    this.configPath = path.join(o.root, 'litefleet.yml');
    this.token = o.token ?? 'test-token-0123456789abcdef';
    this.port = port;
    this.url = `http://127.0.0.1:${port}`;
    this.#args = o.args ?? [];
    this.#env = o.env;
    this.#cwd = o.cwd ?? o.root;
    fs.mkdirSync(this.dir, { recursive: true });
    fs.writeFileSync(
      this.configPath,
      [
        'dir: ./live',
        'data-dir: ./data',
        'http:',
        `  addr: "127.0.0.1:${port}"`,
        `  token: "${this.token}"`,
        'lease:',
        ...(o.lease ?? [
          '  type: static',
          `  candidate: ${o.candidate ?? true}`,
          '  hostname: node1',
          `  advertise-url: "${o.primaryUrl ?? `http://127.0.0.1:${port}`}"`,
        ]),
        ...(o.extraConfig?.includes('capture:') ? [] : ['capture:', '  poll-interval: 20ms']),
        o.extraConfig ?? '',
      ].join('\n'),
    );
  }

  /** Writes a config under `root` and starts the node; resolves once /health answers. */
  static async start(o: NodeProcessOptions): Promise<NodeProcess> {
    const n = await NodeProcess.create(o);
    await n.restart();
    return n;
  }

  /** Writes the config without starting the node (start it with restart()). */
  static async create(o: NodeProcessOptions): Promise<NodeProcess> {
    return new NodeProcess(o, o.port ?? (await freePort()));
  }

  /** Everything the node printed so far (its log). */
  get output(): string {
    return this.#output;
  }

  /** The OS process id. */
  get pid(): number | undefined {
    return this.#proc?.pid;
  }

  /** Starts the process again (after stop or kill) with the same config and data. */
  async restart(): Promise<void> {
    const proc = spawn(process.execPath, [CLI, 'run', '-c', this.configPath, ...this.#args], { stdio: ['ignore', 'pipe', 'pipe'], cwd: this.#cwd, env: this.#env });
    this.#proc = proc;
    proc.stdout!.on('data', (d: Buffer) => (this.#output += d.toString()));
    proc.stderr!.on('data', (d: Buffer) => (this.#output += d.toString()));
    // Recorded in the log, so a node that ended on its own (a crash) is plain to see there.
    proc.on('exit', (code, signal) => (this.#output += `[litefleet process ${proc.pid} exited: code ${code} signal ${signal}]\n`));
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      if (proc.exitCode !== null) throw new Error(`node exited with ${proc.exitCode}:\n${this.#output}`);
      try {
        const res = await fetch(`${this.url}/health`);
        if (res.ok) return;
      } catch {
        // not listening yet
      }
      await sleep(50);
    }
    throw new Error(`node did not become healthy:\n${this.#output}`);
  }

  /** GET /info with the token. */
  async info(): Promise<NodeInfo> {
    const res = await fetch(`${this.url}/info`, { headers: { authorization: `Bearer ${this.token}` } }).catch((err: Error) => {
      const exit = this.#proc?.exitCode ?? this.#proc?.signalCode;
      throw new Error(`GET /info failed (${err.message}, ${String(err.cause)}; node exit: ${exit ?? 'running'}); node log:\n${this.#output.slice(-3000)}`);
    });
    if (!res.ok) throw new Error(`/info answered ${res.status}`);
    return (await res.json()) as NodeInfo;
  }

  /** Waits until the node reports `txid` (or more) for `db`. */
  async waitForTxid(db: string, txid: number, timeoutMs = 30_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    let last = -1;
    while (Date.now() < deadline) {
      const d = (await this.info()).databases.find((x) => x.name === db);
      last = d?.txid ?? -1;
      if (last >= txid) return last;
      await sleep(25);
    }
    throw new Error(`${db} stayed at TXID ${last}, expected ${txid}\n${this.#output.slice(-3000)}`);
  }

  /** Sends SIGTERM and waits for a clean exit; resolves with the exit code. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    const proc = this.#proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return proc?.exitCode ?? null;
    const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
    proc.kill(signal);
    // A node that does not stop is a failure to report with its log, not a test run that hangs.
    let timer: NodeJS.Timeout | undefined;
    const stuck = new Promise<'stuck'>((resolve) => (timer = setTimeout(() => resolve('stuck'), STOP_TIMEOUT_MS)));
    const result = await Promise.race([exited, stuck]);
    clearTimeout(timer);
    if (result === 'stuck') {
      proc.kill('SIGKILL');
      await exited;
      throw new Error(`node did not exit within ${STOP_TIMEOUT_MS / 1000} s of ${signal}; its log ends:\n${this.#output.slice(-4000)}`);
    }
    return result;
  }

  /** Sends a signal without waiting (SIGSTOP/SIGCONT to freeze and thaw the node). */
  signal(signal: NodeJS.Signals): void {
    this.#proc?.kill(signal);
  }

  /** True while the process runs. */
  get running(): boolean {
    return this.#proc !== undefined && this.#proc.exitCode === null && this.#proc.signalCode === null;
  }

  /** GET /health (no token): this node's role, or undefined when it does not answer. */
  async role(): Promise<'primary' | 'replica' | undefined> {
    try {
      const res = await fetch(`${this.url}/health`, { signal: AbortSignal.timeout(1_000) });
      return ((await res.json()) as { role: 'primary' | 'replica' }).role;
    } catch {
      return undefined;
    }
  }

  /** Kills the process with SIGKILL (no cleanup at all). */
  async kill(): Promise<void> {
    await this.stop('SIGKILL');
  }
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Runs `litefleet <args>` to completion, as a user would from a shell. */
export function runCli(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}
