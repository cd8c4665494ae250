import path from 'node:path';
import type { Logger } from 'pino';
import { ApiServer, type ApiRoute } from '../api/api-server.ts';
import { createMetrics } from '../api/metrics.ts';
import type { Config } from '../config/schema.ts';
import { ConfigError } from '../errors.ts';
import { createLeaser } from '../lease/create-leaser.ts';
import type { Lease, Leaser } from '../lease/leaser.ts';
import { formatHex64 } from '../ltx/checksum.ts';
import { Store } from '../store/store.ts';
import { formatNodeId, loadNodeId } from './identity.ts';

/** The role a node plays. */
export type Role = 'primary' | 'replica';

/** What GET /info answers. */
export interface NodeInfo {
  node: { id: string; role: Role; hostname: string; advertiseUrl: string; primary: string | null };
  databases: Array<{ name: string; txid: number; checksum: string; pageSize: number; pages: number }>;
}

/**
 * One litefleet node: its identity, lease, store of databases and API, started and stopped as one.
 */
export class LitefleetNode {
  readonly config: Config;
  readonly logger: Logger;
  readonly store: Store;
  readonly nodeId: bigint;
  readonly #leaser: Leaser;
  #lease: Lease | undefined;
  #api: ApiServer | undefined;
  #port = 0;

  constructor(config: Config, logger: Logger) {
    if (!config.http.token) {
      throw new ConfigError('http.token is required: every node of a cluster shares it, e.g. "token: ${LITEFLEET_TOKEN}"');
    }
    this.config = config;
    this.logger = logger;
    this.nodeId = loadNodeId(config['data-dir']);
    this.#leaser = createLeaser(config);
    this.store = new Store({
      dir: config.dir,
      dataDir: config['data-dir'],
      nodeId: this.nodeId,
      logger,
      resetFrames: config.capture['reset-frames'],
      pollIntervalMs: config.capture['poll-interval'],
      retentionMs: config.ltx.retention,
      retentionIntervalMs: config.ltx['retention-interval'],
      compress: config.ltx.compress,
    });
  }

  /** This node's role right now. */
  get role(): Role {
    return this.#lease ? 'primary' : 'replica';
  }

  /** The port the API listens on (useful with port 0 in tests). */
  get port(): number {
    return this.#port;
  }

  /** Takes the lease if this node is the primary, starts capture there, and opens the API. */
  async start(): Promise<void> {
    if (this.#leaser.candidate) {
      this.#lease = await this.#leaser.acquire();
      this.store.startCapture();
    }
    this.#api = new ApiServer({
      token: this.config.http.token!,
      routes: this.#routes(),
      metrics: createMetrics(this.store, () => this.role === 'primary'),
      logger: this.logger,
    });
    this.#port = await this.#api.listen(this.config.http.addr);
    this.logger.info(
      { id: formatNodeId(this.nodeId), role: this.role, api: this.config.http.addr, dir: this.config.dir, dataDir: path.resolve(this.config['data-dir']) },
      'litefleet node started',
    );
  }

  /** What /info and `litefleet status` show. */
  async info(): Promise<NodeInfo> {
    const primary = await this.#leaser.primaryInfo();
    const hostname = this.config.lease.hostname ?? '';
    return {
      node: { id: formatNodeId(this.nodeId), role: this.role, hostname, advertiseUrl: this.#leaser.advertiseUrl, primary: primary?.hostname ?? null },
      databases: this.store.databases().map((d) => ({ ...d, checksum: formatHex64(d.checksum) })),
    };
  }

  /** Stops the API, captures what is left, syncs, and gives up the lease. */
  async stop(): Promise<void> {
    await this.#api?.close();
    this.store.close();
    await this.#lease?.close();
    this.#lease = undefined;
    await this.#leaser.close();
    this.logger.info('litefleet node stopped');
  }

  #routes(): ApiRoute[] {
    return [
      { method: 'GET', path: '/health', auth: false, handle: () => ({ status: 200, body: { status: 'ok', role: this.role } }) },
      { method: 'GET', path: '/info', auth: true, handle: async () => ({ status: 200, body: await this.info() }) },
    ];
  }
}
