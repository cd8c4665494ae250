import { EventEmitter } from 'node:events';
import path from 'node:path';
import type { Logger } from 'pino';
import { ApiServer, type ApiResponse } from '../api/api-server.ts';
import { databaseRoutes } from '../api/routes/database-routes.ts';
import { nodeRoutes } from '../api/routes/node-routes.ts';
import type { RouteHost } from '../api/routes/route-host.ts';
import { streamRoutes } from '../api/routes/stream-routes.ts';
import type { Config } from '../config/schema.ts';
import { ConfigError } from '../errors.ts';
import { createLeaser } from '../lease/create-leaser.ts';
import type { Leaser, PrimaryInfo } from '../lease/leaser.ts';
import { formatHex64 } from '../ltx/checksum.ts';
import type { DatabaseStatus, NodeEvent, NodeInfo, Role } from '../protocol/api-types.ts';
import type { ProxyServer } from '../proxy/proxy-server.ts';
import { lockDataDir } from '../store/data-dir-lock.ts';
import { descriptorRoom } from '../store/descriptor-limit.ts';
import { formatNodeId, nodeIdentity } from '../store/identity.ts';
import type { CommitEvent } from '../log/commit-event.ts';
import type { Store } from '../store/store.ts';
import { storeFromConfig } from '../store/store-from-config.ts';
import type { StreamServer } from '../stream/stream-server.ts';
import { uiRoutes } from '../ui/ui-routes.ts';
import { databaseStatus, nodeInfo } from './cluster-status.ts';
import { Elector } from './elector.ts';
import { PeerBook } from './peers.ts';
import { PrimaryLink } from './primary-link.ts';
import { NodeProxyHost } from './proxy-host.ts';
import { Roles } from './roles.ts';

/**
 * One litefleet node, wired: its identity, store, elector and roles (who is primary and what
 * each role runs), API and proxy, started and stopped as one. It emits `event` with each NodeEvent.
 */
export class LitefleetNode extends EventEmitter implements RouteHost {
  readonly config: Config;
  readonly logger: Logger;
  readonly store: Store;
  readonly nodeId: bigint;
  readonly #selfId: string;
  readonly #leaser: Leaser;
  readonly #elector: Elector;
  readonly #roles: Roles;
  readonly #link: PrimaryLink;
  #api: ApiServer | undefined;
  #proxy: ProxyServer | undefined;
  #port = 0;
  #proxyPort = 0;
  readonly #identity: { id: bigint; save(): void };
  #dataDirLock: { release(): void } | undefined;

  constructor(config: Config, logger: Logger) {
    super();
    if (!config.http.token) {
      throw new ConfigError('http.token is required: every node of a cluster shares it, e.g. "token: ${LITEFLEET_TOKEN}"');
    }
    this.setMaxListeners(0);
    this.config = config;
    this.logger = logger;
    this.#identity = nodeIdentity(config['data-dir']);
    this.nodeId = this.#identity.id;
    this.#selfId = formatNodeId(this.nodeId);
    this.#leaser = createLeaser(config, this.#selfId);
    this.store = storeFromConfig(config, this.nodeId, logger);
    this.#link = new PrimaryLink({ selfId: this.#selfId, token: config.http.token, primaryInfo: () => this.primaryInfo(), streamServer: () => this.streamServer });
    this.store.on('commit', (ev: CommitEvent) => this.emit('event', { type: 'tx', db: ev.name, txid: ev.txid, checksum: formatHex64(ev.checksum) } satisfies NodeEvent));
    this.#roles = new Roles({
      config,
      logger,
      store: this.store,
      nodeId: this.nodeId,
      peers: new PeerBook(config['data-dir'], this.#selfId),
      candidate: this.#leaser.candidate,
      selfUrl: () => this.#leaser.selfUrl(this.#port),
      leaseValid: () => this.#elector.leaseValid(),
      event: (ev) => this.emit('event', ev),
      onHandedLease: (caughtUp) => this.#elector.takeHandedLease(caughtUp),
      callPrimary: (pathname, body, timeoutMs) => this.#link.call(pathname, body, timeoutMs),
    });
    this.#elector = new Elector(this.#leaser, this.#roles, {
      selfId: this.#selfId,
      logger,
      reconnectDelayMs: config.lease['reconnect-delay'],
      catchUpTimeoutMs: config.lease['catch-up-timeout'],
      demoteDelayMs: config.lease['demote-delay'],
    });
  }

  get role(): Role {
    return this.#elector.role;
  }

  /** The port the API listens on (useful with port 0 in tests). */
  get port(): number {
    return this.#port;
  }

  /** This node's name: lease.hostname with etcd/Consul (with static it names the primary), else the OS hostname. */
  get hostname(): string {
    return this.#leaser.self.hostname;
  }

  /** Where this node's proxy answers, as other nodes reach it (null without a proxy). */
  get proxyUrl(): string | null {
    if (!this.#proxy) return null;
    const host = new URL(this.#leaser.selfUrl(this.#port)).hostname;
    return `http://${host}:${this.#proxyPort}`;
  }

  get streamServer(): StreamServer | undefined {
    return this.#roles.streamServer;
  }

  /** Opens the API and the proxy, then joins the election: the node the lease names captures, every other follows it. */
  async start(): Promise<void> {
    this.#api = new ApiServer({
      token: this.config.http.token!,
      routes: [...nodeRoutes(this), ...databaseRoutes(this), ...streamRoutes(this), ...uiRoutes(this)],
      metrics: async () => (await import('../api/metrics.ts')).createMetrics(this.store, () => this.role === 'primary'),
      logger: this.logger,
    });
    this.#dataDirLock = lockDataDir(this.config['data-dir']);
    try {
      this.#port = await this.#api.listen(this.config.http.addr);
    } catch (err) {
      this.#dataDirLock.release();
      throw err;
    }
    // Only a node that got this far has an identity: a start that failed leaves none behind.
    this.#identity.save();
    this.store.prepare();
    if (this.config.proxy) {
      // The proxy loads only where one is configured.
      const { ProxyServer } = await import('../proxy/proxy-server.ts');
      this.#proxy = new ProxyServer(this.config.proxy, new NodeProxyHost({ node: this, store: this.store, roles: this.#roles, link: this.#link }), this.logger);
      this.#proxyPort = await this.#proxy.listen();
    }
    await this.#elector.start();
    this.logger.info({ id: this.#selfId, role: this.role, api: this.config.http.addr, dir: this.config.dir, dataDir: path.resolve(this.config['data-dir']), ...descriptorRoom() }, 'litefleet node started');
    if (this.config.lease.promote) this.ready().catch(() => {});
  }

  /** Resolves once this node can serve its app (see Elector.ready). */
  ready(): Promise<void> {
    return this.#elector.ready(this.config.lease.promote === true);
  }

  /** Position and geometry of every database on this node (and, on the primary, how far backup and replicas have got). */
  databases(): DatabaseStatus[] {
    return databaseStatus(this.store, this.#roles);
  }

  /** What /info and `litefleet status` show. */
  async info(): Promise<NodeInfo> {
    const primary = await this.primaryInfo();
    const url = this.#leaser.selfUrl(this.#port);
    const node: NodeInfo['node'] = { id: this.#selfId, role: this.role, hostname: this.hostname, advertiseUrl: this.#leaser.self.advertiseUrl, primary: primary?.hostname ?? null, proxyUrl: this.proxyUrl };
    return nodeInfo({ node, url, candidate: this.#leaser.candidate, store: this.store, roles: this.#roles, token: this.config.http.token! });
  }

  /** The TXID this node has of `db` (0 when it has none). */
  txid(db: string): number {
    return this.store.dbs.get(db)?.pos.txid ?? 0;
  }

  primaryInfo(): Promise<PrimaryInfo | undefined> {
    return this.#elector.primaryInfo();
  }

  /** Hands the lease to a caught-up candidate (`to`, or the one furthest along); the new primary's id. */
  handoff(to?: string): Promise<string> {
    return this.#elector.handoff(to);
  }

  /** A request a replica cannot serve (handoff, exec, promote's request) goes to the primary; its answer comes back as is. */
  callPrimary(pathname: string, body: unknown, timeoutMs?: number): Promise<ApiResponse> {
    return this.#link.call(pathname, body, timeoutMs);
  }

  waitForReplicas(db: string, txid: number, n: number, timeoutMs: number): Promise<string[]> {
    return this.#link.waitForReplicas(db, txid, n, timeoutMs);
  }

  /** Hands the lease to a candidate if one streams from here, stops the API, ships and syncs what is left, and gives the lease up. */
  async stop(): Promise<void> {
    if (this.role === 'primary' && this.#elector.canHandOff && this.streamServer?.replicas.some((r) => r.candidate)) {
      await this.handoff().catch((err: unknown) => this.logger.warn({ err: (err as Error).message }, 'no handoff before stopping'));
    }
    await this.#elector.halt();
    await this.#proxy?.close();
    await this.#roles.stop();
    await this.#api?.close();
    this.store.close();
    await this.#elector.release();
    this.#dataDirLock?.release();
    this.logger.info('litefleet node stopped');
  }
}
