import http from 'node:http';

// Reports leave at most this often: at thousands of applies a second, a report per apply cost
// the primary a quarter of its CPU (an HTTP request each) and the replica as much.
const MIN_GAP_MS = 10;

/**
 * Paces a replica's status reports to the primary: one right after an apply, yet never more than
 * one at a time nor within MIN_GAP_MS of the last. Writes waiting for replicas (`?replicas=N`)
 * wait for these reports; under load the next report carries everything applied meanwhile, so
 * their rate is bounded, not by the transactions; a write alone is reported at once.
 */
export class StatusReporter {
  readonly #send: () => Promise<void>;
  /** A report is on its way to the primary. */
  #reporting = false;
  /** Something was applied while it was: report again once it is back. */
  #again = false;
  #lastSentAt = -Infinity;
  #timer: NodeJS.Timeout | undefined;

  constructor(send: () => Promise<void>) {
    this.#send = send;
  }

  /** Reports now, or once the report on its way is back and the gap has passed. */
  report(): void {
    if (this.#timer) return;
    if (this.#reporting) {
      this.#again = true;
      return;
    }
    const wait = this.#lastSentAt + MIN_GAP_MS - performance.now();
    if (wait > 0) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.report();
      }, wait).unref();
      return;
    }
    this.#reporting = true;
    this.#lastSentAt = performance.now();
    void this.#send().finally(() => {
      this.#reporting = false;
      if (!this.#again) return;
      this.#again = false;
      this.report();
    });
  }
}

/**
 * POSTs a replica's report to the primary and waits for the answer (read to its end, so the
 * connection is kept for the next one), giving up after `timeoutMs`. Node's http client, not
 * fetch: a replica reports after every apply, hundreds of times a second under load, and a fetch
 * with AbortSignal.timeout kept all of its request alive for the whole timeout (through the
 * timer's WeakRef to the signal, which a young-generation GC treats as strong), so all of it
 * reached the old generation: a replica's heap grew to 120 MB within a minute of the soak.
 */
export function postReport(url: string, token: string, body: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`the primary did not answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.on('response', (res) => {
      res.resume();
      res.on('close', () => resolve());
    });
    req.end(body);
  });
}
