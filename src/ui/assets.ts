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

function asset(ext: string, body: Buffer): Asset {
  return { type: TYPES[ext]!, body, gzip: zlib.gzipSync(body, { level: 9 }), etag: `"${crypto.createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` };
}

/**
 * The studio's page files: index.html, and app.js and style.css bundled and minified by esbuild
 * from the modules in src/ui/assets (one request instead of nine, a third of the bytes; the
 * sources stay plain modules with no build step). The bundle is built, and esbuild imported (12 MB),
 * when the page is first asked for, not when the node starts, since most nodes are never visited.
 * Gzipped once, served with an ETag.
 */
export class StaticAssets {
  readonly #dir: string;
  readonly #index: Asset;
  #bundle: Promise<Map<string, Asset>> | undefined;

  constructor(dir = fileURLToPath(new URL('./assets/', import.meta.url))) {
    this.#dir = dir;
    this.#index = asset('.html', fs.readFileSync(path.join(dir, 'index.html')));
  }

  async #build(): Promise<Map<string, Asset>> {
    const esbuild = await import('esbuild');
    const result = await esbuild.build({
      entryPoints: [path.join(this.#dir, 'app.js'), path.join(this.#dir, 'style.css')],
      bundle: true,
      minify: true,
      format: 'esm',
      target: ['es2022', 'chrome110', 'firefox110', 'safari16'],
      outdir: '/',
      write: false,
      logLevel: 'silent',
    });
    // esbuild's service process is not needed again.
    await esbuild.stop();
    return new Map(result.outputFiles.map((out) => [path.basename(out.path), asset(path.extname(out.path), Buffer.from(out.contents))]));
  }

  /** Answers with file `name` (304 when the browser's copy is current); false when there is no such file. */
  async serve(name: string, req: http.IncomingMessage, res: http.ServerResponse): Promise<boolean> {
    // The page's files are asked for right after it: their build starts with it.
    if (!this.#bundle) {
      this.#bundle = this.#build();
      // Reported to each request that waits for it; unawaited, a failure would end the node.
      this.#bundle.catch(() => {});
    }
    const a = name === 'index.html' ? this.#index : (await this.#bundle).get(name);
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
