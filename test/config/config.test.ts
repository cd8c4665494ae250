import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig } from '../../src/config/load-config.ts';
import { expandEnv } from '../../src/config/expand-env.ts';

const base = 'dir: /var/lib/app\ndata-dir: /var/lib/litefleet\n';

test('environment expansion as LiteFS does it', () => {
  const env = { FLY_REGION: 'ams', PRIMARY_REGION: 'ams', OTHER: 'fra', EMPTY: '', TOKEN: 's3cret' };
  assert.equal(expandEnv('${TOKEN} $TOKEN', env), 's3cret s3cret');
  assert.equal(expandEnv('${MISSING}', env), '');
  assert.equal(expandEnv('${MISSING:-fallback} ${EMPTY:-e} ${TOKEN:-x}', env), 'fallback e s3cret');
  assert.equal(expandEnv('${FLY_REGION == PRIMARY_REGION}', env), 'true');
  assert.equal(expandEnv('${FLY_REGION == OTHER}', env), 'false');
  assert.equal(expandEnv('${FLY_REGION != OTHER}', env), 'true');
  assert.equal(expandEnv('${FLY_REGION == "ams"} ${FLY_REGION == \'fra\'}', env), 'true false');
});

test('a candidate expression becomes a boolean and defaults are filled in', () => {
  const c = parseConfig(`${base}http:\n  token: \${TOKEN}\nlease:\n  candidate: \${FLY_REGION == PRIMARY_REGION}\n`, 'f.yml', {
    env: { FLY_REGION: 'ams', PRIMARY_REGION: 'fra', TOKEN: '0123456789abcdef0' },
  });
  assert.equal(c.lease.candidate, false);
  assert.equal(c.lease.type, 'static');
  assert.equal(c.http.token, '0123456789abcdef0');
  assert.equal(c.http.addr, ':20202');
  assert.equal(c.ltx.retention, 10 * 60_000);
  assert.equal(c.capture['poll-interval'], 1000);
  assert.equal(c.dir, '/var/lib/app');
});

test('relative paths are taken from the config file', () => {
  const c = parseConfig('dir: ./live\ndata-dir: state\n', '/etc/app/litefleet.yml');
  assert.equal(c.dir, '/etc/app/live');
  assert.equal(c['data-dir'], '/etc/app/state');
});

test('unknown keys are rejected with their path and line', () => {
  assert.throws(() => parseConfig(`${base}http:\n  addr: ":9000"\n  tokn: abc\n`, 'f.yml'), /f\.yml:5: http\.tokn: unknown key "tokn"/);
  assert.throws(() => parseConfig(`${base}leases:\n  type: etcd\n`, 'f.yml'), /f\.yml:3: leases: unknown key "leases"/);
});

test('wrong types and values are rejected with their path and line', () => {
  assert.throws(() => parseConfig(`${base}lease:\n  type: zookeeper\n`, 'f.yml'), /f\.yml:4: lease\.type: .*static.*etcd.*consul/);
  assert.throws(() => parseConfig(`${base}ltx:\n  retention: soon\n`, 'f.yml'), /f\.yml:4: ltx\.retention: invalid duration "soon"/);
  assert.throws(() => parseConfig(`${base}http:\n  addr: 9000\n`, 'f.yml'), /f\.yml:4: http\.addr:/);
  assert.throws(() => parseConfig(`${base}lease:\n  type: etcd\n`, 'f.yml'), /lease\.etcd: required when lease\.type is etcd/);
  assert.throws(() => parseConfig(`${base}http:\n  token: short\n`, 'f.yml'), /http\.token: the cluster token must be at least 16 characters/);
  assert.throws(() => parseConfig('data-dir: /x\n', 'f.yml'), /f\.yml:1: dir: required key is missing/);
  // Wrong types say what was expected and what came, not a validator's bare "Invalid input".
  assert.throws(() => parseConfig(`${base}lease:\n  candidate: 7\n`, 'f.yml'), /f\.yml:4: lease\.candidate: expected true or false, got 7$/);
  assert.throws(() => parseConfig(`${base}capture:\n  poll-interval: true\n`, 'f.yml'), /capture\.poll-interval: expected a duration such as 500ms, 10s or 5m \(or a number of seconds\), got true$/);
  assert.throws(() => parseConfig(`${base}http:\n  addr: 9000\n`, 'f.yml'), /http\.addr: expected a string, got a number$/);
  assert.throws(() => parseConfig(`${base}http: null\n`, 'f.yml'), /f\.yml:3: http: expected a map, got null$/);
  assert.throws(() => parseConfig('just a string\n', 'f.yml'), /f\.yml:1: \(top level\): expected a map, got a string$/);
  assert.throws(() => parseConfig(`${base}capture:\n  reset-frames: 60.5\n`, 'f.yml'), /capture\.reset-frames: expected a whole number$/);
  assert.throws(() => parseConfig(`${base}capture:\n  reset-frames: 10\n`, 'f.yml'), /capture\.reset-frames: expected at least 50$/);
  assert.throws(() => parseConfig(`${base}exec: 7\n`, 'f.yml'), /exec: expected a command, a map with cmd \(and if-candidate\), or a list of them$/);
});

test('malformed YAML names the line', () => {
  assert.throws(() => parseConfig(`${base}http:\n  addr: [oops\n`, 'f.yml'), /f\.yml:\d+:\d+: malformed YAML/);
  assert.throws(() => parseConfig(`${base}dir: /again\n`, 'f.yml'), /f\.yml:3:\d+: malformed YAML/);
});

test('lease backends: etcd and Consul settings with their defaults; Consul TTLs under 10s refused; exec forms', () => {
  const e = parseConfig(`${base}lease:\n  type: etcd\n  candidate: \${FLY_REGION == PRIMARY_REGION}\n  etcd:\n    endpoints: ["http://10.0.0.1:2379"]\n`, 'f.yml', { env: { FLY_REGION: 'fra', PRIMARY_REGION: 'fra' } });
  assert.equal(e.lease.candidate, true);
  assert.deepEqual(e.lease.etcd, { endpoints: ['http://10.0.0.1:2379'], key: 'litefleet/primary', ttl: 10_000 });
  assert.equal(e.lease['catch-up-timeout'], 2_000);
  assert.equal(e.lease['demote-delay'], 10_000);
  const c = parseConfig(`${base}lease:\n  type: consul\n  promote: true\n  consul:\n    url: http://127.0.0.1:8500\n    key: epic/app\n`, 'f.yml');
  assert.deepEqual(c.lease.consul, { url: 'http://127.0.0.1:8500', key: 'epic/app', ttl: 10_000, 'lock-delay': 1_000 });
  assert.equal(c.lease.promote, true);
  assert.throws(() => parseConfig(`${base}lease:\n  type: consul\n  consul:\n    url: http://x:8500\n    ttl: 5s\n`, 'f.yml'), /f\.yml:7: lease\.consul\.ttl: Consul session TTLs are at least 10s/);
  assert.throws(() => parseConfig(`${base}lease:\n  type: etcd\n  etcd:\n    endpoints: []\n`, 'f.yml'), /lease\.etcd\.endpoints/);
  const x = parseConfig(`${base}exec:\n  - cmd: npx prisma migrate deploy\n    if-candidate: true\n  - npm start\n`, 'f.yml');
  assert.deepEqual(x.exec, [
    { cmd: 'npx prisma migrate deploy', 'if-candidate': true },
    { cmd: 'npm start', 'if-candidate': false },
  ]);
  assert.deepEqual(parseConfig(`${base}exec: npm start\n`, 'f.yml').exec, [{ cmd: 'npm start', 'if-candidate': false }]);
});

test('durations must be positive (where 0 means nothing) and fit a timer', () => {
  for (const bad of ['0', '0s', '-5', '-1.5']) assert.throws(() => parseConfig(`${base}capture:\n  poll-interval: ${bad}\n`, 'f.yml'), /capture\.poll-interval: invalid duration .*\(it must be more than 0\)/, bad);
  assert.throws(() => parseConfig(`${base}lease:\n  reconnect-delay: 9999999999\n`, 'f.yml'), /lease\.reconnect-delay: invalid duration 9999999999 \(at most 24 days/);
  assert.throws(() => parseConfig(`${base}lease:\n  demote-delay: -1\n`, 'f.yml'), /lease\.demote-delay: invalid duration -1 \(it may not be negative\)/);
  assert.equal(parseConfig(`${base}lease:\n  demote-delay: 0\n`, 'f.yml').lease['demote-delay'], 0);
  assert.equal(parseConfig(`${base}backup:\n  url: file:///b\n  retention: 8760h\n`, 'f.yml').backup!.retention, 8760 * 3_600_000, 'a retention is compared against, not waited for: a year is fine');
});
