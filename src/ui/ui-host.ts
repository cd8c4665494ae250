import type { EventEmitter } from 'node:events';
import { parseAddr } from '../config/addr.ts';
import { errorFromAnswer } from '../protocol/error-status.ts';
import type { Config } from '../config/schema.ts';
import type { NodeInfo, NodeEvent, Role } from '../protocol/api-types.ts';
import type { ExecResult } from '../sql/exec-sql.ts';

/** What the studio needs of the node it runs in (LitefleetNode is one); it emits `event` with each NodeEvent. */
export interface UiHost extends EventEmitter {
  readonly config: Config;
  /** The port the node API listens on. */
  readonly port: number;
  readonly role: Role;
  info(): Promise<NodeInfo>;
  databases(): NodeInfo['databases'];
  txid(db: string): number;
}

/** A listener of the host's `event`. */
export type NodeEventListener = (ev: NodeEvent) => void;

/**
 * The node's own API, called over loopback with the cluster token: exec and handoff are routes of
 * the node that already send a replica's request on to the primary, so the studio goes through
 * them instead of repeating that logic.
 */
export class NodeApi {
  readonly #host: UiHost;

  constructor(host: UiHost) {
    this.#host = host;
  }

  /** Runs a script on the primary as one transaction (from any node). */
  exec(db: string, sql: string): Promise<ExecResult> {
    return this.#post(`/db/${encodeURIComponent(db)}/exec`, { sql });
  }

  /** Hands the lease to `to` (or the best candidate); answers with the new primary's id. */
  handoff(to: string | undefined): Promise<{ primary: string; ms: number }> {
    return this.#post('/handoff', to ? { to } : {});
  }

  async #post<T>(pathname: string, body: unknown): Promise<T> {
    const { host } = parseAddr(this.#host.config.http.addr);
    const h = !host || host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
    const res = await fetch(`http://${h.includes(':') ? `[${h}]` : h}:${this.#host.port}${pathname}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${this.#host.config.http.token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const answer = (await res.json().catch(() => ({ error: `the node answered ${res.status}` }))) as T & { error?: string; code?: string };
    if (!res.ok) throw errorFromAnswer(res.status, answer);
    return answer;
  }
}
