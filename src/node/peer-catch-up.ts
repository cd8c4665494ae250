import type { Logger } from 'pino';
import { decodeLtx } from '../ltx/decoder.ts';
import { ltxFileLength } from '../ltx/file-length.ts';
import { formatPos, parsePos, type Pos } from '../ltx/position.ts';
import { validateDatabaseName } from '../store/names.ts';
import type { Store } from '../store/store.ts';
import type { PeerNode } from '../stream/frames.ts';

/** What GET /positions answers: a node's role and where each of its databases stands. */
export interface PositionsAnswer {
  id: string;
  role: 'primary' | 'replica';
  databases: Record<string, string>;
}

const ASK_TIMEOUT_MS = 1_000;
const FETCH_TIMEOUT_MS = 30_000;

/**
 * Before a candidate takes a free lease: asks every node it knows of (see PeerBook) where its
 * databases stand, and fetches from the one furthest ahead whatever transactions of the last
 * primary it lacks, so no transaction a reachable replica applied is lost by the election.
 * Resolves 'lead' when this node now holds everything the reachable nodes hold (or what they
 * hold cannot be fetched from their logs: that is logged, and they will set it aside), 'wait'
 * when a primary answered or a fetch failed (try again next round).
 */
export async function catchUpFromPeers(o: { store: Store; peers: PeerNode[]; token: string; logger: Logger }): Promise<'lead' | 'wait'> {
  const answers = (await Promise.all(o.peers.map((p) => askPositions(p, o.token)))).filter((a): a is PositionsAnswer & { url: string } => a !== undefined);
  if (answers.some((a) => a.role === 'primary')) return 'wait';
  const names = new Set(answers.flatMap((a) => Object.keys(a.databases)));
  for (const rawName of names) {
    let name: string;
    try {
      name = validateDatabaseName(rawName);
    } catch {
      continue;
    }
    const mine = o.store.dbs.get(name)?.pos ?? { txid: 0, checksum: 0n };
    let best: { url: string; id: string; pos: Pos } | undefined;
    for (const a of answers) {
      const text = a.databases[rawName];
      let pos: Pos;
      try {
        pos = parsePos(String(text));
      } catch {
        continue;
      }
      if (pos.txid > mine.txid && pos.txid > (best?.pos.txid ?? 0)) best = { url: a.url, id: a.id, pos };
    }
    if (!best) continue;
    if (mine.txid === 0) {
      o.logger.warn({ db: name, peer: best.id }, `node ${best.id} has ${name} at TXID ${best.pos.txid} and this node has none of it; leading without it (it will be set aside there)`);
      continue;
    }
    let got: Pos | undefined;
    try {
      got = await fetchFrom(o.store, name, mine, best.url, o.token);
    } catch (err) {
      o.logger.warn({ db: name, peer: best.id, err: (err as Error).message }, 'could not fetch the transactions a peer has; not taking the lease this round');
      return 'wait';
    }
    if (got) {
      o.logger.info({ db: name, peer: best.id, from: mine.txid + 1, to: got.txid }, `fetched TXID ${mine.txid + 1}-${got.txid} of ${name} from node ${best.id} before taking the lease`);
    } else {
      o.logger.warn({ db: name, peer: best.id, mine: formatPos(mine), theirs: formatPos(best.pos) }, `node ${best.id} cannot send what follows TXID ${mine.txid} of ${name} from its log; leading without TXID ${mine.txid + 1}-${best.pos.txid} (they will be set aside there)`);
    }
  }
  return 'lead';
}

async function askPositions(peer: PeerNode, token: string): Promise<(PositionsAnswer & { url: string }) | undefined> {
  try {
    const res = await fetch(`${peer.url.replace(/\/$/, '')}/positions`, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(ASK_TIMEOUT_MS) });
    if (!res.ok) return undefined;
    const a = (await res.json()) as PositionsAnswer;
    if (typeof a?.id !== 'string' || (a.role !== 'primary' && a.role !== 'replica') || typeof a.databases !== 'object' || a.databases === null) return undefined;
    return { ...a, url: peer.url };
  } catch {
    // down, frozen or unreachable: it cannot be waited for
    return undefined;
  }
}

/** Fetches and applies the peer's transactions after `from`; undefined when its log cannot continue `from`. */
async function fetchFrom(store: Store, name: string, from: Pos, url: string, token: string): Promise<Pos | undefined> {
  const res = await fetch(`${url.replace(/\/$/, '')}/db/${encodeURIComponent(name)}/ltx?after=${formatPos(from)}`, {
    headers: { authorization: `Bearer ${token}` },
    signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
  });
  if (res.status === 409) return undefined;
  if (!res.ok) throw new Error(`${url} answered ${res.status}: ${(await res.text()).trim()}`);
  const body = Buffer.from(await res.arrayBuffer());
  const received = [];
  for (let off = 0; off < body.length; ) {
    const len = ltxFileLength(body, off);
    if (len === undefined) throw new Error(`${url} sent a torn LTX file at byte ${off}`);
    const bytes = body.subarray(off, off + len);
    received.push({ file: decodeLtx(bytes), bytes });
    off += len;
  }
  if (received.length === 0) return undefined;
  const applier = store.applying(name).applier!;
  applier.apply(received);
  return applier.pos;
}
