/** Splits `host:port` / `:port` (`http.addr`, `proxy.addr`) into what `listen` takes. */
export function parseAddr(addr: string): { host: string | undefined; port: number } {
  const i = addr.lastIndexOf(':');
  const host = addr.slice(0, i).replace(/^\[|\]$/g, '');
  return { host: host || undefined, port: Number(addr.slice(i + 1)) };
}

/** Where a node listening on `addr` is reached from this machine (loopback for a wildcard address). */
export function localUrl(addr: string, port = parseAddr(addr).port): string {
  const { host } = parseAddr(addr);
  const h = !host || host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  return `http://${h.includes(':') ? `[${h}]` : h}:${port}`;
}
