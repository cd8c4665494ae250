import fs from 'node:fs';

// Descriptors one database holds on a primary at its busiest: its capture connections' database
// and WAL files, the shared -shm, the two kept for its locks, its WAL reader's, its log segment and
// segment index, and one SQLite parks after a snapshot read (an idle one gives back three).
const PER_DATABASE = 11;
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

/**
 * Whether the node may open one more database and keep RESERVED descriptors for its API and
 * streams: a node at its limit cannot accept a connection, so it would stop answering at all.
 * Counted at each database's busiest (idle ones give descriptors back until their next write).
 */
export class DescriptorBudget {
  readonly #limit: number | undefined;

  constructor(limit = descriptorLimit()) {
    this.#limit = limit;
  }

  /** Undefined when there is room for another database beside `openDatabases`; else why there is not. */
  check(openDatabases: number): string | undefined {
    const limit = this.#limit;
    if (limit === undefined || (openDatabases + 1) * PER_DATABASE + RESERVED <= limit) return undefined;
    return `no room under the open-file limit of ${limit} descriptors for more than ${openDatabases} databases (${PER_DATABASE} each at most, ${RESERVED} kept for the API and streams); raise the limit (ulimit -n, or LimitNOFILE) to capture more`;
  }
}
