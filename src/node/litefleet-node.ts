import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import type http from 'node:http';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Logger } from 'pino';
import { ApiServer, readJsonBody, type ApiResponse, type ApiRoute } from '../api/api-server.ts';
import { createMetrics } from '../api/metrics.ts';
import type { Config } from '../config/schema.ts';
import { ConfigError, ConflictError, HandoffFailedError, HandoffUnsupportedError, InvalidRequestError, NoPrimaryError, NotFoundError, NotPrimaryError, UnsupportedDatabaseStateError } from '../errors.ts';
import { createLeaser } from '../lease/create-leaser.ts';
import { LeaseExpiredError, PrimaryExistsError, type Lease, type Leaser, type PrimaryInfo } from '../lease/leaser.ts';
import { headerFields } from '../log/segment-log.ts';
import { formatHex64 } from '../ltx/checksum.ts';
import { formatPos, parsePos, type Pos } from '../ltx/position.ts';
import { validateDatabaseName } from '../store/names.ts';
import { BackupShipper } from '../backup/backup-shipper.ts';
import { createBackupTarget } from '../backup/create-target.ts';
import { ProxyServer, type ProxyHost } from '../proxy/proxy-server.ts';
import { execScript } from '../sql/exec-sql.ts';
import { filePages, importIntoDatabase, importNewDatabase, type DatabaseRead } from '../sql/import-export.ts';
import type { CommitEvent, DB } from '../store/db.ts';
import { snapshotLtx } from '../capture/snapshot-ltx.ts';
import { Store } from '../store/store.ts';
import { ReplicaStream, type HandoffEvent } from '../stream/replica-stream.ts';
import { StreamServer, type ConnectedReplica } from '../stream/stream-server.ts';
import { uiRoutes } from '../ui/ui-routes.ts';
import { formatNodeId, loadNodeId, newClusterId, readClusterId, writeClusterId } from './identity.ts';
import { catchUpFromPeers, positionsOf } from './peer-catch-up.ts';
import { PeerBook } from './peers.ts';

/** The role a node plays. */
export type Role = 'primary' | 'replica';

/** One node of the cluster as `litefleet status` shows it. */
export interface ClusterNode {
  id: string;
  role: Role;
  url: string | null;
  /** May take the lease (a handoff target). */
  candidate?: boolean;
  connectedSince: number | null;
  databases: Array<{ name: string; txid: number; lagTxids: number; lagMs: number }>;
}

/** What GET /info answers. */
export interface NodeInfo {
  node: { id: string; role: Role; hostname: string; advertiseUrl: string; primary: string | null; proxyUrl: string | null };
  databases: Array<{ name: string; txid: number; checksum: string; pageSize: number; pages: number }>;
  /** Every node of the cluster this node knows of (the primary knows its connected replicas). */
  nodes: ClusterNode[];
}

/** How long a primary waits for the app's running transaction when it must stop writes. */
const PAUSE_TIMEOUT_MS = 5_000;
// A handoff target must have the final transactions and take the lease within this.
const HANDOFF_TIMEOUT_MS = 5_000;
// Fence this long before the lease's end by the local clock, so the old primary has stopped
// writing before any other node can take the lease.
const LEASE_MARGIN_MS = 200;
const LEASE_CHECK_MS = 100;
// A seed script sent to POST /db/<name>/exec may be large.
const EXEC_BODY_LIMIT = 256 * 1024 * 1024;

/** One line of GET /events. */
export type NodeEvent =
  | { type: 'role'; role: Role; primary: string | null }
  | { type: 'tx'; db: string; txid: number; checksum: string };

/**
 * One litefleet node: its identity, lease, databases (captured on the primary, applied on a
 * replica) and API, started and stopped as one. With etcd or Consul it runs the election: a
 * candidate takes a free lease once caught up, a primary renews it and fences itself when it
 * cannot, and the lease can be handed to a caught-up candidate without losing a write.
 */
export class LitefleetNode extends EventEmitter implements ProxyHost {
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
  /** Role changes one at a time: a promotion and a demotion must never interleave. */
  #transition: Promise<void> = Promise.resolve();
  #timers: NodeJS.Timeout[] = [];
  #leaseTimer: NodeJS.Timeout | undefined;
  #renewing = false;
  #electing = false;
  #stopping = false;
  #noPrimarySince: number | undefined;
  /** A node that handed the lease off does not compete for it again before this time. */
  #quietUntil = 0;
  #knownPrimary: string | undefined;
  #ready: Promise<void> | undefined;
  #proxy: ProxyServer | undefined;
  #backup: BackupShipper | undefined;
  readonly #peers: PeerBook;
  #proxyPort = 0;
  /** Proxy URLs of primaries, by their API URL (asked once per primary). */
  readonly #proxyUrls = new Map<string, string | undefined>();

  constructor(config: Config, logger: Logger) {
    super();
    if (!config.http.token) {
      throw new ConfigError('http.token is required: every node of a cluster shares it, e.g. "token: ${LITEFLEET_TOKEN}"');
    }
    this.setMaxListeners(0);
    this.config = config;
    this.logger = logger;
    this.nodeId = loadNodeId(config['data-dir']);
    this.#leaser = createLeaser(config, formatNodeId(this.nodeId));
    this.#peers = new PeerBook(config['data-dir'], formatNodeId(this.nodeId));
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
      segmentAgeMs: Math.min(60_000, Math.max(100, config.ltx.retention / 4)),
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

  /** This node's name: lease.hostname with etcd/Consul (with static it names the primary), else the OS hostname. */
  get hostname(): string {
    return (this.#leaser.dynamic || this.#leaser.candidate ? this.config.lease.hostname : undefined) ?? os.hostname();
  }

  /** Where this node's proxy answers, as other nodes reach it (null without a proxy). */
  get proxyUrl(): string | null {
    if (!this.config.proxy) return null;
    const host = new URL(this.#leaser.dynamic || this.#leaser.candidate ? this.#leaser.advertiseUrl : 'http://127.0.0.1').hostname;
    return `http://${host.includes(':') ? `[${host}]` : host}:${this.#proxyPort}`;
  }

  /** ProxyHost: the primary's hostname and proxy URL. */
  async primaryProxy(): Promise<{ hostname: string; proxyUrl: string | undefined } | undefined> {
    if (this.role === 'primary') return { hostname: this.hostname, proxyUrl: this.proxyUrl ?? undefined };
    const p = await this.#primaryInfo();
    if (!p || p.nodeId === formatNodeId(this.nodeId)) return undefined;
    if (!this.#proxyUrls.has(p.advertiseUrl)) {
      const theirs = await this.#infoOf(p.advertiseUrl);
      if (!theirs) return { hostname: p.hostname, proxyUrl: undefined };
      this.#proxyUrls.set(p.advertiseUrl, theirs.node.proxyUrl ?? undefined);
    }
    return { hostname: p.hostname, proxyUrl: this.#proxyUrls.get(p.advertiseUrl) };
  }

  /** ProxyHost: the TXID this node has of `db`. */
  txid(db: string): number {
    return this.store.dbs.get(db)?.pos.txid ?? 0;
  }

  /** ProxyHost: on the primary, the TXID of `db` once what was committed to it so far is captured. */
  async commitTxid(db: string): Promise<number | undefined> {
    const cap = this.role === 'primary' ? this.store.dbs.get(db)?.capture : undefined;
    return cap ? (await cap.settle()).txid : undefined;
  }

  /** ProxyHost: how far behind the primary this node is for `db`, in ms. */
  lagMs(db: string): number {
    return this.#lagOf(db).lagMs;
  }

  /** Whether this node may become primary. */
  get candidate(): boolean {
    return this.#leaser.candidate;
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
    fs.mkdirSync(this.config.dir, { recursive: true });
    if (this.config.proxy) {
      this.#proxy = new ProxyServer(this.config.proxy, this, this.logger);
      this.#proxyPort = await this.#proxy.listen();
    }
    if (!this.#leaser.dynamic && this.#leaser.candidate) {
      await this.#promote(await this.#leaser.acquire());
    } else {
      this.#startReplica();
      this.#event({ type: 'role', role: 'replica', primary: null });
    }
    if (this.#leaser.dynamic) {
      this.#timers.push(setInterval(() => void this.#elect(), Math.min(this.config.lease['reconnect-delay'], 1_000)));
      void this.#elect();
    } else {
      await this.#followPrimary();
    }
    this.logger.info(
      { id: formatNodeId(this.nodeId), role: this.role, api: this.config.http.addr, dir: this.config.dir, dataDir: path.resolve(this.config['data-dir']) },
      'litefleet node started',
    );
    if (this.config.lease.promote) this.ready().catch(() => {});
  }

  /**
   * Resolves once this node can serve its app: the primary holds the lease; a replica has caught
   * up with a primary. With `promote`, a caught-up candidate first asks the primary for the lease.
   */
  ready(): Promise<void> {
    this.#ready ??= this.#becomeReady();
    return this.#ready;
  }

  async #becomeReady(): Promise<void> {
    for (;;) {
      if (this.#stopping) throw new Error('the node is stopping');
      if (this.role === 'primary') return;
      const replica = this.#replica;
      if (replica?.ready && replica.caughtUp()) {
        if (!this.config.lease.promote || !this.#leaser.candidate || !this.#leaser.dynamic) return;
        await this.#askForLease();
        return;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Position and geometry of every database on this node. */
  databases(): NodeInfo['databases'] {
    return this.store.databases().map((d) => ({ ...d, checksum: formatHex64(d.checksum) }));
  }

  /** What /info and `litefleet status` show. */
  async info(): Promise<NodeInfo> {
    const primary = await this.#primaryInfo();
    const self: NodeInfo['node'] = { id: formatNodeId(this.nodeId), role: this.role, hostname: this.hostname, advertiseUrl: this.#leaser.advertiseUrl, primary: primary?.hostname ?? null, proxyUrl: this.proxyUrl };
    const databases = this.databases();
    return { node: self, databases, nodes: await this.#clusterNodes(databases) };
  }

  /**
   * Hands the lease to a caught-up candidate (`to`, a node id, or the one furthest along): the
   * app's writes pause, the target receives the final transactions and takes the lease, and this
   * node becomes its replica. On any failure writes resume here and the error is thrown.
   */
  async handoff(to?: string): Promise<string> {
    let target = '';
    await this.#serial(async () => {
      if (this.role !== 'primary') throw new NotPrimaryError('this node is not the primary');
      if (!this.#leaser.dynamic) throw new HandoffUnsupportedError('the static lease cannot be handed off; use etcd or Consul');
      target = this.#pickTarget(to);
      const lease = this.#lease!;
      const started = performance.now();
      const final = this.store.pauseWrites(PAUSE_TIMEOUT_MS);
      try {
        // The backup gets the final transactions too, so the next primary continues its chain.
        await this.#backup?.flush();
        await lease.handoff(target);
        await this.#streamServer!.handoff(target, final, HANDOFF_TIMEOUT_MS);
        await this.#waitForPrimary(target, HANDOFF_TIMEOUT_MS);
      } catch (err) {
        this.logger.error({ target, err: (err as Error).message }, 'handoff failed; staying primary');
        await lease.handoff(undefined).catch((e: unknown) => this.logger.error({ err: e }, 'could not take the lease back after a failed handoff'));
        this.store.resumeWrites();
        throw new HandoffFailedError(`handoff to ${target} failed: ${(err as Error).message}`);
      }
      this.#quietUntil = Date.now() + this.config.lease['demote-delay'];
      this.#demoteLocked(`handed the lease to ${target}`, true);
      this.logger.info({ target, writesPausedMs: Math.round(performance.now() - started) }, 'handoff done');
    });
    return target;
  }

  /** Stops the API and the stream, captures or applies what is left, syncs, and gives up the lease (handing it off first when it can). */
  async stop(): Promise<void> {
    if (this.role === 'primary' && this.#leaser.dynamic && this.#streamServer?.replicas.some((r) => r.candidate)) {
      await this.handoff().catch((err: unknown) => this.logger.warn({ err: (err as Error).message }, 'no handoff before stopping'));
    }
    this.#stopping = true;
    for (const t of this.#timers) clearInterval(t);
    this.#timers = [];
    clearInterval(this.#leaseTimer);
    await this.#transition;
    await this.#proxy?.close();
    await this.#backup?.stop().catch((err: unknown) => this.logger.error({ err }, 'final backup failed'));
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

  /** Runs a role change after the ones before it. */
  #serial(fn: () => Promise<void>): Promise<void> {
    const run = this.#transition.then(fn);
    this.#transition = run.catch(() => {});
    return run;
  }

  async #primaryInfo(): Promise<PrimaryInfo | undefined> {
    return this.#leaser.primaryInfo().catch(() => undefined);
  }

  /** Tells the replica stream and the `.primary` file who the primary is. */
  async #followPrimary(): Promise<PrimaryInfo | undefined> {
    const primary = await this.#primaryInfo();
    const file = path.join(this.config.dir, '.primary');
    if (this.role !== 'replica') return primary;
    // As LiteFS does: apps (and litefs-js style helpers) read who the primary is from this file.
    if (primary && primary.nodeId !== formatNodeId(this.nodeId)) fs.writeFileSync(file, primary.hostname);
    else fs.rmSync(file, { force: true });
    if (primary?.advertiseUrl !== this.#knownPrimary) {
      this.#knownPrimary = primary?.advertiseUrl;
      this.#event({ type: 'role', role: 'replica', primary: primary?.hostname ?? null });
    }
    this.#replica?.follow(primary?.advertiseUrl);
    return primary;
  }

  /** One round of the election (dynamic leases): follow the primary, or take a free lease. */
  async #elect(): Promise<void> {
    if (this.#electing || this.#stopping || this.role === 'primary') return;
    this.#electing = true;
    try {
      const primary = await this.#followPrimary();
      const me = formatNodeId(this.nodeId);
      if (primary && primary.handoffTo !== me) {
        this.#noPrimarySince = undefined;
        return;
      }
      this.#noPrimarySince ??= Date.now();
      if (!this.#leaser.candidate || Date.now() < this.#quietUntil || primary?.handoffTo === me) return;
      // Whatever a reachable node applied from the last primary, this one gets before it may lead.
      if ((await catchUpFromPeers({ store: this.store, peers: this.#peers.list, token: this.config.http.token!, logger: this.logger })) === 'wait') return;
      if (this.#lease || this.#stopping) return;
      // Behind the primary we last followed (or never synced with one): give the others a chance first.
      const behind = !this.#replica?.caughtUp() || readClusterId(this.config['data-dir']) === undefined;
      if (behind && Date.now() - this.#noPrimarySince < this.config.lease['catch-up-timeout']) return;
      await this.#takeLease(behind ? 'the primary is gone and no caught-up candidate took over' : 'the primary is gone');
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, 'election round failed');
    } finally {
      this.#electing = false;
    }
  }

  async #takeLease(why: string): Promise<void> {
    await this.#serial(async () => {
      if (this.role === 'primary' || this.#stopping) return;
      let lease: Lease;
      try {
        lease = await this.#leaser.acquire();
      } catch (err) {
        if (err instanceof PrimaryExistsError) return;
        throw err;
      }
      this.logger.info({ why }, 'took the primary lease');
      await this.#promote(lease);
    });
  }

  /** Replica → primary: closes the replica databases and captures from their positions on. */
  async #promote(lease: Lease): Promise<void> {
    this.#lease = lease;
    this.#replica?.stop();
    this.#replica = undefined;
    let clusterId = readClusterId(this.config['data-dir']);
    if (!clusterId) {
      clusterId = newClusterId();
      writeClusterId(this.config['data-dir'], clusterId);
    }
    fs.rmSync(path.join(this.config.dir, '.primary'), { force: true });
    this.store.startCapture(lease.term);
    if (this.config.backup) {
      const b = this.config.backup;
      this.#backup = new BackupShipper({
        store: this.store,
        target: createBackupTarget(b),
        logger: this.logger,
        schedule: { l1: b['l1-interval'], l2: b['l2-interval'], l3: b['l3-interval'], snapshot: b['snapshot-interval'], retention: b.retention, retentionInterval: b['retention-interval'] },
        leaseValid: () => this.#leaseValid(),
      });
      this.#backup.start();
    }
    this.#streamServer = new StreamServer({ store: this.store, clusterId, nodeId: this.nodeId, selfUrl: this.#leaser.advertiseUrl, logger: this.logger, leaseValid: () => this.#leaseValid(), onReplica: (p) => this.#peers.note([p]) });
    this.#knownPrimary = this.#leaser.advertiseUrl;
    if (lease.ttl !== Infinity) this.#leaseTimer = setInterval(() => void this.#keepLease(), LEASE_CHECK_MS);
    this.#event({ type: 'role', role: 'primary', primary: this.config.lease.hostname ?? null });
    this.logger.info({ databases: this.store.databases().map((d) => `${d.name}@${d.txid}`) }, 'this node is now the primary');
  }

  /** Where other nodes reach this one: its advertise-url with etcd/Consul (with static it names the primary, so loopback). */
  get #selfUrl(): string {
    return this.#leaser.dynamic ? this.#leaser.advertiseUrl : `http://127.0.0.1:${this.#port}`;
  }

  #leaseValid(): boolean {
    const lease = this.#lease;
    return lease !== undefined && (lease.ttl === Infinity || Date.now() < lease.renewedAt + lease.ttl - LEASE_MARGIN_MS);
  }

  /** Renews at half the TTL; fences (stops writes, becomes a replica) when the lease is lost or about to run out unrenewed. */
  async #keepLease(): Promise<void> {
    const lease = this.#lease;
    if (!lease || this.#stopping) return;
    if (!this.#leaseValid()) {
      await this.#demote('the lease could not be renewed before it ran out');
      return;
    }
    if (this.#renewing || Date.now() - lease.renewedAt < lease.ttl / 2) return;
    this.#renewing = true;
    try {
      await lease.renew();
    } catch (err) {
      if (err instanceof LeaseExpiredError) await this.#demote(err.message);
      else this.logger.warn({ err: (err as Error).message }, 'lease renewal failed; retrying');
    } finally {
      this.#renewing = false;
    }
  }

  async #demote(reason: string): Promise<void> {
    await this.#serial(async () => {
      if (this.role !== 'primary') return;
      this.#demoteLocked(reason, false);
      await this.#lease?.close().catch(() => {});
    });
  }

  /**
   * Primary → replica, inside a transition: the app's writes stop at once (the write lock is
   * taken, or kept from a handoff's pause) and stay stopped, as the lock passes to the replica.
   */
  #demoteLocked(reason: string, paused: boolean): void {
    this.logger.warn({ reason }, 'stepping down to replica');
    // Only the primary backs up; the next one continues the chain.
    this.#backup?.halt();
    this.#backup = undefined;
    this.#streamServer?.closeAll();
    this.#streamServer = undefined;
    try {
      if (!paused) this.store.pauseWrites(PAUSE_TIMEOUT_MS);
    } catch (err) {
      this.logger.error({ err: (err as Error).message }, 'could not keep the write lock while stepping down; writes made meanwhile will be found and set aside');
      this.store.close();
    }
    const handedOff = this.#lease;
    this.#lease = undefined;
    if (paused) handedOff?.close().catch(() => {});
    clearInterval(this.#leaseTimer);
    this.#startReplica();
    this.#knownPrimary = undefined;
    void this.#elect();
  }

  #startReplica(): void {
    this.store.startApply();
    this.#replica = new ReplicaStream({
      store: this.store,
      dataDir: this.config['data-dir'],
      nodeId: this.nodeId,
      token: this.config.http.token!,
      logger: this.logger,
      primaryUrl: async () => {
        const p = await this.#leaser.primaryInfo();
        return p && p.nodeId !== formatNodeId(this.nodeId) ? p.advertiseUrl : undefined;
      },
      selfUrl: this.#selfUrl,
      candidate: this.#leaser.candidate,
      onPeers: (nodes) => this.#peers.note(nodes),
    });
    this.#replica.on('handoff', (ev: HandoffEvent) => {
      if (ev.caughtUp) void this.#takeLease('the primary handed the lease to this node').catch((err: unknown) => this.logger.error({ err }, 'could not take the handed-off lease'));
      else this.logger.error('the primary handed the lease over, but this node does not have its final transactions; not taking it');
    });
    this.#replica.start();
  }

  /** The replica to hand the lease to: `to` if it is a connected candidate, else the candidate furthest along. */
  #pickTarget(to: string | undefined): string {
    const candidates = this.#streamServer!.replicas.filter((r) => r.candidate);
    if (to) {
      const wanted = to.toUpperCase();
      const found = candidates.find((r) => r.nodeId === wanted || r.url === to);
      if (!found) throw new ConflictError(`node ${to} is not a candidate replica streaming from this primary`);
      return found.nodeId;
    }
    const behind = (r: ConnectedReplica) => this.store.databases().reduce((sum, d) => sum + Math.max(0, d.txid - (r.databases[d.name]?.txid ?? 0)), 0);
    const best = candidates.sort((a, b) => behind(a) - behind(b))[0];
    if (!best) throw new ConflictError('no candidate replica is streaming from this primary');
    return best.nodeId;
  }

  /** Waits until the lease names node `nodeId`. */
  async #waitForPrimary(nodeId: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if ((await this.#primaryInfo())?.nodeId === nodeId) return;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(`node ${nodeId} did not take the lease within ${timeoutMs} ms`);
  }

  /** `lease.promote`: a caught-up candidate asks the primary to hand the lease over, and waits for it. */
  async #askForLease(): Promise<void> {
    const primary = await this.#primaryInfo();
    if (!primary) return;
    const me = formatNodeId(this.nodeId);
    this.logger.info({ primary: primary.hostname }, 'asking the primary to hand the lease over (lease.promote)');
    try {
      const res = await this.#forwardToPrimary('/handoff', { to: me }, HANDOFF_TIMEOUT_MS * 3);
      if (res.status !== 200) throw new Error(`${res.status} ${JSON.stringify(res.body)}`);
      const deadline = Date.now() + HANDOFF_TIMEOUT_MS * 2;
      while (this.role !== 'primary' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, 'promotion by handoff failed; carrying on as a replica');
    }
  }

  /** Another node's GET /info (undefined when it answers with an error; a network error throws). */
  async #infoOf(url: string): Promise<NodeInfo | undefined> {
    const res = await fetch(`${url.replace(/\/$/, '')}/info`, { headers: { authorization: `Bearer ${this.config.http.token}` }, signal: AbortSignal.timeout(2_000) });
    return res.ok ? ((await res.json()) as NodeInfo) : undefined;
  }

  /** This node and the others it knows: the primary lists its replicas; a replica asks the primary. */
  async #clusterNodes(databases: NodeInfo['databases']): Promise<ClusterNode[]> {
    const self: ClusterNode = {
      id: formatNodeId(this.nodeId),
      role: this.role,
      url: this.role === 'primary' ? this.#leaser.advertiseUrl : this.#selfUrl,
      candidate: this.#leaser.candidate,
      connectedSince: this.#replica?.connectedAt ?? null,
      databases: databases.map((d) => ({ name: d.name, txid: d.txid, ...this.#lagOf(d.name) })),
    };
    if (this.#streamServer) {
      const txids = new Map(databases.map((d) => [d.name, d.txid]));
      const replicas = this.#streamServer.replicas.map((r) => ({
        id: r.nodeId,
        role: 'replica' as const,
        url: r.url ?? null,
        candidate: r.candidate,
        connectedSince: r.connectedAt,
        databases: Object.entries(r.databases).map(([name, d]) => ({ name, txid: d.txid, lagTxids: Math.max(0, (txids.get(name) ?? 0) - d.txid), lagMs: d.lagMs })),
      }));
      return [self, ...replicas];
    }
    const url = this.#replica?.primaryUrl;
    if (!url) return [self];
    try {
      const theirs = await this.#infoOf(url);
      return theirs ? theirs.nodes.map((n) => (n.id === self.id ? self : n)) : [self];
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
    void this.#primaryInfo().then((p) => {
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

  /** A request a replica cannot serve (handoff, exec, promote's request) goes to the primary; its answer comes back as is. */
  async #forwardToPrimary(pathname: string, body: unknown, timeoutMs = HANDOFF_TIMEOUT_MS * 6): Promise<{ status: number; body: unknown }> {
    const p = await this.#primaryInfo();
    if (!p || p.nodeId === formatNodeId(this.nodeId)) throw new NoPrimaryError('there is no primary to send this to right now');
    const res = await fetch(`${p.advertiseUrl.replace(/\/$/, '')}${pathname}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${this.config.http.token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    return { status: res.status, body: await res.json().catch(() => ({ error: `primary answered ${res.status}` })) };
  }

  /** GET /db/<name>/export: a consistent copy of this node's database, as a file's bytes. */
  async #export(name: string, res: http.ServerResponse): Promise<void> {
    const db = this.#dbOf(name);
    if (db.pos.txid === 0) throw new NotFoundError(`database ${db.name} has no content on this node yet`);
    const snap = db.openSnapshotRead();
    const read: DatabaseRead = { pageSize: snap.pageSize, pageCount: snap.pageCount, txid: snap.pos.txid, pages: () => filePages(snap.pages(), snap.pageSize, snap.pageCount), close: () => snap.close() };
    try {
      res.writeHead(200, { 'content-type': 'application/vnd.sqlite3', 'content-length': read.pageSize * read.pageCount, 'litefleet-txid': String(read.txid) });
      for (const page of read.pages()) {
        if (!res.write(page)) await new Promise((r) => res.once('drain', r));
        if (res.destroyed) break;
      }
      res.end();
    } finally {
      read.close();
    }
  }

  /**
   * GET /db/<name>/ltx?after=<pos>: this node's logged transactions after `pos`, LTX files back to
   * back (a candidate fetches what it lacks from the others before it takes the lease); 409 when
   * the log cannot continue `pos`.
   */
  #ltxAfter(rawName: string, after: string | null, res: http.ServerResponse): ApiResponse | void {
    const db = this.#dbOf(rawName);
    let pos: Pos;
    try {
      pos = parsePos(after ?? '');
    } catch {
      throw new InvalidRequestError('expected ?after=<txid>/<checksum>');
    }
    const at = db.log.checksumAt(pos.txid) ?? (db.pos.txid === pos.txid ? db.pos.checksum : undefined);
    // 'gone': the log no longer reaches back there (ask for a snapshot); 'fork': our histories differ there.
    if (pos.txid >= db.pos.txid || at === undefined || at !== pos.checksum) {
      const reason = pos.txid >= db.pos.txid ? 'not-behind' : at === undefined ? 'gone' : 'fork';
      // With a fork, where this history has been, so the asking node can tell where it forked off.
      const points = reason === 'fork' ? [db.pos, ...db.log.historyPoints()].map(formatPos) : undefined;
      return { status: 409, body: { error: `the log of ${db.name} cannot continue ${formatPos(pos)} (${reason})`, reason, points } };
    }
    const files: Buffer[] = [];
    while (pos.txid < db.pos.txid) {
      const read = db.log.read(pos.txid + 1, 16 * 1024 * 1024);
      if (!read || headerFields(read.files[0]!).pre !== pos.checksum) break;
      files.push(...read.files);
      pos = read.pos;
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    for (const f of files) res.write(f);
    res.end();
  }

  /** GET /db/<name>/snapshot: this node's database as a snapshot LTX at its position (another node fetching what it lacks). */
  async #snapshot(rawName: string, res: http.ServerResponse): Promise<void> {
    const db = this.#dbOf(rawName);
    const snap = db.openSnapshotRead();
    try {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'litefleet-position': formatPos(snap.pos) });
      let pieces: Uint8Array[] = [];
      let size = 0;
      for (const piece of snapshotLtx(snap, this.nodeId)) {
        pieces.push(piece);
        size += piece.length;
        if (size < 256 * 1024) continue;
        const ok = res.write(Buffer.concat(pieces));
        pieces = [];
        size = 0;
        if (!ok) await new Promise((r) => res.once('drain', r));
        if (res.destroyed) return;
      }
      res.end(Buffer.concat(pieces));
    } finally {
      snap.close();
    }
  }

  /** The database a request names (400 for a malformed name, 404 for one this node does not have). */
  #dbOf(rawName: string): DB {
    const name = validateDatabaseName(rawName);
    const db = this.store.dbs.get(name);
    if (!db) throw new NotFoundError(`unknown database ${name}; the databases are: ${this.databases().map((d) => d.name).join(', ') || 'none'}`);
    return db;
  }

  /** POST /db/<name>/import (on the primary): replaces or creates the database from the uploaded file, as one transaction. */
  async #import(name: string, req: http.IncomingMessage): Promise<{ status: number; body: unknown }> {
    if (this.role !== 'primary') {
      const p = await this.#primaryInfo();
      throw new NotPrimaryError(`imports go to the primary${p ? `: ${p.hostname} at ${p.advertiseUrl}` : ''}`);
    }
    if (!/^[^/\\]+$/.test(name) || name.startsWith('.')) throw new InvalidRequestError(`invalid database name ${name}`);
    // In the live folder (one filesystem, so it can be renamed into place); hidden, so capture ignores it.
    const tmp = path.join(this.config.dir, `.${name}.litefleet-import-${process.pid}`);
    try {
      await pipeline(req, fs.createWriteStream(tmp));
      const cap = this.store.dbs.get(name)?.capture;
      if (cap) return { status: 200, body: { txid: importIntoDatabase(path.join(this.config.dir, name), tmp, cap).txid, created: false } };
      importNewDatabase(this.config.dir, name, tmp);
      this.store.scan();
      const created = this.store.dbs.get(name)?.capture;
      if (!created) throw new UnsupportedDatabaseStateError(`${name} was written but capture did not take it up; see the node's log`);
      return { status: 200, body: { txid: created.pos.txid, created: true } };
    } finally {
      fs.rmSync(tmp, { force: true });
    }
  }

  #routes(): ApiRoute[] {
    return [
      { method: 'GET', path: '/health', auth: false, handle: () => ({ status: 200, body: { status: 'ok', role: this.role } }) },
      { method: 'GET', path: '/info', auth: true, handle: async () => ({ status: 200, body: await this.info() }) },
      { method: 'GET', path: '/events', auth: true, handle: (req, _url, res) => this.#events(req, res) },
      {
        method: 'POST',
        path: '/handoff',
        auth: true,
        handle: async (req) => {
          const body = (await readJsonBody(req)) as { to?: unknown };
          if (body.to !== undefined && typeof body.to !== 'string') throw new InvalidRequestError('expected {"to": "<node id>"} or {}');
          if (this.role !== 'primary') return this.#forwardToPrimary('/handoff', body);
          const started = performance.now();
          const to = await this.handoff(body.to);
          return { status: 200, body: { primary: to, ms: Math.round(performance.now() - started) } };
        },
      },
      {
        method: 'POST',
        path: '/db/*/exec',
        auth: true,
        handle: async (req, url) => {
          const name = decodeURIComponent(url.pathname.split('/')[2]!);
          const body = (await readJsonBody(req, EXEC_BODY_LIMIT)) as { sql?: unknown };
          if (typeof body.sql !== 'string') throw new InvalidRequestError('expected {"sql": "<statements>"}');
          if (this.role !== 'primary') return this.#forwardToPrimary(url.pathname, body);
          const cap = this.store.dbs.get(name)?.capture;
          if (!cap) throw new NotFoundError(`unknown database ${name}; the databases are: ${this.databases().map((d) => d.name).join(', ') || 'none'}`);
          return { status: 200, body: execScript(path.join(this.config.dir, name), body.sql, cap) };
        },
      },
      {
        method: 'GET',
        path: '/positions',
        auth: true,
        handle: () => ({ status: 200, body: positionsOf(formatNodeId(this.nodeId), this.role, this.store) }),
      },
      { method: 'GET', path: '/db/*/ltx', auth: true, handle: (_req, url, res) => this.#ltxAfter(decodeURIComponent(url.pathname.split('/')[2]!), url.searchParams.get('after'), res) },
      { method: 'GET', path: '/db/*/snapshot', auth: true, handle: (_req, url, res) => this.#snapshot(decodeURIComponent(url.pathname.split('/')[2]!), res) },
      { method: 'GET', path: '/db/*/export', auth: true, handle: (_req, url, res) => this.#export(decodeURIComponent(url.pathname.split('/')[2]!), res) },
      { method: 'POST', path: '/db/*/import', auth: true, handle: (req, url) => this.#import(decodeURIComponent(url.pathname.split('/')[2]!), req) },
      {
        method: 'POST',
        path: '/stream',
        auth: true,
        handle: async (req, _url, res) => {
          if (!this.#streamServer) {
            const p = await this.#primaryInfo();
            throw new NoPrimaryError(`this node is not the primary${p ? `; the primary is ${p.hostname} at ${p.advertiseUrl}` : ''}`);
          }
          await this.#streamServer.handle(req, res);
        },
      },
      ...uiRoutes(this),
      {
        method: 'POST',
        path: '/replica-status',
        auth: true,
        handle: async (req) => {
          const body = (await readJsonBody(req)) as { nodeId?: unknown; databases?: unknown };
          if (typeof body.nodeId !== 'string' || typeof body.databases !== 'object' || body.databases === null) {
            throw new InvalidRequestError('expected {"nodeId": "...", "databases": {"<db>": {"txid": N, "lagMs": N}}}');
          }
          const known = this.#streamServer?.reportStatus(body.nodeId, body.databases as ConnectedReplica['databases']) ?? false;
          return { status: known ? 204 : 404, body: known ? '' : { error: 'no stream from this replica' } };
        },
      },
    ];
  }
}
