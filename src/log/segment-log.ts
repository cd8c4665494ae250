import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { LtxFormatError } from '../errors.ts';
import { decodeLtx } from '../ltx/decoder.ts';
import { ltxFileLength } from '../ltx/file-length.ts';
import { decodeHeader, HEADER_SIZE, type LtxHeader } from '../ltx/header.ts';
import { formatPos, ltxFilename, parsePos, samePos, ZERO_POS, type Pos } from '../ltx/position.ts';
import { fsyncDir, writeFileDurable, writeFileDurableAsync } from './fsync.ts';
import { INDEX_RECORD_SIZE, parseSegmentName, Segment } from './segment.ts';

/** What recovery found when it opened the log. */
export interface LogRecovery {
  /** The position after the last valid file (the base of an empty log). */
  pos: Pos;
  /** Header of the last valid file, which says where in the WAL it came from. */
  lastHeader: LtxHeader | undefined;
  /** What was cut off as torn or out of the chain (say so in the node's log). */
  removed: string[];
}

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

const fdatasync = promisify(fs.fdatasync);

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
  #durable: Pos | undefined;
  /** Segments written since the last sync, kept open until it. */
  #unsynced = new Set<Segment>();
  #flushing: Promise<void> | undefined;
  /** Bumped by every sync, reset and cut, so a flush that overlapped one does not record a stale position. */
  #epoch = 0;
  /** A segment was created since the folder was last synced. */
  #dirDirty = false;
  /** [first TXID, term] for every primary term the history passed through, oldest first. */
  #terms: Array<[number, number]> = [];

  constructor(dbDir: string, options: SegmentLogOptions = {}) {
    this.dir = dbDir;
    this.segmentsDir = path.join(dbDir, 'segments');
    this.posPath = path.join(dbDir, 'pos');
    this.termsPath = path.join(dbDir, 'terms');
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
    return this.#durable;
  }

  /** Bytes of transactions the log holds. */
  get bytes(): number {
    return this.#segments.reduce((sum, s) => sum + s.size, 0);
  }

  /** The segment files, oldest first (for listings). */
  get segmentPaths(): string[] {
    return this.#segments.map((s) => s.path);
  }

  /** Loads the segments and their indexes, and checks the tail past the durable position. */
  recover(): LogRecovery {
    for (const s of this.#segments) s.close();
    this.#segments = [];
    this.#unsynced.clear();
    for (const f of fs.readdirSync(this.segmentsDir)) if (f.endsWith('.tmp')) fs.rmSync(path.join(this.segmentsDir, f), { force: true });
    const names = fs.readdirSync(this.segmentsDir).map((n) => parseSegmentName(n)).filter((t): t is number => t !== undefined).sort((a, b) => a - b);
    for (const first of names) {
      const seg = new Segment(this.segmentsDir, first);
      seg.loadIndex();
      this.#segments.push(seg);
    }
    let durable: Pos | undefined;
    try {
      durable = parsePos(fs.readFileSync(this.posPath, 'utf8'));
    } catch {
      durable = undefined;
    }
    this.#durable = durable;
    const removed: string[] = [];
    // Where checking starts: right after the durable position when a file ends there with its
    // checksum (everything up to it was fsynced first), else from the log's first file.
    let start = { seg: 0, entry: 0 };
    let pos: Pos | undefined;
    if (durable) {
      const at = this.#locateMax(durable.txid);
      if (at && this.#segments[at.seg]!.checksumAt(at.entry) === durable.checksum) {
        start = { seg: at.seg, entry: at.entry + 1 };
        pos = durable;
      } else if (this.#segments.every((s) => s.count === 0 || s.firstTxid > durable.txid)) {
        pos = durable;
      } else {
        removed.push(`the durable position ${formatPos(durable)} is not in the log; checking every file`);
      }
    }
    if (!pos) pos = this.#firstBase() ?? ZERO_POS;
    this.#base = pos;
    this.#pos = this.#verifyFrom(start, pos, removed);
    if (this.#segments.length > 0 && this.#segments[0]!.count > 0) this.#base = this.#baseOf(this.#segments[0]!) ?? this.#base;
    else this.#base = this.#pos;
    try {
      this.#terms = parseTerms(JSON.parse(fs.readFileSync(this.termsPath, 'utf8')));
    } catch {
      this.#terms = [];
    }
    const lastHeader = this.#lastHeader();
    for (const s of this.#segments) {
      if (s.count > 0) s.lastTimestamp = this.#headerAt(s, s.count - 1).timestamp;
    }
    return { pos: this.#pos, lastHeader, removed };
  }

  /** The position before the first file of the first non-empty segment, from its header. */
  #firstBase(): Pos | undefined {
    const first = this.#segments.find((s) => s.count > 0 || fs.statSync(s.path).size > 0);
    if (!first) return undefined;
    try {
      const h = decodeHeader(first.read(0, HEADER_SIZE));
      return { txid: h.minTxid - 1, checksum: h.preApplyChecksum };
    } catch {
      return undefined;
    }
  }

  #baseOf(seg: Segment): Pos | undefined {
    try {
      const h = this.#headerAt(seg, 0);
      return { txid: h.minTxid - 1, checksum: h.preApplyChecksum };
    } catch {
      return undefined;
    }
  }

  /**
   * Decodes every file from `start` on (and any complete files written past a segment's index,
   * whose index write was cut off), each continuing the one before; cuts the log at the first that
   * does not, and returns the position after the last good one.
   */
  #verifyFrom(start: { seg: number; entry: number }, base: Pos, removed: string[]): Pos {
    let pos = base;
    for (let si = start.seg; si < this.#segments.length; si++) {
      const seg = this.#segments[si]!;
      let i = si === start.seg ? start.entry : 0;
      if (i === 0 && pos.txid !== 0 && seg.firstTxid !== pos.txid + 1) {
        removed.push(`${path.basename(seg.path)} and after: do not continue position ${formatPos(pos)}`);
        this.#dropFrom(si);
        return pos;
      }
      for (; i < seg.count; i++) {
        try {
          const file = decodeLtx(seg.read(seg.offsetAt(i), seg.lengthAt(i)), { snapshotChecksum: false });
          const h = file.header;
          if (h.maxTxid !== seg.maxAt(i) || file.trailer.postApplyChecksum !== seg.checksumAt(i)) throw new LtxFormatError('does not match its index record');
          continues(h, pos);
          pos = { txid: h.maxTxid, checksum: file.trailer.postApplyChecksum };
        } catch (err) {
          removed.push(`${path.basename(seg.path)} from TXID ${seg.minAt(i)}: ${(err as Error).message}`);
          seg.truncate(i);
          this.#cutAt(si);
          return pos;
        }
      }
      const tail = this.#walkTail(seg, pos, removed);
      pos = tail.pos;
      if (tail.torn) {
        this.#cutAt(si);
        return pos;
      }
    }
    return pos;
  }

  /**
   * Adds the complete, valid files written after a segment's last index record (the index write
   * was cut off); torn when it had to stop before the end of the file.
   */
  #walkTail(seg: Segment, pos: Pos, removed: string[]): { pos: Pos; torn: boolean } {
    const fileSize = fs.statSync(seg.path).size;
    if (fileSize <= seg.size) return { pos, torn: false };
    const tail = seg.read(seg.size, fileSize - seg.size);
    const added = seg.count;
    let off = 0;
    while (off < tail.length) {
      try {
        const len = ltxFileLength(tail, off);
        if (len === undefined) break;
        const file = decodeLtx(tail.subarray(off, off + len), { snapshotChecksum: false });
        continues(file.header, pos);
        pos = { txid: file.header.maxTxid, checksum: file.trailer.postApplyChecksum };
        seg.push(file.header.maxTxid, pos.checksum, seg.size, len);
        off += len;
      } catch (err) {
        removed.push(`${path.basename(seg.path)} at byte ${seg.size}: ${(err as Error).message}`);
        break;
      }
    }
    const torn = off < tail.length;
    if (torn) removed.push(`${path.basename(seg.path)}: ${tail.length - off} bytes of a torn file cut at byte ${seg.size}`);
    if (seg.count > added) fs.writeSync(seg.indexFd, seg.indexRecords(added, seg.count), 0, undefined, added * INDEX_RECORD_SIZE);
    seg.truncateFiles();
    seg.close();
    return { pos, torn };
  }

  /** Removes segment `si` and every later one. */
  #dropFrom(si: number): void {
    this.#epoch++;
    for (const s of this.#segments.slice(si)) this.#removeSegment(s);
    this.#segments = this.#segments.slice(0, si);
  }

  /** Cuts the files of segment `si` to its entries in memory and removes every later segment. */
  #cutAt(si: number): void {
    this.#epoch++;
    const seg = this.#segments[si]!;
    seg.truncateFiles();
    this.#dropFrom(seg.count === 0 ? si : si + 1);
  }

  #removeSegment(seg: Segment): void {
    seg.close();
    this.#unsynced.delete(seg);
    fs.rmSync(seg.path, { force: true });
    fs.rmSync(seg.indexPath, { force: true });
  }

  /** Where the entry ending exactly at `txid` is. */
  #locateMax(txid: number): { seg: number; entry: number } | undefined {
    const si = this.#segmentFor(txid);
    if (si < 0) return undefined;
    const entry = this.#segments[si]!.indexOfMax(txid);
    return entry < 0 ? undefined : { seg: si, entry };
  }

  /** The index of the segment whose range holds `txid` (or -1). */
  #segmentFor(txid: number): number {
    let lo = 0;
    let hi = this.#segments.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#segments[mid]!.firstTxid <= txid) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return found >= 0 && txid <= this.#segments[found]!.maxTxid ? found : -1;
  }

  #headerAt(seg: Segment, i: number): LtxHeader {
    return decodeHeader(seg.read(seg.offsetAt(i), HEADER_SIZE));
  }

  #lastHeader(): LtxHeader | undefined {
    const seg = this.#segments[this.#segments.length - 1];
    return seg && seg.count > 0 ? this.#headerAt(seg, seg.count - 1) : undefined;
  }

  /**
   * The primary terms the history passed through: [first TXID, term], oldest first. A term is
   * the lease's number when a primary took it (it grows with every election and handoff), so of
   * two histories that differ, the one written under the higher term is the newer.
   */
  get terms(): ReadonlyArray<readonly [number, number]> {
    return this.#terms;
  }

  /** The term the transaction `txid` was written under (0 when unknown: older than any record). */
  termAt(txid: number): number {
    let term = 0;
    for (const [first, t] of this.#terms) {
      if (first > txid) break;
      term = t;
    }
    return term;
  }

  /** Records that transactions from `firstTxid` on are written under `term` (durably, before they are). */
  noteTerm(firstTxid: number, term: number): void {
    if (this.termAt(firstTxid) === term) return;
    this.#setTerms([...this.#terms.filter(([first]) => first < firstTxid), [firstTxid, term]]);
  }

  /**
   * Takes the primary's record of terms (authoritative for the history both share), keeping this
   * log's older records from before it.
   */
  mergeTerms(theirs: ReadonlyArray<readonly [number, number]>): void {
    if (theirs.length === 0) return;
    const merged: Array<[number, number]> = [...this.#terms.filter(([first]) => first < theirs[0]![0]), ...theirs.map(([f, t]): [number, number] => [f, t])];
    if (JSON.stringify(merged) !== JSON.stringify(this.#terms)) this.#setTerms(merged);
  }

  #setTerms(terms: Array<[number, number]>): void {
    this.#terms = terms;
    writeFileDurable(this.termsPath, `${JSON.stringify(terms)}\n`);
  }

  /** Forgets the terms of transactions after `txid` (they left the log). */
  #dropTermsAfter(txid: number): void {
    if (this.#terms.some(([first]) => first > txid)) this.#setTerms(this.#terms.filter(([first]) => first <= txid));
  }

  /**
   * Appends complete LTX files, each continuing the position before it, with one write to the
   * current segment (and one to its index): visible at once, durable after the next sync.
   */
  append(files: readonly Uint8Array[]): void {
    if (files.length === 0) return;
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
      this.#dirDirty = true;
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
      fs.writeSync(seg.indexFd, seg.indexRecords(startCount, seg.count), 0, undefined, startCount * INDEX_RECORD_SIZE);
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
    this.#unsynced.add(seg);
    this.#pos = pos;
  }

  /**
   * Moves a large file received on its own (spooled to disk as it arrived) into the log as a
   * segment of its own, without copying it; returns that segment's path. The next append starts
   * a new segment.
   */
  adopt(file: string): string {
    const fd = fs.openSync(file, 'r');
    let head: Buffer;
    let tail: Buffer;
    let size: number;
    try {
      size = fs.fstatSync(fd).size;
      head = Buffer.alloc(HEADER_SIZE);
      tail = Buffer.alloc(16);
      fs.readSync(fd, head, 0, HEADER_SIZE, 0);
      fs.readSync(fd, tail, 0, 16, size - 16);
    } finally {
      fs.closeSync(fd);
    }
    const h = headerFields(Buffer.concat([head, tail]));
    if (h.minTxid === 1 || h.minTxid !== this.#pos.txid + 1 || h.pre !== this.#pos.checksum) {
      throw new LtxFormatError(`TXID ${h.minTxid} does not continue the log at ${formatPos(this.#pos)}`);
    }
    const seg = new Segment(this.segmentsDir, h.minTxid);
    seg.push(h.maxTxid, h.post, 0, size);
    seg.lastTimestamp = h.timestamp;
    fs.renameSync(file, seg.path);
    fs.writeFileSync(seg.indexPath, seg.indexRecords(0, 1));
    this.#segments.push(seg);
    this.#unsynced.add(seg);
    this.#dirDirty = true;
    this.#pos = { txid: h.maxTxid, checksum: h.post };
    return seg.path;
  }

  /**
   * Reads consecutive files from the one starting at `fromTxid`, up to about `maxBytes` (at least
   * one file), in one read; undefined if the log has no file starting there.
   */
  read(fromTxid: number, maxBytes: number): LogRead | undefined {
    const si = this.#segmentFor(fromTxid);
    if (si < 0) return undefined;
    const seg = this.#segments[si]!;
    const first = seg.indexOfMin(fromTxid);
    if (first < 0) return undefined;
    let last = first;
    while (last + 1 < seg.count && seg.offsetAt(last + 1) + seg.lengthAt(last + 1) - seg.offsetAt(first) <= maxBytes) last++;
    const start = seg.offsetAt(first);
    const buf = seg.read(start, seg.offsetAt(last) + seg.lengthAt(last) - start);
    const files: Buffer[] = [];
    for (let i = first; i <= last; i++) files.push(buf.subarray(seg.offsetAt(i) - start, seg.offsetAt(i) - start + seg.lengthAt(i)));
    return { files, pos: { txid: seg.maxAt(last), checksum: seg.checksumAt(last) } };
  }

  /** The checksum the history had at `txid`, if a file of this log ends there (or it is the base). */
  checksumAt(txid: number): bigint | undefined {
    if (txid === this.#base.txid) return this.#base.checksum;
    const at = this.#locateMax(txid);
    return at ? this.#segments[at.seg]!.checksumAt(at.entry) : undefined;
  }

  /** Header of the file ending at `txid`, if the log has it. */
  headerAt(txid: number): LtxHeader | undefined {
    const at = this.#locateMax(txid);
    return at ? this.#headerAt(this.#segments[at.seg]!, at.entry) : undefined;
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
    const at = this.#locateMax(pos.txid);
    if (!at) throw new LtxFormatError(`TXID ${pos.txid} is not a position of the log`);
    this.#segments[at.seg]!.truncate(at.entry + 1);
    this.#cutAt(at.seg);
    this.#pos = pos;
    this.#dropTermsAfter(pos.txid);
  }

  /**
   * Moves the transactions after `txid` out of the log, as plain `<min>-<max>.ltx` files in
   * `target` (fsynced): history that lost to another primary's, kept for the operator.
   */
  setAside(txid: number, target: string): { from: number; to: number; files: number } | undefined {
    if (this.#pos.txid <= txid) return undefined;
    const keep = txid <= this.#base.txid ? undefined : this.#locateMax(txid);
    if (txid > this.#base.txid && !keep) throw new LtxFormatError(`TXID ${txid} is not a position of the log`);
    fs.mkdirSync(target, { recursive: true });
    const moved = this.export(txid + 1, this.#pos.txid, target);
    fsyncDir(target);
    if (keep) {
      this.#segments[keep.seg]!.truncate(keep.entry + 1);
      this.#cutAt(keep.seg);
      this.#pos = { txid, checksum: this.#segments[keep.seg]!.checksumAt(keep.entry) };
    } else {
      this.reset(this.#base);
    }
    this.#dropTermsAfter(this.#pos.txid);
    return moved;
  }

  /**
   * Writes the transactions `from`..`to` as plain `<min>-<max>.ltx` files (one per stored file)
   * into `target`, for other tools (LiteFS's `ltx` reads them); fsyncs each.
   */
  export(from: number, to: number, target: string): { from: number; to: number; files: number } | undefined {
    let txid = from;
    let files = 0;
    let first: number | undefined;
    for (;;) {
      const r = txid <= to ? this.read(txid, 4 * 1024 * 1024) : undefined;
      if (!r) break;
      for (const f of r.files) {
        const h = headerFields(f);
        if (h.minTxid > to) break;
        const fd = fs.openSync(path.join(target, ltxFilename(h.minTxid, h.maxTxid)), 'w');
        try {
          fs.writeSync(fd, f);
          fs.fdatasyncSync(fd);
        } finally {
          fs.closeSync(fd);
        }
        first ??= h.minTxid;
        files++;
        txid = h.maxTxid + 1;
      }
      if (txid <= r.pos.txid) break;
    }
    return first === undefined ? undefined : { from: first, to: txid - 1, files };
  }

  /** Empties the log: the database is at `base` (a snapshot was applied or taken), durably. */
  reset(base: Pos): void {
    this.#epoch++;
    for (const s of this.#segments) this.#removeSegment(s);
    this.#segments = [];
    this.#unsynced.clear();
    this.#base = { ...base };
    this.#pos = { ...base };
    writeFileDurable(this.posPath, `${formatPos(base)}\n`);
    this.#durable = { ...base };
    this.#dropTermsAfter(base.txid);
  }

  /** Makes every appended file durable, then records the position as durable (blocking). */
  sync(): void {
    if (this.#unsynced.size === 0 && samePos(this.#durable, this.#pos)) return;
    this.#epoch++;
    for (const s of this.#unsynced) {
      fs.fdatasyncSync(s.fd);
      fs.fdatasyncSync(s.indexFd);
    }
    if (this.#dirDirty) fsyncDir(this.segmentsDir);
    this.#dirDirty = false;
    writeFileDurable(this.posPath, `${formatPos(this.#pos)}\n`);
    this.#durable = { ...this.#pos };
    this.#settled([...this.#unsynced], this.#pos.txid);
  }

  /**
   * Like sync(), in libuv's thread pool, so capture and applies go on meanwhile; one at a time (a
   * call during one gets that one's promise: the next call flushes what came meanwhile).
   */
  flush(): Promise<void> {
    if (this.#flushing) return this.#flushing;
    if (this.#unsynced.size === 0 && samePos(this.#durable, this.#pos)) return Promise.resolve();
    const segs = [...this.#unsynced];
    const target = { ...this.#pos };
    const epoch = this.#epoch;
    const dir = this.#dirDirty;
    this.#dirDirty = false;
    const fds = segs.flatMap((s) => [s.fd, s.indexFd]);
    this.#flushing = (async () => {
      try {
        await Promise.all(fds.map((fd) => fdatasync(fd)));
        if (dir) await fsyncDirAsync(this.segmentsDir);
        if (epoch !== this.#epoch) return;
        await writeFileDurableAsync(this.posPath, `${formatPos(target)}\n`);
        if (epoch !== this.#epoch) return;
        this.#durable = target;
        this.#settled(segs, target.txid);
      } catch {
        // Left for the next sync: nothing is recorded as durable that was not flushed.
        if (dir) this.#dirDirty = true;
      } finally {
        this.#flushing = undefined;
      }
    })();
    return this.#flushing;
  }

  /** Segments synced up to `txid`: no longer unsynced unless written since; rolled-over ones are closed. */
  #settled(segs: Segment[], txid: number): void {
    const current = this.#segments[this.#segments.length - 1];
    for (const s of segs) {
      if (s.maxTxid > txid) continue;
      this.#unsynced.delete(s);
      if (s !== current) s.close();
    }
  }

  /**
   * Deletes whole segments whose newest transaction is older than `cutoff` (ms since epoch),
   * never the newest segment; without blocking the thread. Returns how many it removed.
   */
  async prune(cutoff: number): Promise<number> {
    const old: Segment[] = [];
    for (const s of this.#segments.slice(0, -1)) {
      if (s.lastTimestamp >= cutoff || this.#unsynced.has(s)) break;
      old.push(s);
    }
    if (old.length === 0) return 0;
    this.#segments = this.#segments.slice(old.length);
    const next = this.#segments[0]!;
    this.#base = next.count > 0 ? { txid: next.firstTxid - 1, checksum: this.#preOf(next) } : this.#pos;
    for (const s of old) {
      s.close();
      await fs.promises.rm(s.path, { force: true });
      await fs.promises.rm(s.indexPath, { force: true });
    }
    return old.length;
  }

  /** The checksum before a segment's first file: the entry before it, which the previous segment's last record holds. */
  #preOf(seg: Segment): bigint {
    return this.#baseOf(seg)?.checksum ?? 0n;
  }

  /** Closes every descriptor (after a sync if the caller wants the tail durable). */
  close(): void {
    for (const s of this.#segments) s.close();
  }
}

/** A terms record read from disk or the wire: [[first TXID, term], …], ascending; anything else is refused. */
export function parseTerms(v: unknown): Array<[number, number]> {
  if (!Array.isArray(v)) throw new LtxFormatError('terms must be a list');
  let last = 0;
  return v.map((e) => {
    if (!Array.isArray(e) || e.length !== 2 || !Number.isSafeInteger(e[0]) || !Number.isSafeInteger(e[1]) || e[0] < 1 || e[1] < 0 || e[0] <= last) {
      throw new LtxFormatError(`malformed terms entry ${JSON.stringify(e)}`);
    }
    last = e[0] as number;
    return [e[0] as number, e[1] as number];
  });
}

/** Throws unless the file `h` continues `pos` (a log's first file may start anywhere). */
function continues(h: LtxHeader, pos: Pos): void {
  if (pos.txid === 0) return;
  if (h.minTxid !== pos.txid + 1 || h.preApplyChecksum !== pos.checksum) throw new LtxFormatError(`TXID ${h.minTxid} does not continue position ${formatPos(pos)}`);
}

/** The fields of a complete LTX file the log needs, read straight from its header and trailer. */
export function headerFields(f: Uint8Array): { minTxid: number; maxTxid: number; timestamp: number; pre: bigint; post: bigint } {
  const b = Buffer.from(f.buffer, f.byteOffset, f.length);
  if (b.length < HEADER_SIZE + 16) throw new LtxFormatError(`an LTX file of ${b.length} bytes is too short`);
  return {
    minTxid: Number(b.readBigUInt64BE(16)),
    maxTxid: Number(b.readBigUInt64BE(24)),
    timestamp: Number(b.readBigInt64BE(32)),
    pre: b.readBigUInt64BE(40),
    post: b.readBigUInt64BE(b.length - 16),
  };
}

/** Writes every buffer at `position` onwards, in as few calls as the kernel allows. */
function writeAll(fd: number, bufs: readonly Uint8Array[], position: number): void {
  let pending = [...bufs];
  let pos = position;
  while (pending.length > 0) {
    const batch = pending.slice(0, 1024);
    let n = fs.writevSync(fd, batch, pos);
    pos += n;
    let consumed = 0;
    while (consumed < batch.length && n >= batch[consumed]!.length) n -= batch[consumed++]!.length;
    pending = pending.slice(consumed);
    if (n > 0) pending[0] = pending[0]!.subarray(n);
  }
}

async function fsyncDirAsync(dir: string): Promise<void> {
  const fh = await fs.promises.open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
