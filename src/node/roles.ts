import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import type { BackupShipper } from '../backup/backup-shipper.ts';
import type { Config } from '../config/schema.ts';
import { BusyError, ConflictError } from '../errors.ts';
import type { Lease, PrimaryInfo } from '../lease/leaser.ts';
import { formatHex64 } from '../ltx/checksum.ts';
import type { Pos } from '../ltx/position.ts';
import type { NodeEvent } from '../protocol/api-types.ts';
import { formatNodeId, newClusterId, readClusterId, writeClusterId } from '../store/identity.ts';
import type { Store } from '../store/store.ts';
import { ReplicaStream, type HandoffEvent } from '../stream/replica-stream.ts';
import { StreamServer, type ConnectedReplica } from '../stream/stream-server.ts';
import type { ElectorHost } from './elector.ts';
import { catchUpFromPeers } from './peer-catch-up.ts';
import type { PeerBook } from './peers.ts';

/** How long a primary waits for the app's running transaction when it must stop writes. */
const PAUSE_TIMEOUT_MS = 5_000;

/** What the roles need from the node around them. */
export interface RolesOptions {
  config: Config;
  logger: Logger;
  store: Store;
  nodeId: bigint;
  peers: PeerBook;
  candidate: boolean;
  /** Where the other nodes reach this one. */
  selfUrl: () => string;
  /** True while this node may act as primary (asked before every send and upload). */
  leaseValid: () => boolean;
  event: (ev: NodeEvent) => void;
  /** The primary handed the lease to this node (`caughtUp`: it has the final transactions). */
  onHandedLease: (caughtUp: boolean) => void;
  /** Sends a request to the primary's API (a lease.promote request for the lease). */
  callPrimary: (pathname: string, body: unknown, timeoutMs: number) => Promise<{ status: number; body: unknown }>;
}

/**
 * What a node runs in each role: as primary, capture, the stream to its replicas and the backup;
 * as replica, the stream from the primary. The elector decides when to switch; this does it.
 */
export class Roles implements ElectorHost {
  readonly #o: RolesOptions;
  readonly #selfId: string;
  #streamServer: StreamServer | undefined;
  #backup: BackupShipper | undefined;
  #replica: ReplicaStream | undefined;
  /** The URL of the primary this node follows ('' for none; undefined before it knows). */
  #following: string | undefined;

  constructor(o: RolesOptions) {
    this.#o = o;
    this.#selfId = formatNodeId(o.nodeId);
  }

  /** On the primary: the stream server (undefined on a replica). */
  get streamServer(): StreamServer | undefined {
    return this.#streamServer;
  }

  /** On a replica: the stream from the primary (undefined on the primary). */
  get replica(): ReplicaStream | undefined {
    return this.#replica;
  }

  /** On the primary with a backup: the backup shipper. */
  get backup(): BackupShipper | undefined {
    return this.#backup;
  }

  async toPrimary(lease: Lease): Promise<void> {
    const { config, store, logger } = this.#o;
    this.#replica?.stop();
    this.#replica = undefined;
    let clusterId = readClusterId(config['data-dir']);
    if (!clusterId) {
      clusterId = newClusterId();
      writeClusterId(config['data-dir'], clusterId);
    }
    fs.rmSync(path.join(config.dir, '.primary'), { force: true });
    store.startCapture(lease.term);
    if (config.backup) this.#backup = await this.#startBackup(config.backup);
    this.#streamServer = new StreamServer({
      store,
      clusterId,
      nodeId: this.#o.nodeId,
      selfUrl: this.#o.selfUrl(),
      logger,
      leaseValid: this.#o.leaseValid,
      onReplica: (p) => this.#o.peers.note([p]),
      onAck: (node, db, txid) => this.#o.event({ type: 'ack', db, node, txid }),
    });
    this.#o.event({ type: 'role', role: 'primary', primary: config.lease.hostname ?? null });
    logger.info({ databases: store.databases().map((d) => `${d.name}@${d.txid}`) }, 'this node is now the primary');
  }

  /** The backup module loads only on a primary configured with one (most nodes never need its S3 client). */
  async #startBackup(b: NonNullable<Config['backup']>): Promise<BackupShipper> {
    const [{ BackupShipper }, { createBackupTarget }] = await Promise.all([import('../backup/backup-shipper.ts'), import('../backup/create-target.ts')]);
    const shipper = new BackupShipper({
      store: this.#o.store,
      target: await createBackupTarget(b),
      logger: this.#o.logger,
      schedule: { l1: b['l1-interval'], l2: b['l2-interval'], l3: b['l3-interval'], snapshot: b['snapshot-interval'], retention: b.retention, retentionInterval: b['retention-interval'] },
      leaseValid: this.#o.leaseValid,
      onShipped: (db, pos) => this.#o.event({ type: 'backup', db, txid: pos.txid, checksum: formatHex64(pos.checksum) }),
    });
    shipper.start();
    return shipper;
  }

  toReplica(paused: boolean): void {
    const { store, logger } = this.#o;
    const wasPrimary = this.#streamServer !== undefined;
    // Only the primary backs up; the next one continues the chain.
    this.#backup?.halt();
    this.#backup = undefined;
    this.#streamServer?.closeAll();
    this.#streamServer = undefined;
    try {
      if (wasPrimary && !paused) store.pauseWrites(PAUSE_TIMEOUT_MS);
    } catch (err) {
      logger.error({ err: (err as Error).message }, 'could not keep the write lock while stepping down; writes made meanwhile will be found and set aside');
      store.close();
    }
    this.#following = undefined;
    this.#o.event({ type: 'role', role: 'replica', primary: null });
    this.#startReplica();
  }

  #startReplica(): void {
    const { config, store, logger } = this.#o;
    store.startApply();
    this.#replica = new ReplicaStream({
      store,
      dataDir: config['data-dir'],
      nodeId: this.#o.nodeId,
      token: config.http.token!,
      logger,
      primaryUrl: async () => this.#following || undefined,
      selfUrl: this.#o.selfUrl(),
      candidate: this.#o.candidate,
      onPeers: (nodes) => this.#o.peers.note(nodes),
    });
    this.#replica.on('handoff', (ev: HandoffEvent) => this.#o.onHandedLease(ev.caughtUp));
    this.#replica.start();
  }

  follow(primary: PrimaryInfo | undefined): void {
    const url = primary?.advertiseUrl ?? '';
    if (url !== this.#following) {
      // LiteFS's `.primary` file: the primary's hostname on a replica, absent on the primary or without one.
      const file = path.join(this.#o.config.dir, '.primary');
      if (primary) fs.writeFileSync(file, primary.hostname);
      else fs.rmSync(file, { force: true });
      this.#following = url;
      this.#o.event({ type: 'role', role: 'replica', primary: primary?.hostname ?? null });
    }
    this.#replica?.follow(primary?.advertiseUrl);
  }

  caughtUp(): boolean {
    return this.#replica?.caughtUp() ?? false;
  }

  servesReads(): boolean {
    return this.#replica?.ready === true && this.#replica.caughtUp();
  }

  neverSynced(): boolean {
    return readClusterId(this.#o.config['data-dir']) === undefined;
  }

  gatherFromPeers(): Promise<'lead' | 'wait'> {
    return catchUpFromPeers({ store: this.#o.store, peers: this.#o.peers.list, token: this.#o.config.http.token!, logger: this.#o.logger });
  }

  pauseWrites(): Map<string, Pos> {
    return this.#o.store.pauseWrites(PAUSE_TIMEOUT_MS);
  }

  resumeWrites(): void {
    this.#o.store.resumeWrites();
  }

  handoffTarget(to: string | undefined): string {
    // Writes are paused only on databases being captured: one still waiting would be left open to the app.
    if (this.#o.store.starting > 0) throw new BusyError(`this node is still opening ${this.#o.store.starting} databases; hand off once /health says ok`, 5);
    const candidates = (this.#streamServer?.replicas ?? []).filter((r) => r.candidate);
    if (to) {
      const wanted = to.toUpperCase();
      const found = candidates.find((r) => r.nodeId === wanted || r.url === to);
      if (!found) throw new ConflictError(`node ${to} is not a candidate replica streaming from this primary`);
      return found.nodeId;
    }
    const dbs = this.#o.store.databases();
    const behind = (r: ConnectedReplica) => dbs.reduce((sum, d) => sum + Math.max(0, d.txid - (r.databases[d.name]?.txid ?? 0)), 0);
    const best = candidates.sort((a, b) => behind(a) - behind(b))[0];
    if (!best) throw new ConflictError('no candidate replica is streaming from this primary');
    return best.nodeId;
  }

  async shipBackup(): Promise<void> {
    await this.#backup?.flush();
  }

  handOver(target: string, final: Map<string, Pos>, timeoutMs: number): Promise<void> {
    if (!this.#streamServer) return Promise.reject(new Error('this node is not streaming'));
    return this.#streamServer.handoff(target, final, timeoutMs);
  }

  async requestHandoff(timeoutMs: number): Promise<void> {
    const res = await this.#o.callPrimary('/handoff', { to: this.#selfId }, timeoutMs);
    if (res.status !== 200) throw new Error(`${res.status} ${JSON.stringify(res.body)}`);
  }

  /** Stops whichever role runs: the final backup is shipped (the lease is still held), the streams end. */
  async stop(): Promise<void> {
    await this.#backup?.stop().catch((err: unknown) => this.#o.logger.error({ err }, 'final backup failed'));
    this.#streamServer?.closeAll();
    this.#replica?.stop();
  }
}
