import crypto from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/**
 * True when the request carries `Authorization: Bearer <token>`. Both sides are hashed first so
 * the comparison takes the same time whatever the length or content of the guess.
 */
export function hasValidToken(req: IncomingMessage, token: string): boolean {
  const header = req.headers.authorization ?? '';
  const m = /^Bearer\s+(.+)$/i.exec(header);
  const given = crypto.createHash('sha256').update(m ? m[1]!.trim() : '').digest();
  const expected = crypto.createHash('sha256').update(token).digest();
  return crypto.timingSafeEqual(given, expected) && m !== null;
}
