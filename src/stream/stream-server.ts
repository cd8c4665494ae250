import type http from 'node:http';
import type { Logger } from 'pino';
import { headerFields } from '../ltx/header.ts';
import { formatPos, parsePos, samePos, ZERO_POS, type Pos } from '../ltx/position.ts';
import type { CommitEvent } from '../log/commit-event.ts';
import type { DB } from '../store/db.ts';
import type { Store } from '../store/store.ts';
import { validateDatabaseName } from '../store/names.ts';
import { formatNodeId } from '../store/identity.ts';
import { CLUSTER_ID_HEADER, type StreamRequest } from '../protocol/api-types.ts';
import { FrameType, type PeerNode } from '../protocol/frames.ts';
import { ConflictError, InvalidRequestError } from '../errors.ts';
import { ltxFrames, sendSnapshot, writeFrames, type Send } from './frame-writer.ts';
import { ReplicaAcks } from './replica-acks.ts';
import { SkippedSnapshots, SnapshotUnavailable } from './skipped-snapshots.ts';

export const HEARTBEAT_INTERVAL_MS = 1000;
// A catch-up reads this much of the log at a time (one read, sent in one write).
const READ_BYTES = 4 * 1024 * 1024;
// New transactions waiting in memory for one connection; past this it reads them from the log, in
// large reads that glibc maps and gives back, where the tail's many small Buffers leave behind heap
// it keeps (see the replica's MAX_QUEUED_BYTES). 2 MB is seconds of a busy app's commits.
const TAIL_BYTES = 2 * 1024 * 1024;
// How long a stream waits for an app's write to end before it skips a snapshot for now (the wait
// holds up this replica's other databases, never the thread).
const SNAPSHOT_WAIT_MS = 200;

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
  /** Counts the replicas joining with a URL: each stream sends the node list again when it changed. */
  #joined = 0;
  readonly #leaseValid: () => boolean;
  readonly #selfUrl: string;
  readonly #onReplica: ((peer: PeerNode) => void) | undefined;
  /** What each replica has applied (from its reports), and the writes waiting for it. */
  readonly acks: ReplicaAcks;

  /**
   * `leaseValid` is asked before every send: a primary whose lease may have run out sends nothing.
   * `selfUrl` is where the other nodes reach this one; `onReplica` hears of every replica that
   * connects (the primary remembers its peers too, for when it is a candidate again); `onAck`
   * hears of each position a replica reports having applied.
   */
  constructor(o: { store: Store; clusterId: string; nodeId: bigint; selfUrl: string; logger: Logger; leaseValid: () => boolean; onReplica?: (peer: PeerNode) => void; onAck?: (nodeId: string, db: string, txid: number) => void }) {
    this.acks = new ReplicaAcks({ onAck: o.onAck, streaming: () => new Set([...this.#replicas.values()].map((r) => r.nodeId)).size });
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

  /**
   * Records what a replica reports about itself (POST /replica-status). A replica reports only
   * once caught up with this primary, so its positions are of this primary's history.
   */
  reportStatus(nodeId: string, databases: ConnectedReplica['databases']): boolean {
    let found = false;
    for (const r of this.#replicas.values()) {
      if (r.nodeId !== nodeId) continue;
      r.databases = databases;
      found = true;
    }
    if (found) for (const [name, d] of Object.entries(databases)) this.acks.ack(nodeId, name, d.txid);
    return found;
  }

  /** Ends every stream and fails the writes waiting for replicas (the node is stopping or no longer primary). */
  closeAll(): void {
    for (const res of this.#replicas.keys()) res.destroy();
    this.#replicas.clear();
    this.acks.close();
  }

  /**
   * Serves one replica (POST /stream, its request already read and checked for shape) until it
   * goes away. `theirCluster` is the cluster the replica belongs to, if it has synced before.
   */
  async handle(body: StreamRequest, theirCluster: string | undefined, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (theirCluster && theirCluster !== this.#clusterId) {
      throw new ConflictError(`this primary is in cluster ${this.#clusterId}, the replica in ${theirCluster}: refusing to stream to another cluster`);
    }
    const positions = new Map<string, Pos>();
    for (const [name, text] of Object.entries(body.positions)) {
      const valid = validateDatabaseName(name);
      try {
        positions.set(valid, parsePos(text));
      } catch {
        throw new InvalidRequestError(`position of ${name} is not <txid>/<checksum>: ${text}`);
      }
    }

    res.writeHead(200, { 'content-type': 'application/octet-stream', [CLUSTER_ID_HEADER]: this.#clusterId, 'cache-control': 'no-store' });
    res.flushHeaders();
    req.socket.setNoDelay(true);
    const replica: ConnectedReplica = { nodeId: body.nodeId, url: body.url, candidate: body.candidate === true, connectedAt: Date.now(), databases: {} };
    this.#replicas.set(res, replica);
    if (replica.url) {
      this.#onReplica?.({ id: replica.nodeId, url: replica.url });
      // Every other replica learns of this one now, not at its next heartbeat: a candidate restarted
      // later must know whom to ask for what it lacks, even if it stopped within that second.
      this.#joined++;
      for (const c of this.#control.values()) c.wake();
    }
    const control: Control = { wake: () => wake?.() };
    this.#control.set(replica, control);
    this.#logger.info({ replica: body.nodeId, databases: positions.size }, 'replica connected');

    const dirty = new Set<string>([...positions.keys(), ...this.#store.dbs.keys()]);
    const tails = new Map<string, Tail>();
    /** The terms record last sent for each database (the log replaces it whenever it changes). */
    const sentTerms = new Map<string, Terms>();
    let wake: (() => void) | undefined;
    const markDirty = (name: string) => {
      dirty.add(name);
      wake?.();
    };
    const skipped = new SkippedSnapshots(markDirty);
    const onCommit = (ev: CommitEvent) => {
      if (ev.ltx) {
        let t = tails.get(ev.name);
        if (!t) tails.set(ev.name, (t = { events: [], bytes: 0 }));
        if (t.bytes < TAIL_BYTES) {
          t.events.push(ev);
          t.bytes += ev.ltx.length;
        }
      }
      markDirty(ev.name);
    };
    this.#store.on('commit', onCommit);
    this.#store.on('drop', markDirty);
    this.#store.on('opened', markDirty);
    let closed = false;
    res.on('close', () => {
      closed = true;
      wake?.();
    });
    // Several frames given at once go out in one write.
    const send: Send = (...frames) => writeFrames(res, frames);
    try {
      let ready = false;
      let lastBeat = 0;
      let sentJoined = -1;
      while (!closed) {
        if (!this.#leaseValid()) throw new Error('this node may no longer hold the primary lease');
        const names = [...dirty];
        dirty.clear();
        for (const name of names) {
          if (closed) break;
          // A handoff waits for every database, and writes are paused: no waiting for a retry then.
          if (!skipped.due(name) && !control.handoff?.positions.has(name)) continue;
          try {
            await this.#catchUp(name, positions, send, tails, sentTerms);
            if (skipped.forget(name)) this.#logger.info({ replica: body.nodeId, db: name }, 'sent the snapshot skipped before');
          } catch (err) {
            if (!(err instanceof SnapshotUnavailable)) throw err;
            const { attempts, retryInMs } = skipped.skip(name);
            // The others go on; this one is tried again (logged at the first try and then rarely).
            if ((attempts & (attempts - 1)) === 0) this.#logger.warn({ replica: body.nodeId, db: name, attempts, retryInMs, err: err.message }, 'skipping a database in the stream for now');
          }
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
        if (Date.now() - lastBeat >= HEARTBEAT_INTERVAL_MS || names.length === 0 || sentJoined !== this.#joined) {
          lastBeat = Date.now();
          sentJoined = this.#joined;
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
      this.#store.off('opened', markDirty);
      this.#store.off('drop', markDirty);
      skipped.close();
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
  async #catchUp(name: string, positions: Map<string, Pos>, send: Send, tails: Map<string, Tail>, sentTerms: Map<string, Terms>): Promise<void> {
    const db = this.#store.dbs.get(name);
    // One this node failed to capture, or has yet to open, is still the cluster's: the replica
    // keeps its copy (it is sent once captured).
    if (this.#store.failed.has(name) || this.#store.pending(name)) return;
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
      const record = db.log.terms;
      if (record.length === 0 || sentTerms.get(name) === record) return;
      await send({ type: FrameType.Terms, terms: { name, terms: db.log.recentTerms } });
      sentTerms.set(name, record);
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
        // Where our history has been, for a replica that must discard its own (it keeps what it can).
        const points = diverged && pos.txid > 0 ? [db.pos, ...db.log.historyPoints()].map(formatPos) : undefined;
        // Opened before anything is said of it: one that cannot be read now is skipped, the replica none the wiser.
        const snap = await db.openSnapshotRead(SNAPSHOT_WAIT_MS).catch((err: Error) => {
          throw new SnapshotUnavailable(name, err);
        });
        if (points) {
          this.#logger.warn({ db: name, replica: formatPos(pos) }, "replica history diverged from the primary's; resetting it with a snapshot");
          await send({ type: FrameType.Diverged, diverged: { name, points } }).catch((err: unknown) => {
            snap.close();
            throw err;
          });
        }
        const snapshot = await sendSnapshot(name, snap, send, this.#nodeId);
        this.#logger.info({ db: name, txid: snapshot.pos.txid, pages: snapshot.pageCount }, 'sent snapshot to replica');
        pos = snapshot.pos;
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
}

/** Per-connection control: waking its loop, and a pending handoff. */
interface Control {
  wake: () => void;
  handoff?: { positions: Map<string, Pos>; done: (err?: Error) => void };
}

/** A log's record of terms, as it hands it out. */
type Terms = DB['log']['terms'];

/** New transactions for one connection, in order, as capture produced them. */
interface Tail {
  events: CommitEvent[];
  bytes: number;
}
