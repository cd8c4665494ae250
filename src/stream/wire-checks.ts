import { parsePos, type Pos } from '../ltx/position.ts';
import { StreamProtocolError } from '../protocol/frames.ts';
import { validateDatabaseName } from '../store/names.ts';

// What a replica takes from the primary's stream is untrusted input: each name and position is
// checked here before it is used.

/** A database name from the wire, refused unless it is a plain database name (no path, no SQLite side file). */
export function checkedName(name: unknown): string {
  try {
    return validateDatabaseName(name);
  } catch (err) {
    throw new StreamProtocolError(`the primary sent ${(err as Error).message}`);
  }
}

/** A position from the wire. */
export function checkedPos(text: unknown): Pos {
  try {
    return parsePos(String(text));
  } catch (err) {
    throw new StreamProtocolError(`the primary sent a malformed position: ${(err as Error).message}`);
  }
}

/** A heartbeat's TXIDs: database names and non-negative safe integers only. */
export function checkedTxids(txids: unknown): Record<string, number> {
  if (typeof txids !== 'object' || txids === null || Array.isArray(txids)) throw new StreamProtocolError('the primary sent a heartbeat without TXIDs');
  const out: Record<string, number> = {};
  for (const [name, txid] of Object.entries(txids)) {
    if (!Number.isSafeInteger(txid) || (txid as number) < 0) throw new StreamProtocolError(`the primary sent TXID ${JSON.stringify(txid)} for ${name}`);
    out[checkedName(name)] = txid as number;
  }
  return out;
}
