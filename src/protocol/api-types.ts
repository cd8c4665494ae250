// The shapes the node API answers and takes, shared by the node, the CLI, other nodes and
// litefleet/client: one place for what crosses the wire as JSON.

/** The role a node plays. */
export type Role = 'primary' | 'replica';

/** One node of the cluster as `litefleet status` shows it. */
export interface ClusterNode {
  id: string;
  role: Role;
  url: string | null;
  /** May take the lease (a handoff target). */
  candidate?: boolean;
  connectedSince: number | null;
  databases: Array<{ name: string; txid: number; lagTxids: number; lagMs: number }>;
}

/** One database of GET /info. */
export interface DatabaseStatus {
  name: string;
  txid: number;
  checksum: string;
  pageSize: number;
  pages: number;
  /** On the primary with a backup: the position the backup has shipped (`<txid>/<checksum>`). */
  backup?: string;
  /** On the primary: the TXID each connected replica reported having applied, by node id. */
  replicas?: Record<string, number>;
  /** What keeps this node from capturing or applying the database right now (a full disk…). */
  problem?: string;
}

/** What GET /info answers. */
export interface NodeInfo {
  node: { id: string; role: Role; hostname: string; advertiseUrl: string; primary: string | null; proxyUrl: string | null };
  databases: DatabaseStatus[];
  /** Every node of the cluster this node knows of (the primary knows its connected replicas). */
  nodes: ClusterNode[];
}

/** One line of GET /events (newline-delimited JSON). */
export type NodeEvent =
  | { type: 'role'; role: Role; primary: string | null }
  | { type: 'tx'; db: string; txid: number; checksum: string }
  | { type: 'backup'; db: string; txid: number; checksum: string }
  | { type: 'ack'; db: string; node: string; txid: number };

/** What GET /positions answers: a node's role and, per database, its position and terms record. */
export interface PositionsAnswer {
  id: string;
  role: Role;
  databases: Record<string, string>;
  /** The newest [first TXID, term] records of each database's history (see SegmentLog.terms). */
  terms?: Record<string, Array<[number, number]>>;
  /** How many databases the node has yet to open (its answer leaves them out until then). */
  starting?: number;
}

/** What a replica says when it connects (the first line of POST /stream's body). */
export interface StreamRequest {
  nodeId: string;
  /** Where its API answers, for `litefleet status`. */
  url?: string;
  /** Whether it may become primary (handoff targets are candidates). */
  candidate?: boolean;
  /** Each database's position as `<txid>/<checksum>`. */
  positions: Record<string, string>;
}

/** What a replica reports about itself (POST /replica-status). */
export interface ReplicaStatus {
  nodeId: string;
  databases: Record<string, { txid: number; lagMs: number }>;
}

/** Header naming the cluster on both the request (the replica's, if it has one) and the response of POST /stream. */
export const CLUSTER_ID_HEADER = 'litefleet-cluster-id';
/**
 * On the transactions and snapshots a node hands another (GET /db/<name>/ltx, /snapshot): its
 * log's recent terms as JSON, read with what it sends. The terms in an earlier /positions answer
 * may predate them: a candidate that kept those recorded what it fetched under an older term.
 */
export const TERMS_HEADER = 'litefleet-terms';
