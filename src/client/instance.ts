import type { NodeInfo } from '../protocol/api-types.ts';
import { waitForNodeReplicas, waitForNodeTxid } from '../protocol/events.ts';

/** Where the node is and its token (defaults from LITEFLEET_URL and LITEFLEET_TOKEN). */
export interface NodeOptions {
  url?: string;
  token?: string;
}

/** Who this instance is and who the primary is. */
export interface InstanceInfo {
  currentInstance: string;
  primaryInstance: string | null;
  currentIsPrimary: boolean;
}

/** Thrown by ensurePrimary on a replica: the request must be replayed on the primary. */
export class PrimaryRequiredError extends Error {
  readonly status = 409;
  readonly primaryInstance: string | null;
  /** What Fly's edge (and litefleet's proxy) turn into a replay of the request on the primary. */
  readonly headers: Record<string, string>;

  constructor(primaryInstance: string | null) {
    super(primaryInstance ? `this instance is a replica; replay on the primary ${primaryInstance}` : 'this instance is a replica and no primary is known');
    this.primaryInstance = primaryInstance;
    this.headers = primaryInstance ? { 'fly-replay': `instance=${primaryInstance}` } : {};
  }
}

export function nodeOptions(o: NodeOptions = {}): { url: string; token: string } {
  const url = (o.url ?? process.env.LITEFLEET_URL ?? 'http://127.0.0.1:20202').replace(/\/$/, '');
  const token = o.token ?? process.env.LITEFLEET_TOKEN;
  if (!token) throw new Error('litefleet/client needs the cluster token: set LITEFLEET_TOKEN or pass { token }');
  return { url, token };
}

/** The node's GET /info. */
async function nodeInfo(url: string, token: string): Promise<NodeInfo> {
  const res = await fetch(`${url}/info`, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(5_000) });
  if (!res.ok) throw new Error(`the litefleet node at ${url} answered ${res.status}${res.status === 401 ? ' (wrong or missing token)' : ''}`);
  return (await res.json()) as NodeInfo;
}

/** This instance's name, the primary's, and whether they are the same (from the local node). */
export async function getInstanceInfo(o: NodeOptions = {}): Promise<InstanceInfo> {
  const { url, token } = nodeOptions(o);
  const { node } = await nodeInfo(url, token);
  const currentIsPrimary = node.role === 'primary';
  return { currentInstance: node.hostname, primaryInstance: currentIsPrimary ? node.hostname : node.primary, currentIsPrimary };
}

/** Throws PrimaryRequiredError unless this instance is the primary (call it before writing in a GET handler). */
export async function ensurePrimary(o: NodeOptions = {}): Promise<void> {
  const info = await getInstanceInfo(o);
  if (!info.currentIsPrimary) throw new PrimaryRequiredError(info.primaryInstance);
}

/** Resolves once this node has `txid` of `db` (driven by the node's events, not by polling). */
export async function waitForTxid(db: string, txid: number, o: NodeOptions & { timeout?: number } = {}): Promise<void> {
  const { url, token } = nodeOptions(o);
  await waitForNodeTxid(url, token, db, txid, o.timeout ?? 5_000);
}

/**
 * Resolves with the ids of the replicas that have applied `txid` of `db` once `n` of them have:
 * from then on the write survives a crash of the primary. Rejects after `timeout` ms (default
 * 5000), the write still committed on the primary. Asks the local node where the primary is and
 * follows the primary's events, so it works on any instance. The TXID comes from an exec's
 * answer or a `__txid` cookie; writes through the proxy can wait by themselves (`sync-replicas`).
 *
 * ```ts
 * const replicas = await waitForReplicas('sqlite.db', txid, 1, { timeout: 2000 }); // ['6A3F…']
 * ```
 */
export async function waitForReplicas(db: string, txid: number, n: number, o: NodeOptions & { timeout?: number } = {}): Promise<string[]> {
  const { url, token } = nodeOptions(o);
  const info = await nodeInfo(url, token);
  const primary = info.node.role === 'primary' ? url : info.nodes.find((x) => x.role === 'primary')?.url;
  if (!primary) throw new Error(`the litefleet node at ${url} knows no primary right now; try again in a moment`);
  return waitForNodeReplicas(primary, token, db, txid, n, o.timeout ?? 5_000);
}
