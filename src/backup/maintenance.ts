import type { Logger } from 'pino';
import { mergeLtxFiles } from '../ltx/compactor.ts';
import { decodeLtx, type LtxFile } from '../ltx/decoder.ts';
import { encodeLtx } from '../ltx/encoder.ts';
import { decodeHeader, HEADER_SIZE } from '../ltx/header.ts';
import type { BackupTarget } from './backup-target.ts';
import { backupKey, parseBackupKey, type BackupFileKey, type BackupKind } from './layout.ts';
import { decodeSegment } from './segment.ts';

const LEVELS: Array<{ level: BackupKind; from: BackupKind }> = [
  { level: 'l1', from: 'l0' },
  { level: 'l2', from: 'l1' },
  { level: 'l3', from: 'l2' },
];

/** The LTX files an object holds (a segment several, others one), each verified; errors name it. */
export async function readBackupFiles(target: BackupTarget, k: BackupFileKey): Promise<LtxFile[]> {
  const body = await target.get(k.key);
  try {
    // Snapshot pages are hashed once, by whoever applies them (restore checks the running checksum).
    return (k.kind === 'l0' ? decodeSegment(body, k.key) : [body]).map((p) => decodeLtx(p, { snapshotChecksum: false }));
  } catch (err) {
    throw new Error(`backup file ${target.url}/${k.key} is damaged: ${(err as Error).message}`);
  }
}

/** The timestamp of an object's first LTX file, from its header alone. */
export async function firstTimestamp(target: BackupTarget, k: BackupFileKey): Promise<number> {
  // A segment starts with a 4-byte length, then the first file's header.
  const skip = k.kind === 'l0' ? 4 : 0;
  return decodeHeader((await target.head(k.key, skip + HEADER_SIZE)).subarray(skip)).timestamp;
}

/** The timestamp of an object's last transaction (a snapshot's or a compaction's own header; a segment's last file). */
export async function lastTimestamp(target: BackupTarget, k: BackupFileKey): Promise<number> {
  if (k.kind !== 'l0') return firstTimestamp(target, k);
  const files = decodeSegment(await target.get(k.key), k.key);
  return decodeHeader(files[files.length - 1]!).timestamp;
}

/** Every backup object of `db` whose key parses, with its size. */
export async function backupKeys(target: BackupTarget, db?: string): Promise<Array<BackupFileKey & { size: number }>> {
  const objects = await target.list(db ? `${db}/` : '');
  return objects.flatMap((o) => {
    const k = parseBackupKey(o.key);
    return k && (!db || k.db === db) ? [{ ...k, size: o.size }] : [];
  });
}

/**
 * Compaction and retention of one database's backup (run by the primary). Level n merges the
 * level n-1 files after its own end into one LTX file (newest page wins), so a restore reads a
 * handful of files instead of every transaction. Retention keeps every transaction of the window
 * restorable: it keeps the newest snapshot from before the window and everything after it, and
 * deletes only what lies wholly before that snapshot (and generations that ended before the window).
 */
export class BackupMaintenance {
  readonly #target: BackupTarget;
  readonly #logger: Logger;

  constructor(target: BackupTarget, logger: Logger) {
    this.#target = target;
    this.#logger = logger;
  }

  /** Merges the files of `from` not yet covered by `level` into one new `level` file. */
  async compact(db: string, generation: string, level: BackupKind): Promise<BackupFileKey | undefined> {
    const from = LEVELS.find((l) => l.level === level)!.from;
    const keys = (await backupKeys(this.#target, db)).filter((k) => k.generation === generation);
    const snapshot = keys.filter((k) => k.kind === 'snapshot').sort((a, b) => a.maxTxid - b.maxTxid)[0];
    if (!snapshot) return undefined;
    const done = Math.max(snapshot.maxTxid, ...keys.filter((k) => k.kind === level).map((k) => k.maxTxid));
    const sources = keys.filter((k) => k.kind === from && k.maxTxid > done).sort((a, b) => a.minTxid - b.minTxid);
    if (sources.length === 0) return undefined;
    const files: LtxFile[] = [];
    for (const k of sources) for (const f of await readBackupFiles(this.#target, k)) if (f.header.maxTxid > done) files.push(f);
    if (files.length === 0 || files[0]!.header.minTxid !== done + 1) return undefined;
    const merged = mergeLtxFiles(files);
    const key = backupKey(db, generation, level, merged.header.minTxid, merged.header.maxTxid);
    await this.#target.put(key, encodeLtx(merged.header, merged.pages, merged.trailer.postApplyChecksum));
    this.#logger.debug({ db, level, from: merged.header.minTxid, to: merged.header.maxTxid }, 'backup: compacted');
    return parseBackupKey(key);
  }

  /** Deletes what no restore inside the window needs; returns how many objects went. */
  async retain(db: string, windowMs: number, now = Date.now()): Promise<number> {
    const cutoff = now - windowMs;
    const keys = await backupKeys(this.#target, db);
    const generations = [...new Set(keys.map((k) => k.generation))].sort();
    const doomed: string[] = [];
    for (const generation of generations) {
      const ks = keys.filter((k) => k.generation === generation);
      const snapshots = ks.filter((k) => k.kind === 'snapshot').sort((a, b) => a.maxTxid - b.maxTxid);
      const stamps = new Map<string, number>();
      for (const s of snapshots) stamps.set(s.key, await firstTimestamp(this.#target, s));
      // The newest snapshot taken before the window opened: restores inside the window start there or later.
      const base = [...snapshots].reverse().find((s) => stamps.get(s.key)! <= cutoff);
      if (!base) continue;
      const newest = generation === generations[generations.length - 1];
      const last = ks.sort((a, b) => a.maxTxid - b.maxTxid)[ks.length - 1]!;
      if (!newest && (await lastTimestamp(this.#target, last)) < cutoff) {
        doomed.push(...ks.map((k) => k.key));
        continue;
      }
      for (const k of ks) if (k.key !== base.key && k.maxTxid <= base.maxTxid) doomed.push(k.key);
    }
    if (doomed.length > 0) {
      await this.#target.delete(doomed);
      this.#logger.info({ db, deleted: doomed.length, before: new Date(cutoff).toISOString() }, 'backup: retention removed files no restore inside the window needs');
    }
    return doomed.length;
  }
}
