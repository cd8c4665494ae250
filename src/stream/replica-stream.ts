import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { Logger } from 'pino';
import { ReplicaDatabase } from '../apply/replica-database.ts';
import { mergeLtxFiles } from '../ltx/compactor.ts';
import { decodeLtx, type LtxFile } from '../ltx/decoder.ts';
import { isSnapshot } from '../ltx/header.ts';
import { formatPos } from '../ltx/position.ts';
import { formatNodeId, readClusterId, writeClusterId } from '../node/identity.ts';
import { isDatabaseFile } from '../store/store.ts';
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
  retentionMs: number;
  retentionIntervalMs: number;
}

/** Emitted as 'tx' after every apply. */
export interface ReplicaTxEvent {
  name: string;
  txid: number;
  checksum: bigint;
}

interface Received {
  file: LtxFile;
  raw: { minTxid: number; maxTxid: number; bytes: Buffer };
}

const MIN_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 5_000;
// Received files wait in memory for their apply; past this the socket is paused (TCP pushes back).
const MAX_QUEUED_BYTES = 64 * 1024 * 1024;
// One coalesced apply takes at most this much, so a long catch-up still yields to readers.
const MAX_BATCH_BYTES = 16 * 1024 * 1024;
const STATUS_INTERVAL_MS = 1_000;

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

  /** Opens the databases replicated before and starts streaming. */
  start(): void {
    const names = new Set<string>();
    const dbsDir = path.join(this.#o.dataDir, 'dbs');
    fs.mkdirSync(dbsDir, { recursive: true });
    fs.mkdirSync(this.#o.dir, { recursive: true });
    for (const n of fs.readdirSync(dbsDir)) names.add(n);
    for (const n of fs.readdirSync(this.#o.dir)) if (isDatabaseFile(path.join(this.#o.dir, n))) names.add(n);
    for (const name of names) this.#database(name);
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
      await new Promise((r) => setTimeout(r, backoff));
      backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
    }
  }

  #streamOnce(url: string): Promise<void> {
    const positions = Object.fromEntries([...this.databases.values()].map((d) => [d.name, formatPos(d.pos)]));
    const body = JSON.stringify({ nodeId: formatNodeId(this.#o.nodeId), url: this.#o.selfUrl, positions });
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
        let current: { name: string; chunks: Buffer[] } | undefined;
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
        res.on('close', () => resolve());
      });
      req.end(body);
    });
  }

  #onFrame(frame: Frame, current: { name: string; chunks: Buffer[] } | undefined): { name: string; chunks: Buffer[] } | undefined {
    switch (frame.type) {
      case FrameType.LtxBegin:
        return { name: frame.name, chunks: [] };
      case FrameType.LtxData:
        if (!current) throw new Error('LTX data outside a file');
        current.chunks.push(frame.data);
        return current;
      case FrameType.LtxEnd: {
        if (!current) throw new Error('LTX end outside a file');
        const bytes = Buffer.concat(current.chunks);
        let file: LtxFile;
        try {
          // Snapshot pages are hashed as they are applied; decoding checks the file checksum.
          file = decodeLtx(bytes, { snapshotChecksum: false });
        } catch (err) {
          throw new Error(`corrupted LTX file for ${current.name} on the wire (${(err as Error).message}); asking again`);
        }
        this.#enqueue(current.name, { file, raw: { minTxid: file.header.minTxid, maxTxid: file.header.maxTxid, bytes } });
        return undefined;
      }
      case FrameType.Ready:
        this.ready = true;
        this.#o.logger.info('caught up with the primary');
        this.emit('ready');
        void this.#reportStatus();
        return current;
      case FrameType.Heartbeat:
        this.#primaryTxids = frame.heartbeat.txids;
        for (const [name, txid] of Object.entries(frame.heartbeat.txids)) this.#noteBehind(name, txid);
        return current;
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

  #enqueue(name: string, r: Received): void {
    this.#noteBehind(name, r.file.header.maxTxid);
    let q = this.#queues.get(name);
    if (!q) this.#queues.set(name, (q = []));
    q.push(r);
    this.#queuedBytes += r.raw.bytes.length;
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
        let bytes = batch[0]!.raw.bytes.length;
        if (!isSnapshot(batch[0]!.file.header)) {
          while (q.length > 0 && !isSnapshot(q[0]!.file.header) && bytes < MAX_BATCH_BYTES) {
            bytes += q[0]!.raw.bytes.length;
            batch.push(q.shift()!);
          }
        }
        for (const b of batch) this.#queuedBytes -= b.raw.bytes.length;
        let db: ReplicaDatabase;
        try {
          db = this.#database(name);
          db.apply(batch.length === 1 ? batch[0]!.file : mergeLtxFiles(batch.map((b) => b.file)));
        } catch (err) {
          this.#o.logger.error({ db: name, err: (err as Error).message }, 'cannot apply LTX from the primary; reconnecting from the current position');
          this.#queuedBytes -= q.reduce((n, r) => n + r.raw.bytes.length, 0);
          q.length = 0;
          this.#req?.destroy();
          break;
        }
        const pos = db.pos;
        if ((this.#primaryTxids[name] ?? 0) <= pos.txid) this.#behindSince.delete(name);
        this.emit('tx', { name, txid: pos.txid, checksum: pos.checksum } satisfies ReplicaTxEvent);
        if (db.foreignWrite) {
          db.resetPosition();
          this.#queuedBytes -= q.reduce((n, r) => n + r.raw.bytes.length, 0);
          q.length = 0;
          this.#req?.destroy();
          break;
        }
      }
    }
    if (this.#queuedBytes <= MAX_QUEUED_BYTES) this.#res?.resume();
  }

  #database(name: string): ReplicaDatabase {
    let db = this.databases.get(name);
    if (!db) {
      const dbPath = path.join(this.#o.dir, name);
      db = new ReplicaDatabase({ name, dbPath, stateDir: path.join(this.#o.dataDir, 'dbs', name), logger: this.#o.logger });
      try {
        db.open();
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
