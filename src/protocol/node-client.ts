import type http from 'node:http';
import { localUrl } from '../config/addr.ts';
import type { Config } from '../config/schema.ts';
import { LitefleetError } from '../errors.ts';
import { errorFromAnswer } from './error-status.ts';
import { waitForNodeTxid } from './events.ts';

/** Calls a node's API with the cluster token: the CLI, the studio and other nodes use it. */
export class NodeClient {
  readonly baseUrl: string;
  readonly #token: string;

  constructor(baseUrl: string, token: string) {
    this.baseUrl = baseUrl.replace(/\/$/, '');
    this.#token = token;
  }

  /** A client for the node a config describes (token from the config or LITEFLEET_TOKEN). */
  static fromConfig(config: Config): NodeClient {
    return new NodeClient(localUrl(config.http.addr), config.http.token ?? process.env.LITEFLEET_TOKEN ?? '');
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

  /**
   * A request whose answer the caller reads itself (a stream of Buffers); errors carry the node's
   * message. Node's http client rather than fetch: fetch loads undici on first use (50–60 ms), and
   * on Node 20 its idle connection keeps a finished CLI call alive for another 150 ms. Taken with
   * getBuiltinModule, since on Node 22 and 24 an `import` of node:http builds its ES module face,
   * whose getters load undici all the same.
   */
  async request(pathname: string, init: { method?: string; body?: Uint8Array | string; contentType?: string } = {}): Promise<http.IncomingMessage> {
    const url = new URL(`${this.baseUrl}${pathname}`);
    const transport = process.getBuiltinModule(url.protocol === 'https:' ? 'node:https' : 'node:http');
    let res: http.IncomingMessage;
    try {
      res = await new Promise<http.IncomingMessage>((resolve, reject) => {
        const req = transport.request(url, {
          method: init.method ?? 'GET',
          headers: { authorization: `Bearer ${this.#token}`, ...(init.contentType ? { 'content-type': init.contentType } : {}) },
        });
        req.on('response', resolve);
        req.on('error', reject);
        req.end(init.body);
      });
    } catch (err) {
      throw new LitefleetError('ENODE', `cannot reach the litefleet node at ${this.baseUrl}: ${(err as Error).message}`);
    }
    const status = res.statusCode ?? 0;
    if (status < 200 || status > 299) {
      const text = await readText(res);
      let body: { error?: string; code?: string } = { error: text.trim() };
      try {
        body = JSON.parse(text) as typeof body;
      } catch {
        // not JSON
      }
      const err = errorFromAnswer(status, body);
      throw new LitefleetError(err.code, `node answered ${status}: ${err.message}`);
    }
    return res;
  }

  async #request<T>(method: string, pathname: string, body?: unknown): Promise<T> {
    const raw = body instanceof Uint8Array;
    const res = await this.request(pathname, {
      method,
      body: body === undefined ? undefined : raw ? body : JSON.stringify(body),
      contentType: body === undefined ? undefined : raw ? 'application/octet-stream' : 'application/json',
    });
    return JSON.parse(await readText(res)) as T;
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

async function readText(res: http.IncomingMessage): Promise<string> {
  let text = '';
  res.setEncoding('utf8');
  for await (const chunk of res) text += chunk as string;
  return text;
}
