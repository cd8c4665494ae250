/** One line of a node's GET /events stream. */
export type NodeEventLine = { type: 'role'; role: 'primary' | 'replica'; primary: string | null } | { type: 'tx'; db: string; txid: number; checksum: string };

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

/** Resolves once the node has `txid` (or more) of `db`; rejects after `timeoutMs` with a clear message. */
export async function waitForNodeTxid(baseUrl: string, token: string, db: string, txid: number, timeoutMs: number): Promise<void> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), timeoutMs);
  try {
    await followEvents(baseUrl, token, (ev) => ev.type === 'tx' && ev.db === db && ev.txid >= txid, ac.signal);
  } catch (err) {
    if (ac.signal.aborted) throw new Error(`${db} did not reach TXID ${txid} on ${baseUrl} within ${timeoutMs} ms`);
    throw err;
  } finally {
    clearTimeout(timer);
    ac.abort();
  }
}
