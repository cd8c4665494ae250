import type http from 'node:http';
import type { Logger } from 'pino';
import { readJsonBody, RequestError } from '../api/api-server.ts';
import type { CommitEvent, DatabaseCapture } from '../capture/database-capture.ts';
import { snapshotLtx } from '../capture/snapshot-ltx.ts';
import { decodeLtx } from '../ltx/decoder.ts';
import { formatPos, parsePos, samePos, ZERO_POS, type Pos } from '../ltx/position.ts';
import type { Store } from '../store/store.ts';
import { encodeFrame, FrameType, type Frame } from './frames.ts';

/** Header naming the cluster on both the request (the replica's, if it has one) and the response. */
export const CLUSTER_ID_HEADER = 'litefleet-cluster-id';
export const HEARTBEAT_INTERVAL_MS = 1000;
const CHUNK_BYTES = 256 * 1024;

/** Writes frames to one replica's stream, waiting while its socket buffer is full. */
type Send = (...frames: Frame[]) => Promise<void>;

/** What a replica says when it connects (the body of POST /stream). */
export interface StreamRequest {
  nodeId: string;
  /** Where its API answers, for `litefleet status`. */
  url?: string;
  /** Whether it may become primary (handoff targets are candidates). */
  candidate?: boolean;
  /** Each database's position as `<txid>/<checksum>`. */
  positions: Record<string, string>;
}

/** A replica connected to this primary, as `litefleet status` shows it. */
export interface ConnectedReplica {
  nodeId: string;
  url: string | undefined;
  candidate: boolean;
  connectedAt: number;
  /** The positions the replica reported last (see reportStatus). */
  databases: Record<string, { txid: number; lagMs: number }>;
}

/**
 * The primary's side of replication: `POST /stream`. Each replica states its positions; the
 * server sends whatever LTX files take it to the primary's positions, a snapshot where the log
 * cannot (behind the retention window, ahead, a checksum that disagrees), then Ready, and from
 * then on each new file as it is written, with heartbeats when idle. A connection keeps a set of
 * databases with news rather than a queue of files, so a slow replica costs the primary nothing
 * but its socket buffer: it reads the files from the log when it gets to them.
 */
export class StreamServer {
  readonly #store: Store;
  readonly #clusterId: string;
  readonly #nodeId: bigint;
  readonly #logger: Logger;
  readonly #replicas = new Map<http.ServerResponse, ConnectedReplica>();
  readonly #control = new Map<ConnectedReplica, Control>();
  readonly #leaseValid: () => boolean;

  /** `leaseValid` is asked before every send: a primary whose lease may have run out sends nothing. */
  constructor(o: { store: Store; clusterId: string; nodeId: bigint; logger: Logger; leaseValid: () => boolean }) {
    this.#store = o.store;
    this.#clusterId = o.clusterId;
    this.#nodeId = o.nodeId;
    this.#logger = o.logger;
    this.#leaseValid = o.leaseValid;
  }

  /**
   * Sends the replica `nodeId` everything up to `positions` (the final ones: writes are paused),
   * then a Handoff frame telling it to take the lease. Resolves once the frame is written.
   */
  handoff(nodeId: string, positions: Map<string, Pos>, timeoutMs: number): Promise<void> {
    const replica = [...this.#replicas.values()].find((r) => r.nodeId === nodeId);
    const control = replica && this.#control.get(replica);
    if (!control) return Promise.reject(new Error(`node ${nodeId} is not streaming from this primary`));
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        control.handoff = undefined;
        reject(new Error(`node ${nodeId} did not receive the final transactions within ${timeoutMs} ms`));
      }, timeoutMs);
      control.handoff = {
        positions,
        done: (err) => {
          clearTimeout(timer);
          control.handoff = undefined;
          if (err) reject(err);
          else resolve();
        },
      };
      control.wake();
    });
  }

  /** The replicas streaming from this node now. */
  get replicas(): ConnectedReplica[] {
    return [...this.#replicas.values()];
  }

  /** Records what a replica reports about itself (POST /replica-status). */
  reportStatus(nodeId: string, databases: ConnectedReplica['databases']): boolean {
    let found = false;
    for (const r of this.#replicas.values()) {
      if (r.nodeId === nodeId) {
        r.databases = databases;
        found = true;
      }
    }
    return found;
  }

  /** Ends every stream (the node is stopping or no longer primary). */
  closeAll(): void {
    for (const res of this.#replicas.keys()) res.destroy();
    this.#replicas.clear();
  }

  /** Handles POST /stream until the replica goes away. */
  async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const theirs = req.headers[CLUSTER_ID_HEADER];
    if (typeof theirs === 'string' && theirs !== '' && theirs !== this.#clusterId) {
      throw new RequestError(409, `this primary is in cluster ${this.#clusterId}, the replica in ${theirs}: refusing to stream to another cluster`);
    }
    const body = (await readJsonBody(req)) as Partial<StreamRequest>;
    if (typeof body.nodeId !== 'string' || typeof body.positions !== 'object' || body.positions === null) {
      throw new RequestError(400, 'expected {"nodeId": "...", "positions": {"<db>": "<txid>/<checksum>"}}');
    }
    const positions = new Map<string, Pos>();
    for (const [name, text] of Object.entries(body.positions)) {
      try {
        positions.set(name, parsePos(String(text)));
      } catch {
        throw new RequestError(400, `position of ${name} is not <txid>/<checksum>: ${String(text)}`);
      }
    }

    res.writeHead(200, { 'content-type': 'application/octet-stream', [CLUSTER_ID_HEADER]: this.#clusterId, 'cache-control': 'no-store' });
    res.flushHeaders();
    req.socket.setNoDelay(true);
    const replica: ConnectedReplica = { nodeId: body.nodeId, url: body.url, candidate: body.candidate === true, connectedAt: Date.now(), databases: {} };
    this.#replicas.set(res, replica);
    const control: Control = { wake: () => wake?.() };
    this.#control.set(replica, control);
    this.#logger.info({ replica: body.nodeId, databases: positions.size }, 'replica connected');

    const dirty = new Set<string>([...positions.keys(), ...this.#store.captures.keys()]);
    let wake: (() => void) | undefined;
    const onDrop = (name: string) => {
      dirty.add(name);
      wake?.();
    };
    const onCommit = (ev: CommitEvent) => onDrop(ev.name);
    this.#store.on('commit', onCommit);
    this.#store.on('drop', onDrop);
    let closed = false;
    res.on('close', () => {
      closed = true;
      wake?.();
    });
    // Several frames given at once go out in one write.
    const send: Send = (...frames) => write(res, frames.length === 1 ? encodeFrame(frames[0]!) : Buffer.concat(frames.map(encodeFrame)));
    try {
      let ready = false;
      let lastBeat = 0;
      while (!closed) {
        if (!this.#leaseValid()) throw new Error('this node may no longer hold the primary lease');
        const names = [...dirty];
        dirty.clear();
        for (const name of names) {
          if (closed) break;
          await this.#catchUp(name, positions, send);
        }
        if (!ready) {
          ready = true;
          await send({ type: FrameType.Ready });
        }
        const handoff = control.handoff;
        if (handoff && [...handoff.positions].every(([name, p]) => samePos(positions.get(name), p))) {
          await send({ type: FrameType.Handoff, handoff: { positions: Object.fromEntries([...handoff.positions].map(([n, p]) => [n, formatPos(p)])) } });
          handoff.done();
        } else if (handoff) {
          // Not there yet: another pass over those databases, after letting I/O in.
          for (const name of handoff.positions.keys()) dirty.add(name);
          await new Promise((r) => setImmediate(r));
        }
        if (Date.now() - lastBeat >= HEARTBEAT_INTERVAL_MS || names.length === 0) {
          lastBeat = Date.now();
          const txids = Object.fromEntries([...this.#store.captures.values()].map((c) => [c.name, c.pos.txid]));
          await send({ type: FrameType.Heartbeat, heartbeat: { time: Date.now(), txids } });
        }
        if (dirty.size === 0 && !closed && !control.handoff) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, HEARTBEAT_INTERVAL_MS);
            wake = () => {
              clearTimeout(timer);
              resolve();
            };
          });
          wake = undefined;
        }
      }
    } catch (err) {
      if (!closed) this.#logger.warn({ replica: body.nodeId, err }, 'stream to replica failed');
    } finally {
      this.#store.off('commit', onCommit);
      this.#store.off('drop', onDrop);
      this.#replicas.delete(res);
      this.#control.delete(replica);
      control.handoff?.done(new Error(`node ${body.nodeId} disconnected`));
      res.destroy();
      this.#logger.info({ replica: body.nodeId }, 'replica disconnected');
    }
  }

  /** Sends whatever takes the replica's copy of `name` to the primary's position. */
  async #catchUp(name: string, positions: Map<string, Pos>, send: Send): Promise<void> {
    const cap = this.#store.captures.get(name);
    if (!cap) {
      if (positions.has(name)) {
        positions.delete(name);
        await send({ type: FrameType.DropDb, name });
      }
      return;
    }
    let pos = positions.get(name) ?? ZERO_POS;
    const primary = cap.pos;
    // Ahead of the primary, or the same TXID with other contents: this replica's history is not ours.
    let diverged = pos.txid > primary.txid || (pos.txid === primary.txid && pos.checksum !== primary.checksum);
    while (diverged || pos.txid < cap.pos.txid) {
      const next = pos.txid === 0 || diverged ? undefined : this.#readNext(cap, pos);
      if (next === 'diverged') {
        diverged = true;
        continue;
      }
      if (next) {
        await sendLtx(name, next.bytes, send);
        pos = next.pos;
      } else {
        if (diverged && pos.txid > 0) {
          // Tell the replica where our history has been, so it can keep what it must discard.
          const points = [cap.pos, ...cap.log.historyPoints()].map(formatPos);
          this.#logger.warn({ db: name, replica: formatPos(pos) }, 'replica history diverged from the primary\'s; resetting it with a snapshot');
          await send({ type: FrameType.Diverged, diverged: { name, points } });
        }
        pos = await this.#sendSnapshot(cap, send);
        diverged = false;
      }
      positions.set(name, pos);
    }
  }

  /** The log's file after `pos`, verified, if it is there and continues `pos`. */
  #readNext(cap: DatabaseCapture, pos: Pos): { bytes: Buffer; pos: Pos } | 'diverged' | undefined {
    const entry = cap.log.find(pos.txid + 1);
    if (!entry || entry.minTxid === 1) return undefined;
    try {
      const bytes = cap.log.read(entry);
      const file = decodeLtx(bytes);
      // The next transaction of our history starts from another state than the replica's.
      if (file.header.preApplyChecksum !== pos.checksum) return file.header.minTxid === pos.txid + 1 ? 'diverged' : undefined;
      return { bytes, pos: { txid: file.header.maxTxid, checksum: file.trailer.postApplyChecksum } };
    } catch (err) {
      // Pruned meanwhile, or damaged on disk: a snapshot serves instead.
      this.#logger.warn({ db: cap.name, file: entry.name, err }, 'cannot send LTX file from the log; sending a snapshot');
      return undefined;
    }
  }

  /** Streams the database as it is now as snapshot LTX 1-N; resolves with its position. */
  async #sendSnapshot(cap: DatabaseCapture, send: Send): Promise<Pos> {
    const snap = cap.openSnapshotRead();
    try {
      const { pos, pageCount } = snap;
      await send({ type: FrameType.LtxBegin, name: cap.name });
      let chunks: Uint8Array[] = [];
      let size = 0;
      const flush = async () => {
        if (size === 0) return;
        const data = Buffer.concat(chunks);
        chunks = [];
        size = 0;
        await send({ type: FrameType.LtxData, data });
      };
      for (const c of snapshotLtx(snap, this.#nodeId)) {
        chunks.push(c);
        size += c.length;
        if (size >= CHUNK_BYTES) await flush();
      }
      await flush();
      await send({ type: FrameType.LtxEnd });
      this.#logger.info({ db: cap.name, txid: pos.txid, pages: pageCount }, 'sent snapshot to replica');
      return pos;
    } finally {
      snap.close();
    }
  }
}

/** Per-connection control: waking its loop, and a pending handoff. */
interface Control {
  wake: () => void;
  handoff?: { positions: Map<string, Pos>; done: (err?: Error) => void };
}


async function sendLtx(name: string, bytes: Buffer, send: Send): Promise<void> {
  if (bytes.length <= CHUNK_BYTES) {
    // One write for the usual small file: catching up is thousands of them, and each write is a syscall.
    await send({ type: FrameType.LtxBegin, name }, { type: FrameType.LtxData, data: bytes }, { type: FrameType.LtxEnd });
    return;
  }
  await send({ type: FrameType.LtxBegin, name });
  for (let off = 0; off < bytes.length; off += CHUNK_BYTES) await send({ type: FrameType.LtxData, data: bytes.subarray(off, off + CHUNK_BYTES) });
  await send({ type: FrameType.LtxEnd });
}

/** Writes to the response, waiting for the socket to drain when its buffer is full. */
function write(res: http.ServerResponse, buf: Buffer): Promise<void> {
  if (res.destroyed) return Promise.reject(new Error('replica went away'));
  if (res.write(buf)) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      if (res.destroyed) reject(new Error('replica went away'));
      else resolve();
    };
    res.once('drain', done);
    res.once('close', done);
  });
}
