import { BusyError } from '../errors.ts';

/** True for SQLite's "another connection holds the lock" errors (SQLITE_BUSY, SQLITE_LOCKED and their extended codes). */
export function isBusy(err: unknown): boolean {
  const code = (err as { code?: string }).code ?? '';
  return code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED');
}

/** Runs fn until it does not fail with SQLITE_BUSY/LOCKED, for at most timeoutMs. */
export function retryBusy<T>(timeoutMs: number, fn: () => T): T {
  const start = performance.now();
  for (;;) {
    try {
      return fn();
    } catch (err) {
      const waited = performance.now() - start;
      if (!isBusy(err) || waited > timeoutMs) throw err;
      // Spin briefly (locks here are held for microseconds), then back off so a long wait does not burn a core.
      if (waited > 2) sleepSync(1);
    }
  }
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/** Blocks the thread for `ms` milliseconds. */
export function sleepSync(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}

/**
 * Runs fn until it does not fail with SQLITE_BUSY/LOCKED, for at most timeoutMs, waiting between
 * tries with timers: a request that waits for an app's write transaction to end must not hold the
 * event loop (the lease renewal, /health and the replication stream run on it). `busy` says which
 * failures are worth another try (SQLite's busy errors by default). Throws BusyError once the time
 * is up.
 */
export async function retryBusyAsync<T>(timeoutMs: number, what: string, fn: () => T, busy: (err: unknown) => boolean = isBusy): Promise<T> {
  const start = performance.now();
  for (let wait = 1; ; wait = Math.min(wait * 2, 50)) {
    try {
      return fn();
    } catch (err) {
      if (!busy(err)) throw err;
      if (performance.now() - start > timeoutMs) throw new BusyError(`${what}: the database stayed locked by another connection's write for ${timeoutMs} ms; try again`);
    }
    await new Promise((resolve) => setTimeout(resolve, wait));
  }
}
