import type { Logger } from 'pino';
import { snapshotLtx } from '../sqlite/snapshot-ltx.ts';
import { headerFields } from '../ltx/header.ts';
import { formatHex64 } from '../ltx/checksum.ts';
import { formatPos, samePos, type Pos } from '../ltx/position.ts';
import type { DB } from '../store/db.ts';
import type { Store } from '../store/store.ts';
import type { BackupTarget } from './backup-target.ts';
import { backupKey, newGeneration, parseBackupKey } from './layout.ts';
import { BackupMaintenance } from './maintenance.ts';
import { decodeSegment, encodeSegment } from './segment.ts';

const SHIP_INTERVAL_MS = 1_000;
// A segment holds at most this much, so a burst becomes several objects, not one huge one.
const MAX_SEGMENT_BYTES = 64 * 1024 * 1024;

interface Chain {
  generation: string;
  pos: Pos;
}

/** How often compactions, snapshots and retention run, and the retention window (ms). */
export interface BackupSchedule {
  l1: number;
  l2: number;
  l3: number;
  snapshot: number;
  retention: number;
  retentionInterval: number;
}

/**
 * Continuous backup from the primary: about once a second, every database's new transactions go
 * to the target as one level-0 segment — the log's bytes as they are, read in large reads —
 * continuing the chain of the newest generation there. Every node logs every transaction it
 * captured or applied, so a replica promoted after a crash ships the old primary's unshipped tail
 * from its own log. When the chain cannot be continued — nothing there yet, a file whose pre-apply
 * checksum does not follow the last shipped one (another primary's history, a restored cluster),
 * or transactions no longer in the log — a new generation starts with a snapshot of the database.
 */
export class BackupShipper {
  readonly #store: Store;
  readonly #target: BackupTarget;
  readonly #logger: Logger;
  readonly #chains = new Map<string, Chain>();
  readonly #schedule: BackupSchedule;
  readonly #maintenance: BackupMaintenance;
  /** When each periodic task last ran, by `<db> <task>`. */
  readonly #lastRun = new Map<string, number>();
  readonly #startedAt = Date.now();
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  readonly #leaseValid: () => boolean;
  readonly #onShipped: ((db: string, pos: Pos) => void) | undefined;

  /**
   * `leaseValid` is asked before every upload, so a primary whose lease may have passed on
   * (frozen, cut off) adds nothing to a chain its successor now continues. `onShipped` hears of
   * each position the backup reaches.
   */
  constructor(o: { store: Store; target: BackupTarget; logger: Logger; schedule: BackupSchedule; leaseValid?: () => boolean; onShipped?: (db: string, pos: Pos) => void }) {
    this.#onShipped = o.onShipped;
    this.#store = o.store;
    this.#target = o.target;
    this.#logger = o.logger;
    this.#schedule = o.schedule;
    this.#leaseValid = o.leaseValid ?? (() => true);
    this.#maintenance = new BackupMaintenance(o.target, o.logger);
  }

  /** The position the backup of `db` has reached (undefined before the first pass found or started a chain). */
  shipped(db: string): Pos | undefined {
    return this.#chains.get(db)?.pos;
  }

  start(): void {
    this.#timer = setInterval(() => void this.ship(), SHIP_INTERVAL_MS);
  }

  /** Ships what is new now; resolves when done (one pass at a time). */
  ship(): Promise<void> {
    // Cleared in a then-callback, so never before it is set (a pass with nothing to do ends at once).
    this.#running ??= this.#shipAll().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  async #shipAll(): Promise<void> {
    for (const db of [...this.#store.dbs.values()]) {
      if (!db.capture) continue;
      try {
        await this.#shipDatabase(db);
        await this.#maintain(db);
      } catch (err) {
        this.#logger.error({ db: db.name, err: (err as Error).message }, 'backup failed; retrying');
      }
    }
  }

  /** Ships everything committed before the call: waits out a pass already running (it may have read the log earlier), then runs one. */
  async flush(): Promise<void> {
    await this.#running;
    await this.ship();
  }

  /** Stops without shipping more (the node lost the lease: what it has not shipped may not be the cluster's history). */
  halt(): void {
    clearInterval(this.#timer);
  }

  /** Ships what is left and stops. */
  async stop(): Promise<void> {
    this.halt();
    await this.flush();
  }

  async #shipDatabase(cap: DB): Promise<void> {
    const chain = this.#chains.get(cap.name) ?? (await this.#findChain(cap.name));
    const target = cap.pos;
    if (samePos(chain?.pos, target)) return;
    // A chain at or past this node's position, yet not at it, holds history this node does not share.
    const files = chain && chain.pos.txid < target.txid ? this.#filesAfter(cap, chain.pos, target.txid) : undefined;
    if (!chain || !files) {
      await this.#startGeneration(cap, chain ? `this node's history does not continue TXID ${formatPos(chain.pos)}` : 'no backup yet');
      return;
    }
    let batch: Buffer[] = [];
    let size = 0;
    let pos = chain.pos;
    const flush = async () => {
      if (batch.length === 0) return;
      this.#checkLease();
      await this.#target.put(backupKey(cap.name, chain.generation, 'l0', chain.pos.txid + 1, pos.txid), encodeSegment(batch));
      chain.pos = pos;
      this.#onShipped?.(cap.name, pos);
      batch = [];
      size = 0;
    };
    for (const f of files) {
      batch.push(f.bytes);
      size += f.bytes.length;
      pos = f.pos;
      if (size >= MAX_SEGMENT_BYTES) await flush();
    }
    await flush();
    this.#chains.set(cap.name, chain);
  }

  /** Runs the compactions, snapshot and retention that are due for this database. */
  async #maintain(cap: DB): Promise<void> {
    const chain = this.#chains.get(cap.name);
    if (!chain) return;
    const due = (task: string, every: number) => {
      const last = this.#lastRun.get(`${cap.name} ${task}`) ?? this.#startedAt;
      if (Date.now() - last < every) return false;
      this.#lastRun.set(`${cap.name} ${task}`, Date.now());
      return true;
    };
    for (const level of ['l1', 'l2', 'l3'] as const) if (due(level, this.#schedule[level])) await this.#maintenance.compact(cap.name, chain.generation, level);
    if (due('snapshot', this.#schedule.snapshot)) await this.#snapshot(cap, chain.generation);
    if (due('retention', this.#schedule.retentionInterval)) await this.#maintenance.retain(cap.name, this.#schedule.retention);
  }

  /** The log's files from `from` to `to`, each continuing the last; undefined if the log no longer has them all. */
  #filesAfter(db: DB, from: Pos, to: number): Array<{ bytes: Buffer; pos: Pos }> | undefined {
    const out: Array<{ bytes: Buffer; pos: Pos }> = [];
    let pos = from;
    while (pos.txid < to) {
      const read = db.log.read(pos.txid + 1, MAX_SEGMENT_BYTES);
      if (!read) return undefined;
      for (const bytes of read.files) {
        // Header and trailer only: the files are this node's own log; restores verify every byte.
        const h = headerFields(bytes);
        if (h.minTxid !== pos.txid + 1 || h.pre !== pos.checksum) return undefined;
        pos = { txid: h.maxTxid, checksum: h.post };
        out.push({ bytes, pos });
        if (pos.txid >= to) break;
      }
    }
    return out;
  }

  #checkLease(): void {
    if (!this.#leaseValid()) throw new Error('the lease may have passed to another node; not uploading');
  }

  /** Starts a new generation with a snapshot of the database at its current position. */
  async #startGeneration(cap: DB, why: string): Promise<void> {
    const generation = newGeneration();
    const pos = await this.#snapshot(cap, generation);
    this.#chains.set(cap.name, { generation, pos });
    this.#onShipped?.(cap.name, pos);
    this.#logger.info({ db: cap.name, generation, txid: pos.txid, target: this.#target.url }, `backup: new generation (${why})`);
  }

  /** Stores the database as it is now as a snapshot of `generation`; returns its position. */
  async #snapshot(cap: DB, generation: string): Promise<Pos> {
    this.#checkLease();
    const snap = await cap.openSnapshotRead();
    let chunks: Uint8Array[];
    try {
      // The wait for an app's write may have outlasted the lease.
      this.#checkLease();
      // Stamped with the time of the transaction it ends at, as the log has it: a restore to that
      // moment must find it (the snapshot is taken a little later).
      chunks = [...snapshotLtx(snap, 0n, cap.log.headerAt(snap.pos.txid)?.timestamp)];
    } finally {
      // Before the upload: an open read keeps capture's checkpoint waiting, and with it the write
      // lock that capture holds meanwhile, so the app's writes would wait for the upload.
      snap.close();
    }
    await this.#target.put(backupKey(cap.name, generation, 'snapshot', 1, snap.pos.txid), Buffer.concat(chunks));
    return snap.pos;
  }

  /** The newest generation of `db` in the target and where its chain ends. */
  async #findChain(db: string): Promise<Chain | undefined> {
    const keys = (await this.#target.list(`${db}/`)).map((o) => parseBackupKey(o.key)).filter((k) => k !== undefined && k.db === db);
    if (keys.length === 0) return undefined;
    const generation = keys.map((k) => k!.generation).sort().pop()!;
    // The chain continues from the last level-0 segment (or the first snapshot): later snapshots and
    // compactions only repeat what is there.
    const ours = keys.filter((k) => k!.generation === generation);
    const segments = ours.filter((k) => k!.kind === 'l0');
    const last = (segments.length > 0 ? segments : ours.filter((k) => k!.kind === 'snapshot')).sort((a, b) => a!.maxTxid - b!.maxTxid).pop();
    if (!last) return undefined;
    const body = await this.#target.get(last.key);
    const lastFile = last.kind === 'l0' ? decodeSegment(body, last.key).pop()! : body;
    const checksum = lastFile.readBigUInt64BE(lastFile.length - 16);
    this.#logger.info({ db, generation, txid: last.maxTxid, checksum: formatHex64(checksum) }, 'backup: continuing the newest generation');
    return { generation, pos: { txid: last.maxTxid, checksum } };
  }
}
