import { formatHex64 } from '../ltx/checksum.ts';

/**
 * Where things are in a backup target, per database and generation (a chain of transactions
 * whose checksums continue one another):
 *   `<db>/<generation>/snapshots/<min>-<max>.ltx`  a whole database at TXID max (min is 1)
 *   `<db>/<generation>/l0/<min>-<max>.seg`         every transaction min…max, one LTX file each, back to back
 *   `<db>/<generation>/l1|l2|l3/<min>-<max>.ltx`   min…max merged into one change (newest page wins), for fast restores
 * TXIDs are 16 hex digits, so keys sort by TXID; generations are named by their start time, so they sort by age.
 */
export type BackupKind = 'snapshot' | 'l0' | 'l1' | 'l2' | 'l3';

export interface BackupFileKey {
  db: string;
  generation: string;
  kind: BackupKind;
  minTxid: number;
  maxTxid: number;
  key: string;
}

const KEY = /^(.+)\/([0-9a-f]{16})\/(snapshots|l0|l1|l2|l3)\/([0-9a-f]{16})-([0-9a-f]{16})\.(ltx|seg)$/;

export function backupKey(db: string, generation: string, kind: BackupKind, minTxid: number, maxTxid: number): string {
  return `${db}/${generation}/${kind === 'snapshot' ? 'snapshots' : kind}/${formatHex64(minTxid)}-${formatHex64(maxTxid)}.${kind === 'l0' ? 'seg' : 'ltx'}`;
}

export function parseBackupKey(key: string): BackupFileKey | undefined {
  const m = KEY.exec(key);
  if (!m) return undefined;
  const kind = m[3] === 'snapshots' ? 'snapshot' : (m[3] as BackupKind);
  return { db: m[1]!, generation: m[2]!, kind, minTxid: Number.parseInt(m[4]!, 16), maxTxid: Number.parseInt(m[5]!, 16), key };
}

/** A new generation's name: its start time in ms, then random bits (two primaries never collide). */
export function newGeneration(): string {
  const rand = Math.floor(Math.random() * 0x10000);
  return (BigInt(Date.now()) * 0x10000n + BigInt(rand)).toString(16).padStart(16, '0');
}
