import fs from 'node:fs';
import path from 'node:path';
import { LtxFormatError } from '../errors.ts';
import { headerFields, type LtxHeader } from '../ltx/header.ts';
import { formatPos, parsePos, samePos, ZERO_POS, type Pos } from '../ltx/position.ts';
import { exportFiles } from './export-files.ts';
import { fsyncDir, writeAll } from './fsync.ts';
import { checkSegments, openSegments, type LogRecovery } from './log-recovery.ts';
import { LogSync } from './log-sync.ts';
import { locateMax, Segment, segmentFor } from './segment.ts';
import { readLtxEnds } from './segment-files.ts';
import { PrimaryTerms } from './terms.ts';

/** Consecutive files read from the log, as stored, and the position after the last. */
export interface LogRead {
  files: Buffer[];
  pos: Pos;
}

/** Settings of a log. */
export interface SegmentLogOptions {
  /** A segment is closed once it holds this much (default 64 MB). */
  maxSegmentBytes?: number;
  /** ... or once it is this old (default 1 minute), so retention can drop old transactions. */
  maxSegmentAgeMs?: number;
}

/**
 * The log of one database on any node: `<data-dir>/dbs/<name>/segments/<first txid>.seg`, each
 * segment a run of complete LTX files back to back (one per transaction, as captured or as
 * received), plus `pos`, the durable position. Appends are one write per batch, however many
 * transactions it holds (a file per commit cost 0.2–0.8 ms to create on this class of disk); an
 * index in memory (and in each segment's `.idx`) finds any TXID without reading the segments; fsyncs are grouped
 * (`flush`, about once a second, or `sync`), and only then is a position durable. Recovery checks
 * every file past the durable position and cuts the first torn or out-of-chain one and all after it:
 * a torn tail is cut, never a gap left in the chain. A log may start anywhere: after a snapshot
 * only the position (`base`) says where the database stood.
 */
export class SegmentLog {
  readonly dir: string;
  readonly segmentsDir: string;
  readonly posPath: string;
  readonly termsPath: string;
  readonly #maxBytes: number;
  readonly #maxAgeMs: number;
  #segments: Segment[] = [];
  #base: Pos = ZERO_POS;
  #pos: Pos = ZERO_POS;
  readonly #sync: LogSync;
  readonly #terms: PrimaryTerms;
  /** When the last transaction was appended, or the log was opened (ms since epoch). */
  #appendedAt = Date.now();

  constructor(dbDir: string, options: SegmentLogOptions = {}) {
    this.dir = dbDir;
    this.segmentsDir = path.join(dbDir, 'segments');
    this.posPath = path.join(dbDir, 'pos');
    this.#sync = new LogSync(this.segmentsDir, this.posPath);
    this.termsPath = path.join(dbDir, 'terms');
    this.#terms = new PrimaryTerms(this.termsPath);
    this.#maxBytes = options.maxSegmentBytes ?? 64 * 1024 * 1024;
    this.#maxAgeMs = options.maxSegmentAgeMs ?? 60_000;
    fs.mkdirSync(this.segmentsDir, { recursive: true });
  }

  /** The position after the newest transaction in the log (its base when empty). */
  get pos(): Pos {
    return this.#pos;
  }

  /** The position before the oldest transaction the log holds. */
  get base(): Pos {
    return this.#base;
  }

  /** The position last made durable. */
  get durable(): Pos | undefined {
    return this.#sync.durable;
  }

  /** Bytes of transactions the log holds. */
  get bytes(): number {
    return this.#segments.reduce((sum, s) => sum + s.size, 0);
  }

  /** The segment files, oldest first (for listings). */
  get segmentPaths(): string[] {
    return this.#segments.map((s) => s.path);
  }

  /** How many segments hold their index in memory (the newest, and sealed ones read lately). */
  get indexesInMemory(): number {
    return this.#segments.filter((s) => s.indexInMemory).length;
  }

  /** Loads the segments and their indexes, and checks the tail past the durable position (see checkSegments). */
  recover(): LogRecovery {
    for (const s of this.#segments) s.close();
    this.#segments = openSegments(this.segmentsDir);
    let durable: Pos | undefined;
    try {
      durable = parsePos(fs.readFileSync(this.posPath, 'utf8'));
    } catch {
      durable = undefined;
    }
    this.#sync.recovered(durable);
    const checked = checkSegments(this.#segments, durable);
    if (checked.cut !== undefined) this.#cutAt(checked.cut);
    this.#base = checked.base;
    this.#pos = checked.pos;
    if (this.#segments.length > 0 && this.#segments[0]!.count > 0) this.#base = this.#segments[0]!.base() ?? this.#base;
    else this.#base = this.#pos;
    this.#terms.load();
    const lastHeader = this.#lastHeader();
    for (const s of this.#segments) {
      if (s.count > 0) s.lastTimestamp = s.headerAt(s.count - 1).timestamp;
      // Never appended to again (this process starts its own): read back only when wanted.
      s.releaseIndex();
    }
    return { pos: this.#pos, lastHeader, removed: checked.removed };
  }

  /** Removes segment `si` and every later one. */
  #dropFrom(si: number): void {
    this.#sync.invalidate();
    for (const s of this.#segments.slice(si)) this.#removeSegment(s);
    this.#segments = this.#segments.slice(0, si);
  }

  /** Cuts the files of segment `si` to its entries in memory and removes every later segment. */
  #cutAt(si: number): void {
    this.#sync.invalidate();
    const seg = this.#segments[si]!;
    seg.truncateFiles();
    this.#dropFrom(seg.count === 0 ? si : si + 1);
  }

  #removeSegment(seg: Segment): void {
    seg.close();
    this.#sync.forget(seg);
    fs.rmSync(seg.path, { force: true });
    fs.rmSync(seg.indexPath, { force: true });
  }

  #lastHeader(): LtxHeader | undefined {
    const seg = this.#segments[this.#segments.length - 1];
    return seg && seg.count > 0 ? seg.headerAt(seg.count - 1) : undefined;
  }

  /** The primary terms the history passed through: [first TXID, term], oldest first (see PrimaryTerms). */
  get terms(): ReadonlyArray<readonly [number, number]> {
    return this.#terms.records;
  }

  /** The newest records of terms (at most 64), as this node tells other nodes: enough to tell recent histories apart. */
  get recentTerms(): Array<[number, number]> {
    return this.#terms.records.slice(-64).map(([f, t]): [number, number] => [f, t]);
  }

  /** The term the transaction `txid` was written under (0 when unknown: older than any record). */
  termAt(txid: number): number {
    return this.#terms.termAt(txid);
  }

  /** Records that transactions from `firstTxid` on are written under `term` (durably, before they are). */
  noteTerm(firstTxid: number, term: number): void {
    this.#terms.note(firstTxid, term);
  }

  /** Takes the primary's record of terms, keeping this log's older records from before it. */
  mergeTerms(theirs: ReadonlyArray<readonly [number, number]>): void {
    this.#terms.merge(theirs);
  }

  /**
   * Appends complete LTX files, each continuing the position before it, with one write to the
   * current segment (and one to its index): visible at once, durable after the next sync.
   */
  append(files: readonly Uint8Array[]): void {
    if (files.length === 0) return;
    this.#appendedAt = Date.now();
    const first = headerFields(files[0]!);
    if (first.minTxid === 1 || first.minTxid !== this.#pos.txid + 1 || first.pre !== this.#pos.checksum) {
      throw new LtxFormatError(`TXID ${first.minTxid} does not continue the log at ${formatPos(this.#pos)}`);
    }
    let seg = this.#segments[this.#segments.length - 1];
    // Segments found at start are not written to again: this process starts its own.
    if (!seg || seg.createdAt === 0 || seg.size >= this.#maxBytes || Date.now() - seg.createdAt >= this.#maxAgeMs) {
      seg = new Segment(this.segmentsDir, first.minTxid);
      seg.createdAt = Date.now();
      this.#segments.push(seg);
      this.#sync.created();
    }
    const startCount = seg.count;
    const writeAt = seg.size;
    let pos = this.#pos;
    let timestamp = 0;
    for (const f of files) {
      const h = headerFields(f);
      if (h.minTxid !== pos.txid + 1 || h.pre !== pos.checksum) {
        seg.truncate(startCount);
        throw new LtxFormatError(`TXID ${h.minTxid} does not continue TXID ${pos.txid} in the batch`);
      }
      seg.push(h.maxTxid, h.post, seg.size, f.length);
      pos = { txid: h.maxTxid, checksum: h.post };
      timestamp = h.timestamp;
    }
    try {
      writeAll(seg.fd, files, writeAt);
    } catch (err) {
      // Nothing of the batch counts (a full disk): the files are cut back to what was there.
      seg.truncate(startCount);
      try {
        seg.truncateFiles();
      } catch {
        // recovery cuts whatever is left
      }
      throw err;
    }
    seg.lastTimestamp = timestamp;
    this.#sync.wrote(seg);
    this.#pos = pos;
  }

  /**
   * Moves a large file received on its own (spooled to disk as it arrived) into the log as a
   * segment of its own, without copying it; returns that segment's path. The next append starts
   * a new segment.
   */
  adopt(file: string): string {
    const { ends, size } = readLtxEnds(file);
    const h = headerFields(ends);
    if (h.minTxid === 1 || h.minTxid !== this.#pos.txid + 1 || h.pre !== this.#pos.checksum) {
      throw new LtxFormatError(`TXID ${h.minTxid} does not continue the log at ${formatPos(this.#pos)}`);
    }
    const seg = new Segment(this.segmentsDir, h.minTxid);
    seg.push(h.maxTxid, h.post, 0, size);
    seg.lastTimestamp = h.timestamp;
    fs.renameSync(file, seg.path);
    seg.writeIndex();
    this.#segments.push(seg);
    this.#sync.wrote(seg);
    this.#sync.created();
    this.#pos = { txid: h.maxTxid, checksum: h.post };
    return seg.path;
  }

  /**
   * Reads consecutive files from the one starting at `fromTxid`, up to about `maxBytes` (at least
   * one file), in one read; undefined if the log has no file starting there.
   */
  read(fromTxid: number, maxBytes: number): LogRead | undefined {
    const si = segmentFor(this.#segments, fromTxid);
    return si < 0 ? undefined : this.#segments[si]!.readFiles(fromTxid, maxBytes);
  }

  /** The checksum the history had at `txid`, if a file of this log ends there (or it is the base). */
  checksumAt(txid: number): bigint | undefined {
    if (txid === this.#base.txid) return this.#base.checksum;
    const at = locateMax(this.#segments, txid);
    return at ? this.#segments[at.seg]!.checksumAt(at.entry) : undefined;
  }

  /** Header of the file ending at `txid`, if the log has it. */
  headerAt(txid: number): LtxHeader | undefined {
    const at = locateMax(this.#segments, txid);
    return at ? this.#segments[at.seg]!.headerAt(at.entry) : undefined;
  }

  /**
   * Positions this log's history passed through, newest first: every file end among the newest
   * 32, then ever sparser (each step twice as far), ending with its base.
   */
  historyPoints(): Pos[] {
    const out: Pos[] = [];
    let step = 1;
    let si = this.#segments.length - 1;
    let i = (this.#segments[si]?.count ?? 0) - 1;
    while (si >= 0) {
      const seg = this.#segments[si]!;
      if (i < 0) {
        si--;
        i += this.#segments[si]?.count ?? 0;
        continue;
      }
      out.push({ txid: seg.maxAt(i), checksum: seg.checksumAt(i) });
      if (out.length >= 32) step *= 2;
      i -= step;
    }
    if (this.#base.txid > 0) out.push(this.#base);
    return out;
  }

  /**
   * Where the history of `checksum` is in this log: the newest position with that checksum
   * (a replica that crashed finds where its database stands).
   */
  findChecksum(checksum: bigint): Pos | undefined {
    for (let si = this.#segments.length - 1; si >= 0; si--) {
      const seg = this.#segments[si]!;
      for (let i = seg.count - 1; i >= 0; i--) if (seg.checksumAt(i) === checksum) return { txid: seg.maxAt(i), checksum };
    }
    return this.#base.checksum === checksum ? this.#base : undefined;
  }

  /** Drops the files after `pos` (which must be a position of the log): what was appended but not applied. */
  truncateAfter(pos: Pos): void {
    if (samePos(this.#pos, pos)) return;
    if (pos.txid === this.#base.txid) {
      this.reset(pos);
      return;
    }
    const at = locateMax(this.#segments, pos.txid);
    if (!at) throw new LtxFormatError(`TXID ${pos.txid} is not a position of the log`);
    this.#segments[at.seg]!.truncate(at.entry + 1);
    this.#cutAt(at.seg);
    this.#pos = pos;
    this.#terms.dropAfter(pos.txid);
  }

  /**
   * Moves the transactions after `txid` out of the log, as plain `<min>-<max>.ltx` files in
   * `target` (fsynced): history that lost to another primary's, kept for the operator.
   */
  setAside(txid: number, target: string): { from: number; to: number; files: number } | undefined {
    if (this.#pos.txid <= txid) return undefined;
    const keep = txid <= this.#base.txid ? undefined : locateMax(this.#segments, txid);
    if (txid > this.#base.txid && !keep) throw new LtxFormatError(`TXID ${txid} is not a position of the log`);
    fs.mkdirSync(target, { recursive: true });
    const moved = exportFiles((from, maxBytes) => this.read(from, maxBytes), txid + 1, this.#pos.txid, target);
    fsyncDir(target);
    if (keep) {
      this.#segments[keep.seg]!.truncate(keep.entry + 1);
      this.#cutAt(keep.seg);
      this.#pos = { txid, checksum: this.#segments[keep.seg]!.checksumAt(keep.entry) };
    } else {
      this.reset(this.#base);
    }
    this.#terms.dropAfter(this.#pos.txid);
    return moved;
  }

  /** Empties the log: the database is at `base` (a snapshot was applied or taken), durably. */
  reset(base: Pos): void {
    for (const s of this.#segments) this.#removeSegment(s);
    this.#segments = [];
    this.#base = { ...base };
    this.#pos = { ...base };
    this.#sync.reset(base);
    this.#terms.dropAfter(base.txid);
  }

  /**
   * Closes the newest segment's descriptors once nothing was appended for `idleMs` and everything
   * is durable (the next append or read opens them again): an idle database holds none. True when
   * the log is idle.
   */
  releaseIdle(idleMs: number): boolean {
    if (Date.now() - this.#appendedAt < idleMs || !this.#sync.settled) return false;
    this.#segments.at(-1)?.close();
    return true;
  }

  /** Makes every appended file durable, then records the position as durable (blocking). */
  sync(): void {
    this.#sync.sync(this.#pos, () => this.#segments[this.#segments.length - 1]);
  }

  /** Like sync(), without blocking the thread (see LogSync.flush). */
  flush(): Promise<void> {
    return this.#sync.flush(this.#pos, () => this.#segments[this.#segments.length - 1]);
  }

  /**
   * Deletes whole segments whose newest transaction is older than `cutoff` (ms since epoch),
   * never the newest segment; without blocking the thread. Returns how many it removed.
   */
  async prune(cutoff: number): Promise<number> {
    // What a catch-up read loaded back of a sealed segment's index leaves memory again.
    for (const s of this.#segments.slice(0, -1)) if (!this.#sync.pending(s)) s.releaseIndex();
    const old: Segment[] = [];
    for (const s of this.#segments.slice(0, -1)) {
      if (s.lastTimestamp >= cutoff || this.#sync.pending(s)) break;
      old.push(s);
    }
    if (old.length === 0) return 0;
    this.#segments = this.#segments.slice(old.length);
    const next = this.#segments[0]!;
    this.#base = next.count > 0 ? { txid: next.firstTxid - 1, checksum: next.base()?.checksum ?? 0n } : this.#pos;
    for (const s of old) {
      s.close();
      await fs.promises.rm(s.path, { force: true });
      await fs.promises.rm(s.indexPath, { force: true });
    }
    return old.length;
  }

  /** Closes every descriptor (after a sync if the caller wants the tail durable). */
  close(): void {
    for (const s of this.#segments) {
      try {
        s.writeIndex();
      } catch {
        // recovery reads the files the index does not cover
      }
      s.close();
    }
  }
}
