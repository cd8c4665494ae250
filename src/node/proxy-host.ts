import { EventEmitter } from 'node:events';
import type { NodeEvent, Role } from '../protocol/api-types.ts';
import type { ProxyHost } from '../proxy/proxy-server.ts';
import type { Store } from '../store/store.ts';
import { lagOf } from './cluster-status.ts';
import type { PrimaryLink } from './primary-link.ts';
import type { Roles } from './roles.ts';

/** The node a proxy serves: it emits `event` with each NodeEvent. */
export interface ProxiedNode extends EventEmitter {
  readonly role: Role;
  readonly hostname: string;
  /** Where this node's own proxy answers. */
  readonly proxyUrl: string | null;
  txid(db: string): number;
}

/** The parts of a node its proxy asks. */
export interface NodeProxyHostOptions {
  node: ProxiedNode;
  store: Store;
  roles: Roles;
  link: PrimaryLink;
}

/** What the proxy sees of its node: roles, positions and lag, and the way to the primary's proxy. */
export class NodeProxyHost extends EventEmitter implements ProxyHost {
  readonly #o: NodeProxyHostOptions;

  constructor(o: NodeProxyHostOptions) {
    super();
    this.setMaxListeners(0);
    this.#o = o;
    o.node.on('event', (ev: NodeEvent) => this.emit('event', ev));
  }

  get role(): Role {
    return this.#o.node.role;
  }

  get hostname(): string {
    return this.#o.node.hostname;
  }

  async primaryProxy(): Promise<{ hostname: string; proxyUrl: string | undefined } | undefined> {
    return this.role === 'primary' ? { hostname: this.hostname, proxyUrl: this.#o.node.proxyUrl ?? undefined } : this.#o.link.proxy();
  }

  txid(db: string): number {
    return this.#o.node.txid(db);
  }

  async commitTxid(db: string): Promise<number | undefined> {
    const cap = this.role === 'primary' ? this.#o.store.dbs.get(db)?.capture : undefined;
    return cap ? (await cap.settle()).txid : undefined;
  }

  lagMs(db: string): number {
    return lagOf(this.#o.roles, db).lagMs;
  }

  waitForReplicas(db: string, txid: number, n: number, timeoutMs: number): Promise<string[]> {
    return this.#o.link.waitForReplicas(db, txid, n, timeoutMs);
  }
}
