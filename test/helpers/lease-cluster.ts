import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after } from 'node:test';
import { fileURLToPath } from 'node:url';
import { freePort, NodeProcess } from './node-process.ts';
import { makeTempDir } from './temp-dir.ts';
import { waitFor } from './wait.ts';

const here = path.dirname(fileURLToPath(import.meta.url));

/** Settings of a cluster elected through etcd (or Consul). */
export interface LeaseClusterOptions {
  size: number;
  /** Which nodes may be primary (default: all). */
  candidates?: boolean[];
  backend: { type: 'etcd'; url: string } | { type: 'consul'; url: string };
  /** Where node i reaches the lease backend, if not at backend.url (through a relay that can cut it off). */
  backendUrl?: (i: number) => string | undefined;
  ttl?: string;
  /** Extra `lease:` lines for node i (e.g. promote). */
  leaseExtra?: (i: number) => string[];
  extraConfig?: (i: number) => string;
  args?: (i: number) => string[];
  /** The nodes' API ports (default: free ones), e.g. to put a relay in front of one before it starts. */
  ports?: number[];
  /** The URL node i gives the others, if not its own (a relay in front of it). */
  advertiseUrl?: (i: number) => string | undefined;
  /** How many nodes to start now, in order (default: all); start the others with `start(i)`. */
  startNow?: number;
  /** Where the nodes live; when given (benchmarks) the caller also stops them. Default: a temporary folder, stopped when the test file ends. */
  root?: string;
}

/** Nodes of one cluster whose primary is chosen by a real lease. */
export interface LeaseCluster {
  nodes: NodeProcess[];
  ports: number[];
  /** Starts node i again, or for the first time when it was not started at once. */
  start(i: number): Promise<void>;
}

/** The `lease:` section body for node `i`. */
export function leaseLines(o: LeaseClusterOptions, i: number, port: number, key: string): string[] {
  const extra = o.leaseExtra?.(i) ?? [];
  const url = o.backendUrl?.(i) ?? o.backend.url;
  // A key in `leaseExtra` replaces the default below.
  const keyOf = (line: string) => line.trim().split(':')[0];
  const defaults = ['  reconnect-delay: 100ms', '  catch-up-timeout: 1s', '  demote-delay: 3s'].filter((d) => !extra.some((e) => keyOf(e) === keyOf(d)));
  return [
    `  type: ${o.backend.type}`,
    `  candidate: ${o.candidates?.[i] ?? true}`,
    `  hostname: node${i + 1}`,
    `  advertise-url: "${o.advertiseUrl?.(i) ?? `http://127.0.0.1:${port}`}"`,
    ...defaults,
    ...extra,
    o.backend.type === 'etcd' ? '  etcd:' : '  consul:',
    ...(o.backend.type === 'etcd' ? [`    endpoints: ["${url}"]`] : [`    url: "${url}"`]),
    `    key: "${key}"`,
    `    ttl: ${o.ttl ?? (o.backend.type === 'etcd' ? '2s' : '10s')}`,
  ];
}

/** Starts the nodes in order; they are stopped when the test file ends. */
export async function startLeaseCluster(o: LeaseClusterOptions): Promise<LeaseCluster> {
  const nodes: NodeProcess[] = [];
  const stopAll = async () => {
    for (const n of nodes) {
      n.signal('SIGCONT');
      await n.stop();
    }
  };
  const root = o.root ?? makeTempDir('litefleet-lease-', stopAll);
  const key = `litefleet-test/${path.basename(root)}`;
  const ports = o.ports ?? (await Promise.all(Array.from({ length: o.size }, () => freePort())));
  for (let i = 0; i < o.size; i++) {
    const dir = path.join(root, `node${i + 1}`);
    fs.mkdirSync(dir, { recursive: true });
    const n = await NodeProcess.create({ root: dir, port: ports[i], lease: leaseLines(o, i, ports[i]!, key), extraConfig: o.extraConfig?.(i), args: o.args?.(i) });
    if (i < (o.startNow ?? o.size)) await n.restart();
    nodes.push(n);
  }
  return { nodes, ports, start: (i) => nodes[i]!.restart() };
}

/** Waits until exactly one node says it is primary; returns it. */
export async function waitForPrimary(nodes: NodeProcess[], timeoutMs = 20_000, not?: NodeProcess): Promise<NodeProcess> {
  return waitFor(
    async () => {
      const roles = await Promise.all(nodes.map((n) => (n.running ? n.role() : Promise.resolve(undefined))));
      const primaries = nodes.filter((_, i) => roles[i] === 'primary' && nodes[i] !== not);
      return primaries.length === 1 && roles.filter((r) => r === 'primary').length === 1 && primaries[0];
    },
    timeoutMs,
    () => `a single primary:\n${nodes.map((n) => n.output.slice(-1500)).join('\n-----\n')}`,
  );
}

/** The file that tells the follow-writer a node is being shut down (no more writes there). */
export function drainFile(n: NodeProcess): string {
  return path.join(n.root, 'drain');
}

/** A running follow-writer (see startFollowWriter). */
export interface FollowWriter {
  proc: ChildProcess;
  /** The ids of the acknowledged writes so far. */
  acked(): number[];
  output(): string;
  /** Drains `node` (its drain file) and resolves once the writer has left it: no write goes there after. */
  drain(node: NodeProcess, timeoutMs?: number): Promise<void>;
  /** SIGTERM after the write in hand; resolves with the acknowledged ids. */
  stop(): Promise<number[]>;
}

/**
 * The follow-writer fixture: inserts into t(id) on whichever node is primary, printing each
 * acknowledged id; through its own connection, or with `replicas` through the primary's exec
 * (with ?replicas=N when N > 0).
 */
export function startFollowWriter(nodes: NodeProcess[], db: string, pauseMs = 2, replicas?: number): FollowWriter {
  const spec = JSON.stringify(nodes.map((n) => ({ db: path.join(n.dir, db), url: n.url, token: n.token, drain: drainFile(n) })));
  const args = [path.join(here, '../fixtures/follow-writer.mjs'), spec, String(pauseMs), ...(replicas === undefined ? [] : [String(replicas)])];
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  // A test that fails before stopping it must not leave it running (it would keep the run alive).
  after(() => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const acked = () => [...out.matchAll(/^ack (\d+) /gm)].map((m) => Number(m[1]));
  const left = (n: NodeProcess) => out.split('\n').filter((l) => l === `drained ${n.url}`).length;
  return {
    proc,
    acked,
    output: () => out,
    drain: async (node, timeoutMs = 10_000) => {
      const before = left(node);
      fs.writeFileSync(drainFile(node), '');
      await waitFor(() => left(node) > before, timeoutMs, () => `the writer to leave ${node.url}; it printed:\n${out.slice(-3000)}`, 5);
    },
    stop: async () => {
      // One that died on its own would never say 'exit' again: fail with what it printed instead of waiting forever.
      if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`the writer had exited (${proc.exitCode ?? proc.signalCode}); it printed:\n${out.slice(-3000)}`);
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await exited;
      return acked();
    },
  };
}
