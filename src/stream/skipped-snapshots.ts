import { LitefleetError } from '../errors.ts';

// A database whose snapshot a stream could not read is tried again after this, then twice as long
// each time up to MAX_RETRY_MS.
const FIRST_RETRY_MS = 500;
const MAX_RETRY_MS = 30_000;

/** A snapshot a replica needs that could not be read now (an app's long write, no descriptors left…). */
export class SnapshotUnavailable extends LitefleetError {
  constructor(db: string, cause: Error) {
    super('ESNAPSHOTUNAVAILABLE', `cannot read a snapshot of ${db} for the replica: ${cause.message}`, { cause });
  }
}

/**
 * The databases one replica's stream skipped because their snapshot could not be read: the
 * others keep streaming, and each is tried again with backoff (`retry` marks it for the stream's
 * next pass) instead of the connection being dropped for all of them.
 */
export class SkippedSnapshots {
  readonly #retry: (name: string) => void;
  /** Per skipped database: failed tries in a row, and whether its retry is still to come. */
  readonly #skipped = new Map<string, { attempts: number; waiting: boolean; timer: NodeJS.Timeout }>();

  constructor(retry: (name: string) => void) {
    this.#retry = retry;
  }

  /** False while `name` waits for its next try. */
  due(name: string): boolean {
    return !this.#skipped.get(name)?.waiting;
  }

  /** Skips `name` for now; returns how many tries failed in a row and when the next is. */
  skip(name: string): { attempts: number; retryInMs: number } {
    const before = this.#skipped.get(name);
    if (before) clearTimeout(before.timer);
    const attempts = (before?.attempts ?? 0) + 1;
    const retryInMs = Math.min(FIRST_RETRY_MS * 2 ** (attempts - 1), MAX_RETRY_MS);
    // The timer, not a clock compared later, says when it is due: it cannot fire a little early and be ignored.
    const entry = { attempts, waiting: true, timer: setTimeout(() => {
      entry.waiting = false;
      this.#retry(name);
    }, retryInMs) };
    this.#skipped.set(name, entry);
    return { attempts, retryInMs };
  }

  /** `name` was sent: forgets it; true when it had been skipped. */
  forget(name: string): boolean {
    const s = this.#skipped.get(name);
    if (s) clearTimeout(s.timer);
    return this.#skipped.delete(name);
  }

  /** The connection ended: no more tries. */
  close(): void {
    for (const s of this.#skipped.values()) clearTimeout(s.timer);
    this.#skipped.clear();
  }
}
