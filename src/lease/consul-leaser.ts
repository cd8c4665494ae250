import { formatPrimaryInfo, LeaseExpiredError, parsePrimaryInfo, PrimaryExistsError, withTimeout, type Lease, type Leaser, type PrimaryInfo } from './leaser.ts';

/** Settings of the Consul lease (`lease.consul` plus this node's identity). */
export interface ConsulLeaserOptions {
  url: string;
  key: string;
  ttlMs: number;
  lockDelayMs: number;
  self: PrimaryInfo;
  candidate: boolean;
}

interface KvEntry {
  Value: string | null;
  Session?: string;
  ModifyIndex: number;
}

const CALL_TIMEOUT_MS = 2_000;

/**
 * The primary lease in Consul, as LiteFS keeps it: a session with a TTL (behaviour "delete", so the
 * key goes when the session dies) and a KV lock acquired with it. A password in the URL is the ACL
 * token. A handoff releases the lock with the target named in the value; other candidates leave
 * such a key alone for one TTL. A node that took the lock then writes `<key>.epoch` (no session:
 * it stays), whose modify index is the epoch; it checks and sets it, so of two nodes that both
 * read the same epoch, the one that led in between keeps the other from leading.
 */
export class ConsulLeaser implements Leaser {
  readonly self: PrimaryInfo;
  readonly candidate: boolean;
  readonly canHandOff = true;
  readonly #o: ConsulLeaserOptions;
  readonly #base: string;
  readonly #token: string | undefined;
  readonly #epochKey: string;
  /** The released key with a handoff target this node saw last (its modify index), and when it first saw it. */
  #markSeen = { index: -1, at: 0 };

  constructor(o: ConsulLeaserOptions) {
    this.#o = o;
    this.#epochKey = `${o.key}.epoch`;
    this.self = o.self;
    this.candidate = o.candidate;
    const u = new URL(o.url);
    this.#token = u.password ? decodeURIComponent(u.password) : undefined;
    u.username = '';
    u.password = '';
    this.#base = u.toString().replace(/\/$/, '');
  }

  async acquire(since?: number): Promise<Lease> {
    const entry = await this.#read();
    const holder = parsePrimaryInfo(entry?.Value ? Buffer.from(entry.Value, 'base64').toString() : null);
    if (entry?.Session) throw new PrimaryExistsError(`${holder?.hostname ?? 'another node'} holds the primary lease`);
    if (entry && holder?.handoffTo && holder.handoffTo !== this.#o.self.nodeId && this.#handingOff(entry)) {
      throw new PrimaryExistsError(`the primary lease is being handed to ${holder.handoffTo}`);
    }
    const sentAt = Date.now();
    const created = (await this.call('PUT', '/v1/session/create', {
      Name: 'litefleet',
      Behavior: 'delete',
      TTL: `${Math.ceil(this.#o.ttlMs / 1000)}s`,
      LockDelay: `${Math.ceil(this.#o.lockDelayMs / 1000)}s`,
    })) as { ID: string };
    const lease = new ConsulLease(this, created.ID, this.#o.self, this.#o.ttlMs, sentAt);
    if (!(await lease.lock(formatPrimaryInfo(this.#o.self)))) {
      await lease.destroy();
      throw new PrimaryExistsError('another node took the primary lease first');
    }
    // The key's modify index after the lock: Consul's Raft index, which only grows.
    const held = await this.#read();
    if (held?.Session !== created.ID) {
      await lease.destroy();
      throw new PrimaryExistsError('the primary lease was lost as soon as it was taken');
    }
    // Consul cannot take a lock and compare another key at once; the lock comes first, so a node
    // that leads between a round's epoch() and this put has moved the epoch, and this node, still
    // without a write, lets the lock go again.
    if ((await this.call('PUT', this.kvPath(since === undefined ? '' : `?cas=${since}`, this.#epochKey), this.#o.self.nodeId ?? '')) !== true) {
      await lease.close();
      throw new PrimaryExistsError('another node took the primary lease during this election round');
    }
    lease.term = held.ModifyIndex;
    return lease;
  }

  async epoch(): Promise<number> {
    return (await this.#read(this.#epochKey))?.ModifyIndex ?? 0;
  }

  selfUrl(): string {
    return this.self.advertiseUrl;
  }

  /**
   * The lock's holder; during a handoff (the lock released with a target named, for one TTL) the
   * primary handing it over, as etcd's key shows it, so replicas keep following its stream, where
   * the final transactions and the handoff itself come.
   */
  async primaryInfo(): Promise<PrimaryInfo | undefined> {
    const entry = await this.#read();
    if (!entry?.Value) return undefined;
    const info = parsePrimaryInfo(Buffer.from(entry.Value, 'base64').toString());
    if (entry.Session) return info;
    return info?.handoffTo && this.#handingOff(entry) ? info : undefined;
  }

  /** True for one TTL after this node first saw the key released with a handoff target named (a primary that died mid-handoff leaves it so). */
  #handingOff(entry: KvEntry): boolean {
    if (this.#markSeen.index !== entry.ModifyIndex) this.#markSeen = { index: entry.ModifyIndex, at: Date.now() };
    return Date.now() - this.#markSeen.at < this.#o.ttlMs;
  }

  async close(): Promise<void> {}

  async #read(key = this.#o.key): Promise<KvEntry | undefined> {
    const res = (await this.call('GET', this.kvPath('', key), undefined, [404])) as KvEntry[] | undefined;
    return res?.[0];
  }

  kvPath(query = '', key = this.#o.key): string {
    return `/v1/kv/${key.split('/').map(encodeURIComponent).join('/')}${query}`;
  }

  /** One Consul API call; statuses in `absent` answer undefined instead of an error. */
  async call(method: string, pathAndQuery: string, body?: unknown, absent: number[] = []): Promise<unknown> {
    const res = await withTimeout(
      fetch(`${this.#base}${pathAndQuery}`, {
        method,
        headers: { ...(this.#token ? { 'x-consul-token': this.#token } : {}), 'content-type': 'application/json' },
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      }),
      CALL_TIMEOUT_MS,
      `Consul ${method} ${pathAndQuery.split('?')[0]}`,
    );
    if (absent.includes(res.status)) return undefined;
    const text = await res.text();
    if (!res.ok) throw new Error(`Consul answered ${res.status} to ${method} ${pathAndQuery.split('?')[0]}: ${text.trim()}`);
    return text ? JSON.parse(text) : undefined;
  }
}

class ConsulLease implements Lease {
  renewedAt: number;
  readonly ttl: number;
  term = 0;
  readonly #leaser: ConsulLeaser;
  readonly #session: string;
  readonly #self: PrimaryInfo;
  #released = false;

  constructor(leaser: ConsulLeaser, session: string, self: PrimaryInfo, ttl: number, renewedAt: number) {
    this.#leaser = leaser;
    this.#session = session;
    this.#self = self;
    this.ttl = ttl;
    this.renewedAt = renewedAt;
  }

  async lock(value: string): Promise<boolean> {
    return (await this.#leaser.call('PUT', this.#leaser.kvPath(`?acquire=${this.#session}`), value)) === true;
  }

  async renew(): Promise<void> {
    const sentAt = Date.now();
    const res = await this.#leaser.call('PUT', `/v1/session/renew/${this.#session}`, undefined, [404]);
    if (res === undefined) throw new LeaseExpiredError('the Consul session expired before it was renewed');
    this.renewedAt = sentAt;
  }

  async handoff(to: string | undefined): Promise<void> {
    if (to) {
      await this.#leaser.call('PUT', this.#leaser.kvPath(`?release=${this.#session}`), formatPrimaryInfo({ ...this.#self, handoffTo: to }));
      this.#released = true;
      return;
    }
    if (!(await this.lock(formatPrimaryInfo(this.#self)))) throw new LeaseExpiredError('the primary lease was taken while it was being handed off');
    this.#released = false;
  }

  async close(): Promise<void> {
    if (!this.#released) await this.#leaser.call('PUT', this.#leaser.kvPath(`?release=${this.#session}`), formatPrimaryInfo(this.#self)).catch(() => {});
    await this.destroy();
  }

  async destroy(): Promise<void> {
    await this.#leaser.call('PUT', `/v1/session/destroy/${this.#session}`).catch(() => {});
  }
}
