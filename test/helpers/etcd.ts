import { spawn, type ChildProcess } from 'node:child_process';
import { freePort } from './node-process.ts';
import { makeTempDir } from './temp-dir.ts';
import { waitFor } from './wait.ts';

/** A real etcd (Debian's etcd-server) on free loopback ports, with its data in a temporary folder. */
export interface EtcdServer {
  url: string;
  proc: ChildProcess;
  stop(): Promise<void>;
}

/**
 * Starts etcd and waits for /health. Without `dataDir` it lives in a temporary folder and is
 * stopped when the test file ends; with one (benchmarks) the caller stops it.
 */
export async function startEtcd(dataDir?: string): Promise<EtcdServer> {
  const [client, peer] = [await freePort(), await freePort()];
  let stop = async (): Promise<void> => {};
  const url = `http://127.0.0.1:${client}`;
  const peerUrl = `http://127.0.0.1:${peer}`;
  const proc = spawn(
    'etcd',
    [
      '--name', 'test',
      '--data-dir', dataDir ?? makeTempDir('litefleet-etcd-', () => stop()),
      '--listen-client-urls', url,
      '--advertise-client-urls', url,
      '--listen-peer-urls', peerUrl,
      '--initial-advertise-peer-urls', peerUrl,
      '--initial-cluster', `test=${peerUrl}`,
      // Short elections keep etcd's minimum lease TTL (1.5 election timeouts) under the tests' TTLs.
      '--heartbeat-interval', '50',
      '--election-timeout', '500',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  proc.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const spawned = new Promise<void>((resolve, reject) => {
    proc.once('spawn', resolve);
    proc.once('error', (err) => reject(new Error(`cannot start etcd (is Debian's etcd-server installed? .ci/run installs it): ${err.message}`)));
  });
  await spawned;
  // A fetch that fails (not listening yet) is polled again.
  const healthy = async () => {
    const res = await fetch(`${url}/health`);
    return res.ok && ((await res.json()) as { health: string }).health === 'true';
  };
  const state = await waitFor(async () => (proc.exitCode !== null ? 'exited' : (await healthy()) && 'healthy'), 20_000, () => `etcd to start:\n${output.slice(-2000)}`, 50);
  if (state === 'exited') throw new Error(`etcd exited with ${proc.exitCode}:\n${output.slice(-2000)}`);
  stop = async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGTERM');
    await exited;
  };
  return { url, proc, stop: () => stop() };
}
