import { NotPrimaryError, TimeoutError } from '../errors.ts';

/** A write waiting until enough replicas have applied its TXID. */
interface Waiter {
  db: string;
  txid: number;
  n: number;
  resolve: (nodes: string[]) => void;
  reject: (err: Error) => void;
}

/**
 * What each replica of this primary has applied, database by database (from their reports, see
 * StreamServer.reportStatus), and the writes waiting for enough of them (`?replicas=N`, the
 * proxy's `sync-replicas`). A replica's TXID only moves forward here: what it applied of this
 * primary's history stays on its disk while it reconnects.
 *
 * ```ts
 * const nodes = await acks.waitFor('app.db', 42, 1, 5_000); // ['0123456789ABCDEF']
 * ```
 */
export class ReplicaAcks {
  /** By database, by node id: the TXID applied. */
  readonly #applied = new Map<string, Map<string, number>>();
  readonly #waiters = new Set<Waiter>();
  readonly #onAck: ((node: string, db: string, txid: number) => void) | undefined;
  readonly #streaming: () => number;

  /** `onAck` hears of each TXID a replica newly applied; `streaming` counts the replicas connected now (for timeout messages). */
  constructor(o: { onAck?: (node: string, db: string, txid: number) => void; streaming: () => number }) {
    this.#onAck = o.onAck;
    this.#streaming = o.streaming;
  }

  /** Records that `node` has applied `db` up to `txid`, and resolves the writes that now have enough replicas. */
  ack(node: string, db: string, txid: number): void {
    let nodes = this.#applied.get(db);
    if (!nodes) this.#applied.set(db, (nodes = new Map()));
    if (txid <= (nodes.get(node) ?? 0)) return;
    nodes.set(node, txid);
    this.#onAck?.(node, db, txid);
    for (const w of this.#waiters) {
      if (w.db !== db || txid < w.txid) continue;
      const holders = this.#holders(db, w.txid);
      if (holders.length >= w.n) w.resolve(holders);
    }
  }

  /** Every replica's applied TXID, as [node, db, txid]. */
  entries(): Array<[string, string, number]> {
    return [...this.#applied].flatMap(([db, nodes]) => [...nodes].map(([node, txid]): [string, string, number] => [node, db, txid]));
  }

  /** The replicas that have applied `txid` (or more) of `db`. */
  #holders(db: string, txid: number): string[] {
    return [...(this.#applied.get(db) ?? [])].filter(([, t]) => t >= txid).map(([node]) => node);
  }

  /**
   * Resolves with the replicas holding `txid` of `db` once `n` of them do; rejects with a
   * TimeoutError after `timeoutMs` saying how many did (the transaction stays committed here).
   */
  waitFor(db: string, txid: number, n: number, timeoutMs: number): Promise<string[]> {
    const now = this.#holders(db, txid);
    if (now.length >= n) return Promise.resolve(now);
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        this.#waiters.delete(w);
      };
      const w: Waiter = {
        db,
        txid,
        n,
        resolve: (nodes) => {
          done();
          resolve(nodes);
        },
        reject: (err) => {
          done();
          reject(err);
        },
      };
      const timer = setTimeout(() => w.reject(new TimeoutError(`${this.#progressOf(w)} within ${timeoutMs} ms; ${plural(this.#streaming(), 'replica is', 'replicas are')} streaming from the primary`)), timeoutMs);
      this.#waiters.add(w);
    });
  }

  /** Fails every waiting write: this node is no longer the primary (or is stopping). */
  close(): void {
    for (const w of this.#waiters) w.reject(new NotPrimaryError(`${this.#progressOf(w)} before this node stopped being the primary; the write may be lost in the failover`));
  }

  /** What a waiting write has got so far, for its error. */
  #progressOf(w: Waiter): string {
    const holders = this.#holders(w.db, w.txid);
    return `TXID ${w.txid} of ${w.db} is committed on the primary, but only ${holders.length} of the ${plural(w.n, 'replica', 'replicas')} asked for confirmed it${holders.length ? ` (${holders.join(', ')})` : ''}`;
  }
}

function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}
