import type { Config } from '../config/schema.ts';
import { LitefleetError } from '../errors.ts';
import { parseAddr } from '../api/api-server.ts';
import { errorFromAnswer } from '../api/error-status.ts';
import { waitForNodeTxid } from '../client/events.ts';

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

  /** POSTs raw bytes and returns the JSON answer. */
  postBytes<T>(pathname: string, body: Uint8Array): Promise<T> {
    return this.#request<T>('POST', pathname, body);
  }

  /** A request whose answer the caller reads itself (a stream); errors carry the node's message. */
  async fetch(pathname: string, init: { method?: string; body?: Uint8Array | string; contentType?: string } = {}): Promise<Response> {
    let res: Response;
    try {
      res = await fetch(`${this.baseUrl}${pathname}`, {
        method: init.method ?? 'GET',
        headers: { authorization: `Bearer ${this.#token}`, ...(init.contentType ? { 'content-type': init.contentType } : {}) },
        // A view of the bytes as fetch's body type wants them (Uint8Array<ArrayBufferLike> is not one).
        body: typeof init.body === 'string' || init.body === undefined ? init.body : new Uint8Array(init.body),
      });
    } catch (err) {
      throw new LitefleetError('ENODE', `cannot reach the litefleet node at ${this.baseUrl}: ${(err as Error).cause ?? (err as Error).message}`);
    }
    if (!res.ok) {
      const text = await res.text();
      let body: { error?: string; code?: string } = { error: text.trim() };
      try {
        body = JSON.parse(text) as typeof body;
      } catch {
        // not JSON
      }
      const err = errorFromAnswer(res.status, body);
      throw new LitefleetError(err.code, `node answered ${res.status}: ${err.message}`);
    }
    return res;
  }

  async #request<T>(method: string, pathname: string, body?: unknown): Promise<T> {
    const raw = body instanceof Uint8Array;
    const res = await this.fetch(pathname, {
      method,
      body: body === undefined ? undefined : raw ? body : JSON.stringify(body),
      contentType: body === undefined ? undefined : raw ? 'application/octet-stream' : 'application/json',
    });
    const text = await res.text();
    return JSON.parse(text) as T;
  }

  /** Resolves once the node has applied `txid` (or more) of `db`, following its GET /events; rejects after `timeoutMs`. */
  async waitForTxid(db: string, txid: number, timeoutMs: number): Promise<void> {
    try {
      await waitForNodeTxid(this.baseUrl, this.#token, db, txid, timeoutMs);
    } catch (err) {
      throw new LitefleetError('ETIMEOUT', (err as Error).message);
    }
  }

  /** The client for `--url` or the config's node (the options every node-facing command takes). */
  static fromOptions(config: Config, url: string | undefined): NodeClient {
    return url ? new NodeClient(url, config.http.token ?? process.env.LITEFLEET_TOKEN ?? '') : NodeClient.fromConfig(config);
  }
}
