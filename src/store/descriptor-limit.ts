import fs from 'node:fs';

// Descriptors one idle database holds on a primary (its capture connections' database and WAL
// files, the shared -shm, the ones capture keeps for its locks and its WAL reader, its log
// segment), measured with 1 and 21 databases.
const PER_DATABASE = 8;
// What the rest of the node holds (its API's and the stream's sockets, Node's own descriptors).
const RESERVED = 64;

/**
 * The open-file limit this process runs with, from /proc on Linux (undefined elsewhere, or when
 * unlimited). Node raises the soft limit to the hard one as it starts, so this is as far as the
 * system lets the node go without an operator raising the hard limit.
 */
export function descriptorLimit(limits = '/proc/self/limits'): number | undefined {
  let text: string;
  try {
    text = fs.readFileSync(limits, 'utf8');
  } catch {
    return undefined;
  }
  const soft = /^Max open files\s+(\d+)/m.exec(text)?.[1];
  return soft === undefined ? undefined : Number(soft);
}

/** The limit and about how many databases it leaves room for on a primary, for the start-up log. */
export function descriptorRoom(limit = descriptorLimit()): { fdLimit: number; roomForDatabases: number } | undefined {
  return limit === undefined ? undefined : { fdLimit: limit, roomForDatabases: Math.max(0, Math.floor((limit - RESERVED) / PER_DATABASE)) };
}
