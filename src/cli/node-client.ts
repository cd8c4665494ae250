import type { Config } from '../config/schema.ts';
import { LitefleetError } from '../errors.ts';
import { parseAddr } from '../api/api-server.ts';

/** Calls the local node's API with the cluster token, as the CLI commands do. */
export class NodeClient {
  readonly baseUrl: string;
  readonly #token: string;

  constructor(baseUrl: string, token: string) {
    this.baseUrl = baseUrl.replace(/\/$/, '');
    this.#token = token;
  }

  /** A client for the node a config describes (token from the config or LITEFLEET_TOKEN). */
  static fromConfig(config: Config): NodeClient {
    const { host, port } = parseAddr(config.http.addr);
    const h = !host || host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
    const token = config.http.token ?? process.env.LITEFLEET_TOKEN ?? '';
    return new NodeClient(`http://${h.includes(':') ? `[${h}]` : h}:${port}`, token);
  }

  /** GETs a JSON endpoint; errors carry the node's message. */
  getJson<T>(pathname: string): Promise<T> {
    return this.#request<T>('GET', pathname);
  }

  /** POSTs JSON to an endpoint and returns the JSON answer; errors carry the node's message. */
  postJson<T>(pathname: string, body: unknown): Promise<T> {
    return this.#request<T>('POST', pathname, body);
  }

  async #request<T>(method: string, pathname: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetch(`${this.baseUrl}${pathname}`, {
        method,
        headers: { authorization: `Bearer ${this.#token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      throw new LitefleetError('ENODE', `cannot reach the litefleet node at ${this.baseUrl}: ${(err as Error).cause ?? (err as Error).message}`);
    }
    const text = await res.text();
    if (!res.ok) {
      let message = text.trim();
      try {
        message = (JSON.parse(text) as { error?: string }).error ?? message;
      } catch {
        // not JSON
      }
      throw new LitefleetError(res.status === 401 ? 'EUNAUTHORIZED' : 'ENODE', `node answered ${res.status}: ${message}`);
    }
    return JSON.parse(text) as T;
  }

  /**
   * Resolves once the node has applied `txid` (or more) of `db`, following its GET /events
   * stream rather than polling; rejects after `timeoutMs`.
   */
  async waitForTxid(db: string, txid: number, timeoutMs: number): Promise<void> {
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), timeoutMs);
    try {
      const res = await fetch(`${this.baseUrl}/events`, { headers: { authorization: `Bearer ${this.#token}` }, signal: ac.signal });
      if (!res.ok || !res.body) throw new LitefleetError('ENODE', `node answered ${res.status} to GET /events`);
      const decoder = new TextDecoder();
      let pending = '';
      for await (const chunk of res.body) {
        pending += decoder.decode(chunk as Uint8Array, { stream: true });
        const lines = pending.split('\n');
        pending = lines.pop()!;
        for (const line of lines) {
          if (!line.trim()) continue;
          const ev = JSON.parse(line) as { type: string; db?: string; txid?: number };
          if (ev.type === 'tx' && ev.db === db && (ev.txid ?? 0) >= txid) return;
        }
      }
      throw new LitefleetError('ENODE', 'the node closed its event stream');
    } catch (err) {
      if (ac.signal.aborted) throw new LitefleetError('ETIMEOUT', `${db} did not reach TXID ${txid} on ${this.baseUrl} within ${timeoutMs} ms`);
      throw err;
    } finally {
      clearTimeout(timer);
      ac.abort();
    }
  }

  /** The client for `--url` or the config's node (the options every node-facing command takes). */
  static fromOptions(config: Config, url: string | undefined): NodeClient {
    return url ? new NodeClient(url, config.http.token ?? process.env.LITEFLEET_TOKEN ?? '') : NodeClient.fromConfig(config);
  }
}
