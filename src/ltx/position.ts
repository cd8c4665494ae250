import { LtxFormatError } from '../errors.ts';
import { formatHex64 } from './checksum.ts';

/** Where a database stands: the last applied TXID and the database checksum after it. */
export interface Pos {
  txid: number;
  checksum: bigint;
}

/** The position of a database that has no transactions yet. */
export const ZERO_POS: Pos = Object.freeze({ txid: 0, checksum: 0n });

/** `<txid as 16 hex>/<checksum as 16 hex>`, as LiteFS prints positions. */
export function formatPos(pos: Pos): string {
  return `${formatHex64(pos.txid)}/${formatHex64(pos.checksum)}`;
}

/** Parses the text form written by formatPos (a trailing newline is allowed). */
export function parsePos(text: string): Pos {
  const m = /^([0-9a-f]{16})\/([0-9a-f]{16})\n?$/.exec(text);
  if (!m) throw new LtxFormatError(`malformed position ${JSON.stringify(text.slice(0, 40))}: expected <16 hex>/<16 hex>`);
  return { txid: Number.parseInt(m[1]!, 16), checksum: BigInt(`0x${m[2]}`) };
}

const FILENAME = /^([0-9a-f]{16})-([0-9a-f]{16})\.ltx$/;

/** `<minTXID>-<maxTXID>.ltx` in 16 hex digits each. */
export function ltxFilename(minTxid: number, maxTxid: number): string {
  return `${formatHex64(minTxid)}-${formatHex64(maxTxid)}.ltx`;
}

/** The TXID range a file name stands for, or undefined for names that are not LTX files. */
export function parseLtxFilename(name: string): { minTxid: number; maxTxid: number } | undefined {
  const m = FILENAME.exec(name);
  if (!m) return undefined;
  return { minTxid: Number.parseInt(m[1]!, 16), maxTxid: Number.parseInt(m[2]!, 16) };
}

/** True when both name the same transaction and state (a missing one is never the same). */
export function samePos(a: Pos | undefined, b: Pos | undefined): boolean {
  return a !== undefined && b !== undefined && a.txid === b.txid && a.checksum === b.checksum;
}
