import type { NodeInfo } from '../protocol/api-types.ts';
import type { UiHost } from './ui-host.ts';

/** How often the cluster page's view of the cluster is refreshed. */
export const INFO_INTERVAL_MS = 1_000;
// A new page starts from a view this recent instead of waiting for a fresh one.
const FRESH_MS = 2 * INFO_INTERVAL_MS;

/** The node's /info as the cluster page receives it, stamped with when it was taken. */
export type InfoSnapshot = NodeInfo & { at: number };

/**
 * The cluster as every open cluster page sees it: one /info a second however many pages are open
 * (on a replica each one asks the primary), and the latest kept a moment, so a page that opens
 * shows the cluster at once rather than after a round trip to the primary.
 */
export class ClusterFeed {
  readonly #host: UiHost;
  readonly #listeners = new Set<(s: InfoSnapshot) => void>();
  #latest: InfoSnapshot | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(host: UiHost) {
    this.#host = host;
  }

  /** Calls `fn` with the latest view (at once when it is recent) and every new one; returns what stops it. */
  subscribe(fn: (s: InfoSnapshot) => void): () => void {
    this.#listeners.add(fn);
    if (this.#latest && Date.now() - this.#latest.at < FRESH_MS) fn(this.#latest);
    else void this.#refresh();
    this.#timer ??= setInterval(() => void this.#refresh(), INFO_INTERVAL_MS);
    return () => {
      this.#listeners.delete(fn);
      if (this.#listeners.size === 0) {
        clearInterval(this.#timer);
        this.#timer = undefined;
      }
    };
  }

  async #refresh(): Promise<void> {
    try {
      this.#latest = { ...(await this.#host.info()), at: Date.now() };
    } catch {
      // The next round tries again; the pages keep the last view meanwhile.
      return;
    }
    for (const fn of this.#listeners) fn(this.#latest);
  }
}
