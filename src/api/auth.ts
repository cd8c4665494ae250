import crypto from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/** True when the request carries `Authorization: Bearer <token>`. */
export function hasValidToken(req: IncomingMessage, token: string): boolean {
  const header = req.headers.authorization ?? '';
  const m = /^Bearer\s+(.+)$/i.exec(header);
  return isClusterToken(m ? m[1]!.trim() : '', token) && m !== null;
}

/**
 * True when `given` is the cluster token. Both sides are hashed first so the comparison takes the
 * same time whatever the length or content of the guess.
 */
export function isClusterToken(given: string, token: string): boolean {
  const a = crypto.createHash('sha256').update(given).digest();
  const b = crypto.createHash('sha256').update(token).digest();
  return crypto.timingSafeEqual(a, b);
}
