import fs from 'node:fs';
import path from 'node:path';
import { freePort, NodeProcess } from './node-process.ts';
import { makeTempDir } from './temp-dir.ts';
import { waitFor } from './wait.ts';

/** A primary and its replicas, each a real `litefleet run` process on loopback with the static lease. */
export interface Cluster {
  primary: NodeProcess;
  replicas: NodeProcess[];
  nodes: NodeProcess[];
}

/**
 * Starts `size` nodes under `root` (node 1 is the primary); the caller stops them. `perNode` gives
 * node i its own extra config, arguments (`-- app`) or open-file limit.
 */
export async function launchCluster(root: string, size: number, extraConfig = '', perNode: { extraConfig?: (i: number) => string; args?: (i: number) => string[]; fileLimit?: (i: number) => number | undefined } = {}): Promise<Cluster> {
  const ports = await Promise.all(Array.from({ length: size }, () => freePort()));
  const primaryUrl = `http://127.0.0.1:${ports[0]}`;
  const nodes: NodeProcess[] = [];
  try {
    for (let i = 0; i < size; i++) {
      const dir = path.join(root, `node${i + 1}`);
      fs.mkdirSync(dir, { recursive: true });
      const extra = [extraConfig, perNode.extraConfig?.(i) ?? ''].filter(Boolean).join('\n');
      nodes.push(await NodeProcess.start({ root: dir, port: ports[i], candidate: i === 0, primaryUrl, extraConfig: extra, args: perNode.args?.(i), fileLimit: perNode.fileLimit?.(i) }));
    }
    // A node answers /health before its replica stream is up. A test that writes before a replica
    // subscribes sends that replica one snapshot of those writes, not the transactions one by one.
    // The primary lists a replica in /info from the moment it takes its stream.
    const ids = await Promise.all(nodes.slice(1).map(async (n) => (await n.info()).node.id));
    await waitFor(async () => {
      const listed = new Set((await nodes[0]!.info()).nodes.map((n) => n.id));
      return ids.every((id) => listed.has(id));
    }, 20_000, 'every replica to stream from the primary');
  } catch (err) {
    // The caller never gets these nodes to stop: a test that fails here must not leave them running.
    for (const n of nodes) await n.kill();
    throw err;
  }
  return { primary: nodes[0]!, replicas: nodes.slice(1), nodes };
}

/** Starts a cluster of `size` nodes in a temporary folder; stopped when the test ends. */
export async function startCluster(size = 3, extraConfig = ''): Promise<Cluster> {
  let nodes: NodeProcess[] = [];
  const root = makeTempDir('litefleet-cluster-', async () => {
    for (const n of nodes) await n.stop();
  });
  const c = await launchCluster(root, size, extraConfig);
  nodes = c.nodes;
  return c;
}
