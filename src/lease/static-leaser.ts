import os from 'node:os';
import { HandoffUnsupportedError } from '../errors.ts';
import { PrimaryExistsError, type Lease, type Leaser, type PrimaryInfo } from './leaser.ts';

/**
 * The embedded default: one configured primary, no failover. On every node `hostname` and
 * `advertise-url` name the primary; the node with `candidate: true` is that primary, and the
 * lease names it (by its node id) so it takes it at once. It never runs out, and there is no one
 * to hand it to.
 */
export class StaticLeaser implements Leaser {
  readonly self: PrimaryInfo;
  readonly candidate: boolean;
  readonly canHandOff = false;
  readonly #primary: PrimaryInfo;

  constructor(primary: PrimaryInfo, candidate: boolean, nodeId: string) {
    this.#primary = candidate ? { ...primary, nodeId } : primary;
    this.self = candidate ? this.#primary : { hostname: os.hostname(), advertiseUrl: primary.advertiseUrl, nodeId };
    this.candidate = candidate;
  }

  selfUrl(port: number): string {
    return this.candidate ? this.#primary.advertiseUrl : `http://127.0.0.1:${port}`;
  }

  async acquire(): Promise<Lease> {
    if (!this.candidate) throw new PrimaryExistsError(`the static primary is ${this.#primary.hostname}`);
    return {
      renewedAt: Date.now(),
      ttl: Infinity,
      term: 1,
      renew: async () => {},
      handoff: async () => {
        throw new HandoffUnsupportedError();
      },
      close: async () => {},
    };
  }

  async primaryInfo(): Promise<PrimaryInfo | undefined> {
    return { ...this.#primary };
  }

  /** Only the configured primary ever takes the static lease: there is no other taker to notice. */
  async epoch(): Promise<number> {
    return 1;
  }

  async close(): Promise<void> {}
}
