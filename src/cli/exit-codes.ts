import { LitefleetError } from '../errors.ts';

/** How the CLI ends for an error: its exit status and, where one helps, what to do about it. */
interface Outcome {
  exit: number;
  hint?: string;
}

// The one table from an error's code to the CLI's exit status and hint. 2: the command line or a
// file it names is wrong; 3: the token; 4: the node cannot be reached or does not have it; 5: the
// cluster is between primaries or the database is busy (try again); 1: anything else.
const OUTCOMES: Record<string, Outcome> = {
  EUSAGE: { exit: 2 },
  EINVALID: { exit: 2 },
  EINVALIDNAME: { exit: 2, hint: 'a database is named by its file name in dir, without a path' },
  ECONFIG: { exit: 2, hint: 'the file and line above say which key; the README lists every key' },
  ENOENT: { exit: 2 },
  EDATADIRINUSE: { exit: 2, hint: 'stop the other node, or give this one a data-dir of its own' },
  EUNAUTHORIZED: { exit: 3, hint: 'set http.token in the config, or LITEFLEET_TOKEN, to the cluster token every node shares' },
  ENODE: { exit: 4, hint: 'is the node running (litefleet run -c litefleet.yml), and is http.addr right?' },
  ENODB: { exit: 4 },
  ENOTFOUND: { exit: 4 },
  ENOPRIMARY: { exit: 5, hint: 'an election is under way; try again in a few seconds' },
  EBUSY: { exit: 5, hint: 'a long transaction holds the database; try again' },
  ETIMEOUT: { exit: 5 },
  EHANDOFFSTATIC: { exit: 2, hint: 'set lease.type to etcd or consul to move the primary between nodes' },
};

/** The exit status and message (with its hint) for an error a command ended with. */
export function outcomeOf(err: unknown): { exit: number; message: string } {
  const message = (err as Error)?.message ?? String(err);
  const o = err instanceof LitefleetError ? OUTCOMES[err.code] : undefined;
  return { exit: o?.exit ?? 1, message: o?.hint ? `${message}\n  hint: ${o.hint}` : message };
}
