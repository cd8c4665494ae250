// Calls the node's studio API. The CSRF token the session answered with goes on every POST; the
// session itself is an HttpOnly cookie this script never sees.

let csrf = '';
let onSignedOut = () => {};

/** Who is signed in (set by the session answer). */
export const session = { readOnly: false, role: '', databases: [] };

let sessionKnown;
/** Resolves once `session` holds the node's answer: views start loading their data before it, and wait for it only to draw what depends on it. */
export const ready = new Promise((resolve) => (sessionKnown = resolve));

/** Registers what to do when the node says the session is gone. */
export function whenSignedOut(fn) {
  onSignedOut = fn;
}

/** Takes the session answer (sign-in or GET session). */
export function useSession(s) {
  csrf = s.csrf;
  session.readOnly = s.readOnly;
  session.role = s.node.role;
  session.databases = s.databases;
  sessionKnown();
}

/** An error the node answered with; `message` is its text (SQLite's own for SQL errors). */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function call(method, path, body) {
  const headers = {};
  if (method === 'POST') {
    headers['x-csrf-token'] = csrf;
    headers['content-type'] = 'application/json';
  }
  const res = await fetch(`/ui/api/${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin' });
  const data = await res.json().catch(() => ({ error: `the node answered ${res.status}` }));
  if (res.status === 401) onSignedOut();
  if (!res.ok) throw new ApiError(res.status, data.error ?? `the node answered ${res.status}`);
  return data;
}

/** GET /ui/api/<path>?<params>. */
export function get(path, params = {}) {
  const q = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== undefined && v !== null));
  return call('GET', q.size ? `${path}?${q}` : path);
}

/** POST /ui/api/<path> with a JSON body. */
export function post(path, body = {}) {
  return call('POST', path, body);
}

/** Signs in with the cluster token, sent in a form body (never in a URL). */
export async function signIn(token) {
  const res = await fetch('/ui/session', { method: 'POST', body: new URLSearchParams({ token }), credentials: 'same-origin' });
  const data = await res.json().catch(() => ({ error: `the node answered ${res.status}` }));
  if (!res.ok) throw new ApiError(res.status, data.error);
  useSession(data);
}
