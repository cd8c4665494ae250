import crypto from 'node:crypto';
import type http from 'node:http';

/** A signed-in browser: the id its cookie carries and the CSRF token every change must repeat. */
export interface Session {
  id: string;
  csrf: string;
  expires: number;
}

/** The session cookie's name starts so; the node's port follows, since browsers share cookies between the ports of a host (the demo's three nodes). */
export const SESSION_COOKIE = 'litefleet_session_';
/** A session ends after this long without a request. */
export const SESSION_IDLE_MS = 12 * 60 * 60_000;
const MAX_SESSIONS = 1_000;

/**
 * The studio's sessions, in memory (a restarted node signs everyone out). A browser signs in
 * once with the cluster token and from then on carries only a random session id, in an
 * HttpOnly, SameSite=Strict cookie scoped to /ui, so the token never sits in a page or a URL.
 */
export class SessionStore {
  readonly #sessions = new Map<string, Session>();
  readonly #port: () => number;

  /** `port`: the node API's port, which names the cookie (known once the API listens). */
  constructor(port: () => number) {
    this.#port = port;
  }

  /** A new session (the oldest is dropped when there are too many). */
  create(): Session {
    this.#sweep();
    if (this.#sessions.size >= MAX_SESSIONS) this.#sessions.delete(this.#sessions.keys().next().value!);
    const s: Session = { id: crypto.randomBytes(32).toString('base64url'), csrf: crypto.randomBytes(32).toString('base64url'), expires: Date.now() + SESSION_IDLE_MS };
    this.#sessions.set(s.id, s);
    return s;
  }

  /** The live session the request's cookie names, its idle time restarted; undefined when there is none. */
  fromRequest(req: http.IncomingMessage): Session | undefined {
    const id = readCookie(req, `${SESSION_COOKIE}${this.#port()}`);
    const s = id ? this.#sessions.get(id) : undefined;
    if (!s) return undefined;
    if (s.expires < Date.now()) {
      this.#sessions.delete(s.id);
      return undefined;
    }
    s.expires = Date.now() + SESSION_IDLE_MS;
    return s;
  }

  /** Ends a session. */
  delete(s: Session): void {
    this.#sessions.delete(s.id);
  }

  /** The Set-Cookie value that starts (`s`) or ends (undefined) a session; Secure when the browser came over HTTPS. */
  cookie(s: Session | undefined, secure: boolean): string {
    const attrs = `Path=/ui; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`;
    const name = `${SESSION_COOKIE}${this.#port()}`;
    return s ? `${name}=${s.id}; ${attrs}` : `${name}=; ${attrs}; Max-Age=0`;
  }

  #sweep(): void {
    const now = Date.now();
    for (const [id, s] of this.#sessions) if (s.expires < now) this.#sessions.delete(id);
  }
}

/** True when the request repeats the session's CSRF token (header `x-csrf-token`), compared in constant time. */
export function hasCsrfToken(req: http.IncomingMessage, s: Session): boolean {
  const given = req.headers['x-csrf-token'];
  if (typeof given !== 'string') return false;
  const a = Buffer.from(given);
  const b = Buffer.from(s.csrf);
  return a.length === b.length && crypto.timingSafeEqual(a, b);
}

function readCookie(req: http.IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}
