import type { Etcd3, Lease as EtcdLeaseHandle } from 'etcd3';
import { formatPrimaryInfo, LeaseExpiredError, parsePrimaryInfo, PrimaryExistsError, withTimeout, type Lease, type Leaser, type PrimaryInfo } from './leaser.ts';

/** Settings of the etcd lease (`lease.etcd` plus this node's identity). */
export interface EtcdLeaserOptions {
  endpoints: string[];
  key: string;
  ttlMs: number;
  self: PrimaryInfo;
  candidate: boolean;
}

// A call to a dead or partitioned etcd must not outlive the lease it is meant to keep.
const CALL_TIMEOUT_MS = 2_000;

/** The etcd3 module and a client made with it. */
interface Etcd {
  etcd3: typeof import('etcd3');
  client: Etcd3;
}

/**
 * The primary lease in etcd: the key holds the primary's info and is attached to an etcd lease of
 * `ttl` seconds, so it disappears when the primary stops renewing. Taking it is a transaction
 * ("create if absent", or "replace if it is still the value handed to me"), so two candidates can
 * never both win. The same transaction writes `<key>.epoch` (no lease: it stays), whose revision
 * is the epoch.
 */
export class EtcdLeaser implements Leaser {
  readonly self: PrimaryInfo;
  readonly candidate: boolean;
  readonly canHandOff = true;
  readonly #o: EtcdLeaserOptions;
  readonly #epochKey: string;
  #etcd: Promise<Etcd> | undefined;

  constructor(o: EtcdLeaserOptions) {
    this.#o = o;
    this.#epochKey = `${o.key}.epoch`;
    this.self = o.self;
    this.candidate = o.candidate;
  }

  /**
   * The client, imported by the first call: etcd3 and the gRPC and protobuf code under it take
   * about 0.3 s and 30 MB to load, which only a node configured for etcd should pay
   * (createLeaser imports this class for every config).
   */
  #connect(): Promise<Etcd> {
    this.#etcd ??= Promise.all([import('etcd3'), import('cockatiel')]).then(([etcd3, { noop }]) => ({
      etcd3,
      // No retries or circuit breaker inside the client: the election loop retries every round, and
      // a breaker left open after etcd restarts would keep a candidate from ever taking the lease.
      client: new etcd3.Etcd3({ hosts: this.#o.endpoints, dialTimeout: CALL_TIMEOUT_MS, faultHandling: { host: () => noop, global: noop } }),
    }));
    return this.#etcd;
  }

  async acquire(since?: number): Promise<Lease> {
    const etcd = await this.#connect();
    const c = etcd.client;
    const key = this.#o.key;
    const current = await withTimeout(c.get(key).string(), CALL_TIMEOUT_MS, 'reading the etcd lease key');
    const holder = parsePrimaryInfo(current);
    if (current !== null && holder?.handoffTo !== this.#o.self.nodeId) {
      throw new PrimaryExistsError(`${holder?.hostname ?? 'another node'} holds the primary lease`);
    }
    const handle = c.lease(Math.max(1, Math.ceil(this.#o.ttlMs / 1000)), { autoKeepAlive: false });
    const sentAt = Date.now();
    const id = await withTimeout(handle.grant(), CALL_TIMEOUT_MS, 'granting an etcd lease');
    const value = formatPrimaryInfo(this.#o.self);
    const txn = current === null ? c.if(key, 'Create', '==', 0) : c.if(key, 'Value', '==', current);
    // A key that does not exist compares as revision 0, the epoch before any node led.
    if (since !== undefined) txn.and(this.#epochKey, 'Mod', '==', since);
    const res = await withTimeout(txn.then(c.put(key).value(value).lease(id), c.put(this.#epochKey).value(this.#o.self.nodeId ?? '')).commit(), CALL_TIMEOUT_MS, 'taking the etcd lease key');
    if (!res.succeeded) {
      await handle.revoke().catch(() => {});
      throw new PrimaryExistsError(since === undefined ? 'another node took the primary lease first' : 'another node took the primary lease first, or took it since this election round began');
    }
    return new EtcdLease(etcd, handle, key, this.#o.self, this.#o.ttlMs, sentAt, Number(res.header.revision));
  }

  selfUrl(): string {
    return this.self.advertiseUrl;
  }

  async epoch(): Promise<number> {
    const { client } = await this.#connect();
    const res = await withTimeout(client.get(this.#epochKey).exec(), CALL_TIMEOUT_MS, 'reading the etcd epoch key');
    return Number(res.kvs[0]?.mod_revision ?? 0);
  }

  async primaryInfo(): Promise<PrimaryInfo | undefined> {
    const { client } = await this.#connect();
    return parsePrimaryInfo(await withTimeout(client.get(this.#o.key).string(), CALL_TIMEOUT_MS, 'reading the etcd lease key'));
  }

  async close(): Promise<void> {
    if (this.#etcd) (await this.#etcd).client.close();
  }
}

class EtcdLease implements Lease {
  renewedAt: number;
  readonly ttl: number;
  readonly term: number;
  readonly #etcd: Etcd;
  readonly #handle: EtcdLeaseHandle;
  readonly #key: string;
  readonly #self: PrimaryInfo;
  #value: string;

  constructor(etcd: Etcd, handle: EtcdLeaseHandle, key: string, self: PrimaryInfo, ttl: number, renewedAt: number, term: number) {
    this.term = term;
    this.#etcd = etcd;
    this.#handle = handle;
    this.#key = key;
    this.#self = self;
    this.#value = formatPrimaryInfo(self);
    this.ttl = ttl;
    this.renewedAt = renewedAt;
  }

  async renew(): Promise<void> {
    const sentAt = Date.now();
    const res = await withTimeout(this.#handle.keepaliveOnce(), CALL_TIMEOUT_MS, 'renewing the etcd lease').catch((err: unknown) => {
      throw err instanceof this.#etcd.etcd3.EtcdLeaseInvalidError ? new LeaseExpiredError('the etcd lease expired before it was renewed') : err;
    });
    if (Number(res.TTL) <= 0) throw new LeaseExpiredError('the etcd lease expired before it was renewed');
    this.renewedAt = sentAt;
  }

  async handoff(to: string | undefined): Promise<void> {
    const c = this.#etcd.client;
    const next = formatPrimaryInfo({ ...this.#self, ...(to ? { handoffTo: to } : {}) });
    const id = await this.#handle.grant();
    const res = await withTimeout(
      c.if(this.#key, 'Value', '==', this.#value).then(c.put(this.#key).value(next).lease(id)).commit(),
      CALL_TIMEOUT_MS,
      'marking the etcd lease for handoff',
    );
    if (!res.succeeded) throw new LeaseExpiredError('the etcd lease key no longer names this node');
    this.#value = next;
  }

  async close(): Promise<void> {
    // Revoking deletes the key only while it is still attached to this lease, so a lease another
    // node took over is left alone.
    await withTimeout(this.#handle.revoke(), CALL_TIMEOUT_MS, 'revoking the etcd lease').catch(() => {});
  }
}
