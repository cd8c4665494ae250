import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { Logger } from 'pino';
import { parseTerms } from '../log/segment-log.ts';
import { decodeLtx, type LtxFile } from '../ltx/decoder.ts';
import { decodeHeader, FLAG_COMPRESS_LZ4, HEADER_SIZE, isSnapshot, type LtxHeader } from '../ltx/header.ts';
import { readLtxFile, type LtxSource } from '../ltx/file-reader.ts';
import { formatPos, parsePos, samePos, type Pos } from '../ltx/position.ts';
import { formatNodeId, readClusterId, writeClusterId } from '../node/identity.ts';
import { validateDatabaseName } from '../store/names.ts';
import type { Store } from '../store/store.ts';
import { FrameParser, FrameType, StreamProtocolError, type Frame, type PeerNode } from './frames.ts';
import { CLUSTER_ID_HEADER } from './stream-server.ts';

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

  /** Starts streaming (the store's databases are open for apply). */
  start(): void {
    this.#timers.push(setInterval(() => void this.#reportStatus(), STATUS_INTERVAL_MS));
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
    return [...this.#o.store.dbs.values()].every((d) => d.pos.txid >= (this.#primaryTxids[d.name] ?? 0) && !d.applier?.resetting) && this.#queuedBytes === 0;
  }

  /** How far behind the primary each database is, in transactions and milliseconds. */
  lag(name: string): { txids: number; ms: number } {
    const db = this.#o.store.dbs.get(name);
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
        return { name: checkedName(frame.name), chunks: [], size: 0 };
      case FrameType.LtxData:
        if (!current) throw new Error('LTX data outside a file');
        if (!current.spool && current.size + frame.data.length > SPOOL_BYTES) {
          // A large file (a snapshot) goes to disk as it arrives, so memory stays bounded.
          // In the log's folder, whose *.tmp files recovery removes after a crash.
          const dir = this.#o.store.applying(current.name).log.segmentsDir;
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
        const bytes = current.chunks.length === 1 ? current.chunks[0]! : Buffer.concat(current.chunks);
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
        const txids = Object.fromEntries([...this.#o.store.dbs.values()].map((d) => [d.name, d.pos.txid]));
        this.#o.logger.info({ txids }, 'caught up with the primary');
        this.emit('ready');
        void this.#reportStatus();
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
    const mine = this.#o.store.dbs.get(name)?.pos.txid ?? 0;
    if (primaryTxid > mine && !this.#behindSince.has(name)) this.#behindSince.set(name, Date.now());
  }

  /** Applies what has arrived: a snapshot or a large file alone, otherwise contiguous files coalesced into one transaction. */
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
        const first = batch[0]!;
        let applier: NonNullable<ReturnType<Store['applying']>['applier']>;
        try {
          applier = this.#o.store.applying(name).applier!;
          if (first.spool && isSnapshot(first.header)) applier.applySnapshot(readSpooled(first.spool));
          else if (first.spool) applier.applyLarge(first.spool);
          else if (isSnapshot(first.header)) applier.applySnapshot(first.file!);
          else applier.apply(batch.map((b) => ({ file: b.file!, bytes: b.bytes! })));
        } catch (err) {
          this.#o.logger.error({ db: name, err: (err as Error).message }, 'cannot apply LTX from the primary; reconnecting from the current position');
          this.#dropQueue(q);
          this.#req?.destroy();
          break;
        } finally {
          if (first.spool) fs.rmSync(first.spool, { force: true });
        }
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
    if (this.#queuedBytes <= MAX_QUEUED_BYTES) this.#res?.resume();
  }

  #dropQueue(q: Received[]): void {
    for (const r of q) {
      this.#queuedBytes -= r.size;
      if (r.spool) fs.rmSync(r.spool, { force: true });
    }
    q.length = 0;
  }

  /** Tells the primary where this replica is, for `litefleet status` there. */
  async #reportStatus(): Promise<void> {
    const url = this.#primaryUrl;
    if (!url || this.connectedAt === undefined) return;
    const databases = Object.fromEntries([...this.#o.store.dbs.values()].map((d) => [d.name, { txid: d.pos.txid, lagMs: this.lag(d.name).ms }]));
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

/** A database name from the wire, refused unless it is a plain database name (no path, no SQLite side file). */
function checkedName(name: unknown): string {
  try {
    return validateDatabaseName(name);
  } catch (err) {
    throw new StreamProtocolError(`the primary sent ${(err as Error).message}`);
  }
}

/** A position from the wire. */
function checkedPos(text: unknown): Pos {
  try {
    return parsePos(String(text));
  } catch (err) {
    throw new StreamProtocolError(`the primary sent a malformed position: ${(err as Error).message}`);
  }
}

/** A heartbeat's TXIDs: database names and non-negative safe integers only. */
function checkedTxids(txids: unknown): Record<string, number> {
  if (typeof txids !== 'object' || txids === null || Array.isArray(txids)) throw new StreamProtocolError('the primary sent a heartbeat without TXIDs');
  const out: Record<string, number> = {};
  for (const [name, txid] of Object.entries(txids)) {
    if (!Number.isSafeInteger(txid) || (txid as number) < 0) throw new StreamProtocolError(`the primary sent TXID ${JSON.stringify(txid)} for ${name}`);
    out[checkedName(name)] = txid as number;
  }
  return out;
}
