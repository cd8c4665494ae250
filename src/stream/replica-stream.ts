import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import http from 'node:http';
import type { Logger } from 'pino';
import { parseTerms } from '../log/terms.ts';
import { isSnapshot } from '../ltx/header.ts';
import { formatPos, samePos, type Pos } from '../ltx/position.ts';
import { formatNodeId, readClusterId, writeClusterId } from '../store/identity.ts';
import type { Store } from '../store/store.ts';
import { FrameParser, FrameType, StreamProtocolError, type Frame, type PeerNode } from '../protocol/frames.ts';
import { IncomingFile, readSpooled, type Received } from './incoming-file.ts';
import { postReport, StatusReporter } from './status-reporter.ts';
import { checkedName, checkedPos, checkedTxids } from './wire-checks.ts';
import { CLUSTER_ID_HEADER } from '../protocol/api-types.ts';

/** Settings of a replica's stream. */
export interface ReplicaStreamOptions {
  store: Store;
  dataDir: string;
  nodeId: bigint;
  token: string;
  logger: Logger;
  /** The primary's API URL, asked again before every connection. */
  primaryUrl: () => Promise<string | undefined>;
  /** This node's own API URL, told to the primary for `litefleet status`. */
  selfUrl: string;
  /** Whether this node may become primary (the primary picks handoff targets among candidates). */
  candidate: boolean;
  /** Told the nodes the primary lists in its heartbeats. */
  onPeers?: (nodes: PeerNode[]) => void;
}

/** Emitted as 'tx' after every apply. */
export interface ReplicaTxEvent {
  name: string;
  txid: number;
  checksum: bigint;
}

/** Emitted as 'handoff' when the primary hands the lease to this node. */
export interface HandoffEvent {
  /** True when every database is at the final position the primary named. */
  caughtUp: boolean;
}

const MIN_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 5_000;
// Received files wait in memory for their apply; past this the socket is paused (TCP pushes back).
// Each file is its own small Buffer: glibc keeps the heap that thousands of them fill once, so the
// most a lagging replica ever queues is what its RSS keeps from then on (64 MB here made a soak's
// nodes step up by tens of MB at handoffs).
const MAX_QUEUED_BYTES = 16 * 1024 * 1024;
// One coalesced apply takes at most this much, so a long catch-up still yields to readers.
const MAX_BATCH_BYTES = 4 * 1024 * 1024;
// Besides after every apply, the replica reports this often (its lag grows while nothing arrives).
const STATUS_INTERVAL_MS = 1_000;
// The primary sends at least a heartbeat a second; silence this long means it is frozen or cut off.
const STALL_TIMEOUT_MS = 3_000;

/**
 * A replica's side of replication: keeps a stream open to the primary, states its positions,
 * verifies each LTX file it receives (a corrupt one drops the connection, and the primary sends it
 * again from the position) and hands them to the store's databases, several at a time when
 * behind. Reconnects with backoff and resumes from where it is. Every name and position from the
 * wire is checked before it is used.
 */
export class ReplicaStream extends EventEmitter {
  readonly #o: ReplicaStreamOptions;
  readonly #queues = new Map<string, Received[]>();
  #queuedBytes = 0;
  #applyScheduled = false;
  #stopped = false;
  #req: http.ClientRequest | undefined;
  #res: http.IncomingMessage | undefined;
  #clusterId: string | undefined;
  #timers: NodeJS.Timeout[] = [];
  #primaryTxids: Record<string, number> = {};
  #behindSince = new Map<string, number>();
  #primaryUrl: string | undefined;
  #wake: (() => void) | undefined;
  readonly #reporter: StatusReporter;
  /** When the current connection was made (undefined while disconnected). */
  connectedAt: number | undefined;
  /** True once the first catch-up after connecting is done. */
  ready = false;

  constructor(options: ReplicaStreamOptions) {
    super();
    this.#o = options;
    this.#clusterId = readClusterId(options.dataDir);
    this.#reporter = new StatusReporter(() => this.#reportStatus());
  }

  /** The primary's URL this replica streams from (or last tried). */
  get primaryUrl(): string | undefined {
    return this.#primaryUrl;
  }

  /** Starts streaming once the store's databases are open for apply. */
  start(): void {
    this.#timers.push(setInterval(() => this.#reporter.report(), STATUS_INTERVAL_MS));
    void this.#run();
  }

  /** Stops streaming, applying what has arrived. */
  stop(): void {
    this.#stopped = true;
    for (const t of this.#timers) clearInterval(t);
    this.#req?.destroy();
    this.#applyQueued();
  }

  /** Drops the connection unless it is to `url`, and reconnects now instead of after the backoff (the lease moved). */
  follow(url: string | undefined): void {
    if (url === this.#primaryUrl && this.connectedAt !== undefined) return;
    if (this.connectedAt !== undefined) this.#req?.destroy();
    this.#wake?.();
  }

  /** True when every database has applied everything the primary was last known to have (and none waits to be reset). */
  caughtUp(): boolean {
    const dbs = this.#o.store.dbs;
    // Every database the primary has, those this node lacks too (a snapshot the primary skipped for now).
    const reached = Object.entries(this.#primaryTxids).every(([name, txid]) => (dbs.get(name)?.pos.txid ?? 0) >= txid);
    return reached && [...dbs.values()].every((d) => !d.applier?.resetting) && this.#queuedBytes === 0;
  }

  /** How far behind the primary each database is, in transactions and milliseconds. */
  lag(name: string): { txids: number; ms: number } {
    const db = this.#o.store.dbs.get(name);
    const primary = this.#primaryTxids[name] ?? 0;
    const since = this.#behindSince.get(name);
    return { txids: Math.max(0, primary - (db?.pos.txid ?? 0)), ms: since === undefined ? 0 : Date.now() - since };
  }

  async #run(): Promise<void> {
    // The primary is told every database's position at once: not before each is open.
    await this.#o.store.opened();
    let backoff = MIN_BACKOFF_MS;
    while (!this.#stopped) {
      const url = await this.#o.primaryUrl().catch(() => undefined);
      if (this.#stopped) break;
      this.#primaryUrl = url;
      if (url) {
        try {
          await this.#streamOnce(url);
        } catch (err) {
          if (!this.#stopped) this.#o.logger.warn({ primary: url, err: (err as Error).message }, 'replication stream ended; reconnecting');
        }
        if (this.ready) backoff = MIN_BACKOFF_MS;
      }
      this.connectedAt = undefined;
      this.ready = false;
      if (this.#stopped) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, backoff);
        this.#wake = () => {
          clearTimeout(timer);
          backoff = MIN_BACKOFF_MS;
          resolve();
        };
      });
      this.#wake = undefined;
      backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
    }
  }

  #streamOnce(url: string): Promise<void> {
    const positions = Object.fromEntries([...this.#o.store.dbs.values()].map((d) => [d.name, formatPos(d.pos)]));
    const body = JSON.stringify({ nodeId: formatNodeId(this.#o.nodeId), url: this.#o.selfUrl, candidate: this.#o.candidate, positions });
    return new Promise<void>((resolve, reject) => {
      const req = http.request(`${url.replace(/\/$/, '')}/stream`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${this.#o.token}`,
          'content-type': 'application/json',
          ...(this.#clusterId ? { [CLUSTER_ID_HEADER]: this.#clusterId } : {}),
        },
      });
      this.#req = req;
      req.setTimeout(STALL_TIMEOUT_MS, () => req.destroy(new Error(`nothing from the primary for ${STALL_TIMEOUT_MS / 1000}s`)));
      req.on('error', reject);
      req.on('response', (res) => {
        this.#res = res;
        if (res.statusCode !== 200) {
          let text = '';
          res.on('data', (d: Buffer) => (text += d.toString()));
          res.on('end', () => reject(new Error(`primary answered ${res.statusCode}: ${text.trim()}`)));
          return;
        }
        const theirs = res.headers[CLUSTER_ID_HEADER];
        if (typeof theirs !== 'string' || theirs === '') {
          req.destroy();
          reject(new Error('primary did not name its cluster'));
          return;
        }
        if (this.#clusterId && theirs !== this.#clusterId) {
          req.destroy();
          reject(new Error(`primary ${url} is in cluster ${theirs}, this node in ${this.#clusterId}: refusing to replicate from another cluster`));
          return;
        }
        if (!this.#clusterId) {
          this.#clusterId = theirs;
          writeClusterId(this.#o.dataDir, theirs);
        }
        this.connectedAt = Date.now();
        this.#o.logger.info({ primary: url }, 'streaming from primary');
        const parser = new FrameParser();
        let current: IncomingFile | undefined;
        res.on('data', (chunk: Buffer) => {
          try {
            for (const frame of parser.push(chunk)) current = this.#onFrame(frame, current);
          } catch (err) {
            req.destroy();
            reject(err as Error);
          }
        });
        res.on('end', () => resolve());
        res.on('error', reject);
        res.on('close', () => {
          current?.discard();
          resolve();
        });
      });
      req.end(body);
    });
  }

  #onFrame(frame: Frame, current: IncomingFile | undefined): IncomingFile | undefined {
    switch (frame.type) {
      case FrameType.LtxBegin: {
        current?.discard();
        const name = checkedName(frame.name);
        // A large file goes to the log's folder, whose *.tmp files recovery removes after a crash.
        return new IncomingFile(name, () => this.#o.store.applying(name).log.segmentsDir);
      }
      case FrameType.LtxData:
        if (!current) throw new Error('LTX data outside a file');
        current.add(frame.data);
        return current;
      case FrameType.LtxEnd:
        if (!current) throw new Error('LTX end outside a file');
        this.#enqueue(current.name, current.finish());
        return undefined;
      case FrameType.Ready: {
        // Everything before Ready has arrived: apply it now, so "caught up" means applied.
        this.#applyQueued();
        this.ready = true;
        const txids = Object.fromEntries([...this.#o.store.dbs.values()].map((d) => [d.name, d.pos.txid]));
        this.#o.logger.info({ txids }, 'caught up with the primary');
        this.emit('ready');
        this.#reporter.report();
        return current;
      }
      case FrameType.Heartbeat: {
        const txids = checkedTxids(frame.heartbeat.txids);
        this.#primaryTxids = txids;
        for (const [name, txid] of Object.entries(txids)) this.#noteBehind(name, txid);
        if (Array.isArray(frame.heartbeat.nodes)) this.#o.onPeers?.(frame.heartbeat.nodes.filter((n) => typeof n?.id === 'string' && typeof n.url === 'string'));
        return current;
      }
      case FrameType.Diverged: {
        const name = checkedName(frame.diverged.name);
        const points: Pos[] = (Array.isArray(frame.diverged.points) ? frame.diverged.points : []).map((p) => checkedPos(p));
        this.#o.store.applying(name).applier!.diverged(points);
        return current;
      }
      case FrameType.Handoff: {
        this.#applyQueued();
        const positions = typeof frame.handoff.positions === 'object' && frame.handoff.positions !== null ? frame.handoff.positions : {};
        const caughtUp = Object.entries(positions).every(([name, text]) => samePos(this.#o.store.dbs.get(name)?.pos, checkedPos(text)));
        this.#o.logger.info({ caughtUp }, 'the primary is handing the lease to this node');
        this.emit('handoff', { caughtUp } satisfies HandoffEvent);
        return current;
      }
      case FrameType.Terms: {
        const name = checkedName(frame.terms.name);
        let terms;
        try {
          terms = parseTerms(frame.terms.terms);
        } catch (err) {
          throw new StreamProtocolError(`the primary sent ${(err as Error).message}`);
        }
        this.#o.store.applying(name).applier!.takeTerms(terms);
        return current;
      }
      case FrameType.DropDb: {
        const name = checkedName(frame.name);
        if (this.#o.store.dbs.has(name)) {
          this.#o.store.drop(name);
          this.#o.logger.warn({ db: name }, 'database was deleted on the primary; dropped it here');
        }
        return current;
      }
    }
  }

  /** Removes the spool file of a file whose receipt was cut off. */
  #enqueue(name: string, r: Received): void {
    this.#noteBehind(name, r.header.maxTxid);
    let q = this.#queues.get(name);
    if (!q) this.#queues.set(name, (q = []));
    q.push(r);
    this.#queuedBytes += r.size;
    if (this.#queuedBytes > MAX_QUEUED_BYTES) this.#res?.pause();
    if (!this.#applyScheduled) {
      this.#applyScheduled = true;
      setImmediate(() => this.#applyQueued());
    }
  }

  #noteBehind(name: string, primaryTxid: number): void {
    if (primaryTxid > (this.#primaryTxids[name] ?? 0)) this.#primaryTxids[name] = primaryTxid;
    const mine = this.#o.store.dbs.get(name)?.pos.txid ?? 0;
    if (primaryTxid > mine && !this.#behindSince.has(name)) this.#behindSince.set(name, Date.now());
  }

  /** Applies what has arrived: a snapshot or a large file alone, otherwise contiguous files coalesced into one transaction. */
  #applyQueued(): void {
    this.#applyScheduled = false;
    let applied = false;
    for (const [name, q] of this.#queues) {
      while (q.length > 0) {
        const batch: Received[] = [q.shift()!];
        let bytes = batch[0]!.size;
        if (!isSnapshot(batch[0]!.header) && !batch[0]!.spool) {
          while (q.length > 0 && !isSnapshot(q[0]!.header) && !q[0]!.spool && bytes < MAX_BATCH_BYTES) {
            bytes += q[0]!.size;
            batch.push(q.shift()!);
          }
        }
        for (const b of batch) this.#queuedBytes -= b.size;
        const first = batch[0]!;
        let applier: NonNullable<ReturnType<Store['applying']>['applier']>;
        try {
          applier = this.#o.store.applying(name).applier!;
          if (first.spool && isSnapshot(first.header)) applier.applySnapshot(readSpooled(first.spool));
          else if (first.spool) applier.applyLarge(first.spool);
          else if (isSnapshot(first.header)) applier.applySnapshot(first.file!);
          else applier.apply(batch.map((b) => ({ file: b.file!, bytes: b.bytes! })));
        } catch (err) {
          // Logged once (with what it means: a full disk loses nothing) and shown in /info; the
          // stream reconnects from the current position, with backoff, until it applies again.
          const db = this.#o.store.dbs.get(name);
          if (db) db.reportProblem('apply', err);
          else this.#o.logger.error({ db: name, err: (err as Error).message }, 'cannot apply LTX from the primary; reconnecting from the current position');
          this.#dropQueue(q);
          this.#req?.destroy();
          break;
        } finally {
          if (first.spool) fs.rmSync(first.spool, { force: true });
        }
        this.#o.store.dbs.get(name)?.clearProblem('apply');
        applied = true;
        const pos = applier.pos;
        if ((this.#primaryTxids[name] ?? 0) <= pos.txid) this.#behindSince.delete(name);
        this.emit('tx', { name, txid: pos.txid, checksum: pos.checksum } satisfies ReplicaTxEvent);
        if (applier.foreignWrite) {
          applier.resetPosition();
          this.#dropQueue(q);
          this.#req?.destroy();
          break;
        }
      }
    }
    if (applied) this.#reporter.report();
    if (this.#queuedBytes <= MAX_QUEUED_BYTES) this.#res?.resume();
  }

  #dropQueue(q: Received[]): void {
    for (const r of q) {
      this.#queuedBytes -= r.size;
      if (r.spool) fs.rmSync(r.spool, { force: true });
    }
    q.length = 0;
  }

  /**
   * Sends this replica's positions to the primary, for `litefleet status` and the writes waiting
   * for replicas. Only once caught up: before Ready, a position may be of another history (one
   * the primary is about to reset), which must not count as having its transactions.
   */
  async #reportStatus(): Promise<void> {
    const url = this.#primaryUrl;
    if (!url || !this.ready) return;
    const databases = Object.fromEntries([...this.#o.store.dbs.values()].map((d) => [d.name, { txid: d.pos.txid, lagMs: this.lag(d.name).ms }]));
    try {
      await postReport(`${url.replace(/\/$/, '')}/replica-status`, this.#o.token, JSON.stringify({ nodeId: formatNodeId(this.#o.nodeId), databases }), 2_000);
    } catch {
      // the stream notices a primary that went away
    }
  }
}
