import type { EventEmitter } from 'node:events';
import http from 'node:http';
import type net from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { parseAddr } from '../config/addr.ts';
import type { Config } from '../config/schema.ts';
import { formatHex64 } from '../ltx/checksum.ts';
import { forwardRequest, forwardUpgrade, headerValues, parseTarget, setHeaders, type RawHeaders } from './http-forward.ts';
import { statusOf } from '../protocol/error-status.ts';
import { TXID_COOKIE, txidFromCookie } from '../protocol/txid-cookie.ts';

/** What the proxy needs from its node. */
export interface ProxyHost extends EventEmitter {
  readonly role: 'primary' | 'replica';
  /** This node's hostname (for the instance headers). */
  readonly hostname: string;
  /** The primary's hostname and proxy URL, or undefined when none is known. */
  primaryProxy(): Promise<{ hostname: string; proxyUrl: string | undefined } | undefined>;
  /** The TXID this node has of `db` (0 if it does not have it). */
  txid(db: string): number;
  /** On the primary: resolves with the TXID of `db` once everything committed so far is captured. */
  commitTxid(db: string): Promise<number | undefined>;
  /** How far behind the primary this node is for `db`, in ms (0 on the primary). */
  lagMs(db: string): number;
  /** On the primary: resolves once `n` replicas have applied `txid` of `db`; rejects (TimeoutError) after `timeoutMs`. */
  waitForReplicas(db: string, txid: number, n: number, timeoutMs: number): Promise<string[]>;
}

/** The headers naming this instance and the primary, as an object and as raw header pairs. */
interface Instance {
  role: string;
  at: number;
  headers: Record<string, string>;
  raw: RawHeaders;
}

const COOKIE_MAX_AGE_S = 300;
const INSTANCE_REFRESH_MS = 250;

/** `*` is the only wildcard (anything, `/` included); the rest is literal; the whole path must match (as LiteFS). */
function compilePatterns(patterns: string[]): RegExp[] {
  return patterns.map((p) => new RegExp(`^${p.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`));
}

/**
 * The HTTP proxy in front of the app (`proxy:` in the config). Reads (GET, HEAD) go to the local
 * app, after waiting until this node has the TXID a client's `__txid` cookie names; writes go to
 * the local app on the primary (and get the cookie), and from a replica to the primary's proxy or,
 * in `fly-replay` mode, back to Fly's edge with `fly-replay: instance=<primary>`. Every answer
 * names this instance and the primary (`fly-instance`, `fly-primary-instance`).
 */
export class ProxyServer {
  readonly #o: NonNullable<Config['proxy']>;
  readonly #host: ProxyHost;
  readonly #logger: Logger;
  readonly #server: http.Server;
  readonly #target: { host: string; port: number };
  readonly #passthrough: RegExp[];
  readonly #alwaysForward: RegExp[];
  readonly #mode: 'forward' | 'fly-replay';
  #instance: Instance | undefined;

  constructor(o: NonNullable<Config['proxy']>, host: ProxyHost, logger: Logger) {
    this.#o = o;
    this.#host = host;
    this.#logger = logger;
    this.#target = parseTarget(o.target);
    this.#passthrough = compilePatterns(o.passthrough);
    this.#alwaysForward = compilePatterns(o['always-forward']);
    this.#mode = o.mode ?? (process.env.FLY_APP_NAME ? 'fly-replay' : 'forward');
    this.#server = http.createServer((req, res) => void this.#handle(req, res));
    this.#server.on('upgrade', (req, socket, head) => void this.#upgrade(req, socket as net.Socket, head));
    // Long uploads and server-sent events must not be cut by Node's default request timeout.
    this.#server.requestTimeout = 0;
    this.#server.keepAliveTimeout = 65_000;
  }

  async listen(): Promise<number> {
    const { host, port } = parseAddr(this.#o.addr);
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, host, () => resolve());
    });
    return (this.#server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  /**
   * The instance headers, refreshed at most every INSTANCE_REFRESH_MS (asking who leads costs a
   * lease read); between refreshes they are at hand without a tick.
   */
  #instanceHeaders(): Instance | Promise<Instance> {
    const role = this.#host.role;
    if (this.#instance && this.#instance.role === role && performance.now() - this.#instance.at < INSTANCE_REFRESH_MS) return this.#instance;
    return this.#refreshInstance(role);
  }

  async #refreshInstance(role: 'primary' | 'replica'): Promise<Instance> {
    const primary = role === 'primary' ? this.#host.hostname : (await this.#host.primaryProxy().catch(() => undefined))?.hostname;
    const headers = { 'fly-instance': this.#host.hostname, ...(primary ? { 'fly-primary-instance': primary } : {}) };
    this.#instance = { role, at: performance.now(), headers, raw: Object.entries(headers).flat() };
    return this.#instance;
  }

  #reply(res: http.ServerResponse, status: number, text: string, headers: Record<string, string>): void {
    res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', ...headers });
    res.end(`${text}\n`);
  }

  async #handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = req.url ?? '/';
    const query = url.indexOf('?');
    const path = query < 0 ? url : url.slice(0, query);
    const known = this.#instanceHeaders();
    const { headers: instance, raw: instanceRaw } = known instanceof Promise ? await known : known;
    // A write forwarded to the primary's proxy comes back naming the primary: this proxy's instance wins.
    const decorate = (_status: number, headers: RawHeaders) => {
      setHeaders(headers, instanceRaw);
    };
    try {
      if (this.#passthrough.some((p) => p.test(path))) return void (await forwardRequest(req, res, this.#target, decorate));
      if (req.method === 'GET' && path === '/litefleet/health') {
        const lag = this.#host.lagMs(this.#o.db);
        if (lag > this.#o['max-lag']) return this.#reply(res, 503, `replication lag exceeded: ${lag} ms behind the primary (max-lag ${this.#o['max-lag']} ms)`, instance);
        return this.#reply(res, 200, 'OK', instance);
      }
      const isRead = (req.method === 'GET' || req.method === 'HEAD') && !this.#alwaysForward.some((p) => p.test(path));
      if (isRead) {
        const txid = txidFromCookie(headerValues(req.rawHeaders, 'cookie').join('; '));
        if (txid !== undefined && this.#host.role === 'replica') {
          if (!(await this.#waitForTxid(txid))) {
            const have = this.#host.txid(this.#o.db);
            return this.#reply(res, 504, `litefleet proxy: timed out after ${this.#o['read-timeout']} ms waiting for ${this.#o.db} to reach TXID ${txid} on this replica (it has ${have}); the write you made may not have reached this region yet`, instance);
          }
        }
        // An app that must write in a GET answers `fly-replay` (litefleet/client's ensurePrimary):
        // outside Fly, the proxy replays the request on the primary itself.
        const replay = this.#mode === 'forward' && this.#host.role === 'replica';
        const served = await forwardRequest(req, res, this.#target, (status, headers) => {
          if (replay && headerValues(headers, 'fly-replay').length > 0) return false;
          decorate(status, headers);
        });
        if (served) return;
        const primary = await this.#waitForPrimary();
        if (!primary?.proxyUrl) return this.#reply(res, 503, 'litefleet proxy: the app asked for the primary, and none is reachable', instance);
        return void (await forwardRequest(req, res, parseTarget(primary.proxyUrl), decorate));
      }
      if (this.#host.role === 'primary') return await this.#write(req, res, decorate, instance);
      const primary = await this.#waitForPrimary();
      if (!primary) return this.#reply(res, 503, 'litefleet proxy: no primary is available to take this write; try again shortly', instance);
      if (this.#mode === 'fly-replay') return this.#reply(res, 200, '', { ...instance, 'fly-replay': `instance=${primary.hostname}` });
      if (!primary.proxyUrl) return this.#reply(res, 503, `litefleet proxy: the primary ${primary.hostname} runs no proxy to forward this write to`, instance);
      return void (await forwardRequest(req, res, parseTarget(primary.proxyUrl), decorate));
    } catch (err) {
      this.#logger.error({ err, path }, 'proxy request failed');
      if (!res.headersSent) this.#reply(res, 502, `litefleet proxy: ${(err as Error).message}`, instance);
      else res.destroy();
    }
  }

  /**
   * A write on the primary: the app's answer gets the `__txid` cookie once capture has the commit
   * and, with `sync-replicas`, goes out once that many replicas have applied it. Past
   * `sync-timeout` the client gets a 504 instead of the app's answer: whoever sets sync-replicas
   * wants no success for a write one crash of the primary can still lose, and a header on a 200
   * would be read by no browser or form. The 504 says the write is committed on the primary (a
   * client that retries knows it may be there) and sets the cookie as any write does, so the
   * client's next read sees it.
   */
  async #write(req: http.IncomingMessage, res: http.ServerResponse, decorate: (status: number, headers: RawHeaders) => void, instance: Record<string, string>): Promise<void> {
    const db = this.#o.db;
    const before = this.#host.txid(db);
    let unreplicated: { err: Error; cookie: string } | undefined;
    const served = await forwardRequest(req, res, this.#target, async (status, headers) => {
      decorate(status, headers);
      const txid = await this.#host.commitTxid(db);
      if (txid === undefined) return;
      const cookie = `${TXID_COOKIE}=${formatHex64(txid)}; Path=/; Max-Age=${COOKIE_MAX_AGE_S}; HttpOnly; SameSite=Lax`;
      headers.push('set-cookie', cookie);
      // Nothing committed since the request came in: nothing to wait for.
      if (this.#o['sync-replicas'] === 0 || txid <= before) return;
      try {
        await this.#host.waitForReplicas(db, txid, this.#o['sync-replicas'], this.#o['sync-timeout']);
      } catch (err) {
        unreplicated = { err: err as Error, cookie };
        return false;
      }
    });
    if (served || !unreplicated) return;
    this.#reply(res, statusOf(unreplicated.err), `litefleet proxy: ${unreplicated.err.message}`, { ...instance, 'set-cookie': unreplicated.cookie });
  }

  /** A WebSocket goes to the local app (an upgrade is a GET; the socket is the app's business). */
  async #upgrade(req: http.IncomingMessage, socket: net.Socket, head: Buffer): Promise<void> {
    forwardUpgrade(req, socket, head, this.#target, (await this.#instanceHeaders()).headers);
  }

  /** Waits for this node's copy of the tracked database to reach `txid`, following node events. */
  #waitForTxid(txid: number): Promise<boolean> {
    if (this.#host.txid(this.#o.db) >= txid) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (ok: boolean) => {
        clearTimeout(timer);
        this.#host.off('event', onEvent);
        resolve(ok);
      };
      const onEvent = (ev: { type: string; db?: string; txid?: number }) => {
        if (ev.type === 'tx' && ev.db === this.#o.db && (ev.txid ?? 0) >= txid) done(true);
      };
      const timer = setTimeout(() => done(false), this.#o['read-timeout']);
      this.#host.on('event', onEvent);
    });
  }

  /** The primary, waiting up to read-timeout for one to be known (mid-failover). */
  async #waitForPrimary(): Promise<{ hostname: string; proxyUrl: string | undefined } | undefined> {
    const deadline = Date.now() + this.#o['read-timeout'];
    for (;;) {
      const p = await this.#host.primaryProxy().catch(() => undefined);
      if (p || Date.now() > deadline) return p;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
