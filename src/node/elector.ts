import type { Logger } from 'pino';
import { HandoffFailedError, HandoffUnsupportedError, NotPrimaryError } from '../errors.ts';
import { LeaseExpiredError, PrimaryExistsError, type Lease, type Leaser, type PrimaryInfo } from '../lease/leaser.ts';
import type { Pos } from '../ltx/position.ts';
import type { Role } from '../protocol/api-types.ts';

/** What the elector asks of the node it runs on. */
export interface ElectorHost {
  /** Becomes the primary under `lease`: capture, streaming, backup. */
  toPrimary(lease: Lease): Promise<void>;
  /** Becomes a replica; with `paused` the app's writes are already stopped (a handoff), else they are stopped first. */
  toReplica(paused: boolean): void;
  /** Points replication (and the `.primary` file) at the primary the lease names, or at none. */
  follow(primary: PrimaryInfo | undefined): void;
  /** True when this node has applied everything the last primary announced (and waits for no reset). */
  caughtUp(): boolean;
  /** True until this node has synced with a cluster once. */
  neverSynced(): boolean;
  /** True once this node, as a replica, streams from a primary and has caught up with it. */
  servesReads(): boolean;
  /** Takes what the reachable nodes hold beyond this one ('wait': try again next round). */
  gatherFromPeers(): Promise<'lead' | 'wait'>;
  /** Stops the app's writes (the last commits logged and durable); the final positions. */
  pauseWrites(): Map<string, Pos>;
  resumeWrites(): void;
  /** The candidate replica to hand the lease to (`to`, or the one furthest along). */
  handoffTarget(to: string | undefined): string;
  /** Ships what the backup has not (the next primary continues its chain). */
  shipBackup(): Promise<void>;
  /** Streams the final transactions to `target`, then the handoff frame. */
  handOver(target: string, final: Map<string, Pos>, timeoutMs: number): Promise<void>;
  /** Asks the primary to hand the lease to this node (lease.promote). */
  requestHandoff(timeoutMs: number): Promise<void>;
}

/** Settings of an elector. */
export interface ElectorOptions {
  selfId: string;
  logger: Logger;
  /** How often the lease is looked at (at most a second). */
  reconnectDelayMs: number;
  /** How long a candidate that is behind waits, once the primary is gone, before it leads anyway. */
  catchUpTimeoutMs: number;
  /** How long a node that handed the lease off stays out of elections. */
  demoteDelayMs: number;
}

// A handoff target must have the final transactions and take the lease within this.
const HANDOFF_TIMEOUT_MS = 5_000;
// Fence this long before the lease's end by the local clock, so the old primary has stopped
// writing before any other node can take the lease.
const LEASE_MARGIN_MS = 200;
const LEASE_CHECK_MS = 100;

/**
 * Who is primary, from this node's side: looks at the lease every reconnect-delay, follows the
 * primary it names, takes it when it is free (once this node has what the reachable nodes have,
 * and is caught up or has waited catch-up-timeout) or handed to it, renews it at TTL/2 and fences
 * (becomes a replica, writes stopped) when it could not; hands it to a caught-up candidate without
 * losing a write. Role changes run one at a time. The same for every lease backend: the static
 * lease simply names its primary, which takes it at once and never loses it.
 */
export class Elector {
  readonly #leaser: Leaser;
  readonly #host: ElectorHost;
  readonly #o: ElectorOptions;
  #lease: Lease | undefined;
  /** Role changes one at a time: a promotion and a demotion must never interleave. */
  #transition: Promise<void> = Promise.resolve();
  #timers: NodeJS.Timeout[] = [];
  #leaseTimer: NodeJS.Timeout | undefined;
  #renewing = false;
  #electing = false;
  #stopping = false;
  #noPrimarySince: number | undefined;
  /** A node that handed the lease off does not compete for it again before this time. */
  #quietUntil = 0;
  #ready: Promise<void> | undefined;

  constructor(leaser: Leaser, host: ElectorHost, options: ElectorOptions) {
    this.#leaser = leaser;
    this.#host = host;
    this.#o = options;
  }

  /** This node's role right now. */
  get role(): Role {
    return this.#lease ? 'primary' : 'replica';
  }

  /** Whether the lease can be handed to another node. */
  get canHandOff(): boolean {
    return this.#leaser.canHandOff;
  }

  /** True while this node may act as primary: it holds the lease and its time has not run out by the local clock. */
  leaseValid(): boolean {
    const lease = this.#lease;
    return lease !== undefined && Date.now() < lease.renewedAt + lease.ttl - LEASE_MARGIN_MS;
  }

  /** The primary the lease names (undefined when there is none, or the backend does not answer). */
  primaryInfo(): Promise<PrimaryInfo | undefined> {
    return this.#leaser.primaryInfo().catch(() => undefined);
  }

  /**
   * Starts: the node the lease names (a static primary; a primary restarted within its TTL tries)
   * takes it at once and captures; every other node starts as a replica. Then a round every
   * reconnect-delay.
   */
  async start(): Promise<void> {
    const primary = await this.primaryInfo();
    if (this.#leaser.candidate && primary?.nodeId === this.#o.selfId) await this.#takeLease('the lease names this node').catch((err: unknown) => this.#o.logger.warn({ err: (err as Error).message }, 'could not take the lease'));
    if (!this.#lease) this.#host.toReplica(false);
    void this.#round();
    this.#timers.push(setInterval(() => void this.#round(), Math.min(this.#o.reconnectDelayMs, 1_000)));
  }

  /** Stops electing and renewing, and waits for a role change under way (the lease is still held: see release). */
  async halt(): Promise<void> {
    this.#stopping = true;
    for (const t of this.#timers) clearInterval(t);
    this.#timers = [];
    clearInterval(this.#leaseTimer);
    await this.#transition;
  }

  /** Gives the lease up (so another candidate takes it at once) and closes the backend's client. */
  async release(): Promise<void> {
    await this.#lease?.close();
    this.#lease = undefined;
    await this.#leaser.close();
  }

  /**
   * Hands the lease to a caught-up candidate (`to`, a node id, or the one furthest along): the
   * app's writes pause, the target receives the final transactions and takes the lease, and this
   * node becomes its replica. On any failure writes resume here and HandoffFailedError is thrown.
   */
  async handoff(to?: string): Promise<string> {
    let target = '';
    await this.#serial(async () => {
      const lease = this.#lease;
      if (!lease) throw new NotPrimaryError('this node is not the primary');
      if (!this.#leaser.canHandOff) throw new HandoffUnsupportedError();
      target = this.#host.handoffTarget(to);
      const started = performance.now();
      const final = this.#host.pauseWrites();
      try {
        // The backup gets the final transactions too, so the next primary continues its chain.
        await this.#host.shipBackup();
        await lease.handoff(target);
      } catch (err) {
        this.#host.resumeWrites();
        throw err;
      }
      try {
        await this.#host.handOver(target, final, HANDOFF_TIMEOUT_MS);
        await this.#waitForPrimary(target, HANDOFF_TIMEOUT_MS);
      } catch (err) {
        this.#o.logger.error({ target, err: (err as Error).message }, 'handoff failed; staying primary');
        await lease.handoff(undefined).catch((e: unknown) => this.#o.logger.error({ err: e }, 'could not take the lease back after a failed handoff'));
        this.#host.resumeWrites();
        throw new HandoffFailedError(`handoff to ${target} failed: ${(err as Error).message}`);
      }
      this.#quietUntil = Date.now() + this.#o.demoteDelayMs;
      this.#demote(`handed the lease to ${target}`, true);
      await lease.close().catch(() => {});
      this.#o.logger.info({ target, writesPausedMs: Math.round(performance.now() - started) }, 'handoff done');
    });
    return target;
  }

  /** The primary handed the lease to this node: take it now if it has the final transactions (`caughtUp`). */
  takeHandedLease(caughtUp: boolean): void {
    if (!caughtUp) return void this.#o.logger.error('the primary handed the lease over, but this node does not have its final transactions; not taking it');
    void this.#takeLease('the primary handed the lease to this node').catch((err: unknown) => this.#o.logger.error({ err }, 'could not take the handed-off lease'));
  }

  /**
   * Resolves once this node can serve its app: it holds the lease, or as a replica it has caught
   * up with a primary. With `promote` (lease.promote), a caught-up candidate first asks the primary
   * to hand the lease over.
   */
  ready(promote: boolean): Promise<void> {
    this.#ready ??= this.#becomeReady(promote);
    return this.#ready;
  }

  async #becomeReady(promote: boolean): Promise<void> {
    for (;;) {
      if (this.#stopping) throw new Error('the node is stopping');
      if (this.#lease) return;
      if (this.#host.servesReads()) {
        if (promote && this.#leaser.candidate && this.#leaser.canHandOff) await this.#askForLease();
        return;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Asks the primary to hand the lease over, and waits until this node leads (or gives up). */
  async #askForLease(): Promise<void> {
    const primary = await this.primaryInfo();
    if (!primary || primary.nodeId === this.#o.selfId) return;
    this.#o.logger.info({ primary: primary.hostname }, 'asking the primary to hand the lease over (lease.promote)');
    try {
      await this.#host.requestHandoff(HANDOFF_TIMEOUT_MS * 3);
      const deadline = Date.now() + HANDOFF_TIMEOUT_MS * 2;
      while (!this.#lease && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    } catch (err) {
      this.#o.logger.warn({ err: (err as Error).message }, 'promotion by handoff failed; carrying on as a replica');
    }
  }

  /** Runs a role change after the ones before it. */
  #serial(fn: () => Promise<void>): Promise<void> {
    const run = this.#transition.then(fn);
    this.#transition = run.catch(() => {});
    return run;
  }

  /** One round: follow the primary, or take the lease when it is free, names this node, or was handed to it. */
  async #round(): Promise<void> {
    if (this.#electing || this.#stopping || this.#lease) return;
    this.#electing = true;
    try {
      // Read before the primary: a node that takes the lease after this read moves the epoch, and
      // taking the lease with it then fails (see below). Unknown when the lease store is
      // unreachable; never needed by a node that may not lead.
      const since = this.#leaser.candidate ? await this.#leaser.epoch().catch(() => undefined) : undefined;
      const primary = await this.primaryInfo();
      if (this.#lease) return;
      const me = this.#o.selfId;
      // The lease may name this node without it holding it: a static primary, or a primary restarted
      // within its TTL (taking it then fails until it has run out). A primary handing the lease here
      // is still followed: its final transactions and the handoff frame come on its stream.
      const named = primary?.nodeId === me;
      this.#host.follow(named ? undefined : primary);
      if (primary && !named && primary.handoffTo !== me) {
        this.#noPrimarySince = undefined;
        return;
      }
      this.#noPrimarySince ??= Date.now();
      if (!this.#leaser.candidate || since === undefined || Date.now() < this.#quietUntil || primary?.handoffTo === me) return;
      // Whatever a reachable node applied from the last primary, this one gets before it may lead.
      if ((await this.#host.gatherFromPeers()) === 'wait') return;
      if (this.#lease || this.#stopping) return;
      // Behind the primary we last followed (or never synced with one): give the others a chance first.
      const behind = !named && (!this.#host.caughtUp() || this.#host.neverSynced());
      if (behind && Date.now() - this.#noPrimarySince < this.#o.catchUpTimeoutMs) return;
      // A node may have taken the lease after `primary` was read, taken writes and let the lease
      // go again, all while this round gathered (setting aside a forked history of thousands of
      // transactions took 8 s in a chaos run): what this node has may then not be the newest
      // history. Taking the lease with `since` fails if so, and the next round gathers again.
      await this.#takeLease(named ? 'the lease names this node' : behind ? 'the primary is gone and no caught-up candidate took over' : 'the primary is gone', since);
    } catch (err) {
      this.#o.logger.warn({ err: (err as Error).message }, 'election round failed');
    } finally {
      this.#electing = false;
    }
  }

  /** Takes the lease; with `since`, only if no node took it after that epoch (see Leaser.acquire). */
  async #takeLease(why: string, since?: number): Promise<void> {
    await this.#serial(async () => {
      if (this.#lease || this.#stopping) return;
      let lease: Lease;
      try {
        lease = await this.#leaser.acquire(since);
      } catch (err) {
        if (err instanceof PrimaryExistsError) return;
        throw err;
      }
      this.#o.logger.info({ why, term: lease.term }, 'took the primary lease');
      this.#lease = lease;
      try {
        await this.#host.toPrimary(lease);
      } catch (err) {
        this.#lease = undefined;
        await lease.close().catch(() => {});
        throw err;
      }
      if (lease.ttl !== Infinity) this.#leaseTimer = setInterval(() => void this.#keepLease(), LEASE_CHECK_MS);
    });
  }

  /** Renews at half the TTL; fences (stops writes, becomes a replica) when the lease is lost or about to run out unrenewed. */
  async #keepLease(): Promise<void> {
    const lease = this.#lease;
    if (!lease || this.#stopping) return;
    if (!this.leaseValid()) {
      await this.#fence('the lease could not be renewed before it ran out');
      return;
    }
    if (this.#renewing || Date.now() - lease.renewedAt < lease.ttl / 2) return;
    this.#renewing = true;
    try {
      await lease.renew();
    } catch (err) {
      if (err instanceof LeaseExpiredError) await this.#fence(err.message);
      else this.#o.logger.warn({ err: (err as Error).message }, 'lease renewal failed; retrying');
    } finally {
      this.#renewing = false;
    }
  }

  async #fence(reason: string): Promise<void> {
    await this.#serial(async () => {
      const lease = this.#lease;
      if (!lease) return;
      this.#demote(reason, false);
      await lease.close().catch(() => {});
    });
  }

  /** Primary → replica, inside a transition: the app's writes stop at once and stay stopped, as the lock passes to the replica. */
  #demote(reason: string, paused: boolean): void {
    this.#o.logger.warn({ reason }, 'stepping down to replica');
    this.#lease = undefined;
    clearInterval(this.#leaseTimer);
    this.#host.toReplica(paused);
    void this.#round();
  }

  /** Waits until the lease names node `nodeId`. */
  async #waitForPrimary(nodeId: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if ((await this.primaryInfo())?.nodeId === nodeId) return;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(`node ${nodeId} did not take the lease within ${timeoutMs} ms`);
  }
}
