import type { ApiResponse } from '../api/api-server.ts';
import { FORWARD_TIMEOUT_MS } from '../api/routes/route-host.ts';
import { NoPrimaryError, NotPrimaryError } from '../errors.ts';
import type { PrimaryInfo } from '../lease/leaser.ts';
import type { StreamServer } from '../stream/stream-server.ts';
import { infoOf } from './cluster-status.ts';

/** What a PrimaryLink needs of its node. */
export interface PrimaryLinkOptions {
  selfId: string;
  token: string;
  /** The primary the lease names (undefined when none is known). */
  primaryInfo: () => Promise<PrimaryInfo | undefined>;
  /** On the primary: the stream server whose replicas acknowledge what they applied. */
  streamServer: () => StreamServer | undefined;
}

/**
 * How a node deals with the primary: a request a replica cannot serve goes to the primary's API;
 * the primary's proxy URL is asked of it once per primary; on the primary itself, a write waits
 * here for the replicas that have it.
 */
export class PrimaryLink {
  readonly #o: PrimaryLinkOptions;
  /** Proxy URLs of primaries, by their API URL (asked once per primary). */
  readonly #proxyUrls = new Map<string, string | undefined>();

  constructor(o: PrimaryLinkOptions) {
    this.#o = o;
  }

  /** Sends a request to the primary; its answer comes back as is. */
  async call(pathname: string, body: unknown, timeoutMs = FORWARD_TIMEOUT_MS): Promise<ApiResponse> {
    const p = await this.#o.primaryInfo();
    if (!p || p.nodeId === this.#o.selfId) throw new NoPrimaryError('there is no primary to send this to right now');
    const res = await fetch(`${p.advertiseUrl.replace(/\/$/, '')}${pathname}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${this.#o.token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    return { status: res.status, body: await res.json().catch(() => ({ error: `primary answered ${res.status}` })) };
  }

  /** Another node's primary: its hostname and proxy URL (undefined when there is none, or it is this node). */
  async proxy(): Promise<{ hostname: string; proxyUrl: string | undefined } | undefined> {
    const p = await this.#o.primaryInfo();
    if (!p || p.nodeId === this.#o.selfId) return undefined;
    if (!this.#proxyUrls.has(p.advertiseUrl)) {
      const theirs = await infoOf(p.advertiseUrl, this.#o.token);
      if (!theirs) return { hostname: p.hostname, proxyUrl: undefined };
      this.#proxyUrls.set(p.advertiseUrl, theirs.node.proxyUrl ?? undefined);
    }
    return { hostname: p.hostname, proxyUrl: this.#proxyUrls.get(p.advertiseUrl) };
  }

  /** On the primary: resolves with the replicas that applied `txid` of `db` once `n` have. */
  waitForReplicas(db: string, txid: number, n: number, timeoutMs: number): Promise<string[]> {
    const acks = this.#o.streamServer()?.acks;
    if (!acks) return Promise.reject(new NotPrimaryError(`TXID ${txid} of ${db} was committed, but this node is no longer the primary and cannot tell which replicas have it; the write may be lost in the failover`));
    return acks.waitFor(db, txid, n, timeoutMs);
  }
}
