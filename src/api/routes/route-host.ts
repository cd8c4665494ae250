import type { EventEmitter } from 'node:events';
import type { Config } from '../../config/schema.ts';
import type { PrimaryInfo } from '../../lease/leaser.ts';
import type { DatabaseStatus, NodeInfo, Role } from '../../protocol/api-types.ts';
import type { Store } from '../../store/store.ts';
import type { StreamServer } from '../../stream/stream-server.ts';
import type { ApiResponse } from '../api-server.ts';

/** How long a request a replica sends on to the primary may take by default (it may wait for a handoff, which has its own timeouts). */
export const FORWARD_TIMEOUT_MS = 30_000;

/** What the node API's routes need of the node (LitefleetNode is one); it emits `event` with each NodeEvent. */
export interface RouteHost extends EventEmitter {
  readonly config: Config;
  readonly role: Role;
  readonly store: Store;
  readonly nodeId: bigint;
  /** On the primary: the stream server replicas connect to. */
  readonly streamServer: StreamServer | undefined;
  info(): Promise<NodeInfo>;
  databases(): DatabaseStatus[];
  primaryInfo(): Promise<PrimaryInfo | undefined>;
  /** Sends a request a replica cannot serve to the primary (`pathname` may carry a query); its answer comes back as is. */
  callPrimary(pathname: string, body: unknown, timeoutMs?: number): Promise<ApiResponse>;
  /** On the primary: resolves with the replicas that applied `txid` of `db` once `n` have (see ReplicaAcks.waitFor). */
  waitForReplicas(db: string, txid: number, n: number, timeoutMs: number): Promise<string[]>;
  /** On the primary: hands the lease to `to` (or the best candidate); the new primary's id. */
  handoff(to?: string): Promise<string>;
}
