import { LitefleetError } from '../errors.ts';

/** Who the primary is, as the lease records it. */
export interface PrimaryInfo {
  hostname: string;
  advertiseUrl: string;
}

/** A held lease: this node is primary while it is renewed. */
export interface Lease {
  /** When the lease was last confirmed. */
  readonly renewedAt: Date;
  /** How long a renewal keeps the lease, in ms (Infinity for a static lease). */
  readonly ttl: number;
  /** Extends the lease; throws LeaseExpiredError if it was lost. */
  renew(): Promise<void>;
  /** Gives the lease up so another candidate can take it at once. */
  close(): Promise<void>;
}

/** A way to elect the primary: static, etcd or Consul. */
export interface Leaser {
  /** The URL other nodes reach this node's API at. */
  readonly advertiseUrl: string;
  /** Whether this node may ever become primary. */
  readonly candidate: boolean;
  /** Tries to become primary; throws PrimaryExistsError when another node holds the lease. */
  acquire(): Promise<Lease>;
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
