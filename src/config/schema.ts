import { z } from 'zod';
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
  z
    .union([z.string(), z.number()], { error: (iss) => `expected a duration such as 500ms, 10s or 5m (or a number of seconds), got ${JSON.stringify(iss.input)}` })
    .default(dflt)
    .transform((v, ctx) => {
      const ms = typeof v === 'number' ? v * 1000 : parseDuration(v);
      const max = o.long ? MAX_DURATION_MS : MAX_TIMER_MS;
      let problem: string | undefined;
      if (ms === undefined || !Number.isFinite(ms)) problem = 'use e.g. 500ms, 10s, 5m, 1h';
      else if (ms < 0 || (ms === 0 && !o.zero)) problem = o.zero ? 'it may not be negative' : 'it must be more than 0';
      else if (ms > max) problem = `at most ${o.long ? '100 years' : '24 days (the longest a timer waits)'}`;
      if (problem !== undefined) {
        ctx.addIssue({ code: 'custom', message: `invalid duration ${JSON.stringify(v)} (${problem})` });
        return z.NEVER;
      }
      return Math.round(ms!);
    });

// YAML reads `true`/`false` as booleans, but after ${A == B} expansion they may also arrive quoted.
const bool = (dflt: boolean) =>
  z
    .union([z.boolean(), z.enum(['true', 'false'])], { error: (iss) => `expected true or false, got ${JSON.stringify(iss.input)}` })
    .default(dflt)
    .transform((v) => v === true || v === 'true');

const addr = z.string().regex(/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]*):\d{1,5}$/, 'expected host:port or :port');

const etcd = z.strictObject({
  endpoints: z.array(z.url()).min(1),
  key: z.string().min(1).default('litefleet/primary'),
  ttl: duration('10s'),
});

const consul = z.strictObject({
  url: z.url(),
  key: z.string().min(1).default('litefleet/primary'),
  // Consul refuses session TTLs under 10 s.
  ttl: duration('10s').refine((ms) => ms >= 10_000, 'Consul session TTLs are at least 10s'),
  'lock-delay': duration('1s', { zero: true }),
});

const lease = z.strictObject({
  type: z.enum(['static', 'etcd', 'consul']).default('static'),
  candidate: bool(true),
  hostname: z.string().min(1).optional(),
  'advertise-url': z.url().optional(),
  promote: bool(false),
  // How long a candidate that is behind waits, once the primary is gone, before it takes the lease anyway.
  'catch-up-timeout': duration('2s', { zero: true }),
  'reconnect-delay': duration('1s'),
  'demote-delay': duration('10s', { zero: true }),
  etcd: etcd.optional(),
  consul: consul.optional(),
}).superRefine((l, ctx) => {
  if (l.type === 'etcd' && !l.etcd) ctx.addIssue({ code: 'custom', path: ['etcd'], message: 'required when lease.type is etcd' });
  if (l.type === 'consul' && !l.consul) ctx.addIssue({ code: 'custom', path: ['consul'], message: 'required when lease.type is consul' });
});

const execEntry = z.union([
  z.string().min(1).transform((cmd) => ({ cmd, 'if-candidate': false })),
  z.strictObject({ cmd: z.string().min(1), 'if-candidate': bool(false) }),
]);

/** The whole `litefleet.yml`, with defaults filled in. Unknown keys are errors. */
export const configSchema = z.strictObject({
  dir: z.string().min(1),
  'data-dir': z.string().min(1),
  http: z
    .strictObject({
      addr: addr.default(':20202'),
      token: z.string().min(16, 'the cluster token must be at least 16 characters').optional(),
    })
    .prefault({}),
  lease: lease.prefault({}),
  proxy: z
    .strictObject({
      addr,
      target: z.string().min(1),
      db: z.string().min(1),
      mode: z.enum(['forward', 'fly-replay']).optional(),
      passthrough: z.array(z.string()).default([]),
      'always-forward': z.array(z.string()).default([]),
      'read-timeout': duration('5s'),
      'max-lag': duration('10s'),
      // On the primary, a write is answered once this many replicas have applied it (0: at once).
      'sync-replicas': z.number().int().min(0).max(100).default(0),
      'sync-timeout': duration('5s'),
    })
    .optional(),
  exec: z.union([execEntry.transform((e) => [e]), z.array(execEntry)]).optional(),
  backup: z
    .strictObject({
      url: z.string().min(1),
      endpoint: z.string().optional(),
      region: z.string().optional(),
      'force-path-style': bool(false),
      'access-key-id': z.string().optional(),
      'secret-access-key': z.string().optional(),
      // Every transaction stays restorable this long.
      retention: duration('720h', { long: true }),
      'retention-interval': duration('1h'),
      // Compactions (for fast restores) and snapshots, as Litestream's levels.
      'l1-interval': duration('1m'),
      'l2-interval': duration('1h'),
      'l3-interval': duration('24h'),
      'snapshot-interval': duration('24h'),
    })
    .optional(),
  capture: z
    .strictObject({
      'reset-frames': z.number().int().min(50).max(100_000).default(500),
      'poll-interval': duration('50ms'),
    })
    .prefault({}),
  ltx: z
    .strictObject({
      retention: duration('10m'),
      'retention-interval': duration('1m'),
      compress: bool(false),
    })
    .prefault({}),
  // The studio (web dashboard and data browser) under /ui/ on the API port.
  ui: z.strictObject({ enabled: bool(true), 'read-only': bool(false) }).prefault({}),
  log: z
    .strictObject({
      level: z.enum(['trace', 'debug', 'info', 'warn', 'error']).default('info'),
      format: z.enum(['text', 'json']).default('text'),
    })
    .prefault({}),
});

/** A validated configuration. */
export type Config = z.output<typeof configSchema>;
