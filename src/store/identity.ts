import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { writeFileDurable } from '../log/fsync.ts';

/** A node id: random uint64, printed as 16 uppercase hex digits (LiteFS's form). */
export function formatNodeId(id: bigint): string {
  return id.toString(16).toUpperCase().padStart(16, '0');
}

/**
 * This node's id from `<data-dir>/id`, or a new random one the first time; `save` writes a new one
 * (call it once the node has started: a start that fails leaves nothing behind).
 */
export function nodeIdentity(dataDir: string): { id: bigint; save(): void } {
  const file = path.join(dataDir, 'id');
  try {
    const text = fs.readFileSync(file, 'utf8').trim();
    if (/^[0-9A-F]{16}$/.test(text)) return { id: BigInt(`0x${text}`), save: () => {} };
  } catch {
    // first start
  }
  let id = 0n;
  while (id === 0n) id = crypto.randomBytes(8).readBigUInt64BE() & ((1n << 63n) - 1n);
  return {
    id,
    save: () => {
      fs.mkdirSync(dataDir, { recursive: true });
      writeFileDurable(file, `${formatNodeId(id)}\n`);
    },
  };
}

/** The cluster id in `<data-dir>/cluster-id`, if this node has one yet. */
export function readClusterId(dataDir: string): string | undefined {
  try {
    const text = fs.readFileSync(path.join(dataDir, 'cluster-id'), 'utf8').trim();
    return /^LFC[0-9A-F]{16}$/.test(text) ? text : undefined;
  } catch {
    return undefined;
  }
}

/** Records the cluster this node belongs to (a primary makes one up; a replica adopts its primary's). */
export function writeClusterId(dataDir: string, id: string): void {
  fs.mkdirSync(dataDir, { recursive: true });
  writeFileDurable(path.join(dataDir, 'cluster-id'), `${id}\n`);
}

/** A new random cluster id, `LFC` and 16 hex digits (LiteFS's form). */
export function newClusterId(): string {
  return `LFC${crypto.randomBytes(8).toString('hex').toUpperCase()}`;
}
