import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseConfig } from '../../src/config/load-config.ts';
import { convertLitefsConfig } from '../../src/litefs/from-litefs.ts';
import { runCli } from '../helpers/node-process.ts';
import { makeTempDir } from '../helpers/temp-dir.ts';

const epic = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/epic-stack');

/** The environment a Fly machine of the Epic Stack has (Dockerfile ENV, fly.toml, Fly's own variables). */
const flyEnv = (region: string) => ({
  LITEFS_DIR: '/data/db',
  DATABASE_FILENAME: 'sqlite.db',
  INTERNAL_PORT: '8080',
  PORT: '8081',
  FLY_REGION: region,
  PRIMARY_REGION: 'sjc',
  FLY_APP_NAME: 'epic-app',
  HOSTNAME: '148e21ea7e5289',
  FLY_CONSUL_URL: 'https://:token@consul-fra-2.fly-shared.net/epic-app-abc/',
  LITEFLEET_TOKEN: '0123456789abcdef0123',
});

for (const fixture of ['litefs.yml', 'litefs-2025.yml']) {
  test(`the Epic Stack's ${fixture} becomes a litefleet.yml that loads with Fly's environment and means the same`, () => {
    const { yaml, notes } = convertLitefsConfig(fs.readFileSync(path.join(epic, fixture), 'utf8'), fixture);
    const primaryRegion = parseConfig(yaml, 'litefleet.yml', { env: flyEnv('sjc') });
    assert.equal(primaryRegion.dir, '/data/db');
    assert.equal(primaryRegion['data-dir'], '/data/litefleet');
    assert.equal(primaryRegion.http.addr, ':20202');
    assert.equal(primaryRegion.http.token, '0123456789abcdef0123');
    assert.deepEqual([primaryRegion.proxy?.addr, primaryRegion.proxy?.target, primaryRegion.proxy?.db], [':8080', 'localhost:8081', 'sqlite.db']);
    assert.equal(primaryRegion.lease.type, 'consul');
    assert.equal(primaryRegion.lease.candidate, true);
    assert.equal(primaryRegion.lease.promote, true);
    assert.equal(primaryRegion.lease['advertise-url'], 'http://148e21ea7e5289.vm.epic-app.internal:20202');
    assert.equal(primaryRegion.lease.consul?.url, 'https://:token@consul-fra-2.fly-shared.net/epic-app-abc/');
    assert.match(primaryRegion.lease.consul?.key ?? '', /^(litefs|epic-stack-litefs_20250222)\/epic-app-litefleet$/);
    assert.deepEqual(primaryRegion.exec?.map((e) => [e.cmd, e['if-candidate']]), [
      ['npx prisma migrate deploy', true],
      ...(fixture === 'litefs-2025.yml' ? [['npx prisma generate --sql', false]] : []),
      ['npm start', false],
    ]);
    assert.equal(parseConfig(yaml, 'litefleet.yml', { env: flyEnv('ams') }).lease.candidate, false);

    const keys = notes.map((n) => n.key);
    assert.ok(keys.includes('fuse.dir') && keys.includes('http.token') && keys.includes('lease.consul.key'), keys.join(' '));
    const wal = notes.filter((n) => /PRAGMA journal_mode = WAL/.test(n.why));
    assert.equal(wal.length, fixture === 'litefs-2025.yml' ? 2 : 0);
  });
}

test('every LiteFS key is carried over or reported with the reason', () => {
  const litefs = `
exit-on-error: false
skip-sync: true
fuse:
  dir: /litefs
  allow-other: true
data:
  dir: /var/lib/litefs
  compress: false
  retention: 20m
  retention-monitor-interval: 2m
http:
  addr: ":20203"
  snapshot-timeout: 1m
proxy:
  addr: ":8080"
  target: "localhost:8081"
  db: app.db
  debug: true
  passthrough: ["/assets/*", "*.png"]
  always-forward: ["/login"]
  primary-redirect-timeout: 3s
  max-lag: 5s
  idle-timeout: 30s
lease:
  type: static
  candidate: true
  hostname: primary.local
  advertise-url: "http://primary.local:20203"
  databases: [app.db]
backup:
  type: file
  path: /backups
log:
  format: json
  debug: true
  timestamp: true
tracing:
  enabled: true
  path: /var/log/litefs.trace
exec: "litefs-app serve"
mystery: 1
`;
  const { yaml, notes } = convertLitefsConfig(litefs);
  const c = parseConfig(yaml, 'litefleet.yml', { env: { LITEFLEET_TOKEN: 'x'.repeat(16) } });
  assert.equal(c.dir, '/litefs');
  assert.equal(c['data-dir'], '/var/lib/litefleet');
  assert.equal(c.http.addr, ':20203');
  assert.deepEqual(c.proxy?.passthrough, ['/assets/*', '*.png']);
  assert.deepEqual(c.proxy?.['always-forward'], ['/login']);
  assert.equal(c.proxy?.['read-timeout'], 3000);
  assert.equal(c.proxy?.['max-lag'], 5000);
  assert.deepEqual([c.lease.type, c.lease.candidate, c.lease.hostname, c.lease['advertise-url']], ['static', true, 'primary.local', 'http://primary.local:20203']);
  assert.deepEqual([c.ltx.compress, c.ltx.retention, c.ltx['retention-interval']], [false, 20 * 60_000, 2 * 60_000]);
  assert.equal(c.backup?.url, 'file:///backups');
  assert.deepEqual([c.log.format, c.log.level], ['json', 'debug']);
  assert.deepEqual(c.exec?.map((e) => e.cmd), ['litefs-app serve']);
  const reported = new Map(notes.map((n) => [n.key, n.why]));
  for (const key of ['exit-on-error', 'skip-sync', 'fuse.allow-other', 'http.snapshot-timeout', 'proxy.debug', 'proxy.idle-timeout', 'lease.databases', 'log.timestamp', 'tracing.enabled']) {
    assert.match(reported.get(key) ?? '', /^not carried over: /, key);
  }
  assert.ok(!reported.has('tracing.path'), 'one note for the tracing section');
  assert.equal(reported.get('mystery'), 'not a LiteFS setting litefleet knows; not carried over');
});

test('litefleet init --from-litefs writes the file, prints the notes, and does not overwrite without --force', async () => {
  const dir = makeTempDir();
  const out = path.join(dir, 'litefleet.yml');
  const first = await runCli(['init', '--from-litefs', path.join(epic, 'litefs-2025.yml'), '-o', out]);
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stdout, /^wrote .*litefleet\.yml from .*litefs-2025\.yml\n\nnot carried over as it was, and why:\n {2}fuse\.dir: /);
  assert.match(fs.readFileSync(out, 'utf8'), /candidate: \$\{FLY_REGION == PRIMARY_REGION\}/);
  const again = await runCli(['init', '--from-litefs', path.join(epic, 'litefs-2025.yml'), '-o', out]);
  assert.equal(again.code, 2);
  assert.match(again.stderr, /exists; pass --force/);
  assert.equal((await runCli(['init', '--from-litefs', path.join(epic, 'litefs.yml'), '-o', out, '--force'])).code, 0);
});
