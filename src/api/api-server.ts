import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { InvalidRequestError, PayloadTooLargeError, UnauthorizedError } from '../errors.ts';
import { errorHeaders, statusOf } from '../protocol/error-status.ts';
import { parseAddr } from '../config/addr.ts';
import { hasValidToken } from './auth.ts';

/** A route's answer: a status and a JSON (or text) body. */
export interface ApiResponse {
  status: number;
  body: unknown;
  contentType?: string;
  headers?: Record<string, string>;
}

/**
 * A handler for one path. `auth: false` routes are open (health, metrics); all others need the
 * token. A handler that answers by itself (a stream) writes to `res` and returns nothing.
 */
export interface ApiRoute {
  method: 'GET' | 'POST';
  path: string;
  auth: boolean;
  handle(req: http.IncomingMessage, url: URL, res: http.ServerResponse): Promise<ApiResponse | void> | ApiResponse | void;
}

/** The node API: token-checked JSON routes plus open /health and /metrics. */
export class ApiServer {
  readonly #server: http.Server;
  readonly #routes: ApiRoute[];
  readonly #token: string;
  readonly #logger: Logger;

  /** `metrics` makes the Prometheus registry, at the first scrape (see createMetrics). */
  constructor(options: { token: string; routes: ApiRoute[]; metrics: () => Promise<Registry>; logger: Logger }) {
    this.#token = options.token;
    this.#logger = options.logger;
    let registry: Promise<Registry> | undefined;
    this.#routes = [
      {
        method: 'GET',
        path: '/metrics',
        auth: false,
        handle: async () => {
          // A load that failed (a node out of file descriptors cannot open the module) is tried
          // again at the next scrape, not remembered.
          registry ??= options.metrics().catch((err: unknown) => {
            registry = undefined;
            throw err;
          });
          const r = await registry;
          return { status: 200, body: await r.metrics(), contentType: r.contentType };
        },
      },
      ...options.routes,
    ];
    this.#server = http.createServer((req, res) => void this.#handle(req, res));
    // Clients pool connections for about 4 s; closing idle ones sooner (Node's 5 s default, late when
    // capture keeps the loop busy) races a reused socket and fails the request with ECONNRESET.
    this.#server.keepAliveTimeout = 65_000;
  }

  /** Starts listening; resolves with the bound port. */
  async listen(addr: string): Promise<number> {
    const { host, port } = parseAddr(addr);
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, host, () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
    return (this.#server.address() as AddressInfo).port;
  }

  /** Stops accepting connections and closes idle ones. */
  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  async #handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://node');
    const route = this.#routes.find((r) => r.path === url.pathname || (r.path.includes('*') && pathPattern(r.path).test(url.pathname)));
    let out: ApiResponse | void;
    try {
      if (!route) out = { status: 404, body: { error: `no such endpoint: ${url.pathname}` } };
      else if (route.method !== req.method) out = { status: 405, body: { error: `${url.pathname} takes ${route.method}` } };
      else if (route.auth && !hasValidToken(req, this.#token)) out = { status: 401, body: { error: new UnauthorizedError().message } };
      else out = await route.handle(req, url, res);
    } catch (err) {
      const status = statusOf(err);
      if (status === 500) this.#logger.error({ err, path: url.pathname }, 'API request failed');
      out = { status, body: { error: (err as Error).message ?? String(err), code: (err as { code?: string }).code }, headers: errorHeaders(err) };
      if (res.headersSent) {
        res.destroy();
        return;
      }
    }
    if (!out) return;
    const text = typeof out.body === 'string' ? out.body : `${JSON.stringify(out.body)}\n`;
    const headers: http.OutgoingHttpHeaders = { 'content-type': out.contentType ?? (typeof out.body === 'string' ? 'text/plain' : 'application/json'), ...out.headers };
    if (out.status === 401) headers['www-authenticate'] = 'Bearer realm="litefleet"';
    res.writeHead(out.status, headers);
    res.end(text);
  }
}

/** Reads a request body as a JSON object (an empty body is `{}`), refusing more than `limit` bytes. */
export async function readJsonBody(req: http.IncomingMessage, limit = 1024 * 1024): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new PayloadTooLargeError(limit);
    chunks.push(chunk);
  }
  let body: unknown;
  try {
    body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : {};
  } catch {
    throw new InvalidRequestError('request body is not valid JSON');
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new InvalidRequestError('request body must be a JSON object');
  return body as Record<string, unknown>;
}

/** Path segment `index` of a URL, percent-decoded (a malformed escape is the client's error). */
export function pathSegment(url: URL, index: number): string {
  try {
    return decodeURIComponent(url.pathname.split('/')[index] ?? '');
  } catch {
    throw new InvalidRequestError(`malformed percent-escape in ${url.pathname}`);
  }
}

/** An asterisk in a route's path stands for one path segment (the database name of the exec route). */
function pathPattern(p: string): RegExp {
  const escape = (part: string) => part.replace(/[.+?^$()|[\]\\{}]/g, (c) => `\\${c}`);
  return new RegExp(`^${p.split('*').map(escape).join('[^/]+')}$`);
}
