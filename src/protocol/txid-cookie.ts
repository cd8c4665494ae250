/** The cookie the primary's proxy sets after a write: the TXID a later read must see. */
export const TXID_COOKIE = '__txid';

/** The TXID of the first well-formed `__txid` cookie (16 hex digits) in a Cookie header. */
export function txidFromCookie(header: string | null | undefined): number | undefined {
  for (const part of (header ?? '').split(';')) {
    const [k, v] = part.trim().split('=');
    if (k === TXID_COOKIE && v && /^[0-9a-f]{16}$/i.test(v)) return Number.parseInt(v, 16);
  }
  return undefined;
}
