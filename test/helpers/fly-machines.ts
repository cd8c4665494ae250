import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after } from 'node:test';
import { CLI } from './node-process.ts';
import { waitFor } from './wait.ts';

/**
 * Machines the way Fly runs them, on this host: each `litefleet run` in a network namespace of its
 * own (its own loopback and one address on a bridge, so every machine binds :20202, :8080 and :8081
 * like on Fly), with its own /etc/hosts naming every `<machine id>.vm.<app>.internal` and its own
 * /data (the volume), both bind-mounted in a mount namespace of its own. Needs root, iproute2 and
 * util-linux's unshare.
 */
export class FlyNetwork {
  readonly app: string;
  /** The host's address on the bridge (where test doubles listen for the machines). */
  readonly hostAddress: string;
  readonly root: string;
  readonly #bridge: string;
  readonly #subnet: string;
  readonly #machines: FlyMachine[] = [];
  readonly #id = crypto.randomBytes(2).toString('hex');

  constructor(root: string, app: string) {
    this.root = root;
    this.app = app;
    this.#bridge = `lfbr${this.#id}`;
    // 10.203.x.0/24: an address range of this test's own, on a bridge no one else uses.
    this.#subnet = `10.203.${parseInt(this.#id, 16) % 250}`;
    this.hostAddress = `${this.#subnet}.1`;
    ip('link', 'add', this.#bridge, 'type', 'bridge');
    ip('addr', 'add', `${this.hostAddress}/24`, 'dev', this.#bridge);
    ip('link', 'set', this.#bridge, 'up');
    after(() => this.close());
  }

  /** Creates machine `n` (1-based) with Fly's id and region; start it with start(). */
  machine(n: number, region: string): FlyMachine {
    const m = new FlyMachine(this, n, `${this.#subnet}.${10 + n}`, region, `${this.#id}${n}`);
    this.#machines.push(m);
    return m;
  }

  get machines(): readonly FlyMachine[] {
    return this.#machines;
  }

  /** /etc/hosts as a machine sees it: Fly's internal DNS names of every machine. */
  hosts(): string {
    return ['127.0.0.1 localhost', '::1 localhost', ...this.#machines.map((m) => `${m.address} ${m.id}.vm.${this.app}.internal`), ''].join('\n');
  }

  /** Creates the namespace of machine `m`, wired to the bridge. */
  wire(m: FlyMachine): void {
    const host = `lfv${this.#id}${m.n}`;
    ip('netns', 'add', m.netns);
    ip('link', 'add', host, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', m.netns);
    ip('link', 'set', host, 'master', this.#bridge);
    ip('link', 'set', host, 'up');
    ip('-n', m.netns, 'addr', 'add', `${m.address}/24`, 'dev', 'eth0');
    ip('-n', m.netns, 'link', 'set', 'eth0', 'up');
    ip('-n', m.netns, 'link', 'set', 'lo', 'up');
  }

  async close(): Promise<void> {
    for (const m of this.#machines) await m.stop('SIGKILL').catch(() => undefined);
    for (const m of this.#machines) ip('netns', 'del', m.netns, { ignoreFailure: true });
    ip('link', 'del', this.#bridge, { ignoreFailure: true });
  }
}

/** One Fly machine: a `litefleet run` of a config, in its own network and mount namespaces. */
export class FlyMachine {
  readonly net: FlyNetwork;
  readonly n: number;
  readonly address: string;
  readonly region: string;
  /** FLY_MACHINE_ID (and the namespace's name). */
  readonly id: string;
  readonly netns: string;
  /** What the machine mounts at /data (its volume). */
  readonly volume: string;
  #proc: ChildProcess | undefined;
  #output = '';

  constructor(net: FlyNetwork, n: number, address: string, region: string, id: string) {
    this.net = net;
    this.n = n;
    this.address = address;
    this.region = region;
    this.id = `m${id}`;
    this.netns = `lf${id}`;
    this.volume = path.join(net.root, this.id, 'data');
    fs.mkdirSync(this.volume, { recursive: true });
  }

  get output(): string {
    return this.#output;
  }

  /** This machine's node API and proxy, as other machines (and the test) reach them. */
  url(port: number): string {
    return `http://${this.address}:${port}`;
  }

  /**
   * Starts `litefleet run -c <config> [args]` in `cwd` with Fly's environment and `env`; resolves
   * once the node API answers.
   */
  async start(o: { config: string; args: string[]; cwd: string; env: NodeJS.ProcessEnv }): Promise<void> {
    if (!this.#proc) this.net.wire(this);
    const hosts = path.join(this.net.root, this.id, 'hosts');
    fs.writeFileSync(hosts, this.net.hosts());
    fs.mkdirSync('/data', { recursive: true });
    const env = { ...process.env, FLY_APP_NAME: this.net.app, FLY_MACHINE_ID: this.id, FLY_REGION: this.region, HOSTNAME: this.id, ...o.env };
    const script = 'mount --bind "$1" /etc/hosts && mount --bind "$2" /data && shift 2 && exec "$@"';
    const proc = spawn('ip', ['netns', 'exec', this.netns, 'unshare', '--mount', '--propagation', 'private', 'sh', '-c', script, 'sh', hosts, this.volume, process.execPath, CLI, 'run', '-c', o.config, ...o.args], {
      cwd: o.cwd,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.#proc = proc;
    proc.stdout!.on('data', (d: Buffer) => (this.#output += d.toString()));
    proc.stderr!.on('data', (d: Buffer) => (this.#output += d.toString()));
    const state = await waitFor(async () => (proc.exitCode !== null ? 'exited' : (await this.role()) && 'started'), 30_000, () => `machine ${this.id} to start:\n${this.#output}`, 100);
    if (state === 'exited') throw new Error(`machine ${this.id} exited with ${proc.exitCode}:\n${this.#output}`);
  }

  /** The node's role from its health endpoint, or undefined when it does not answer. */
  async role(): Promise<'primary' | 'replica' | undefined> {
    try {
      const res = await fetch(`${this.url(20202)}/health`, { signal: AbortSignal.timeout(1_000) });
      return ((await res.json()) as { role: 'primary' | 'replica' }).role;
    } catch {
      return undefined;
    }
  }

  /**
   * Sends `signal` to the node as Fly sends its kill_signal, and waits for it to exit; SIGKILL
   * (and a node not gone within 30 s) ends every process of the machine, as a crash of its VM does.
   */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    const proc = this.#proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return proc?.exitCode ?? null;
    // 'close': the machine's log is read to its end (every process of the machine is gone by then).
    const exited = new Promise<number | null>((resolve) => proc.once('close', (code) => resolve(code)));
    const crash = () => {
      for (const pid of execFileSync('ip', ['netns', 'pids', this.netns], { encoding: 'utf8' }).split('\n').filter(Boolean)) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          // already gone
        }
      }
    };
    if (signal === 'SIGKILL') crash();
    else process.kill(proc.pid!, signal);
    const timer = setTimeout(crash, 30_000);
    const code = await exited;
    clearTimeout(timer);
    return code;
  }
}

function ip(...args: Array<string | { ignoreFailure: boolean }>): void {
  const opts = typeof args[args.length - 1] === 'object' ? (args.pop() as { ignoreFailure: boolean }) : { ignoreFailure: false };
  try {
    execFileSync('ip', args as string[], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    if (!opts.ignoreFailure) throw new Error(`ip ${args.join(' ')} failed: ${(err as { stderr?: Buffer }).stderr?.toString() ?? (err as Error).message}`);
  }
}
