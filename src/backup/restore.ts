import fs from 'node:fs';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { ChecksumMismatchError, LitefleetError } from '../errors.ts';
import { DatabaseChecksum, formatHex64 } from '../ltx/checksum.ts';
import type { LtxFile } from '../ltx/decoder.ts';
import type { LtxPage } from '../ltx/encoder.ts';
import { decodeHeader, FLAG_COMPRESS_LZ4, HEADER_SIZE, type LtxHeader, type LtxTrailer } from '../ltx/header.ts';
import { LtxStreamDecoder } from '../ltx/stream-decoder.ts';
import { writePagesToFile, writePagesToFileAsync } from '../sqlite/apply-ltx.ts';
import type { BackupTarget } from './backup-target.ts';
import type { BackupFileKey } from './layout.ts';
import { backupKeys, firstTimestamp, lastTimestamp, readBackupFiles } from './maintenance.ts';

// Objects from this size on are applied as they arrive; smaller ones are read whole.
const STREAM_MIN_BYTES = 8 * 1024 * 1024;
// Pages handed to the thread pool per write.
const STREAM_BATCH_BYTES = 4 * 1024 * 1024;

/** One generation of one database in a target, as `backup ls` shows it. */
export interface GenerationInfo {
  db: string;
  generation: string;
  first: { txid: number; timestamp: number };
  last: { txid: number; timestamp: number };
  files: number;
  bytes: number;
}

/** Where to restore to: a TXID, a moment, or the newest transaction. */
export type RestoreTarget = { txid: number } | { timestamp: number } | { latest: true };

/** What a restore produced. */
export interface RestoreResult {
  generation: string;
  txid: number;
  timestamp: number;
  checksum: bigint;
  pageSize: number;
  pages: number;
}

/** Every generation of every database (or of `db`) with its first and last restore point. */
export async function listGenerations(target: BackupTarget, db?: string): Promise<GenerationInfo[]> {
  const keys = await backupKeys(target, db);
  const groups = new Map<string, typeof keys>();
  for (const k of keys) {
    const id = `${k.db}\n${k.generation}`;
    groups.set(id, [...(groups.get(id) ?? []), k]);
  }
  const out: GenerationInfo[] = [];
  for (const ks of groups.values()) {
    const snapshot = ks.filter((k) => k.kind === 'snapshot').sort((a, b) => a.maxTxid - b.maxTxid)[0];
    if (!snapshot) continue;
    const last = ks.sort((a, b) => a.maxTxid - b.maxTxid)[ks.length - 1]!;
    out.push({
      db: snapshot.db,
      generation: snapshot.generation,
      first: { txid: snapshot.maxTxid, timestamp: await firstTimestamp(target, snapshot) },
      last: { txid: last.maxTxid, timestamp: await lastTimestamp(target, last) },
      files: ks.length,
      bytes: ks.reduce((s, k) => s + k.size, 0),
    });
  }
  return out.sort((a, b) => (a.db === b.db ? (a.generation < b.generation ? -1 : 1) : a.db < b.db ? -1 : 1));
}

/**
 * Builds database `db` as it was at `to` into `out` (which must not exist): the generation holding
 * that point, its snapshot, then every transaction after it up to the point, each verified (file
 * checksum, continuity of the checksums, the database checksum after each), then SQLite's
 * integrity_check. Written to a temporary file and renamed into place only when all is well.
 */
export async function restoreDatabase(target: BackupTarget, db: string, to: RestoreTarget, out: string, progress?: (done: number, total: number) => void): Promise<RestoreResult> {
  if (fs.existsSync(out)) throw new LitefleetError('EEXIST', `${out} exists; restore writes a new file and never overwrites one`);
  const gens = (await listGenerations(target, db)).reverse();
  if (gens.length === 0) throw new LitefleetError('ENOBACKUP', `no backup of ${db} in ${target.url}`);
  const gen =
    'txid' in to
      ? gens.find((g) => g.first.txid <= to.txid && to.txid <= g.last.txid)
      : 'timestamp' in to
        ? gens.find((g) => g.first.timestamp <= to.timestamp)
        : gens[0];
  if (!gen) {
    const range = gens.map((g) => `${g.first.txid}-${g.last.txid} (${new Date(g.first.timestamp).toISOString()} … ${new Date(g.last.timestamp).toISOString()})`).join(', ');
    throw new LitefleetError('ENOPOINT', `${db} cannot be restored to ${'txid' in to ? `TXID ${to.txid}` : new Date((to as { timestamp: number }).timestamp).toISOString()}: the backups hold ${range}`);
  }
  const keys = (await backupKeys(target, db)).filter((k) => k.generation === gen.generation);
  const limit = 'txid' in to ? to.txid : Infinity;
  const moment = 'timestamp' in to ? to.timestamp : Infinity;
  // Snapshots and compactions are one LTX file: their header says when, which page size and
  // whether compressed. Read once each (a request each on S3).
  const headers = new Map<string, Promise<LtxHeader>>();
  const headerOf = (k: BackupFileKey): Promise<LtxHeader> => {
    let h = headers.get(k.key);
    if (!h) {
      h = target.head(k.key, HEADER_SIZE).then(decodeHeader);
      headers.set(k.key, h);
    }
    return h;
  };
  // The newest snapshot at or before the point.
  let snapshot: (BackupFileKey & { size: number }) | undefined;
  for (const k of keys.filter((x) => x.kind === 'snapshot' && x.maxTxid <= limit).sort((a, b) => b.maxTxid - a.maxTxid)) {
    if (moment === Infinity || (await headerOf(k)).timestamp <= moment) {
      snapshot = k;
      break;
    }
  }
  if (!snapshot) throw new LitefleetError('ENOPOINT', `${db}: no snapshot of generation ${gen.generation} is old enough for that point`);
  const compacted = keys.filter((k) => k.kind === 'l1' || k.kind === 'l2' || k.kind === 'l3');
  const segments = keys.filter((k) => k.kind === 'l0').sort((a, b) => a.minTxid - b.minTxid);
  const total = keys.reduce((sum, k) => sum + k.size, 0);
  let done = 0;

  const tmp = `${out}.restoring`;
  const fd = fs.openSync(tmp, 'w');
  let result: RestoreResult;
  try {
    const pageSize = (await headerOf(snapshot)).pageSize;
    const sum = new DatabaseChecksum(pageSize);
    let pos = { txid: 0, checksum: 0n, timestamp: 0, commit: 0 };
    const name = (key: string) => `backup file ${target.url}/${key}`;
    /** Refuses a file that does not continue the position (before any of its pages is written). */
    const check = (h: LtxHeader, key: string) => {
      if (h.pageSize !== pageSize) throw new LitefleetError('ECHAIN', `${name(key)}: page size ${h.pageSize}, the snapshot's is ${pageSize}`);
      if (h.minTxid !== 1 && (h.minTxid !== pos.txid + 1 || h.preApplyChecksum !== pos.checksum)) {
        throw new LitefleetError('ECHAIN', `${name(key)}: TXID ${h.minTxid} does not continue TXID ${pos.txid} (checksum ${formatHex64(pos.checksum)})`);
      }
    };
    /** Verifies the database checksum once a file's pages are written, and moves the position. */
    const finish = (h: LtxHeader, trailer: LtxTrailer, key: string) => {
      sum.setPageCount(h.commit);
      if (sum.value !== trailer.postApplyChecksum) throw new ChecksumMismatchError(`${name(key)}: TXID ${h.maxTxid} hashes to ${formatHex64(sum.value)}, not ${formatHex64(trailer.postApplyChecksum)}`);
      pos = { txid: h.maxTxid, checksum: sum.value, timestamp: h.timestamp, commit: h.commit };
    };
    const apply = (f: LtxFile, key: string) => {
      check(f.header, key);
      writePagesToFile(fd, f.pages, pageSize, sum);
      finish(f.header, f.trailer, key);
    };
    /**
     * A large snapshot or compaction is applied as it arrives: each piece is decoded and hashed
     * here while the next is read and the last is written in the thread pool, so reading, hashing
     * and writing overlap instead of following one another.
     */
    const applyStreamed = async (k: BackupFileKey) => {
      const decoder = new LtxStreamDecoder();
      let writing = Promise.resolve();
      let batch: LtxPage[] = [];
      let checked = false;
      try {
        for await (const piece of target.stream(k.key)) {
          const pages = decode(() => decoder.push(piece), name(k.key));
          if (!checked && decoder.header) {
            check(decoder.header, k.key);
            checked = true;
          }
          for (const p of pages) batch.push(p);
          if (batch.length * pageSize >= STREAM_BATCH_BYTES) {
            const ready = batch;
            batch = [];
            await writing;
            writing = writePagesToFileAsync(fd, ready, pageSize, sum);
          }
        }
        await writing;
        await writePagesToFileAsync(fd, batch, pageSize, sum);
      } finally {
        await writing.catch(() => {});
      }
      const { header, trailer } = decode(() => decoder.end(), name(k.key));
      finish(header, trailer, k.key);
    };
    const applyObject = async (k: BackupFileKey & { size: number }) => {
      if (k.size >= STREAM_MIN_BYTES && !((await headerOf(k)).flags & FLAG_COMPRESS_LZ4)) await applyStreamed(k);
      else for (const f of await readBackupFiles(target, k)) apply(f, k.key);
      done += k.size;
      progress?.(done, total);
    };
    await applyObject(snapshot);
    for (;;) {
      // The longest compacted file that starts right here and ends at or before the point…
      let next: (BackupFileKey & { size: number }) | undefined;
      for (const k of compacted.filter((x) => x.minTxid === pos.txid + 1 && x.maxTxid <= limit).sort((a, b) => b.maxTxid - a.maxTxid)) {
        if ((await headerOf(k)).timestamp <= moment) {
          next = k;
          break;
        }
      }
      if (next) {
        await applyObject(next);
        continue;
      }
      // …else the transactions of the level-0 segment holding the next one, up to the point.
      const seg = segments.find((k) => k.minTxid <= pos.txid + 1 && pos.txid + 1 <= k.maxTxid);
      if (!seg) break;
      let reached = false;
      for (const f of await readBackupFiles(target, seg)) {
        if (f.header.maxTxid <= pos.txid) continue;
        if (f.header.maxTxid > limit || f.header.timestamp > moment) {
          reached = true;
          break;
        }
        apply(f, seg.key);
      }
      done += seg.size;
      progress?.(done, total);
      if (reached) break;
    }
    if ('txid' in to && pos.txid !== to.txid) throw new LitefleetError('ENOPOINT', `${db}: TXID ${to.txid} is not in the backup (it ends at ${pos.txid})`);
    fs.ftruncateSync(fd, pos.commit * pageSize);
    // The flush to disk (thread pool) and integrity_check (this thread, reading the page cache)
    // overlap: each took about a tenth of a restore.
    const synced = promisify(fs.fdatasync)(fd);
    try {
      checkIntegrity(tmp);
    } finally {
      await synced;
    }
    result = { generation: gen.generation, txid: pos.txid, timestamp: pos.timestamp, checksum: pos.checksum, pageSize, pages: pos.commit };
  } catch (err) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw err;
  }
  fs.closeSync(fd);
  fs.renameSync(tmp, out);
  progress?.(total, total);
  return result;
}

function checkIntegrity(file: string): void {
  // Read-write: the pages say WAL mode, and a read-only connection could not create the index file.
  const check = new Database(file);
  try {
    const ok = check.pragma('integrity_check', { simple: true });
    if (ok !== 'ok') throw new LitefleetError('ECORRUPT', `the restored database fails integrity_check: ${String(ok)}`);
  } finally {
    check.close();
  }
}

/** Runs a step of the stream decoder; an error names the object (`what`) as damaged. */
function decode<T>(step: () => T, what: string): T {
  try {
    return step();
  } catch (err) {
    throw new LitefleetError('ECORRUPT', `${what} is damaged: ${(err as Error).message}`);
  }
}
