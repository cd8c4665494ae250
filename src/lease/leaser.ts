import { LitefleetError } from '../errors.ts';

/** Who the primary is, as the lease records it (JSON in etcd and Consul, as LiteFS stores it). */
export interface PrimaryInfo {
  hostname: string;
  advertiseUrl: string;
  /** The primary's node id (absent for a static lease). */
  nodeId?: string;
  /** Set while the primary hands the lease to this node: only it may take the lease. */
  handoffTo?: string;
}

/** A held lease: this node is primary while it is renewed. */
export interface Lease {
  /** When the last successful renewal was sent: the lease is sure to be held until renewedAt + ttl. */
  readonly renewedAt: number;
  /** How long a renewal keeps the lease, in ms (Infinity for a static lease). */
  readonly ttl: number;
  /**
   * Grows with every acquisition of the lease across the cluster (etcd's revision, Consul's
   * modify index; 1 for the static lease): of two histories that differ, the one written under the
   * higher term is the newer.
   */
  readonly term: number;
  /** Extends the lease; throws LeaseExpiredError if it was lost. */
  renew(): Promise<void>;
  /**
   * Marks the lease as handed to node `to` (or back to nobody with undefined): while marked,
   * only that node may take it, and this node keeps renewing it until it does.
   */
  handoff(to: string | undefined): Promise<void>;
  /** Gives the lease up so another candidate can take it at once (a no-op once it was taken over). */
  close(): Promise<void>;
}

/** A way to elect the primary: static, etcd or Consul. */
export interface Leaser {
  /** This node as the lease names it when it leads (its hostname and API URL); with the static lease, the primary's. */
  readonly self: PrimaryInfo;
  /** Whether this node may ever become primary. */
  readonly candidate: boolean;
  /** Whether a held lease can be handed to another node (not the static one). */
  readonly canHandOff: boolean;
  /**
   * Where the other nodes reach this node's API, given the port it listens on: its advertise-url,
   * or loopback for a static replica (whose config names the primary's URL, not its own).
   */
  selfUrl(port: number): string;
  /**
   * Tries to become primary: succeeds when no node holds the lease, or when its holder marked it
   * as handed to this node. Throws PrimaryExistsError otherwise, and also, given `since` (an
   * epoch() read earlier), when any node took the lease after that read, even one that has let it
   * go again: its writes may be missing from what this node gathered meanwhile.
   */
  acquire(since?: number): Promise<Lease>;
  /**
   * A number that changes every time a node takes the lease (0 before any has), kept apart from
   * the lease so it outlives a lease that was released or ran out.
   */
  epoch(): Promise<number>;
  /** The current primary, or undefined when there is none. */
  primaryInfo(): Promise<PrimaryInfo | undefined>;
  /** Releases resources (not the lease itself; see Lease.close). */
  close(): Promise<void>;
}

/** Another node holds the lease. */
export class PrimaryExistsError extends LitefleetError {
  constructor(message = 'another node holds the primary lease') {
    super('EPRIMARYEXISTS', message);
  }
}

/** The lease ran out before it was renewed. */
export class LeaseExpiredError extends LitefleetError {
  constructor(message = 'the primary lease expired') {
    super('ELEASEEXPIRED', message);
  }
}

/** Parses a lease value; undefined for anything that is not one (a foreign or damaged key). */
export function parsePrimaryInfo(text: string | null | undefined): PrimaryInfo | undefined {
  if (!text) return undefined;
  try {
    const v = JSON.parse(text) as Record<string, unknown>;
    if (typeof v.hostname !== 'string' || typeof v['advertise-url'] !== 'string') return undefined;
    return {
      hostname: v.hostname,
      advertiseUrl: v['advertise-url'],
      ...(typeof v['node-id'] === 'string' ? { nodeId: v['node-id'] } : {}),
      ...(typeof v['handoff-to'] === 'string' ? { handoffTo: v['handoff-to'] } : {}),
    };
  } catch {
    return undefined;
  }
}

/** The lease value: LiteFS's `{"hostname", "advertise-url"}` plus our node id and handoff mark. */
export function formatPrimaryInfo(p: PrimaryInfo): string {
  return JSON.stringify({
    hostname: p.hostname,
    'advertise-url': p.advertiseUrl,
    ...(p.nodeId ? { 'node-id': p.nodeId } : {}),
    ...(p.handoffTo ? { 'handoff-to': p.handoffTo } : {}),
  });
}

/** Rejects with a clear error when `promise` takes longer than `ms` (backends can hang on a dead server). */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new LitefleetError('ELEASETIMEOUT', `${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
