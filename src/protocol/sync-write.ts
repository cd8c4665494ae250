import { InvalidRequestError } from '../errors.ts';

/** A write acknowledged only once replicas have it: `POST /db/<name>/exec?replicas=N&timeout=ms`. */
export interface SyncWrite {
  /** How many replicas must have applied the write's TXID. */
  replicas: number;
  /** How long to wait for them before answering 504 (the write stays committed on the primary). */
  timeoutMs: number;
}

export const SYNC_TIMEOUT_MS = 5_000;
// More replicas than any cluster has is a typo; a minute is longer than any client waits for an answer.
const MAX_REPLICAS = 100;
const MAX_TIMEOUT_MS = 60_000;

/** The sync write a query asks for (undefined without `replicas`); InvalidRequestError when a value is malformed or out of range. */
export function parseSyncWrite(query: URLSearchParams): SyncWrite | undefined {
  const replicas = query.get('replicas');
  const timeout = query.get('timeout');
  if (replicas === null) {
    if (timeout !== null) throw new InvalidRequestError('timeout is how long to wait for ?replicas=N; it means nothing without it');
    return undefined;
  }
  return { replicas: integerIn(replicas, 'replicas', 1, MAX_REPLICAS), timeoutMs: timeout === null ? SYNC_TIMEOUT_MS : integerIn(timeout, 'timeout', 1, MAX_TIMEOUT_MS) };
}

/** The query asking for a sync write (`?replicas=N&timeout=ms`, '' without replicas), the values passed as given: the node checks them. */
export function syncWriteQuery(replicas: string | number | undefined, timeout?: string | number): string {
  if (replicas === undefined && timeout === undefined) return '';
  const q = new URLSearchParams();
  if (replicas !== undefined) q.set('replicas', String(replicas));
  if (timeout !== undefined) q.set('timeout', String(timeout));
  return `?${q}`;
}

function integerIn(text: string, name: string, min: number, max: number): number {
  const n = /^\d{1,9}$/.test(text) ? Number(text) : NaN;
  if (!(n >= min && n <= max)) throw new InvalidRequestError(`${name} must be a whole number from ${min} to ${max}${name === 'timeout' ? ' (milliseconds)' : ''}, not ${JSON.stringify(text.slice(0, 40))}`);
  return n;
}
