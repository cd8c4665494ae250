import type http from 'node:http';
import path from 'node:path';
import { type ApiRoute } from '../api/api-server.ts';
import { isClusterToken } from '../api/auth.ts';
import type { BackupTarget } from '../backup/backup-target.ts';
import { createBackupTarget } from '../backup/create-target.ts';
import type { RestoreTarget } from '../backup/restore.ts';
import type { NodeEvent } from '../protocol/api-types.ts';
import { SECURITY_HEADERS, StaticAssets } from './assets.ts';
import { backupOverview, downloadRestore } from './backups.ts';
import { ClusterFeed } from './cluster-feed.ts';
import type { ConsoleOutcome } from './console-script.ts';
import { ReadRunner } from './read-runner.ts';
import { hasCsrfToken, SessionStore, type Session } from './session.ts';
import { deleteRowSql, insertRowSql, updateRowSql, type SqlValue } from './sql-text.ts';
import type { Filter, RowQuery, TableShape } from './table-queries.ts';
import { NodeApi, type UiHost } from './ui-host.ts';
import { fromWire } from './wire-value.ts';
import { ForbiddenError, InvalidRequestError, LitefleetError, NotFoundError, PayloadTooLargeError, TimeoutError, UnauthorizedError } from '../errors.ts';
import { statusOf } from '../protocol/error-status.ts';

const BODY_LIMIT = 1024 * 1024;
// A wrong token answers this late, so guessing it is slow.
const SIGN_IN_FAILURE_DELAY_MS = 300;
/** How long a write's page waits for this node to have the new TXID. */
const WAIT_TIMEOUT_MS = 10_000;

type Context = { req: http.IncomingMessage; url: URL; res: http.ServerResponse; session: Session };
type Handler = (ctx: Context) => Promise<unknown>;

/** The studio's routes for the node API (empty when `ui.enabled` is false): the page, its files, sign-in and the JSON the page reads. */
export function uiRoutes(host: UiHost): ApiRoute[] {
  return host.config.ui.enabled ? new Studio(host).routes() : [];
}

/**
 * The web dashboard and data browser every node serves under /ui/. Its routes are open to the
 * node API's bearer check (a browser has no token to send) and check the session cookie
 * themselves; every POST also needs the session's CSRF token and a same-origin Origin.
 */
class Studio {
  readonly #host: UiHost;
  readonly #sessions: SessionStore;
  readonly #assets = new StaticAssets();
  readonly #reader = new ReadRunner();
  readonly #api: NodeApi;
  readonly #feed: ClusterFeed;
  #backupTarget: BackupTarget | undefined;

  constructor(host: UiHost) {
    this.#host = host;
    this.#sessions = new SessionStore(() => host.port);
    this.#api = new NodeApi(host);
    this.#feed = new ClusterFeed(host);
  }

  get #readOnly(): boolean {
    return this.#host.config.ui['read-only'];
  }

  routes(): ApiRoute[] {
    return [
      { method: 'GET', path: '/ui', auth: false, handle: (_req, _url, res) => void redirect(res, '/ui/') },
      { method: 'GET', path: '/ui/', auth: false, handle: async (req, _url, res) => void (await this.#assets.serve('index.html', req, res)) },
      {
        method: 'GET',
        path: '/ui/assets/*',
        auth: false,
        handle: async (req, url, res) => {
          if (!(await this.#assets.serve(decodeURIComponent(url.pathname.slice('/ui/assets/'.length)), req, res))) sendJson(res, 404, { error: 'no such file' });
        },
      },
      { method: 'POST', path: '/ui/session', auth: false, handle: (req, _url, res) => this.#signIn(req, res) },
      this.#route('GET', '/ui/api/session', async ({ session }) => this.#sessionInfo(session)),
      this.#route('POST', '/ui/api/sign-out', async ({ session, res }) => {
        this.#sessions.delete(session);
        res.setHeader('set-cookie', this.#sessions.cookie(undefined, false));
        return {};
      }),
      this.#route('GET', '/ui/api/events', async ({ req, res }) => this.#events(req, res)),
      this.#route('POST', '/ui/api/handoff', async ({ req }) => {
        this.#refuseWrites();
        const body = await readJson(req);
        if (body.to !== undefined && typeof body.to !== 'string') throw new InvalidRequestError('expected {"to": "<node id>"}');
        return this.#api.handoff(body.to as string | undefined);
      }),
      this.#route('GET', '/ui/api/tables', async ({ url }) => this.#reader.run({ op: 'tables', file: this.#file(url.searchParams.get('db')) })),
      this.#route('GET', '/ui/api/table', async ({ url }) => this.#reader.run({ op: 'table', file: this.#file(url.searchParams.get('db')), table: param(url, 'table') })),
      this.#route('GET', '/ui/api/rows', async ({ url }) => this.#reader.run({ op: 'rows', file: this.#file(url.searchParams.get('db')), table: param(url, 'table'), query: rowQuery(url) })),
      this.#route('GET', '/ui/api/row', async ({ url }) => {
        const key = parseJson(param(url, 'key'));
        if (!Array.isArray(key)) throw new InvalidRequestError('key must be a JSON array');
        const row = await this.#reader.run({ op: 'row', file: this.#file(url.searchParams.get('db')), table: param(url, 'table'), key });
        if (row === null) throw new NotFoundError('no such row (it may have been deleted)');
        return row;
      }),
      this.#route('POST', '/ui/api/edit', async ({ req }) => this.#edit(await readJson(req))),
      this.#route('GET', '/ui/api/wait', async ({ url }) => this.#waitForTxid(param(url, 'db'), Number(param(url, 'txid')))),
      this.#route('POST', '/ui/api/console', async ({ req }) => this.#console(await readJson(req))),
      this.#route('GET', '/ui/api/backups', async ({ url }) => {
        const target = this.#backups();
        return target ? { enabled: true, ...(await backupOverview(target, backupDb(url))) } : { enabled: false };
      }),
      this.#route('GET', '/ui/api/backups/download', async ({ url, res }) => {
        const target = this.#backups();
        if (!target) throw new NotFoundError('this cluster has no backup: section');
        await downloadRestore(target, backupDb(url), restoreTarget(url), res);
      }),
    ];
  }

  /** A route that needs a session (and, for a POST, the CSRF token and a same-origin request). */
  #route(method: 'GET' | 'POST', pathname: string, handler: Handler): ApiRoute {
    return {
      method,
      path: pathname,
      auth: false,
      handle: async (req, url, res) => {
        let out: unknown;
        try {
          const session = this.#sessions.fromRequest(req);
          if (!session) throw new UnauthorizedError('sign in with the cluster token');
          if (method === 'POST' && (!sameOrigin(req) || !hasCsrfToken(req, session))) throw new ForbiddenError('missing or wrong CSRF token; reload the page');
          out = await handler({ req, url, res, session });
        } catch (err) {
          if (res.headersSent) throw err;
          if (!(err instanceof LitefleetError) || statusOf(err) === 500) throw err;
          sendJson(res, statusOf(err), { error: err.message, code: err.code });
          return;
        }
        if (!res.headersSent && !res.writableEnded) sendJson(res, 200, out);
      },
    };
  }

  async #signIn(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (!sameOrigin(req)) return sendJson(res, 403, { error: 'sign in from the studio page itself' });
    const form = new URLSearchParams(await readBody(req, 16 * 1024));
    if (!isClusterToken(form.get('token') ?? '', this.#host.config.http.token!)) {
      await new Promise((r) => setTimeout(r, SIGN_IN_FAILURE_DELAY_MS));
      return sendJson(res, 401, { error: 'that is not the cluster token (http.token)' });
    }
    const session = this.#sessions.create();
    // Signed in: data pages come next, so the reader loads now rather than on the first one.
    this.#reader.warm();
    res.setHeader('set-cookie', this.#sessions.cookie(session, req.headers['x-forwarded-proto'] === 'https'));
    sendJson(res, 200, this.#sessionInfo(session));
  }

  #sessionInfo(session: Session): unknown {
    return { csrf: session.csrf, readOnly: this.#readOnly, node: { role: this.#host.role }, databases: this.#host.databases().map((d) => d.name) };
  }

  /** Server-sent events: the node's events as they come, and the cluster (roles, lag, connected since) every second. */
  #events(req: http.IncomingMessage, res: http.ServerResponse): void {
    res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
    res.flushHeaders();
    req.socket.setNoDelay(true);
    const send = (type: string, data: unknown) => res.write(`event: ${type}\ndata: ${JSON.stringify(data)}\n\n`);
    const onEvent = (ev: NodeEvent) => send('node', ev);
    this.#host.on('event', onEvent);
    const unsubscribe = this.#feed.subscribe((info) => send('info', info));
    res.on('close', () => {
      unsubscribe();
      this.#host.off('event', onEvent);
    });
  }

  async #edit(body: Record<string, unknown>): Promise<unknown> {
    this.#refuseWrites();
    const db = str(body.db, 'db');
    const table = str(body.table, 'table');
    const shape = await this.#reader.run<TableShape>({ op: 'table', file: this.#file(db), table });
    if (shape.type !== 'table' || shape.key.length === 0) throw new InvalidRequestError(`${table} cannot be edited here: it has no rowid or primary key`);
    const values: Record<string, SqlValue> = {};
    for (const [name, v] of Object.entries((body.values ?? {}) as Record<string, unknown>)) {
      const c = shape.columns.find((x) => x.name === name);
      if (!c) throw new InvalidRequestError(`no column ${name} in ${table}`);
      if (c.generated) throw new InvalidRequestError(`${name} is a generated column`);
      values[name] = fromWire(v);
    }
    const key = () => {
      if (!Array.isArray(body.key) || body.key.length !== shape.key.length) throw new InvalidRequestError(`expected the row's key (${shape.key.join(', ')})`);
      return { columns: shape.key, values: body.key.map(fromWire) };
    };
    let sql: string;
    if (body.action === 'insert') sql = insertRowSql(table, values);
    else if (body.action === 'update') {
      if (Object.keys(values).length === 0) throw new InvalidRequestError('nothing was changed');
      sql = updateRowSql(table, key(), values);
    } else if (body.action === 'delete') sql = deleteRowSql(table, key());
    else throw new InvalidRequestError('action must be insert, update or delete');
    const result = await this.#api.exec(db, sql);
    return { ...result, sql };
  }

  async #console(body: Record<string, unknown>): Promise<unknown> {
    const db = str(body.db, 'db');
    const sql = str(body.sql, 'sql');
    const started = performance.now();
    const outcome = await this.#reader.run<ConsoleOutcome>({ op: 'console', file: this.#file(db), sql });
    if (outcome.kind === 'rows') return outcome;
    if (this.#readOnly) throw new ForbiddenError('this studio is read-only (ui.read-only: true): writes are refused');
    const result = await this.#api.exec(db, sql);
    return { kind: 'write', ...result, ms: performance.now() - started };
  }

  /** Resolves once this node has `txid` of `db` (the node's own events tell, no polling). */
  async #waitForTxid(db: string, txid: number): Promise<unknown> {
    if (!Number.isSafeInteger(txid)) throw new InvalidRequestError('txid must be a number');
    this.#file(db);
    const started = performance.now();
    const has = () => this.#host.txid(db) >= txid;
    if (!has()) {
      await new Promise<void>((resolve, reject) => {
        const onEvent = () => {
          if (!has()) return;
          done();
          resolve();
        };
        const timer = setTimeout(() => {
          done();
          reject(new TimeoutError(`this node did not reach TXID ${txid} of ${db} within ${WAIT_TIMEOUT_MS / 1000} s (it has ${this.#host.txid(db)})`));
        }, WAIT_TIMEOUT_MS);
        const done = () => {
          clearTimeout(timer);
          this.#host.off('event', onEvent);
        };
        this.#host.on('event', onEvent);
      });
    }
    return { db, txid: this.#host.txid(db), waitedMs: performance.now() - started };
  }

  #refuseWrites(): void {
    if (this.#readOnly) throw new ForbiddenError('this studio is read-only (ui.read-only: true): writes are refused');
  }

  /** The live file of database `name`, which must be one the node replicates (so no path reaches outside `dir`). */
  #file(name: string | null): string {
    const known = this.#host.databases().map((d) => d.name);
    if (name === null || !known.includes(name)) throw new NotFoundError(`unknown database ${name ?? ''}; the databases are: ${known.join(', ') || 'none'}`);
    return path.join(this.#host.config.dir, name);
  }

  #backups(): BackupTarget | undefined {
    const b = this.#host.config.backup;
    if (b) this.#backupTarget ??= createBackupTarget(b);
    return this.#backupTarget;
  }
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body ?? null);
  res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function redirect(res: http.ServerResponse, location: string): void {
  res.writeHead(302, { ...SECURITY_HEADERS, location });
  res.end();
}

/** A browser names its page's origin on every POST; one from another site is refused whatever cookie it carries. */
function sameOrigin(req: http.IncomingMessage): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  try {
    return new URL(origin).host === req.headers.host;
  } catch {
    return false;
  }
}

async function readBody(req: http.IncomingMessage, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new PayloadTooLargeError(limit);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

async function readJson(req: http.IncomingMessage): Promise<Record<string, unknown>> {
  const v = parseJson((await readBody(req, BODY_LIMIT)) || '{}');
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new InvalidRequestError('expected a JSON object');
  return v as Record<string, unknown>;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new InvalidRequestError('not valid JSON');
  }
}

function param(url: URL, name: string): string {
  const v = url.searchParams.get(name);
  if (v === null) throw new InvalidRequestError(`missing ${name}`);
  return v;
}

function str(v: unknown, name: string): string {
  if (typeof v !== 'string') throw new InvalidRequestError(`missing ${name}`);
  return v;
}

/** `?sort=col&desc=1&filter=[{"column","op","value"}]&cursor=…&limit=N` as a RowQuery (the reader checks names against the table). */
function rowQuery(url: URL): RowQuery {
  const q = url.searchParams;
  const filters = q.get('filter') ? parseJson(q.get('filter')!) : [];
  if (!Array.isArray(filters) || !filters.every((f: Filter) => typeof f === 'object' && f !== null && typeof f.column === 'string' && typeof f.op === 'string' && (f.value === undefined || typeof f.value === 'string'))) {
    throw new InvalidRequestError('filter must be a JSON array of {"column", "op", "value"}');
  }
  return { sort: q.get('sort') ?? undefined, desc: q.get('desc') === '1', filters: filters as Filter[], cursor: q.get('cursor') ?? undefined, limit: q.has('limit') ? Number(q.get('limit')) : undefined };
}

/** `?db=` for the backups, which may hold databases this node no longer has: any name a database file can have, and no path. */
function backupDb(url: URL): string {
  const name = param(url, 'db');
  if (!/^[^/\\]+$/.test(name) || name.startsWith('.')) throw new InvalidRequestError(`invalid database name ${name}`);
  return name;
}

/** `?txid=N`, `?timestamp=ISO` or neither (the newest) as a restore point. */
function restoreTarget(url: URL): RestoreTarget {
  const txid = url.searchParams.get('txid');
  const at = url.searchParams.get('timestamp');
  if (txid) {
    if (!/^\d+$/.test(txid)) throw new InvalidRequestError(`txid ${txid} is not a number`);
    return { txid: Number(txid) };
  }
  if (at) {
    const ms = Date.parse(at);
    if (Number.isNaN(ms)) throw new InvalidRequestError(`${at} is not a date`);
    return { timestamp: ms };
  }
  return { latest: true };
}
