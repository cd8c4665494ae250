import fs from 'node:fs';
import path from 'node:path';
import type { PeerNode } from '../protocol/frames.ts';

const MAX_PEERS = 64;

/**
 * The other nodes of the cluster this node has heard of — every node the primary lists in its
 * heartbeats — kept in `<data-dir>/peers.json` so that a restarted node still knows whom to ask
 * how far the last primary got before it may take the lease. Nodes are only ever added (the most
 * recently seen last, at most 64): one that is gone simply does not answer.
 */
export class PeerBook {
  readonly #file: string;
  readonly #self: string;
  #peers = new Map<string, string>();

  constructor(dataDir: string, selfId: string) {
    this.#file = path.join(dataDir, 'peers.json');
    this.#self = selfId;
    try {
      const saved = JSON.parse(fs.readFileSync(this.#file, 'utf8')) as unknown;
      if (Array.isArray(saved)) for (const p of saved) if (isPeer(p)) this.#peers.set(p.id, p.url);
    } catch {
      // none yet
    }
  }

  /** Every known node but this one. */
  get list(): PeerNode[] {
    return [...this.#peers].map(([id, url]) => ({ id, url }));
  }

  /** Adds or updates nodes; saves the list when it changed. */
  note(nodes: PeerNode[]): void {
    let changed = false;
    for (const n of nodes) {
      if (!isPeer(n) || n.id === this.#self || this.#peers.get(n.id) === n.url) continue;
      this.#peers.delete(n.id);
      this.#peers.set(n.id, n.url);
      changed = true;
    }
    if (!changed) return;
    while (this.#peers.size > MAX_PEERS) this.#peers.delete(this.#peers.keys().next().value!);
    const tmp = `${this.#file}.tmp`;
    fs.writeFileSync(tmp, `${JSON.stringify(this.list)}\n`);
    fs.renameSync(tmp, this.#file);
  }
}

function isPeer(p: unknown): p is PeerNode {
  const n = p as PeerNode;
  if (typeof n?.id !== 'string' || !/^[0-9A-F]{16}$/.test(n.id) || typeof n.url !== 'string') return false;
  try {
    return ['http:', 'https:'].includes(new URL(n.url).protocol);
  } catch {
    return false;
  }
}
