import { z } from 'zod';
import { parseDuration } from './duration.ts';

const duration = (dflt: string) =>
  z
    .union([z.string(), z.number()])
    .default(dflt)
    .transform((v, ctx) => {
      const ms = typeof v === 'number' ? v * 1000 : parseDuration(v);
      if (ms === undefined) {
        ctx.addIssue({ code: 'custom', message: `invalid duration ${JSON.stringify(v)} (use e.g. 500ms, 10s, 5m, 1h)` });
        return z.NEVER;
      }
      return ms;
    });

// YAML reads `true`/`false` as booleans, but after ${A == B} expansion they may also arrive quoted.
const bool = (dflt: boolean) =>
  z
    .union([z.boolean(), z.enum(['true', 'false'])])
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
  'lock-delay': duration('1s'),
});

const lease = z.strictObject({
  type: z.enum(['static', 'etcd', 'consul']).default('static'),
  candidate: bool(true),
  hostname: z.string().min(1).optional(),
  'advertise-url': z.url().optional(),
  promote: bool(false),
  // How long a candidate that is behind waits, once the primary is gone, before it takes the lease anyway.
  'catch-up-timeout': duration('2s'),
  'reconnect-delay': duration('1s'),
  'demote-delay': duration('10s'),
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
      retention: duration('720h'),
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
