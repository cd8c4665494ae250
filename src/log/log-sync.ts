import fs from 'node:fs';
import { promisify } from 'node:util';
import { formatPos, samePos, type Pos } from '../ltx/position.ts';
import { fsyncDir, fsyncFileAsync, writeFileDurable, writeFileDurableAsync } from './fsync.ts';
import type { Segment } from './segment.ts';

const fdatasync = promisify(fs.fdatasync);

/** The newest segment of the log, looked up when a sync ends (the log may have rolled over meanwhile). */
type CurrentSegment = () => Segment | undefined;

/**
 * A log's grouped fsyncs: which segments hold writes not flushed yet, and the position last made
 * durable (the log's `pos` file), recorded only once everything up to it is on disk. One fsync
 * covers every append since the last (`flush`, about once a second, or `sync`).
 */
export class LogSync {
  readonly segmentsDir: string;
  readonly posPath: string;
  #durable: Pos | undefined;
  /** Segments written since the last sync, kept open until it. */
  #unsynced = new Set<Segment>();
  #flushing: Promise<void> | undefined;
  /** Bumped by every sync, reset and cut, so a flush that overlapped one does not record a stale position. */
  #epoch = 0;
  /** A segment was created since the folder was last synced. */
  #dirDirty = false;

  constructor(segmentsDir: string, posPath: string) {
    this.segmentsDir = segmentsDir;
    this.posPath = posPath;
  }

  /** The position last made durable. */
  get durable(): Pos | undefined {
    return this.#durable;
  }

  /** Starts over from what recovery found: `durable` as read back, nothing written since. */
  recovered(durable: Pos | undefined): void {
    this.#unsynced.clear();
    this.#durable = durable;
  }

  /** A segment was created: its folder needs a sync too. */
  created(): void {
    this.#dirDirty = true;
  }

  /** `seg` was written to. */
  wrote(seg: Segment): void {
    this.#unsynced.add(seg);
  }

  /** True when every write is flushed and no flush is running. */
  get settled(): boolean {
    return this.#unsynced.size === 0 && this.#flushing === undefined;
  }

  /** True while `seg` holds writes not flushed yet. */
  pending(seg: Segment): boolean {
    return this.#unsynced.has(seg);
  }

  /** `seg` left the log: nothing of it needs flushing. */
  forget(seg: Segment): void {
    this.#unsynced.delete(seg);
  }

  /** The log was cut: a flush running now must not record its position. */
  invalidate(): void {
    this.#epoch++;
  }

  /** The log was emptied at `base` (a snapshot was applied or taken): recorded as durable at once. */
  reset(base: Pos): void {
    this.#epoch++;
    this.#unsynced.clear();
    writeFileDurable(this.posPath, `${formatPos(base)}\n`);
    this.#durable = { ...base };
  }

  /** Makes every appended file durable, then records `pos` as durable (blocking). */
  sync(pos: Pos, current: CurrentSegment): void {
    if (this.#unsynced.size === 0 && samePos(this.#durable, pos)) return;
    this.#epoch++;
    for (const s of this.#unsynced) {
      s.writeIndex();
      fs.fdatasyncSync(s.fd);
      fs.fdatasyncSync(s.indexFd);
    }
    if (this.#dirDirty) fsyncDir(this.segmentsDir);
    this.#dirDirty = false;
    writeFileDurable(this.posPath, `${formatPos(pos)}\n`);
    this.#durable = { ...pos };
    this.#settled([...this.#unsynced], pos.txid, current);
  }

  /**
   * Like sync(), in libuv's thread pool, so capture and applies go on meanwhile; one at a time (a
   * call during one gets that one's promise: the next call flushes what came meanwhile).
   */
  flush(pos: Pos, current: CurrentSegment): Promise<void> {
    if (this.#flushing) return this.#flushing;
    if (this.#unsynced.size === 0 && samePos(this.#durable, pos)) return Promise.resolve();
    const segs = [...this.#unsynced];
    const target = { ...pos };
    const epoch = this.#epoch;
    const dir = this.#dirDirty;
    this.#dirDirty = false;
    this.#flushing = (async () => {
      try {
        for (const s of segs) s.writeIndex();
        await Promise.all(segs.flatMap((s) => [fdatasync(s.fd), fdatasync(s.indexFd)]));
        if (dir) await fsyncFileAsync(this.segmentsDir, false);
        if (epoch !== this.#epoch) return;
        await writeFileDurableAsync(this.posPath, `${formatPos(target)}\n`);
        if (epoch !== this.#epoch) return;
        this.#durable = target;
        this.#settled(segs, target.txid, current);
      } catch {
        // Left for the next sync: nothing is recorded as durable that was not flushed.
        if (dir) this.#dirDirty = true;
      } finally {
        this.#flushing = undefined;
      }
    })();
    return this.#flushing;
  }

  /** Segments synced up to `txid`: no longer unsynced unless written since; rolled-over ones are closed and their index leaves memory. */
  #settled(segs: Segment[], txid: number, current: CurrentSegment): void {
    const newest = current();
    for (const s of segs) {
      if (s.maxTxid > txid) continue;
      this.#unsynced.delete(s);
      if (s === newest) continue;
      s.close();
      s.releaseIndex();
    }
  }
}
