import { txidFromCookie } from '../protocol/txid-cookie.ts';
import { getInstanceInfo, nodeOptions, PrimaryRequiredError, waitForTxid, type NodeOptions } from './instance.ts';

/** Options of the middlewares: the node, and the database whose TXID the `__txid` cookie tracks. */
export interface MiddlewareOptions extends NodeOptions {
  db: string;
  /** How long a read waits for the cookie's TXID (default 5000 ms). */
  timeout?: number;
}

/**
 * What both middlewares decide for a request: a write on a replica is sent to the primary (409 +
 * `fly-replay`), a read carrying the `__txid` cookie on a replica first waits for that TXID (504
 * when it does not come). Returns the response to send instead of the app's, if any.
 */
async function gate(method: string, cookie: string | null | undefined, o: MiddlewareOptions): Promise<{ status: number; headers: Record<string, string>; body: string } | { headers: Record<string, string> }> {
  const info = await getInstanceInfo(o);
  const headers: Record<string, string> = { 'fly-instance': info.currentInstance, ...(info.primaryInstance ? { 'fly-primary-instance': info.primaryInstance } : {}) };
  if (info.currentIsPrimary) return { headers };
  if (method !== 'GET' && method !== 'HEAD') {
    const e = new PrimaryRequiredError(info.primaryInstance);
    return { status: e.status, headers: { ...headers, ...e.headers }, body: e.message };
  }
  const txid = txidFromCookie(cookie);
  if (txid !== undefined) {
    try {
      await waitForTxid(o.db, txid, { ...o, timeout: o.timeout ?? 5_000 });
    } catch (err) {
      return { status: 504, headers, body: (err as Error).message };
    }
  }
  return { headers };
}

/** Minimal Express-compatible types, so the library does not depend on Express. */
interface ExpressRequest {
  method: string;
  headers: Record<string, string | string[] | undefined>;
}
interface ExpressResponse {
  setHeader(name: string, value: string): void;
  status(code: number): ExpressResponse;
  send(body: string): void;
}

/**
 * Express (and Connect) middleware: `app.use(expressMiddleware({ db: 'sqlite.db' }))`. Names the
 * instances in every response, replays writes made on a replica, makes reads wait for the
 * client's own writes; a PrimaryRequiredError thrown by a handler becomes its replay too, when
 * passed to `next(err)` (use it also as the error handler: `app.use(expressMiddleware.errors)`).
 */
export function expressMiddleware(o: MiddlewareOptions) {
  nodeOptions(o);
  return (req: ExpressRequest, res: ExpressResponse, next: (err?: unknown) => void): void => {
    const cookie = req.headers.cookie;
    gate(req.method, Array.isArray(cookie) ? cookie.join('; ') : cookie, o).then((g) => {
      for (const [k, v] of Object.entries(g.headers)) res.setHeader(k, v);
      if ('status' in g) res.status(g.status).send(g.body);
      else next();
    }, next);
  };
}

/** Express error handler turning a PrimaryRequiredError into the replay answer. */
expressMiddleware.errors = (err: unknown, _req: ExpressRequest, res: ExpressResponse, next: (err?: unknown) => void): void => {
  if (!(err instanceof PrimaryRequiredError)) return next(err);
  for (const [k, v] of Object.entries(err.headers)) res.setHeader(k, v);
  res.status(err.status).send(err.message);
};

/**
 * For Fetch-API servers (Hono, React Router, Remix, Bun/Deno-style handlers):
 * `export default { fetch: withLitefleet(handler, { db: 'sqlite.db' }) }`. Same rules as the
 * Express middleware; a PrimaryRequiredError thrown by the handler becomes the replay answer.
 */
export function withLitefleet(handler: (req: Request) => Response | Promise<Response>, o: MiddlewareOptions): (req: Request) => Promise<Response> {
  nodeOptions(o);
  return async (req) => {
    const g = await gate(req.method, req.headers.get('cookie'), o);
    if ('status' in g) return new Response(g.body, { status: g.status, headers: g.headers });
    let res: Response;
    try {
      res = await handler(req);
    } catch (err) {
      if (!(err instanceof PrimaryRequiredError)) throw err;
      return new Response(err.message, { status: err.status, headers: { ...g.headers, ...err.headers } });
    }
    const out = new Response(res.body, res);
    for (const [k, v] of Object.entries(g.headers)) out.headers.set(k, v);
    return out;
  };
}
