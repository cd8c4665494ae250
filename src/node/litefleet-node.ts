import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import type http from 'node:http';
import path from 'node:path';
import type { Logger } from 'pino';
import { ApiServer, readJsonBody, RequestError, type ApiRoute } from '../api/api-server.ts';
import { createMetrics } from '../api/metrics.ts';
import type { Config } from '../config/schema.ts';
import { ConfigError } from '../errors.ts';
import { createLeaser } from '../lease/create-leaser.ts';
import type { Lease, Leaser } from '../lease/leaser.ts';
import { formatHex64 } from '../ltx/checksum.ts';
import type { CommitEvent } from '../capture/database-capture.ts';
import { Store } from '../store/store.ts';
import { ReplicaStream, type ReplicaTxEvent } from '../stream/replica-stream.ts';
import { StreamServer, type ConnectedReplica } from '../stream/stream-server.ts';
import { formatNodeId, loadNodeId, newClusterId, readClusterId, writeClusterId } from './identity.ts';

/** The role a node plays. */
export type Role = 'primary' | 'replica';

/** One node of the cluster as `litefleet status` shows it. */
export interface ClusterNode {
  id: string;
  role: Role;
  url: string | null;
  connectedSince: number | null;
  databases: Array<{ name: string; txid: number; lagTxids: number; lagMs: number }>;
}

/** What GET /info answers. */
export interface NodeInfo {
  node: { id: string; role: Role; hostname: string; advertiseUrl: string; primary: string | null };
  databases: Array<{ name: string; txid: number; checksum: string; pageSize: number; pages: number }>;
  /** Every node of the cluster this node knows of (the primary knows its connected replicas). */
  nodes: ClusterNode[];
}

/** One line of GET /events. */
export type NodeEvent =
  | { type: 'role'; role: Role; primary: string | null }
  | { type: 'tx'; db: string; txid: number; checksum: string };

/**
 * One litefleet node: its identity, lease, databases (captured on the primary, applied on a
 * replica) and API, started and stopped as one.
 */
export class LitefleetNode extends EventEmitter {
  readonly config: Config;
  readonly logger: Logger;
  readonly store: Store;
  readonly nodeId: bigint;
  readonly #leaser: Leaser;
  #lease: Lease | undefined;
  #api: ApiServer | undefined;
  #streamServer: StreamServer | undefined;
  #replica: ReplicaStream | undefined;
  #port = 0;

  constructor(config: Config, logger: Logger) {
    super();
    if (!config.http.token) {
      throw new ConfigError('http.token is required: every node of a cluster shares it, e.g. "token: ${LITEFLEET_TOKEN}"');
    }
    this.setMaxListeners(0);
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
    this.store.on('commit', (ev: CommitEvent) => this.#event({ type: 'tx', db: ev.name, txid: ev.txid, checksum: formatHex64(ev.checksum) }));
  }

  /** This node's role right now. */
  get role(): Role {
    return this.#lease ? 'primary' : 'replica';
  }

  /** The port the API listens on (useful with port 0 in tests). */
  get port(): number {
    return this.#port;
  }

  /** Opens the API, then takes the lease and captures if this node is the primary, or follows the primary. */
  async start(): Promise<void> {
    this.#api = new ApiServer({
      token: this.config.http.token!,
      routes: this.#routes(),
      metrics: createMetrics(this.store, () => this.role === 'primary'),
      logger: this.logger,
    });
    this.#port = await this.#api.listen(this.config.http.addr);
    const primaryFile = path.join(this.config.dir, '.primary');
    if (this.#leaser.candidate) {
      this.#lease = await this.#leaser.acquire();
      let clusterId = readClusterId(this.config['data-dir']);
      if (!clusterId) {
        clusterId = newClusterId();
        writeClusterId(this.config['data-dir'], clusterId);
      }
      fs.rmSync(primaryFile, { force: true });
      this.store.startCapture();
      this.#streamServer = new StreamServer({ store: this.store, clusterId, nodeId: this.nodeId, logger: this.logger });
    } else {
      const primary = await this.#leaser.primaryInfo();
      fs.mkdirSync(this.config.dir, { recursive: true });
      // As LiteFS does: apps (and litefs-js style helpers) read who the primary is from this file.
      if (primary) fs.writeFileSync(primaryFile, primary.hostname);
      this.#replica = new ReplicaStream({
        dir: this.config.dir,
        dataDir: this.config['data-dir'],
        nodeId: this.nodeId,
        token: this.config.http.token!,
        logger: this.logger,
        primaryUrl: async () => (await this.#leaser.primaryInfo())?.advertiseUrl,
        selfUrl: `http://127.0.0.1:${this.#port}`,
        retentionMs: this.config.ltx.retention,
        retentionIntervalMs: this.config.ltx['retention-interval'],
      });
      this.#replica.on('tx', (ev: ReplicaTxEvent) => this.#event({ type: 'tx', db: ev.name, txid: ev.txid, checksum: formatHex64(ev.checksum) }));
      this.#replica.start();
    }
    const primary = await this.#leaser.primaryInfo();
    this.#event({ type: 'role', role: this.role, primary: primary?.hostname ?? null });
    this.logger.info(
      { id: formatNodeId(this.nodeId), role: this.role, api: this.config.http.addr, dir: this.config.dir, dataDir: path.resolve(this.config['data-dir']) },
      'litefleet node started',
    );
  }

  /** Position and geometry of every database on this node. */
  databases(): NodeInfo['databases'] {
    const list = this.#replica
      ? [...this.#replica.databases.values()].map((d) => ({ name: d.name, txid: d.pos.txid, checksum: d.pos.checksum, pageSize: d.geometry.pageSize, pages: d.geometry.pageCount }))
      : this.store.databases();
    return list.map((d) => ({ ...d, checksum: formatHex64(d.checksum) })).sort((a, b) => a.name.localeCompare(b.name));
  }

  /** What /info and `litefleet status` show. */
  async info(): Promise<NodeInfo> {
    const primary = await this.#leaser.primaryInfo();
    const hostname = this.config.lease.hostname ?? '';
    const self: NodeInfo['node'] = { id: formatNodeId(this.nodeId), role: this.role, hostname, advertiseUrl: this.#leaser.advertiseUrl, primary: primary?.hostname ?? null };
    const databases = this.databases();
    return { node: self, databases, nodes: await this.#clusterNodes(databases) };
  }

  /** Stops the API and the stream, captures or applies what is left, syncs, and gives up the lease. */
  async stop(): Promise<void> {
    this.#streamServer?.closeAll();
    await this.#api?.close();
    this.#replica?.stop();
    this.store.close();
    await this.#lease?.close();
    this.#lease = undefined;
    await this.#leaser.close();
    this.logger.info('litefleet node stopped');
  }

  #event(ev: NodeEvent): void {
    this.emit('event', ev);
  }

  /** This node and the others it knows: the primary lists its replicas; a replica asks the primary. */
  async #clusterNodes(databases: NodeInfo['databases']): Promise<ClusterNode[]> {
    const self: ClusterNode = {
      id: formatNodeId(this.nodeId),
      role: this.role,
      url: this.role === 'primary' ? this.#leaser.advertiseUrl : `http://127.0.0.1:${this.#port}`,
      connectedSince: this.#replica?.connectedAt ?? null,
      databases: databases.map((d) => ({ name: d.name, txid: d.txid, ...this.#lagOf(d.name) })),
    };
    if (this.#streamServer) {
      const txids = new Map(databases.map((d) => [d.name, d.txid]));
      const replicas = this.#streamServer.replicas.map((r) => ({
        id: r.nodeId,
        role: 'replica' as const,
        url: r.url ?? null,
        connectedSince: r.connectedAt,
        databases: Object.entries(r.databases).map(([name, d]) => ({ name, txid: d.txid, lagTxids: Math.max(0, (txids.get(name) ?? 0) - d.txid), lagMs: d.lagMs })),
      }));
      return [self, ...replicas];
    }
    const url = this.#replica?.primaryUrl;
    if (!url) return [self];
    try {
      const res = await fetch(`${url.replace(/\/$/, '')}/info`, { headers: { authorization: `Bearer ${this.config.http.token}` }, signal: AbortSignal.timeout(2_000) });
      if (!res.ok) return [self];
      const theirs = (await res.json()) as NodeInfo;
      return theirs.nodes.map((n) => (n.id === self.id ? self : n));
    } catch {
      return [self];
    }
  }

  #lagOf(name: string): { lagTxids: number; lagMs: number } {
    if (!this.#replica) return { lagTxids: 0, lagMs: 0 };
    const lag = this.#replica.lag(name);
    return { lagTxids: lag.txids, lagMs: lag.ms };
  }

  /** GET /events: newline-delimited JSON, starting with the role and every position, then live. */
  #events(req: http.IncomingMessage, res: http.ServerResponse): void {
    res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
    const send = (ev: NodeEvent) => res.write(`${JSON.stringify(ev)}\n`);
    void this.#leaser.primaryInfo().then((p) => {
      send({ type: 'role', role: this.role, primary: p?.hostname ?? null });
      for (const d of this.databases()) send({ type: 'tx', db: d.name, txid: d.txid, checksum: d.checksum });
      this.on('event', send);
    });
    const beat = setInterval(() => res.write('\n'), 15_000);
    req.socket.setNoDelay(true);
    res.on('close', () => {
      clearInterval(beat);
      this.off('event', send);
    });
  }

  #routes(): ApiRoute[] {
    return [
      { method: 'GET', path: '/health', auth: false, handle: () => ({ status: 200, body: { status: 'ok', role: this.role } }) },
      { method: 'GET', path: '/info', auth: true, handle: async () => ({ status: 200, body: await this.info() }) },
      { method: 'GET', path: '/events', auth: true, handle: (req, _url, res) => this.#events(req, res) },
      {
        method: 'POST',
        path: '/stream',
        auth: true,
        handle: async (req, _url, res) => {
          if (!this.#streamServer) {
            const p = await this.#leaser.primaryInfo();
            throw new RequestError(503, `this node is not the primary${p ? `; the primary is ${p.hostname} at ${p.advertiseUrl}` : ''}`);
          }
          await this.#streamServer.handle(req, res);
        },
      },
      {
        method: 'POST',
        path: '/replica-status',
        auth: true,
        handle: async (req) => {
          const body = (await readJsonBody(req)) as { nodeId?: unknown; databases?: unknown };
          if (typeof body.nodeId !== 'string' || typeof body.databases !== 'object' || body.databases === null) {
            throw new RequestError(400, 'expected {"nodeId": "...", "databases": {"<db>": {"txid": N, "lagMs": N}}}');
          }
          const known = this.#streamServer?.reportStatus(body.nodeId, body.databases as ConnectedReplica['databases']) ?? false;
          return { status: known ? 204 : 404, body: known ? '' : { error: 'no stream from this replica' } };
        },
      },
    ];
  }
}
