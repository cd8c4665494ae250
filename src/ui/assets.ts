import crypto from 'node:crypto';
import fs from 'node:fs';
import type http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

/**
 * Every studio response carries these: scripts and styles only from the node itself (no inline
 * script, so injected markup could not run even if it reached the page), no framing, no referrer.
 */
export const SECURITY_HEADERS: http.OutgoingHttpHeaders = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
};

type Asset = { type: string; body: Buffer; gzip: Buffer; etag: string };

/** The studio's static files (src/ui/assets), read and gzipped once, served with an ETag. */
export class StaticAssets {
  readonly #files = new Map<string, Asset>();

  constructor(dir = fileURLToPath(new URL('./assets/', import.meta.url))) {
    for (const name of fs.readdirSync(dir)) {
      const type = TYPES[path.extname(name)];
      if (!type) continue;
      const body = fs.readFileSync(path.join(dir, name));
      this.#files.set(name, { type, body, gzip: zlib.gzipSync(body, { level: 9 }), etag: `"${crypto.createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` });
    }
  }

  /** Names of the files served. */
  get names(): string[] {
    return [...this.#files.keys()];
  }

  /** Answers with file `name` (304 when the browser's copy is current); false when there is no such file. */
  serve(name: string, req: http.IncomingMessage, res: http.ServerResponse): boolean {
    const a = this.#files.get(name);
    if (!a) return false;
    // Names carry no version, so browsers keep a copy but ask each time (a 304 on a current one).
    const headers: http.OutgoingHttpHeaders = { ...SECURITY_HEADERS, 'content-type': a.type, etag: a.etag, 'cache-control': 'no-cache', vary: 'accept-encoding' };
    if (req.headers['if-none-match'] === a.etag) {
      res.writeHead(304, headers);
      res.end();
      return true;
    }
    const gzip = /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
    const body = gzip ? a.gzip : a.body;
    res.writeHead(200, { ...headers, ...(gzip ? { 'content-encoding': 'gzip' } : {}), 'content-length': body.length });
    res.end(req.method === 'HEAD' ? undefined : body);
    return true;
  }
}
