import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { Logger } from 'pino';
import { ReplicaDatabase } from '../apply/replica-database.ts';
import { mergeLtxFiles } from '../ltx/compactor.ts';
import { decodeLtx, type LtxFile } from '../ltx/decoder.ts';
import { decodeHeader, FLAG_COMPRESS_LZ4, HEADER_SIZE, isSnapshot, type LtxHeader } from '../ltx/header.ts';
import { readLtxFile, type LtxSource } from '../ltx/file-reader.ts';
import { formatPos, parsePos, samePos, type Pos } from '../ltx/position.ts';
import type { LockedDatabase } from '../capture/database-capture.ts';
import { formatNodeId, readClusterId, writeClusterId } from '../node/identity.ts';
import { isDatabaseFile } from '../store/store.ts';
import type { RecentTransactions } from '../backup/recent-transactions.ts';
import { FrameParser, FrameType, type Frame } from './frames.ts';
import { CLUSTER_ID_HEADER } from './stream-server.ts';

/** Settings of a replica's stream. */
export interface ReplicaStreamOptions {
  dir: string;
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
  retentionMs: number;
  retentionIntervalMs: number;
  /** Where applied transactions are kept for a backup chain this node may have to continue. */
  recent?: RecentTransactions;
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

/** A received file waiting for its apply: decoded in memory, or spooled to disk when large. */
interface Received {
  header: LtxHeader;
  file?: LtxFile;
  /** The file as received (with `file`). */
  bytes?: Buffer;
  spool?: string;
  /** Bytes it holds in memory. */
  size: number;
}

/** A file being received. */
interface Incoming {
  name: string;
  chunks: Buffer[];
  size: number;
  spool?: { fd: number; path: string };
}

const MIN_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 5_000;
// Received files wait in memory for their apply; past this the socket is paused (TCP pushes back).
const MAX_QUEUED_BYTES = 64 * 1024 * 1024;
// One coalesced apply takes at most this much, so a long catch-up still yields to readers.
const MAX_BATCH_BYTES = 16 * 1024 * 1024;
const STATUS_INTERVAL_MS = 1_000;
// The primary sends at least a heartbeat a second; silence this long means it is frozen or cut off.
const STALL_TIMEOUT_MS = 3_000;
// Files larger than this are written to disk as they arrive instead of being held in memory.
const SPOOL_BYTES = 8 * 1024 * 1024;

/** A spooled file: read page by page if uncompressed, whole if compressed (capture's `ltx.compress`). */
function readSpooled(file: string): LtxSource {
  const head = Buffer.alloc(HEADER_SIZE);
  const fd = fs.openSync(file, 'r');
  try {
    fs.readSync(fd, head, 0, HEADER_SIZE, 0);
  } finally {
    fs.closeSync(fd);
  }
  return decodeHeader(head).flags & FLAG_COMPRESS_LZ4 ? decodeLtx(fs.readFileSync(file), { snapshotChecksum: false }) : readLtxFile(file);
}

/**
 * A replica's side of replication: keeps a stream open to the primary, states its positions,
 * verifies each LTX file it receives (a corrupt one drops the connection, and the primary sends it
 * again from the position) and applies them, several at a time when behind. Reconnects with
 * backoff and resumes from where it is.
 */
export class ReplicaStream extends EventEmitter {
  readonly databases = new Map<string, ReplicaDatabase>();
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
  /** When the current connection was made (undefined while disconnected). */
  connectedAt: number | undefined;
  /** True once the first catch-up after connecting is done. */
  ready = false;

  constructor(options: ReplicaStreamOptions) {
    super();
    this.#o = options;
    this.#clusterId = readClusterId(options.dataDir);
  }

  /** The primary's URL this replica streams from (or last tried). */
  get primaryUrl(): string | undefined {
    return this.#primaryUrl;
  }

  /**
   * Opens the databases replicated before and starts streaming. `locked` are the write-locked
   * connections of a primary that is becoming a replica (see DatabaseCapture.detach).
   */
  start(locked = new Map<string, LockedDatabase>()): void {
    const names = new Set<string>();
    const dbsDir = path.join(this.#o.dataDir, 'dbs');
    fs.mkdirSync(dbsDir, { recursive: true });
    fs.mkdirSync(this.#o.dir, { recursive: true });
    for (const n of fs.readdirSync(dbsDir)) names.add(n);
    for (const n of fs.readdirSync(this.#o.dir)) if (isDatabaseFile(path.join(this.#o.dir, n))) names.add(n);
    for (const name of locked.keys()) names.add(name);
    for (const name of names) this.#database(name, locked.get(name));
    this.#timers.push(
      setInterval(() => {
        for (const db of this.databases.values()) db.flush();
        void this.#reportStatus();
      }, STATUS_INTERVAL_MS),
      setInterval(() => {
        for (const db of this.databases.values()) db.prune(this.#o.retentionMs);
      }, this.#o.retentionIntervalMs),
    );
    void this.#run();
  }

  /** Stops streaming and closes every database. */
  stop(): void {
    this.#stopped = true;
    for (const t of this.#timers) clearInterval(t);
    this.#req?.destroy();
    this.#applyQueued();
    for (const db of this.databases.values()) db.close();
  }

  /** Drops the connection unless it is to `url`, and reconnects now instead of after the backoff (the lease moved). */
  follow(url: string | undefined): void {
    if (url === this.#primaryUrl && this.connectedAt !== undefined) return;
    if (this.connectedAt !== undefined) this.#req?.destroy();
    this.#wake?.();
  }

  /** True when every database has applied everything the primary was last known to have. */
  caughtUp(): boolean {
    return [...this.databases.values()].every((d) => d.pos.txid >= (this.#primaryTxids[d.name] ?? 0)) && this.#queuedBytes === 0;
  }

  /** How far behind the primary each database is, in transactions and milliseconds. */
  lag(name: string): { txids: number; ms: number } {
    const db = this.databases.get(name);
    const primary = this.#primaryTxids[name] ?? 0;
    const since = this.#behindSince.get(name);
    return { txids: Math.max(0, primary - (db?.pos.txid ?? 0)), ms: since === undefined ? 0 : Date.now() - since };
  }

  async #run(): Promise<void> {
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
    const positions = Object.fromEntries([...this.databases.values()].map((d) => [d.name, formatPos(d.pos)]));
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
        let current: Incoming | undefined;
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
          this.#discard(current);
          resolve();
        });
      });
      req.end(body);
    });
  }

  #onFrame(frame: Frame, current: Incoming | undefined): Incoming | undefined {
    switch (frame.type) {
      case FrameType.LtxBegin:
        this.#discard(current);
        return { name: frame.name, chunks: [], size: 0 };
      case FrameType.LtxData:
        if (!current) throw new Error('LTX data outside a file');
        if (!current.spool && current.size + frame.data.length > SPOOL_BYTES) {
          // A large file (a snapshot) goes to disk as it arrives, so memory stays bounded.
          // In the log's folder, whose *.tmp files recovery removes after a crash.
          const dir = path.join(this.#o.dataDir, 'dbs', current.name, 'ltx');
          fs.mkdirSync(dir, { recursive: true });
          const file = path.join(dir, `incoming-${process.pid}-${Date.now()}.ltx.tmp`);
          current.spool = { fd: fs.openSync(file, 'w'), path: file };
          for (const c of current.chunks) fs.writeSync(current.spool.fd, c);
          current.chunks = [];
        }
        if (current.spool) fs.writeSync(current.spool.fd, frame.data);
        else current.chunks.push(frame.data);
        current.size += frame.data.length;
        return current;
      case FrameType.LtxEnd: {
        if (!current) throw new Error('LTX end outside a file');
        if (current.spool) {
          fs.closeSync(current.spool.fd);
          const spool = current.spool.path;
          let header: LtxHeader;
          try {
            const head = Buffer.alloc(HEADER_SIZE);
            const fd = fs.openSync(spool, 'r');
            fs.readSync(fd, head, 0, HEADER_SIZE, 0);
            fs.closeSync(fd);
            header = decodeHeader(head);
          } catch (err) {
            fs.rmSync(spool, { force: true });
            throw new Error(`corrupted LTX file for ${current.name} on the wire (${(err as Error).message}); asking again`);
          }
          this.#enqueue(current.name, { header, spool, size: 0 });
          return undefined;
        }
        const bytes = Buffer.concat(current.chunks);
        let file: LtxFile;
        try {
          // Snapshot pages are hashed as they are applied; decoding checks the file checksum.
          file = decodeLtx(bytes, { snapshotChecksum: false });
        } catch (err) {
          throw new Error(`corrupted LTX file for ${current.name} on the wire (${(err as Error).message}); asking again`);
        }
        this.#enqueue(current.name, { header: file.header, file, bytes, size: bytes.length });
        return undefined;
      }
      case FrameType.Ready: {
        // Everything before Ready has arrived: apply it now, so "caught up" means applied.
        this.#applyQueued();
        this.ready = true;
        const txids = Object.fromEntries([...this.databases.values()].map((d) => [d.name, d.pos.txid]));
        this.#o.logger.info({ txids }, 'caught up with the primary');
        this.emit('ready');
        void this.#reportStatus();
        return current;
      }
      case FrameType.Heartbeat:
        this.#primaryTxids = frame.heartbeat.txids;
        for (const [name, txid] of Object.entries(frame.heartbeat.txids)) this.#noteBehind(name, txid);
        return current;
      case FrameType.Diverged: {
        const points: Pos[] = frame.diverged.points.map((p) => parsePos(p));
        this.#database(frame.diverged.name).diverged(points);
        return current;
      }
      case FrameType.Handoff: {
        this.#applyQueued();
        const caughtUp = Object.entries(frame.handoff.positions).every(([name, text]) => {
          const p = parsePos(text);
          const d = this.databases.get(name)?.pos;
          return samePos(d, p);
        });
        this.#o.logger.info({ caughtUp }, 'the primary is handing the lease to this node');
        this.emit('handoff', { caughtUp } satisfies HandoffEvent);
        return current;
      }
      case FrameType.DropDb: {
        const db = this.databases.get(frame.name);
        if (db) {
          db.drop();
          this.databases.delete(frame.name);
          this.#o.logger.warn({ db: frame.name }, 'database was deleted on the primary; dropped it here');
        }
        return current;
      }
    }
  }

  /** Removes the spool file of a file whose receipt was cut off. */
  #discard(incoming: Incoming | undefined): void {
    if (!incoming?.spool) return;
    try {
      fs.closeSync(incoming.spool.fd);
    } catch {
      // already closed
    }
    fs.rmSync(incoming.spool.path, { force: true });
  }

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
    const mine = this.databases.get(name)?.pos.txid ?? 0;
    if (primaryTxid > mine && !this.#behindSince.has(name)) this.#behindSince.set(name, Date.now());
  }

  /** Applies what has arrived: a snapshot alone, otherwise contiguous files coalesced into one transaction. */
  #applyQueued(): void {
    this.#applyScheduled = false;
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
        let db: ReplicaDatabase;
        const first = batch[0]!;
        try {
          db = this.#database(name);
          if (first.spool) db.apply(readSpooled(first.spool), first.spool);
          else db.apply(batch.length === 1 ? first.file! : mergeLtxFiles(batch.map((b) => b.file!)));
        } catch (err) {
          this.#o.logger.error({ db: name, err: (err as Error).message }, 'cannot apply LTX from the primary; reconnecting from the current position');
          this.#dropQueue(q);
          this.#req?.destroy();
          break;
        } finally {
          if (first.spool) fs.rmSync(first.spool, { force: true });
        }
        this.#keepRecent(name, batch);
        const pos = db.pos;
        if ((this.#primaryTxids[name] ?? 0) <= pos.txid) this.#behindSince.delete(name);
        this.emit('tx', { name, txid: pos.txid, checksum: pos.checksum } satisfies ReplicaTxEvent);
        if (db.foreignWrite) {
          db.resetPosition();
          this.#dropQueue(q);
          this.#req?.destroy();
          break;
        }
      }
    }
    if (this.#queuedBytes <= MAX_QUEUED_BYTES) this.#res?.resume();
  }

  #keepRecent(name: string, batch: Received[]): void {
    const recent = this.#o.recent;
    if (!recent) return;
    for (const b of batch) {
      if (!b.bytes || !b.file || isSnapshot(b.header)) {
        recent.forget(name);
        continue;
      }
      recent.add(name, { bytes: b.bytes, minTxid: b.header.minTxid, pre: b.header.preApplyChecksum, pos: { txid: b.header.maxTxid, checksum: b.file.trailer.postApplyChecksum } });
    }
  }

  #dropQueue(q: Received[]): void {
    for (const r of q) {
      this.#queuedBytes -= r.size;
      if (r.spool) fs.rmSync(r.spool, { force: true });
    }
    q.length = 0;
  }

  #database(name: string, locked?: LockedDatabase): ReplicaDatabase {
    let db = this.databases.get(name);
    if (!db) {
      const dbPath = path.join(this.#o.dir, name);
      db = new ReplicaDatabase({ name, dbPath, stateDir: path.join(this.#o.dataDir, 'dbs', name), logger: this.#o.logger });
      try {
        db.open(locked);
      } catch (err) {
        // Not even SQLite can read it: keep it for the operator and start over from the primary.
        db.close();
        const aside = `${dbPath}.broken-${Date.now()}`;
        for (const suffix of ['', '-wal', '-shm']) if (fs.existsSync(dbPath + suffix)) fs.renameSync(dbPath + suffix, aside + suffix);
        this.#o.logger.error({ db: name, err: (err as Error).message, movedTo: aside }, `replica database ${name} cannot be opened; moved it aside and resetting from primary`);
        db.open();
      }
      this.databases.set(name, db);
    }
    return db;
  }

  /** Tells the primary where this replica is, for `litefleet status` there. */
  async #reportStatus(): Promise<void> {
    const url = this.#primaryUrl;
    if (!url || this.connectedAt === undefined) return;
    const databases = Object.fromEntries([...this.databases.values()].map((d) => [d.name, { txid: d.pos.txid, lagMs: this.lag(d.name).ms }]));
    try {
      await fetch(`${url.replace(/\/$/, '')}/replica-status`, {
        method: 'POST',
        headers: { authorization: `Bearer ${this.#o.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ nodeId: formatNodeId(this.#o.nodeId), databases }),
        signal: AbortSignal.timeout(2_000),
      });
    } catch {
      // the stream notices a primary that went away
    }
  }
}
