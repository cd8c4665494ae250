import type { SqlValue } from './sql-text.ts';
import { InvalidRequestError } from '../errors.ts';

/**
 * A database value as JSON carries it to the browser. Plain JSON numbers and strings are what
 * they look like; the rest is tagged so nothing is lost or guessed: integers beyond 2^53, REALs
 * that look like integers (1.0) or are infinite, blobs (hex), and text cut short for a preview.
 */
export type WireValue =
  | null
  | number
  | string
  | { $int: string }
  | { $real: string }
  | { $blob: string; size: number; truncated?: true }
  | { $text: string; length: number };

/** How much of a long value a preview carries. */
export interface PreviewLimits {
  textChars: number;
  blobBytes: number;
}

/** Whole values: for keys, cursors and the row being edited. */
export const FULL: PreviewLimits = { textChars: Infinity, blobBytes: Infinity };

/** A value read with safe integers (INTEGER is a bigint, REAL a number) as it goes on the wire. */
export function toWire(v: unknown, limits: PreviewLimits): WireValue {
  if (v === null || v === undefined) return null;
  if (typeof v === 'bigint') return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : { $int: v.toString() };
  if (typeof v === 'number') return Number.isInteger(v) || !Number.isFinite(v) ? { $real: Number.isFinite(v) ? `${v}.0`.replace(/e(.*)\.0$/, 'e$1') : String(v) } : v;
  if (typeof v === 'string') return v.length > limits.textChars ? { $text: v.slice(0, limits.textChars), length: v.length } : v;
  if (v instanceof Uint8Array) {
    const buf = Buffer.from(v.buffer, v.byteOffset, v.byteLength);
    return buf.length > limits.blobBytes ? { $blob: buf.subarray(0, limits.blobBytes).toString('hex'), size: buf.length, truncated: true } : { $blob: buf.toString('hex'), size: buf.length };
  }
  throw new Error(`unexpected value of type ${typeof v}`);
}

/** The database value a whole wire value stands for; a preview (cut short) is refused, as it is not the value. */
export function fromWire(w: unknown): SqlValue {
  if (w === null || typeof w === 'string') return w;
  if (typeof w === 'number') return Number.isInteger(w) ? BigInt(w) : w;
  if (typeof w === 'object') {
    const o = w as Record<string, unknown>;
    if (typeof o.$int === 'string' && /^-?\d{1,19}$/.test(o.$int)) return BigInt(o.$int);
    if (typeof o.$real === 'string' && !Number.isNaN(Number(o.$real))) return Number(o.$real);
    if (typeof o.$blob === 'string' && /^([0-9a-fA-F]{2})*$/.test(o.$blob) && o.truncated === undefined) return Buffer.from(o.$blob, 'hex');
  }
  throw new InvalidRequestError(`not a whole value: ${JSON.stringify(w)?.slice(0, 100)}`);
}
