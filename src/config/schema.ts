import * as v from 'valibot';
import { parseDuration } from './duration.ts';

// Node's timers take at most 2^31-1 ms (about 24.8 days); a longer delay fires at once.
const MAX_TIMER_MS = 2 ** 31 - 1;
const MAX_DURATION_MS = 100 * 365 * 86_400_000;

/**
 * A duration (`500ms`, `10s`, `1m30s`, or a number of seconds) in ms. It must be positive (a zero
 * poll interval spins a core) unless `zero` says 0 means something, and short enough for a timer
 * unless it is only compared against (`long`).
 */
const duration = (dflt: string, o: { zero?: boolean; long?: boolean } = {}) =>
  v.pipe(
    v.optional(v.union([v.string(), v.number()], (iss) => `expected a duration such as 500ms, 10s or 5m (or a number of seconds), got ${JSON.stringify(iss.input)}`), dflt),
    v.rawTransform(({ dataset, addIssue, NEVER }) => {
      const value = dataset.value;
      const ms = typeof value === 'number' ? value * 1000 : parseDuration(value);
      const max = o.long ? MAX_DURATION_MS : MAX_TIMER_MS;
      let problem: string | undefined;
      if (ms === undefined || !Number.isFinite(ms)) problem = 'use e.g. 500ms, 10s, 5m, 1h';
      else if (ms < 0 || (ms === 0 && !o.zero)) problem = o.zero ? 'it may not be negative' : 'it must be more than 0';
      else if (ms > max) problem = `at most ${o.long ? '100 years' : '24 days (the longest a timer waits)'}`;
      if (problem !== undefined) {
        addIssue({ message: `invalid duration ${JSON.stringify(value)} (${problem})` });
        return NEVER;
      }
      return Math.round(ms!);
    }),
  );

// YAML reads `true`/`false` as booleans, but after ${A == B} expansion they may also arrive quoted.
const bool = (dflt: boolean) =>
  v.pipe(
    v.optional(v.union([v.boolean(), v.picklist(['true', 'false'])], (iss) => `expected true or false, got ${JSON.stringify(iss.input)}`), dflt),
    v.transform((b) => b === true || b === 'true'),
  );

const text = v.pipe(v.string(), v.minLength(1, 'may not be empty'));
const url = v.pipe(v.string(), v.url('expected a URL'));
const addr = v.pipe(v.string(), v.regex(/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]*):\d{1,5}$/, 'expected host:port or :port'));
const names = v.optional(v.array(v.string()), []);
const count = (min: number, max: number, dflt: number) =>
  v.optional(v.pipe(v.number(), v.integer('expected a whole number'), v.minValue(min, `expected at least ${min}`), v.maxValue(max, `expected at most ${max}`)), dflt);

const etcd = v.strictObject({
  endpoints: v.pipe(v.array(url), v.minLength(1, 'needs at least one endpoint')),
  key: v.optional(text, 'litefleet/primary'),
  ttl: duration('10s'),
});

const consul = v.strictObject({
  url,
  key: v.optional(text, 'litefleet/primary'),
  // Consul refuses session TTLs under 10 s.
  ttl: v.pipe(duration('10s'), v.check((ms) => ms >= 10_000, 'Consul session TTLs are at least 10s')),
  'lock-delay': duration('1s', { zero: true }),
});

const lease = v.pipe(
  v.strictObject({
    type: v.optional(v.picklist(['static', 'etcd', 'consul']), 'static'),
    candidate: bool(true),
    hostname: v.optional(text),
    'advertise-url': v.optional(url),
    promote: bool(false),
    // How long a candidate that is behind waits, once the primary is gone, before it takes the lease anyway.
    'catch-up-timeout': duration('2s', { zero: true }),
    'reconnect-delay': duration('1s'),
    'demote-delay': duration('10s', { zero: true }),
    etcd: v.optional(etcd),
    consul: v.optional(consul),
  }),
  v.forward(v.partialCheck([['type'], ['etcd']], (l) => l.type !== 'etcd' || l.etcd !== undefined, 'required when lease.type is etcd'), ['etcd']),
  v.forward(v.partialCheck([['type'], ['consul']], (l) => l.type !== 'consul' || l.consul !== undefined, 'required when lease.type is consul'), ['consul']),
);

const execEntry = v.union([
  v.pipe(text, v.transform((cmd) => ({ cmd, 'if-candidate': false }))),
  v.strictObject({ cmd: text, 'if-candidate': bool(false) }),
]);

/** The whole `litefleet.yml`, with defaults filled in. Unknown keys are errors. */
export const configSchema = v.strictObject({
  dir: text,
  'data-dir': text,
  http: v.optional(
    v.strictObject({
      addr: v.optional(addr, ':20202'),
      token: v.optional(v.pipe(v.string(), v.minLength(16, 'the cluster token must be at least 16 characters'))),
    }),
    {},
  ),
  lease: v.optional(lease, {}),
  proxy: v.optional(
    v.strictObject({
      addr,
      target: text,
      db: text,
      mode: v.optional(v.picklist(['forward', 'fly-replay'])),
      passthrough: names,
      'always-forward': names,
      'read-timeout': duration('5s'),
      'max-lag': duration('10s'),
      // On the primary, a write is answered once this many replicas have applied it (0: at once).
      'sync-replicas': count(0, 100, 0),
      'sync-timeout': duration('5s'),
    }),
  ),
  exec: v.optional(v.union([v.pipe(execEntry, v.transform((e) => [e])), v.array(execEntry)], 'expected a command, a map with cmd (and if-candidate), or a list of them')),
  backup: v.optional(
    v.strictObject({
      url: text,
      endpoint: v.optional(v.string()),
      region: v.optional(v.string()),
      'force-path-style': bool(false),
      'access-key-id': v.optional(v.string()),
      'secret-access-key': v.optional(v.string()),
      // Every transaction stays restorable this long.
      retention: duration('720h', { long: true }),
      'retention-interval': duration('1h'),
      // Compactions (for fast restores) and snapshots, as Litestream's levels.
      'l1-interval': duration('1m'),
      'l2-interval': duration('1h'),
      'l3-interval': duration('24h'),
      'snapshot-interval': duration('24h'),
    }),
  ),
  capture: v.optional(
    v.strictObject({
      'reset-frames': count(50, 100_000, 500),
      'poll-interval': duration('1s'),
    }),
    {},
  ),
  ltx: v.optional(
    v.strictObject({
      retention: duration('10m'),
      'retention-interval': duration('1m'),
      compress: bool(false),
    }),
    {},
  ),
  // The studio (web dashboard and data browser) under /ui/ on the API port.
  ui: v.optional(v.strictObject({ enabled: bool(true), 'read-only': bool(false) }), {}),
  log: v.optional(
    v.strictObject({
      level: v.optional(v.picklist(['trace', 'debug', 'info', 'warn', 'error']), 'info'),
      format: v.optional(v.picklist(['text', 'json']), 'text'),
    }),
    {},
  ),
});

/** A validated configuration. */
export type Config = v.InferOutput<typeof configSchema>;
