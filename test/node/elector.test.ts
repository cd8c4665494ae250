import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { HandoffUnsupportedError, NotPrimaryError } from '../../src/errors.ts';
import { LeaseExpiredError, PrimaryExistsError, type Lease, type Leaser, type PrimaryInfo } from '../../src/lease/leaser.ts';
import type { Pos } from '../../src/ltx/position.ts';
import { Elector, type ElectorHost } from '../../src/node/elector.ts';
import { waitFor } from '../helpers/wait.ts';

/** One lease shared by the electors of a test, as etcd would hold it. */
class Board {
  holder: PrimaryInfo | undefined;
  handoffTo: string | undefined;
  /** Grows with every acquisition: the lease's term and its epoch. */
  term = 0;
  /** Renewals fail while set (the lease backend lost this node's session). */
  revoked = false;
}

class FakeLease implements Lease {
  renewedAt = Date.now();
  readonly ttl: number;
  readonly term: number;
  readonly #board: Board;
  readonly #me: string;
  constructor(board: Board, me: string, ttl: number) {
    this.#board = board;
    this.#me = me;
    this.ttl = ttl;
    this.term = board.term;
  }
  async renew(): Promise<void> {
    if (this.#board.revoked || this.#board.holder?.nodeId !== this.#me) throw new LeaseExpiredError();
    this.renewedAt = Date.now();
  }
  async handoff(to: string | undefined): Promise<void> {
    this.#board.handoffTo = to;
  }
  async close(): Promise<void> {
    if (this.#board.holder?.nodeId === this.#me) this.#board.holder = undefined;
  }
}

class FakeLeaser implements Leaser {
  readonly self: PrimaryInfo;
  readonly candidate: boolean;
  readonly canHandOff: boolean;
  readonly #board: Board;
  constructor(board: Board, id: string, o: { candidate?: boolean; canHandOff?: boolean } = {}) {
    this.#board = board;
    this.self = { hostname: id.toLowerCase(), advertiseUrl: `http://${id.toLowerCase()}`, nodeId: id };
    this.candidate = o.candidate ?? true;
    this.canHandOff = o.canHandOff ?? true;
  }
  selfUrl(): string {
    return this.self.advertiseUrl;
  }
  async acquire(since?: number): Promise<Lease> {
    const b = this.#board;
    if (b.holder && b.holder.nodeId !== this.self.nodeId && b.handoffTo !== this.self.nodeId) throw new PrimaryExistsError();
    if (since !== undefined && since !== b.term) throw new PrimaryExistsError('another node took the lease since');
    b.holder = this.self;
    b.handoffTo = undefined;
    b.term++;
    return new FakeLease(b, this.self.nodeId!, 1_000);
  }
  async epoch(): Promise<number> {
    return this.#board.term;
  }
  async primaryInfo(): Promise<PrimaryInfo | undefined> {
    const b = this.#board;
    return b.holder && { ...b.holder, ...(b.handoffTo ? { handoffTo: b.handoffTo } : {}) };
  }
  async close(): Promise<void> {}
}

/** A node as the elector sees it: records role changes and whom it follows. */
class FakeHost implements ElectorHost {
  roles: string[] = [];
  following: PrimaryInfo | undefined;
  /** Election rounds seen (each one calls follow). */
  rounds = 0;
  isCaughtUp = true;
  paused = false;
  /** The other nodes' electors by id: handOver delivers the handoff "frame" to the target's stream. */
  peers = new Map<string, { elector: Elector; host: FakeHost }>();
  readonly id: string;
  constructor(id: string) {
    this.id = id;
  }
  async toPrimary(): Promise<void> {
    this.roles.push('primary');
  }
  toReplica(paused: boolean): void {
    this.roles.push(paused ? 'replica (paused)' : 'replica');
  }
  follow(primary: PrimaryInfo | undefined): void {
    this.following = primary;
    this.rounds++;
  }
  caughtUp(): boolean {
    return this.isCaughtUp;
  }
  neverSynced(): boolean {
    return false;
  }
  servesReads(): boolean {
    return this.isCaughtUp && this.following !== undefined;
  }
  async gatherFromPeers(): Promise<'lead' | 'wait'> {
    return 'lead';
  }
  pauseWrites(): Map<string, Pos> {
    this.paused = true;
    return new Map();
  }
  resumeWrites(): void {
    this.paused = false;
  }
  handoffTarget(to: string | undefined): string {
    return to ?? [...this.peers.keys()][0]!;
  }
  async shipBackup(): Promise<void> {}
  async handOver(target: string): Promise<void> {
    const peer = this.peers.get(target)!;
    // The frame travels on the stream the target has open to this primary: no stream, no frame.
    if (peer.host.following?.nodeId !== this.id) throw new Error(`${target} is not streaming from ${this.id}`);
    peer.elector.takeHandedLease(true);
  }
  async requestHandoff(): Promise<void> {}
}

const logger = pino({ level: 'silent' });

function node(board: Board, id: string, o: { candidate?: boolean; canHandOff?: boolean; catchUpTimeoutMs?: number } = {}) {
  const host = new FakeHost(id);
  const elector = new Elector(new FakeLeaser(board, id, o), host, { selfId: id, logger, reconnectDelayMs: 20, catchUpTimeoutMs: o.catchUpTimeoutMs ?? 60_000, demoteDelayMs: 0 });
  return { host, elector };
}

async function stopAll(...nodes: Array<{ elector: Elector }>): Promise<void> {
  for (const n of nodes) await n.elector.halt();
  for (const n of nodes) await n.elector.release();
}

test('a free lease goes to one candidate; the others follow it, and a non-candidate never leads', async () => {
  const board = new Board();
  const a = node(board, 'A');
  const b = node(board, 'B', { candidate: false });
  await b.elector.start();
  await a.elector.start();
  await waitFor(() => a.elector.role === 'primary', 5_000, 'A to lead');
  await waitFor(() => b.host.following?.nodeId === 'A', 5_000, 'B to follow A');
  assert.deepEqual(a.host.roles, ['replica', 'primary']);
  await stopAll(a, b);
  assert.deepEqual(b.host.roles, ['replica'], 'a non-candidate stays a replica even with the lease free');
});

test('handoff: the target keeps streaming from the primary while the lease is marked for it, takes it, and the old primary follows it with writes paused', async () => {
  const board = new Board();
  const a = node(board, 'A');
  const b = node(board, 'B');
  a.host.peers.set('B', b);
  await a.elector.start();
  await waitFor(() => a.elector.role === 'primary', 5_000, 'A to lead');
  await b.elector.start();
  await waitFor(() => b.host.following?.nodeId === 'A', 5_000, 'B to follow A');
  // B's election rounds run while the lease names B as the target; they must not drop the stream
  // the final transactions and the handoff frame come on.
  const handOver = a.host.handOver.bind(a.host);
  a.host.handOver = async (target) => {
    const seen = b.host.rounds;
    await waitFor(() => b.host.rounds >= seen + 2, 5_000, 'rounds of B with the lease marked for it');
    return handOver(target);
  };
  assert.equal(await a.elector.handoff('B'), 'B');
  await waitFor(() => b.elector.role === 'primary', 5_000, 'B to lead');
  assert.equal(a.elector.role, 'replica');
  assert.equal(a.host.roles.at(-1), 'replica (paused)');
  await waitFor(() => a.host.following?.nodeId === 'B', 5_000, 'A to follow B');
  await stopAll(a, b);
});

test('a lease that cannot be renewed fences the primary: it becomes a replica at once', async () => {
  const board = new Board();
  const a = node(board, 'A');
  await a.elector.start();
  await waitFor(() => a.elector.role === 'primary', 5_000, 'A to lead');
  board.revoked = true;
  board.holder = { hostname: 'c', advertiseUrl: 'http://c', nodeId: 'C' };
  await waitFor(() => a.elector.role === 'replica', 5_000, 'A to step down');
  assert.equal(a.elector.leaseValid(), false);
  assert.equal(a.host.roles.at(-1), 'replica');
  await waitFor(() => a.host.following?.nodeId === 'C', 5_000, 'A to follow the new holder');
  await stopAll(a);
});

test('a candidate behind the last primary leaves the lease to others for catch-up-timeout, then leads', async () => {
  const board = new Board();
  const b = node(board, 'B', { catchUpTimeoutMs: 300 });
  b.host.isCaughtUp = false;
  board.holder = { hostname: 'a', advertiseUrl: 'http://a', nodeId: 'A' };
  await b.elector.start();
  await waitFor(() => b.host.following?.nodeId === 'A', 5_000, 'B to follow A');
  board.holder = undefined;
  const gone = Date.now();
  await waitFor(() => b.elector.role === 'primary', 5_000, 'B to lead');
  assert.ok(Date.now() - gone >= 300, 'B waited catch-up-timeout before leading');
  await stopAll(b);
});

test('handoff is refused with a named error: by a replica, and under a lease that cannot be handed off', async () => {
  const board = new Board();
  const a = node(board, 'A', { canHandOff: false });
  const b = node(board, 'B', { canHandOff: false });
  await a.elector.start();
  await waitFor(() => a.elector.role === 'primary', 5_000, 'A to lead');
  await b.elector.start();
  await assert.rejects(a.elector.handoff('B'), HandoffUnsupportedError);
  assert.equal(a.host.paused, false, 'writes were never paused');
  await assert.rejects(b.elector.handoff('A'), NotPrimaryError);
  assert.equal(a.elector.role, 'primary');
  await stopAll(a, b);
});

test('a candidate that gathered from its peers while another node led and let the lease go gathers again before it leads: what that primary wrote is not left behind', async () => {
  const board = new Board();
  const a = node(board, 'A');
  const b = new FakeLeaser(board, 'B');
  let gathers = 0;
  a.host.gatherFromPeers = async () => {
    if (++gathers === 1) {
      // While A gathers, B takes the lease, takes writes and gives the lease up (a clean stop).
      const lease = await b.acquire();
      await new Promise((r) => setTimeout(r, 50));
      await lease.close();
    }
    return 'lead';
  };
  await a.elector.start();
  try {
    await waitFor(() => a.elector.role === 'primary', 5_000, 'A to lead');
    assert.ok(gathers >= 2, `A led after gathering ${gathers} time(s): the gathering done while B led must be done again`);
  } finally {
    await stopAll(a);
  }
});

test('a candidate whose every gathering takes longer than the TTL (a peer that does not answer) still leads when no other node led meanwhile', async () => {
  const board = new Board();
  const a = node(board, 'A');
  a.host.gatherFromPeers = async () => {
    await new Promise((r) => setTimeout(r, 1_200));
    return 'lead';
  };
  await a.elector.start();
  try {
    await waitFor(() => a.elector.role === 'primary', 5_000, 'A to lead');
  } finally {
    await stopAll(a);
  }
});
