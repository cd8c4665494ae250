import { TimeoutError } from '../errors.ts';

/** One line of a node's GET /events stream. */
export type NodeEventLine =
  | { type: 'role'; role: 'primary' | 'replica'; primary: string | null }
  | { type: 'tx'; db: string; txid: number; checksum: string }
  | { type: 'ack'; db: string; node: string; txid: number };

/**
 * Follows a node's GET /events (newline-delimited JSON) and calls `onEvent` for each line until it
 * returns true (resolves), the stream ends or `signal` aborts (rejects).
 */
export async function followEvents(baseUrl: string, token: string, onEvent: (ev: NodeEventLine) => boolean, signal: AbortSignal): Promise<void> {
  const res = await fetch(`${baseUrl.replace(/\/$/, '')}/events`, { headers: { authorization: `Bearer ${token}` }, signal });
  if (!res.ok || !res.body) throw new Error(`node answered ${res.status} to GET /events${res.status === 401 ? ' (wrong or missing token)' : ''}`);
  const decoder = new TextDecoder();
  let pending = '';
  for await (const chunk of res.body) {
    pending += decoder.decode(chunk as Uint8Array, { stream: true });
    const lines = pending.split('\n');
    pending = lines.pop()!;
    for (const line of lines) if (line.trim() && onEvent(JSON.parse(line) as NodeEventLine)) return;
  }
  throw new Error('the node closed its event stream');
}

/** followEvents for at most `timeoutMs`: past it, rejects with a TimeoutError saying `late()`. */
async function followWithin(baseUrl: string, token: string, timeoutMs: number, onEvent: (ev: NodeEventLine) => boolean, late: () => string): Promise<void> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), timeoutMs);
  try {
    await followEvents(baseUrl, token, onEvent, ac.signal);
  } catch (err) {
    if (ac.signal.aborted) throw new TimeoutError(late());
    throw err;
  } finally {
    clearTimeout(timer);
    ac.abort();
  }
}

/** Resolves once the node has `txid` (or more) of `db`; rejects after `timeoutMs` with a clear message. */
export async function waitForNodeTxid(baseUrl: string, token: string, db: string, txid: number, timeoutMs: number): Promise<void> {
  await followWithin(baseUrl, token, timeoutMs, (ev) => ev.type === 'tx' && ev.db === db && ev.txid >= txid, () => `${db} did not reach TXID ${txid} on ${baseUrl} within ${timeoutMs} ms`);
}

/**
 * Resolves with the ids of the replicas that have applied `txid` (or more) of `db` once `n` of
 * them have, following the primary's events (which start with what each replica has applied);
 * rejects when the node is not the primary, or after `timeoutMs`.
 */
export async function waitForNodeReplicas(primaryUrl: string, token: string, db: string, txid: number, n: number, timeoutMs: number): Promise<string[]> {
  const holders = new Set<string>();
  await followWithin(
    primaryUrl,
    token,
    timeoutMs,
    (ev) => {
      if (ev.type === 'role' && ev.role !== 'primary') throw new Error(`${primaryUrl} is not the primary (any more): only the primary knows what its replicas have`);
      if (ev.type === 'ack' && ev.db === db && ev.txid >= txid) holders.add(ev.node);
      return holders.size >= n;
    },
    () => `only ${holders.size} of ${n} replicas had TXID ${txid} of ${db} within ${timeoutMs} ms${holders.size ? ` (${[...holders].join(', ')})` : ''}`,
  );
  return [...holders];
}
