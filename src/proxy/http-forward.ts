import http from 'node:http';
import net from 'node:net';

// Hop-by-hop headers (RFC 9110 §7.6.1) belong to one connection and are not passed on.
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'proxy-connection']);

/** The request's headers without hop-by-hop ones (and those its Connection header names), plus X-Forwarded-*. */
export function forwardHeaders(req: http.IncomingMessage): http.OutgoingHttpHeaders {
  const named = new Set(String(req.headers.connection ?? '').toLowerCase().split(',').map((s) => s.trim()).filter(Boolean));
  const out: http.OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(req.headers)) if (!HOP_BY_HOP.has(k) && !named.has(k) && v !== undefined) out[k] = v;
  const prior = req.headers['x-forwarded-for'];
  out['x-forwarded-for'] = prior ? `${String(prior)}, ${req.socket.remoteAddress ?? ''}` : (req.socket.remoteAddress ?? '');
  out['x-forwarded-host'] ??= req.headers.host ?? '';
  out['x-forwarded-proto'] ??= 'http';
  return out;
}

/** A response's headers without hop-by-hop ones. */
export function responseHeaders(res: http.IncomingMessage): http.OutgoingHttpHeaders {
  const named = new Set(String(res.headers.connection ?? '').toLowerCase().split(',').map((s) => s.trim()).filter(Boolean));
  const out: http.OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(res.headers)) if (!HOP_BY_HOP.has(k) && !named.has(k) && v !== undefined) out[k] = v;
  return out;
}

/** `host:port`, `:port` or a URL, as the target of a forwarded request. */
export function parseTarget(target: string): { host: string; port: number } {
  const u = new URL(/^[a-z]+:\/\//.test(target) ? target : `http://${target.startsWith(':') ? `127.0.0.1${target}` : target}`);
  return { host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port || 80) };
}

/**
 * Sends `req` (its body streamed) to `target` and streams the answer back through `res`;
 * `decorate` may add headers to the answer before it is sent, or return false to drop the
 * answer unsent (the promise then resolves false, `res` untouched). Resolves when it is done.
 */
export function forwardRequest(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  target: { host: string; port: number },
  decorate: (status: number, headers: http.OutgoingHttpHeaders) => boolean | void | Promise<void>,
): Promise<boolean> {
  return new Promise((resolve) => {
    const upstream = http.request({ host: target.host, port: target.port, method: req.method, path: req.url, headers: forwardHeaders(req) });
    upstream.on('response', async (up) => {
      const headers = responseHeaders(up);
      const verdict = await decorate(up.statusCode ?? 502, headers);
      if (verdict === false) {
        up.resume();
        resolve(false);
        return;
      }
      res.writeHead(up.statusCode ?? 502, up.statusMessage, headers);
      // Streamed as it arrives (server-sent events, large downloads): each chunk is written on.
      up.pipe(res);
      up.on('end', () => resolve(true));
      up.on('error', () => {
        res.destroy();
        resolve(true);
      });
    });
    upstream.on('error', (err) => {
      if (!res.headersSent) {
        const headers: http.OutgoingHttpHeaders = { 'content-type': 'text/plain; charset=utf-8' };
        decorate(502, headers);
        res.writeHead(502, headers);
        res.end(`litefleet proxy: cannot reach ${target.host}:${target.port}: ${err.message}\n`);
      } else {
        res.destroy();
      }
      resolve(true);
    });
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
    // A request replayed elsewhere (no body: GET/HEAD) was read already.
    if (req.readableEnded) upstream.end();
    else req.pipe(upstream);
  });
}

/** Passes a WebSocket (any HTTP upgrade) through to `target`: the handshake, then bytes both ways. */
export function forwardUpgrade(req: http.IncomingMessage, socket: net.Socket, head: Buffer, target: { host: string; port: number }, extra: Record<string, string>): void {
  const upstream = net.connect(target.port, target.host, () => {
    const lines = [`${req.method} ${req.url} HTTP/${req.httpVersion}`];
    for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
    upstream.write(`${lines.join('\r\n')}\r\n\r\n`);
    if (head.length) upstream.write(head);
    let first = true;
    upstream.on('data', (chunk: Buffer) => {
      if (first) {
        first = false;
        // Name the instances in the handshake's answer too.
        const end = chunk.indexOf('\r\n');
        const added = Object.entries(extra).map(([k, v]) => `\r\n${k}: ${v}`).join('');
        chunk = end < 0 ? chunk : Buffer.concat([chunk.subarray(0, end), Buffer.from(added), chunk.subarray(end)]);
      }
      socket.write(chunk);
    });
    socket.pipe(upstream);
  });
  const close = () => {
    upstream.destroy();
    socket.destroy();
  };
  upstream.on('error', () => {
    if (socket.writable) socket.end('HTTP/1.1 502 Bad Gateway\r\nconnection: close\r\n\r\n');
    close();
  });
  upstream.on('end', close);
  socket.on('error', close);
  socket.on('end', close);
}
