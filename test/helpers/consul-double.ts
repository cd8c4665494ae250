import crypto from 'node:crypto';
import http from 'node:http';
import type net from 'node:net';
import { after } from 'node:test';

/**
 * A stand-in for the parts of Consul's HTTP API the Consul lease uses (no Consul server can be
 * installed here), written from Consul's API documentation: sessions (create with TTL, behaviour
 * and lock delay; renew; destroy) and KV (get, put, acquire, release, delete). Sessions are
 * invalidated when their TTL passes unrenewed; invalidation deletes or releases the keys they
 * hold and blocks acquiring those keys for the session's lock delay.
 */
export interface ConsulDouble {
  url: string;
  /** Invalidates every session at once (as when the Consul servers lose them). */
  expireAll(): void;
  close(): Promise<void>;
}

interface Session {
  id: string;
  ttlMs: number;
  lockDelayMs: number;
  behavior: 'release' | 'delete';
  expiresAt: number;
}

interface Entry {
  value: Buffer;
  session?: string;
  createIndex: number;
  modifyIndex: number;
  lockIndex: number;
}

function parseDuration(text: unknown, dflt: number): number {
  if (text === undefined) return dflt;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(String(text));
  if (!m) throw new Error(`invalid duration ${String(text)}`);
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
}

/** Starts the double on `host` (loopback unless a test's own network namespaces must reach it). */
export async function startConsulDouble(host = '127.0.0.1'): Promise<ConsulDouble> {
  const sessions = new Map<string, Session>();
  const kv = new Map<string, Entry>();
  let index = 1;

  const invalidate = (id: string) => {
    const s = sessions.get(id);
    if (!s) return;
    sessions.delete(id);
    for (const [key, e] of kv) {
      if (e.session !== id) continue;
      if (s.behavior === 'delete') {
        kv.delete(key);
      } else {
        e.session = undefined;
        e.modifyIndex = ++index;
      }
      // Consul keeps the lock delay even when the key is deleted: remember it on a tombstone.
      tombstones.set(key, Date.now() + s.lockDelayMs);
    }
  };
  const tombstones = new Map<string, number>();
  const expire = () => {
    for (const s of [...sessions.values()]) if (Date.now() >= s.expiresAt) invalidate(s.id);
  };
  const timer = setInterval(expire, 50);

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      expire();
      const url = new URL(req.url ?? '/', 'http://x');
      const body = Buffer.concat(chunks);
      const send = (status: number, payload: unknown) => {
        res.writeHead(status, { 'content-type': typeof payload === 'string' ? 'text/plain' : 'application/json', 'x-consul-index': String(index) });
        res.end(typeof payload === 'string' ? payload : JSON.stringify(payload));
      };
      try {
        const p = url.pathname;
        if (req.method === 'PUT' && p === '/v1/session/create') {
          const o = body.length ? (JSON.parse(body.toString()) as Record<string, unknown>) : {};
          const ttlMs = parseDuration(o.TTL, 0);
          if (ttlMs && (ttlMs < 10_000 || ttlMs > 86_400_000)) return send(400, `Invalid Session TTL '${ttlMs * 1e6}', must be between [10s=24h0m0s]`);
          const id = crypto.randomUUID();
          sessions.set(id, {
            id,
            ttlMs,
            lockDelayMs: parseDuration(o.LockDelay, 15_000),
            behavior: o.Behavior === 'delete' ? 'delete' : 'release',
            expiresAt: ttlMs ? Date.now() + ttlMs : Infinity,
          });
          return send(200, { ID: id });
        }
        let m = /^\/v1\/session\/renew\/(.+)$/.exec(p);
        if (req.method === 'PUT' && m) {
          const s = sessions.get(m[1]!);
          if (!s) return send(404, `Session id '${m[1]}' not found`);
          s.expiresAt = s.ttlMs ? Date.now() + s.ttlMs : Infinity;
          return send(200, [{ ID: s.id, TTL: `${s.ttlMs / 1000}s`, Behavior: s.behavior, LockDelay: s.lockDelayMs * 1e6 }]);
        }
        m = /^\/v1\/session\/destroy\/(.+)$/.exec(p);
        if (req.method === 'PUT' && m) {
          invalidate(m[1]!);
          return send(200, true);
        }
        m = /^\/v1\/kv\/(.+)$/.exec(p);
        if (!m) return send(404, 'not found');
        const key = decodeURIComponent(m[1]!);
        const entry = kv.get(key);
        if (req.method === 'GET') {
          if (!entry) return send(404, '');
          return send(200, [
            {
              Key: key,
              Value: entry.value.length ? entry.value.toString('base64') : null,
              Flags: 0,
              CreateIndex: entry.createIndex,
              ModifyIndex: entry.modifyIndex,
              LockIndex: entry.lockIndex,
              ...(entry.session ? { Session: entry.session } : {}),
            },
          ]);
        }
        if (req.method === 'DELETE') {
          kv.delete(key);
          return send(200, true);
        }
        if (req.method !== 'PUT') return send(405, 'method not allowed');
        const put = (session: string | undefined, lock: boolean) => {
          const e = entry ?? { value: body, createIndex: ++index, modifyIndex: index, lockIndex: 0 };
          e.value = body;
          e.modifyIndex = ++index;
          if (lock && e.session !== session) e.lockIndex++;
          e.session = session;
          kv.set(key, e);
        };
        const cas = url.searchParams.get('cas');
        if (cas !== null && (entry?.modifyIndex ?? 0) !== Number(cas)) return send(200, false);
        const acquire = url.searchParams.get('acquire');
        const release = url.searchParams.get('release');
        if (acquire) {
          if (!sessions.has(acquire)) return send(500, `invalid session "${acquire}"`);
          if (entry?.session && entry.session !== acquire) return send(200, false);
          if ((tombstones.get(key) ?? 0) > Date.now()) return send(200, false);
          put(acquire, true);
          return send(200, true);
        }
        if (release) {
          if (!entry || entry.session !== release) return send(200, false);
          put(undefined, false);
          return send(200, true);
        }
        put(entry?.session, false);
        return send(200, true);
      } catch (err) {
        send(400, (err as Error).message);
      }
    });
  });
  const sockets = new Set<net.Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, host, r));
  const port = (server.address() as net.AddressInfo).port;
  const double: ConsulDouble = {
    url: `http://${host}:${port}`,
    expireAll: () => {
      for (const id of [...sessions.keys()]) invalidate(id);
    },
    close: async () => {
      clearInterval(timer);
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
  after(() => double.close());
  return double;
}
