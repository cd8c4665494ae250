/**
 * A cookie jar for fetch, keyed by host (as a browser keeps cookies: ports share them), enough to
 * drive the notes app through its proxies the way a browser would, redirects included.
 */
export class CookieSession {
  readonly #cookies = new Map<string, string>();

  /** Cookie names and values the session holds. */
  get cookies(): ReadonlyMap<string, string> {
    return this.#cookies;
  }

  /** GET or POST (form fields) `url`, storing Set-Cookie and following a 303 with a GET, as a browser does. */
  async request(url: string, form?: Record<string, string>): Promise<{ status: number; text: string; headers: Headers }> {
    const res = await fetch(url, {
      method: form ? 'POST' : 'GET',
      redirect: 'manual',
      headers: { cookie: [...this.#cookies].map(([k, v]) => `${k}=${v}`).join('; '), ...(form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
      body: form ? new URLSearchParams(form).toString() : undefined,
    });
    for (const c of res.headers.getSetCookie()) {
      const [pair, ...attrs] = c.split(/;\s*/);
      const eq = pair!.indexOf('=');
      const [name, value] = [pair!.slice(0, eq), pair!.slice(eq + 1)];
      if (attrs.some((a) => /^max-age=0$/i.test(a))) this.#cookies.delete(name);
      else this.#cookies.set(name, value);
    }
    if (res.status === 303) return this.request(new URL(res.headers.get('location')!, url).toString());
    return { status: res.status, text: await res.text(), headers: res.headers };
  }
}
