import { PrimaryExistsError, type Lease, type Leaser, type PrimaryInfo } from './leaser.ts';

/**
 * The embedded default: one configured primary, no failover. On every node `hostname` and
 * `advertise-url` name the primary; the node with `candidate: true` is that primary.
 */
export class StaticLeaser implements Leaser {
  readonly advertiseUrl: string;
  readonly candidate: boolean;
  readonly dynamic = false;
  readonly #primary: PrimaryInfo;

  constructor(primary: PrimaryInfo, candidate: boolean) {
    this.#primary = primary;
    this.advertiseUrl = primary.advertiseUrl;
    this.candidate = candidate;
  }

  async acquire(): Promise<Lease> {
    if (!this.candidate) throw new PrimaryExistsError(`the static primary is ${this.#primary.hostname}`);
    return { renewedAt: Date.now(), ttl: Infinity, term: 1, renew: async () => {}, handoff: async () => {}, close: async () => {} };
  }

  async primaryInfo(): Promise<PrimaryInfo | undefined> {
    return { ...this.#primary };
  }

  async close(): Promise<void> {}
}
