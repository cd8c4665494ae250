import { formatHex64 } from '../ltx/checksum.ts';
import { formatPos } from '../ltx/position.ts';
import type { ClusterNode, DatabaseStatus, NodeInfo } from '../protocol/api-types.ts';
import type { Store } from '../store/store.ts';
import type { Roles } from './roles.ts';

/** What GET /info shows of a node, gathered from its parts. */
export interface StatusSource {
  node: NodeInfo['node'];
  /** Where the other nodes reach this one. */
  url: string;
  candidate: boolean;
  store: Store;
  roles: Roles;
  token: string;
}

/** Every database's position and geometry; on the primary also how far the backup and each replica have got. */
export function databaseStatus(store: Store, roles: Roles): DatabaseStatus[] {
  const backup = roles.backup;
  const replicas = roles.streamServer?.replicas ?? [];
  return store.databases().map((d): DatabaseStatus => {
    const shipped = backup?.shipped(d.name);
    const acked = replicas.filter((r) => r.databases[d.name]).map((r) => [r.nodeId, r.databases[d.name]!.txid] as const);
    const problem = store.dbs.get(d.name)?.problem;
    return {
      ...d,
      checksum: formatHex64(d.checksum),
      ...(shipped ? { backup: formatPos(shipped) } : {}),
      ...(roles.streamServer ? { replicas: Object.fromEntries(acked) } : {}),
      ...(problem ? { problem } : {}),
    };
  });
}

/** How far behind the primary this node is for `name` (zeros on the primary). */
export function lagOf(roles: Roles, name: string): { lagTxids: number; lagMs: number } {
  const lag = roles.replica?.lag(name);
  return lag ? { lagTxids: lag.txids, lagMs: lag.ms } : { lagTxids: 0, lagMs: 0 };
}

/** What GET /info answers: this node, its databases and the nodes it knows (a replica asks its primary for them). */
export async function nodeInfo(s: StatusSource): Promise<NodeInfo> {
  // A database in `dir` the primary cannot capture is listed too, at TXID 0 with its problem.
  const failed = [...s.store.failed.values()].map((f): DatabaseStatus => ({ name: f.name, txid: 0, checksum: formatHex64(0n), pageSize: 0, pages: 0, problem: f.problem }));
  const databases = [...databaseStatus(s.store, s.roles), ...failed].sort((a, b) => a.name.localeCompare(b.name));
  const self: ClusterNode = {
    id: s.node.id,
    role: s.node.role,
    url: s.url,
    candidate: s.candidate,
    connectedSince: s.roles.replica?.connectedAt ?? null,
    databases: databases.map((d) => ({ name: d.name, txid: d.txid, ...lagOf(s.roles, d.name) })),
  };
  return { node: s.node, databases, nodes: await clusterNodes(s, self, databases) };
}

async function clusterNodes(s: StatusSource, self: ClusterNode, databases: DatabaseStatus[]): Promise<ClusterNode[]> {
  const server = s.roles.streamServer;
  if (server) {
    const txids = new Map(databases.map((d) => [d.name, d.txid]));
    const replicas = server.replicas.map((r): ClusterNode => ({
      id: r.nodeId,
      role: 'replica',
      url: r.url ?? null,
      candidate: r.candidate,
      connectedSince: r.connectedAt,
      databases: Object.entries(r.databases).map(([name, d]) => ({ name, txid: d.txid, lagTxids: Math.max(0, (txids.get(name) ?? 0) - d.txid), lagMs: d.lagMs })),
    }));
    return [self, ...replicas];
  }
  const url = s.roles.replica?.primaryUrl;
  if (!url) return [self];
  const theirs = await infoOf(url, s.token).catch(() => undefined);
  return theirs ? theirs.nodes.map((n) => (n.id === self.id ? self : n)) : [self];
}

/** Another node's GET /info (undefined when it answers with an error; a network error throws). */
export async function infoOf(url: string, token: string): Promise<NodeInfo | undefined> {
  const res = await fetch(`${url.replace(/\/$/, '')}/info`, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(2_000) });
  return res.ok ? ((await res.json()) as NodeInfo) : undefined;
}
