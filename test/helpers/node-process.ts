import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatHex64 } from '../../src/ltx/checksum.ts';
import { parsePos } from '../../src/ltx/position.ts';
import type { DatabaseStatus, NodeInfo } from '../../src/protocol/api-types.ts';
import { databaseChecksum } from './sqlite.ts';
import { waitFor } from './wait.ts';

const STOP_TIMEOUT_MS = 30_000;

const here = path.dirname(fileURLToPath(import.meta.url));
/** The CLI entry point, run the way a user runs it. */
export const CLI = path.resolve(here, '../../bin/litefleet.js');
// The CLI runs the build in dist/: rebuilt first when a source changed since (a quick check otherwise),
// so a test run by hand after an edit never spawns yesterday's code.
execFileSync(process.execPath, [path.resolve(here, '../../scripts/build.mjs'), '--if-stale'], { stdio: 'inherit' });

// Ports handed out by this test process, never handed out twice: a port the OS gives for bind(0)
// and that is closed again may be given again to the next caller, and two of a test's processes
// then ask for the same address (a node's API and an app behind its proxy did, in CI).
const handedOut = new Set<number>();
// Below the kernel's ephemeral range, so no outgoing connection takes a port between the moment it
// is found free and the moment its process listens on it.
const ephemeralLow = (() => {
  try {
    return Number.parseInt(fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8'), 10);
  } catch {
    return 32_768;
  }
})();
const PORTS_FROM = 10_000;

/** True when nothing listens on `port` of loopback. */
function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** A free TCP port on loopback that this test process has not handed out before. */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = PORTS_FROM + Math.floor(Math.random() * ((ephemeralLow > PORTS_FROM + 1_000 ? ephemeralLow : 65_536) - PORTS_FROM));
    if (handedOut.has(port)) continue;
    handedOut.add(port);
    if (await canListen(port)) return port;
  }
}

// Nodes still running when the test process ends (a test that failed before its cleanup knew of
// them) are killed with it, not left holding their ports and files.
const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const proc of running) proc.kill('SIGKILL');
});

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
  /** Options for node itself, before the CLI (e.g. --cpu-prof, which NODE_OPTIONS refuses). */
  nodeArgs?: string[];
  /** Where the node runs (its exec commands too); default: root. */
  cwd?: string;
  /** The node's open-file limit (soft and hard), set through prlimit as it starts. */
  fileLimit?: number;
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
  readonly #nodeArgs: string[];
  readonly #fileLimit: number | undefined;
  readonly #cwd: string;
  #proc: ChildProcess | undefined;
  /** Resolves with the exit code once the process has exited and its output is read to the end. */
  #closed: Promise<number | null> | undefined;
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
    this.#nodeArgs = o.nodeArgs ?? [];
    this.#fileLimit = o.fileLimit;
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

  /** Starts the process again (after stop or kill) with the same config and data; resolves once /health answers. */
  async restart(healthTimeoutMs = 20_000): Promise<void> {
    const command = [process.execPath, ...this.#nodeArgs, CLI, 'run', '-c', this.configPath, ...this.#args];
    // prlimit execs the node in its own process, so the pid stays the node's.
    if (this.#fileLimit !== undefined) command.unshift('prlimit', `--nofile=${this.#fileLimit}:${this.#fileLimit}`);
    const proc = spawn(command[0]!, command.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], cwd: this.#cwd, env: this.#env });
    this.#proc = proc;
    running.add(proc);
    proc.once('exit', () => running.delete(proc));
    proc.stdout!.on('data', (d: Buffer) => (this.#output += d.toString()));
    proc.stderr!.on('data', (d: Buffer) => (this.#output += d.toString()));
    // Recorded in the log, so a node that ended on its own (a crash) is plain to see there.
    proc.on('exit', (code, signal) => (this.#output += `[litefleet process ${proc.pid} exited: code ${code} signal ${signal}]\n`));
    // 'exit' may come before the last of its output is read: a node is gone once both are done
    // ('close'), or 2 s after its exit when an app it started outlives it holding the same pipes.
    const closed = new Promise<number | null>((resolve) => {
      proc.once('close', (code) => resolve(code));
      proc.once('exit', (code) => setTimeout(() => resolve(code), 2_000).unref());
    });
    this.#closed = closed;
    void closed.then(() => this.#proc === proc && (this.#proc = undefined));
    // A fetch that fails (not listening yet) is polled again.
    const state = await waitFor(async () => (proc.exitCode !== null ? 'exited' : (await fetch(`${this.url}/health`)).ok && 'healthy'), healthTimeoutMs, () => `the node to become healthy:\n${this.#output}`, 50).catch((err: unknown) => {
      proc.kill('SIGKILL');
      throw err;
    });
    if (state === 'exited') throw new Error(`node exited with ${proc.exitCode}:\n${this.#output}`);
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

  /** The node's status of `db` (undefined when it has no such database). */
  async database(db: string): Promise<DatabaseStatus | undefined> {
    return (await this.info()).databases.find((d) => d.name === db);
  }

  /** Waits until the node reports `txid` (or more) for `db`; resolves with the TXID it reports. */
  async waitForTxid(db: string, txid: number, timeoutMs = 30_000): Promise<number> {
    let last = -1;
    return waitFor(
      async () => {
        last = (await this.database(db))?.txid ?? -1;
        return last >= txid && last;
      },
      timeoutMs,
      () => `${db} to reach TXID ${txid} (it stayed at ${last})\n${this.#output.slice(-3000)}`,
      25,
    );
  }

  /** Waits until the node reports `count` more transactions of `db` than when it was called (on a primary: commits made meanwhile). */
  async waitForWrites(db: string, count: number, timeoutMs = 30_000): Promise<number> {
    return this.waitForTxid(db, ((await this.database(db))?.txid ?? 0) + count, timeoutMs);
  }

  /** Waits until capture has logged every write made to `db` so far (the node's checksum is then the file's own); resolves with its status. */
  async waitForCapture(db: string, timeoutMs = 10_000): Promise<DatabaseStatus> {
    const fileSum = () => formatHex64(databaseChecksum(path.join(this.dir, db)).checksum);
    return waitFor(async () => {
      const d = await this.database(db);
      return d?.checksum === fileSum() && d;
    }, timeoutMs, `capture to log every write to ${db}`, 25);
  }

  /** On a primary with a backup: waits until the backup has shipped `txid` (or more) of `db`. */
  async waitForBackup(db: string, txid: number, timeoutMs = 10_000): Promise<void> {
    let shipped: string | undefined;
    await waitFor(
      async () => {
        shipped = (await this.database(db))?.backup;
        return shipped !== undefined && parsePos(shipped).txid >= txid;
      },
      timeoutMs,
      () => `the backup to ship TXID ${txid} of ${db} (it has shipped ${shipped ?? 'nothing'})\n${this.#output.slice(-3000)}`,
      50,
    );
  }

  /** Sends SIGTERM and waits for a clean exit; resolves with the exit code. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    const proc = this.#proc;
    const exited = this.#closed;
    if (!proc || !exited) return exited ? await exited : null;
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
    return this.#proc !== undefined;
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
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
