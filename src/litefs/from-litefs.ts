import path from 'node:path';
import { parse } from 'yaml';
import { LitefsConfigError } from '../errors.ts';

/** A `litefs.yml` key that was not carried over as it was, and why. */
export interface ConversionNote {
  key: string;
  why: string;
}

/** The equivalent `litefleet.yml` text and what did not carry over. */
export interface LitefsConversion {
  yaml: string;
  notes: ConversionNote[];
}

type Section = Record<string, unknown>;

/** LiteFS keys with nothing to do in litefleet, and why. */
const DROPPED: Record<string, string> = {
  'exit-on-error': 'litefleet does not exit on a replication error: it resets the database from a snapshot of the primary',
  'skip-sync': 'litefleet always waits until a replica is caught up before it runs exec',
  'strict-verify': 'litefleet verifies every applied transaction against the checksum the primary sent',
  'fuse.allow-other': 'litefleet has no FUSE mount: dir is a plain folder',
  'fuse.debug': 'litefleet has no FUSE mount',
  'http.snapshot-timeout': 'litefleet streams a snapshot while it reads it; there is no timeout to set',
  'proxy.debug': 'use log.level: debug',
  'proxy.read-timeout': 'an HTTP server timeout in LiteFS; litefleet\'s proxy sets none (its own proxy.read-timeout is how long a read waits for the client\'s last write)',
  'proxy.read-header-timeout': 'litefleet\'s proxy sets no HTTP server timeouts besides a 65 s keep-alive',
  'proxy.write-timeout': 'litefleet\'s proxy sets no HTTP server timeouts besides a 65 s keep-alive',
  'proxy.idle-timeout': 'litefleet\'s proxy sets no HTTP server timeouts besides a 65 s keep-alive',
  'lease.databases': 'litefleet replicates every database to every node',
  'log.timestamp': 'litefleet\'s log lines always carry the time',
  tracing: 'litefleet has no trace file; `litefleet ltx ls|verify|dump` inspect the transaction log',
};

/** `sqlite3 <db> "PRAGMA journal_mode = WAL;"`: LiteFS needed it, litefleet does it itself. */
const WAL_STEP = /^sqlite3\s+\S+\s+(["'])\s*PRAGMA\s+journal_mode\s*=\s*WAL\s*;?\s*\1$/i;

/**
 * Converts the text of a `litefs.yml` into the equivalent `litefleet.yml`. `${…}` expressions are
 * kept as they are: litefleet expands the environment the way LiteFS does.
 */
export function convertLitefsConfig(text: string, file = 'litefs.yml'): LitefsConversion {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    throw new LitefsConfigError(`${file}: malformed YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  if (!isSection(doc)) throw new LitefsConfigError(`${file}: expected a YAML mapping of LiteFS settings`);
  const notes: ConversionNote[] = [];
  const out: string[] = [`# Converted from ${path.basename(file)} by \`litefleet init --from-litefs\`.`];
  const seen = new Set<string>();
  // A section read only to see whether it is there leaves its keys to be reported.
  const take = (key: string): unknown => {
    const value = key.split('.').reduce<unknown>((v, k) => (isSection(v) ? v[k] : undefined), doc);
    if (!isSection(value)) seen.add(key);
    return value;
  };
  const emit = (indent: number, key: string, value: unknown, comment?: string) => {
    if (value !== undefined) out.push(`${' '.repeat(indent)}${key}: ${scalar(value)}${comment ? `  # ${comment}` : ''}`);
  };

  const fuseDir = take('fuse.dir') ?? '/litefs';
  emit(0, 'dir', fuseDir, 'was fuse.dir; now a real folder: keep it on the volume');
  notes.push({ key: 'fuse.dir', why: `LiteFS served ${String(fuseDir)} from FUSE, backed by data.dir; litefleet's dir is a real folder, so it must be on the persistent volume (e.g. LITEFS_DIR=/data/db), or the primary's database is lost with the machine` });
  const dataDir = take('data.dir') ?? '/var/lib/litefs';
  const ownDataDir = typeof dataDir === 'string' && !dataDir.includes('$') ? path.posix.join(path.posix.dirname(dataDir), 'litefleet') : dataDir;
  emit(0, 'data-dir', ownDataDir, `LiteFS kept its state in ${String(dataDir)}`);
  if (ownDataDir !== dataDir) notes.push({ key: 'data.dir', why: `litefleet keeps its own state in ${String(ownDataDir)}, beside LiteFS's (left as it was); move the data with \`litefs export\` and \`litefleet import\`` });

  out.push('http:');
  emit(2, 'addr', take('http.addr') ?? ':20202');
  emit(2, 'token', '${LITEFLEET_TOKEN}', 'new: every node API call needs the cluster token');
  notes.push({ key: 'http.token', why: 'LiteFS\'s API on 20202 had no authentication; litefleet\'s needs a shared token: `fly secrets set LITEFLEET_TOKEN=$(openssl rand -hex 16)`' });

  const proxy = take('proxy');
  if (isSection(proxy)) {
    out.push('proxy:');
    for (const k of ['addr', 'target', 'db', 'passthrough', 'always-forward', 'max-lag']) emit(2, k, take(`proxy.${k}`));
    const redirect = take('proxy.primary-redirect-timeout');
    emit(2, 'read-timeout', redirect, 'was primary-redirect-timeout: how long a request waits for a primary (and for the client\'s last write)');
  }

  const type = take('lease.type') ?? 'static';
  out.push('lease:');
  emit(2, 'type', type);
  for (const k of ['candidate', 'promote', 'hostname', 'advertise-url', 'reconnect-delay', 'demote-delay']) emit(2, k, take(`lease.${k}`));
  if (type === 'consul') {
    out.push('  consul:');
    emit(4, 'url', take('lease.consul.url'));
    const key = take('lease.consul.key');
    if (key !== undefined) {
      emit(4, 'key', `${String(key)}-litefleet`, `LiteFS used ${String(key)}`);
      notes.push({ key: 'lease.consul.key', why: `litefleet takes a key of its own (${String(key)}-litefleet): a LiteFS node still holding ${String(key)} while machines switch would otherwise be taken for litefleet's primary` });
    }
    emit(4, 'ttl', take('lease.consul.ttl'));
    emit(4, 'lock-delay', take('lease.consul.lock-delay'));
  }

  const exec = take('exec');
  const steps = exec === undefined ? [] : Array.isArray(exec) ? exec : [exec];
  const kept: Array<{ cmd: string; ifCandidate: boolean }> = [];
  for (const step of steps) {
    const cmd = typeof step === 'string' ? step : isSection(step) ? String(step.cmd ?? '') : '';
    const ifCandidate = isSection(step) && (step['if-candidate'] === true || step['if-candidate'] === 'true');
    if (WAL_STEP.test(cmd.trim())) {
      notes.push({ key: 'exec', why: `dropped \`${cmd}\`: litefleet keeps every database in WAL mode itself` });
      continue;
    }
    kept.push({ cmd, ifCandidate });
  }
  if (kept.length > 0) {
    out.push('exec:');
    for (const s of kept) {
      out.push(`  - cmd: ${scalar(s.cmd)}`);
      if (s.ifCandidate) out.push('    if-candidate: true');
    }
  }

  const backupType = take('backup.type');
  if (backupType === 'file' && typeof take('backup.path') === 'string') {
    out.push('backup:');
    emit(2, 'url', `file://${String(take('backup.path'))}`);
  } else if (backupType !== undefined && backupType !== '') {
    notes.push({ key: 'backup', why: `backup type ${String(backupType)} has no litefleet equivalent (LiteFS Cloud was shut down); set backup.url to s3://bucket/path or file:///path` });
  }
  for (const k of ['backup.url', 'backup.cluster', 'backup.auth-token', 'backup.path']) seen.add(k);

  const compress = take('data.compress');
  const retention = take('data.retention');
  const retentionInterval = take('data.retention-monitor-interval');
  if ([compress, retention, retentionInterval].some((v) => v !== undefined)) {
    out.push('ltx:');
    emit(2, 'compress', compress);
    emit(2, 'retention', retention);
    emit(2, 'retention-interval', retentionInterval);
  }
  const logFormat = take('log.format');
  const debug = take('log.debug');
  if (logFormat !== undefined || debug === true) {
    out.push('log:');
    emit(2, 'format', logFormat);
    if (debug === true) emit(2, 'level', 'debug');
  }

  for (const key of leafKeys(doc)) {
    if (seen.has(key) || [...seen].some((s) => key.startsWith(`${s}.`))) continue;
    const dropped = Object.entries(DROPPED).find(([k]) => key === k || key.startsWith(`${k}.`));
    notes.push({ key, why: dropped ? `not carried over: ${dropped[1]}` : 'not a LiteFS setting litefleet knows; not carried over' });
    if (dropped) seen.add(dropped[0]);
  }
  return { yaml: `${out.join('\n')}\n`, notes: dedupe(notes) };
}

function dedupe(notes: ConversionNote[]): ConversionNote[] {
  const seen = new Set<string>();
  return notes.filter((n) => {
    const id = `${n.key}\0${n.why}`;
    return seen.has(id) ? false : (seen.add(id), true);
  });
}

function isSection(v: unknown): v is Section {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function leafKeys(v: unknown, prefix = ''): string[] {
  if (!isSection(v)) return [prefix];
  return Object.entries(v).flatMap(([k, child]) => (isSection(child) ? leafKeys(child, `${prefix}${k}.`) : [`${prefix}${k}`]));
}

/** A YAML scalar or flow list; strings single-quoted, so `${…}` and `:` survive as text. */
function scalar(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(scalar).join(', ')}]`;
  if (typeof v === 'string') return /^\$\{[^}]*(==|!=)[^}]*\}$/.test(v) ? v : `'${v.replace(/'/g, "''")}'`;
  return String(v);
}
