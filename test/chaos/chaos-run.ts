import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { readSegmentFile, segmentFilesIn } from '../../src/log/segment-files.ts';
import { decodeLtx } from '../../src/ltx/decoder.ts';
import type { PositionsAnswer } from '../../src/protocol/api-types.ts';
import { startEtcd } from '../helpers/etcd.ts';
import { drainFile, startFollowWriter, startLeaseCluster, waitForPrimary } from '../helpers/lease-cluster.ts';
import { sleep, type NodeProcess } from '../helpers/node-process.ts';
import { databaseChecksum, integrityCheck, runSqliteCli } from '../helpers/sqlite.ts';
import { waitFor } from '../helpers/wait.ts';

const DB = 'app.db';

/** What a round does to the cluster. */
export type Fault = 'kill-primary' | 'kill-replica' | 'kill-two' | 'stop-primary' | 'stop-replica';

/** Settings of one chaos run. */
export interface ChaosOptions {
  /** Where etcd and the nodes live (the caller removes it). */
  root: string;
  rounds: number;
  seed: number;
  /** The etcd lease TTL (default 2 s). */
  ttlMs?: number;
  faults?: Fault[];
  /** Stops starting rounds after this long (the run still ends with its checks). */
  timeLimitMs?: number;
  /**
   * How the app writes: through its own connection to the primary's database (undefined, the
   * default), or through the primary's exec, acknowledged once this many replicas have each write
   * (0: at once). With 1 or more, a write acknowledged and then lost although a replica that
   * confirmed it survived is a violation.
   */
  replicas?: number;
  log?: (line: string) => void;
}

/** What a chaos run found; `violations` lists every broken invariant (empty when all held). */
export interface ChaosReport {
  rounds: number;
  primaryKills: number;
  acked: number;
  /** Acknowledged writes found nowhere (not on the primary, not in a discarded copy), with how long before the next crash of a primary each was acknowledged. */
  lost: Array<{ id: number; msBeforeCrash: number }>;
  /** Acknowledged writes kept only in a `discarded/` copy (written on a primary that died or was fenced before replicating them). */
  discarded: number;
  /**
   * With `replicas`: acknowledged writes lost or kept only in `discarded/` because every replica
   * that confirmed them went down with a primary that had them (what the acknowledgement does not
   * cover); any other such write is a violation.
   */
  lostWithReplicas: number;
  /** Full snapshots sent to replicas after the first one each. */
  snapshots: number;
  finalTxid: number;
  rows: number;
  violations: string[];
  durationMs: number;
}

/** A small seeded generator, so a run can be repeated. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function ids(file: string): Set<number> {
  const db = new Database(file, { readonly: true, timeout: 5000 });
  try {
    return new Set(db.prepare('SELECT id FROM t').pluck().all() as number[]);
  } catch {
    return new Set();
  } finally {
    db.close();
  }
}

/** Ids of every row kept in a node's discarded copies. */
function discardedIds(n: NodeProcess): Set<number> {
  const dir = path.join(n.dataDir, 'dbs', DB, 'discarded');
  const out = new Set<number>();
  if (!fs.existsSync(dir)) return out;
  for (const f of fs.readdirSync(dir).filter((x) => x.endsWith('.db'))) for (const id of ids(path.join(dir, f))) out.add(id);
  return out;
}

/** When a node's log says its history was set aside or reset (ms since epoch, in order). */
function resetTimes(n: NodeProcess): number[] {
  return [...n.output.matchAll(/^(\S+) .*(?:discarded transactions|resetting from primary|saved the replaced content)/gm)].map((m) => Date.parse(m[1]!));
}

/**
 * A chaos run: three candidates on a real etcd, an app instance writing to whichever node is
 * primary (recording every acknowledged write), and `rounds` faults — SIGKILL or SIGSTOP of the
 * primary, of a replica, or of two nodes — with restarts after random delays. Then every node is
 * brought back and the invariants are checked: identical copies, one unbroken TXID chain, TXIDs
 * never going back on a node that kept its history, every acknowledged write present or kept in
 * a `discarded/` copy (one found nowhere is a violation), nothing lost that a surviving replica had
 * applied, no node ending on its own;
 * with `replicas`, no acknowledged write gone while a replica that confirmed it survived.
 */
export async function runChaos(o: ChaosOptions): Promise<ChaosReport> {
  const started = Date.now();
  const rand = random(o.seed);
  const timeline: string[] = [];
  const log = (line: string) => {
    timeline.push(`${new Date().toISOString()} ${line}`);
    o.log?.(line);
  };
  const ttlMs = o.ttlMs ?? 2_000;
  const faults = o.faults ?? ['kill-primary', 'kill-replica', 'kill-two', 'stop-primary', 'stop-replica'];
  const violations: string[] = [];
  fs.mkdirSync(path.join(o.root, 'etcd'), { recursive: true });
  fs.mkdirSync(path.join(o.root, 'cluster'), { recursive: true });
  const etcd = await startEtcd(path.join(o.root, 'etcd'));
  const c = await startLeaseCluster({ size: 3, root: path.join(o.root, 'cluster'), backend: { type: 'etcd', url: etcd.url }, ttl: `${ttlMs}ms` });
  const nodes = c.nodes;
  const pending: Array<Promise<void>> = [];
  /** Each time a primary went down: when, and the nodes up and in the cluster then. */
  const crashes: Array<{ at: number; survivors: Set<NodeProcess> }> = [];
  /** The nodes by id (as the replicas confirming a write are named). */
  const byId = new Map<string, NodeProcess>();
  const observed = new Map<NodeProcess, { txid: number; at: number }>();
  /** TXIDs seen going back: fine only if the node set its history aside in between (checked at the end, when its log is all in). */
  const wentBack: Array<{ n: NodeProcess; from: number; to: number; since: number; at: number }> = [];
  let primaryKills = 0;
  let rounds = 0;
  let watching = true;

  /** `n`'s GET /positions answer, or undefined when it does not answer (down or frozen). */
  const positions = async (n: NodeProcess): Promise<PositionsAnswer | undefined> => {
    try {
      const res = await fetch(`${n.url}/positions`, { headers: { authorization: `Bearer ${n.token}` }, signal: AbortSignal.timeout(500) });
      return (await res.json()) as PositionsAnswer;
    } catch {
      return undefined;
    }
  };
  /** The term of the newest record in `n`'s history of the database, or undefined when it does not answer. */
  const newestTerm = async (n: NodeProcess): Promise<number | undefined> => (await positions(n))?.terms?.[DB]?.at(-1)?.[1];

  // Watches every node's TXID: it never goes back unless the node's history was set aside meanwhile.
  const watcher = (async () => {
    while (watching) {
      for (const n of nodes) {
        if (!n.running) continue;
        const pos = (await positions(n))?.databases[DB];
        if (!pos) continue;
        const txid = Number.parseInt(pos.slice(0, 16), 16);
        const before = observed.get(n);
        if (before && txid < before.txid) wentBack.push({ n, from: before.txid, to: txid, since: before.at, at: Date.now() });
        observed.set(n, { txid, at: Date.now() });
      }
      await sleep(100);
    }
  })();

  // A node's machine going down takes its app instance with it: the writer stops writing there
  // (its drain file) from the moment of the fault until the node is back.
  // Nodes being restarted: their process may run, but they are not back in the cluster yet.
  const restarting = new Set<NodeProcess>();
  const down = (n: NodeProcess) => fs.writeFileSync(drainFile(n), '');
  const up = (n: NodeProcess) => fs.rmSync(drainFile(n), { force: true });
  const restartLater = (n: NodeProcess, ms: number) => {
    pending.push(
      (async () => {
        restarting.add(n);
        await sleep(ms);
        await n.restart();
        log(`  ${path.basename(n.root)} restarted`);
        restarting.delete(n);
        up(n);
      })(),
    );
  };
  const pickReplica = (primary: NodeProcess) => {
    const others = nodes.filter((n) => n !== primary && n.running && !restarting.has(n));
    return others[Math.floor(rand() * others.length)];
  };
  const kill = (n: NodeProcess) => {
    down(n);
    return n.kill();
  };
  /**
   * The primary dies (with `also`): every row of its history that a replica still up had applied
   * must be on the next primary once it is elected (what happens to that primary afterwards is
   * the next round's business).
   */
  const killPrimary = async (p: NodeProcess, term: number | undefined, also?: NodeProcess) => {
    primaryKills++;
    await Promise.all([kill(p), also && kill(also)]);
    await checkTakeover(p, term);
  };
  /**
   * Rows count as applied from the primary `gone` (term `term`) only on a survivor that heard of
   * that term: a node holding the same rows from an earlier term (a primary of that term, back
   * after a crash, that the last primary never reached) did not get them from it, and the rule a
   * candidate goes by rightly ranks a newer term's history above them (README, "Leases, failover and deploys").
   */
  const checkTakeover = async (gone: NodeProcess, term: number | undefined) => {
    const survivors = new Set(nodes.filter((n) => n !== gone && n.running && !restarting.has(n)));
    crashes.push({ at: Date.now(), survivors });
    const history = ids(path.join(gone.dir, DB));
    const applied = new Set<number>();
    for (const n of survivors) {
      const rows = [...ids(path.join(n.dir, DB))].filter((id) => history.has(id));
      const heard = await newestTerm(n);
      if (term !== undefined && heard !== undefined && heard < term) {
        log(`  ${path.basename(n.root)} survives with ${rows.length} rows of the primary's history, from before its term ${term} (the newest it knows is ${heard}): not applied from it`);
        continue;
      }
      log(`  ${path.basename(n.root)} survives with ${rows.length} rows of the primary's history (max id ${Math.max(0, ...rows)})`);
      for (const id of rows) applied.add(id);
    }
    const next = await waitForPrimary(nodes, 30_000, gone);
    const has = ids(path.join(next.dir, DB));
    const missing = [...applied].filter((id) => !has.has(id));
    log(`  ${path.basename(next.root)} leads; ${missing.length} of the ${applied.size} rows the survivors had are missing on it`);
    if (missing.length > 0) violations.push(`${path.basename(next.root)} took over without ${missing.length} rows a surviving replica had applied (ids ${missing.slice(0, 5).join(', ')}…)`);
  };

  let writer: ReturnType<typeof startFollowWriter> | undefined;
  try {
    const first = await waitForPrimary(nodes, 30_000);
    for (const n of nodes) byId.set((await n.info()).node.id, n);
    await runSqliteCli(path.join(first.dir, DB), '.timeout 5000\nPRAGMA journal_mode=WAL; CREATE TABLE t(id INTEGER PRIMARY KEY, at INTEGER);');
    writer = startFollowWriter(nodes, DB, 2, o.replicas);
    await waitFor(() => writer!.acked().length > 100, 30_000, 'the writer to start');

    for (; rounds < o.rounds; rounds++) {
      if (o.timeLimitMs !== undefined && Date.now() - started > o.timeLimitMs) break;
      await sleep(300 + rand() * 1200);
      const primary = await waitForPrimary(nodes, 30_000);
      const term = await newestTerm(primary);
      const fault = faults[Math.floor(rand() * faults.length)]!;
      const delay = Math.floor(rand() * 3_000);
      log(`round ${rounds + 1}: ${fault} (primary ${path.basename(primary.root)})`);
      switch (fault) {
        case 'kill-primary':
          await killPrimary(primary, term);
          restartLater(primary, delay);
          break;
        case 'kill-replica': {
          const r = pickReplica(primary);
          if (!r) break;
          await kill(r);
          restartLater(r, delay);
          break;
        }
        case 'kill-two': {
          const r = pickReplica(primary);
          await killPrimary(primary, term, r);
          restartLater(primary, delay);
          if (r) restartLater(r, Math.floor(rand() * 3_000));
          break;
        }
        case 'stop-primary': {
          const until = Date.now() + ttlMs + 500 + rand() * 1500;
          down(primary);
          primary.signal('SIGSTOP');
          await checkTakeover(primary, term);
          await sleep(until - Date.now());
          primary.signal('SIGCONT');
          up(primary);
          break;
        }
        case 'stop-replica': {
          const r = pickReplica(primary);
          if (!r) break;
          down(r);
          r.signal('SIGSTOP');
          await sleep(500 + rand() * 3_000);
          r.signal('SIGCONT');
          up(r);
          break;
        }
      }
    }
    await Promise.all(pending);
    const done = writer;
    writer = undefined;
    const acked = await done.stop();
    const acks = new Map([...ackLines(done.output())]);
    watching = false;
    await watcher;

    // Everyone back and agreeing.
    for (const n of nodes) if (!n.running) await n.restart();
    const finalPrimary = await waitForPrimary(nodes, 30_000);
    await waitFor(
      async () => {
        const pos = await Promise.all(nodes.map(async (n) => (await n.info()).databases.find((d) => d.name === DB)));
        if (!pos.every((p) => p && p.txid === pos[0]!.txid && p.checksum === pos[0]!.checksum)) return false;
        const sums = nodes.map((n) => databaseChecksum(path.join(n.dir, DB)).checksum.toString(16).padStart(16, '0'));
        return sums.every((s) => s === pos[0]!.checksum);
      },
      60_000,
      'every node to converge on the primary',
    );
    for (const w of wentBack) {
      const reset = resetTimes(w.n).some((t) => t >= w.since - 50 && t <= w.at + 50);
      if (!reset) violations.push(`${path.basename(w.n.root)}: TXID went back from ${w.from} to ${w.to} with its history kept`);
    }
    for (const n of nodes) {
      const check = integrityCheck(path.join(n.dir, DB));
      if (check !== 'ok') violations.push(`${path.basename(n.root)}: integrity_check says ${check}`);
    }

    const final = ids(path.join(finalPrimary.dir, DB));
    const kept = new Set<number>();
    for (const n of nodes) for (const id of discardedIds(n)) if (!final.has(id)) kept.add(id);
    const lost = acked.filter((id) => !final.has(id) && !kept.has(id)).map((id) => {
      const at = acks.get(id)?.at ?? 0;
      const crash = crashes.find((c) => c.at >= at);
      return { id, msBeforeCrash: crash === undefined ? -1 : crash.at - at };
    });
    // Every acknowledged write was on a node's disk: a node may set it aside, never drop it.
    if (lost.length > 0) violations.push(`${lost.length} acknowledged writes are on no node and in no discarded copy (ids ${lost.slice(0, 5).map((l) => l.id).join(', ')}…)`);
    // A write confirmed by replicas is gone only if all of them were down when a primary holding
    // it went down (after it was sent: before, the primary did not have it).
    let lostWithReplicas = 0;
    const unconfirmedLoss: number[] = [];
    if (o.replicas) {
      for (const id of acked.filter((x) => !final.has(x))) {
        const ack = acks.get(id)!;
        const confirmers = ack.replicas.map((r) => byId.get(r));
        const crash = crashes.find((c) => c.at >= ack.sent! && confirmers.every((n) => !n || !c.survivors.has(n)));
        if (!crash) {
          unconfirmedLoss.push(id);
          continue;
        }
        lostWithReplicas++;
        log(`write ${id} is gone with ${confirmers.map((n) => (n ? path.basename(n.root) : '?')).join(', ')}, which confirmed it and were down when a primary went down at ${new Date(crash.at).toISOString()}`);
      }
      if (unconfirmedLoss.length > 0) violations.push(`${unconfirmedLoss.length} writes acknowledged by ${o.replicas} replicas are gone although one that confirmed them survived (ids ${unconfirmedLoss.slice(0, 5).join(', ')}…)`);
    }

    // One unbroken chain in the final primary's log, one TXID per transaction.
    const finalTxid = (await finalPrimary.info()).databases.find((d) => d.name === DB)!.txid;
    let prev: { txid: number; checksum: bigint } | undefined;
    for (const seg of segmentFilesIn(path.join(finalPrimary.dataDir, 'dbs', DB))) {
      for (const bytes of readSegmentFile(seg).files) {
        const f = decodeLtx(bytes, { snapshotChecksum: false });
        if (prev && (f.header.minTxid !== prev.txid + 1 || f.header.preApplyChecksum !== prev.checksum)) {
          violations.push(`the final primary's log breaks its chain at TXID ${f.header.minTxid} (after ${prev.txid})`);
        }
        prev = { txid: f.header.maxTxid, checksum: f.trailer.postApplyChecksum };
      }
    }
    if (finalTxid < final.size + 1) violations.push(`TXID ${finalTxid} is below the ${final.size} transactions the table holds: TXIDs restarted`);

    for (const n of nodes) {
      const exits = [...n.output.matchAll(/\[litefleet process \d+ exited: code (\S+) signal (\S+)\]/g)].filter((m) => m[2] !== 'SIGKILL');
      if (exits.length > 0) violations.push(`${path.basename(n.root)} ended on its own: ${exits.map((m) => `code ${m[1]} signal ${m[2]}`).join(', ')}`);
    }
    log(`lost: ${lost.map((l) => `${l.id}@${acks.get(l.id)?.at}`).join(' ')}`);
    const snapshots = nodes.reduce((sum, n) => sum + (n.output.match(/sent snapshot to replica db=app\.db txid=(?!1 )/g)?.length ?? 0), 0);
    return { rounds, primaryKills, acked: acked.length, lost, discarded: acked.filter((id) => !final.has(id) && kept.has(id)).length, lostWithReplicas, snapshots, finalTxid, rows: final.size, violations, durationMs: Date.now() - started };
  } finally {
    watching = false;
    if (writer) await writer.stop().catch(() => undefined);
    for (const n of nodes) n.signal('SIGCONT');
    await Promise.allSettled(pending);
    for (const n of nodes) await n.stop().catch(() => undefined);
    await etcd.stop();
    // The nodes' logs and the run's own, for a run that found something.
    for (const n of nodes) fs.writeFileSync(path.join(o.root, `${path.basename(n.root)}.log`), n.output);
    fs.writeFileSync(path.join(o.root, 'chaos.log'), `${timeline.join('\n')}\n`);
  }
}

/** The writer's acknowledgements by id: when, and through exec when it was sent and the replicas that confirmed it. */
function* ackLines(output: string): Generator<[number, { at: number; sent?: number; replicas: string[] }]> {
  for (const m of output.matchAll(/^ack (\d+) (\d+)(?: (\d+) (\S+))?$/gm)) {
    yield [Number(m[1]), { at: Number(m[2]), sent: m[3] === undefined ? undefined : Number(m[3]), replicas: m[4] === undefined || m[4] === '-' ? [] : m[4].split(',') }];
  }
}
