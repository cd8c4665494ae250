import fs from 'node:fs';
import type http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { BackupTarget } from '../backup/backup-target.ts';
import { backupKeys, firstTimestamp } from '../backup/maintenance.ts';
import { listGenerations, restoreDatabase, type GenerationInfo, type RestoreTarget } from '../backup/restore.ts';
import { LitefleetError, NotFoundError } from '../errors.ts';

/** Restore points the timeline shows (the newest objects; each holds one or more restore points). */
const TIMELINE_MAX = 200;

/** One backup object on the timeline: the TXIDs it makes restorable and when its first one was committed. */
export interface TimelinePoint {
  generation: string;
  kind: string;
  minTxid: number;
  maxTxid: number;
  timestamp: number;
}

/** What the backups page shows of one database. */
export interface BackupOverview {
  generations: GenerationInfo[];
  timeline: TimelinePoint[];
  /** The timeline holds only the newest TIMELINE_MAX objects. */
  timelineTruncated: boolean;
}

/** The generations of `db` (what `litefleet backup ls` lists) and a timeline of its newest restore points. */
export async function backupOverview(target: BackupTarget, db: string): Promise<BackupOverview> {
  const generations = await listGenerations(target, db);
  const keys = (await backupKeys(target, db)).filter((k) => k.kind === 'snapshot' || k.kind === 'l0').sort((a, b) => (a.generation === b.generation ? a.maxTxid - b.maxTxid : a.generation < b.generation ? -1 : 1));
  const newest = keys.slice(-TIMELINE_MAX);
  // One header read per object (a ranged GET on S3), all at once.
  const timeline = await Promise.all(newest.map(async (k) => ({ generation: k.generation, kind: k.kind, minTxid: k.minTxid, maxTxid: k.maxTxid, timestamp: await firstTimestamp(target, k) })));
  return { generations, timeline, timelineTruncated: keys.length > newest.length };
}

/**
 * Restores `db` as it was at `to` into a temporary folder (never the live one), streams the file
 * to the browser as a download, and deletes it.
 */
export async function downloadRestore(target: BackupTarget, db: string, to: RestoreTarget, res: http.ServerResponse): Promise<void> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'litefleet-studio-restore-'));
  try {
    const out = path.join(tmp, 'restored.db');
    let restored;
    try {
      restored = await restoreDatabase(target, db, to, out);
    } catch (err) {
      if (err instanceof LitefleetError && (err.code === 'ENOPOINT' || err.code === 'ENOBACKUP')) throw new NotFoundError(err.message);
      throw err;
    }
    const base = db.replace(/\.(db|sqlite3?)$/, '');
    const filename = `${base}-txid-${restored.txid}.db`.replace(/[^A-Za-z0-9._-]/g, '_');
    res.writeHead(200, {
      'content-type': 'application/vnd.sqlite3',
      'content-length': fs.statSync(out).size,
      'content-disposition': `attachment; filename="${filename}"`,
      'cache-control': 'no-store',
      'litefleet-txid': String(restored.txid),
      'litefleet-timestamp': new Date(restored.timestamp).toISOString(),
    });
    await pipeline(fs.createReadStream(out), res);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
