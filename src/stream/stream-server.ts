import type http from 'node:http';
import type { Logger } from 'pino';
import { readJsonBody } from '../api/api-server.ts';
import { snapshotLtx } from '../capture/snapshot-ltx.ts';
import { headerFields } from '../log/segment-log.ts';
import { formatPos, parsePos, samePos, ZERO_POS, type Pos } from '../ltx/position.ts';
import type { CommitEvent, DB } from '../store/db.ts';
import type { Store } from '../store/store.ts';
import { formatNodeId } from '../node/identity.ts';
import { encodeFrame, FrameType, frameChunks, type Frame, type PeerNode } from './frames.ts';
import { ConflictError, InvalidRequestError } from '../errors.ts';

/** Header naming the cluster on both the request (the replica's, if it has one) and the response. */
export const CLUSTER_ID_HEADER = 'litefleet-cluster-id';
export const HEARTBEAT_INTERVAL_MS = 1000;
const CHUNK_BYTES = 256 * 1024;
// A catch-up reads this much of the log at a time (one read, sent in one write).
const READ_BYTES = 4 * 1024 * 1024;
// New transactions waiting in memory for one connection; past this it reads them from the log.
const TAIL_BYTES = 16 * 1024 * 1024;
// A replica gets the newest terms records: enough to compare histories, however many failovers there were.
const MAX_TERMS = 64;

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
 * then on each new transaction as capture produced it (from memory), with heartbeats when idle.
 * A replica that falls behind costs the primary no more than a bounded queue: past it, the files
 * are read from the log in large reads when the replica gets to them.
 */
export class StreamServer {
  readonly #store: Store;
  readonly #clusterId: string;
  readonly #nodeId: bigint;
  readonly #logger: Logger;
  readonly #replicas = new Map<http.ServerResponse, ConnectedReplica>();
  readonly #control = new Map<ConnectedReplica, Control>();
  readonly #leaseValid: () => boolean;
  readonly #selfUrl: string;
  readonly #onReplica: ((peer: PeerNode) => void) | undefined;

  /**
   * `leaseValid` is asked before every send: a primary whose lease may have run out sends nothing.
   * `selfUrl` is where the other nodes reach this one; `onReplica` hears of every replica that
   * connects (the primary remembers its peers too, for when it is a candidate again).
   */
  constructor(o: { store: Store; clusterId: string; nodeId: bigint; selfUrl: string; logger: Logger; leaseValid: () => boolean; onReplica?: (peer: PeerNode) => void }) {
    this.#store = o.store;
    this.#selfUrl = o.selfUrl;
    this.#onReplica = o.onReplica;
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

  /** This node and every replica streaming from it that said where it answers. */
  #nodes(): PeerNode[] {
    const replicas = [...this.#replicas.values()].filter((r) => r.url !== undefined).map((r) => ({ id: r.nodeId, url: r.url! }));
    return [{ id: formatNodeId(this.#nodeId), url: this.#selfUrl }, ...replicas];
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
      throw new ConflictError(`this primary is in cluster ${this.#clusterId}, the replica in ${theirs}: refusing to stream to another cluster`);
    }
    const body = (await readJsonBody(req)) as Partial<StreamRequest>;
    if (typeof body.nodeId !== 'string' || typeof body.positions !== 'object' || body.positions === null) {
      throw new InvalidRequestError('expected {"nodeId": "...", "positions": {"<db>": "<txid>/<checksum>"}}');
    }
    const positions = new Map<string, Pos>();
    for (const [name, text] of Object.entries(body.positions)) {
      try {
        positions.set(name, parsePos(String(text)));
      } catch {
        throw new InvalidRequestError(`position of ${name} is not <txid>/<checksum>: ${String(text)}`);
      }
    }

    res.writeHead(200, { 'content-type': 'application/octet-stream', [CLUSTER_ID_HEADER]: this.#clusterId, 'cache-control': 'no-store' });
    res.flushHeaders();
    req.socket.setNoDelay(true);
    const replica: ConnectedReplica = { nodeId: body.nodeId, url: body.url, candidate: body.candidate === true, connectedAt: Date.now(), databases: {} };
    this.#replicas.set(res, replica);
    if (replica.url) this.#onReplica?.({ id: replica.nodeId, url: replica.url });
    const control: Control = { wake: () => wake?.() };
    this.#control.set(replica, control);
    this.#logger.info({ replica: body.nodeId, databases: positions.size }, 'replica connected');

    const dirty = new Set<string>([...positions.keys(), ...this.#store.dbs.keys()]);
    const tails = new Map<string, Tail>();
    /** The terms record last sent for each database, as JSON. */
    const sentTerms = new Map<string, string>();
    let wake: (() => void) | undefined;
    const onDrop = (name: string) => {
      dirty.add(name);
      wake?.();
    };
    const onCommit = (ev: CommitEvent) => {
      if (ev.ltx) {
        let t = tails.get(ev.name);
        if (!t) tails.set(ev.name, (t = { events: [], bytes: 0 }));
        if (t.bytes < TAIL_BYTES) {
          t.events.push(ev);
          t.bytes += ev.ltx.length;
        }
      }
      onDrop(ev.name);
    };
    this.#store.on('commit', onCommit);
    this.#store.on('drop', onDrop);
    let closed = false;
    res.on('close', () => {
      closed = true;
      wake?.();
    });
    // Several frames given at once go out in one write.
    const send: Send = (...frames) => write(res, frames);
    try {
      let ready = false;
      let lastBeat = 0;
      while (!closed) {
        if (!this.#leaseValid()) throw new Error('this node may no longer hold the primary lease');
        const names = [...dirty];
        dirty.clear();
        for (const name of names) {
          if (closed) break;
          await this.#catchUp(name, positions, send, tails, sentTerms);
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
          const txids = Object.fromEntries([...this.#store.dbs.values()].map((d) => [d.name, d.pos.txid]));
          await send({ type: FrameType.Heartbeat, heartbeat: { time: Date.now(), txids, nodes: this.#nodes() } });
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

  /**
   * Sends whatever takes the replica's copy of `name` to the primary's position: the transactions
   * capture just made (from memory) when the replica is at the tail, else ranges of the log, else
   * a snapshot of the database.
   */
  async #catchUp(name: string, positions: Map<string, Pos>, send: Send, tails: Map<string, Tail>, sentTerms: Map<string, string>): Promise<void> {
    const db = this.#store.dbs.get(name);
    if (!db?.capture) {
      tails.delete(name);
      if (positions.has(name)) {
        positions.delete(name);
        await send({ type: FrameType.DropDb, name });
      }
      return;
    }
    // The replica learns which term wrote what before the transactions arrive (see Lease.term).
    const sendTerms = async () => {
      const terms = db.log.terms.slice(-MAX_TERMS).map(([f, t]): [number, number] => [f, t]);
      const json = JSON.stringify(terms);
      if (terms.length === 0 || sentTerms.get(name) === json) return;
      await send({ type: FrameType.Terms, terms: { name, terms } });
      sentTerms.set(name, json);
    };
    await sendTerms();
    let pos = positions.get(name) ?? ZERO_POS;
    const tail = tails.get(name);
    // Ahead of the primary, or the same TXID with other contents: this replica's history is not ours.
    let diverged = pos.txid > db.pos.txid || (pos.txid === db.pos.txid && pos.checksum !== db.pos.checksum);
    while (diverged || pos.txid < db.pos.txid) {
      const next = pos.txid === 0 || diverged ? undefined : this.#next(db, pos, tail);
      if (next === 'diverged') {
        diverged = true;
        continue;
      }
      if (next) {
        await send(...next.files.flatMap((data) => ltxFrames(name, data)));
        pos = next.pos;
      } else {
        if (diverged && pos.txid > 0) {
          // Tell the replica where our history has been, so it can keep what it must discard.
          const points = [db.pos, ...db.log.historyPoints()].map(formatPos);
          this.#logger.warn({ db: name, replica: formatPos(pos) }, "replica history diverged from the primary's; resetting it with a snapshot");
          await send({ type: FrameType.Diverged, diverged: { name, points } });
        }
        pos = await this.#sendSnapshot(db, send);
        diverged = false;
        // A replica that set history aside or started over from the snapshot forgot the terms
        // past it: it gets them again.
        sentTerms.delete(name);
        await sendTerms();
      }
      positions.set(name, pos);
    }
    if (tail) {
      tail.events.length = 0;
      tail.bytes = 0;
    }
  }

  /**
   * The transactions after `pos`: from the connection's in-memory tail when it continues `pos`,
   * else read from the log; 'diverged' when the next transaction of our history starts from
   * another state than the replica's; undefined when neither has it (a snapshot serves).
   */
  #next(db: DB, pos: Pos, tail: Tail | undefined): { files: Buffer[]; pos: Pos } | 'diverged' | undefined {
    if (tail) {
      const at = tail.events.findIndex((e) => e.pre.txid === pos.txid);
      if (at >= 0 && tail.events[at]!.pre.checksum === pos.checksum) {
        const taken = tail.events.splice(0, tail.events.length).slice(at);
        tail.bytes = 0;
        const files: Buffer[] = [];
        let p = pos;
        for (const e of taken) {
          if (e.pre.txid !== p.txid || e.pre.checksum !== p.checksum) break;
          files.push(e.ltx!);
          p = { txid: e.txid, checksum: e.checksum };
        }
        return { files, pos: p };
      }
      tail.events.length = 0;
      tail.bytes = 0;
    }
    let read;
    try {
      read = db.log.read(pos.txid + 1, READ_BYTES);
    } catch (err) {
      // Pruned meanwhile, or damaged on disk: a snapshot serves instead.
      this.#logger.warn({ db: db.name, txid: pos.txid + 1, err }, 'cannot read the log; sending a snapshot');
      return undefined;
    }
    if (!read) return undefined;
    if (headerFields(read.files[0]!).pre !== pos.checksum) return 'diverged';
    return read;
  }

  /** Streams the database as it is now as snapshot LTX 1-N; resolves with its position. */
  async #sendSnapshot(db: DB, send: Send): Promise<Pos> {
    const snap = db.capture!.openSnapshotRead();
    try {
      const { pos, pageCount } = snap;
      await send({ type: FrameType.LtxBegin, name: db.name });
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
      this.#logger.info({ db: db.name, txid: pos.txid, pages: pageCount }, 'sent snapshot to replica');
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


/** The frames of one LTX file: its bytes in pieces a frame may hold (views, not copies). */
function ltxFrames(name: string, data: Buffer): Frame[] {
  const frames: Frame[] = [{ type: FrameType.LtxBegin, name }];
  for (let off = 0; off < data.length; off += CHUNK_BYTES) frames.push({ type: FrameType.LtxData, data: data.subarray(off, off + CHUNK_BYTES) });
  frames.push({ type: FrameType.LtxEnd });
  return frames;
}

/** New transactions for one connection, in order, as capture produced them. */
interface Tail {
  events: CommitEvent[];
  bytes: number;
}

/**
 * Writes frames to the response as one buffer, waiting for the socket to drain when its buffer is
 * full: each write of a response is a chunk of its own, with a header the replica parses, and a
 * catch-up sends thousands of frames at once.
 */
function write(res: http.ServerResponse, frames: Frame[]): Promise<void> {
  if (res.destroyed) return Promise.reject(new Error('replica went away'));
  const ok = res.write(frames.length === 1 ? encodeFrame(frames[0]!) : Buffer.concat(frames.flatMap((f) => frameChunks(f).filter((c): c is Buffer => c !== undefined))));
  if (ok) return Promise.resolve();
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
