import { InvalidNameError } from '../errors.ts';

// SQLite's side files: a database named after one would be mistaken for another's journal or WAL
// (an import named `<db>-journal` left a hot journal that locked <db> for good).
const SIDE_FILE = /-(wal|shm|journal)$/i;
const MAX_NAME_BYTES = 255;

/**
 * Returns `name` if it is a plain database file name litefleet may create or open in `dir`, and
 * throws InvalidNameError naming the rule it breaks otherwise: nothing that reaches outside `dir`
 * (no `/`, `\`, `..`), no hidden or temporary names, no SQLite side files, no control characters.
 * Every name that arrives from outside (a URL, a request body, a stream frame) goes through it.
 */
export function validateDatabaseName(name: unknown): string {
  if (typeof name !== 'string' || name === '') throw new InvalidNameError('an empty database name');
  const shown = () => JSON.stringify(name.length > 80 ? `${name.slice(0, 80)}…` : name);
  if (Buffer.byteLength(name) > MAX_NAME_BYTES) throw new InvalidNameError(`a database name longer than ${MAX_NAME_BYTES} bytes (${shown()})`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f/\\]/.test(name)) throw new InvalidNameError(`database name ${shown()}: it may not contain "/", "\\" or control characters`);
  if (name.startsWith('.')) throw new InvalidNameError(`database name ${shown()}: it may not start with "."`);
  if (SIDE_FILE.test(name)) throw new InvalidNameError(`database name ${shown()}: it ends like one of SQLite's own files (-wal, -shm, -journal)`);
  if (/\.(tmp|litefleet-new)$|\.broken-\d+$/.test(name)) throw new InvalidNameError(`database name ${shown()}: litefleet uses names like it for its own files`);
  return name;
}
