import type http from 'node:http';
import { InvalidRequestError } from '../../errors.ts';
import { formatPos } from '../../ltx/position.ts';
import type { NodeEvent, PositionsAnswer, ReplicaStatus } from '../../protocol/api-types.ts';
import { formatNodeId } from '../../store/identity.ts';
import { validateDatabaseName } from '../../store/names.ts';
import type { Store } from '../../store/store.ts';
import { readJsonBody, type ApiRoute } from '../api-server.ts';
import type { RouteHost } from './route-host.ts';

const NODE_ID = /^[0-9A-F]{16}$/;

/** The node's own routes: health, info, the event feed, positions, replica reports and handoff. */
export function nodeRoutes(host: RouteHost): ApiRoute[] {
  return [
    { method: 'GET', path: '/health', auth: false, handle: () => ({ status: 200, body: health(host.store, host.role) }) },
    { method: 'GET', path: '/info', auth: true, handle: async () => ({ status: 200, body: await host.info() }) },
    { method: 'GET', path: '/events', auth: true, handle: (req, _url, res) => events(host, req, res) },
    { method: 'GET', path: '/positions', auth: true, handle: () => ({ status: 200, body: positionsOf(formatNodeId(host.nodeId), host.role, host.store) }) },
    {
      method: 'POST',
      path: '/handoff',
      auth: true,
      handle: async (req) => {
        const body = await readJsonBody(req);
        const to = body.to;
        if (to !== undefined && typeof to !== 'string') throw new InvalidRequestError('expected {"to": "<node id>"} or {}');
        if (host.role !== 'primary') return host.callPrimary('/handoff', body);
        const started = performance.now();
        const primary = await host.handoff(to);
        return { status: 200, body: { primary, ms: Math.round(performance.now() - started) } };
      },
    },
    {
      method: 'POST',
      path: '/replica-status',
      auth: true,
      handle: async (req) => {
        const status = replicaStatus(await readJsonBody(req));
        const known = host.streamServer?.reportStatus(status.nodeId, status.databases) ?? false;
        return { status: known ? 204 : 404, body: known ? '' : { error: 'no stream from this replica' } };
      },
    },
  ];
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A replica's report, checked field by field: it arrives over the network. */
function replicaStatus(body: Record<string, unknown>): ReplicaStatus {
  const usage = 'expected {"nodeId": "<16 hex digits>", "databases": {"<db>": {"txid": N, "lagMs": N}}}';
  if (typeof body.nodeId !== 'string' || !NODE_ID.test(body.nodeId) || !isObject(body.databases)) throw new InvalidRequestError(usage);
  const databases: ReplicaStatus['databases'] = {};
  for (const [name, d] of Object.entries(body.databases)) {
    if (!isObject(d) || !Number.isSafeInteger(d.txid) || (d.txid as number) < 0 || typeof d.lagMs !== 'number' || !Number.isFinite(d.lagMs) || d.lagMs < 0) {
      throw new InvalidRequestError(`${usage}; the entry for ${JSON.stringify(name).slice(0, 80)} is not`);
    }
    databases[validateDatabaseName(name)] = { txid: d.txid as number, lagMs: d.lagMs };
  }
  return { nodeId: body.nodeId, databases };
}

/**
 * GET /events: newline-delimited JSON, starting with the role and every position (on the
 * primary also what each replica has applied), then live.
 */
function events(host: RouteHost, req: http.IncomingMessage, res: http.ServerResponse): void {
  res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
  const send = (ev: NodeEvent) => res.write(`${JSON.stringify(ev)}\n`);
  let closed = false;
  void host.primaryInfo().then((p) => {
    if (closed) return;
    send({ type: 'role', role: host.role, primary: p?.hostname ?? null });
    for (const d of host.databases()) send({ type: 'tx', db: d.name, txid: d.txid, checksum: d.checksum });
    for (const [node, db, txid] of host.streamServer?.acks.entries() ?? []) send({ type: 'ack', db, node, txid });
    host.on('event', send);
  });
  const beat = setInterval(() => res.write('\n'), 15_000);
  req.socket.setNoDelay(true);
  res.on('close', () => {
    closed = true;
    clearInterval(beat);
    host.off('event', send);
  });
}

/** What GET /positions answers for this node's store. */
export function positionsOf(id: string, role: 'primary' | 'replica', store: Store): PositionsAnswer {
  const dbs = [...store.dbs.values()];
  return {
    id,
    role,
    databases: Object.fromEntries(dbs.map((d) => [d.name, formatPos(d.pos)])),
    terms: Object.fromEntries(dbs.map((d) => [d.name, d.log.recentTerms])),
    ...(store.starting > 0 ? { starting: store.starting } : {}),
  };
}

/** What GET /health answers: ok, or degraded with what keeps a database from being captured or applied. */
function health(store: Store, role: string): { status: 'ok' | 'starting' | 'degraded'; role: string; starting?: number; problems?: Record<string, string> } {
  const problems = [...[...store.dbs.values()].filter((d) => d.problem).map((d) => [d.name, d.problem!] as const), ...[...store.failed.values()].map((f) => [f.name, f.problem] as const)];
  if (problems.length > 0) return { status: 'degraded', role, problems: Object.fromEntries(problems) };
  // Still opening databases found at start (they become ready one by one): alive, not yet complete.
  return store.starting > 0 ? { status: 'starting', role, starting: store.starting } : { status: 'ok', role };
}
